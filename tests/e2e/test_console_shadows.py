"""The Shadows page in headless Chromium: every classic and named shadow of the fleet with its
version, last writer and pending delta; search and the out-of-sync filter; a device (paho, over
MQTT) catching up turns its row in sync live."""

import json
import uuid

from playwright.sync_api import expect

from mqtt_helpers import Client
from test_console import browser, go, page, shot  # noqa: F401  (fixtures)


def test_the_fleet_list_shows_who_is_out_of_sync(server, iot, page):
    data = server.client("iot-data")
    lamp, pump = f"lamp{uuid.uuid4().hex[:6]}", f"pump{uuid.uuid4().hex[:6]}"
    for t in (lamp, pump):
        iot.create_thing(thingName=t)
    data.update_thing_shadow(thingName=lamp, payload=json.dumps(
        {"state": {"desired": {"on": True}, "reported": {"on": True}}}))
    data.update_thing_shadow(thingName=pump, shadowName="firmware", payload=json.dumps(
        {"state": {"desired": {"version": "2.0", "channel": "beta"}, "reported": {"version": "1.9", "channel": "beta"}}}))

    go(page, server, "shadows")
    lamp_row = page.locator(f'#shadows-list tr[data-thing="{lamp}"][data-shadow=""]')
    pump_row = page.locator(f'#shadows-list tr[data-thing="{pump}"][data-shadow="firmware"]')
    expect(lamp_row).to_have_attribute("data-sync", "in")
    expect(lamp_row).to_contain_text("classic")
    expect(lamp_row).to_contain_text("api")
    expect(lamp_row).to_contain_text("in sync")
    expect(pump_row).to_have_attribute("data-sync", "out")
    expect(pump_row).to_contain_text("delta: version")
    expect(pump_row).not_to_contain_text("channel")
    expect(page.locator("#shadows-summary")).to_contain_text("out of sync")

    # Search narrows the list; the filter keeps only what a device still has to do.
    page.fill("#search", pump)
    expect(page.locator("#shadows-list tbody tr")).to_have_count(1)
    page.fill("#search", "")
    page.check("#shadows-out-of-sync")
    expect(lamp_row).to_have_count(0)
    expect(pump_row).to_be_visible()
    shot(page, "shadows-out-of-sync")

    # The device reports the new firmware over MQTT: the row leaves the out-of-sync list live, and
    # unfiltered it shows the device as the last writer at version 2.
    dev = Client(server, client_id=f"pump-dev-{uuid.uuid4().hex[:6]}")
    dev.connect()
    try:
        dev.publish(f"$aws/things/{pump}/shadow/name/firmware/update",
                    json.dumps({"state": {"reported": {"version": "2.0"}}}))
        expect(pump_row).to_have_count(0)
        page.uncheck("#shadows-out-of-sync")
        expect(pump_row).to_have_attribute("data-sync", "in")
        expect(pump_row).to_contain_text(dev.client_id)
        expect(pump_row.locator("td").nth(2)).to_have_text("2")
    finally:
        dev.close()
    shot(page, "shadows")


def test_one_shadow_tree_time_travel_diff_restore_and_edit(server, iot, page):
    data = server.client("iot-data")
    thing = f"lamp{uuid.uuid4().hex[:6]}"
    iot.create_thing(thingName=thing)

    def shadow():
        return json.loads(data.get_thing_shadow(thingName=thing)["payload"].read())

    dev = Client(server, client_id=f"{thing}-dev")
    dev.connect()
    try:
        dev.subscribe(f"$aws/things/{thing}/shadow/update/delta")
        data.update_thing_shadow(thingName=thing, payload=json.dumps({"state": {"desired": {"color": "red", "level": 1}}}))
        dev.publish(f"$aws/things/{thing}/shadow/update", json.dumps({"state": {"reported": {"color": "red", "level": 1}}}))
        data.update_thing_shadow(thingName=thing, payload=json.dumps({"state": {"desired": {"color": "blue"}}}))

        # The newest version as a tree: color differs and was just changed; level is in sync.
        go(page, server, f"shadows/{thing}")
        expect(page.locator("#shadow-version")).to_have_text("version 3")
        color = page.locator('#shadow-tree tr[data-path="color"]')
        expect(color).to_have_attribute("data-differs", "true")
        expect(color).to_have_attribute("data-changed", "true")
        expect(color).to_contain_text('"blue"')
        expect(color.locator("td").nth(3)).to_have_text('"blue"')  # the delta column
        expect(page.locator('#shadow-tree tr[data-path="level"]')).to_have_attribute("data-differs", "false")

        # The timeline, filtered by key: level changed in versions 1 (desired) and 2 (reported).
        expect(page.locator("#shadow-timeline tbody tr")).to_have_count(3)
        expect(page.locator('#shadow-timeline tr[data-version="2"]')).to_contain_text(f"{thing}-dev")
        page.fill("#timeline-key", "level")
        expect(page.locator("#shadow-timeline tbody tr")).to_have_count(2)
        page.fill("#timeline-key", "")

        # Travel to version 1; diff 1 → 3.
        page.locator('#shadow-timeline tr[data-version="1"] a').click()
        expect(page.locator("#shadow-version")).to_have_text("version 1")
        expect(page.locator('#shadow-tree tr[data-path="color"]')).to_contain_text('"red"')
        page.locator('#shadow-timeline tr[data-version="1"] .diff-a').click()
        page.locator('#shadow-timeline tr[data-version="3"] .diff-b').click()
        diff = page.locator("#shadow-diff")
        expect(diff.locator('tr[data-path="desired.color"]')).to_have_attribute("data-kind", "changed")
        expect(diff.locator('tr[data-path="reported.level"]')).to_have_attribute("data-kind", "added")
        shot(page, "shadow-travel")

        # Restore version 1's desired state: a new version, and the device is told.
        page.click("#shadow-restore")
        expect(page.locator("#shadow-version")).to_have_text("version 4")
        assert shadow()["state"]["desired"] == {"color": "red", "level": 1}

        # The editor checks with the service's own rules as you type.
        deep = {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}
        page.fill("#shadow-json", json.dumps(deep))
        expect(page.locator("#shadow-check")).to_contain_text("400")
        expect(page.locator("#shadow-send")).to_be_disabled()
        page.fill("#shadow-json", '{"color": "green"}')
        expect(page.locator("#shadow-preview-delta")).to_contain_text("green")

        # Optimistic locking: someone else writes first; the 409 is explained before sending.
        page.check("#edit-lock")
        data.update_thing_shadow(thingName=thing, payload=json.dumps({"state": {"reported": {"level": 2}}}))
        expect(page.locator("#shadow-check")).to_contain_text("409")
        expect(page.locator("#shadow-send")).to_be_disabled()
        page.uncheck("#edit-lock")
        page.click("#shadow-send")
        expect(page.locator("#shadow-sent")).to_contain_text("Accepted: version 6")
        assert shadow()["state"]["desired"]["color"] == "green"
        got = None
        while got is None or "green" not in got.payload.decode():
            got = dev.recv(timeout=5)
        expect(page.locator('#shadow-timeline tr[data-version="6"]')).to_contain_text("console")
        shot(page, "shadow-edit")

        # The history downloads as JSON lines, newest first.
        with page.expect_download() as d:
            page.click("#shadow-download")
        lines = [json.loads(line) for line in open(d.value.path()).read().splitlines()]
        assert [line["version"] for line in lines] == [6, 5, 4, 3, 2, 1]
        assert lines[0]["writer"] == "console"
    finally:
        dev.close()


