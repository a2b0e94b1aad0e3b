#!/usr/bin/env python3
"""Rules engine benchmarks (docs/benchmarks.md, "Rules"):

1. AWS IoT SQL evaluations per second on one core, for a typical rule (`thingbox-bench sql`).
2. Broker throughput (1 publisher → 1 subscriber, mutual TLS, JSON payloads) with no rules and with
   10 active republish rules on the same topic, interleaved in the same run; for the rule runs,
   how many messages the rules engine received, dropped (its bounded queue) and republished.
3. Publish → rule → republished delivery round trip (QoS 1), beside the plain round trip.

It measures; it does not judge."""

import json
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import tool_args  # noqa: E402
from mqtt import bench, issue_device, start_thingbox  # noqa: E402

ROLE = "arn:aws:iam::000000000000:role/bench"


def api(ep, method, path, body=None, console=False):
    headers = {"content-type": "application/json"}
    if console:
        headers["x-thingbox-token"] = ep["console"].split("token=", 1)[1]
    req = urllib.request.Request(ep["api"] + path, method=method, headers=headers,
                                 data=None if body is None else json.dumps(body).encode())
    text = urllib.request.urlopen(req, timeout=30).read()
    return json.loads(text) if text else {}


def create_rules(ep, n):
    for i in range(n):
        api(ep, "POST", f"/rules/bench_republish_{i}", {
            "sql": "SELECT temperature, seq, topic(1) AS source FROM 'bench/tp' WHERE temperature > 0",
            "awsIotSqlVersion": "2016-03-23",
            "actions": [{"republish": {"topic": f"bench/out/{i}", "roleArn": ROLE, "qos": 0}}]})


def delete_rules(ep, n):
    for i in range(n):
        api(ep, "DELETE", f"/rules/bench_republish_{i}")


def rule_counters(ep, settled_from=None, expected=0):
    """The rules engine's counters; with `settled_from`, waits until it has taken (evaluated or dropped)
    `expected` messages since then, or nothing moved for two seconds."""
    def read():
        body = api(ep, "GET", "/console/api/rules", console=True)
        return body["engine"], sum(r["stats"]["actionsOk"] for r in body["rules"])
    now = read()
    if settled_from is None:
        return now
    last, still = now, time.monotonic()
    while True:
        taken = now[0]["received"] + now[0]["dropped"] - settled_from["received"] - settled_from["dropped"]
        if taken >= expected or time.monotonic() - still > 2:
            return now
        time.sleep(0.05)
        now = read()
        if now != last:
            last, still = now, time.monotonic()


def main():
    ap = tool_args(__doc__)
    # A million at QoS 0, half at QoS 1: rounds of 3-8 s. Rounds of 100,000 (under half a second)
    # moved the ratio by ±0.15 from run to run.
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rules", type=int, default=10)
    ap.add_argument("--latency-messages", type=int, default=2000)
    ap.add_argument("--qos", type=int, action="append", choices=[0, 1],
                    help="only this QoS (repeat); default both")
    a = ap.parse_args()

    sql = json.loads(__import__("subprocess").run([a.tool, "sql", "--seconds", "3"], capture_output=True, text=True,
                                                   check=True).stdout.strip().splitlines()[-1])
    work = Path(tempfile.mkdtemp(prefix="tb-rules-bench-"))
    results = {"sql": sql, "throughput": {}, "latency": {}}
    thingbox = None
    try:
        thingbox, ep = start_thingbox(a.thingbox, str(work / "data"), *a.thingbox_arg)
        cert, key = issue_device(ep["api"], work)
        tls = {"ca": ep["root_ca"], "cert": str(cert), "key": str(key)}
        for qos in a.qos or (0, 1):
            runs = {"none": [], "rules": [], "processed": []}
            n = a.messages if qos == 0 else a.messages // 2
            for _ in range(a.rounds):
                runs["none"].append(bench(a.tool, thingbox, tls, "throughput", "--json", "--qos", str(qos),
                                          "--messages", str(n)))
                create_rules(ep, a.rules)
                before, ok_before = rule_counters(ep)
                r = bench(a.tool, thingbox, tls, "throughput", "--json", "--qos", str(qos), "--messages", str(n))
                after, ok_after = rule_counters(ep, before, r["sent"])
                runs["rules"].append(r)
                runs["processed"].append({
                    "received": after["received"] - before["received"],
                    "dropped": after["dropped"] - before["dropped"],
                    "republished": ok_after - ok_before,
                    "expected": a.rules * r["received"],
                })
                delete_rules(ep, a.rules)
            results["throughput"][qos] = runs
        results["latency"]["plain"] = bench(a.tool, thingbox, tls, "latency", "--messages", str(a.latency_messages))
        api(ep, "POST", "/rules/bench_rtt", {"sql": "SELECT * FROM 'bench/rtt'", "awsIotSqlVersion": "2016-03-23",
                                            "actions": [{"republish": {"topic": "bench/rtt-out", "roleArn": ROLE, "qos": 1}}]})
        results["latency"]["rule"] = bench(a.tool, thingbox, tls, "latency", "--messages", str(a.latency_messages),
                                           "--reply-topic", "bench/rtt-out")
        thingbox.stop()
    finally:
        if thingbox and thingbox.proc.poll() is None:
            thingbox.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(json.dumps(results, indent=1), file=sys.stderr)
    print(f"SQL, one core, `{sql['sql']}` over a {sql['payload_bytes']}-byte payload:")
    print(f"- {sql['evals_per_sec_parsed_payload']:,.0f} evaluations/s (payload parsed once, shared by the rules "
          f"it matches), {sql['evals_per_sec_with_parse']:,.0f}/s counting one payload parse per evaluation\n")
    print(f"| 1→1 over mTLS, JSON payload | no rules | {a.rules} republish rules | ratio | rules engine: received / dropped / republished |")
    print("|---|---|---|---|---|")
    for qos, runs in results["throughput"].items():
        none = statistics.median(r["msgs_per_sec"] for r in runs["none"])
        with_rules = statistics.median(r["msgs_per_sec"] for r in runs["rules"])
        p = runs["processed"]
        proc = "; ".join(f"{x['received']:,} / {x['dropped']:,} / {x['republished']:,} of {x['expected']:,}" for x in p)
        print(f"| QoS {qos} msgs/s (median of {a.rounds}) | {none:,.0f} | {with_rules:,.0f} | {with_rules / none:.2f} | {proc} |")
    lp, lr = results["latency"]["plain"], results["latency"]["rule"]
    print(f"\nQoS 1 round trip, {a.latency_messages:,} messages: plain p50/p99 {lp['p50_ms']:.3f} / {lp['p99_ms']:.3f} ms; "
          f"publish → rule → republished delivery p50/p99 {lr['p50_ms']:.3f} / {lr['p99_ms']:.3f} ms")


if __name__ == "__main__":
    main()
