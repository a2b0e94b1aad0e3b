"""The Rules page in headless Chromium: write a rule (SQL checked as you type, errors underlined),
dry-run it over messages from the history, build its actions from forms with the templates
previewed, save it through the AWS API, and watch it fire on device traffic — counters, the
firing's input, output and action results, and the republished message at a paho subscriber."""

import json
import uuid
from pathlib import Path

from playwright.sync_api import expect

from mqtt_helpers import Client
from test_console import browser, go, page, shot  # noqa: F401  (fixtures)


def test_build_dry_run_save_and_watch_a_rule_fire(server, iot, page):
    data = server.client("iot-data")
    dev = f"lamp{uuid.uuid4().hex[:6]}"
    # Traffic in the history for the dry run: one hot, one cool.
    data.publish(topic=f"building/{dev}/temp", payload=json.dumps({"temperature": 35, "unit": "C"}))
    data.publish(topic=f"building/{dev}/temp", payload=json.dumps({"temperature": 18, "unit": "C"}))

    go(page, server, "rules")
    expect(page.locator("#rules-engine")).to_contain_text("Rules engine")
    page.click("#new-rule")
    name = f"ui_rule_{uuid.uuid4().hex[:6]}"
    page.fill("#rule-name", name)

    # A typo is underlined where it is and named.
    editor = page.locator("#rule-sql")
    editor.fill("SELECT temperature, topic(2) AS device FORM 'building/+/temp'")
    expect(page.locator("#sql-validation")).to_contain_text("line 1, column 40: expected ',' or FROM, found 'FORM'")
    expect(page.locator(".sql-hl .err")).to_have_text("FORM")
    expect(page.locator("#save-rule")).to_be_disabled()
    shot(page, "rules-editor-error")
    editor.fill("SELECT temperature, topic(2) AS device FROM 'building/+/temp' WHERE temperature > 30")
    expect(page.locator("#sql-validation")).to_contain_text("valid SQL")
    expect(page.locator(".sql-hl .kw").first).to_have_text("SELECT")

    # The republish form, with a template.
    form = page.locator(".action-form").first
    form.locator('[data-field="topic"]').fill("alerts/${topic(2)}")
    form.locator('[data-field="qos"]').select_option("1")

    # Dry run over the history: one of the two messages fires; the template resolves.
    page.click("#dry-run-go")
    expect(page.locator("#dry-summary")).to_have_text("1 of 2 messages fire the rule.")
    expect(page.locator(".dry-row.fired .dry-output")).to_contain_text('"device": "' + dev + '"')
    expect(page.locator(".dry-row.fired .dry-target")).to_have_text(f"republish → alerts/{dev}")
    expect(form.locator(".template-preview")).to_contain_text(f"→ alerts/{dev}")
    # A pasted message as well.
    page.check("#dry-paste")
    page.fill("#dry-topic", "building/x1/temp")
    page.fill("#dry-payload", '{"temperature": 50}')
    page.click("#dry-run-go")
    expect(page.locator("#dry-summary")).to_have_text("1 of 1 messages fire the rule.")
    shot(page, "rules-editor-dry-run")

    # An errorAction and an HTTP action that will fail (nothing listens on port 9).
    page.select_option("#add-action-kind", "http")
    page.click("#add-action")
    page.locator('.action-form[data-kind="http"] [data-field="url"]').fill("http://127.0.0.1:9/hook")
    page.click("#add-error-action")
    page.locator('#error-action [data-field="topic"]').fill(f"errors/{dev}")
    expect(page.locator("#payload-validation")).to_contain_text("ready to save")
    page.click("#save-rule")

    # Saved through the AWS API: boto3 sees exactly what the form made.
    expect(page.locator("#rule-summary")).to_be_visible()
    got = iot.get_topic_rule(ruleName=name)["rule"]
    assert got["sql"] == "SELECT temperature, topic(2) AS device FROM 'building/+/temp' WHERE temperature > 30"
    assert got["actions"][0] == {"republish": {"topic": "alerts/${topic(2)}", "qos": 1,
                                               "roleArn": "arn:aws:iam::000000000000:role/thingbox-rules"}}
    assert got["actions"][1] == {"http": {"url": "http://127.0.0.1:9/hook"}}
    assert got["errorAction"]["republish"]["topic"] == f"errors/{dev}"

    # Live traffic: a paho device publishes, a paho subscriber gets the republished message and the
    # errorAction's report; the page shows the firing with each action's result.
    watcher = Client(server)
    watcher.connect()
    watcher.subscribe("alerts/#")
    watcher.subscribe(f"errors/{dev}")
    device = Client(server, client_id=dev)
    device.connect()
    device.publish(f"building/{dev}/temp", json.dumps({"temperature": 41}))
    received = {m.topic: json.loads(m.payload) for m in (watcher.recv(), watcher.recv())}
    assert received[f"alerts/{dev}"] == {"temperature": 41, "device": dev}
    assert received[f"errors/{dev}"]["failures"][0]["failedAction"] == "HttpAction"
    expect(page.locator("#stat-matched")).to_have_text("1")
    expect(page.locator("#stat-actions")).to_have_text("1 / 1")
    expect(page.locator("#rule-last-error")).to_contain_text("http http://127.0.0.1:9/hook")
    page.locator("#firings tr.firing").first.click()
    detail = page.locator(".firing-detail")
    expect(detail.locator("pre.input")).to_contain_text('"temperature": 41')
    expect(detail.locator("pre.output")).to_contain_text('"device": "' + dev + '"')
    expect(detail.locator('tr.action-result[data-outcome="ok"]').first).to_contain_text(f"alerts/{dev}")
    expect(detail.locator('tr.action-result[data-outcome="failed"]')).to_contain_text("http://127.0.0.1:9/hook")
    shot(page, "rules-detail")

    # The list: counters and the toggle; disabling goes through the AWS API.
    go(page, server, "rules")
    row = page.locator(f'tr[data-rule="{name}"]')
    expect(row.locator(".fired")).to_have_text("1 / 1")
    row.locator("button.toggle").click()
    expect(row.locator(".badge.warn")).to_have_text("disabled")
    assert iot.get_topic_rule(ruleName=name)["rule"]["ruleDisabled"] is True
    shot(page, "rules-list")
    device.publish(f"building/{dev}/temp", json.dumps({"temperature": 45}))
    watcher.nothing(0.5)
    device.close()
    watcher.close()
    iot.delete_topic_rule(ruleName=name)


