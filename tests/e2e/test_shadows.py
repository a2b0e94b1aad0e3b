"""Device shadows through real clients: the AWS IoT Device SDK v2 shadow client over MQTT, paho on
the raw topics, and boto3's iot-data client over HTTP — classic and named shadows, delta,
documents, version conflicts, rejections, and durability across a restart."""

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from mqtt_helpers import Client, Device


@pytest.fixture
def device(iot, tmp_path):
    return Device(iot, tmp_path)


def thing_name():
    return f"lamp-{uuid.uuid4().hex[:8]}"


def test_mqtt_update_get_delta_documents_and_rejections(server, device):
    thing = thing_name()
    p = f"$aws/things/{thing}/shadow"
    c = Client(server, device=device)
    c.connect()
    for t in ["update/accepted", "update/rejected", "update/delta", "update/documents", "get/accepted",
              "get/rejected", "delete/accepted", "delete/rejected"]:
        c.subscribe(f"{p}/{t}")
    c.publish(f"{p}/get", json.dumps({"clientToken": "g0"}))
    m = c.recv()
    assert m.topic == f"{p}/get/rejected"
    assert json.loads(m.payload) == {"code": 404, "message": f"No shadow exists with name: '{thing}'",
                                     "timestamp": json.loads(m.payload)["timestamp"], "clientToken": "g0"}

    c.publish(f"{p}/update", json.dumps({"state": {"desired": {"color": "red"}}, "clientToken": "u1"}))
    got = {}
    for _ in range(3):
        m = c.recv()
        got[m.topic.rsplit("/", 1)[-1]] = json.loads(m.payload)
    assert got["delta"]["state"] == {"color": "red"} and got["delta"]["version"] == 1
    assert got["documents"]["previous"] is None and got["documents"]["current"]["version"] == 1
    assert got["accepted"]["state"] == {"desired": {"color": "red"}} and got["accepted"]["clientToken"] == "u1"

    c.publish(f"{p}/update", json.dumps({"state": {"reported": {"color": "red"}}, "version": 1}))
    topics = [c.recv().topic for _ in range(2)]
    assert sorted(t.rsplit("/", 1)[-1] for t in topics) == ["accepted", "documents"]  # in sync: no delta
    c.publish(f"{p}/update", json.dumps({"state": {"reported": {"color": "blue"}}, "version": 1, "clientToken": "old"}))
    m = c.recv()
    assert m.topic == f"{p}/update/rejected"
    assert (json.loads(m.payload)["code"], json.loads(m.payload)["message"]) == (409, "Version conflict")
    c.publish(f"{p}/update", b"{not json")
    m = c.recv()
    assert json.loads(m.payload)["message"] == "Invalid JSON"

    c.publish(f"{p}/get", json.dumps({"clientToken": "g1"}))
    doc = json.loads(c.recv().payload)
    assert doc["version"] == 2 and doc["state"] == {"desired": {"color": "red"}, "reported": {"color": "red"}}
    assert doc["metadata"]["desired"]["color"]["timestamp"] > 0 and doc["clientToken"] == "g1"

    c.publish(f"{p}/delete", json.dumps({"clientToken": "d1"}))
    m = c.recv()
    assert m.topic == f"{p}/delete/accepted" and json.loads(m.payload)["version"] == 2
    c.close()


