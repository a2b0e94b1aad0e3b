"""Devices connecting over mutual TLS and plain MQTT with real clients (paho-mqtt 3.1.1 and 5, the
AWS IoT Device SDK v2): routing, AWS's topic rules, retained messages, persistent sessions, wills,
takeover, lifecycle events, certificate status, limits and misbehaving sockets."""

import json
import queue
import socket
import ssl
import time
import uuid

import pytest

from conftest import wait_for
from mqtt_helpers import Client, Device, host_port, raw_connect


@pytest.fixture
def device(iot, tmp_path):
    return Device(iot, tmp_path)


def topic(prefix="t"):
    return f"{prefix}/{uuid.uuid4().hex[:8]}"


def test_tls_round_trip_qos0_and_qos1(server, device):
    sub = Client(server, device=device)
    sub.connect()
    t = topic()
    assert sub.subscribe(f"{t}/+", qos=1)[0].value == 1
    pub = Client(server, device=device)
    pub.connect()
    pub.publish(f"{t}/a", b"zero", qos=0)
    pub.publish(f"{t}/b", b"one", qos=1)
    got = {m.topic: (m.payload, m.qos) for m in (sub.recv(), sub.recv())}
    assert got == {f"{t}/a": (b"zero", 0), f"{t}/b": (b"one", 1)}
    pub.close()
    sub.close()


def test_delivered_qos_is_the_lower_of_publish_and_subscription(server, device):
    sub = Client(server, device=device)
    sub.connect()
    t = topic()
    sub.subscribe(t, qos=0)
    pub = Client(server, device=device)
    pub.connect()
    pub.publish(t, b"x", qos=1)
    assert sub.recv().qos == 0
    pub.close()
    sub.close()


def test_mqtt5_round_trip_with_properties(server, device):
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    sub = Client(server, device=device, v5=True)
    sub.connect()
    t = topic()
    sub.subscribe(t)
    pub = Client(server, device=device, v5=True)
    pub.connect()
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("k", "v")]
    props.ContentType = "application/json"
    props.ResponseTopic = "reply/here"
    pub.c.publish(t, b"{}", qos=1, properties=props).wait_for_publish(5)
    m = sub.recv()
    assert m.payload == b"{}"
    assert m.properties.UserProperty == [("k", "v")]
    assert m.properties.ContentType == "application/json"
    assert m.properties.ResponseTopic == "reply/here"
    pub.close()
    sub.close()


def test_wildcards_and_dollar_rules(server, device):
    root = f"w{uuid.uuid4().hex[:6]}"
    hash_all = Client(server, device=device)
    hash_all.connect()
    hash_all.subscribe("#")
    sub = Client(server, device=device)
    sub.connect()
    sub.subscribe(f"{root}/#")
    pub = Client(server, device=device)
    pub.connect()
    pub.publish(root, b"parent")  # AWS: a/# does not match a
    pub.publish(f"{root}/x/y", b"child")
    assert sub.recv().topic == f"{root}/x/y"
    sub.nothing()
    # '#' sees ordinary topics but never $aws topics (lifecycle events of these clients included).
    seen = set()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            seen.add(hash_all.recv(timeout=0.2).topic)
        except Exception:
            pass
    assert {root, f"{root}/x/y"} <= seen
    assert not any(s.startswith("$") for s in seen)
    for c in (hash_all, sub, pub):
        c.close()


def test_retained_messages(server, device):
    t = topic("ret")
    pub = Client(server, device=device)
    pub.connect()
    pub.publish(t, b"last-known", qos=1, retain=True)
    exact = Client(server, device=device)
    exact.connect()
    exact.subscribe(t)
    m = exact.recv()
    assert (m.payload, m.retain) == (b"last-known", True)
    wild = Client(server, device=device)
    wild.connect()
    wild.subscribe(t.split("/")[0] + "/+")
    wild.nothing()  # AWS sends retained messages only for exactly matching filters
    pub.publish(t, b"live", qos=1)
    m = exact.recv()
    assert (m.payload, m.retain) == (b"live", False)
    assert wild.recv().payload == b"live"
    # An empty retained publish deletes it (and is delivered as an empty message).
    pub.publish(t, b"", qos=1, retain=True)
    assert exact.recv().payload == b""
    late = Client(server, device=device)
    late.connect()
    late.subscribe(t)
    late.nothing()
    for c in (pub, exact, wild, late):
        c.close()


