#!/usr/bin/env python3
"""Message-flow tracer benchmark (docs/benchmarks.md, "Tracer"): QoS 0 throughput, 1 publisher →
1 subscriber over mutual TLS (`thingbox-bench throughput`), with

- no armed trace session (the default sampling of up to 100 messages a second only),
- a trace session armed for another client (a user following one device while the fleet runs:
  every publish pays the armed-session check),
- a trace session armed for the benchmark's own publisher (each of its messages traced, up to the
  armed session's cap of 2,000 a second: identity, the explained policy decision, the subscriber's
  queueing and send, the viewer's number; the rest counted),

interleaved round by round on one server. It measures; it does not judge."""

import json
import shutil
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import tool_args  # noqa: E402
from mqtt import bench, issue_device, start_thingbox  # noqa: E402

MODES = {"none": None, "armed for another client": "some-other-device", "armed for the publisher": "bench-pub"}


def console(ep, method, path, body=None):
    req = urllib.request.Request(ep["api"] + path, method=method,
                                 headers={"content-type": "application/json",
                                          "x-thingbox-token": ep["console"].split("token=", 1)[1]},
                                 data=None if body is None else json.dumps(body).encode())
    text = urllib.request.urlopen(req, timeout=30).read()
    return json.loads(text) if text else {}


def main():
    ap = tool_args(__doc__)
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tb-trace-bench-"))
    runs = {m: [] for m in MODES}
    traced = {}
    thingbox = None
    try:
        thingbox, ep = start_thingbox(a.thingbox, str(work / "data"), *a.thingbox_arg)
        cert, key = issue_device(ep["api"], work)
        tls = {"ca": ep["root_ca"], "cert": str(cert), "key": str(key)}
        bench(a.tool, thingbox, tls, "throughput", "--json", "--qos", "0", "--messages", "20000")  # warm-up
        for _ in range(a.rounds):
            for mode, client in MODES.items():
                armed = client and console(ep, "POST", "/console/api/traces/arm", {"clientId": client, "minutes": 10})
                runs[mode].append(bench(a.tool, thingbox, tls, "throughput", "--json", "--qos", "0",
                                        "--messages", str(a.messages)))
                if armed:
                    listed = console(ep, "GET", "/console/api/traces?limit=1")
                    mine = next(x for x in listed["armed"] if x["id"] == armed["id"])
                    traced.setdefault(mode, []).append(f"{mine['traced']:,} (+{mine['skipped']:,} over the cap)")
                    console(ep, "DELETE", f"/console/api/traces/arm/{armed['id']}")
        thingbox.stop()
    finally:
        if thingbox and thingbox.proc.poll() is None:
            thingbox.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(json.dumps({"runs": runs, "traced": traced}, indent=1), file=sys.stderr)
    base = statistics.median(r["msgs_per_sec"] for r in runs["none"])
    print(f"| QoS 0, 1→1 over mTLS, {a.messages:,} messages | msgs/s (median of {a.rounds}) | vs none | messages traced |")
    print("|---|---|---|---|")
    for mode in MODES:
        m = statistics.median(r["msgs_per_sec"] for r in runs[mode])
        t = "; ".join(traced.get(mode, [])) or "sampled only (≤ 100/s)"
        print(f"| {mode} | {m:,.0f} | {m / base:.2f} | {t} |")


if __name__ == "__main__":
    main()