def test_a_device_sdk_device_the_page_follows_with_its_rejections_and_traffic(server, iot, page, tmp_path):
    from concurrent.futures import Future

    from awscrt import mqtt as crt_mqtt
    from awsiot import iotshadow, mqtt_connection_builder

    from mqtt_helpers import Device

    thing = f"thermo{uuid.uuid4().hex[:6]}"
    iot.create_thing(thingName=thing)
    device = Device(iot, tmp_path)
    client_id = f"{thing}-sdk"
    _, port = server.endpoints["mqtt_tls"].rsplit(":", 1)
    conn = mqtt_connection_builder.mtls_from_path(
        endpoint="localhost", port=int(port), cert_filepath=str(device.cert), pri_key_filepath=str(device.key),
        ca_filepath=server.endpoints["root_ca"], client_id=client_id, clean_session=True, keep_alive_secs=30)
    conn.connect().result(10)
    try:
        shadow = iotshadow.IotShadowClient(conn)
        told = Future()
        shadow.subscribe_to_shadow_delta_updated_events(
            iotshadow.ShadowDeltaUpdatedSubscriptionRequest(thing_name=thing), crt_mqtt.QoS.AT_LEAST_ONCE,
            lambda d: told.done() or told.set_result(d.state))[0].result(10)

        def report(state, **kw):
            shadow.publish_update_shadow(iotshadow.UpdateShadowRequest(
                thing_name=thing, state=iotshadow.ShadowState(reported=state), **kw), crt_mqtt.QoS.AT_LEAST_ONCE).result(10)

        report({"temp": 20})
        go(page, server, f"shadows/{thing}")
        temp = page.locator('#shadow-tree tr[data-path="temp"]')
        expect(temp).to_contain_text("20")
        expect(page.locator("#shadow-now")).to_contain_text(client_id)

        # The device reports again: the page follows by itself, the changed leaf marked.
        report({"temp": 21})
        expect(page.locator("#shadow-version")).to_have_text("version 2")
        expect(temp).to_contain_text("21")
        expect(temp).to_have_attribute("data-changed", "true")

        # Desired set in the console: the device's SDK gets the delta.
        page.fill("#shadow-json", '{"target": 18}')
        page.click("#shadow-send")
        assert told.result(10) == {"target": 18}

        # Refused requests appear in the timeline with the service's code and text, and who sent them.
        conn.publish(f"$aws/things/{thing}/shadow/update", '{"state": "warm"}', crt_mqtt.QoS.AT_LEAST_ONCE)[0].result(10)
        report({"temp": 22}, version=1)
        bad = page.locator('#shadow-timeline tr.rejected[data-rejected="400"]')
        expect(bad).to_contain_text("State node must be an object")
        expect(bad).to_contain_text(client_id)
        expect(page.locator('#shadow-timeline tr.rejected[data-rejected="409"]')).to_contain_text("Version conflict")

        # The shadow's MQTT traffic: requests, replies (rejections too); a reply's version opens it.
        traffic = page.locator("#shadow-traffic")
        expect(traffic.locator('tr[data-topic="update/rejected"]').first).to_be_visible()
        expect(traffic.locator('tr[data-topic="update"]').first).to_contain_text(client_id)
        first = traffic.locator('tr[data-topic="update/accepted"] .traffic-version[data-version="1"]')
        expect(first).to_be_visible()
        first.click()
        expect(page.locator("#shadow-version")).to_have_text("version 1")
        expect(temp).to_contain_text("20")
        shot(page, "shadow-device")

        # The thing's page leads here.
        go(page, server, f"things/{thing}")
        page.locator(".shadow-open").first.click()
        expect(page.locator("#shadow-tree")).to_be_visible()
    finally:
        conn.disconnect().result(10)
