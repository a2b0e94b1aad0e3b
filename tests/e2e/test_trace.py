"""The message-flow tracer through real clients: paho devices over mutual TLS and the plain
listener, boto3's iot-data, topic rules made with boto3 — one test per outcome a trace explains
(sent and acknowledged, iot:Receive denied, queue full, queued for an offline persistent session,
WHERE false, a failed action and its errorAction, a shadow 409, publish denied, a job request), the
search, armed sessions, "why not", and the API's refusals."""

import json
import time
import urllib.parse
import uuid

import pytest

from conftest import wait_for
from mqtt_helpers import Client, Device, raw_connect
from test_rules import Recorder, republish, rule, uniq
from test_viewer import call

ACCT = "arn:aws:iot:us-east-1:000000000000"


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def arm(server, **req):
    status, _, body = call(server, "/console/api/traces/arm", "POST", req)
    assert status == 200, body
    return body


def traces(server, **q):
    status, _, body = call(server, "/console/api/traces?" + urllib.parse.urlencode(q))
    assert status == 200, body
    return body


def trace(server, tid):
    status, _, body = call(server, f"/console/api/traces/{tid}")
    assert status == 200, body
    return body


def steps(t, kind):
    return [s for s in t["steps"] if s["kind"] == kind]


def traced(server, what="trace", **q):
    """Waits for the newest trace matching `q` and returns it whole."""
    found = wait_for(lambda: traces(server, **q)["traces"], what=what)
    return trace(server, found[0]["id"])


def settled(server, tid, cond, what):
    """Waits until trace `tid` satisfies `cond` (steps are added as the message moves)."""
    def ready():
        t = trace(server, tid)
        return t if cond(t) else None

    return wait_for(ready, what=what)


def device(iot, tmp_path, name, statements):
    """A thing with a certificate and a policy of `statements` attached."""
    policy = f"tp-{uuid.uuid4().hex[:8]}"
    iot.create_policy(policyName=policy, policyDocument=doc(*statements))
    iot.create_thing(thingName=name)
    d = Device(iot, tmp_path, policy=policy)
    iot.attach_thing_principal(thingName=name, principal=d.arn)
    return d, policy


def test_a_delivered_message_shows_identity_policy_subscriber_send_and_ack(server, iot, tmp_path):
    lamp = f"lamp-{uuid.uuid4().hex[:6]}"
    d, policy = device(iot, tmp_path, lamp, [
        {"Sid": "ConnectAsThing", "Effect": "Allow", "Action": "iot:Connect", "Resource": f"{ACCT}:client/${{iot:ClientId}}"},
        {"Sid": "OwnTopics", "Effect": "Allow", "Action": "iot:Publish",
         "Resource": f"{ACCT}:topic/lamps/${{iot:Connection.Thing.ThingName}}/*"},
    ])
    viewer = Client(server)
    viewer.connect()
    viewer.subscribe("lamps/+/state", qos=1)
    pub = Client(server, client_id=lamp, device=d)
    pub.connect()
    armed = arm(server, clientId=lamp, minutes=5)
    pub.publish(f"lamps/{lamp}/state", b'{"on": true}', qos=1)
    assert viewer.recv().payload == b'{"on": true}'
    t = traced(server, client=lamp, what="the lamp's trace")
    t = settled(server, t["id"], lambda t: steps(t, "acknowledged"), "the subscriber's PUBACK")

    assert t["armed"] and t["topic"] == f"lamps/{lamp}/state" and t["clientId"] == lamp and t["qos"] == 1
    assert json.loads(t["payload"]["text"]) == {"on": True}
    (who,) = steps(t, "published")
    assert who["identity"] == "certificate" and who["principal"] == d.id
    assert who["things"] == [lamp] and who["protocol"] == "MQTT 3.1.1 on the mutual-TLS MQTT port" and who["peer"].startswith("127.0.0.1:")
    (pol,) = steps(t, "policy")
    assert pol["action"] == "iot:Publish" and pol["explanation"]["decision"] == "ALLOWED"
    assert pol["explanation"]["allowedBy"] == [{"policy": policy, "version": "1", "index": 1, "sid": "OwnTopics"}]
    assert {"variable": "iot:Connection.Thing.ThingName", "value": lamp} in pol["explanation"]["bindings"]
    subs = [s for s in steps(t, "subscriber") if s["clientId"] == viewer.client_id]
    assert subs == [{"kind": "subscriber", "at": subs[0]["at"], "clientId": viewer.client_id,
                     "filters": ["lamps/+/state"], "qos": 1, "outcome": "queued"}]
    (sent,) = steps(t, "delivered")
    assert sent["clientId"] == viewer.client_id and sent["qos"] == 1 and sent["packetId"] >= 1
    (ack,) = steps(t, "acknowledged")
    assert ack["packetId"] == sent["packetId"]
    kinds = [s["kind"] for s in t["steps"]]
    assert kinds.index("published") < kinds.index("policy") < kinds.index("subscriber") < kinds.index("delivered") < kinds.index("acknowledged")
    assert t["outcome"] == "sent to 1" and not t["problem"]

    # The topic viewer's number leads to the same trace.
    t = wait_for(lambda: (x := trace(server, t["id"])).get("messageId") and x, what="the viewer's number")
    status, _, by_msg = call(server, f"/console/api/traces/by-message/{t['messageId']}")
    assert status == 200 and by_msg["id"] == t["id"]
    # The armed session counts what it traced, and ends when disarmed.
    listed = traces(server)
    assert any(a["id"] == armed["id"] and a["traced"] >= 1 for a in listed["armed"])
    assert call(server, f"/console/api/traces/arm/{armed['id']}", "DELETE")[0] == 200
    assert all(a["id"] != armed["id"] for a in traces(server)["armed"])
    pub.close()
    viewer.close()


