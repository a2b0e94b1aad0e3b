"""Fleet provisioning: provisioning templates through boto3 and the AWS CLI (versions, AWS's errors),
provisioning claims, RegisterThing, and the device side over MQTT (paho; the Device SDK runs the
samples' flows in test_sdk_samples.py): the answers go to the requester alone, in its format, and
bad requests are rejected with statusCode/errorCode/errorMessage, changing nothing."""

import json
import types
import uuid

import pytest
from botocore.exceptions import ClientError

from mqtt_helpers import Client, Device

ROLE = "arn:aws:iam::000000000000:role/Provisioning"
ALLOW_ALL_DOC = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}'

# The template of the Device SDK's fleet-provisioning README.
TEMPLATE = {
    "Parameters": {
        "DeviceLocation": {"Type": "String"},
        "AWS::IoT::Certificate::Id": {"Type": "String"},
        "SerialNumber": {"Type": "String"},
    },
    "Mappings": {"LocationTable": {"Seattle": {"LocationUrl": "https://example.aws"}}},
    "Resources": {
        "thing": {
            "Type": "AWS::IoT::Thing",
            "Properties": {
                "ThingName": {"Fn::Join": ["", ["ThingPrefix_", {"Ref": "SerialNumber"}]]},
                "AttributePayload": {"version": "v1", "serialNumber": "serialNumber"},
            },
            "OverrideSettings": {"AttributePayload": "MERGE", "ThingTypeName": "REPLACE", "ThingGroups": "DO_NOTHING"},
        },
        "certificate": {
            "Type": "AWS::IoT::Certificate",
            "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "Active"},
        },
        "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": ALLOW_ALL_DOC}},
    },
    "DeviceConfiguration": {
        "FallbackUrl": "https://www.example.com/test-site",
        "LocationUrl": {"Fn::FindInMap": ["LocationTable", {"Ref": "DeviceLocation"}, "LocationUrl"]},
    },
}


def error(exc_info):
    e = exc_info.value.response
    return e["Error"]["Code"], e["Error"]["Message"]


def make_template(iot, name=None, **extra):
    name = name or f"fleet-{uuid.uuid4().hex[:8]}"
    iot.create_provisioning_template(templateName=name, templateBody=json.dumps(TEMPLATE), provisioningRoleArn=ROLE,
                                     enabled=True, **extra)
    return name


def claim(iot, template, tmp_path):
    c = iot.create_provisioning_claim(templateName=template)
    d = types.SimpleNamespace(id=c["certificateId"], cert=tmp_path / f"claim-{c['certificateId'][:8]}.pem",
                              key=tmp_path / f"claim-{c['certificateId'][:8]}.key")
    d.cert.write_text(c["certificatePem"])
    d.key.write_text(c["keyPair"]["PrivateKey"])
    return c, d


def test_templates_api(server, iot):
    name = make_template(iot, description="the README's template", tags=[{"Key": "team", "Value": "fleet"}])
    d = iot.describe_provisioning_template(templateName=name)
    assert d["templateArn"] == f"arn:aws:iot:us-east-1:000000000000:provisioningtemplate/{name}"
    assert (d["defaultVersionId"], d["enabled"], d["type"]) == (1, True, "FLEET_PROVISIONING")
    assert json.loads(d["templateBody"]) == TEMPLATE and d["provisioningRoleArn"] == ROLE
    assert name in [t["templateName"] for t in iot.list_provisioning_templates()["templates"]]

    v2 = iot.create_provisioning_template_version(templateName=name, templateBody=json.dumps(TEMPLATE))
    assert (v2["versionId"], v2["isDefaultVersion"]) == (2, False)
    v3 = iot.create_provisioning_template_version(templateName=name, templateBody=json.dumps(TEMPLATE), setAsDefault=True)
    assert (v3["versionId"], v3["isDefaultVersion"]) == (3, True)
    versions = iot.list_provisioning_template_versions(templateName=name)["versions"]
    assert [(v["versionId"], v["isDefaultVersion"]) for v in versions] == [(1, False), (2, False), (3, True)]
    assert iot.describe_provisioning_template_version(templateName=name, versionId=2)["isDefaultVersion"] is False
    iot.update_provisioning_template(templateName=name, defaultVersionId=1, enabled=False, description="off")
    d = iot.describe_provisioning_template(templateName=name)
    assert (d["defaultVersionId"], d["enabled"], d["description"]) == (1, False, "off")
    iot.delete_provisioning_template_version(templateName=name, versionId=2)
    assert [v["versionId"] for v in iot.list_provisioning_template_versions(templateName=name)["versions"]] == [1, 3]

    # The AWS CLI sees the same.
    listed = server.aws("iot", "list-provisioning-templates")
    assert name in [t["templateName"] for t in listed["templates"]]

    iot.delete_provisioning_template(templateName=name)
    with pytest.raises(ClientError) as e:
        iot.describe_provisioning_template(templateName=name)
    assert error(e)[0] == "ResourceNotFoundException"