def test_editing_a_rule_made_with_boto3(server, iot, page):
    name = f"edit_{uuid.uuid4().hex[:6]}"
    iot.create_topic_rule(ruleName=name, topicRulePayload={
        "sql": "SELECT * FROM 'edit/in'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"dynamoDBv2": {"roleArn": "arn:aws:iam::0:role/r", "putItem": {"tableName": "t1"}}},
                    {"sqs": {"roleArn": "arn:aws:iam::0:role/r", "queueUrl": "https://q.example/1"}}]})
    go(page, server, f"rules/{name}/edit")
    expect(page.locator('.action-form[data-kind="dynamoDBv2"] [data-field="putItem.tableName"]')).to_have_value("t1")
    expect(page.locator('.action-form[data-kind="sqs"] [data-field="queueUrl"]')).to_have_value("https://q.example/1")
    page.locator("#rule-sql").fill("SELECT * FROM 'edit/in' WHERE x = 1")
    page.locator('.action-form[data-kind="sqs"] button.danger').click()
    page.click("#save-rule")
    expect(page.locator("#rule-summary")).to_contain_text("WHERE")
    got = iot.get_topic_rule(ruleName=name)["rule"]
    assert got["sql"] == "SELECT * FROM 'edit/in' WHERE x = 1"
    assert got["actions"] == [{"dynamoDBv2": {"roleArn": "arn:aws:iam::0:role/r", "putItem": {"tableName": "t1"}}}]
    iot.delete_topic_rule(ruleName=name)


def test_local_tables_are_shown_exported_and_dropped(server, iot, page):
    name = f"tbl_{uuid.uuid4().hex[:6]}"
    table = f"readings_{uuid.uuid4().hex[:6]}"
    iot.create_topic_rule(ruleName=name, topicRulePayload={
        "sql": "SELECT device, temp FROM 'tables/in'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"dynamoDBv2": {"roleArn": "arn:aws:iam::0:role/r", "putItem": {"tableName": table}}}]})
    server.client("iot-data").publish(topic="tables/in", payload=json.dumps({"device": "d1", "temp": 20}))
    go(page, server, "rules")
    row = page.locator(f'#rule-tables tr[data-table="{table}"]')
    expect(row).to_contain_text("1")
    row.locator("button.view-table").click()
    expect(page.locator("#table-items")).to_contain_text('"device":"d1"')
    with page.expect_download() as dl:
        row.locator("button.export-table").click()
    assert json.loads(Path(dl.value.path()).read_text().splitlines()[0])["temp"] == 20
    row.locator("button", has_text="Drop").click()
    page.locator(".modal button.danger").click()
    expect(row).to_have_count(0)
    iot.delete_topic_rule(ruleName=name)
