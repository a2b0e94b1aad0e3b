"""Soak: Thingbox under a steady mixed load for an hour (by default) — 1,000 idle mutual-TLS
connections, 1,000 msgs/s over 1,000 topics from 4 publishers to one subscriber, shadow updates and
registry calls over HTTP (20 and 5 a second), and a QoS 1 round-trip probe over MQTT every second —
with the engine's RSS read every 5 s. Prints the verdict (RSS growth after the warm-up, errors,
p99 per window: five minutes in an hour's run) and writes the samples as JSON and a plot (PNG).

    scripts/bench soak [--minutes 60] [--out docs/soak]
"""

import json
import queue
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import raise_fd_limit, start_serve, tool_args  # noqa: E402
from mqtt import issue_device, rss_kb  # noqa: E402



def window_s(seconds):
    """The p99 window: five minutes for an hour's run, shorter for short ones (12 windows)."""
    return max(30, min(300, seconds // 12))


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))] if xs else None


def call(api, method, path, body=None, service=None):
    headers = {}
    if service:
        headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential=SOAK/20260101/us-east-1/{service}/aws4_request, "
                                    "SignedHeaders=host, Signature=0")
    req = urllib.request.Request(api + path, data=body, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


class Recorder:
    """Latencies (ms) and errors per kind, with the time of each."""

    def __init__(self):
        self.lock = threading.Lock()
        self.samples = {"api": [], "mqtt": []}
        self.errors = []

    def ok(self, kind, t, ms):
        with self.lock:
            self.samples[kind].append((t, ms))

    def error(self, kind, t, what):
        with self.lock:
            self.errors.append((t, kind, what))


def api_load(api, rec, stop, t0):
    """20 shadow updates and 5 registry calls a second, paced."""
    n = 0
    next_at = time.monotonic()
    while not stop.is_set():
        n += 1
        started = time.monotonic()
        try:
            if n % 5 == 0:
                name = f"soak-reg-{n % 500}"
                op = n // 5 % 3
                if op == 0:
                    call(api, "POST", f"/things/{name}", json.dumps({"attributePayload": {"attributes": {"n": str(n)}}}).encode())
                elif op == 1:
                    call(api, "GET", "/things?maxResults=50")
                else:
                    call(api, "DELETE", f"/things/{name}")
            else:
                body = json.dumps({"state": {"reported": {"n": n, "pad": "x" * 200}}}).encode()
                call(api, "POST", f"/things/soak-shadow-{n % 100}/shadow", body, service="iotdata")
            rec.ok("api", started - t0, (time.monotonic() - started) * 1000)
        except Exception as e:  # noqa: BLE001 - every failure is a finding
            rec.error("api", started - t0, repr(e)[:200])
        next_at += 1 / 25
        time.sleep(max(0.0, next_at - time.monotonic()))


def mqtt_probe(ep, tls, rec, stop, t0):
    import paho.mqtt.client as mqtt

    got = queue.Queue()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"soak-probe-{uuid.uuid4().hex[:6]}")
    ctx = ssl.create_default_context(cafile=tls["ca"])
    ctx.load_cert_chain(tls["cert"], tls["key"])
    c.tls_set_context(ctx)
    c.on_message = lambda _c, _u, m: got.put(m.payload)
    host, port = ep["mqtt_tls"].rsplit(":", 1)
    c.connect("localhost", int(port), keepalive=30)
    c.loop_start()
    c.subscribe("bench/soak/probe", 1)
    time.sleep(1)
    seq = 0
    while not stop.is_set():
        seq += 1
        started = time.monotonic()
        c.publish("bench/soak/probe", str(seq).encode(), qos=1)
        try:
            while got.get(timeout=5) != str(seq).encode():
                pass
            rec.ok("mqtt", started - t0, (time.monotonic() - started) * 1000)
        except queue.Empty:
            rec.error("mqtt", started - t0, f"probe {seq} not back within 5 s")
        time.sleep(max(0.0, 1 - (time.monotonic() - started)))
    c.loop_stop()
    c.disconnect()