@pytest.mark.parametrize("body, code, text", [
    ("{", "InvalidRequestException", "not valid JSON"),
    (json.dumps({"Resources": {"t": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Fn::If": []}}}}}),
     "InvalidRequestException", "unknown function Fn::If"),
    (json.dumps({"Resources": {"b": {"Type": "AWS::S3::Bucket"}}}), "InvalidRequestException", "AWS::IoT::Thing"),
    ("x" * 10241, "InvalidRequestException", "the most is 10240"),
])
def test_bad_templates_are_refused_and_change_nothing(iot, body, code, text):
    name = f"bad-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ClientError) as e:
        iot.create_provisioning_template(templateName=name, templateBody=body, provisioningRoleArn=ROLE)
    assert error(e)[0] == code and text in error(e)[1], error(e)
    assert name not in [t["templateName"] for t in iot.list_provisioning_templates()["templates"]]


def test_template_conflicts_and_limits(iot):
    name = make_template(iot)
    with pytest.raises(ClientError) as e:
        make_template(iot, name)
    assert error(e)[0] == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as e:
        iot.create_provisioning_template(templateName="has space", templateBody="{}", provisioningRoleArn=ROLE)
    assert error(e)[0] == "InvalidRequestException"
    with pytest.raises(ClientError) as e:
        iot.delete_provisioning_template_version(templateName=name, versionId=1)
    assert error(e)[0] == "DeleteConflictException" and "default version" in error(e)[1]
    for _ in range(4):
        iot.create_provisioning_template_version(templateName=name, templateBody=json.dumps(TEMPLATE))
    with pytest.raises(ClientError) as e:
        iot.create_provisioning_template_version(templateName=name, templateBody=json.dumps(TEMPLATE))
    assert error(e)[0] == "VersionsLimitExceededException"
    with pytest.raises(ClientError) as e:
        iot.create_provisioning_claim(templateName="no-such-template")
    assert error(e)[0] == "ResourceNotFoundException"


def request(client, topic, payload=b"{}"):
    client.publish(topic, payload)
    return client.recv(timeout=20)


def test_fleet_provisioning_over_mqtt(server, iot, tmp_path):
    template = make_template(iot)
    c, claim_dev = claim(iot, template, tmp_path)
    # The claim is not an account certificate.
    assert c["certificateId"] not in [x["certificateId"] for x in iot.list_certificates()["certificates"]]

    dev = Client(server, device=claim_dev, v5=True)
    dev.connect()
    other = Client(server, device=Device(iot, tmp_path), v5=True)
    other.connect()
    other.subscribe("$aws/certificates/create/json/accepted")

    for suffix in ("accepted", "rejected"):
        dev.subscribe(f"$aws/certificates/create/json/{suffix}")
        dev.subscribe(f"$aws/provisioning-templates/{template}/provision/json/{suffix}")
    created = request(dev, "$aws/certificates/create/json")
    assert created.topic == "$aws/certificates/create/json/accepted"
    keys = json.loads(created.payload)
    assert set(keys) == {"certificateId", "certificatePem", "privateKey", "certificateOwnershipToken"}
    assert iot.describe_certificate(certificateId=keys["certificateId"])["certificateDescription"]["status"] == "PENDING_ACTIVATION"
    other.nothing()  # the reply (with a private key) reached the requester alone

    # A wrong token, an empty token and a missing parameter are rejected and change nothing.
    provision = f"$aws/provisioning-templates/{template}/provision/json"
    for body, status, code in [
        ({"certificateOwnershipToken": "nope", "parameters": {"SerialNumber": "9"}}, 400, "InvalidCertificateOwnershipToken"),
        ({"parameters": {"SerialNumber": "9"}}, 400, "InvalidCertificateOwnershipToken"),
        ({"certificateOwnershipToken": keys["certificateOwnershipToken"], "parameters": {"SerialNumber": "9"}}, 400, "InvalidParameters"),
    ]:
        r = request(dev, provision, json.dumps(body).encode())
        assert r.topic == provision + "/rejected"
        answer = json.loads(r.payload)
        assert (answer["statusCode"], answer["errorCode"]) == (status, code), answer
        assert answer["errorMessage"]
    with pytest.raises(ClientError):
        iot.describe_thing(thingName="ThingPrefix_9")

    serial = uuid.uuid4().hex[:8]
    ok = request(dev, provision, json.dumps({"certificateOwnershipToken": keys["certificateOwnershipToken"],
                                             "parameters": {"SerialNumber": serial, "DeviceLocation": "Seattle"}}).encode())
    assert ok.topic == provision + "/accepted"
    assert json.loads(ok.payload) == {"thingName": f"ThingPrefix_{serial}", "deviceConfiguration": {
        "FallbackUrl": "https://www.example.com/test-site", "LocationUrl": "https://example.aws"}}
    thing = f"ThingPrefix_{serial}"
    assert iot.describe_thing(thingName=thing)["attributes"] == {"version": "v1", "serialNumber": "serialNumber"}
    cert_arn = iot.describe_certificate(certificateId=keys["certificateId"])["certificateDescription"]["certificateArn"]
    assert iot.list_thing_principals(thingName=thing)["principals"] == [cert_arn]
    assert iot.describe_certificate(certificateId=keys["certificateId"])["certificateDescription"]["status"] == "ACTIVE"
    assert len(iot.list_attached_policies(target=cert_arn)["policies"]) == 1
    # The token is spent.
    again = request(dev, provision, json.dumps({"certificateOwnershipToken": keys["certificateOwnershipToken"],
                                                "parameters": {"SerialNumber": serial}}).encode())
    assert json.loads(again.payload)["errorCode"] == "InvalidCertificateOwnershipToken"

    # The provisioned certificate connects as the new thing.
    new_dev = types.SimpleNamespace(cert=tmp_path / "new.pem", key=tmp_path / "new.key")
    new_dev.cert.write_text(keys["certificatePem"])
    new_dev.key.write_text(keys["privateKey"])
    c2 = Client(server, device=new_dev, client_id=thing)
    c2.connect()
    c2.close()

    # The claim may touch only its template's topics.
    assert [c.value for c in dev.subscribe("devices/elsewhere")] == [0x87]
    assert [c.value for c in dev.subscribe("$aws/provisioning-templates/other/provision/json/accepted")] == [0x87]
    dev.close()
    other.close()


def test_csr_and_cbor(server, iot, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import cbor2

    template = make_template(iot)
    _, claim_dev = claim(iot, template, tmp_path)
    dev = Client(server, device=claim_dev, v5=True)
    dev.connect()
    for t in ("$aws/certificates/create-from-csr/cbor/+", f"$aws/provisioning-templates/{template}/provision/cbor/+"):
        dev.subscribe(t)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "csr-device")]))
           .sign(key, hashes.SHA256()))
    pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    r = request(dev, "$aws/certificates/create-from-csr/cbor", cbor2.dumps({"certificateSigningRequest": pem}))
    assert r.topic.endswith("/accepted")
    created = cbor2.loads(r.payload)
    assert set(created) == {"certificateId", "certificatePem", "certificateOwnershipToken"}
    cert = x509.load_pem_x509_certificate(created["certificatePem"].encode())
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()

    bad = request(dev, "$aws/certificates/create-from-csr/cbor", cbor2.dumps({"certificateSigningRequest": "junk"}))
    assert bad.topic.endswith("/rejected") and cbor2.loads(bad.payload)["statusCode"] == 400

    serial = uuid.uuid4().hex[:8]
    done = request(dev, f"$aws/provisioning-templates/{template}/provision/cbor",
                   cbor2.dumps({"certificateOwnershipToken": created["certificateOwnershipToken"],
                                "parameters": {"SerialNumber": serial, "DeviceLocation": "Seattle"}}))
    assert cbor2.loads(done.payload)["thingName"] == f"ThingPrefix_{serial}"
    dev.close()