def test_named_shadows_over_http_and_mqtt(server, device):
    data = server.client("iot-data")
    thing = thing_name()
    c = Client(server, device=device)
    c.connect()
    c.subscribe(f"$aws/things/{thing}/shadow/name/config/update/delta")
    r = data.update_thing_shadow(thingName=thing, shadowName="config",
                                 payload=json.dumps({"state": {"desired": {"interval": 30}}}))
    accepted = json.loads(r["payload"].read())
    assert accepted["version"] == 1 and accepted["state"] == {"desired": {"interval": 30}}
    delta = json.loads(c.recv().payload)
    assert delta["state"] == {"interval": 30}
    got = json.loads(data.get_thing_shadow(thingName=thing, shadowName="config")["payload"].read())
    assert got["state"]["delta"] == {"interval": 30}
    data.update_thing_shadow(thingName=thing, payload=json.dumps({"state": {"reported": {"on": True}}}))
    named = data.list_named_shadows_for_thing(thingName=thing)["results"]
    assert named == ["config"]
    with pytest.raises(ClientError) as e:
        data.get_thing_shadow(thingName=thing, shadowName="nope")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        data.update_thing_shadow(thingName=thing, payload=json.dumps({"state": {"reported": {"x": 1}}, "version": 9}))
    assert (e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("ConflictException", 409)
    with pytest.raises(ClientError) as e:
        data.update_thing_shadow(thingName=thing, payload=b'{"nostate": 1}')
    assert e.value.response["Error"]["Message"] == "Missing required node: state"
    deleted = json.loads(data.delete_thing_shadow(thingName=thing, shadowName="config")["payload"].read())
    assert deleted["version"] == 1
    assert data.list_named_shadows_for_thing(thingName=thing)["results"] == []
    c.close()


def test_aws_iot_device_sdk_shadow_client(server, device):
    from awscrt import mqtt as crt_mqtt
    from awsiot import iotshadow, mqtt_connection_builder

    thing = thing_name()
    host, port = server.endpoints["mqtt_tls"].rsplit(":", 1)
    conn = mqtt_connection_builder.mtls_from_path(
        endpoint="localhost", port=int(port), cert_filepath=str(device.cert), pri_key_filepath=str(device.key),
        ca_filepath=server.endpoints["root_ca"], client_id=f"sdk-shadow-{uuid.uuid4().hex[:6]}", clean_session=True,
        keep_alive_secs=30,
    )
    conn.connect().result(10)
    shadow = iotshadow.IotShadowClient(conn)
    from concurrent.futures import Future
    accepted, deltas, rejected = Future(), Future(), Future()
    shadow.subscribe_to_update_shadow_accepted(
        iotshadow.UpdateShadowSubscriptionRequest(thing_name=thing), crt_mqtt.QoS.AT_LEAST_ONCE,
        lambda r: accepted.done() or accepted.set_result(r))[0].result(10)
    shadow.subscribe_to_shadow_delta_updated_events(
        iotshadow.ShadowDeltaUpdatedSubscriptionRequest(thing_name=thing), crt_mqtt.QoS.AT_LEAST_ONCE,
        lambda r: deltas.done() or deltas.set_result(r))[0].result(10)
    shadow.subscribe_to_get_shadow_rejected(
        iotshadow.GetShadowSubscriptionRequest(thing_name=thing), crt_mqtt.QoS.AT_LEAST_ONCE,
        lambda r: rejected.done() or rejected.set_result(r))[0].result(10)
    shadow.publish_get_shadow(iotshadow.GetShadowRequest(thing_name=thing, client_token="t0"), crt_mqtt.QoS.AT_LEAST_ONCE).result(10)
    err = rejected.result(10)
    assert err.code == 404 and err.client_token == "t0"
    shadow.publish_update_shadow(
        iotshadow.UpdateShadowRequest(thing_name=thing, client_token="t1",
                                      state=iotshadow.ShadowState(desired={"color": "green"})),
        crt_mqtt.QoS.AT_LEAST_ONCE).result(10)
    acc = accepted.result(10)
    assert acc.version == 1 and acc.state.desired == {"color": "green"} and acc.client_token == "t1"
    d = deltas.result(10)
    assert d.state == {"color": "green"} and d.version == 1

    # A named shadow: documents, a version conflict, and delete, through the same client.
    docs, rej, deleted = Future(), Future(), Future()
    shadow.subscribe_to_shadow_updated_events(
        iotshadow.ShadowUpdatedSubscriptionRequest(thing_name=thing), crt_mqtt.QoS.AT_LEAST_ONCE,
        lambda r: docs.done() or docs.set_result(r))[0].result(10)
    shadow.subscribe_to_update_named_shadow_rejected(
        iotshadow.UpdateNamedShadowSubscriptionRequest(thing_name=thing, shadow_name="cfg"), crt_mqtt.QoS.AT_LEAST_ONCE,
        lambda r: rej.done() or rej.set_result(r))[0].result(10)
    named_ok = Future()
    shadow.subscribe_to_update_named_shadow_accepted(
        iotshadow.UpdateNamedShadowSubscriptionRequest(thing_name=thing, shadow_name="cfg"), crt_mqtt.QoS.AT_LEAST_ONCE,
        lambda r: named_ok.done() or named_ok.set_result(r))[0].result(10)
    shadow.subscribe_to_delete_named_shadow_accepted(
        iotshadow.DeleteNamedShadowSubscriptionRequest(thing_name=thing, shadow_name="cfg"), crt_mqtt.QoS.AT_LEAST_ONCE,
        lambda r: deleted.done() or deleted.set_result(r))[0].result(10)
    shadow.publish_update_shadow(
        iotshadow.UpdateShadowRequest(thing_name=thing, state=iotshadow.ShadowState(reported={"color": "green"})),
        crt_mqtt.QoS.AT_LEAST_ONCE).result(10)
    updated = docs.result(10)
    assert updated.previous.version == 1 and updated.current.version == 2
    assert updated.current.state.reported == {"color": "green"}
    shadow.publish_update_named_shadow(
        iotshadow.UpdateNamedShadowRequest(thing_name=thing, shadow_name="cfg", client_token="n1",
                                           state=iotshadow.ShadowState(desired={"rate": 5})),
        crt_mqtt.QoS.AT_LEAST_ONCE).result(10)
    assert named_ok.result(10).version == 1
    shadow.publish_update_named_shadow(
        iotshadow.UpdateNamedShadowRequest(thing_name=thing, shadow_name="cfg", client_token="n2", version=7,
                                           state=iotshadow.ShadowState(desired={"rate": 6})),
        crt_mqtt.QoS.AT_LEAST_ONCE).result(10)
    conflict = rej.result(10)
    assert (conflict.code, conflict.message, conflict.client_token) == (409, "Version conflict", "n2")
    shadow.publish_delete_named_shadow(
        iotshadow.DeleteNamedShadowRequest(thing_name=thing, shadow_name="cfg", client_token="n3"),
        crt_mqtt.QoS.AT_LEAST_ONCE).result(10)
    gone = deleted.result(10)
    assert gone.version == 1 and gone.client_token == "n3"
    conn.disconnect().result(10)


def test_shadows_survive_restart_and_keep_history(fresh_server):
    s = fresh_server().start()
    data = s.client("iot-data")
    for i in range(3):
        data.update_thing_shadow(thingName="lamp", payload=json.dumps({"state": {"reported": {"n": i}}}))
    assert s.stop() == 0
    again = fresh_server(data_dir=s.data_dir).start()
    got = json.loads(again.client("iot-data").get_thing_shadow(thingName="lamp")["payload"].read())
    assert (got["version"], got["state"]["reported"]) == (3, {"n": 2})


def test_http_publish_to_the_update_topic_updates_the_shadow(server):
    data = server.client("iot-data")
    thing = thing_name()
    data.publish(topic=f"$aws/things/{thing}/shadow/update", qos=1,
                 payload=json.dumps({"state": {"reported": {"via": "publish"}}}))
    import time
    deadline = time.monotonic() + 5
    while True:
        try:
            got = json.loads(data.get_thing_shadow(thingName=thing)["payload"].read())
            break
        except ClientError:
            assert time.monotonic() < deadline, "the published update never reached the shadow"
            time.sleep(0.02)
    assert got["state"]["reported"] == {"via": "publish"}


def test_history_keeps_every_version_with_its_writer(server, device):
    import urllib.request

    thing = thing_name()
    data = server.client("iot-data")
    data.update_thing_shadow(thingName=thing, payload=json.dumps({"state": {"desired": {"color": "red"}}}))
    c = Client(server, client_id=f"writer-{uuid.uuid4().hex[:4]}", device=device)
    c.connect()
    c.subscribe(f"$aws/things/{thing}/shadow/update/accepted")
    c.publish(f"$aws/things/{thing}/shadow/update", json.dumps({"state": {"reported": {"color": "red"}}}))
    assert json.loads(c.recv().payload)["version"] == 2
    data.delete_thing_shadow(thingName=thing)
    data.update_thing_shadow(thingName=thing, payload=json.dumps({"state": {"reported": {"color": "blue"}}}))

    token = server.endpoints["console"].split("token=", 1)[1]

    def get(path):
        req = urllib.request.Request(server.api + path, headers={"x-thingbox-token": token})
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())

    changes = get(f"/console/api/shadows/{thing}/history")["changes"]
    assert [(x["version"], x["kind"]) for x in changes] == [(3, "update"), (2, "delete"), (2, "update"), (1, "update")]
    assert changes[2]["writer"] == c.client_id and changes[3]["writer"] == "api"
    assert changes[0]["document"]["state"] == {"reported": {"color": "blue"}}
    pair = get(f"/console/api/shadows/{thing}/versions/1/2")
    assert pair["from"]["document"]["state"] == {"desired": {"color": "red"}, "delta": {"color": "red"}}
    assert pair["to"]["document"]["state"] == {"desired": {"color": "red"}, "reported": {"color": "red"}}
    try:
        get(f"/console/api/shadows/{thing}/versions/1/99")
        raise AssertionError("a missing version must be a 404")
    except urllib.error.HTTPError as e:
        assert e.code == 404
    c.close()


