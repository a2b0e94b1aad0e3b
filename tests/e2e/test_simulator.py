"""Simulated devices through real clients: a scenario of 100 devices runs for a minute — every one
made through the AWS API with its own certificate, connected through mutual TLS, its shadow
converging on the desired state, a job over all of them succeeding (OTA file downloaded), its
traffic and lifecycle events in the topic viewer — checked with boto3 and the console API; faults
(dropped messages, a disconnection, a revoked certificate) injected from the console; invalid
scenario files refused with the line of the problem, by the console API and by `thingbox simulate`,
which also runs a scenario against the running Thingbox."""

import json
import os
import subprocess
from collections import Counter

from conftest import BIN, wait_for
from test_viewer import call, history

HUNDRED = """
name: hundred
description: 100 units for a minute
seed: 1
duration: 60s
devices:
  - name: unit
    count: 100
    thingType: SimUnit
    groups: [units]
    attributes: {batch: b7}
    telemetry:
      - topic: units/${thing}/telemetry
        every: 5s
        jitter: 1s
        payload: {n: {counter: {}}, t: {randomWalk: {start: 20, step: 1, min: 0, max: 40}}, unit: "${thing}"}
    shadow:
      reported: {mode: idle, level: 1}
      applyAfter: 200ms
    jobs: {steps: 1, stepEvery: 200ms}
    commands:
      - topic: units/${thing}/ping
        reply: units/${thing}/pong
        payload: {pong: "${thing}"}
steps:
  - at: 3s
    desired: {devices: "*", state: {mode: active, level: 3}}
  - at: 3s
    file: {bucket: firmware, key: unit.bin, size: 4096}
  - at: 4s
    job:
      id: update-units
      targets: [group:units]
      document: {operation: update, url: "${aws:iot:s3-presigned-url:https://s3.amazonaws.com/firmware/unit.bin}"}
"""


def sim_state(s, **q):
    query = "&".join(f"{k}={v}" for k, v in q.items())
    status, _, body = call(s, f"/console/api/sim?{query}")
    assert status == 200, body
    return body


def scenario(s, name):
    return next(x for x in sim_state(s, limit=0)["scenarios"] if x["name"] == name)


def test_a_hundred_devices_run_for_a_minute(fresh_server):
    s = fresh_server().start()
    iot, data = s.client(), s.client("iot-data")
    status, _, body = call(s, "/console/api/sim/scenarios", "POST", {"text": HUNDRED})
    assert status == 201 and body == {"name": "hundred"}, body

    wait_for(lambda: scenario(s, "hundred")["online"] == 100, timeout=90, what="100 devices online")
    things = iot.list_things_in_thing_group(thingGroupName="units", maxResults=250)["things"]
    assert sorted(things) == sorted(f"unit-{i}" for i in range(1, 101))
    t = iot.describe_thing(thingName="unit-42")
    assert t["thingTypeName"] == "SimUnit" and t["attributes"] == {"batch": "b7"}
    certs = iot.list_thing_principals(thingName="unit-42")["principals"]
    assert len(certs) == 1
    cert_id = certs[0].rsplit("/", 1)[1]
    assert iot.describe_certificate(certificateId=cert_id)["certificateDescription"]["status"] == "ACTIVE"
    assert iot.list_attached_policies(target=certs[0])["policies"][0]["policyName"] == "thingbox-sim-hundred-unit"

    # The job over the group: every device downloads the file, reports progress and succeeds.
    def job_done():
        if "update-units" not in {j["jobId"] for j in iot.list_jobs()["jobs"]}:
            return None  # its step (at 4 s) is still to come
        j = iot.describe_job(jobId="update-units")["job"]
        return j["status"] == "COMPLETED" and j
    job = wait_for(job_done, timeout=45, what="the job to complete")
    assert job["jobProcessDetails"]["numberOfSucceededThings"] == 100, job["jobProcessDetails"]
    ex = iot.describe_job_execution(jobId="update-units", thingName="unit-7")["execution"]
    assert ex["statusDetails"]["detailsMap"]["reason"] == "done; downloaded 4096 bytes"

    # Shadows converge: desired applied, nothing left in delta.
    for i in range(1, 101):
        doc = json.loads(data.get_thing_shadow(thingName=f"unit-{i}")["payload"].read())
        assert doc["state"]["reported"] == {"mode": "active", "level": 3}, (i, doc)
        assert "delta" not in doc["state"], (i, doc)

    # A command answered; the viewer holds the fleet's traffic and lifecycle events.
    status, _, _ = call(s, "/console/api/publish", "POST", {"topic": "units/unit-9/ping", "payload": "{}", "qos": 1})
    assert status == 200
    pong = wait_for(lambda: history(s, filter="units/unit-9/pong", limit=5)["messages"], what="the pong")
    assert json.loads(pong[0]["payload"]) == {"pong": "unit-9"}
    def telemetry_topics():
        return {m["topic"] for m in history(s, filter="units/+/telemetry", limit=1000)["messages"]}
    topics = wait_for(lambda: t if len(t := telemetry_topics()) == 100 else None, timeout=20,
                      what="telemetry from all 100")
    assert topics == {f"units/unit-{i}/telemetry" for i in range(1, 101)}

    # The minute ends: every device stopped, having connected exactly once.
    wait_for(lambda: scenario(s, "hundred")["phase"] == "stopped", timeout=90, what="the scenario to end")
    state = sim_state(s, limit=1000)
    assert state["totalDevices"] == 100
    assert {d["status"] for d in state["devices"]} == {"stopped"}
    assert all(d["sent"] >= 10 and d["received"] >= 3 and d["dropped"] == 0 for d in state["devices"])
    connected = Counter(m["topic"].rsplit("/", 1)[1] for m in
                        history(s, filter="$aws/events/presence/connected/+", limit=1000)["messages"])
    assert set(connected) == {f"unit-{i}" for i in range(1, 101)} and set(connected.values()) == {1}
    def disconnections():
        return history(s, filter="$aws/events/presence/disconnected/+", limit=1000)["messages"]
    disconnected = wait_for(lambda: d if len(d := disconnections()) == 100 else None, what="100 disconnections")
    assert {json.loads(m["payload"])["disconnectReason"] for m in disconnected} == {"CLIENT_INITIATED_DISCONNECT"}
    log = [line["text"] for line in scenario(s, "hundred")["log"]]
    assert "its duration is over" in log and log[-1] == "stopped", log


