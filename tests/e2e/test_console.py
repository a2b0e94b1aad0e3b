"""The console in headless Chromium (Debian's, driven by Playwright): served by `thingbox serve` at
`/`, token-protected, live, and agreeing with the AWS clients, the Device SDK and the broker.
Screenshots of every page land in tests/artifacts/console/."""

import json
import os
import subprocess
import sys
import threading
import uuid
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from awscrt import mqtt
from awsiot import mqtt_connection_builder
from playwright.sync_api import expect, sync_playwright

from conftest import http, ROOT, wait_for
from mqtt_helpers import Client, host_port

CHROMIUM = os.environ.get("THINGBOX_CHROMIUM", "/usr/bin/chromium")
# A Rust subscriber (rumqttc: the load tool's `watch` mode) beside paho.
BENCH = Path(os.environ.get("THINGBOX_BENCH_BIN")
             or Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "thingbox-bench")
ARTIFACTS = ROOT / "tests" / "artifacts" / "console"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    ctx = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(10_000)
    p = ctx.new_page()
    errors = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    # Refused requests (4xx: AWS errors the page shows) are expected; anything else is a bug.
    p.on("console", lambda m: errors.append(m.text)
         if m.type == "error" and "status of 4" not in m.text else None)
    p.goto(server.endpoints["console"])
    expect(p.locator("#counts")).to_be_visible()
    yield p
    ctx.close()
    assert not errors, f"the console logged errors: {errors}"


def shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def go(page, server, route):
    page.goto(server.api + "/#/" + route)


def token_of(server):
    return server.endpoints["console"].split("token=", 1)[1]


def test_console_is_served_and_its_api_needs_the_token(server):
    console = server.endpoints["console"]
    assert console.startswith(server.api + "/?token=") and len(token_of(server)) >= 32
    assert (server.data_dir / "console-token").stat().st_mode & 0o777 == 0o600
    status, headers, body = http(server.api + "/")
    assert status == 200 and b"ui.js" in body and headers["content-type"].startswith("text/html")
    status, headers, _ = http(server.api + "/ui_bg.wasm")
    assert status == 200 and headers["content-type"] == "application/wasm"
    status, headers, body = http(server.api + "/console/api/overview")
    assert status == 401 and headers["x-amzn-ErrorType"] == "UnauthorizedException"
    assert "console token" in json.loads(body)["message"]
    status, _, _ = http(server.api + "/console/api/overview", {"x-thingbox-token": "wrong" * 8})
    assert status == 401
    status, _, body = http(server.api + "/console/api/overview", {"x-thingbox-token": token_of(server)})
    assert status == 200 and json.loads(body)["endpoints"]["api"] == server.api
    # The AWS API stays open to the AWS clients.
    status, _, _ = http(server.api + "/things")
    assert status == 200


def test_overview_shows_endpoints_counts_and_lifecycle(server, iot, page):
    expect(page.locator("#endpoints")).to_contain_text(server.endpoints["mqtt_tls"])
    before = int(page.locator('[data-count="things"]').inner_text())
    iot.create_thing(thingName=f"ov-{uuid.uuid4().hex[:6]}")
    expect(page.locator('[data-count="things"]')).to_have_text(str(before + 1))
    c = Client(server, client_id="overview-device")
    c.connect()
    expect(page.locator("#lifecycle")).to_contain_text("overview-device")
    expect(page.locator("#connections")).to_contain_text("overview-device")
    c.close()
    # The token left the address bar; the theme toggles and sticks.
    assert "token=" not in page.url
    page.click("#theme")
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    page.reload()
    expect(page.locator("#counts")).to_be_visible()
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    shot(page, "overview")


