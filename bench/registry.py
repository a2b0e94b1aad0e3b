#!/usr/bin/env python3
"""Registry benchmarks (see docs/benchmarks.md): cold start to endpoints.json with 10,000 things,
and CreateThing / DescribeThing requests per second with wrk, Thingbox beside moto's server in the
same run. Prints a Markdown table. Not a test: it measures, it does not judge."""

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import free_port, start_serve, wait_port  # noqa: E402

AUTH = "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/iot/aws4_request, SignedHeaders=host, Signature=0"


def start_thingbox(binary, data_dir):
    proc, ep = start_serve(binary, data_dir)
    return proc, int(ep["api"].rsplit(":", 1)[1])


def stop(proc):
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)


def seed(port, count, workers=8):
    def batch(start):
        conn = http.client.HTTPConnection("127.0.0.1", port)
        for i in range(start, min(start + 500, count)):
            conn.request("POST", f"/things/seed-{i}", body='{"attributePayload":{"attributes":{"n":"%d"}}}' % i,
                         headers={"Authorization": AUTH, "Content-Type": "application/json"})
            res = conn.getresponse()
            res.read()
            assert res.status == 200, res.status
        conn.close()

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(batch, range(0, count, 500)))
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("POST", "/things/lamp-1", body="{}", headers={"Authorization": AUTH})
    assert conn.getresponse().status == 200


def cold_start(binary, things, runs):
    data = tempfile.mkdtemp(prefix="tb-bench-")
    try:
        proc, port = start_thingbox(binary, data)
        seed(port, things)
        stop(proc)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            proc, _ = start_thingbox(binary, data)
            times.append((time.perf_counter() - t0) * 1000)
            stop(proc)
        return statistics.median(times), max(times)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def wrk(port, script, seconds, connections, threads, prefix):
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(HERE / script),
         f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, env={**os.environ, "BENCH_PREFIX": prefix}, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    if bad:
        raise RuntimeError(f"{script}: {bad.group(1)} error responses\n{out}")
    return rps, p99.group(1) if p99 else "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--thingbox", required=True, help="path to a release build of thingbox")
    ap.add_argument("--moto", help="path to moto_server (omit to skip moto)")
    ap.add_argument("--things", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    rows = []
    med, worst = cold_start(a.thingbox, a.things, a.runs)
    rows.append(("Cold start to endpoints.json, %d things (median / max of %d)" % (a.things, a.runs),
                 f"{med:.0f} ms / {worst:.0f} ms", "—"))

    data = tempfile.mkdtemp(prefix="tb-bench-")
    proc, tb_port = start_thingbox(a.thingbox, data)
    seed(tb_port, 0)
    moto_proc = moto_port = None
    if a.moto:
        moto_port = free_port()
        moto_proc = subprocess.Popen([a.moto, "-p", str(moto_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(moto_port)
        seed(moto_port, 0)
    try:
        for label, script in (("CreateThing", "create_thing.lua"), ("DescribeThing", "describe_thing.lua")):
            tb = wrk(tb_port, script, a.seconds, a.connections, a.threads, "tb")
            mo = wrk(moto_port, script, a.seconds, a.connections, a.threads, "moto") if a.moto else None
            ratio = f" ({tb[0] / mo[0]:.0f}× moto)" if mo else ""
            rows.append((f"{label} req/s (p99 latency)", f"{tb[0]:,.0f} ({tb[1]}){ratio}",
                         f"{mo[0]:,.0f} ({mo[1]})" if mo else "—"))
    finally:
        stop(proc)
        shutil.rmtree(data, ignore_errors=True)
        if moto_proc:
            moto_proc.terminate()
            moto_proc.wait()

    print(f"wrk -t{a.threads} -c{a.connections} -d{a.seconds}s, {os.cpu_count()} cores\n")
    print("| measure | Thingbox | moto_server |")
    print("|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    sys.exit(main())
