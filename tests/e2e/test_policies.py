"""IoT policies through boto3 and real MQTT clients: the policy API and its errors, enforcement on
CONNECT / PUBLISH / SUBSCRIBE / Receive, thing variables, explicit deny, live version changes, and
TestAuthorization agreeing with enforcement."""

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from mqtt_helpers import Client, Device

ACCT = "arn:aws:iot:us-east-1:000000000000"


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions, resources, **extra):
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def error(call, **kwargs):
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    r = info.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


def pname(prefix="p"):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def own_topics_policy():
    return doc(
        allow("iot:Connect", f"{ACCT}:client/${{iot:ClientId}}"),
        allow(["iot:Publish", "iot:Receive"], f"{ACCT}:topic/devices/${{iot:ClientId}}/*"),
        allow("iot:Subscribe", f"{ACCT}:topicfilter/devices/${{iot:ClientId}}/*"),
    )


def test_policy_api_and_versions(iot):
    name = pname()
    created = iot.create_policy(policyName=name, policyDocument=own_topics_policy())
    assert created["policyVersionId"] == "1" and created["policyArn"] == f"{ACCT}:policy/{name}"
    assert error(iot.create_policy, policyName=name, policyDocument=own_topics_policy())[0] == "ResourceAlreadyExistsException"
    got = iot.get_policy(policyName=name)
    assert got["defaultVersionId"] == "1" and json.loads(got["policyDocument"])["Statement"][0]["Action"] == "iot:Connect"
    assert name in [p["policyName"] for p in iot.list_policies()["policies"]]
    for i in range(2, 6):
        v = iot.create_policy_version(policyName=name, policyDocument=own_topics_policy(), setAsDefault=(i == 3))
        assert v["policyVersionId"] == str(i)
    code, msg, status = error(iot.create_policy_version, policyName=name, policyDocument=own_topics_policy())
    assert (code, status) == ("VersionsLimitExceededException", 409) and "5" in msg
    versions = iot.list_policy_versions(policyName=name)["policyVersions"]
    assert sorted(v["versionId"] for v in versions) == ["1", "2", "3", "4", "5"]
    assert [v["versionId"] for v in versions if v["isDefaultVersion"]] == ["3"]
    assert iot.get_policy_version(policyName=name, policyVersionId="3")["isDefaultVersion"] is True
    assert error(iot.delete_policy_version, policyName=name, policyVersionId="3")[0] == "DeleteConflictException"
    iot.set_default_policy_version(policyName=name, policyVersionId="5")
    assert iot.get_policy(policyName=name)["defaultVersionId"] == "5"
    assert error(iot.delete_policy, policyName=name)[0] == "DeleteConflictException"  # versions remain
    for v in ["1", "2", "3", "4"]:
        iot.delete_policy_version(policyName=name, policyVersionId=v)
    assert error(iot.get_policy_version, policyName=name, policyVersionId="1")[0] == "ResourceNotFoundException"
    cert = iot.create_keys_and_certificate(setAsActive=True)
    iot.attach_policy(policyName=name, target=cert["certificateArn"])
    assert iot.list_targets_for_policy(policyName=name)["targets"] == [cert["certificateArn"]]
    assert [p["policyName"] for p in iot.list_attached_policies(target=cert["certificateArn"])["policies"]] == [name]
    code, _, status = error(iot.delete_policy, policyName=name)
    assert (code, status) == ("DeleteConflictException", 409)
    iot.update_certificate(certificateId=cert["certificateId"], newStatus="INACTIVE")
    assert error(iot.delete_certificate, certificateId=cert["certificateId"])[0] == "DeleteConflictException"
    iot.delete_certificate(certificateId=cert["certificateId"], forceDelete=True)
    assert iot.list_targets_for_policy(policyName=name)["targets"] == []
    iot.delete_policy(policyName=name)
    assert error(iot.get_policy, policyName=name)[0] == "ResourceNotFoundException"