def test_thing_created_in_the_ui_is_seen_by_boto3(server, iot, page):
    iot.create_thing_group(thingGroupName="ui-floor-2")
    name = f"ui-lamp-{uuid.uuid4().hex[:6]}"
    page.keyboard.press("g")
    page.keyboard.press("t")
    expect(page.locator("#create-thing")).to_be_visible()
    page.click("#create-thing")
    page.fill("#thing-name", name)
    page.fill("#thing-attrs", "color=red\nfloor=2")
    page.get_by_label("ui-floor-2").check()
    page.click("#create-thing-submit")
    expect(page.locator("#thing-facts")).to_be_visible()
    assert page.url.endswith(f"#/things/{name}")
    t = iot.describe_thing(thingName=name)
    assert t["attributes"] == {"color": "red", "floor": "2"}
    groups = iot.list_thing_groups_for_thing(thingName=name)["thingGroups"]
    assert [g["groupName"] for g in groups] == ["ui-floor-2"]
    # Edit attributes: a removed line removes the attribute.
    page.click("#attrs-edit")
    page.fill("#attrs-editor", "color=blue")
    page.click("#attrs-save")
    wait_for(lambda: iot.describe_thing(thingName=name)["attributes"] == {"color": "blue"}, what="attributes saved")
    expect(page.locator("#attrs")).to_contain_text("blue")
    shot(page, "thing-detail")
    # A bad name gets AWS's message, and nothing is created.
    go(page, server, "things")
    page.click("#create-thing")
    page.fill("#thing-name", "bad name!")
    page.click("#create-thing-submit")
    expect(page.locator(".modal .error")).to_contain_text("InvalidRequestException")
    assert "bad name!" not in [t["thingName"] for t in iot.list_things()["things"]]


def test_thing_created_with_the_aws_cli_appears_live(server, page):
    go(page, server, "things")
    expect(page.locator("#things, #things-empty")).to_be_visible()
    name = f"cli-{uuid.uuid4().hex[:6]}"
    server.aws("iot", "create-thing", "--thing-name", name)
    expect(page.locator(f'[data-thing="{name}"]')).to_be_visible()
    # Search narrows the list; "/" focuses the search box.
    page.keyboard.press("/")
    page.keyboard.type(name)
    expect(page.locator("#things tbody tr")).to_have_count(1)
    shot(page, "things")
    server.aws("iot", "delete-thing", "--thing-name", name)
    expect(page.locator(f'[data-thing="{name}"]')).to_have_count(0)


