#!/usr/bin/env python3
"""MQTT benchmarks (see docs/benchmarks.md): Thingbox beside Debian's mosquitto in the same run, both
over mutual TLS with the same device certificate (mosquitto: require_certificate, an ACL file). The
load comes from `thingbox-bench` (rumqttc). Prints a Markdown table. It measures; it does not judge."""

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, raise_fd_limit, start_serve, tool_args, wait_port  # noqa: E402


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Broker:
    def __init__(self, name, proc, port):
        self.name, self.proc, self.port = name, proc, port

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_thingbox(binary, data, *extra):
    proc, ep = start_serve(binary, data, *extra)
    return Broker("Thingbox", proc, int(ep["mqtt_tls"].rsplit(":", 1)[1])), ep


ALLOW_BENCH = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "iot:*", "Resource": "arn:aws:iot:*:*:*/bench/*"},
    {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}

ACCT = "arn:aws:iot:us-east-1:000000000000"
# Ten statements with variables, the last ones the ones that match (the evaluator reads them all).
TEN_STATEMENTS = {"Version": "2012-10-17", "Statement": [
    *[{"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
       "Resource": f"{ACCT}:topic/devices/${{iot:ClientId}}/room{i}/*"} for i in range(6)],
    {"Effect": "Deny", "Action": "iot:Publish", "Resource": f"{ACCT}:topic/bench/${{iot:ClientId}}/forbidden"},
    {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{ACCT}:client/bench-*",
     "Condition": {"StringLike": {"iot:ClientId": "bench-*"}}},
    {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": f"{ACCT}:topicfilter/bench/*"},
    {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": f"{ACCT}:topic/bench/*"}]}


def issue_device(api, out, policy_name="bench", policy=ALLOW_BENCH, prefix="device"):
    req = urllib.request.Request(api + "/keys-and-certificate?setAsActive=true", data=b"", method="POST")
    c = json.loads(urllib.request.urlopen(req).read())
    doc = json.dumps(policy)
    for method, path, body in [("POST", f"/policies/{policy_name}", {"policyDocument": doc}),
                               ("PUT", f"/target-policies/{policy_name}", {"target": c["certificateArn"]})]:
        r = urllib.request.Request(api + path, data=json.dumps(body).encode(), method=method)
        try:
            urllib.request.urlopen(r).read()
        except urllib.error.HTTPError as e:
            if e.code != 409:
                raise
    (out / f"{prefix}.pem").write_text(c["certificatePem"])
    (out / f"{prefix}.key").write_text(c["keyPair"]["PrivateKey"])
    return out / f"{prefix}.pem", out / f"{prefix}.key"


def start_mosquitto(data, work):
    port = free_port()
    acl = work / "acl"
    acl.write_text("pattern readwrite bench/#\n")
    conf = work / "mosquitto.conf"
    conf.write_text(f"""per_listener_settings false
user root
persistence false
log_dest none
max_queued_messages 1000
acl_file {acl}
listener {port} 127.0.0.1
cafile {data}/ca/root-ca.pem
certfile {data}/ca/server.pem
keyfile {data}/ca/server.key
require_certificate true
use_identity_as_username true
""")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=raise_fd_limit)
    wait_port(port)
    return Broker("mosquitto", proc, port)


def bench(tool, broker, tls, *args, port=None):
    cmd = [tool, "--host", "localhost", "--port", str(port or broker.port)]
    if tls:
        cmd += ["--ca", tls["ca"], "--cert", tls["cert"], "--key", tls["key"]]
    cmd += list(args)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, preexec_fn=raise_fd_limit, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def idle_rss(tool, broker, tls, connections):
    before = rss_kb(broker.proc.pid)
    cmd = [tool, "--host", "localhost", "--port", str(broker.port), "--ca", tls["ca"], "--cert", tls["cert"],
           "--key", tls["key"], "idle", "--connections", str(connections)]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=raise_fd_limit)
    line = json.loads(p.stdout.readline())
    time.sleep(1.0)  # let the broker settle after the last handshake
    after = rss_kb(broker.proc.pid)
    p.stdin.close()
    p.wait(timeout=120)
    return {"connections": line["connections"], "seconds": line["seconds_to_connect"], "rss_before_kb": before,
            "rss_after_kb": after, "kb_per_connection": (after - before) / max(1, line["connections"])}


def main():
    ap = tool_args(__doc__)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--fanout-subscribers", type=int, default=1000)
    ap.add_argument("--fanout-messages", type=int, default=100)
    ap.add_argument("--latency-messages", type=int, default=2000)
    ap.add_argument("--idle-connections", type=int, default=10_000)
    ap.add_argument("--skip-idle", action="store_true")
    ap.add_argument("--shadow", action="store_true", help="only the durable shadow-update benchmark (Thingbox)")
    ap.add_argument("--policy-cost", action="store_true",
                    help="only measure QoS 0 throughput with a 2-statement vs a 10-statement policy (Thingbox)")
    ap.add_argument("--latency-rounds", type=int, default=0,
                    help="only QoS 1 round trips: this many interleaved rounds of --latency-messages against "
                         "Thingbox (history on, the default), Thingbox with --history-messages=0, and mosquitto")
    ap.add_argument("--latency-also", action="append", default=[], metavar="FLAG",
                    help="with --latency-rounds: one more Thingbox in the rounds, started with this extra flag "
                         "(repeat), e.g. --latency-also=--worker-threads=2")
    a = ap.parse_args()
    if a.latency_rounds:
        return latency_rounds(a)
    if a.policy_cost:
        return policy_cost(a)
    if a.shadow:
        return shadow_bench(a)

    work = Path(tempfile.mkdtemp(prefix="tb-mqtt-bench-"))
    data = str(work / "data")
    results = {}
    try:
        thingbox, ep = start_thingbox(a.thingbox, data, *a.thingbox_arg)
        cert, key = issue_device(ep["api"], work)
        tls = {"ca": ep["root_ca"], "cert": str(cert), "key": str(key)}
        mosq = start_mosquitto(data, work)
        for broker in (thingbox, mosq):
            r = results.setdefault(broker.name, {})
            r["qos0"] = bench(a.tool, broker, tls, "throughput", "--qos", "0", "--messages", str(a.messages))
            r["qos1"] = bench(a.tool, broker, tls, "throughput", "--qos", "1", "--messages", str(a.messages // 2))
            r["fanout"] = bench(a.tool, broker, tls, "fanout", "--subscribers", str(a.fanout_subscribers),
                                "--messages", str(a.fanout_messages))
            r["latency"] = bench(a.tool, broker, tls, "latency", "--messages", str(a.latency_messages))
            if not a.skip_idle:
                r["idle"] = idle_rss(a.tool, broker, tls, a.idle_connections)
        thingbox.stop()
        mosq.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(json.dumps(results, indent=1), file=sys.stderr)
    t, m = results["Thingbox"], results["mosquitto"]

    def tp(r):
        return f"{r['msgs_per_sec']:,.0f} ({r['received']:,}/{r['sent']:,} delivered)"

    rows = [
        ("QoS 0 msgs/s, 1→1, 64 B", tp(t["qos0"]), tp(m["qos0"]), t["qos0"]["msgs_per_sec"] / m["qos0"]["msgs_per_sec"]),
        ("QoS 1 msgs/s, 1→1, 64 B", tp(t["qos1"]), tp(m["qos1"]), t["qos1"]["msgs_per_sec"] / m["qos1"]["msgs_per_sec"]),
        (f"Fan-out 1→{a.fanout_subscribers}, deliveries/s",
         f"{t['fanout']['deliveries_per_sec']:,.0f} ({t['fanout']['delivered']:,}/{t['fanout']['expected']:,})",
         f"{m['fanout']['deliveries_per_sec']:,.0f} ({m['fanout']['delivered']:,}/{m['fanout']['expected']:,})",
         t["fanout"]["deliveries_per_sec"] / m["fanout"]["deliveries_per_sec"]),
        ("QoS 1 round trip p50 / p99", f"{t['latency']['p50_ms']:.3f} / {t['latency']['p99_ms']:.3f} ms",
         f"{m['latency']['p50_ms']:.3f} / {m['latency']['p99_ms']:.3f} ms", None),
    ]
    if not a.skip_idle:
        rows.append((f"RSS per idle mTLS connection ({a.idle_connections:,} connections)",
                     f"{t['idle']['kb_per_connection']:.1f} KB", f"{m['idle']['kb_per_connection']:.1f} KB", None))
    print("| measure | Thingbox | mosquitto 2.0.11 | Thingbox ÷ mosquitto |")
    print("|---|---|---|---|")
    for name, tv, mv, ratio in rows:
        print(f"| {name} | {tv} | {mv} | {'' if ratio is None else f'{ratio:.2f}×'} |")


ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}

SHADOW_LUA = """
local n = 0
function setup(thread) n = n + 1; thread:set("tid", n) end
local i = 0
function request()
  i = i + 1
  return wrk.format("POST", "/things/http-bench-" .. tid .. "-" .. (i % 25) .. "/shadow",
    {["Authorization"] = "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/iotdata/aws4_request, SignedHeaders=host, Signature=0"},
    '{"state":{"reported":{"n":' .. i .. '}}}')
end
"""


def shadow_bench(a):
    """Durable shadow updates: 100 devices over mutual TLS, each updating its own shadow and waiting
    for /update/accepted (sent only after the SQLite commit); then the same through HTTP with wrk."""
    import re
    work = Path(tempfile.mkdtemp(prefix="tb-shadow-bench-"))
    try:
        thingbox, ep = start_thingbox(a.thingbox, str(work / "d"))
        cert, key = issue_device(ep["api"], work, "all", ALLOW_ALL, "shadow")
        tls = {"ca": ep["root_ca"], "cert": str(cert), "key": str(key)}
        mqtt = bench(a.tool, thingbox, tls, "shadow", "--devices", "100", "--updates", "200")
        port = ep["api"].rsplit(":", 1)[1]
        lua = work / "shadow.lua"
        lua.write_text(SHADOW_LUA)
        out = subprocess.run(["wrk", "-t1", "-c32", "-d10s", "--latency", "-s", str(lua), f"http://127.0.0.1:{port}"],
                             capture_output=True, text=True, check=True).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        p50 = re.search(r"50%\s+([\d.]+\w+)", out).group(1)
        p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        thingbox.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| path | durable shadow updates/s | accept latency p50 / p99 |")
    print("|---|---|---|")
    print(f"| MQTT, 100 devices (mutual TLS, QoS 1, one update in flight per device) | "
          f"{mqtt['updates_per_sec']:,.0f} ({mqtt['updates']:,} updates) | {mqtt['p50_ms']:.2f} / {mqtt['p99_ms']:.2f} ms |")
    errors = f" ({bad.group(1)} errors)" if bad else ""
    print(f"| HTTP UpdateThingShadow, wrk -t1 -c32 -d10s | {rps:,.0f}{errors} | {p50} / {p99} |")


def latency_rounds(a):
    """Round-trip latency, interleaved so that machine noise hits every broker alike; prints the
    median of each broker's per-round p50 and p99."""
    import statistics
    work = Path(tempfile.mkdtemp(prefix="tb-latency-bench-"))
    variants = [("Thingbox (history on)", []), ("Thingbox (history off)", ["--history-messages=0"]),
                *((f"Thingbox ({flag})", [flag]) for flag in a.latency_also)]
    brokers = []
    try:
        for i, (name, flags) in enumerate(variants):
            broker, ep = start_thingbox(a.thingbox, str(work / f"data{i}"), *flags, *a.thingbox_arg)
            brokers.append((name, broker, None))
            cert, key = map(str, issue_device(ep["api"], work, prefix=f"device{i}"))
            brokers[-1] = (name, broker, {"cert": cert, "key": key, "ca": ep["root_ca"]})
        # mosquitto serves the first Thingbox's TLS material and trusts the same device certificate.
        brokers.append(("mosquitto 2.0.11", start_mosquitto(str(work / "data0"), work), brokers[0][2]))
        rounds = {name: [] for name, _, _ in brokers}
        for _ in range(a.latency_rounds):
            for name, broker, tls in brokers:
                rounds[name].append(bench(a.tool, broker, tls, "latency", "--messages", str(a.latency_messages)))
    finally:
        for _, broker, _ in brokers:
            broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"QoS 1 round trip, {a.latency_rounds} interleaved rounds of {a.latency_messages:,}: median p50 / p99 (ms)")
    print("| broker | p50 | p99 | p99 of each round |")
    print("|---|---|---|---|")
    for name, runs in rounds.items():
        p50 = statistics.median(r["p50_ms"] for r in runs)
        p99 = statistics.median(r["p99_ms"] for r in runs)
        each = ", ".join(f"{r['p99_ms']:.3f}" for r in runs)
        print(f"| {name} | {p50:.3f} | {p99:.3f} | {each} |")


def best_of_3(a, broker, tls, port=None):
    return max((bench(a.tool, broker, tls, "throughput", "--qos", "0", "--messages", str(a.messages), port=port)
                for _ in range(3)), key=lambda r: r["msgs_per_sec"])


def create_policy(api, name, policy):
    r = urllib.request.Request(f"{api}/policies/{name}", data=json.dumps({"policyDocument": json.dumps(policy)}).encode(),
                               method="POST")
    urllib.request.urlopen(r).read()


def policy_cost(a):
    """The same plain-listener traffic without any check (built-in thingbox-plain-allow-all) and held
    to a named 10-statement policy, on two servers running side by side with the runs interleaved
    (so that order and machine noise hit both alike); then mutual-TLS certificates with 2 and 10
    statements."""
    work = Path(tempfile.mkdtemp(prefix="tb-policy-bench-"))
    runs = {}
    free_label = "plain listener, no check (built-in allow-all)"
    checked_label = "plain listener, 10-statement policy (--plain-policy)"
    try:
        free, ep_free = start_thingbox(a.thingbox, str(work / "a"))
        checked, ep_checked = start_thingbox(a.thingbox, str(work / "b"), "--plain-policy", "ten")
        create_policy(ep_checked["api"], "ten", TEN_STATEMENTS)
        port = lambda ep: int(ep["mqtt"].rsplit(":", 1)[1])  # noqa: E731
        samples = {free_label: [], checked_label: []}
        for _ in range(3):
            samples[free_label].append(bench(a.tool, free, None, "throughput", "--qos", "0", "--messages", str(a.messages), port=port(ep_free)))
            samples[checked_label].append(bench(a.tool, checked, None, "throughput", "--qos", "0", "--messages", str(a.messages), port=port(ep_checked)))
        for label, rs in samples.items():
            runs[label] = max(rs, key=lambda r: r["msgs_per_sec"])
        checked.stop()
        simple = issue_device(ep_free["api"], work, "bench", ALLOW_BENCH, "simple")
        ten = issue_device(ep_free["api"], work, "ten", TEN_STATEMENTS, "ten")
        for label, (cert, key) in (("mTLS certificate, 2 statements", simple),
                                   ("mTLS certificate, 10 statements with variables", ten)):
            runs[label] = best_of_3(a, free, {"ca": ep_free["root_ca"], "cert": str(cert), "key": str(key)})
        free.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| setup | QoS 0 msgs/s, 1→1, 64 B (best of 3) |")
    print("|---|---|")
    for label, r in runs.items():
        print(f"| {label} | {r['msgs_per_sec']:,.0f} ({r['received']:,}/{r['sent']:,} delivered) |")
    base, ten = runs[free_label]["msgs_per_sec"], runs[checked_label]["msgs_per_sec"]
    print(f"\nCost of checking a 10-statement policy on every publish and delivery: {100 * (1 - ten / base):.1f} % of throughput")


if __name__ == "__main__":
    main()
