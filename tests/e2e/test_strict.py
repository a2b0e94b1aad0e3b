"""Strict-AWS mode through real clients: with `--strict` (or the console's switch) Thingbox refuses
what AWS's quotas refuse — a burst of publishes on one connection (MQTT 5: PUBACK 0x97 Quota
exceeded; MQTT 3.1.1: dropped), a second CONNECT within a second for a client id (CONNACK 0x9F), more than 200 topic filters a
second (SUBACK 0x97),
a burst of shadow requests for one thing (ThrottlingException), deleting a thing type within 5
minutes of deprecating it (InvalidRequestException), a job rolling out faster than AWS's 1,000
executions a minute (paced) — and lenient, the default, lets them through
and reports "this would be throttled on AWS" with the quota's name."""

import queue
import uuid
from concurrent.futures import ThreadPoolExecutor

import paho.mqtt.client as mqtt
import pytest
from botocore.exceptions import ClientError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from conftest import wait_for
from mqtt_helpers import Client, host_port
from test_viewer import call


def v5_client(server, client_id=None):
    acks, connacks = queue.Queue(), queue.Queue()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"s-{uuid.uuid4().hex[:8]}",
                    protocol=mqtt.MQTTv5)
    c.on_publish = lambda cl, u, mid, rc, props: acks.put(rc.value)
    c.on_connect = lambda cl, u, flags, rc, props: connacks.put(rc.value)
    host, port = host_port(server.endpoints["mqtt"])
    c.connect(host, port, clean_start=True, properties=Properties(PacketTypes.CONNECT))
    c.loop_start()
    return c, acks, connacks


def burst(server, n=250):
    """`n` QoS 1 publishes as fast as paho sends them; the PUBACK reason codes."""
    c, acks, connacks = v5_client(server)
    assert connacks.get(timeout=10) == 0
    for i in range(n):
        c.publish("strict/burst", b"x", qos=1)
    codes = [acks.get(timeout=10) for _ in range(n)]
    c.disconnect()
    c.loop_stop()
    return codes


def quotas(server):
    status, _, body = call(server, "/console/api/quotas")
    assert status == 200, body
    return body


def shadow_burst(server, thing, n=80):
    """`n` UpdateThingShadow calls from 8 threads at once; the refusals."""
    data = server.client("iot-data")

    def one(i):
        try:
            data.update_thing_shadow(thingName=thing, payload=b'{"state":{"reported":{"n":%d}}}' % i)
            return None
        except ClientError as e:
            return (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"],
                    e.response["Error"]["Message"])

    with ThreadPoolExecutor(8) as pool:
        return [r for r in pool.map(one, range(n)) if r]


def test_strict_mode_refuses_what_aws_would(fresh_server):
    s = fresh_server("--strict").start()
    codes = burst(s)
    refused = [c for c in codes if c == 0x97]
    assert refused, "some publishes over 100 a second are refused with 0x97 Quota exceeded"
    assert codes.count(0) <= 200, "at most 100 a second get through (the burst spans at most two seconds)"

    # MQTT 3.1.1 has no way to say it: the excess is dropped, the connection stays.
    sub = Client(s)
    sub.connect()
    sub.subscribe("strict/#", qos=0)
    pub = Client(s)
    pub.connect()
    for i in range(250):
        pub.c.publish("strict/v4", b"y", qos=0)
    # Its QoS 1 PUBACK comes after all 250 were handled; a marker from another connection then
    # reaches the subscriber after every delivery queued before it.
    pub.publish("strict/v4", b"last", qos=1)
    marker = Client(s)
    marker.connect()
    marker.publish("strict/marker", b"", qos=1)
    got = []
    while (m := sub.recv()).topic != "strict/marker":
        got.append(m)
    assert 100 <= len(got) <= 200, len(got)
    for c in (pub, sub, marker):
        c.close()

    # Subscriptions: 200 topic filters a second per account; a SUBSCRIBE over it is refused whole.
    c, _, connacks = v5_client(s)
    assert connacks.get(timeout=10) == 0
    subacks = queue.Queue()
    c.on_subscribe = lambda cl, u, mid, codes, props: subacks.put([rc.value for rc in codes])
    filters = [(f"strict/sub/{i}", SubscribeOptions(qos=0)) for i in range(8)]
    for _ in range(60):  # 480 filters: over 200 a second even if it takes two seconds
        c.subscribe(filters)
    results = [subacks.get(timeout=10) for _ in range(60)]
    assert any(r == [0x97] * 8 for r in results), results
    assert all(r in ([0] * 8, [0x97] * 8) for r in results)
    c.disconnect()
    c.loop_stop()

    # A second CONNECT within a second for the same client id: 0x9F Connection rate exceeded.
    cid = f"fast-{uuid.uuid4().hex[:6]}"
    first, _, c1 = v5_client(s, cid)
    assert c1.get(timeout=10) == 0
    first.disconnect()
    first.loop_stop()
    second, _, c2 = v5_client(s, cid)
    assert c2.get(timeout=10) == 0x9F
    second.loop_stop()

    # Shadow requests: 20 a second per thing, then ThrottlingException (429).
    thing = f"busy-{uuid.uuid4().hex[:6]}"
    s.client().create_thing(thingName=thing)
    throttled = shadow_burst(s, thing)
    assert throttled and all(code == "ThrottlingException" and status == 429 for code, status, _ in throttled)
    assert "20 Device Shadow requests a second" in throttled[0][2]

    # Thing types: deleted only 5 minutes after deprecation.
    iot = s.client()
    iot.create_thing_type(thingTypeName="short-lived")
    iot.deprecate_thing_type(thingTypeName="short-lived")
    with pytest.raises(ClientError) as e:
        iot.delete_thing_type(thingTypeName="short-lived")
    err = e.value.response["Error"]
    assert err["Code"] == "InvalidRequestException" and "deprecated less than 5 minutes ago" in err["Message"]
    assert iot.describe_thing_type(thingTypeName="short-lived")["thingTypeName"] == "short-lived"

    q = quotas(s)
    assert q["strict"]
    exceeded = {x["quota"]: x["exceeded"] for x in q["quotas"]}
    assert exceeded["publishRate"] >= len(refused) and exceeded["connectRate"] == 1
    # (boto3 retries a ThrottlingException once, so AWS-side there were more refusals than errors)
    assert exceeded["shadowRate"] >= len(throttled) and exceeded["thingTypeDeletionWait"] == 1
    assert all(n["refused"] for n in q["notices"])
    assert any(n["text"].startswith("refused as on AWS: Publish requests per second per connection") for n in q["notices"])