def test_disabled_template_and_register_thing(iot, tmp_path):
    template = make_template(iot)
    iot.update_provisioning_template(templateName=template, enabled=False)
    # RegisterThing over HTTP: single-thing provisioning of an existing certificate.
    c = iot.create_keys_and_certificate(setAsActive=False)
    body = {"Parameters": {"Name": {"Type": "String"}, "Cert": {"Type": "String"}},
            "Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "Name"}}},
                          "certificate": {"Type": "AWS::IoT::Certificate",
                                          "Properties": {"CertificateId": {"Ref": "Cert"}, "Status": "ACTIVE"}}}}
    name = f"single-{uuid.uuid4().hex[:6]}"
    out = iot.register_thing(templateBody=json.dumps(body), parameters={"Name": name, "Cert": c["certificateId"]})
    assert out["resourceArns"] == {"thing": f"arn:aws:iot:us-east-1:000000000000:thing/{name}",
                                   "certificate": c["certificateArn"]}
    assert out["certificatePem"] == c["certificatePem"]
    assert iot.describe_certificate(certificateId=c["certificateId"])["certificateDescription"]["status"] == "ACTIVE"
    with pytest.raises(ClientError) as e:
        iot.register_thing(templateBody=json.dumps(body), parameters={"Name": "x"})
    assert error(e)[0] == "InvalidRequestException" and "parameter Cert has no value" in error(e)[1]