def test_device_bundle_connects_with_the_device_sdk_and_revoking_disconnects(server, iot, page, tmp_path):
    thing = f"bundle-{uuid.uuid4().hex[:6]}"
    iot.create_thing(thingName=thing)
    go(page, server, f"things/{thing}")
    page.click("#bundle")
    with page.expect_download() as dl:
        page.click("#bundle-submit")
    zpath = tmp_path / "bundle.zip"
    dl.value.save_as(zpath)
    expect(page.locator("#bundle-done")).to_be_visible()
    with zipfile.ZipFile(zpath) as z:
        names = sorted(z.namelist())
        z.extractall(tmp_path)
    assert names == sorted(f"{thing}/{n}" for n in [
        "README.md", "connect.js", "connect.py", "device.pem.crt", "endpoints.json", "mosquitto.sh", "private.pem.key",
        "root-CA.crt"])
    d = tmp_path / thing
    cert_id = next(c["certificateId"] for c in iot.list_certificates()["certificates"]
                   if c["certificateId"] in page.locator("#bundle-done a").get_attribute("href"))
    assert iot.list_thing_principals(thingName=thing)["principals"][0].endswith(cert_id)
    assert [p["policyName"] for p in iot.list_attached_policies(target=iot.describe_certificate(
        certificateId=cert_id)["certificateDescription"]["certificateArn"])["policies"]] == ["thingbox-device-starter"]

    # The snippet runs unchanged with the AWS IoT Device SDK v2.
    run = subprocess.run([sys.executable, str(d / "connect.py")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"received on things/{thing}/hello" in run.stdout

    # A device stays connected; the thing's page shows it.
    _, port = host_port(json.loads((d / "endpoints.json").read_text())["mqtt_tls"])
    interrupted = threading.Event()
    conn = mqtt_connection_builder.mtls_from_path(
        endpoint="localhost", port=port, cert_filepath=str(d / "device.pem.crt"),
        pri_key_filepath=str(d / "private.pem.key"), ca_filepath=str(d / "root-CA.crt"), client_id=thing,
        clean_session=True, keep_alive_secs=30,
        on_connection_interrupted=lambda connection, error, **kw: interrupted.set())
    conn.connect().result(timeout=10)
    page.click("text=Close")
    expect(page.locator("#thing-connection")).to_contain_text("Connected as")

    # Revoke in the UI: the device is disconnected, AWS clients see REVOKED.
    go(page, server, f"certificates/{cert_id}")
    expect(page.locator("#cert-status")).to_have_text("ACTIVE")
    shot(page, "certificate-detail")
    page.click("#cert-facts button.danger")
    page.click("#confirm")
    expect(page.locator("#cert-status")).to_have_text("REVOKED")
    assert interrupted.wait(5), "the device was not disconnected after the revocation"
    conn.disconnect()
    desc = iot.describe_certificate(certificateId=cert_id)["certificateDescription"]
    assert desc["status"] == "REVOKED"
    go(page, server, "certificates")
    expect(page.locator(f'[data-cert="{cert_id}"]')).to_have_attribute("data-status", "REVOKED")
    shot(page, "certificates")


def test_things_list_pages_through_many_things(server, iot, page):
    for i in range(60):
        iot.create_thing(thingName=f"paged-{i:03}")
    total = len(iot.list_things(maxResults=250)["things"])
    assert total >= 60
    go(page, server, "things")
    expect(page.locator("#things-range")).to_have_text(f"1–50 of {total}")
    expect(page.locator("#things tbody tr")).to_have_count(50)
    prev, nxt = page.get_by_role("button", name="Previous"), page.locator("#next-page")
    expect(prev).to_be_disabled()
    expect(nxt).to_be_enabled()
    nxt.click()
    expect(page.locator("#things-range")).to_have_text(f"51–{min(100, total)} of {total}")
    expect(prev).to_be_enabled()
    if total <= 100:
        expect(nxt).to_be_disabled()
    prev.click()
    expect(page.locator("#things-range")).to_have_text(f"1–50 of {total}")
    for i in range(60):
        iot.delete_thing(thingName=f"paged-{i:03}")


def test_policy_editor_validates_and_the_test_panel_agrees_with_the_broker(server, iot, page, tmp_path):
    name = f"ui-policy-{uuid.uuid4().hex[:6]}"
    go(page, server, "policies")
    page.click("#new-policy")
    page.fill("#policy-name", name)
    page.fill("#policy-editor", '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]}')
    expect(page.locator("#policy-validation")).to_contain_text("✗")
    expect(page.locator("#create-policy")).to_be_disabled()
    doc = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Connect", "Effect": "Allow", "Action": "iot:Connect", "Resource": "arn:aws:iot:*:*:client/sensor-*"},
        {"Sid": "Mine", "Effect": "Allow", "Action": "iot:Subscribe",
         "Resource": "arn:aws:iot:*:*:topicfilter/sensors/${iot:ClientId}/*"},
        {"Sid": "NoSecrets", "Effect": "Deny", "Action": "iot:Subscribe",
         "Resource": "arn:aws:iot:*:*:topicfilter/sensors/*/secret"}]}
    page.fill("#policy-editor", json.dumps(doc, indent=2))
    expect(page.locator("#policy-validation")).to_contain_text("valid policy, 3 statements")
    page.click("#create-policy")
    expect(page.locator("#save-version")).to_be_visible()
    assert iot.get_policy(policyName=name)["policyName"] == name

    c = iot.create_keys_and_certificate(setAsActive=True)
    iot.attach_policy(policyName=name, target=c["certificateArn"])
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text(c["certificatePem"])
    key.write_text(c["keyPair"]["PrivateKey"])

    dev = SimpleNamespace(cert=cert, key=key)

    def panel(action, client_id, topic):
        page.select_option("#explain-cert", c["certificateId"])
        page.fill("#explain-client", client_id)
        page.select_option("#explain-action", action)
        page.fill("#explain-topic", topic)
        page.click("#explain-run")
        expect(page.locator("#explain-result")).to_contain_text(topic if action != "iot:Connect" else client_id)
        return page.locator("#explain-decision").inner_text()

    go(page, server, f"policies/{name}")
    expect(page.locator("#explain-cert")).to_contain_text(c["certificateId"][:16])
    cases = [("sensors/sensor-1/temp", "ALLOWED"), ("sensors/sensor-1/secret", "EXPLICIT_DENY"),
             ("sensors/sensor-2/temp", "IMPLICIT_DENY")]
    # MQTT 5, where a refused SUBSCRIBE answers 0x87 instead of closing the connection (3.1.1).
    client = Client(server, client_id="sensor-1", device=dev, v5=True)
    client.connect()
    for topic, want in cases:
        assert panel("iot:Subscribe", "sensor-1", topic) == want
        codes = client.subscribe(topic)
        granted = not (getattr(codes[0], "is_failure", False) or codes[0] == 128)
        assert granted == (want == "ALLOWED"), (topic, codes)
    # The variable bindings are shown.
    expect(page.locator("#explain-result")).to_contain_text("iot:ClientId")
    client.close()
    # The deny names its statement.
    panel("iot:Subscribe", "sensor-1", "sensors/sensor-1/secret")
    expect(page.locator("#explain-result")).to_contain_text('statement #3 (Sid "NoSecrets")')
    # Connect: the panel and the broker agree on a client id the policy does not allow.
    assert panel("iot:Connect", "intruder", "") == "IMPLICIT_DENY"
    with pytest.raises(ConnectionError):
        Client(server, client_id="intruder", device=dev, v5=True).connect()
    shot(page, "policy-detail")

    # A new version from the editor becomes the default; AWS sees it.
    doc["Statement"][2]["Resource"] = "arn:aws:iot:*:*:topicfilter/sensors/*/private"
    page.fill("#policy-editor", json.dumps(doc, indent=2))
    page.click("#save-version")
    expect(page.locator("#policy-saved")).to_contain_text("version 2")
    assert iot.get_policy(policyName=name)["defaultVersionId"] == "2"
    go(page, server, "policies")
    expect(page.locator(f'[data-policy="{name}"]')).to_be_visible()
    shot(page, "policies")


