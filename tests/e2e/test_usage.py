"""Metering and the cost estimate, counted exactly for a scripted workload: a device (paho, mutual
TLS, client id = its thing) connects, subscribes, publishes small and large messages and gets
them back, a rule fires and republishes, iot-data publishes over HTTP, boto3 reads and writes the
registry and a shadow, a job goes to the thing. The totals, the per-thing rows, the estimate,
`thingbox usage`, a restart and a user's price table are checked against AWS's metering rules
(5 KB message units, 1 KB shadow units, one minute per connection)."""

import json
import subprocess

from conftest import BIN, ROOT, wait_for
from mqtt_helpers import Client, Device
from playwright.sync_api import expect

from test_console import browser, go, page  # noqa: F401  (fixtures)
from test_viewer import call

ROLE = "arn:aws:iam::000000000000:role/r"
THING = "meter-lamp"


def usage(server, days=1):
    status, _, body = call(server, f"/console/api/usage?days={days}")
    assert status == 200, body
    return body


def workload(server, tmp_path):
    iot = server.client()
    iot.create_thing(thingName=THING)                                     # registry op 1
    d = Device(iot, tmp_path)
    iot.attach_thing_principal(thingName=THING, principal=d.arn)          # registry op 2
    iot.create_topic_rule(ruleName="meter_big", topicRulePayload={
        "sql": "SELECT * FROM 'meter/big'", "actions": [{"republish": {"topic": "meter/echo", "roleArn": ROLE, "qos": 0}}]})
    c = Client(server, client_id=THING, device=d)
    c.connect()                                                           # CONNECT: 1 message
    c.subscribe("meter/echo", qos=0)                                      # SUBSCRIBE: 1
    for i in range(5):
        c.publish("meter/echo", bytes([65 + i]) * 100, qos=0)             # 5 in, 5 back out
    c.publish("meter/big", b"x" * 6000, qos=0)                            # 6,009 bytes: 2 in
    got = [c.recv() for _ in range(6)]                                    # the republish: 2 out
    assert sorted(len(m.payload) for m in got) == [100] * 5 + [6000]
    c.close()                                                             # 1 connection minute
    wait_for(lambda: not any(x["clientId"] == THING for x in
                             call(server, "/console/api/connections")[2]["connections"]), what="the disconnect")
    data = server.client("iot-data")
    data.publish(topic="meter/http", payload=b"0123456789")               # HTTP: 1 + 1 (response)
    data.update_thing_shadow(thingName=THING, payload=json.dumps(
        {"state": {"reported": {"blob": "y" * 1900}}}).encode())          # ~1.9 KB: 2 shadow units
    data.get_thing_shadow(thingName=THING)                                # 1 shadow unit
    iot.describe_thing(thingName=THING)                                   # registry op 3
    iot.list_things()                                                     # registry op 4
    iot.create_job(jobId="meter-job", targets=[f"arn:aws:iot:us-east-1:000000000000:thing/{THING}"],
                   document='{"op": "noop"}')                             # 1 job execution


EXPECTED = {"messages": 18, "connectionMinutes": 1, "registryOperations": 4, "shadowOperations": 3,
            "rulesTriggered": 2, "actionsExecuted": 2, "jobExecutions": 1}


def test_a_scripted_workload_is_metered_exactly_priced_and_kept(fresh_server, tmp_path):
    s = fresh_server().start()
    workload(s, tmp_path)
    u = wait_for(lambda: (x := usage(s))["totals"] == EXPECTED and x, timeout=10,
                 what=f"the totals to be {EXPECTED} (last: {usage(s)['totals']})")
    things = {t["thing"]: t["metrics"] for t in u["things"]}
    assert things[THING] == {"messages": 16, "connectionMinutes": 1, "shadowOperations": 3, "jobExecutions": 1}
    assert things[""] == {"messages": 2, "registryOperations": 4, "rulesTriggered": 2, "actionsExecuted": 2}
    assert len(u["days"]) == 1 and u["days"][0]["metrics"] == EXPECTED
    e = u["estimate"]
    assert e["source"] == "built in" and e["region"] == "us-east-1" and e["currency"] == "USD"
    by = {l["metric"]: l for l in e["lines"]}
    assert by["messages"]["cost"] == 18 * 1.00 / 1_000_000
    assert by["jobExecutions"]["cost"] == 0.003
    assert abs(e["total"] - sum(l["cost"] for l in e["lines"])) < 1e-12

    # The command prints the same.
    out = subprocess.run([str(BIN), "usage", "--days", "1", "--data-dir", str(s.data_dir)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = {ln.split()[0]: ln.split()[1:] for ln in out.stdout.splitlines() if ln.split()}
    assert lines["messages"][0] == "18" and lines["jobExecutions"][0] == "1"
    assert f"{THING}: " in out.stdout

    # Kept across a restart.
    assert s.stop() == 0
    s2 = fresh_server(data_dir=s.data_dir).start()
    assert usage(s2)["totals"] == EXPECTED

    # The user's price table replaces the built-in one; a broken one is refused with its name.
    table = json.loads((ROOT / "assets" / "prices" / "aws-iot-core.json").read_text())
    table["prices"]["messages"]["price"] = 2.0
    (s2.data_dir / "prices.json").write_text(json.dumps(table))
    e = usage(s2)["estimate"]
    assert e["source"].endswith("prices.json")
    assert {l["metric"]: l["cost"] for l in e["lines"]}["messages"] == 18 * 2.0 / 1_000_000
    (s2.data_dir / "prices.json").write_text('{"date": "x"}')
    status, headers, body = call(s2, "/console/api/usage")
    assert status == 400 and headers["x-amzn-ErrorType"].startswith("InvalidRequestException")
    assert "prices.json" in body["message"]


def test_the_overview_page_shows_usage_and_its_cost(server, page):
    server.client("iot-data").publish(topic="meter/ui", payload=b"x" * 6000)   # 2 + 1 messages
    wait_for(lambda: usage(server, 30)["totals"]["messages"] >= 3, what="the publish to be metered")
    go(page, server, "overview")
    row = page.locator("#usage tr[data-metric='messages'] td").nth(1)
    expect(row).not_to_have_text("0")
    expect(page.locator("#usage-total")).to_contain_text("USD")
    expect(page.locator("#usage-days rect")).to_have_count(1)