def auto_registering_ca(iot, config=None):
    """A CA of our own, registered ACTIVE with auto-registration ENABLE (and a registrationConfig)."""
    from test_certificates import issue, make_ca, pem

    code = iot.get_registration_code()["registrationCode"]
    ca_key, ca = make_ca(f"JIT CA {uuid.uuid4().hex[:6]}")
    _, verification = issue(ca_key, ca, code)
    extra = {"registrationConfig": config} if config else {}
    reg = iot.register_ca_certificate(caCertificate=pem(ca), verificationCertificate=pem(verification),
                                      setAsActive=True, allowAutoRegistration=True, **extra)
    return ca_key, ca, reg["certificateId"]


def device_of_ca(tmp_path, ca_key, ca, cn):
    import hashlib
    from cryptography.hazmat.primitives import serialization
    from test_certificates import issue, pem

    key, cert = issue(ca_key, ca, cn)
    d = types.SimpleNamespace(cert=tmp_path / f"{cn}.pem", key=tmp_path / f"{cn}.key",
                              id=hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest())
    d.cert.write_text(pem(cert))
    d.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
    return d


def refused(server, device, client_id):
    """One TLS connection attempt (no client library: paho would retry by itself) that the server
    refuses in the handshake."""
    import socket
    import ssl
    from mqtt_helpers import host_port

    ctx = ssl.create_default_context(cafile=server.endpoints["root_ca"])
    ctx.load_cert_chain(device.cert, device.key)
    data = b"unset"
    try:
        with socket.create_connection(host_port(server.endpoints["mqtt_tls"]), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                data = tls.recv(1)  # TLS 1.3: the refusal arrives as an alert after the client's Finished
    except (ssl.SSLError, ConnectionError):
        return
    assert data == b"", f"{client_id}: the connection was not refused"


def test_just_in_time_registration(server, iot, tmp_path):
    ca_key, ca, ca_id = auto_registering_ca(iot)
    watcher = Client(server, device=Device(iot, tmp_path), v5=True)
    watcher.connect()
    watcher.subscribe("$aws/events/certificates/registered/+")
    dev = device_of_ca(tmp_path, ca_key, ca, f"jitr-{uuid.uuid4().hex[:6]}")

    refused(server, dev, "jitr-device")  # the first connection registers the certificate and fails, as on AWS
    event = watcher.recv(timeout=10)
    assert event.topic == f"$aws/events/certificates/registered/{ca_id}"
    body = json.loads(event.payload)
    assert body == {"certificateId": dev.id, "caCertificateId": ca_id, "timestamp": body["timestamp"],
                    "certificateStatus": "PENDING_ACTIVATION", "awsAccountId": "000000000000",
                    "certificateRegistrationTimestamp": None}
    desc = iot.describe_certificate(certificateId=dev.id)["certificateDescription"]
    assert (desc["status"], desc["caCertificateId"]) == ("PENDING_ACTIVATION", ca_id)

    refused(server, dev, "jitr-device")  # still pending: refused, and announced again
    assert json.loads(watcher.recv(timeout=10).payload)["certificateId"] == dev.id

    # What a JITR handler (a rule's Lambda, or a person) does: activate it and give it a policy.
    iot.update_certificate(certificateId=dev.id, newStatus="ACTIVE")
    iot.attach_policy(policyName="test-allow-all", target=desc["certificateArn"])
    c = Client(server, device=dev, client_id="jitr-device")
    c.connect()
    c.close()
    watcher.close()

    # A CA without auto-registration registers nothing.
    from test_certificates import issue, make_ca, pem
    code = iot.get_registration_code()["registrationCode"]
    key2, ca2 = make_ca("plain CA")
    _, verification = issue(key2, ca2, code)
    iot.register_ca_certificate(caCertificate=pem(ca2), verificationCertificate=pem(verification), setAsActive=True)
    stranger = device_of_ca(tmp_path, key2, ca2, "stranger")
    refused(server, stranger, "stranger")
    with pytest.raises(ClientError):
        iot.describe_certificate(certificateId=stranger.id)


def test_just_in_time_provisioning(server, iot, tmp_path):
    from conftest import wait_for

    body = {
        "Parameters": {"AWS::IoT::Certificate::CommonName": {"Type": "String"},
                       "AWS::IoT::Certificate::Id": {"Type": "String"}},
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": {
                "ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"},
                "AttributePayload": {"provisionedBy": "jitp"}}},
            "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {
                "CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}},
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": json.loads(ALLOW_ALL_DOC)}},
        },
    }
    template = f"jitp-{uuid.uuid4().hex[:6]}"
    iot.create_provisioning_template(templateName=template, templateBody=json.dumps(body), provisioningRoleArn=ROLE,
                                     enabled=True, type="JITP")
    ca_key, ca, _ = auto_registering_ca(iot, {"templateName": template})
    cn = f"jitp-{uuid.uuid4().hex[:6]}"
    dev = device_of_ca(tmp_path, ca_key, ca, cn)

    refused(server, dev, cn)
    wait_for(lambda: iot.describe_certificate(certificateId=dev.id)["certificateDescription"]["status"] == "ACTIVE",
             what="the certificate provisioned ACTIVE")
    assert iot.describe_thing(thingName=cn)["attributes"] == {"provisionedBy": "jitp"}
    arn = iot.describe_certificate(certificateId=dev.id)["certificateDescription"]["certificateArn"]
    assert iot.list_thing_principals(thingName=cn)["principals"] == [arn]
    c = Client(server, device=dev, client_id=cn)  # the retry connects
    c.connect()
    c.close()