def test_types_and_groups_page(server, iot, page):
    go(page, server, "types")
    tname = f"uitype{uuid.uuid4().hex[:5]}"
    page.fill("#type-name", tname)
    page.click("#create-type")
    expect(page.locator(f'[data-type="{tname}"]')).to_be_visible()
    page.locator(f'[data-type="{tname}"] button', has_text="Deprecate").click()
    expect(page.locator(f'[data-type="{tname}"]')).to_contain_text("deprecated")
    assert iot.describe_thing_type(thingTypeName=tname)["thingTypeMetadata"]["deprecated"] is True
    gname = f"uigroup{uuid.uuid4().hex[:5]}"
    page.fill("#group-name", gname)
    page.click("#create-group")
    expect(page.locator(f'[data-group="{gname}"]')).to_be_visible()
    iot.create_thing(thingName=f"{gname}-member")
    iot.add_thing_to_thing_group(thingGroupName=gname, thingName=f"{gname}-member")
    expect(page.locator(f'[data-group="{gname}"]')).to_contain_text(f"{gname}-member")
    shot(page, "types-and-groups")


def test_messages_page_shows_device_traffic_with_payload_diff_and_tree(server, page):
    dev = Client(server, client_id="ui-viewer-dev")
    dev.connect()
    go(page, server, "messages")
    expect(page.locator("#filters [data-filter='#']")).to_be_visible()
    expect(page.locator("#totals .dot.on")).to_be_visible()
    dev.publish("ui/kitchen/temp", json.dumps({"t": 21.5, "unit": "C"}), qos=1)
    dev.publish("ui/kitchen/temp", json.dumps({"t": 22.0, "unit": "C"}), qos=1)
    rows = page.locator("#message-list .msg-row", has_text="ui/kitchen/temp")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text('"t": 22.0')
    rows.first.click()
    expect(page.locator("#message-facts")).to_contain_text("ui-viewer-dev")
    expect(page.locator("#payload .j-key").first).to_have_text('"t"')
    page.check("#diff-toggle")
    expect(page.locator("#payload-diff .d-del")).to_contain_text('"t": 21.5')
    expect(page.locator("#payload-diff .d-add")).to_contain_text('"t": 22.0')
    expect(page.locator("#topic-tree [data-topic='ui/kitchen/temp'] .count")).to_have_text("2")
    # A shadow update is grouped under its thing in the tree.
    dev.publish("$aws/things/ui-lamp/shadow/update", json.dumps({"state": {"reported": {"on": True}}}), qos=1)
    expect(page.locator("#topic-tree .tree-row", has_text="ui-lamp")).to_be_visible()
    page.click("#mode-hex")
    expect(page.locator("#payload")).to_contain_text("00000000  7b 22 74 22")
    shot(page, "messages")
    # Pause: nothing new is listed, and what was missed is counted.
    page.click("#pause")
    dev.publish("ui/kitchen/temp", json.dumps({"t": 23.0}), qos=1)
    expect(page.locator("#totals")).to_contain_text("1 while paused")
    expect(rows).to_have_count(2)
    page.click("#pause")
    # A bad filter is refused with the engine's message; the filters stay.
    page.fill("#filter-input", "a/#/b")
    page.click("#filter-add")
    expect(page.get_by_role("alert")).to_contain_text("a/#/b")
    expect(page.locator("#filters .chip")).to_have_count(2)
    dev.close()