def test_history_retention_setting(fresh_server):
    import urllib.request

    s = fresh_server("--shadow-history", "5").start()
    data = s.client("iot-data")
    for i in range(120):
        data.update_thing_shadow(thingName="kept", payload=json.dumps({"state": {"reported": {"n": i}}}))
    token = s.endpoints["console"].split("token=", 1)[1]
    with urllib.request.urlopen(s.api + f"/console/api/shadows/kept/history?limit=1000&token={token}") as r:
        versions = [c["version"] for c in json.loads(r.read())["changes"]]
    # Trimmed to the newest 5 at version 100, then 101…120 added.
    assert versions == list(range(120, 95, -1)), versions


def test_more_than_ten_in_flight_requests_get_429(server, device):
    thing = thing_name()
    p = f"$aws/things/{thing}/shadow"
    c = Client(server, device=device)
    c.connect()
    c.subscribe(f"{p}/update/rejected")
    c.subscribe(f"{p}/update/accepted")
    for i in range(200):
        c.c.publish(f"{p}/update", json.dumps({"state": {"reported": {"n": i}}, "clientToken": str(i)}), qos=0)
    codes = []
    for _ in range(200):
        m = c.recv(timeout=10)
        codes.append(json.loads(m.payload).get("code", 200))
    c.close()
    # 200 requests arrive within a millisecond or two, long before the first commit (an fsync)
    # returns: the first ten are taken, most of the rest are refused with 429.
    assert set(codes) <= {200, 429}
    assert codes.count(200) >= 10 and codes.count(429) > 0, {c: codes.count(c) for c in set(codes)}
