#!/usr/bin/env python3
"""Jobs benchmark (docs/benchmarks.md, "Jobs"): a job over 10,000 things in one thing group.

1. CreateJob's answer time (every execution is created, durably, before it answers) and the time
   until DescribeJob counts all of them QUEUED.
2. Durable execution updates per second: `thingbox-bench jobs` — 10 MQTT connections send every
   execution's UpdateJobExecution (SUCCEEDED, QoS 1, pipelined) and count the accepted replies,
   each sent only after its update is committed; then DescribeJob must say COMPLETED.

No peer serves jobs locally, so there is nothing to run beside it. It measures; it does not judge."""

import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import start_serve, tool_args  # noqa: E402


def api(ep, method, path, body=None):
    req = urllib.request.Request(ep["api"] + path, method=method, headers={"content-type": "application/json"},
                                 data=None if body is None else json.dumps(body).encode())
    text = urllib.request.urlopen(req, timeout=60).read()
    return json.loads(text) if text else {}


def main():
    ap = tool_args(__doc__)
    ap.add_argument("--things", type=int, default=10_000)
    ap.add_argument("--devices", type=int, default=10)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tb-jobs-bench-"))
    proc, ep = start_serve(a.thingbox, work / "data", *a.thingbox_arg)
    try:
        api(ep, "POST", "/thing-groups/fleet", {})

        def make(n):
            api(ep, "POST", f"/things/jb-{n}", {})
            api(ep, "PUT", "/thing-groups/addThingToThingGroup", {"thingGroupName": "fleet", "thingName": f"jb-{n}"})

        t0 = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(make, range(a.things)))
        setup = time.monotonic() - t0
        group = f"arn:aws:iot:us-east-1:{ep['account']}:thinggroup/fleet"
        t0 = time.monotonic()
        api(ep, "PUT", "/jobs/bench-job", {"targets": [group], "document": json.dumps({"operation": "update"})})
        created = time.monotonic() - t0
        queued = api(ep, "GET", "/jobs/bench-job")["job"]["jobProcessDetails"]["numberOfQueuedThings"]
        assert queued == a.things, queued
        port = ep["mqtt"].rsplit(":", 1)[1]
        out = subprocess.run([a.tool, "--host", "127.0.0.1", "--port", port, "jobs", "--job", "bench-job",
                              "--things", str(a.things), "--devices", str(a.devices)],
                             capture_output=True, text=True, check=True, timeout=600)
        line = json.loads(out.stdout.strip().splitlines()[-1])
        job = api(ep, "GET", "/jobs/bench-job")["job"]
        assert job["status"] == "COMPLETED", job["status"]
        assert job["jobProcessDetails"]["numberOfSucceededThings"] == a.things
        print(f"| things | setup (create + add to group) | CreateJob answer (all executions durable) | "
              f"updates accepted | durable updates/s |")
        print("|---|---|---|---|---|")
        print(f"| {a.things:,} | {setup:.1f} s | {created * 1000:.0f} ms | {line['accepted']:,} "
              f"(rejected {line['rejected']}) | {line['updates_per_sec']:,.0f} |")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