def test_the_viewer_keeps_recording_while_another_page_is_shown(server, page):
    """The viewer belongs to the console, not to the page that opened it: messages that arrive while
    another page is shown are listed on return (and feeding it never touches the gone page)."""
    dev = Client(server, client_id="ui-away-dev")
    dev.connect()
    try:
        go(page, server, "messages")
        expect(page.locator("#totals .dot.on")).to_be_visible()
        go(page, server, "things")
        dev.publish("ui/away/temp", json.dumps({"t": 1}), qos=1)
        dev.publish("ui/away/temp", json.dumps({"t": 2}), qos=1)
        go(page, server, "messages")
        rows = page.locator("#message-list .msg-row", has_text="ui/away/temp")
        expect(rows).to_have_count(2)
        expect(rows.first).to_contain_text('"t": 2')
    finally:
        dev.close()


def rumqttc_watch(server, topic_filter, count=1):
    """A rumqttc subscriber (thingbox-bench watch) on the plain listener; returns once subscribed."""
    assert BENCH.exists(), f"{BENCH} is missing: build it with `cargo build -p thingbox-bench`"
    host, port = host_port(server.endpoints["mqtt"])
    proc = subprocess.Popen([str(BENCH), "--host", host, "--port", str(port), "watch", "--filter", topic_filter,
                             "--count", str(count), "--timeout", "20", "--client-id", "ui-rumqttc"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert json.loads(proc.stdout.readline()) == {"subscribed": topic_filter}, proc.stderr.read()
    return proc


def test_publish_from_the_console_reaches_a_device(server, page):
    dev = Client(server, client_id="ui-cmd-dev")
    dev.connect()
    dev.subscribe("ui/cmd/#")
    watcher = rumqttc_watch(server, "ui/cmd/#")
    go(page, server, "messages")
    page.click("#tab-publish")
    page.fill("#pub-topic", "ui/cmd/lamp")
    page.fill("#pub-payload", '{"on": tru')
    expect(page.locator("#pub-validation")).to_contain_text("✗")
    expect(page.locator("#pub-send")).to_be_disabled()
    page.fill("#pub-payload", '{"on": true}')
    expect(page.locator("#pub-validation")).to_contain_text("valid JSON")
    page.select_option("#pub-qos", "1")
    page.click("#pub-send")
    expect(page.locator("#pub-done")).to_contain_text("thingbox-console")
    m = dev.recv()
    assert (m.topic, m.payload, m.qos) == ("ui/cmd/lamp", b'{"on": true}', 1)
    out, err = watcher.communicate(timeout=20)
    assert watcher.returncode == 0, err
    got = [json.loads(line) for line in out.splitlines()]
    assert got[0] == {"topic": "ui/cmd/lamp", "qos": 1, "retain": False, "payload": '{"on": true}'}, got
    assert got[-1]["received"] == 1
    # Saved payloads live in the data dir.
    page.fill("#save-name", "lamp on")
    page.click("#save-payload")
    expect(page.locator("#saved")).to_contain_text("lamp on")
    saved = json.loads((server.data_dir / "collections.json").read_text())
    assert any(s["name"] == "lamp on" and s["topic"] == "ui/cmd/lamp" for s in saved)
    # Re-publish a message from the list.
    row = page.locator("#message-list .msg-row", has_text="ui/cmd/lamp").first
    row.click()
    page.click("#republish")
    expect(page.locator("#pub-topic")).to_have_value("ui/cmd/lamp")
    page.click("#pub-send")
    assert dev.recv().payload == b'{"on": true}'
    dev.close()


def test_retained_messages_are_deleted_from_the_console(server, page):
    data = server.client("iot-data")
    dev = Client(server, client_id="ui-ret-dev")
    dev.connect()
    for t in ("ui/ret/1", "ui/ret/2"):
        dev.publish(t, "kept", qos=1, retain=True)
    go(page, server, "messages")
    page.click("#tab-retained")
    expect(page.locator("#retained [data-topic='ui/ret/1']")).to_be_visible()
    page.locator("#retained [data-topic='ui/ret/1'] input").check()
    page.locator("#retained [data-topic='ui/ret/2'] input").check()
    page.click("#retained-delete")
    page.click("#confirm")
    expect(page.locator("#retained [data-topic='ui/ret/1']")).to_have_count(0)
    for t in ("ui/ret/1", "ui/ret/2"):
        with pytest.raises(data.exceptions.ResourceNotFoundException):
            data.get_retained_message(topic=t)
    dev.close()


def test_record_and_replay_from_the_console(server, page):
    dev = Client(server, client_id="ui-rec-dev")
    dev.connect()
    go(page, server, "messages")
    page.fill("#filter-input", "ui/rec/#")
    page.click("#filter-add")
    expect(page.locator("#filters [data-filter='ui/rec/#']")).to_be_visible()
    page.click("#tab-record")
    page.click("#record-start")
    expect(page.locator("#recordings .badge", has_text="recording")).to_be_visible()
    for i in range(3):
        dev.publish(f"ui/rec/{i}", json.dumps({"i": i}), qos=1)
    row = page.locator("#recordings tbody tr").first
    expect(row.locator(".rec-count")).to_have_text("3")
    row.locator(".rec-stop").click()
    expect(page.locator("#recordings .badge", has_text="recording")).to_have_count(0)
    with page.expect_download() as dl:
        row.locator(".rec-download").click()
    lines = Path(dl.value.path()).read_text().splitlines()
    assert [json.loads(line)["topic"] for line in lines] == [f"ui/rec/{i}" for i in range(3)]
    dev.subscribe("ui/rec/#")
    page.select_option("#replay-speed", "0")
    row.locator(".rec-replay").click()
    assert [dev.recv().topic for _ in range(3)] == [f"ui/rec/{i}" for i in range(3)]
    expect(page.locator("#replay-status")).to_contain_text("3 / 3 published — done")
    dev.close()


def test_numeric_fields_chart_across_topics(server, page):
    dev = Client(server, client_id="ui-chart-dev")
    dev.connect()
    go(page, server, "messages")
    expect(page.locator("#totals .dot.on")).to_be_visible()
    for i in range(4):
        dev.publish("ui/chart/a", json.dumps({"env": {"temp": 20 + i}, "ok": True}), qos=1)
        dev.publish("ui/chart/b", json.dumps({"env": {"temp": 30 - i}}), qos=1)
    rows_a = page.locator("#message-list .msg-row", has_text="ui/chart/a")
    expect(rows_a).to_have_count(4)
    rows_a.first.click()
    page.click("#chart-fields [data-field='env.temp']")
    expect(page.locator("#chart polyline")).to_have_count(1)
    expect(page.locator("#chart polyline").first).to_have_attribute("data-points", "4")
    page.click("#tab-details")
    page.locator("#message-list .msg-row", has_text="ui/chart/b").first.click()
    page.click("#chart-fields [data-field='env.temp']")
    expect(page.locator("#chart polyline")).to_have_count(2)
    expect(page.locator("#chart-legend")).to_contain_text("ui/chart/b · env.temp")
    shot(page, "messages-chart")
    dev.close()


def test_provisioning_templates_and_a_claim_bundle_that_provisions(server, iot, page, tmp_path):
    from test_provisioning import make_template

    go(page, server, "")
    expect(page.locator("#https-endpoint")).to_contain_text(server.endpoints["https"])
    template = make_template(iot)
    go(page, server, "certificates")
    row = page.locator(f'#templates [data-template="{template}"]')
    expect(row).to_contain_text("FLEET_PROVISIONING")
    with page.expect_download() as dl:
        row.locator("button.claim").click()
    zpath = tmp_path / "claim.zip"
    dl.value.save_as(zpath)
    expect(page.locator("#claim-done")).to_contain_text(template)
    with zipfile.ZipFile(zpath) as z:
        assert sorted(z.namelist()) == sorted(f"{template}-claim/{n}" for n in
                                              ["README.md", "claim.pem.crt", "claim.private.key", "root-CA.crt"])
        z.extractall(tmp_path)
    d = tmp_path / f"{template}-claim"
    readme = (d / "README.md").read_text()
    assert f"--template_name {template}" in readme
    assert '"DeviceLocation":"…"' in readme and '"SerialNumber":"…"' in readme

    # The claim provisions a device, as the fleet-provisioning sample would.
    claim = type("Claim", (), {"cert": d / "claim.pem.crt", "key": d / "claim.private.key"})
    dev = Client(server, device=claim, v5=True)
    dev.connect()
    dev.subscribe("$aws/certificates/create/json/accepted")
    dev.subscribe(f"$aws/provisioning-templates/{template}/provision/json/accepted")
    dev.publish("$aws/certificates/create/json", b"{}")
    token = json.loads(dev.recv(timeout=20).payload)["certificateOwnershipToken"]
    serial = uuid.uuid4().hex[:6]
    dev.publish(f"$aws/provisioning-templates/{template}/provision/json", json.dumps(
        {"certificateOwnershipToken": token, "parameters": {"SerialNumber": serial, "DeviceLocation": "Seattle"}}).encode())
    assert json.loads(dev.recv(timeout=20).payload)["thingName"] == f"ThingPrefix_{serial}"
    dev.close()
