"""The Message flow page in headless Chromium: a message clicked in the topic viewer opens its
trace (publisher, policy, subscribers, sends); a trace session armed from the page traces a
client's every message, which the search finds; a rule's firing and the message it caused are
linked; "why not" answers from the subscription table; a thing's page leads to its traces."""

import json
import uuid

from playwright.sync_api import expect

from mqtt_helpers import Client
from test_console import browser, go, page, shot  # noqa: F401  (fixtures)
from conftest import wait_for
from test_rules import republish, rule, uniq
from test_viewer import call


def step(page, title):
    return page.locator(f"#trace-steps .trace-step:has(.step-title:text-is('{title}'))")


def test_a_viewer_message_opens_its_trace(server, page):
    sub = Client(server, client_id=f"ui-sub-{uuid.uuid4().hex[:6]}")
    sub.connect()
    sub.subscribe("ui/trace/+", qos=1)
    dev = Client(server, client_id=f"ui-pub-{uuid.uuid4().hex[:6]}")
    dev.connect()
    try:
        go(page, server, "messages")
        expect(page.locator("#totals .dot.on")).to_be_visible()
        dev.publish("ui/trace/temp", json.dumps({"t": 21}), qos=1)
        assert sub.recv().topic == "ui/trace/temp"

        def acked():
            listed = call(server, f"/console/api/traces?client={dev.client_id}")[2]["traces"]
            return listed and any(st["kind"] == "acknowledged"
                                  for st in call(server, f"/console/api/traces/{listed[0]['id']}")[2]["steps"])

        wait_for(acked, what="the subscriber's PUBACK in the trace")
        row = page.locator("#message-list .msg-row", has_text="ui/trace/temp").first
        row.click()
        expect(page.locator("#trace-link")).to_have_text("Trace ✓")
        page.click("#trace-link")
        steps = page.locator("#trace-steps .trace-step")
        expect(page.locator("#trace-facts")).to_contain_text(dev.client_id)
        expect(steps.filter(has_text="Published")).to_contain_text("plain listener")
        expect(steps.filter(has_text="iot:Publish")).to_contain_text("thingbox-plain-allow-all")
        expect(steps.filter(has_text=f"Subscriber {sub.client_id}")).to_contain_text("queued for its connection")
        expect(steps.filter(has_text=f"Sent to {sub.client_id}")).to_contain_text("QoS 1")
        expect(steps.filter(has_text=f"Acknowledged by {sub.client_id}")).to_be_visible()
        expect(page.locator("#trace-outcome")).to_have_text("sent to 1")
        shot(page, "trace-detail")
    finally:
        dev.close()
        sub.close()


def test_arm_search_rules_and_why_not(server, iot, page):
    cid = f"ui-oven-{uuid.uuid4().hex[:6]}"
    name = rule(iot, uniq("uihot"), "SELECT temp FROM 'ui/oven/+' WHERE temp > 50", [republish("ui/alarm")])
    watcher = Client(server, client_id=f"ui-watch-{uuid.uuid4().hex[:6]}")
    watcher.connect()
    watcher.subscribe("#", qos=0)
    dev = Client(server, client_id=cid)
    dev.connect()
    try:
        go(page, server, "trace")
        page.fill("#arm-client", cid)
        page.fill("#arm-minutes", "5")
        page.click("#arm-go")
        expect(page.locator("#armed")).to_contain_text(f"client {cid}")
        dev.publish("ui/oven/1", json.dumps({"temp": 20}), qos=1)
        dev.publish("ui/oven/1", json.dumps({"temp": 95}), qos=1)
        # The page reads the list once per search: wait until the rules engine has had both.
        def rule_steps():
            listed = call(server, f"/console/api/traces?client={cid}")[2]["traces"]
            return [s for t in listed for s in call(server, f"/console/api/traces/{t['id']}")[2]["steps"]
                    if s["kind"] == "rule"]

        wait_for(lambda: len(rule_steps()) == 2, what="both rule steps")
        page.fill("#trace-client", cid)
        page.fill("#trace-topic", "ui/oven/#")
        page.click("#trace-search-go")
        rows = page.locator("#traces .trace-row")
        expect(rows).to_have_count(2)
        expect(rows.first).to_contain_text("1 rule fired")
        shot(page, "trace-list")
        rows.first.click()
        expect(step(page, f"Rule {name}")).to_contain_text("WHERE true")
        caused = page.locator("#trace-steps a.caused")
        expect(caused).to_have_count(1)
        caused.click()
        expect(page.locator("#trace-facts")).to_contain_text("ui/alarm")
        expect(page.locator("#trace-facts")).to_contain_text("caused by")

        # The cooler message: WHERE false, nothing fired.
        go(page, server, f"trace/client/{cid}")
        expect(page.locator("#trace-client")).to_have_value(cid)
        page.locator("#traces .trace-row").last.click()
        expect(step(page, f"Rule {name}")).to_contain_text("WHERE false")

        # Why not: `#` never matches a $ topic.
        go(page, server, "trace")
        page.fill("#why-client", watcher.client_id)
        page.fill("#why-topic", "$aws/things/ui-lamp/shadow/update")
        page.click("#why-go")
        expect(page.locator("#why-verdict")).to_contain_text("starting with $")
        expect(page.locator(".why-finding[data-ok='false']", has_text="subscription")).to_contain_text("'#' starts with a wildcard")
        page.fill("#why-topic", "ui/oven/1")
        page.click("#why-go")
        expect(page.locator("#why-verdict")).to_contain_text("would receive")
        expect(page.locator("#why-last")).to_be_visible()
        shot(page, "trace-why-not")
    finally:
        dev.close()
        watcher.close()
        iot.delete_topic_rule(ruleName=name)


def test_a_things_page_leads_to_its_traces(server, iot, page):
    thing = f"ui-tracething-{uuid.uuid4().hex[:6]}"
    iot.create_thing(thingName=thing)
    go(page, server, f"things/{thing}")
    page.click("#thing-traces")
    expect(page.locator("#trace-client")).to_have_value(thing)
    expect(page.locator("#traces-empty")).to_be_visible()