def test_receive_denied_names_the_deny_statement(server, iot, tmp_path):
    name = f"spy-{uuid.uuid4().hex[:6]}"
    d, policy = device(iot, tmp_path, name, [
        {"Effect": "Allow", "Action": ["iot:Connect", "iot:Subscribe"], "Resource": "*"},
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": f"{ACCT}:topic/vault/*"},
        {"Sid": "NotTheKeys", "Effect": "Deny", "Action": "iot:Receive", "Resource": f"{ACCT}:topic/vault/keys"},
    ])
    spy = Client(server, client_id=name, device=d)
    spy.connect()
    spy.subscribe("vault/#", qos=1)
    pub = Client(server)
    pub.connect()
    arm(server, topic="vault/#")
    pub.publish("vault/keys", b"secret", qos=1)
    pub.publish("vault/coins", b"fine", qos=1)
    assert spy.recv().payload == b"fine"
    spy.nothing(0.2)
    t = traced(server, topic="vault/keys", what="the vault/keys trace")
    t = settled(server, t["id"], lambda t: any(s.get("subscriber") == name for s in steps(t, "policy")),
                "the receive decision")
    (denied,) = [s for s in steps(t, "policy") if s.get("subscriber") == name]
    assert denied["action"] == "iot:Receive"
    e = denied["explanation"]
    assert e["decision"] == "EXPLICIT_DENY" and e["resource"] == f"{ACCT}:topic/vault/keys"
    assert e["deniedBy"] == [{"policy": policy, "version": "1", "index": 2, "sid": "NotTheKeys"}]
    assert not [s for s in steps(t, "delivered") if s["clientId"] == name]
    assert "receive denied for 1" in t["outcome"] and t["problem"]
    # "Why not" gives the same answer from the policies, before anything is published.
    status, _, w = call(server, f"/console/api/traces/why-not?client={name}&topic=vault/keys")
    assert status == 200 and not w["wouldReceive"]
    (p,) = [f for f in w["findings"] if f["check"] == "policy"]
    assert not p["ok"] and f"{policy} v1 statement 3 (NotTheKeys)" in p["detail"]
    assert p["explanation"]["deniedBy"][0]["sid"] == "NotTheKeys"
    assert w["lastMessage"]["trace"] == t["id"] and "iot:Receive EXPLICIT_DENY" in w["lastMessage"]["forClient"]
    pub.close()
    spy.close()


def test_a_full_session_queue_is_shown_as_a_drop(server):
    stuck_id = f"stuck-{uuid.uuid4().hex[:6]}"
    stuck = raw_connect(server, stuck_id, "flood/#")
    pub = Client(server)
    pub.connect()
    try:
        flood(server, stuck_id, pub)
    finally:
        stuck.close()
        pub.close()


def flood(server, stuck_id, pub):
    wait_for(lambda: call(server, f"/console/api/traces/why-not?client={stuck_id}&topic=flood/x")[2]["wouldReceive"],
             what="the raw client's subscription")
    arm(server, topic="flood/#")
    payload = b"x" * 100_000
    # 100 deliveries in flight, then 16 MB of queue: the rest is dropped for that session alone.
    for i in range(300):
        pub.publish(f"flood/{i}", payload, qos=1)
    t = traced(server, topic="flood/299", what="the last flood message")
    t = settled(server, t["id"], lambda t: [s for s in steps(t, "subscriber") if s["clientId"] == stuck_id],
                "the stuck subscriber's step")
    (sub,) = [s for s in steps(t, "subscriber") if s["clientId"] == stuck_id]
    assert sub["outcome"] == "droppedQueueFull" and t["problem"] and "dropped for 1" in t["outcome"]
    first = traced(server, topic="flood/0", what="the first flood message")
    first = settled(server, first["id"], lambda t: steps(t, "delivered"), "the first send")
    assert steps(first, "delivered")[0]["clientId"] == stuck_id
    status, _, w = call(server, f"/console/api/traces/why-not?client={stuck_id}&topic=flood/299")
    assert any(f["check"] == "queue" and not f["ok"] for f in w["findings"])
    assert "queue was full" in w["lastMessage"]["forClient"]


def test_a_message_for_an_offline_persistent_session_is_queued_then_sent(server):
    cid = f"sleepy-{uuid.uuid4().hex[:6]}"
    sleepy = Client(server, client_id=cid, clean=False)
    sleepy.connect()
    sleepy.subscribe("nap/+", qos=1)
    sleepy.close()
    wait_for(lambda: "offline" in call(server, f"/console/api/traces/why-not?client={cid}&topic=nap/a")[2]["findings"][0]["detail"],
             what="the session to go offline")
    data = server.client("iot-data")
    arm(server, topic="nap/+")
    data.publish(topic="nap/a", qos=1, payload=b"wake up")
    t = traced(server, topic="nap/a", what="the nap trace")
    (who,) = steps(t, "published")
    assert who["identity"] == "iot-data Publish (HTTP)" and who["protocol"] == "HTTP"
    (sub,) = [s for s in steps(t, "subscriber") if s["clientId"] == cid]
    assert sub["outcome"] == "queuedOffline" and "queued offline for 1" in t["outcome"]
    again = Client(server, client_id=cid, clean=False)
    again.connect()
    assert again.recv().payload == b"wake up"
    t = settled(server, t["id"], lambda t: steps(t, "acknowledged"), "the send after reconnecting")
    (sent,) = steps(t, "delivered")
    assert sent["clientId"] == cid and sent["qos"] == 1
    again.close()


def test_rules_where_false_and_a_failed_action_with_its_error_action(server, iot):
    data = server.client("iot-data")
    hot = rule(iot, uniq("hot"), "SELECT temp FROM 'oven/+' WHERE temp > 50", [republish("oven/alarm")])
    failing = Recorder(503)
    hook = rule(iot, uniq("hook"), "SELECT *, topic(2) AS oven FROM 'oven/+'",
                [{"http": {"url": failing.url + "/down"}}], error_action=republish("oven/errors"))
    arm(server, topic="oven/+")
    data.publish(topic="oven/1", payload=b'{"temp": 10}')
    t = traced(server, topic="oven/1", what="the oven trace")
    t = settled(server, t["id"], lambda t: steps(t, "ruleActions"), "the http action's result")
    rules = {s["rule"]: s for s in steps(t, "rule")}
    assert rules[hot]["condition"] == "false" and "output" not in rules[hot]
    assert rules[hook]["condition"] == "true" and rules[hook]["queued"]
    assert json.loads(rules[hook]["output"]["text"]) == {"temp": 10, "oven": "1"}
    (done,) = steps(t, "ruleActions")
    assert done["rule"] == hook
    (http_result,) = done["actions"]
    assert http_result["outcome"] == "failed" and http_result["error"] == "HTTP 503 Service Unavailable"
    assert done["errorAction"]["kind"] == "republish" and done["errorAction"]["outcome"] == "ok"
    (caused,) = steps(t, "caused")
    assert caused["topic"] == "oven/errors"
    child = trace(server, caused["trace"])
    assert child["parent"] == t["id"] and child["topic"] == "oven/errors"
    assert json.loads(child["payload"]["text"])["ruleName"] == hook
    assert t["problem"] and "1 rule fired" in t["outcome"] and "1 action failed" in t["outcome"]
    # A hot oven: the inline republish is in the rule's step, and its message has its own trace.
    data.publish(topic="oven/2", payload=b'{"temp": 90}')
    t = traced(server, topic="oven/2", what="the hot oven trace")
    t = settled(server, t["id"], lambda t: any(s["rule"] == hot for s in steps(t, "rule")), "the hot rule")
    (r,) = [s for s in steps(t, "rule") if s["rule"] == hot]
    assert r["condition"] == "true" and r["actions"][0]["target"] == "oven/alarm" and r["actions"][0]["outcome"] == "ok"
    (c,) = [s for s in steps(t, "caused") if s["topic"] == "oven/alarm"]
    assert c["by"] == f"rule {hot}" and trace(server, c["trace"])["parent"] == t["id"]
    for name in (hot, hook):
        iot.delete_topic_rule(ruleName=name)


def test_shadow_answers_accepted_and_409(server, iot, tmp_path):
    thing = f"therm-{uuid.uuid4().hex[:6]}"
    d, _ = device(iot, tmp_path, thing, [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}])
    c = Client(server, client_id=thing, device=d)
    c.connect()
    c.subscribe(f"$aws/things/{thing}/shadow/update/accepted", qos=1)
    c.subscribe(f"$aws/things/{thing}/shadow/update/rejected", qos=1)
    arm(server, clientId=thing)
    topic = f"$aws/things/{thing}/shadow/update"
    c.publish(topic, json.dumps({"state": {"reported": {"t": 20}}}), qos=1)
    assert c.recv().topic.endswith("/accepted")
    c.publish(topic, json.dumps({"state": {"reported": {"t": 21}}, "version": 7}), qos=1)
    assert c.recv().topic.endswith("/rejected")
    ok, conflict = sorted(traces(server, client=thing)["traces"], key=lambda t: t["id"])[-2:]
    ok = settled(server, ok["id"], lambda t: steps(t, "shadow") and steps(t, "caused"), "the accepted update")
    (sh,) = steps(ok, "shadow")
    assert sh == {"kind": "shadow", "at": sh["at"], "thing": thing, "operation": "update", "accepted": True, "version": 1}
    replies = {s["topic"] for s in steps(ok, "caused")}
    assert f"{topic}/accepted" in replies and f"{topic}/documents" in replies
    conflict = settled(server, conflict["id"], lambda t: steps(t, "shadow"), "the refused update")
    (sh,) = steps(conflict, "shadow")
    assert not sh["accepted"] and sh["code"] == 409 and sh["message"] == "Version conflict"
    assert conflict["problem"] and "shadow update rejected (409)" in conflict["outcome"]
    c.close()


def test_publish_denied_is_traced_with_the_statement(server, iot, tmp_path):
    name = f"rogue-{uuid.uuid4().hex[:6]}"
    d, policy = device(iot, tmp_path, name, [
        {"Effect": "Allow", "Action": ["iot:Connect", "iot:Publish"], "Resource": "*"},
        {"Sid": "NoFirmware", "Effect": "Deny", "Action": "iot:Publish", "Resource": f"{ACCT}:topic/firmware/*"},
    ])
    arm(server, clientId=name)
    v5 = Client(server, client_id=name, device=d, v5=True)
    v5.connect()
    info = v5.c.publish("firmware/push", b"evil", qos=1)
    info.wait_for_publish(5)
    t = traced(server, client=name, what="the denied publish")
    assert t["outcome"] == "refused: denied by policy" and t["problem"]
    (p,) = steps(t, "policy")
    assert p["explanation"]["decision"] == "EXPLICIT_DENY"
    assert p["explanation"]["deniedBy"] == [{"policy": policy, "version": "1", "index": 1, "sid": "NoFirmware"}]
    (r,) = steps(t, "refused")
    assert r["answer"].startswith("PUBACK 0x87")
    assert not steps(t, "subscriber") and "messageId" not in t, "a refused message is never routed"
    v5.close()
    # MQTT 3.1.1 has no negative PUBACK: the client is disconnected, and the trace says so.
    v4 = Client(server, client_id=name, device=d)
    v4.connect()
    v4.c.publish("firmware/push", b"evil", qos=0)
    v4.disconnected()
    t = wait_for(lambda: (x := traces(server, client=name, problems="true")["traces"]) and len(x) >= 2 and x[0],
                 what="the second denied publish")
    (r,) = steps(trace(server, t["id"]), "refused")
    assert r["answer"].startswith("disconnected")


def test_a_job_request_is_traced_with_the_jobs_answer(server, iot, tmp_path):
    thing = f"jobber-{uuid.uuid4().hex[:6]}"
    d, _ = device(iot, tmp_path, thing, [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}])
    iot.create_job(jobId=uniq("job"), targets=[f"{ACCT}:thing/{thing}"], document='{"op": "reboot"}')
    c = Client(server, client_id=thing, device=d)
    c.connect()
    c.subscribe(f"$aws/things/{thing}/jobs/#", qos=1)
    arm(server, clientId=thing)
    c.publish(f"$aws/things/{thing}/jobs/start-next", b'{"clientToken": "t1"}', qos=1)
    wait_for(lambda: c.recv().topic.endswith("start-next/accepted"), what="start-next accepted")
    t = traced(server, client=thing, what="the job request")
    t = settled(server, t["id"], lambda t: steps(t, "job"), "the jobs answer")
    (j,) = steps(t, "job")
    assert j["thing"] == thing and j["operation"] == "start-next" and j["accepted"] and j["status"] == "IN_PROGRESS"
    c.close()


def test_sampling_search_and_why_not(server):
    # Unarmed: a message of a quiet moment is sampled.
    quiet = Client(server)
    quiet.connect()
    quiet.publish("sample/me", b"1", qos=1)
    t = traced(server, client=quiet.client_id, what="a sampled trace")
    assert not t["armed"]
    listed = traces(server, client=quiet.client_id, topic="sample/#", minutes=10)
    assert [x["id"] for x in listed["traces"]] == [t["id"]]
    assert traces(server, client=quiet.client_id, topic="other/#")["traces"] == []
    assert "a second" in listed["sampling"]

    # "Why not": `#` never matches a $ topic; a client without a session; a match.
    watcher = Client(server)
    watcher.connect()
    watcher.subscribe("#", qos=0)
    status, _, w = call(server, f"/console/api/traces/why-not?client={watcher.client_id}&topic=$aws/things/x/shadow/update")
    assert status == 200 and not w["wouldReceive"]
    (sub,) = [f for f in w["findings"] if f["check"] == "subscription"]
    assert not sub["ok"] and "starting with $" in sub["detail"] and "starting with $" in w["verdict"]
    _, _, w = call(server, f"/console/api/traces/why-not?client={watcher.client_id}&topic=sample/me")
    assert w["wouldReceive"] and "would receive" in w["verdict"]
    assert "'#' matches (QoS 0)" in [f["detail"] for f in w["findings"]]
    assert w["lastMessage"]["trace"] == t["id"]
    _, _, w = call(server, "/console/api/traces/why-not?client=nobody-here&topic=a/b")
    assert not w["wouldReceive"] and w["findings"][0]["check"] == "session" and "no session" in w["findings"][0]["detail"]
    watcher.close()
    quiet.close()


@pytest.mark.parametrize("path,method,body,status,etype,words", [
    ("/console/api/traces?topic=a/%23/b", "GET", None, 400, "InvalidRequestException", "not a valid topic filter"),
    ("/console/api/traces?limit=0", "GET", None, 400, "InvalidRequestException", "limit"),
    ("/console/api/traces/999999999", "GET", None, 404, "ResourceNotFoundException", "No trace 999999999"),
    ("/console/api/traces/abc", "GET", None, 400, "InvalidRequestException", "not a trace number"),
    ("/console/api/traces/by-message/999999999", "GET", None, 404, "ResourceNotFoundException", "has no trace"),
    ("/console/api/traces/arm", "POST", {}, 400, "InvalidRequestException", "clientId, topic"),
    ("/console/api/traces/arm", "POST", {"topic": "a/+b"}, 400, "InvalidRequestException", "not a valid topic filter"),
    ("/console/api/traces/arm", "POST", {"clientId": "x", "minutes": 0}, 400, "InvalidRequestException", "minutes"),
    ("/console/api/traces/arm/424242", "DELETE", None, 404, "ResourceNotFoundException", "No armed trace session"),
    ("/console/api/traces/why-not?client=x", "GET", None, 400, "InvalidRequestException", "give client"),
    ("/console/api/traces/why-not?client=x&topic=a/%2B", "GET", None, 400, "InvalidRequestException", "not a valid topic name"),
])
def test_bad_requests_are_refused_the_aws_way(server, path, method, body, status, etype, words):
    before = traces(server)["armed"]
    got, headers, answer = call(server, path, method, body)
    assert got == status and headers["x-amzn-ErrorType"].startswith(etype), answer
    assert words in answer["message"]
    assert traces(server)["armed"] == before


def test_no_local_is_shown_as_skipped(server):
    from paho.mqtt.subscribeoptions import SubscribeOptions

    me = Client(server, v5=True)
    me.connect()
    done = __import__("queue").Queue()
    me.c.on_subscribe = lambda c, u, mid, codes, props=None: done.put(codes)
    me.c.subscribe("echo/+", options=SubscribeOptions(qos=1, noLocal=True))
    done.get(timeout=5)
    arm(server, clientId=me.client_id)
    me.publish("echo/1", b"hi", qos=1)
    me.nothing(0.2)
    t = traced(server, client=me.client_id, what="the echo trace")
    (sub,) = [s for s in steps(t, "subscriber") if s["clientId"] == me.client_id]
    assert sub["outcome"] == "noLocal" and sub["filters"] == ["echo/+"]
    me.close()