def test_persistent_session_gets_offline_qos1(server, device):
    cid = f"persist-{uuid.uuid4().hex[:6]}"
    t = topic()
    a = Client(server, client_id=cid, device=device, clean=False)
    assert a.connect().session_present is False
    a.subscribe(t, qos=1)
    a.close()
    pub = Client(server, device=device)
    pub.connect()
    pub.publish(t, b"while-away-1", qos=1)
    pub.publish(t, b"while-away-0", qos=0)  # QoS 0 is not stored for offline sessions
    pub.publish(t, b"while-away-2", qos=1)
    b = Client(server, client_id=cid, device=device, clean=False)
    assert b.connect().session_present is True
    assert [b.recv().payload, b.recv().payload] == [b"while-away-1", b"while-away-2"]
    b.nothing()
    b.close()
    # clean=True discards the session.
    c = Client(server, client_id=cid, device=device, clean=True)
    assert c.connect().session_present is False
    pub.publish(t, b"after-clean", qos=1)
    c.nothing()
    c.close()
    pub.close()


def test_last_will_on_abrupt_disconnect(server, device):
    t = topic("will")
    watcher = Client(server, device=device)
    watcher.connect()
    watcher.subscribe(t)
    dying = Client(server, device=device, will=(t, b"gone", 1, False))
    dying.connect()
    dying.c.socket().shutdown(socket.SHUT_RDWR)  # no DISCONNECT packet
    assert watcher.recv().payload == b"gone"
    polite = Client(server, device=device, will=(t, b"should-not-see", 1, False))
    polite.connect()
    polite.close()
    watcher.nothing()
    watcher.close()


def test_takeover_and_lifecycle_events(server, device):
    cid = f"dup-{uuid.uuid4().hex[:6]}"
    events = Client(server, device=device)
    events.connect()
    events.subscribe("$aws/events/presence/+/" + cid)
    events.subscribe("$aws/events/subscriptions/+/" + cid)
    first = Client(server, client_id=cid, device=device)
    first.connect()
    e = json.loads(events.recv().payload)
    assert e["eventType"] == "connected" and e["clientId"] == cid
    assert e["principalIdentifier"] == device.id and e["ipAddress"] == "127.0.0.1"
    assert isinstance(e["timestamp"], int) and e["sessionIdentifier"] and "versionNumber" in e
    first.subscribe("a/b")
    e = json.loads(events.recv().payload)
    assert (e["eventType"], e["topics"]) == ("subscribed", ["a/b"])
    second = Client(server, client_id=cid, device=device)
    second.connect()
    first.disconnected()
    got = [json.loads(events.recv().payload) for _ in range(2)]
    disc = next(x for x in got if x["eventType"] == "disconnected")
    assert disc["disconnectReason"] == "DUPLICATE_CLIENTID" and disc["clientInitiatedDisconnect"] is False
    assert any(x["eventType"] == "connected" for x in got)
    second.close()
    e = json.loads(events.recv().payload)
    assert (e["eventType"], e["disconnectReason"], e["clientInitiatedDisconnect"]) == (
        "disconnected", "CLIENT_INITIATED_DISCONNECT", True)
    events.close()


def tls_handshake_fails(server, device):
    ctx = ssl.create_default_context(cafile=server.endpoints["root_ca"])
    ctx.load_cert_chain(device.cert, device.key)
    host, port = host_port(server.endpoints["mqtt_tls"])
    with socket.create_connection((host, port), timeout=5) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                # TLS 1.3 reports a refused client certificate on the first read.
                tls.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x1e\x00\x00")
                return tls.recv(4) == b""
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            return True


def test_inactive_revoked_and_unregistered_certificates_are_refused(server, iot, tmp_path):
    inactive = Device(iot, tmp_path, active=False)
    assert tls_handshake_fails(server, inactive)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError, queue.Empty)):
        c = Client(server, device=inactive)
        c.connect(timeout=3)
    c.c.loop_stop()
    revoked = Device(iot, tmp_path)
    iot.update_certificate(certificateId=revoked.id, newStatus="REVOKED")
    assert tls_handshake_fails(server, revoked)
    # A certificate from another CA (here: a self-signed one) is refused too.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import datetime
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stranger")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    stranger = type("D", (), {})()
    stranger.cert, stranger.key = tmp_path / "s.crt", tmp_path / "s.key"
    stranger.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    stranger.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    assert tls_handshake_fails(server, stranger)


