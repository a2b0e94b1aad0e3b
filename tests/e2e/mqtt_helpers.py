"""Helpers for the MQTT suites: device certificates made through the real API, and a small
synchronous wrapper around paho-mqtt (3.1.1 or 5, TLS or plain)."""

import queue
import socket
import ssl
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

from conftest import wait_for


ALLOW_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}'


def allow_all_policy(iot, name="test-allow-all"):
    try:
        iot.create_policy(policyName=name, policyDocument=ALLOW_ALL)
    except iot.exceptions.ResourceAlreadyExistsException:
        pass
    return name


class Device:
    """A certificate and key issued by Thingbox (CreateKeysAndCertificate), written to files; by
    default with a policy that allows everything attached (as on AWS, no policy = no access)."""

    def __init__(self, iot, tmp: Path, active=True, policy="allow-all"):
        c = iot.create_keys_and_certificate(setAsActive=active)
        self.id, self.arn = c["certificateId"], c["certificateArn"]
        if policy == "allow-all":
            iot.attach_policy(policyName=allow_all_policy(iot), target=self.arn)
        elif policy:
            iot.attach_policy(policyName=policy, target=self.arn)
        self.cert = tmp / f"{self.id[:12]}.pem.crt"
        self.key = tmp / f"{self.id[:12]}.private.key"
        self.cert.write_text(c["certificatePem"])
        self.key.write_text(c["keyPair"]["PrivateKey"])


def host_port(hp: str):
    host, port = hp.rsplit(":", 1)
    return host, int(port)


class Client:
    """A paho client that records what it receives."""

    def __init__(self, server, client_id=None, device=None, v5=False, clean=True, will=None, keepalive=30,
                 session_expiry=None):
        self.client_id = client_id or f"c-{uuid.uuid4().hex[:8]}"
        self.v5 = v5
        self.messages = queue.Queue()
        self.disconnects = queue.Queue()
        self.connack = queue.Queue()
        kwargs = {"protocol": mqtt.MQTTv5 if v5 else mqtt.MQTTv311}
        if not v5:
            kwargs["clean_session"] = clean
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, **kwargs)
        self.clean, self.session_expiry = clean, session_expiry
        if device is not None:
            ctx = ssl.create_default_context(cafile=server.endpoints["root_ca"])
            ctx.load_cert_chain(device.cert, device.key)
            self.c.tls_set_context(ctx)
            self.host, self.port = host_port(server.endpoints["mqtt_tls"])
        else:
            self.host, self.port = host_port(server.endpoints["mqtt"])
        if will:
            self.c.will_set(*will)
        self.keepalive = keepalive
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        self.c.on_connect = lambda c, u, flags, rc, props=None: self.connack.put((flags, rc))
        self.c.on_disconnect = lambda c, u, flags, rc, props=None: self.disconnects.put(rc)

    def connect(self, timeout=10):
        kwargs = {}
        if self.v5:
            from paho.mqtt.properties import Properties
            from paho.mqtt.packettypes import PacketTypes
            props = Properties(PacketTypes.CONNECT)
            if self.session_expiry:
                props.SessionExpiryInterval = self.session_expiry
            kwargs = {"clean_start": self.clean, "properties": props}
        self.c.connect(self.host, self.port, keepalive=self.keepalive, **kwargs)
        self.c.loop_start()
        flags, rc = self.connack.get(timeout=timeout)
        if rc != 0:
            self.c.loop_stop()
            raise ConnectionError(f"CONNACK refused: {rc}")
        return flags

    def subscribe(self, topic, qos=1, timeout=10):
        done = queue.Queue()
        self.c.on_subscribe = lambda c, u, mid, codes, props=None: done.put(codes)
        self.c.subscribe(topic, qos)
        return done.get(timeout=timeout)

    def publish(self, topic, payload, qos=1, retain=False, timeout=10):
        info = self.c.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            info.wait_for_publish(timeout)
        return info

    def recv(self, timeout=5):
        return self.messages.get(timeout=timeout)

    def nothing(self, within=0.5):
        """Asserts nothing arrives within `within` seconds (only for checking absence)."""
        try:
            m = self.messages.get(timeout=within)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected message on {m.topic}: {m.payload!r}")

    def disconnected(self, timeout=5):
        return self.disconnects.get(timeout=timeout)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def until(cond, timeout=5, what="condition"):
    return wait_for(cond, timeout=timeout, what=what)


def drain(q):
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out


def sleep_briefly():
    time.sleep(0.05)


def raw_connect(server, client_id, topic):
    """A raw MQTT 3.1.1 client that subscribes at QoS 1 and then never reads nor acknowledges."""
    host, port = server.endpoints["mqtt"].rsplit(":", 1)
    s = socket.create_connection((host, int(port)))

    def packet(kind, body):
        n, length = len(body), b""
        while True:
            byte, n = n % 128, n // 128
            length += bytes([byte | (128 if n else 0)])
            if not n:
                return bytes([kind]) + length + body

    def string(x):
        return len(x).to_bytes(2, "big") + x.encode()

    s.sendall(packet(0x10, string("MQTT") + bytes([4, 2, 0, 60]) + string(client_id)))
    assert s.recv(4)[:2] == b"\x20\x02"
    s.sendall(packet(0x82, (1).to_bytes(2, "big") + string(topic) + bytes([1])))
    return s
