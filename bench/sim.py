#!/usr/bin/env python3
"""Simulated devices at scale (docs/benchmarks.md, "Simulated devices"): `thingbox simulate` runs N
devices (default 10,000) against a `thingbox serve` on the same machine, each with its own
certificate (made through the AWS API, a P-256 key and CreateCertificateFromCsr), connected
through mutual TLS and publishing a generated JSON payload once a second (QoS 0, 200 ms jitter).

Reports the time until every device is online, then, over a steady window, the messages the fleet
sent per second, the CPU the `thingbox simulate` process used (cores, from /proc: user + system)
and its resident memory per device. The goal of the issue is ≥ 10,000 devices at 1 msg/s on at
most one core. It measures; it does not judge."""

import argparse
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import raise_fd_limit, start_serve  # noqa: E402

TICK = 100  # clock ticks per second (/proc)
LINE = re.compile(r"(\w+): (\d+)/(\d+) devices online, (\d+) provisioned, steps \d+/\d+, sent (\d+), received (\d+)")

SCENARIO = """name: scale
seed: 1
devices:
  - name: sim
    count: {n}
    telemetry:
      - topic: scale/${{thing}}/telemetry
        every: 1s
        jitter: 200ms
        payload: {{n: {{counter: {{}}}}, t: {{randomWalk: {{start: 20, step: 0.5, min: 0, max: 40}}}}, at: {{timestamp: ms}}}}
"""


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--thingbox", required=True)
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--window", type=int, default=30, help="seconds measured once every device is online")
    a = ap.parse_args()
    raise_fd_limit()
    work = Path(tempfile.mkdtemp(prefix="tb-sim-bench-"))
    server = sim = None
    try:
        server, ep = start_serve(a.thingbox, work / "data", "--history-messages", "0")
        scenario = work / "scale.yaml"
        scenario.write_text(SCENARIO.format(n=a.devices))
        t0 = time.monotonic()
        sim = subprocess.Popen([a.thingbox, "simulate", str(scenario), "--data-dir", str(work / "data")],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env={"RUST_LOG": "error", "PATH": "/usr/bin:/bin"}, preexec_fn=raise_fd_limit)
        base_rss = rss_mb(sim.pid)
        latest = {}

        def read():
            for line in sim.stdout:
                if m := LINE.search(line):
                    latest.update(phase=m[1], online=int(m[2]), devices=int(m[3]), sent=int(m[5]), at=time.monotonic())
        threading.Thread(target=read, daemon=True).start()
        while latest.get("online", 0) < a.devices:
            if sim.poll() is not None or time.monotonic() - t0 > 900:
                raise RuntimeError(f"the fleet did not come online: {latest}")
            time.sleep(0.5)
        online_after = latest["at"] - t0
        time.sleep(10)  # warm-up: telemetry timers spread over their first second, TLS done
        c0, s0, w0 = cpu_seconds(sim.pid), latest["sent"], latest["at"]
        time.sleep(a.window)
        c1, s1, w1 = cpu_seconds(sim.pid), latest["sent"], latest["at"]
        rss = rss_mb(sim.pid)
        result = {
            "devices": a.devices,
            "online_after_s": round(online_after, 1),
            "msgs_per_s": round((s1 - s0) / (w1 - w0), 1),
            "cpu_cores": round((c1 - c0) / a.window, 3),
            "rss_mb": round(rss, 1),
            "rss_per_device_kb": round((rss - base_rss) * 1024 / a.devices, 1),
            "server_rss_mb": round(rss_mb(server.pid), 1),
        }
        print(json.dumps(result, indent=2))
    finally:
        for p in (sim, server):
            if p and p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