def test_deactivating_a_certificate_disconnects_it_within_a_second(server, iot, device):
    c = Client(server, device=device)
    c.connect()
    t0 = time.monotonic()
    iot.update_certificate(certificateId=device.id, newStatus="INACTIVE")
    c.disconnected(timeout=1)
    assert time.monotonic() - t0 < 1.0
    assert tls_handshake_fails(server, device)


def test_plain_listener(server):
    sub = Client(server)
    sub.connect()
    t = topic("plain")
    sub.subscribe(t)
    pub = Client(server, v5=True)
    pub.connect()
    pub.publish(t, b"no tls")
    assert sub.recv().payload == b"no tls"
    sub.close()
    pub.close()


def test_payload_over_128kb_disconnects(server, device):
    c = Client(server, device=device)
    c.connect()
    c.c.publish(topic(), b"x" * (128 * 1024 + 1), qos=0)
    c.disconnected()
    ok = Client(server, device=device)
    ok.connect()
    ok.publish(topic(), b"x" * (128 * 1024), qos=1)
    ok.close()


def test_reserved_topics_cannot_be_published(server, device):
    c = Client(server, device=device)
    c.connect()
    c.c.publish("$aws/events/presence/connected/fake", b"{}", qos=0)
    c.disconnected()


def test_malformed_packets_close_only_that_connection(server, device):
    good = Client(server, device=device)
    good.connect()
    t = topic()
    good.subscribe(t)
    host, port = host_port(server.endpoints["mqtt"])
    for junk in [b"\xff\xff\xff\xff\xff", b"GET / HTTP/1.1\r\n\r\n", b"\x10\x0c\x00\x04MQTT\x07\x02\x00\x1e\x00\x00"]:
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(junk)
            s.settimeout(5)
            try:
                data = s.recv(16)
            except ConnectionResetError:
                data = b""
            assert data in (b"", b"\x20\x02\x00\x01"), data  # closed (or CONNACK 'unacceptable protocol')
    good.publish(t, b"still fine")
    assert good.recv().payload == b"still fine"
    good.close()


def test_silent_sockets_do_not_block_new_clients(server, device):
    host, port = host_port(server.endpoints["mqtt_tls"])
    idle = [socket.create_connection((host, port)) for _ in range(20)]  # never handshake
    try:
        t0 = time.monotonic()
        c = Client(server, device=device)
        c.connect()
        assert time.monotonic() - t0 < 2
        c.close()
    finally:
        for s in idle:
            s.close()


def test_aws_iot_device_sdk_v2(server, device, iot):
    from awscrt import mqtt as crt_mqtt
    from awsiot import mqtt_connection_builder

    host, port = host_port(server.endpoints["mqtt_tls"])
    cid = f"sdk-{uuid.uuid4().hex[:6]}"
    conn = mqtt_connection_builder.mtls_from_path(
        endpoint="localhost", port=port, cert_filepath=str(device.cert), pri_key_filepath=str(device.key),
        ca_filepath=server.endpoints["root_ca"], client_id=cid, clean_session=False, keep_alive_secs=30,
    )
    result = conn.connect().result(10)
    assert result["session_present"] is False
    got = []
    t = topic("sdk")
    fut, _ = conn.subscribe(topic=t, qos=crt_mqtt.QoS.AT_LEAST_ONCE,
                            callback=lambda topic, payload, **kw: got.append((topic, payload)))
    assert fut.result(10)["qos"] == crt_mqtt.QoS.AT_LEAST_ONCE
    pub_fut, _ = conn.publish(topic=t, payload=json.dumps({"hello": "thingbox"}), qos=crt_mqtt.QoS.AT_LEAST_ONCE)
    pub_fut.result(10)
    wait_for(lambda: got, timeout=5, what="the SDK to receive its own message")
    assert got[0] == (t, b'{"hello": "thingbox"}')
    conn.disconnect().result(10)