def plot(out, rss, verdict):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    a.plot([t / 60 for t, _ in rss], [kb / 1024 for _, kb in rss], color="tab:blue")
    a.set_ylabel("engine RSS (MB)")
    a.set_ylim(bottom=0)
    a.set_title(f"Thingbox soak: {verdict['minutes']} min — RSS growth after warm-up "
                f"{verdict['rss_growth_pct']:+.1f} %, errors {verdict['errors']}")
    win = verdict["window_s"]
    for kind, color in [("api", "tab:orange"), ("mqtt", "tab:green")]:
        w = verdict["p99_ms"][kind]
        b.plot([(i + 0.5) * win / 60 for i in range(len(w))], w, marker="o", color=color,
               label=f"{kind} p99 per {win / 60:g} min")
    b.set_ylabel("ms")
    b.set_xlabel("minutes")
    b.set_ylim(bottom=0)
    b.legend()
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=100)


def main():
    ap = tool_args(__doc__)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--out", default="docs/soak")
    a = ap.parse_args()
    seconds = int(a.minutes * 60)
    out = Path(a.out)
    with tempfile.TemporaryDirectory() as tmp:
        proc, ep = start_serve(a.thingbox, tmp, *a.thingbox_arg)
        cert, key = issue_device(ep["api"], Path(tmp))
        tls = {"ca": ep["root_ca"], "cert": str(cert), "key": str(key)}
        port = ep["mqtt_tls"].rsplit(":", 1)[1]
        base = [a.tool, "--host", "localhost", "--port", port, "--ca", tls["ca"], "--cert", tls["cert"], "--key", tls["key"]]
        idle = subprocess.Popen(base + ["idle", "--connections", str(a.connections)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, preexec_fn=raise_fd_limit)
        print("idle:", idle.stdout.readline().strip(), flush=True)
        load = subprocess.Popen(base + ["load", "--rate", str(a.rate), "--topics", "1000", "--seconds", str(seconds)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=raise_fd_limit)
        rec, stop = Recorder(), threading.Event()
        t0 = time.monotonic()
        workers = [threading.Thread(target=api_load, args=(ep["api"], rec, stop, t0), daemon=True),
                   threading.Thread(target=mqtt_probe, args=(ep, tls, rec, stop, t0), daemon=True)]
        for w in workers:
            w.start()
        rss = []
        while load.poll() is None:
            rss.append((time.monotonic() - t0, rss_kb(proc.pid)))
            if len(rss) % 60 == 0:
                print(f"{rss[-1][0] / 60:.0f} min: RSS {rss[-1][1] / 1024:.1f} MB, errors {len(rec.errors)}", flush=True)
            time.sleep(5)
        stop.set()
        for w in workers:
            w.join(15)
        load_result = json.loads(load.stdout.read().strip().splitlines()[-1])
        idle.stdin.close()
        idle.wait(60)
        alive = proc.poll() is None
        proc.terminate()
        proc.wait(20)

    warm = max(60.0, seconds * 0.1)
    after_warm = [kb for t, kb in rss if t >= warm] or [kb for _, kb in rss]
    growth = (after_warm[-1] / after_warm[0] - 1) * 100
    win = window_s(seconds)
    windows = max(1, int(seconds // win))
    verdict = {
        "minutes": a.minutes,
        "connections": a.connections,
        "rate": a.rate,
        "rss_mb_after_warmup": round(after_warm[0] / 1024, 1),
        "rss_mb_end": round(after_warm[-1] / 1024, 1),
        "rss_mb_max": round(max(kb for _, kb in rss) / 1024, 1),
        "rss_growth_pct": round(growth, 2),
        "errors": len(rec.errors),
        "first_errors": rec.errors[:10],
        "engine_alive_at_end": alive,
        "load": load_result,
        "window_s": win,
        "p99_ms": {k: [round(p99([ms for t, ms in v if i * win <= t < (i + 1) * win]) or 0, 2)
                       for i in range(windows)] for k, v in rec.samples.items()},
        "operations": {k: len(v) for k, v in rec.samples.items()},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"verdict": verdict, "rss_kb": rss}, indent=1))
    plot(out, rss, verdict)
    print(json.dumps(verdict, indent=1))
    ok = growth < 10 and not rec.errors and alive
    print("soak:", "PASS" if ok else "FAIL", f"(RSS growth {growth:+.1f} % after warm-up, {len(rec.errors)} errors)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
