"""The topic viewer's engine side through its API: the live stream (WebSocket `/console/api/messages`)
fed by the router's tap, the SQLite message history, publishing as the console, saved payloads,
recordings and replays — driven with paho devices, boto3 and a plain WebSocket client."""

import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from websockets.sync.client import connect as ws_connect

from conftest import wait_for
from mqtt_helpers import Client


def token_of(server):
    return server.endpoints["console"].split("token=", 1)[1]


def call(server, path, method="GET", body=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(server.api + path, method=method, data=data,
                                 headers={"x-thingbox-token": token_of(server), "content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read()
            return r.status, r.headers, (json.loads(text) if text and r.headers.get_content_type() ==
                                               "application/json" else text)
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read() or b"{}")


def history(server, **q):
    query = urllib.parse.urlencode([(k, v) for k, vs in q.items() for v in (vs if isinstance(vs, list) else [vs])])
    status, _, body = call(server, f"/console/api/history?{query}")
    assert status == 200, body
    return body


class Viewer:
    """A console viewer socket."""

    def __init__(self, server, filters, stalled=False):
        """`stalled`: a viewer that will stop reading — its client keeps at most one frame and its
        socket a small receive buffer, so what backs up is the engine's, whatever the machine's
        TCP autotuning and speed (otherwise the client library's frame queue can absorb a flood)."""
        url = server.api.replace("http://", "ws://") + f"/console/api/messages?token={token_of(server)}"
        opts = {}
        if stalled:
            host, port = server.api.removeprefix("http://").rsplit(":", 1)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
            sock.connect((host, int(port)))
            opts = {"sock": sock, "max_queue": 1}
        self.ws = ws_connect(url, open_timeout=10, max_size=None, legacy=True, **opts)
        self.subscribe(filters)

    def subscribe(self, filters):
        self.ws.send(json.dumps({"type": "subscribe", "filters": filters}))
        return self.frame(lambda f: f["type"] in ("subscribed", "error"))

    def frame(self, want=lambda f: True, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "timed out waiting for a viewer frame"
            f = json.loads(self.ws.recv(timeout=left))
            if want(f):
                return f

    def messages(self, count, timeout=10):
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            f = self.frame(lambda f: f["type"] == "batch", timeout=max(0.01, deadline - time.monotonic()))
            out += f["messages"]
        return out

    def close(self):
        self.ws.close()


@pytest.fixture
def device(server):
    c = Client(server, client_id=f"viewer-dev-{uuid.uuid4().hex[:6]}")
    c.connect()
    yield c
    c.close()


def test_a_device_message_reaches_the_viewer_with_its_publisher(server, device):
    v = Viewer(server, ["factory/#"])
    device.publish("factory/line1/temp", json.dumps({"t": 21.5}), qos=1)
    device.publish("elsewhere/x", "not for this viewer", qos=1)
    device.publish("factory/line1/temp", json.dumps({"t": 22.0}), qos=0)
    got = v.messages(2)
    assert [m["topic"] for m in got] == ["factory/line1/temp"] * 2
    first = got[0]
    assert json.loads(first["payload"]) == {"t": 21.5}
    assert first["clientId"] == device.client_id
    assert first["qos"] == 1 and first["retain"] is False and first["size"] == len(first["payload"])
    assert got[1]["id"] > first["id"]
    v.close()


def test_aws_topics_need_their_own_filter_and_bad_filters_change_nothing(server):
    v = Viewer(server, ["#"])
    f = v.subscribe(["ok/#", "bad/#/x"])
    assert f["type"] == "error" and "bad/#/x" in f["message"]
    assert v.subscribe(["$aws/events/#"]) == {"type": "subscribed", "filters": ["$aws/events/#"]}
    c = Client(server, client_id=f"lifecycle-{uuid.uuid4().hex[:6]}")
    c.connect()
    topic = f"$aws/events/presence/connected/{c.client_id}"
    m = wait_for(lambda: next((m for m in v.messages(1) if m["topic"] == topic), None), what="connected event")
    assert json.loads(m["payload"])["eventType"] == "connected"
    assert m["principal"] == "thingbox:lifecycle"
    c.close()
    v.close()


def test_console_publish_reaches_devices_as_the_console(server, device):
    device.subscribe("cmd/#")
    v = Viewer(server, ["cmd/#"])
    body = {"topic": "cmd/lamp", "payload": '{"on": true}', "qos": 1,
            "properties": {"userProperties": [["k", "v"]], "contentType": "application/json"}}
    status, _, res = call(server, "/console/api/publish", "POST", body)
    assert status == 200 and res["clientId"] == "thingbox-console"
    m = device.recv()
    assert (m.topic, m.payload) == ("cmd/lamp", b'{"on": true}')
    seen = v.messages(1)[0]
    assert seen["clientId"] == "thingbox-console" and seen["principal"] == "thingbox:console"
    assert seen["properties"] == {"userProperties": [["k", "v"]], "contentType": "application/json"}
    # Bad input: AWS-shaped errors, nothing routed.
    for bad, kind in [({"topic": "cmd/+", "payload": "x"}, "InvalidRequestException"),
                      ({"topic": "cmd/x", "qos": 2}, "InvalidRequestException"),
                      ({"topic": "$aws/events/presence/connected/x"}, "InvalidRequestException"),
                      ({"topic": "cmd/big", "payload": "x" * (128 * 1024 + 1)}, "RequestEntityTooLargeException")]:
        status, headers, res = call(server, "/console/api/publish", "POST", bad)
        assert headers["x-amzn-ErrorType"] == kind, res
        assert res["message"]
    device.nothing(within=0.3)
    v.close()


def test_the_history_is_searchable_by_filter_time_and_text(server, device):
    tag = uuid.uuid4().hex[:8]
    t0 = int(time.time() * 1000)
    for i in range(30):
        device.publish(f"hist-{tag}/room{i % 3}", json.dumps({"n": i, "tag": "Needle" if i == 7 else "hay"}), qos=1)
    page = wait_for(lambda: (p := history(server, filter=f"hist-{tag}/#", limit=10))["messages"]
                    and json.loads(p["messages"][0]["payload"])["n"] == 29 and p, what="history")
    ns = [json.loads(m["payload"])["n"] for m in page["messages"]]
    assert ns == list(range(29, 19, -1)), "newest first"
    older = history(server, filter=f"hist-{tag}/#", limit=10, before=page["nextBefore"])
    assert [json.loads(m["payload"])["n"] for m in older["messages"]] == list(range(19, 9, -1))
    room1 = history(server, filter=f"hist-{tag}/+", text="", limit=100)["messages"]
    assert len(room1) == 30
    assert {m["topic"] for m in history(server, filter=[f"hist-{tag}/room1", f"hist-{tag}/room2"])["messages"]} == \
        {f"hist-{tag}/room1", f"hist-{tag}/room2"}
    needle = history(server, filter=f"hist-{tag}/#", text="needle")["messages"]
    assert [json.loads(m["payload"])["n"] for m in needle] == [7]
    assert history(server, filter=f"hist-{tag}/#", to=t0 - 1)["messages"] == []
    assert len(history(server, filter=f"hist-{tag}/#", **{"from": t0}, limit=1000)["messages"]) == 30
    # One message whole, and the topics with counts and last values.
    status, _, one = call(server, f"/console/api/history/{needle[0]['id']}")
    assert status == 200 and one["payload"] == needle[0]["payload"]
    status, headers, _ = call(server, "/console/api/history/999999999")
    assert status == 404 and headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    status, _, topics = call(server, f"/console/api/history/topics?filter=hist-{tag}/%23")
    assert [(t["topic"], t["count"]) for t in topics] == [(f"hist-{tag}/room{i}", 10) for i in range(3)]
    assert json.loads(topics[2]["last"]["payload"])["n"] == 29
    status, headers, res = call(server, "/console/api/history?filter=a/%23/b")
    assert status == 400 and headers["x-amzn-ErrorType"] == "InvalidRequestException", res
    status, _, stats = call(server, "/console/api/history/stats")
    assert stats["messages"] >= 30 and stats["maxMessages"] == 100_000


def test_the_history_is_a_bounded_ring_that_survives_a_restart(fresh_server, tmp_path):
    s = fresh_server("--history-messages", "50").start()
    c = Client(s, client_id="ring")
    c.connect()
    for i in range(120):
        c.publish("ring/t", str(i), qos=1)
    wait_for(lambda: (m := history(s, filter="ring/t", limit=1)["messages"]) and m[0]["payload"] == "119",
             what="last message")
    kept = history(s, filter="ring/t", limit=1000)["messages"]
    assert len(kept) == 50 and kept[-1]["payload"] == "70", "only the newest 50 are kept"
    last_id = kept[0]["id"]
    c.close()
    assert s.stop() == 0
    s2 = fresh_server("--history-messages", "50", data_dir=s.data_dir).start()
    again = history(s2, filter="ring/t", limit=1000)["messages"]
    assert [m["payload"] for m in again] == [m["payload"] for m in kept]
    c2 = Client(s2, client_id="ring2")
    c2.connect()
    c2.publish("ring/t", "after", qos=1)
    newest = wait_for(lambda: (m := history(s2, filter="ring/t", limit=1)["messages"])
                      and m[0]["payload"] == "after" and m[0], what="new message")
    assert newest["id"] > last_id, "ids keep increasing across restarts"
    c2.close()


def test_a_slow_viewer_never_slows_devices_and_every_message_is_accounted_for(server):
    sub = Client(server, client_id="fast-sub")
    sub.connect()
    sub.subscribe("flood/#", qos=1)
    v = Viewer(server, ["flood/#"], stalled=True)  # subscribed, then not read while the flood runs
    pub = Client(server, client_id="flooder")
    pub.connect()
    # Under the subscriber's own queue limits (10,000 messages, 16 MB), far over what the stalled
    # socket's buffers take.
    n = 8_000
    payload = "x" * 1500
    for i in range(n):
        pub.c.publish(f"flood/{i % 1000}", payload, qos=0)
        if i % 100 == 99:
            time.sleep(0.04)  # spread over ~3 s: far more batches than the stalled socket can hold
    pub.publish("flood/done", "end", qos=1)
    got = 0
    deadline = time.monotonic() + 60
    while got < n + 1 and time.monotonic() < deadline:
        try:
            sub.recv(timeout=5)
            got += 1
        except Exception:
            break
    assert got == n + 1, f"the device subscriber got {got} of {n + 1} while a viewer stalled"
    # Now read the viewer: messages carried + summarized + dropped == everything published.
    told = dropped = 0
    end = time.monotonic() + 30
    while told < n + 1 and time.monotonic() < end:
        f = v.frame(lambda f: f["type"] == "batch", timeout=10)
        told += len(f["messages"]) + sum(s["count"] for s in f.get("summarized", [])) + f.get("dropped", 0)
        dropped += f.get("dropped", 0)
    assert told == n + 1
    assert dropped > 0, "the stalled socket's batches were dropped (and counted), not queued without bound"
    v.close()
    pub.close()
    sub.close()


def test_collections_are_kept_in_the_data_dir_and_checked(server):
    saved = [{"name": "lamp on", "topic": "cmd/lamp", "payload": '{"on":true}', "qos": 1, "retain": False}]
    status, _, res = call(server, "/console/api/collections", "PUT", saved)
    assert status == 200
    assert json.loads((server.data_dir / "collections.json").read_text()) == saved
    assert call(server, "/console/api/collections")[2] == saved
    status, headers, res = call(server, "/console/api/collections", "PUT",
                                saved + [{"name": "bad", "topic": "a/#", "payload": ""}])
    assert status == 400 and "bad" in res["message"]
    assert call(server, "/console/api/collections")[2] == saved, "a refused save changes nothing"


def test_record_then_replay_into_the_broker(server, device):
    status, _, rec = call(server, "/console/api/recordings", "POST", {"filters": ["rec/#"]})
    assert status == 200 and rec["active"] and rec["name"].endswith(".jsonl")
    for i in range(5):
        device.publish(f"rec/{i}", json.dumps({"i": i}), qos=1)
        time.sleep(0.05)  # spacing the replay must reproduce
    device.publish("other/x", "not recorded", qos=1)
    wait_for(lambda: any(r["name"] == rec["name"] and r["messages"] == 5
                         for r in call(server, "/console/api/recordings")[2]), what="5 recorded")
    status, _, stopped = call(server, f"/console/api/recordings/{rec['name']}/stop", "POST")
    assert stopped["active"] is False and stopped["messages"] == 5
    status, headers, body = call(server, f"/console/api/recordings/{rec['name']}")
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert [l["topic"] for l in lines] == [f"rec/{i}" for i in range(5)]
    assert "attachment" in headers["content-disposition"]

    device.subscribe("rec/#")
    status, _, replay = call(server, "/console/api/replays", "POST", {"recording": rec["name"], "speed": 1})
    assert status == 200 and replay["total"] == 5
    started = time.monotonic()
    got = [device.recv() for _ in range(5)]
    assert [m.topic for m in got] == [f"rec/{i}" for i in range(5)]
    assert time.monotonic() - started >= 0.15, "original timing is kept at speed 1"
    wait_for(lambda: call(server, "/console/api/replays")[2][0]["done"], what="replay done")
    # An uploaded recording with one bad line is refused whole.
    bad = "\n".join([json.dumps(lines[0]), '{"topic": "rec/#"}'])
    status, headers, res = call(server, "/console/api/replays", "POST", {"lines": bad, "speed": 0})
    assert headers["x-amzn-ErrorType"] == "InvalidRequestException" and "line 2" in res["message"]
    device.nothing(within=0.3)
    # As fast as possible, from an upload.
    status, _, replay = call(server, "/console/api/replays", "POST", {"lines": body.decode(), "speed": 0})
    assert [device.recv().topic for _ in range(5)] == [f"rec/{i}" for i in range(5)]
    status, _, _ = call(server, f"/console/api/recordings/{rec['name']}", "DELETE")
    assert status == 200
    status, headers, _ = call(server, f"/console/api/recordings/{rec['name']}")
    assert status == 404 and headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    status, headers, _ = call(server, "/console/api/recordings/..%2Fthingbox.db")
    assert status == 404


def test_retained_messages_are_listed_and_deleted_as_on_aws(server, device):
    data = server.client("iot-data")
    for t in ("ret/a", "ret/b", "ret/c"):
        device.publish(t, json.dumps({"t": t}), qos=1, retain=True)
    listed = wait_for(lambda: [m for m in call(server, "/console/api/retained")[2] if m["topic"].startswith("ret/")]
                      if len([m for m in call(server, "/console/api/retained")[2] if m["topic"].startswith("ret/")]) == 3
                      else None, what="3 retained")
    assert json.loads(listed[0]["payload"]) == {"t": "ret/a"} and listed[0]["retain"] is True
    status, headers, res = call(server, "/console/api/retained/delete", "POST", {"topics": ["ret/a", "ret/nope"]})
    assert status == 404 and headers["x-amzn-ErrorType"] == "ResourceNotFoundException" and "ret/nope" in res["message"]
    assert data.get_retained_message(topic="ret/a")["topic"] == "ret/a", "a refused delete deletes nothing"
    status, _, res = call(server, "/console/api/retained/delete", "POST", {"topics": ["ret/a", "ret/b"]})
    assert status == 200 and res["deleted"] == 2
    left = [t["topic"] for t in data.list_retained_messages()["retainedTopics"] if t["topic"].startswith("ret/")]
    assert left == ["ret/c"]
    with pytest.raises(data.exceptions.ResourceNotFoundException):
        data.get_retained_message(topic="ret/a")