def test_aws_iot_device_sdk_v2_mqtt5(server, device):
    from concurrent.futures import Future

    from awscrt import mqtt5
    from awsiot import mqtt5_client_builder

    host, port = host_port(server.endpoints["mqtt_tls"])
    received, connected = Future(), Future()
    client = mqtt5_client_builder.mtls_from_path(
        endpoint="localhost", port=port, cert_filepath=str(device.cert), pri_key_filepath=str(device.key),
        ca_filepath=server.endpoints["root_ca"], client_id=f"sdk5-{uuid.uuid4().hex[:6]}",
        on_publish_received=lambda data: received.done() or received.set_result(data.publish_packet),
        on_lifecycle_connection_success=lambda data: connected.set_result(True),
    )
    client.start()
    connected.result(10)
    t = topic("sdk5")
    sub = client.subscribe(mqtt5.SubscribePacket(subscriptions=[mqtt5.Subscription(topic_filter=t, qos=mqtt5.QoS.AT_LEAST_ONCE)]))
    assert sub.result(10).reason_codes[0] == mqtt5.SubackReasonCode.GRANTED_QOS_1
    client.publish(mqtt5.PublishPacket(topic=t, payload=b"five", qos=mqtt5.QoS.AT_LEAST_ONCE,
                                       user_properties=[mqtt5.UserProperty("a", "b")])).result(10)
    p = received.result(10)
    assert p.payload == b"five" and [(u.name, u.value) for u in p.user_properties] == [("a", "b")]
    client.stop()


def test_http_publish_and_retained_api(server, device):
    data = server.client("iot-data")
    sub = Client(server, device=device, v5=True)
    sub.connect()
    t = topic("http")
    sub.subscribe(t)
    r = data.publish(topic=t, qos=1, payload=b'{"from": "http"}', contentType="application/json",
                     userProperties=json.dumps([{"source": "boto3"}]))
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    m = sub.recv()
    assert m.payload == b'{"from": "http"}' and m.qos == 1
    assert m.properties.ContentType == "application/json"
    assert m.properties.UserProperty == [("source", "boto3")]

    data.publish(topic=t, qos=0, retain=True, payload=b"kept")
    assert sub.recv().payload == b"kept"
    listed = data.list_retained_messages()["retainedTopics"]
    entry = next(x for x in listed if x["topic"] == t)
    assert (entry["payloadSize"], entry["qos"]) == (4, 0) and entry["lastModifiedTime"] > 0
    got = data.get_retained_message(topic=t)
    assert (got["topic"], got["payload"], got["qos"]) == (t, b"kept", 0)
    data.publish(topic=t, retain=True, payload=b"")
    assert sub.recv().payload == b""  # subscribers still receive the deleting publish
    with pytest.raises(data.exceptions.ResourceNotFoundException):
        data.get_retained_message(topic=t)

    with pytest.raises(data.exceptions.InvalidRequestException):
        data.publish(topic="bad/+/topic", payload=b"x")
    with pytest.raises(data.exceptions.InvalidRequestException):
        data.publish(topic=t, qos=2, payload=b"x")
    with pytest.raises(data.exceptions.RequestEntityTooLargeException):
        data.publish(topic=t, payload=b"x" * (128 * 1024 + 1))
    sub.nothing()
    sub.close()


def test_mqtt_over_websocket(server, device):
    import paho.mqtt.client as mqtt
    import urllib.error
    import urllib.request

    host, port = host_port(server.endpoints["api"].removeprefix("http://"))
    # As on AWS, an unsigned WebSocket URL is refused before the upgrade.
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "mqtt"}
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(f"http://{host}:{port}/mqtt", headers=upgrade), timeout=5)
    assert refused.value.code == 403
    assert refused.value.headers["x-amzn-ErrorType"] == "ForbiddenException"
    assert "SigV4-signed URL" in json.loads(refused.value.read())["message"]
    got = queue.Queue()
    ws = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"ws-{uuid.uuid4().hex[:6]}", transport="websockets")
    ws.ws_set_options(path="/mqtt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDWS%2F20261123%2Fus-east-1%2Fiotdevicegateway%2Faws4_request&X-Amz-Date=20261123T000000Z&X-Amz-Signature=x")
    connected = queue.Queue()
    ws.on_connect = lambda c, u, f, rc, p=None: connected.put(rc)
    ws.on_message = lambda c, u, m: got.put(m)
    ws.connect(host, port)
    ws.loop_start()
    assert connected.get(timeout=5) == 0
    t = topic("ws")
    done = queue.Queue()
    ws.on_subscribe = lambda c, u, mid, codes, p=None: done.put(codes)
    ws.subscribe(t, 1)
    done.get(timeout=5)
    tls = Client(server, device=device)
    tls.connect()
    tls.publish(t, b"over tls, to a websocket")
    assert got.get(timeout=5).payload == b"over tls, to a websocket"
    tls.subscribe(t + "/back")
    ws.publish(t + "/back", b"from ws 2", qos=1).wait_for_publish(5)
    assert tls.recv().payload == b"from ws 2"
    ws.disconnect()
    ws.loop_stop()
    tls.close()