def test_pre_provisioning_hook(fresh_server, tmp_path):
    import sys

    calls = tmp_path / "hook-calls.jsonl"
    hook = tmp_path / "hook.py"
    hook.write_text(
        "import json, sys\n"
        "d = json.load(sys.stdin)\n"
        "open(sys.argv[1], 'a').write(json.dumps(d) + '\\n')\n"
        "ok = d['parameters'].get('SerialNumber') != 'deny'\n"
        "print(json.dumps({'allowProvisioning': ok, 'parameterOverrides': {'DeviceLocation': 'Seattle'}}))\n")
    s = fresh_server("--lambda", f"hookfn={sys.executable} {hook} {calls}").start()
    iot = s.client("iot")
    template = make_template(iot, preProvisioningHook={
        "targetArn": "arn:aws:lambda:us-east-1:000000000000:function:hookfn", "payloadVersion": "2020-04-01"})
    c, claim_dev = claim(iot, template, tmp_path)
    dev = Client(s, device=claim_dev, v5=True)
    dev.connect()
    dev.subscribe("$aws/certificates/create/json/accepted")
    dev.subscribe(f"$aws/provisioning-templates/{template}/provision/json/+")
    token = json.loads(request(dev, "$aws/certificates/create/json").payload)["certificateOwnershipToken"]
    provision = f"$aws/provisioning-templates/{template}/provision/json"
    denied = request(dev, provision, json.dumps({"certificateOwnershipToken": token,
                                                 "parameters": {"SerialNumber": "deny"}}).encode())
    assert denied.topic.endswith("/rejected")
    assert (json.loads(denied.payload)["statusCode"], json.loads(denied.payload)["errorCode"]) == (403, "AccessDenied")
    serial = uuid.uuid4().hex[:6]
    # The token survives the refusal; the hook's override fills DeviceLocation.
    ok = request(dev, provision, json.dumps({"certificateOwnershipToken": token,
                                             "parameters": {"SerialNumber": serial}}).encode())
    assert json.loads(ok.payload)["deviceConfiguration"]["LocationUrl"] == "https://example.aws"
    seen = [json.loads(line) for line in calls.read_text().splitlines()]
    assert [x["parameters"]["SerialNumber"] for x in seen] == ["deny", serial]
    assert seen[0]["claimCertificateId"] == c["certificateId"] and seen[0]["clientId"] == dev.client_id
    assert seen[0]["templateArn"].endswith(f":provisioningtemplate/{template}")
    dev.close()


