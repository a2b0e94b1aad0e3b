"""A single-node Kafka broker speaking just enough of the wire protocol for a producer: ApiVersions
v0 (newer versions are answered "unsupported", as Kafka does, so clients fall back), Metadata v0
and Produce v3 with uncompressed record batches (magic 2). No Kafka broker can be installed from
the package registries this project builds from, so the kafka rule action is tested against this.

Every produced record is kept in `records` as (topic, partition, key, value, headers)."""

import socket
import socketserver
import struct
import threading

PRODUCE, METADATA, API_VERSIONS = 0, 3, 18
UNSUPPORTED_VERSION, UNKNOWN_TOPIC = 35, 3


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        out = self.data[self.pos:self.pos + n]
        if len(out) != n:
            raise ValueError("short read")
        self.pos += n
        return out

    def unpack(self, fmt):
        return struct.unpack(">" + fmt, self.take(struct.calcsize(">" + fmt)))[0]

    def string(self):
        n = self.unpack("h")
        return None if n < 0 else self.take(n).decode()

    def varint(self):
        shift = raw = 0
        while True:
            b = self.take(1)[0]
            raw |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return (raw >> 1) ^ -(raw & 1)  # zigzag

    def varbytes(self):
        n = self.varint()
        return None if n < 0 else self.take(n)


def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def array(items):
    return struct.pack(">i", len(items)) + b"".join(items)


class FakeKafka:
    def __init__(self, topics):
        """`topics`: name → number of partitions."""
        self.topics = dict(topics)
        self.records = []
        self.requests = []
        self.lock = threading.Lock()
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                conn = self.request
                while True:
                    head = recv_exact(conn, 4)
                    if head is None:
                        return
                    body = recv_exact(conn, struct.unpack(">i", head)[0])
                    if body is None:
                        return
                    reply = fake.answer(body)
                    conn.sendall(struct.pack(">i", len(reply)) + reply)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def answer(self, body):
        r = Reader(body)
        api, version, correlation = r.unpack("h"), r.unpack("h"), r.unpack("i")
        r.string()  # client id
        with self.lock:
            self.requests.append((api, version))
        head = struct.pack(">i", correlation)
        if api == API_VERSIONS:
            if version == 0:
                keys = [(PRODUCE, 3, 3), (METADATA, 0, 0), (API_VERSIONS, 0, 0)]
                return head + struct.pack(">h", 0) + array([struct.pack(">hhh", *k) for k in keys])
            if version >= 3:  # flexible: compact empty array, throttle, no tagged fields
                return head + struct.pack(">h", UNSUPPORTED_VERSION) + b"\x01" + struct.pack(">i", 0) + b"\x00"
            return head + struct.pack(">h", UNSUPPORTED_VERSION) + array([]) + struct.pack(">i", 0)
        if api == METADATA and version == 0:
            n = r.unpack("i")
            wanted = [r.string() for _ in range(max(n, 0))] or list(self.topics)
            brokers = array([struct.pack(">i", 1) + string("127.0.0.1") + struct.pack(">i", self.port)])
            topics = []
            for name in wanted:
                if name not in self.topics:
                    topics.append(struct.pack(">h", UNKNOWN_TOPIC) + string(name) + array([]))
                    continue
                parts = [struct.pack(">hii", 0, p, 1) + array([struct.pack(">i", 1)]) + array([struct.pack(">i", 1)])
                         for p in range(self.topics[name])]
                topics.append(struct.pack(">h", 0) + string(name) + array(parts))
            return head + brokers + array(topics)
        if api == PRODUCE and version == 3:
            r.string()  # transactional id
            r.unpack("h")  # acks
            r.unpack("i")  # timeout
            responses = []
            for _ in range(r.unpack("i")):
                topic = r.string()
                parts = []
                for _ in range(r.unpack("i")):
                    partition = r.unpack("i")
                    batch = Reader(r.take(r.unpack("i")))
                    with self.lock:
                        base = len(self.records)
                        for key, value, headers in read_batch(batch):
                            self.records.append((topic, partition, key, value, headers))
                    code = 0 if topic in self.topics else UNKNOWN_TOPIC
                    parts.append(struct.pack(">ihqq", partition, code, base, -1))
                responses.append(string(topic) + array(parts))
            return head + array(responses) + struct.pack(">i", 0)
        raise ValueError(f"fake Kafka does not serve api {api} v{version}")


def read_batch(r):
    """The records of a magic-2 record batch (uncompressed)."""
    while r.pos < len(r.data):
        r.unpack("q")  # base offset
        length = r.unpack("i")
        end = r.pos + length
        r.unpack("i")  # partition leader epoch
        assert r.unpack("b") == 2, "record batch magic"
        r.unpack("I")  # crc
        assert r.unpack("h") & 0x07 == 0, "compressed batch"
        r.take(4 + 8 + 8 + 8 + 2 + 4)
        for _ in range(r.unpack("i")):
            r.varint()  # length
            r.take(1)  # attributes
            r.varint()  # timestamp delta
            r.varint()  # offset delta
            key = r.varbytes()
            value = r.varbytes()
            headers = {}
            for _ in range(r.varint()):
                k = r.varbytes().decode()
                headers[k] = r.varbytes()
            yield key, value, headers
        r.pos = end


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        try:
            chunk = conn.recv(n - len(buf))
        except (ConnectionError, socket.timeout):
            return None
        if not chunk:
            return None
        buf += chunk
    return buf