@pytest.mark.parametrize(
    "document, fragment",
    [
        ("not json", "not valid JSON"),
        (json.dumps({"Statement": [{"Effect": "Allow", "Action": "iot:Publsh", "Resource": "*"}]}), "Statement 1"),
        (json.dumps({"Statement": [{"Effect": "Allow", "Action": "iot:Publish", "Resource": "*"},
                                   {"Effect": "Perhaps", "Action": "iot:Publish", "Resource": "*"}]}), "Statement 2"),
        (json.dumps({"Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "client/x"}]}), "ARN"),
        (doc(*[allow("iot:Publish", f"{ACCT}:topic/t{i}") for i in range(40)]), "2048"),
    ],
)
def test_malformed_documents_are_refused(iot, document, fragment):
    name = pname()
    code, msg, status = error(iot.create_policy, policyName=name, policyDocument=document)
    assert (code, status) == ("MalformedPolicyException", 400) and fragment in msg, msg
    assert error(iot.get_policy, policyName=name)[0] == "ResourceNotFoundException"


def test_attach_errors(iot):
    name = pname()
    iot.create_policy(policyName=name, policyDocument=own_topics_policy())
    assert error(iot.attach_policy, policyName=name, target=f"{ACCT}:cert/{'0' * 64}")[0] == "ResourceNotFoundException"
    assert error(iot.attach_policy, policyName="ghost-policy", target=f"{ACCT}:thinggroup/x")[0] == "ResourceNotFoundException"
    assert error(iot.attach_policy, policyName=name, target=f"{ACCT}:thing/x")[0] == "InvalidRequestException"
    g = pname("g")
    iot.create_thing_group(thingGroupName=g)
    garn = f"{ACCT}:thinggroup/{g}"
    extra = [pname() for _ in range(2)]
    for e in extra:
        iot.create_policy(policyName=e, policyDocument=own_topics_policy())
    iot.attach_policy(policyName=extra[0], target=garn)
    iot.attach_policy(policyName=extra[1], target=garn)
    code, _, status = error(iot.attach_policy, policyName=name, target=garn)
    assert (code, status) == ("LimitExceededException", 410)


def test_no_policy_means_no_connection(server, iot, tmp_path):
    d = Device(iot, tmp_path, policy=None)
    c = Client(server, device=d)
    with pytest.raises(ConnectionError):
        c.connect()
    c.c.loop_stop()


def test_own_topics_policy_is_enforced(server, iot, tmp_path):
    name = pname()
    iot.create_policy(policyName=name, policyDocument=own_topics_policy())
    d = Device(iot, tmp_path, policy=name)
    cid = f"dev-{uuid.uuid4().hex[:6]}"
    c = Client(server, client_id=cid, device=d)
    c.connect()
    assert c.subscribe(f"devices/{cid}/in")[0].value == 1
    # A message on an allowed topic arrives; one it may not receive is never delivered.
    admin = Device(iot, tmp_path)  # allow-all
    feeder = Client(server, device=admin)
    feeder.connect()
    feeder.publish(f"devices/{cid}/in", b"for you")
    assert c.recv().payload == b"for you"
    c.publish(f"devices/{cid}/out", b"mine")
    # Publishing elsewhere disconnects an MQTT 3.1.1 client.
    c.c.publish("devices/other/out", b"not mine", qos=1)
    c.disconnected()
    c2 = Client(server, client_id=cid, device=d)
    c2.connect()
    c2.c.subscribe("devices/#", 1)  # a filter it may not subscribe to
    c2.disconnected()
    feeder.close()


def test_receive_is_checked_per_delivery(server, iot, tmp_path):
    name = pname()
    iot.create_policy(policyName=name, policyDocument=doc(
        allow("iot:Connect", "*"),
        allow("iot:Subscribe", f"{ACCT}:topicfilter/feed/*"),
        allow("iot:Receive", f"{ACCT}:topic/feed/public"),
    ))
    d = Device(iot, tmp_path, policy=name)
    c = Client(server, device=d)
    c.connect()
    c.subscribe("feed/+")
    feeder = Client(server, device=Device(iot, tmp_path))
    feeder.connect()
    feeder.publish("feed/secret", b"hidden")
    feeder.publish("feed/public", b"visible")
    assert c.recv().payload == b"visible"
    c.nothing()
    c.close()
    feeder.close()


def test_explicit_deny_wins_and_versions_apply_live(server, iot, tmp_path):
    name = pname()
    iot.create_policy(policyName=name, policyDocument=doc(allow("iot:*", "*")))
    d = Device(iot, tmp_path, policy=name)
    c = Client(server, device=d, v5=True)
    c.connect()
    c.subscribe("live/topic")
    feeder = Client(server, device=Device(iot, tmp_path))
    feeder.connect()
    feeder.publish("live/topic", b"before")
    assert c.recv().payload == b"before"
    deny = {"Effect": "Deny", "Action": "iot:Receive", "Resource": f"{ACCT}:topic/live/*"}
    iot.create_policy_version(policyName=name, policyDocument=doc(allow("iot:*", "*"), deny), setAsDefault=True)
    feeder.publish("live/topic", b"after-deny")
    c.nothing()
    iot.set_default_policy_version(policyName=name, policyVersionId="1")
    feeder.publish("live/topic", b"allowed-again")
    assert c.recv().payload == b"allowed-again"
    # MQTT 5: a denied QoS 1 publish gets PUBACK 0x87 and the connection stays up.
    other = pname()
    iot.create_policy(policyName=other, policyDocument=doc({"Effect": "Deny", "Action": "iot:Publish", "Resource": f"{ACCT}:topic/forbidden"}))
    iot.attach_policy(policyName=other, target=d.arn)
    info = c.c.publish("forbidden", b"x", qos=1)
    info.wait_for_publish(5)
    assert info.rc == 0
    c.publish("live/ok", b"still connected")
    c.close()
    feeder.close()


def test_thing_variables_and_group_policies(server, iot, tmp_path):
    thing = f"sensor-{uuid.uuid4().hex[:6]}"
    iot.create_thing(thingName=thing, attributePayload={"attributes": {"site": "lyon"}})
    name = pname()
    iot.create_policy(policyName=name, policyDocument=doc(
        allow("iot:Connect", f"{ACCT}:client/${{iot:Connection.Thing.ThingName}}",
              Condition={"Bool": {"iot:Connection.Thing.IsAttached": "true"}}),
        allow("iot:Publish", f"{ACCT}:topic/sites/${{iot:Connection.Thing.Attributes[site]}}/*"),
    ))
    group = pname("g")
    iot.create_thing_group(thingGroupName=group)
    iot.add_thing_to_thing_group(thingGroupName=group, thingName=thing)
    iot.attach_policy(policyName=name, target=f"{ACCT}:thinggroup/{group}")
    d = Device(iot, tmp_path, policy=None)
    # Not attached to the thing yet: IsAttached is false.
    c = Client(server, client_id=thing, device=d)
    with pytest.raises(ConnectionError):
        c.connect()
    c.c.loop_stop()
    iot.attach_thing_principal(thingName=thing, principal=d.arn)
    eff = iot.get_effective_policies(principal=d.arn, thingName=thing)["effectivePolicies"]
    assert [p["policyName"] for p in eff] == [name]
    c = Client(server, client_id=thing, device=d)
    c.connect()
    c.publish("sites/lyon/temp", b"20")
    c.c.publish("sites/paris/temp", b"21", qos=1)
    c.disconnected()


def test_test_authorization_agrees_with_enforcement(server, iot, tmp_path):
    name = pname()
    iot.create_policy(policyName=name, policyDocument=own_topics_policy())
    deny = pname()
    iot.create_policy(policyName=deny, policyDocument=doc({"Effect": "Deny", "Action": "iot:Publish", "Resource": f"{ACCT}:topic/devices/*/secret"}))
    d = Device(iot, tmp_path, policy=name)
    iot.attach_policy(policyName=deny, target=d.arn)
    cid = f"ta-{uuid.uuid4().hex[:6]}"

    def decision(action, resource):
        r = iot.test_authorization(principal=d.arn, authInfos=[{"actionType": action, "resources": [resource]}], clientId=cid)
        return r["authResults"][0]

    ok = decision("PUBLISH", f"{ACCT}:topic/devices/{cid}/state")
    assert ok["authDecision"] == "ALLOWED" and ok["allowed"]["policies"][0]["policyName"] == name
    secret = decision("PUBLISH", f"{ACCT}:topic/devices/{cid}/secret")
    assert secret["authDecision"] == "EXPLICIT_DENY" and secret["denied"]["explicitDeny"]["policies"][0]["policyName"] == deny
    elsewhere = decision("PUBLISH", f"{ACCT}:topic/elsewhere")
    assert elsewhere["authDecision"] == "IMPLICIT_DENY"
    assert decision("CONNECT", f"{ACCT}:client/{cid}")["authDecision"] == "ALLOWED"
    assert decision("CONNECT", f"{ACCT}:client/other")["authDecision"] == "IMPLICIT_DENY"
    no_thing = iot.test_authorization(principal=d.arn, clientId=cid, authInfos=[
        {"actionType": "PUBLISH", "resources": [f"{ACCT}:topic/${{iot:Connection.Thing.ThingName}}"]}])
    added = iot.test_authorization(principal=d.arn, clientId=cid, policyNamesToSkip=[name],
                                   authInfos=[{"actionType": "PUBLISH", "resources": [f"{ACCT}:topic/devices/{cid}/state"]}])
    assert added["authResults"][0]["authDecision"] == "IMPLICIT_DENY"
    assert no_thing["authResults"][0]["authDecision"] in ("IMPLICIT_DENY", "ALLOWED")

    # Enforcement says the same.
    c = Client(server, client_id=cid, device=d)
    c.connect()
    c.publish(f"devices/{cid}/state", b"fine")
    c.c.publish(f"devices/{cid}/secret", b"no", qos=1)
    c.disconnected()


def test_plain_listener_policies(fresh_server):
    s = fresh_server("--plain-policy", "plain-devices").start()
    iot = s.client()
    # The named policy does not exist yet: plain clients may do nothing.
    c = Client(s, client_id="p1")
    with pytest.raises(ConnectionError):
        c.connect()
    c.c.loop_stop()
    iot.create_policy(policyName="plain-devices", policyDocument=doc(
        allow("iot:Connect", "*"),
        allow(["iot:Publish", "iot:Subscribe", "iot:Receive"], [f"{ACCT}:topic/plain/${{iot:ClientId}}/*",
                                                                 f"{ACCT}:topicfilter/plain/${{iot:ClientId}}/*"]),
    ))
    c = Client(s, client_id="p1")
    c.connect()
    c.subscribe("plain/p1/x")
    c.publish("plain/p1/x", b"mine")
    assert c.recv().payload == b"mine"
    c.c.publish("plain/p2/x", b"theirs", qos=1)
    c.disconnected()


def test_plain_listener_can_be_turned_off(fresh_server):
    s = fresh_server()
    s.args = [a for a in s.args]
    i = s.args.index("--mqtt-port")
    s.args[i + 1] = "off"
    s.start()
    assert s.endpoints["mqtt"] is None and s.endpoints["mqtt_tls"]


def test_certificate_subject_variables(server, iot, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cn = f"sensor-{uuid.uuid4().hex[:6]}"
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])).sign(key, hashes.SHA256())
    c = iot.create_certificate_from_csr(certificateSigningRequest=csr.public_bytes(serialization.Encoding.PEM).decode(),
                                        setAsActive=True)
    name = pname()
    iot.create_policy(policyName=name, policyDocument=doc(
        allow("iot:Connect", f"{ACCT}:client/${{iot:Certificate.Subject.CommonName}}")))
    iot.attach_policy(policyName=name, target=c["certificateArn"])
    d = type("D", (), {})()
    d.cert, d.key = tmp_path / "cn.crt", tmp_path / "cn.key"
    d.cert.write_text(c["certificatePem"])
    d.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
    wrong = Client(server, client_id="not-the-cn", device=d)
    with pytest.raises(ConnectionError):
        wrong.connect()
    wrong.c.loop_stop()
    right = Client(server, client_id=cn, device=d)
    right.connect()
    right.close()
    r = iot.test_authorization(principal=c["certificateArn"], clientId=cn,
                               authInfos=[{"actionType": "CONNECT", "resources": [f"{ACCT}:client/{cn}"]}])
    assert r["authResults"][0]["authDecision"] == "ALLOWED"