FLAKY = """
name: flaky
devices:
  - name: f
    count: 3
    telemetry:
      - {topic: "flaky/${thing}", every: 100ms, qos: 1, payload: {n: {counter: {}}}}
"""


def device(s, name):
    status, _, body = call(s, f"/console/api/sim/devices/{name}")
    assert status == 200, body
    return body


def fault(s, name, change):
    status, headers, body = call(s, f"/console/api/sim/devices/{name}/fault", "POST", change)
    assert status == 200, body
    return body


def test_faults_from_the_console(fresh_server):
    s = fresh_server().start()
    iot = s.client()
    assert call(s, "/console/api/sim/scenarios", "POST", {"text": FLAKY})[0] == 201
    wait_for(lambda: scenario(s, "flaky")["online"] == 3, timeout=30, what="3 devices online")
    status, headers, body = call(s, "/console/api/sim/scenarios", "POST", {"text": FLAKY})
    assert status == 409 and headers["x-amzn-ErrorType"].startswith("ResourceAlreadyExistsException")
    assert body["message"] == "scenario 'flaky' is running; stop it first"

    # Every message lost: nothing more sent, the losses counted.
    d = fault(s, "f-1", {"drop": 1})["device"]
    assert d["faults"]["drop"] == 1
    before = d["sent"]
    wait_for(lambda: device(s, "f-1")["device"]["dropped"] >= 10, what="messages dropped")
    assert device(s, "f-1")["device"]["sent"] <= before + 1

    # A disconnection for two seconds: offline, then back.
    fault(s, "f-2", {"disconnect": "2s"})
    wait_for(lambda: device(s, "f-2")["device"]["status"] == "offline", what="f-2 offline")
    wait_for(lambda: device(s, "f-2")["device"]["status"] == "online", what="f-2 back online")
    assert "disconnected by a fault" in [l["text"] for l in device(s, "f-2")["log"]]

    # Stopped by hand: offline until started again.
    assert call(s, "/console/api/sim/devices/f-2/stop", "POST")[0] == 200
    wait_for(lambda: device(s, "f-2")["device"]["status"] == "offline", what="f-2 stopped")
    sent = device(s, "f-2")["device"]["sent"]
    wait_for(lambda: "stopped by hand" in [l["text"] for l in device(s, "f-2")["log"]], what="the log")
    assert device(s, "f-2")["device"]["status"] == "offline" and device(s, "f-2")["device"]["sent"] == sent
    assert call(s, "/console/api/sim/devices/f-2/start", "POST")[0] == 200
    wait_for(lambda: device(s, "f-2")["device"]["status"] == "online", what="f-2 started")
    wait_for(lambda: device(s, "f-2")["device"]["sent"] > sent, what="f-2 sending again")

    # A revoked certificate: the device can no longer connect.
    d = fault(s, "f-3", {"revokeCertificate": True})["device"]
    assert d["faults"]["revoked"]
    assert iot.describe_certificate(certificateId=d["certificateId"])["certificateDescription"]["status"] == "REVOKED"
    d = wait_for(lambda: (x := device(s, "f-3")["device"])["status"] == "retrying" and x, what="f-3 refused")
    assert "connection" in d["lastError"], d

    # A certificate that expires (under a CA the simulator registers): refused once expired.
    d = fault(s, "f-1", {"expireCertificate": "3s"})["device"]
    desc = iot.describe_certificate(certificateId=d["certificateId"])["certificateDescription"]
    assert desc["status"] == "ACTIVE" and desc["caCertificateId"], desc
    ca = iot.describe_ca_certificate(certificateId=desc["caCertificateId"])["certificateDescription"]
    assert ca["status"] == "ACTIVE"
    d = wait_for(lambda: (x := device(s, "f-1")["device"])["status"] == "retrying" and x, timeout=20,
                 what="f-1 refused with its expired certificate")
    assert "expired" in d["lastError"].lower(), d

    status, headers, body = call(s, "/console/api/sim/devices/nobody/fault", "POST", {"drop": 0.5})
    assert status == 404 and headers["x-amzn-ErrorType"].startswith("ResourceNotFoundException")
    status, headers, body = call(s, "/console/api/sim/devices/f-1/fault", "POST", {"drop": 2})
    assert status == 400 and "not a ratio" in body["message"], body
    assert device(s, "f-1")["device"]["faults"]["drop"] == 1, "a refused change changes nothing"

    assert call(s, "/console/api/sim/scenarios/flaky", "DELETE")[0] == 204
    wait_for(lambda: scenario(s, "flaky")["phase"] == "stopped", what="stopped")

    # "Add 10 lamps": an example's fleet, twice, without name clashes.
    for k, fleet in [(1, "lamp"), (2, "lamp2")]:
        status, _, body = call(s, "/console/api/sim/quick", "POST", {"example": "smart-lamps", "count": 10})
        assert status == 201 and body["name"] == f"quick-smart-lamps-{k}", body
        wait_for(lambda: scenario(s, body["name"])["online"] == 10, timeout=30, what="10 lamps")
        assert iot.describe_thing(thingName=f"{fleet}-10")["thingTypeName"] == "SmartLamp"