def test_register_thing_with_a_csr_or_a_pem(iot):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from test_certificates import issue, make_ca, pem

    def body(prop):
        return json.dumps({"Parameters": {"Name": {"Type": "String"}, "Cert": {"Type": "String"}},
                           "Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "Name"}}},
                                         "certificate": {"Type": "AWS::IoT::Certificate",
                                                         "Properties": {prop: {"Ref": "Cert"}, "Status": "ACTIVE"}}}})

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "single")])).sign(key, hashes.SHA256()))
    name = f"csr-{uuid.uuid4().hex[:6]}"
    out = iot.register_thing(templateBody=body("CertificateSigningRequest"),
                             parameters={"Name": name, "Cert": csr.public_bytes(serialization.Encoding.PEM).decode()})
    cert = x509.load_pem_x509_certificate(out["certificatePem"].encode())
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    cert_id = out["resourceArns"]["certificate"].rsplit("/", 1)[1]
    assert iot.describe_certificate(certificateId=cert_id)["certificateDescription"]["status"] == "ACTIVE"
    assert iot.list_thing_principals(thingName=name)["principals"] == [out["resourceArns"]["certificate"]]

    # A PEM from a CA nobody registered is refused, and nothing is made.
    ca_key, ca = make_ca("unregistered")
    _, leaf = issue(ca_key, ca, "leaf")
    stray = f"pem-{uuid.uuid4().hex[:6]}"
    with pytest.raises(ClientError) as e:
        iot.register_thing(templateBody=body("CertificatePem"), parameters={"Name": stray, "Cert": pem(leaf)})
    assert error(e)[0] == "CertificateValidationException"
    with pytest.raises(ClientError):
        iot.describe_thing(thingName=stray)
    # Once its CA is registered, the same PEM is registered with the thing.
    code = iot.get_registration_code()["registrationCode"]
    _, verification = issue(ca_key, ca, code)
    iot.register_ca_certificate(caCertificate=pem(ca), verificationCertificate=pem(verification), setAsActive=True)
    out = iot.register_thing(templateBody=body("CertificatePem"), parameters={"Name": stray, "Cert": pem(leaf)})
    assert out["certificatePem"] == pem(leaf)
    assert iot.list_thing_principals(thingName=stray)["principals"] == [out["resourceArns"]["certificate"]]
