"""Persistent MQTT sessions outlive a restart of Thingbox, as AWS keeps them: subscriptions and the
QoS 1 messages queued for a session without a connection come back after a clean stop and after
kill -9 — every message whose PUBACK the publisher got, in order — while clean sessions are not
kept. Real clients: paho (MQTT 3.1.1 and 5) on the plain listener."""

import signal
import uuid

from mqtt_helpers import Client


def topic(prefix="sess"):
    return f"{prefix}/{uuid.uuid4().hex[:8]}"


def restart(fresh_server, s, sig=signal.SIGINT):
    code = s.stop(sig=sig)
    assert code == (-9 if sig == signal.SIGKILL else 0), code
    return fresh_server(data_dir=s.data_dir).start()


def payloads(client, n):
    return [client.recv().payload for _ in range(n)]


def test_sessions_and_their_queues_survive_a_restart(fresh_server):
    s = fresh_server().start()
    t = topic()
    v3, v5, clean = f"v3-{uuid.uuid4().hex[:6]}", f"v5-{uuid.uuid4().hex[:6]}", f"clean-{uuid.uuid4().hex[:6]}"
    a = Client(s, client_id=v3, clean=False)
    a.connect()
    a.subscribe(t + "/+", qos=1)
    a.close()
    b = Client(s, client_id=v5, v5=True, clean=False, session_expiry=3600)
    b.connect()
    b.subscribe(t + "/#", qos=1)
    b.close()
    c = Client(s, client_id=clean)  # a clean session: gone with its connection, and after a restart
    c.connect()
    c.subscribe(t + "/#")
    c.close()
    pub = Client(s)
    pub.connect()
    for i in range(3):
        pub.publish(f"{t}/a", f"before-{i}".encode(), qos=1)
    pub.publish(f"{t}/a", b"qos0-is-not-kept", qos=0)
    pub.close()

    s = restart(fresh_server, s)
    pub = Client(s)
    pub.connect()
    # The subscriptions came back: a message published after the restart is queued too.
    pub.publish(f"{t}/b", b"after", qos=1)
    pub.close()
    a = Client(s, client_id=v3, clean=False)
    assert a.connect().session_present is True
    assert payloads(a, 4) == [b"before-0", b"before-1", b"before-2", b"after"]
    a.nothing()
    b = Client(s, client_id=v5, v5=True, clean=False, session_expiry=3600)
    assert b.connect().session_present is True
    assert payloads(b, 4) == [b"before-0", b"before-1", b"before-2", b"after"]
    c = Client(s, client_id=clean, clean=False)
    assert c.connect().session_present is False
    c.nothing()
    for x in (a, b, c):
        x.close()

    # Delivered and acknowledged: not delivered again after the next restart.
    s = restart(fresh_server, s)
    a = Client(s, client_id=v3, clean=False)
    assert a.connect().session_present is True
    a.nothing()
    # A clean connection ends the stored session for good.
    a.close()
    gone = Client(s, client_id=v3, clean=True)
    assert gone.connect().session_present is False
    gone.close()
    s = restart(fresh_server, s)
    again = Client(s, client_id=v3, clean=False)
    assert again.connect().session_present is False
    again.close()


def test_kill_9_loses_no_acknowledged_subscription_or_message(fresh_server):
    s = fresh_server().start()
    t = topic("crash")
    cid = f"crash-{uuid.uuid4().hex[:6]}"
    held = Client(s, client_id=cid, clean=False)
    held.connect()
    held.subscribe(t, qos=1)  # SUBACK: the subscription is stored
    # Killed while the client is connected: no goodbye, no shutdown.
    s = restart(fresh_server, s, signal.SIGKILL)
    held.c.loop_stop()
    pub = Client(s)
    pub.connect()
    for i in range(200):
        pub.publish(t, f"m{i}".encode(), qos=1)  # each one PUBACKed before the next
    pub.close()
    s = restart(fresh_server, s, signal.SIGKILL)
    back = Client(s, client_id=cid, clean=False)
    assert back.connect().session_present is True
    assert payloads(back, 200) == [f"m{i}".encode() for i in range(200)]
    back.nothing()
    back.close()
