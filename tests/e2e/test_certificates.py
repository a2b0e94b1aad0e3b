"""The certificate API (service `iot`) through boto3: certificates issued by Thingbox's CA, CSRs,
your own CA registered with a registration code, status rules, deletion rules and thing principals.
Test CAs and CSRs are made with `cryptography`."""

import datetime
import hashlib
import uuid

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def error(call, *args, **kwargs):
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    r = info.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


def der_of(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn="Test CA"):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(cn)).issuer_name(name(cn))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue(ca_key, ca_cert, cn, days=30, start_offset=-5):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(cn)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(minutes=start_offset))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_create_keys_and_certificate(server, iot):
    c = iot.create_keys_and_certificate(setAsActive=True)
    assert c["certificateId"] == hashlib.sha256(der_of(c["certificatePem"])).hexdigest()
    assert c["certificateArn"] == f"arn:aws:iot:us-east-1:000000000000:cert/{c['certificateId']}"
    assert c["keyPair"]["PrivateKey"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    key = serialization.load_pem_private_key(c["keyPair"]["PrivateKey"].encode(), None)
    assert key.key_size == 2048
    cert = x509.load_pem_x509_certificate(c["certificatePem"].encode())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "AWS IoT Certificate"
    root = x509.load_pem_x509_certificate(open(server.endpoints["root_ca"], "rb").read())
    cert.verify_directly_issued_by(root)
    d = iot.describe_certificate(certificateId=c["certificateId"])["certificateDescription"]
    assert d["status"] == "ACTIVE" and d["certificatePem"] == c["certificatePem"]
    assert d["ownedBy"] == "000000000000" and d["certificateMode"] == "DEFAULT"
    assert d["validity"]["notAfter"].year == 2049
    assert "caCertificateId" not in d
    inactive = iot.create_keys_and_certificate()
    assert iot.describe_certificate(certificateId=inactive["certificateId"])["certificateDescription"]["status"] == "INACTIVE"


def test_status_transitions_and_deletion(iot):
    c = iot.create_keys_and_certificate(setAsActive=True)
    cid, arn = c["certificateId"], c["certificateArn"]
    code, msg, status = error(iot.delete_certificate, certificateId=cid)
    assert (code, status) == ("CertificateStateException", 406) and "deactivated" in msg
    iot.update_certificate(certificateId=cid, newStatus="INACTIVE")
    iot.update_certificate(certificateId=cid, newStatus="ACTIVE")
    v = iot.describe_certificate(certificateId=cid)["certificateDescription"]["customerVersion"]
    iot.update_certificate(certificateId=cid, newStatus="REVOKED")
    d = iot.describe_certificate(certificateId=cid)["certificateDescription"]
    assert d["status"] == "REVOKED" and d["customerVersion"] == v + 1
    code, _, status = error(iot.update_certificate, certificateId=cid, newStatus="ACTIVE")
    assert (code, status) == ("CertificateStateException", 406)
    assert error(iot.update_certificate, certificateId=cid, newStatus="PENDING_TRANSFER")[0] == "InvalidRequestException"
    assert iot.describe_certificate(certificateId=cid)["certificateDescription"]["status"] == "REVOKED"

    thing = f"cert-thing-{uuid.uuid4().hex[:6]}"
    iot.create_thing(thingName=thing)
    iot.attach_thing_principal(thingName=thing, principal=arn)
    code, msg, status = error(iot.delete_certificate, certificateId=cid)
    assert (code, status) == ("DeleteConflictException", 409) and thing in msg
    code, msg, _ = error(iot.delete_thing, thingName=thing)
    assert code == "InvalidRequestException" and "attached to one or more principals" in msg
    iot.detach_thing_principal(thingName=thing, principal=arn)
    iot.delete_certificate(certificateId=cid)
    code, _, status = error(iot.describe_certificate, certificateId=cid)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert error(iot.describe_certificate, certificateId="z" * 64)[0] == "InvalidRequestException"


def test_list_certificates_pages(iot):
    ids = {iot.create_keys_and_certificate()["certificateId"] for _ in range(5)}
    seen, marker = [], None
    while True:
        kwargs = {"pageSize": 2, "ascendingOrder": True}
        if marker:
            kwargs["marker"] = marker
        page = iot.list_certificates(**kwargs)
        seen += [c["certificateId"] for c in page["certificates"]]
        assert all(c["status"] and c["certificateArn"].endswith(c["certificateId"]) for c in page["certificates"])
        marker = page.get("nextMarker")
        if not marker:
            break
    assert ids <= set(seen) and len(seen) == len(set(seen))
    dates = [c["creationDate"] for p in iot.get_paginator("list_certificates").paginate(ascendingOrder=True) for c in p["certificates"]]
    assert dates == sorted(dates)


def test_create_certificate_from_csr(server, iot):
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(name("sensor-42")).sign(key, hashes.SHA256())
    csr_pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    c = iot.create_certificate_from_csr(certificateSigningRequest=csr_pem, setAsActive=True)
    cert = x509.load_pem_x509_certificate(c["certificatePem"].encode())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "sensor-42"
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    again = iot.create_certificate_from_csr(certificateSigningRequest=csr_pem)
    assert again["certificateId"] != c["certificateId"]

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak_csr = x509.CertificateSigningRequestBuilder().subject_name(name("weak")).sign(weak, hashes.SHA256())
    code, msg, status = error(
        iot.create_certificate_from_csr,
        certificateSigningRequest=weak_csr.public_bytes(serialization.Encoding.PEM).decode(),
    )
    assert (code, status) == ("CertificateValidationException", 400) and "2048" in msg
    assert error(iot.create_certificate_from_csr, certificateSigningRequest="garbage")[0] == "CertificateValidationException"


def test_register_your_own_ca_and_its_certificates(iot):
    code = iot.get_registration_code()["registrationCode"]
    assert len(code) == 64 and iot.get_registration_code()["registrationCode"] == code
    ca_key, ca = make_ca(f"My CA {uuid.uuid4().hex[:6]}")
    _, wrong_cn = issue(ca_key, ca, "not-the-code")
    c, msg, status = error(iot.register_ca_certificate, caCertificate=pem(ca), verificationCertificate=pem(wrong_cn))
    assert (c, status) == ("RegistrationCodeValidationException", 400) and code in msg
    other_key, other_ca = make_ca("Other CA")
    _, by_other = issue(other_key, other_ca, code)
    assert error(iot.register_ca_certificate, caCertificate=pem(ca), verificationCertificate=pem(by_other))[0] == (
        "CertificateValidationException"
    )
    assert error(iot.register_ca_certificate, caCertificate=pem(ca))[0] == "InvalidRequestException"
    _, leaf = issue(ca_key, ca, "leaf")
    assert error(iot.register_ca_certificate, caCertificate=pem(leaf), verificationCertificate=pem(leaf))[0] == (
        "CertificateValidationException"
    )

    _, verification = issue(ca_key, ca, code)
    reg = iot.register_ca_certificate(caCertificate=pem(ca), verificationCertificate=pem(verification), setAsActive=True)
    ca_id = reg["certificateId"]
    assert reg["certificateArn"].endswith(f":cacert/{ca_id}")
    d = iot.describe_ca_certificate(certificateId=ca_id)["certificateDescription"]
    assert d["status"] == "ACTIVE" and d["autoRegistrationStatus"] == "DISABLE"
    assert ca_id in [c["certificateId"] for c in iot.list_ca_certificates()["certificates"]]
    assert error(iot.register_ca_certificate, caCertificate=pem(ca), verificationCertificate=pem(verification))[0] == (
        "ResourceAlreadyExistsException"
    )

    _, device = issue(ca_key, ca, "device-1")
    r = iot.register_certificate(certificatePem=pem(device), status="ACTIVE")
    assert r["certificateId"] == hashlib.sha256(device.public_bytes(serialization.Encoding.DER)).hexdigest()
    desc = iot.describe_certificate(certificateId=r["certificateId"])["certificateDescription"]
    assert desc["caCertificateId"] == ca_id and desc["status"] == "ACTIVE"
    assert [c["certificateId"] for c in iot.list_certificates_by_ca(caCertificateId=ca_id)["certificates"]] == [r["certificateId"]]
    assert error(iot.register_certificate, certificatePem=pem(device))[0] == "ResourceAlreadyExistsException"

    _, stranger = issue(other_key, other_ca, "stranger")
    code_, msg, _ = error(iot.register_certificate, certificatePem=pem(stranger))
    assert code_ == "CertificateValidationException" and "registered CA" in msg
    _, expired = issue(ca_key, ca, "old", days=-1, start_offset=-60 * 24 * 3)
    assert error(iot.register_certificate, certificatePem=pem(expired))[0] == "CertificateValidationException"
    sni = iot.register_certificate_without_ca(certificatePem=pem(stranger), status="INACTIVE")
    sni_desc = iot.describe_certificate(certificateId=sni["certificateId"])["certificateDescription"]
    assert sni_desc["certificateMode"] == "SNI_ONLY" and sni_desc["status"] == "INACTIVE"

    assert error(iot.delete_ca_certificate, certificateId=ca_id)[0] == "CertificateStateException"
    iot.update_ca_certificate(certificateId=ca_id, newStatus="INACTIVE", newAutoRegistrationStatus="ENABLE")
    d = iot.describe_ca_certificate(certificateId=ca_id)["certificateDescription"]
    assert d["status"] == "INACTIVE" and d["autoRegistrationStatus"] == "ENABLE"
    _, device2 = issue(ca_key, ca, "device-2")
    assert error(iot.register_certificate, certificatePem=pem(device2), status="ACTIVE")[0] == "CertificateStateException"
    assert error(iot.delete_ca_certificate, certificateId=ca_id)[0] == "DeleteConflictException"
    iot.update_certificate(certificateId=r["certificateId"], newStatus="INACTIVE")
    iot.delete_certificate(certificateId=r["certificateId"])
    iot.delete_ca_certificate(certificateId=ca_id)
    assert error(iot.describe_ca_certificate, certificateId=ca_id)[0] == "ResourceNotFoundException"


def test_thing_principals(iot):
    a = iot.create_keys_and_certificate(setAsActive=True)["certificateArn"]
    b = iot.create_keys_and_certificate(setAsActive=True)["certificateArn"]
    t1, t2 = f"p1-{uuid.uuid4().hex[:6]}", f"p2-{uuid.uuid4().hex[:6]}"
    iot.create_thing(thingName=t1)
    iot.create_thing(thingName=t2)
    iot.attach_thing_principal(thingName=t1, principal=a)
    iot.attach_thing_principal(thingName=t2, principal=a)
    iot.attach_thing_principal(thingName=t1, principal=b, thingPrincipalType="EXCLUSIVE_THING")
    assert sorted(iot.list_thing_principals(thingName=t1)["principals"]) == sorted([a, b])
    v2 = iot.list_thing_principals_v2(thingName=t1)["thingPrincipalObjects"]
    assert {o["principal"]: o["thingPrincipalType"] for o in v2} == {a: "NON_EXCLUSIVE_THING", b: "EXCLUSIVE_THING"}
    assert sorted(iot.list_principal_things(principal=a)["things"]) == sorted([t1, t2])
    assert error(iot.attach_thing_principal, thingName=t2, principal=b)[0] == "InvalidRequestException"
    assert error(iot.attach_thing_principal, thingName=t1, principal=a, thingPrincipalType="EXCLUSIVE_THING")[0] == (
        "InvalidRequestException"
    )
    ghost = a.rsplit("/", 1)[0] + "/" + "0" * 64
    assert error(iot.attach_thing_principal, thingName=t1, principal=ghost)[0] == "ResourceNotFoundException"
    assert error(iot.attach_thing_principal, thingName="ghost-thing", principal=a)[0] == "ResourceNotFoundException"
    assert error(iot.attach_thing_principal, thingName=t1, principal="arn:aws:iam::1:user/x")[0] == "InvalidRequestException"
    iot.detach_thing_principal(thingName=t1, principal=a)
    iot.detach_thing_principal(thingName=t1, principal=a)  # again: nothing to do
    assert iot.list_principal_things(principal=a)["things"] == [t2]


def test_a_registered_certificate_that_expires_stops_connecting(server, iot, tmp_path):
    """A certificate registered without a CA (SNI_ONLY) has no chain to verify, but its own validity
    still counts: valid, it connects; once expired, the TLS handshake refuses it."""
    import socket
    import ssl

    from conftest import wait_for
    from mqtt_helpers import allow_all_policy, host_port

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("short-lived")).issuer_name(name("short-lived"))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(seconds=4))
        .sign(key, hashes.SHA256())
    )
    r = iot.register_certificate_without_ca(certificatePem=pem(cert), status="ACTIVE")
    iot.attach_policy(policyName=allow_all_policy(iot), target=r["certificateArn"])
    (tmp_path / "c.pem").write_text(pem(cert))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    host, port = host_port(server.endpoints["mqtt_tls"])

    def connect():
        """CONNECT over TLS with the certificate: the CONNACK's bytes, or what refused it."""
        ctx = ssl.create_default_context(cafile=server.endpoints["root_ca"])
        ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
        try:
            with ctx.wrap_socket(socket.create_connection((host, port), timeout=5), server_hostname=host) as s:
                s.sendall(b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02sl")
                return s.recv(4)
        except (ssl.SSLError, OSError) as e:
            return e

    assert connect() == b"\x20\x02\x00\x00"
    refused = wait_for(lambda: c if not isinstance(c := connect(), bytes) or c == b"" else None, timeout=15,
                       what="the expired certificate to be refused")
    assert datetime.datetime.now(datetime.timezone.utc) >= cert.not_valid_after_utc, "refused only once expired"
    assert "EXPIRED" in str(refused).upper() or isinstance(refused, bytes), refused