BAD = """name: bad
devices:
  - name: lamp
    telemetry:
      - topic: lamps/${thng}/t
        every: 1s
        payload: 1
"""


def test_invalid_scenarios_are_refused_with_their_line(fresh_server, tmp_path):
    s = fresh_server().start()
    status, headers, body = call(s, "/console/api/sim/scenarios", "POST", {"text": BAD})
    assert status == 400 and headers["x-amzn-ErrorType"].startswith("InvalidRequestException")
    assert body["message"].startswith("line 5: ") and "unknown variable '${thng}'" in body["message"], body
    assert s.client().list_things()["things"] == [], "nothing was made"
    assert sim_state(s)["scenarios"] == []

    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    env = {**os.environ, "RUST_LOG": "warn"}
    res = subprocess.run([str(BIN), "simulate", str(bad), "--data-dir", str(s.data_dir)],
                         capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 1 and "line 5: " in res.stderr, res.stderr

    # The CLI runs a good one against the running Thingbox until its duration ends.
    good = tmp_path / "good.yaml"
    good.write_text(FLAKY.replace("name: flaky", "name: cli-run\nduration: 3s"))
    res = subprocess.run([str(BIN), "simulate", str(good), "--data-dir", str(s.data_dir)],
                         capture_output=True, text=True, timeout=90, env=env)
    assert res.returncode == 0, res.stderr + res.stdout
    assert "scenario cli-run started" in res.stdout and "Stopped: " in res.stdout, res.stdout
    assert {t["thingName"] for t in s.client().list_things()["things"]} == {"f-1", "f-2", "f-3"}
    connected = history(s, filter="$aws/events/presence/connected/+", limit=100)["messages"]
    assert {m["topic"].rsplit("/", 1)[1] for m in connected} == {"f-1", "f-2", "f-3"}


def test_simulate_against_another_endpoint_with_a_given_certificate(fresh_server, tmp_path):
    """`--endpoint` mode, as against AWS: nothing is made; every device presents the given
    certificate with its thing name as client id; steps needing the API are skipped and said so."""
    s = fresh_server().start()
    iot = s.client()
    made = iot.create_keys_and_certificate(setAsActive=True)
    iot.create_policy(policyName="any", policyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}))
    iot.attach_policy(policyName="any", target=made["certificateArn"])
    (tmp_path / "dev.crt").write_text(made["certificatePem"])
    (tmp_path / "dev.key").write_text(made["keyPair"]["PrivateKey"])
    scenario = tmp_path / "remote.yaml"
    scenario.write_text("""name: remote
duration: 3s
devices:
  - name: far
    count: 2
    telemetry:
      - {topic: "far/${thing}", every: 200ms, payload: {n: {counter: {}}}}
steps:
  - at: 1s
    desired: {devices: "*", state: {on: true}}
""")
    res = subprocess.run([str(BIN), "simulate", str(scenario), "--endpoint", s.endpoints["mqtt_tls"],
                          "--cert", str(tmp_path / "dev.crt"), "--key", str(tmp_path / "dev.key"),
                          "--ca", s.endpoints["root_ca"]],
                         capture_output=True, text=True, timeout=90, env={**os.environ, "RUST_LOG": "warn"})
    assert res.returncode == 0, res.stderr + res.stdout
    assert "steps need the AWS API" in res.stdout and "Stopped: " in res.stdout, res.stdout
    assert s.client().list_things()["things"] == [], "nothing was made"
    got = {m["topic"] for m in history(s, filter="far/+", limit=100)["messages"]}
    assert got == {"far/far-1", "far/far-2"}
    clients = {m["topic"].rsplit("/", 1)[1] for m in
               history(s, filter="$aws/events/presence/connected/+", limit=10)["messages"]}
    assert clients == {"far-1", "far-2"}
