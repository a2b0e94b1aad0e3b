"""The Simulated devices page in headless Chromium: "Add 10 lamps" makes ten devices that connect
(boto3 sees their things), a device's page disconnects it for a while with a fault and shows it
come back, stops and starts it by hand, a scenario typed in the editor starts — or, invalid, is refused with its line — and a
running scenario is stopped from its row."""

from playwright.sync_api import expect

from test_console import browser, go, page, shot  # noqa: F401  (fixtures)

TYPED = """name: typed
devices:
  - name: typed-dev
    count: 2
    telemetry:
      - {topic: "typed/${thing}", every: 1s, payload: {n: {counter: {}}}}
"""


def test_add_lamps_fault_one_and_start_a_scenario(server, iot, page):
    go(page, server, "devices")
    page.click("#add-lamps")
    row = page.locator('tr[data-scenario="quick-smart-lamps-1"]')
    expect(row.locator(".online")).to_have_text("10/10", timeout=30_000)
    assert iot.describe_thing(thingName="lamp-3")["thingTypeName"] == "SmartLamp"
    expect(page.locator('tr[data-device="lamp-3"] td').nth(2)).to_have_text("online")
    shot(page, "devices")

    page.click('tr[data-device="lamp-3"] a')
    expect(page.locator("#device-status")).to_have_text("online")
    page.fill("#fault-offline", "3s")
    page.click("#apply-disconnect")
    expect(page.locator("#device-status")).to_have_text("offline", timeout=10_000)
    expect(page.locator("#device-status")).to_have_text("online", timeout=15_000)
    expect(page.locator("#device-log")).to_contain_text("disconnected by a fault")
    page.click("#stop-device")
    expect(page.locator("#device-log")).to_contain_text("stopped by hand")
    expect(page.locator("#device-status")).to_have_text("offline")
    page.click("#start-device")
    expect(page.locator("#device-status")).to_have_text("online", timeout=15_000)
    page.fill("#fault-drop", "25")
    page.click("#apply-drop")
    expect(page.locator("#device-faults")).to_have_text("drop 25%")
    shot(page, "device-detail")

    go(page, server, "devices")
    page.fill("#scenario-text", TYPED.replace("${thing}", "${thng}"))
    page.click("#start-scenario")
    expect(page.locator(".error")).to_contain_text("line 6: ")
    expect(page.locator(".error")).to_contain_text("unknown variable '${thng}'")
    page.fill("#scenario-text", TYPED)
    page.click("#start-scenario")
    typed = page.locator('tr[data-scenario="typed"]')
    expect(typed.locator(".online")).to_have_text("2/2", timeout=30_000)
    typed.locator(".stop-scenario").click()
    expect(typed.locator(".phase")).to_have_text("stopped", timeout=15_000)
    expect(page.locator('tr[data-device="typed-dev-1"] td').nth(2)).to_have_text("stopped")