def test_mqtt5_session_expiry_and_topic_alias(server, device):
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    cid = f"v5s-{uuid.uuid4().hex[:6]}"
    t = topic("v5s")
    a = Client(server, client_id=cid, device=device, v5=True, clean=False, session_expiry=300)
    assert a.connect().session_present is False
    a.subscribe(t)
    a.close()
    pub = Client(server, device=device, v5=True)
    pub.connect()
    # Topic alias 1 stands for t from the second publish on.
    props = Properties(PacketTypes.PUBLISH)
    props.TopicAlias = 1
    pub.c.publish(t, b"first", qos=1, properties=props).wait_for_publish(5)
    pub.c.publish("", b"second", qos=1, properties=props).wait_for_publish(5)
    b = Client(server, client_id=cid, device=device, v5=True, clean=False, session_expiry=300)
    assert b.connect().session_present is True
    assert [b.recv().payload, b.recv().payload] == [b"first", b"second"]
    b.close()
    # An alias over the limit of 8 is a protocol error.
    bad = Properties(PacketTypes.PUBLISH)
    bad.TopicAlias = 9
    pub.c.publish(t, b"x", qos=0, properties=bad)
    pub.disconnected()


def test_qos1_deliveries_wait_for_the_receive_maximum_window(server):
    """MQTT 5 flow control: a subscriber with Receive Maximum 2 has at most 2 unacknowledged QoS 1
    deliveries; each PUBACK lets the next queued one go, in order, and none is lost."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    import paho.mqtt.client as mqtt
    got = queue.Queue()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"flow-{uuid.uuid4().hex[:6]}",
                      protocol=mqtt.MQTTv5, manual_ack=True)
    sub.on_message = lambda c, u, m: got.put(m)
    acked = queue.Queue()
    sub.on_connect = lambda c, u, flags, rc, props=None: acked.put(rc)
    subscribed = queue.Queue()
    sub.on_subscribe = lambda c, u, mid, codes, props=None: subscribed.put(codes)
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = 2
    host, port = host_port(server.endpoints["mqtt"])
    sub.connect(host, port, clean_start=True, properties=props)
    sub.loop_start()
    try:
        assert acked.get(timeout=10) == 0
        t = topic("flow")
        sub.subscribe(t, qos=1)
        subscribed.get(timeout=10)
        pub = Client(server)
        pub.connect()
        for i in range(5):
            pub.publish(t, f"m{i}", qos=1)
        first = [got.get(timeout=5), got.get(timeout=5)]
        assert [m.payload for m in first] == [b"m0", b"m1"]
        with pytest.raises(queue.Empty):
            got.get(timeout=0.5)  # the window is full: the third waits for an ack
        sub.ack(first[0].mid, 1)
        third = got.get(timeout=5)
        assert third.payload == b"m2"
        with pytest.raises(queue.Empty):
            got.get(timeout=0.5)
        for m in [first[1], third]:
            sub.ack(m.mid, 1)
        rest = [got.get(timeout=5), got.get(timeout=5)]
        assert [m.payload for m in rest] == [b"m3", b"m4"]
        for m in rest:
            sub.ack(m.mid, 1)
        pub.close()
    finally:
        sub.disconnect()
        sub.loop_stop()


def test_a_client_that_stops_reading_does_not_hold_up_the_shutdown(fresh_server):
    """Its connection's writer is stuck in a write to a full socket; the engine still stops within
    the accept loops' deadline (it used to wait for that write forever)."""
    s = fresh_server().start()
    stuck = raw_connect(s, "stuck", "flood/#")
    pub = Client(s)
    pub.connect()
    # More than the socket buffers hold: the writer blocks.
    for i in range(300):
        pub.publish(f"flood/{i}", b"x" * 100_000, qos=1)
    pub.close()
    started = time.monotonic()
    assert s.stop(timeout=30) == 0
    assert time.monotonic() - started < 10
    stuck.close()
