#!/usr/bin/env python3
"""Jobs benchmark (docs/benchmarks.md, "Jobs"): a job over 10,000 things in one thing group.

1. Time to notify: `thingbox-bench notified` connects one device per thing (client id = thing
   name, each subscribed to its own `notify-next`); once all are subscribed, CreateJob is called
   and the clock runs until the last device has received its `notify-next`. CreateJob's own answer
   time (every execution is created, durably, before it answers) is reported beside it.
2. Durable execution updates per second: `thingbox-bench jobs` — 10 MQTT connections send every
   execution's UpdateJobExecution (SUCCEEDED, QoS 1, pipelined) and count the accepted replies,
   each sent only after its update is committed; then DescribeJob must say COMPLETED.
3. The dashboard's responsiveness meanwhile: during both phases a poller asks the console API for
   the job list and the job's detail (every execution: what the dashboard's pages load) in turn,
   and the latencies are reported (p50 and max).

No peer serves jobs locally, so there is nothing to run beside it. It measures; it does not judge."""

import json
import shutil
import statistics
import threading
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import raise_fd_limit, start_serve, tool_args  # noqa: E402


def api(ep, method, path, body=None):
    req = urllib.request.Request(ep["api"] + path, method=method, headers={"content-type": "application/json"},
                                 data=None if body is None else json.dumps(body).encode())
    text = urllib.request.urlopen(req, timeout=60).read()
    return json.loads(text) if text else {}


class Poller(threading.Thread):
    """Asks the console API for the job list and the job's detail, one after the other, until
    stopped; keeps each answer's latency."""

    def __init__(self, ep, token, job):
        super().__init__(daemon=True)
        self.ep, self.token, self.job = ep, token, job
        self.lat = {"list": [], "detail": []}
        self.stop = threading.Event()

    def get(self, path):
        req = urllib.request.Request(self.ep["api"] + path, headers={"x-thingbox-token": self.token})
        t0 = time.monotonic()
        urllib.request.urlopen(req, timeout=60).read()
        return time.monotonic() - t0

    def run(self):
        while not self.stop.is_set():
            self.lat["list"].append(self.get("/console/api/jobs"))
            try:
                self.lat["detail"].append(self.get(f"/console/api/jobs/{self.job}"))
            except urllib.error.HTTPError:
                pass  # not created yet
            self.stop.wait(0.05)

    def summary(self, kind):
        xs = sorted(self.lat[kind])
        return f"{statistics.median(xs) * 1000:.0f} / {xs[-1] * 1000:.0f} ms ({len(xs)})" if xs else "–"


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
        port = ep["mqtt"].rsplit(":", 1)[1]
        token = (work / "data" / "console-token").read_text().strip()
        poller = Poller(ep, token, "bench-job")

        # 1. Every thing connected and subscribed to its notify-next; then the job.
        devices = subprocess.Popen([a.tool, "--host", "127.0.0.1", "--port", port, "notified",
                                    "--things", str(a.things)], stdout=subprocess.PIPE, text=True,
                                   preexec_fn=raise_fd_limit)
        ready = json.loads(devices.stdout.readline())
        assert ready["ready"] == a.things, ready
        poller.start()
        t0 = time.time()
        api(ep, "PUT", "/jobs/bench-job", {"targets": [group], "document": json.dumps({"operation": "update"})})
        created = time.time() - t0
        heard = json.loads(devices.stdout.read().strip().splitlines()[-1])
        devices.wait(timeout=60)
        assert heard["notified"] == a.things, heard
        notify_all = heard["last_at_ms"] / 1000 - t0
        queued = api(ep, "GET", "/jobs/bench-job")["job"]["jobProcessDetails"]["numberOfQueuedThings"]
        assert queued == a.things, queued

        # 2. Devices finish their executions.
        out = subprocess.run([a.tool, "--host", "127.0.0.1", "--port", port, "jobs", "--job", "bench-job",
                              "--things", str(a.things), "--devices", str(a.devices)],
                             capture_output=True, text=True, check=True, timeout=600)
        poller.stop.set()
        poller.join()
        line = json.loads(out.stdout.strip().splitlines()[-1])
        job = api(ep, "GET", "/jobs/bench-job")["job"]
        assert job["status"] == "COMPLETED", job["status"]
        assert job["jobProcessDetails"]["numberOfSucceededThings"] == a.things
        print("| things | setup (create + add to group) | devices connected + subscribed | CreateJob answer "
              "(all executions durable) | last device notified | updates accepted | durable updates/s | "
              "console job list p50 / max | console job detail p50 / max |")
        print("|---|---|---|---|---|---|---|---|---|")
        print(f"| {a.things:,} | {setup:.1f} s | {ready['seconds_to_connect']:.1f} s | {created * 1000:.0f} ms | "
              f"{notify_all * 1000:.0f} ms | {line['accepted']:,} (rejected {line['rejected']}) | "
              f"{line['updates_per_sec']:,.0f} | {poller.summary('list')} | {poller.summary('detail')} |")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
