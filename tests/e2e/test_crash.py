"""kill -9 under mixed load: registry writes (AWS SDK), shadow updates (iot-data), retained QoS 1
publishes and QoS 1 messages queued for an offline persistent session (paho), all at once, until
the server is killed at a random moment. After a restart every acknowledged write is there, shadow
versions are gap-free, the database passes `integrity_check`, and the persistent session gets
every message whose PUBACK its publisher saw, in order. `scripts/bench crash [ROUNDS]` runs more
rounds on the release build."""

import json
import os
import random
import signal
import sqlite3
import threading
import time
import uuid

import pytest

from mqtt_helpers import Client

ROUNDS = int(os.environ.get("THINGBOX_CRASH_ROUNDS", "3"))


class Load:
    """The writers, each recording what was acknowledged to it."""

    def __init__(self, server, tag):
        self.s, self.tag = server, tag
        self.stop = threading.Event()
        self.shadows, self.things, self.retained, self.queued = {}, [], {}, []
        self.queue_topic = f"crash/{tag}/queue"
        self.threads = []

    def start(self):
        for target, arg in [(self.shadow, 0), (self.shadow, 1), (self.registry, None),
                            (self.retain, None), (self.publish, None)]:
            t = threading.Thread(target=target, args=() if arg is None else (arg,), daemon=True)
            t.start()
            self.threads.append(t)

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(15)

    def shadow(self, i):
        data = self.s.client("iot-data")
        thing, n = f"crash-{self.tag}-{i}", 0
        while not self.stop.is_set():
            try:
                r = data.update_thing_shadow(thingName=thing, payload=json.dumps({"state": {"reported": {"n": n}}}))
            except Exception:
                return
            self.shadows[thing] = json.loads(r["payload"].read())["version"]
            n += 1

    def registry(self):
        iot = self.s.client("iot")
        n = 0
        while not self.stop.is_set():
            name = f"crash-{self.tag}-thing-{n}"
            try:
                iot.create_thing(thingName=name, attributePayload={"attributes": {"n": str(n)}})
            except Exception:
                return
            self.things.append(name)
            n += 1

    def _mqtt_loop(self, topic_of, record):
        """Publishes 0, 1, 2… at QoS 1, one at a time, recording each one PUBACKed."""
        c = Client(self.s)
        try:
            c.connect()
        except Exception:
            return
        n = 0
        while not self.stop.is_set():
            topic, retain = topic_of(n)
            try:
                info = c.c.publish(topic, str(n).encode(), qos=1, retain=retain)
                info.wait_for_publish(5)
            except Exception:
                break
            if not info.is_published():
                break
            record(topic, n)
            n += 1
        c.c.loop_stop()

    def retain(self):
        self._mqtt_loop(lambda n: (f"crash/{self.tag}/retained/{n % 4}", True),
                        lambda topic, n: self.retained.__setitem__(topic, n))

    def publish(self):
        self._mqtt_loop(lambda n: (self.queue_topic, False), lambda topic, n: self.queued.append(n))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_acknowledged_writes_survive_sigkill_under_mixed_load(fresh_server, round_):
    s = fresh_server().start()
    tag = uuid.uuid4().hex[:6]
    load = Load(s, tag)
    offline = f"crash-sub-{tag}"
    sub = Client(s, client_id=offline, clean=False)
    sub.connect()
    sub.subscribe(load.queue_topic, qos=1)
    sub.close()

    load.start()
    time.sleep(random.uniform(0.5, 1.5))  # the kill comes at a random moment: that is the test
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait()
    load.join()
    assert load.shadows and load.things and load.retained and load.queued, "some writer got nothing acknowledged"

    con = sqlite3.connect(s.data_dir / "thingbox.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    again = fresh_server(data_dir=s.data_dir).start()

    data = again.client("iot-data")
    for thing, version in load.shadows.items():
        got = json.loads(data.get_thing_shadow(thingName=thing)["payload"].read())
        assert got["version"] >= version, f"{thing}: acknowledged version {version} lost (found {got['version']})"
        assert got["state"]["reported"]["n"] == got["version"] - 1
    con = sqlite3.connect(s.data_dir / "thingbox.db")
    for thing in load.shadows:
        versions = [v for (v,) in con.execute(
            "SELECT version FROM shadow_versions WHERE thing = ? ORDER BY id", (thing,))]
        assert versions == list(range(1, len(versions) + 1)), f"{thing}: versions not gap-free: {versions[:10]}…"
    con.close()

    iot = again.client("iot")
    for name in load.things:
        assert iot.describe_thing(thingName=name)["attributes"]["n"] == name.rsplit("-", 1)[1]

    for topic, n in load.retained.items():
        got = int(data.get_retained_message(topic=topic)["payload"])
        assert got >= n and got % 4 == n % 4, f"{topic}: acknowledged retained {n} lost (found {got})"

    back = Client(again, client_id=offline, clean=False)
    assert back.connect().session_present is True
    received = []
    deadline = time.monotonic() + 15
    while len(set(received)) < len(set(load.queued)) and time.monotonic() < deadline:
        try:
            received.append(int(back.recv(timeout=1).payload))
        except Exception:
            pass
    back.close()
    missing = sorted(set(load.queued) - set(received))
    assert not missing, f"{len(missing)} acknowledged messages lost for the offline session: {missing[:10]}"
    firsts = list(dict.fromkeys(received))
    assert firsts == sorted(firsts), "the offline session's messages came out of order"