def test_lenient_mode_lets_it_through_and_says_what_aws_would_do(fresh_server):
    s = fresh_server().start()
    codes = burst(s)
    assert set(codes) == {0}, "lenient: every publish is accepted"
    iot = s.client()
    iot.create_thing_type(thingTypeName="short-lived")
    iot.deprecate_thing_type(thingTypeName="short-lived")
    iot.delete_thing_type(thingTypeName="short-lived")
    q = quotas(s)
    assert not q["strict"]
    texts = [n["text"] for n in q["notices"]]
    assert any(t.startswith("this would be throttled on AWS: Publish requests per second per connection (100 publishes a second)")
               for t in texts), texts
    assert any("Thing type deletion after deprecation" in t and "short-lived" in t for t in texts), texts
    assert not any(n["refused"] for n in q["notices"])

    # The console's switch turns strict mode on and off without a restart.
    status, _, body = call(s, "/console/api/quotas", "PUT", {"strict": True})
    assert status == 200 and body["strict"]
    iot.create_thing_type(thingTypeName="again")
    iot.deprecate_thing_type(thingTypeName="again")
    with pytest.raises(ClientError):
        iot.delete_thing_type(thingTypeName="again")
    assert call(s, "/console/api/quotas", "PUT", {"strict": False})[2]["strict"] is False
    iot.delete_thing_type(thingTypeName="again")
    status, headers, body = call(s, "/console/api/quotas", "PUT", {"strict": "yes"})
    assert status == 400 and headers["x-amzn-ErrorType"].startswith("InvalidRequestException")


def queued(iot, job):
    return iot.describe_job(jobId=job)["job"]["jobProcessDetails"]["numberOfQueuedThings"]


def test_job_rollouts_go_at_aws_pace(fresh_server):
    """AWS rolls a job out at 1,000 executions a minute: lenient, a 1,001-thing job is queued at
    once and reported; strict, it is paced at that rate (the console shows the rate) until strict
    mode is switched off."""
    s = fresh_server().start()
    iot = s.client()
    iot.create_thing_group(thingGroupName="fleet")

    def enrol(i):
        iot.create_thing(thingName=f"dev-{i}")
        iot.add_thing_to_thing_group(thingGroupName="fleet", thingName=f"dev-{i}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(enrol, range(1001)))
    group = iot.describe_thing_group(thingGroupName="fleet")["thingGroupArn"]

    iot.create_job(jobId="wide", targets=[group], document='{"op":"reboot"}')
    assert queued(iot, "wide") == 1001, "lenient: every execution at once"
    notices = [n for n in quotas(s)["notices"] if n["quota"] == "jobRolloutRate"]
    assert [n["text"] for n in notices] == [
        "this would be throttled on AWS: Job executions rolled out per minute (1,000 executions a minute per job) — wide"]

    assert call(s, "/console/api/quotas", "PUT", {"strict": True})[2]["strict"]
    iot.create_job(jobId="paced", targets=[group], document='{"op":"reboot"}')
    first = queued(iot, "paced")
    assert 1 <= first < 100, f"strict: paced from the first execution, {first} queued at once"
    status, _, detail = call(s, "/console/api/jobs/paced")
    job = detail["job"]
    assert status == 200 and job["ratePerMinute"] == 1000.0 and job["waiting"] > 900, job
    wait_for(lambda: queued(iot, "paced") >= first + 10, what="the paced rollout to go on")
    q = quotas(s)
    paced = [n for n in q["notices"] if n["quota"] == "jobRolloutRate" and n["refused"]]
    assert paced and paced[0]["text"].startswith("paced as on AWS: Job executions rolled out per minute")
    assert paced[0]["key"] == "paced"
    assert {x["quota"]: x["exceeded"] for x in q["quotas"]}["jobRolloutRate"] >= 2

    assert not call(s, "/console/api/quotas", "PUT", {"strict": False})[2]["strict"]
    wait_for(lambda: queued(iot, "paced") == 1001, what="the rest of the rollout once strict mode is off")
