"""Jobs through real clients: the control plane with boto3 and the AWS CLI, devices over MQTT (paho
and the AWS IoT Device SDK v2's IotJobsClientV2 on MQTT 5) and over HTTP (boto3's iot-jobs-data),
continuous jobs following a group, timeouts, rollout pacing, abort, restarts, and OTA files."""

import json
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import Future

import pytest

from conftest import wait_for
from mqtt_helpers import Client, Device
from test_viewer import call

DOC = {"operation": "reboot", "delaySecs": 1}


def uniq(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def thing_arn(server, name):
    return f"arn:aws:iot:us-east-1:{server.endpoints['account']}:thing/{name}"


def group_arn(server, name):
    return f"arn:aws:iot:us-east-1:{server.endpoints['account']}:thinggroup/{name}"


def make_things(iot, *names):
    for n in names:
        iot.create_thing(thingName=n)
    return names


def create_job(iot, server, things=(), groups=(), doc=DOC, **extra):
    job_id = extra.pop("jobId", uniq("job"))
    targets = [thing_arn(server, t) for t in things] + [group_arn(server, g) for g in groups]
    r = iot.create_job(jobId=job_id, targets=targets, document=json.dumps(doc), **extra)
    assert r["jobId"] == job_id and r["jobArn"].endswith(f":job/{job_id}")
    return job_id


@pytest.fixture(scope="module")
def device(iot, tmp_path_factory):
    return Device(iot, tmp_path_factory.mktemp("certs"))


@pytest.fixture
def mqtt(server, device):
    clients = []

    def make(client_id=None, v5=False):
        c = Client(server, client_id=client_id, device=device, v5=v5)
        c.connect()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def recv_on(client, topic, timeout=5):
    """The next message on `topic` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        m = client.recv(timeout=max(0.05, deadline - time.monotonic()))
        if m.topic == topic:
            return json.loads(m.payload)


def recv_all(client, *topics, timeout=5):
    """The next message on each of `topics`, in whatever order they come (others are skipped)."""
    got = {}
    deadline = time.monotonic() + timeout
    while len(got) < len(topics):
        m = client.recv(timeout=max(0.05, deadline - time.monotonic()))
        if m.topic in topics and m.topic not in got:
            got[m.topic] = json.loads(m.payload)
    return [got[t] for t in topics]


def request(client, topic, body, timeout=5):
    """Publishes a jobs request and returns (suffix, reply) from its accepted/rejected topic."""
    client.publish(topic, json.dumps(body))
    deadline = time.monotonic() + timeout
    while True:
        m = client.recv(timeout=max(0.05, deadline - time.monotonic()))
        if m.topic in (f"{topic}/accepted", f"{topic}/rejected"):
            return m.topic.rsplit("/", 1)[1], json.loads(m.payload)


def test_control_plane_with_boto3(server, iot):
    a, b, c = make_things(iot, uniq("t"), uniq("t"), uniq("t"))
    parent, child = uniq("g"), uniq("g")
    iot.create_thing_group(thingGroupName=parent)
    iot.create_thing_group(thingGroupName=child, parentGroupName=parent)
    iot.add_thing_to_thing_group(thingGroupName=child, thingName=b)
    iot.add_thing_to_thing_group(thingGroupName=parent, thingName=c)
    job = create_job(iot, server, things=[a], groups=[parent], description="reboot all",
                     timeoutConfig={"inProgressTimeoutInMinutes": 30}, tags=[{"Key": "team", "Value": "fw"}])
    d = iot.describe_job(jobId=job)["job"]
    assert d["status"] == "IN_PROGRESS" and d["targetSelection"] == "SNAPSHOT"
    assert d["jobProcessDetails"]["numberOfQueuedThings"] == 3, "the group is expanded through its child"
    assert d["timeoutConfig"] == {"inProgressTimeoutInMinutes": 30} and d["description"] == "reboot all"
    assert json.loads(iot.get_job_document(jobId=job)["document"]) == DOC
    listed = iot.list_job_executions_for_job(jobId=job)["executionSummaries"]
    assert sorted(e["thingArn"].rsplit("/", 1)[1] for e in listed) == sorted([a, b, c])
    assert all(e["jobExecutionSummary"]["status"] == "QUEUED" and e["jobExecutionSummary"]["executionNumber"] == 1
               for e in listed)
    mine = iot.list_job_executions_for_thing(thingName=b)["executionSummaries"]
    assert [e["jobId"] for e in mine] == [job]
    ex = iot.describe_job_execution(jobId=job, thingName=a)["execution"]
    assert (ex["status"], ex["versionNumber"], ex["executionNumber"]) == ("QUEUED", 1, 1)
    assert ex["statusDetails"] == {"detailsMap": {}} or "statusDetails" in ex
    assert job in [j["jobId"] for j in iot.list_jobs(status="IN_PROGRESS")["jobs"]]
    assert job in [j["jobId"] for j in iot.list_jobs(thingGroupName=parent)["jobs"]]
    assert iot.list_tags_for_resource(resourceArn=d["jobArn"])["tags"] == [{"Key": "team", "Value": "fw"}]
    iot.update_job(jobId=job, description="reboot everything")
    assert iot.describe_job(jobId=job)["job"]["description"] == "reboot everything"

    # Refusals, each changing nothing.
    with pytest.raises(iot.exceptions.ResourceAlreadyExistsException):
        create_job(iot, server, things=[a], jobId=job)
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        create_job(iot, server, things=["no-such-thing"])
    with pytest.raises(iot.exceptions.InvalidRequestException) as e:
        iot.create_job(jobId=uniq("job"), targets=[thing_arn(server, a)], document="{not json")
    assert "not valid JSON" in str(e.value)
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.create_job(jobId="bad id", targets=[thing_arn(server, a)], document="{}")
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_job(jobId=uniq("missing"))
    with pytest.raises(iot.exceptions.InvalidStateTransitionException):
        iot.delete_job(jobId=job)
    assert len(iot.list_job_executions_for_thing(thingName=a)["executionSummaries"]) == 1

    # Cancel: the QUEUED executions go; then the job can be deleted, with its executions.
    r = iot.cancel_job(jobId=job, reasonCode="NOT_NEEDED", comment="changed my mind")
    assert r["jobId"] == job
    d = iot.describe_job(jobId=job)["job"]
    assert d["status"] == "CANCELED" and d["reasonCode"] == "NOT_NEEDED"
    assert d["jobProcessDetails"]["numberOfCanceledThings"] == 3
    iot.delete_job(jobId=job)
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_job(jobId=job)
    assert iot.list_job_executions_for_thing(thingName=a)["executionSummaries"] == []


def test_device_runs_a_job_over_mqtt(server, iot, mqtt):
    (thing,) = make_things(iot, uniq("dev"))
    dev = mqtt()
    dev.subscribe(f"$aws/things/{thing}/jobs/notify-next")
    dev.subscribe(f"$aws/things/{thing}/jobs/notify")
    other = mqtt()
    other.subscribe(f"$aws/things/{thing}/jobs/#")
    base = f"$aws/things/{thing}/jobs"

    job = create_job(iot, server, things=[thing])
    nxt, notify = recv_all(dev, f"{base}/notify-next", f"{base}/notify")
    assert nxt["execution"]["jobId"] == job and nxt["execution"]["jobDocument"] == DOC
    assert nxt["execution"]["status"] == "QUEUED" and isinstance(nxt["timestamp"], int)
    assert [j["jobId"] for j in notify["jobs"]["QUEUED"]] == [job]

    kind, pending = request(dev, f"{base}/get", {"clientToken": "p1"})
    assert kind == "accepted" and pending["clientToken"] == "p1"
    assert pending["inProgressJobs"] == [] and [j["jobId"] for j in pending["queuedJobs"]] == [job]

    kind, started = request(dev, f"{base}/start-next", {"clientToken": "s1", "statusDetails": {"step": "download"}})
    assert kind == "accepted", started
    ex = started["execution"]
    assert (ex["status"], ex["versionNumber"], ex["executionNumber"]) == ("IN_PROGRESS", 2, 1)
    assert ex["statusDetails"] == {"step": "download"} and ex["jobDocument"] == DOC and "startedAt" in ex

    kind, rej = request(dev, f"{base}/{job}/update", {"status": "IN_PROGRESS", "expectedVersion": 9, "clientToken": "u0"})
    assert kind == "rejected" and rej["code"] == "VersionMismatch" and rej["clientToken"] == "u0"
    assert rej["executionState"] == {"status": "IN_PROGRESS", "statusDetails": {"step": "download"}, "versionNumber": 2}
    kind, upd = request(dev, f"{base}/{job}/update", {"status": "IN_PROGRESS", "expectedVersion": 2,
                                                      "statusDetails": {"progress": "50%"},
                                                      "includeJobExecutionState": True, "includeJobDocument": True})
    assert kind == "accepted" and upd["executionState"]["versionNumber"] == 3 and upd["jobDocument"] == DOC
    kind, done = request(dev, f"{base}/{job}/update", {"status": "SUCCEEDED", "clientToken": "u2"})
    assert kind == "accepted" and done["clientToken"] == "u2" and "executionState" not in done
    nxt, notify = recv_all(dev, f"{base}/notify-next", f"{base}/notify")
    assert nxt == {"timestamp": pytest.approx(time.time(), abs=5)} and notify["jobs"] == {}
    wait_for(lambda: iot.describe_job(jobId=job)["job"]["status"] == "COMPLETED", what="job completed")
    assert iot.describe_job(jobId=job)["job"]["jobProcessDetails"]["numberOfSucceededThings"] == 1

    kind, rej = request(dev, f"{base}/{job}/update", {"status": "IN_PROGRESS", "clientToken": "late"})
    assert kind == "rejected" and rej["code"] == "InvalidStateTransition"
    assert rej["executionState"]["status"] == "SUCCEEDED"
    kind, rej = request(dev, f"{base}/{job}/get", {"clientToken": "d"})
    assert kind == "rejected" and rej["code"] == "TerminalStateReached"
    kind, rej = request(dev, f"{base}/{uniq('nope')}/update", {"status": "SUCCEEDED"})
    assert kind == "rejected" and rej["code"] == "ResourceNotFound"
    dev.publish(f"{base}/get", b"{not json")
    assert recv_on(dev, f"{base}/get/rejected")["code"] == "InvalidJson"
    kind, rej = request(dev, f"{base}/bogus", {"clientToken": "x"})
    assert kind == "rejected" and rej["code"] == "InvalidTopic" and rej["clientToken"] == "x"
    kind, nothing = request(dev, f"{base}/start-next", {"clientToken": "s9"})
    assert kind == "accepted" and "execution" not in nothing

    # Replies went to the requester alone: the other client saw only notifications and requests.
    seen = []
    while True:
        try:
            seen.append(other.recv(timeout=0.3).topic)
        except Exception:
            break
    assert not any(t.endswith(("/accepted", "/rejected")) for t in seen), seen
    assert f"{base}/notify-next" in seen


def test_device_sdk_jobs_client_v2(server, iot, device):
    from awscrt import mqtt_request_response
    from awsiot import ServiceStreamOptions, iotjobs, mqtt5_client_builder

    (thing,) = make_things(iot, uniq("sdk"))
    port = int(server.endpoints["mqtt_tls"].rsplit(":", 1)[1])
    connected, stopped = Future(), Future()
    client = mqtt5_client_builder.mtls_from_path(
        endpoint="localhost", port=port, cert_filepath=str(device.cert), pri_key_filepath=str(device.key),
        ca_filepath=server.endpoints["root_ca"], client_id=uniq("sdk-jobs"), clean_session=True,
        keep_alive_secs=30, on_lifecycle_connection_success=lambda e: connected.done() or connected.set_result(True),
        on_lifecycle_stopped=lambda e: stopped.done() or stopped.set_result(True))
    client.start()
    try:
        connected.result(10)
        jobs = iotjobs.IotJobsClientV2(client, mqtt_request_response.ClientOptions(
            max_request_response_subscriptions=2, max_streaming_subscriptions=2, operation_timeout_in_seconds=10))
        next_events, subscribed = [], Future()
        stream = jobs.create_next_job_execution_changed_stream(
            iotjobs.NextJobExecutionChangedSubscriptionRequest(thing_name=thing),
            ServiceStreamOptions(
                incoming_event_listener=next_events.append,
                subscription_status_listener=lambda e: e.type == mqtt_request_response.SubscriptionStatusEventType
                .SUBSCRIPTION_ESTABLISHED and not subscribed.done() and subscribed.set_result(True)))
        stream.open()
        subscribed.result(10)

        outcomes = {}
        for final in ("SUCCEEDED", "FAILED", "REJECTED"):
            job = create_job(iot, server, things=[thing], doc={"final": final})
            pending = jobs.get_pending_job_executions(iotjobs.GetPendingJobExecutionsRequest(thing_name=thing)).result(10)
            assert [j.job_id for j in pending.queued_jobs] == [job]
            if final != "REJECTED":
                started = jobs.start_next_pending_job_execution(
                    iotjobs.StartNextPendingJobExecutionRequest(thing_name=thing)).result(10)
                assert started.execution.job_id == job and started.execution.status == "IN_PROGRESS"
                assert started.execution.job_document == {"final": final}
                assert started.execution.version_number == 2
                described = jobs.describe_job_execution(
                    iotjobs.DescribeJobExecutionRequest(thing_name=thing, job_id=job)).result(10)
                assert described.execution.status == "IN_PROGRESS"
            jobs.update_job_execution(iotjobs.UpdateJobExecutionRequest(
                thing_name=thing, job_id=job, status=final, status_details={"by": "sdk"})).result(10)
            outcomes[final] = iot.describe_job_execution(jobId=job, thingName=thing)["execution"]
        assert {k: v["status"] for k, v in outcomes.items()} == {s: s for s in outcomes}
        assert outcomes["FAILED"]["statusDetails"] == {"detailsMap": {"by": "sdk"}}
        wait_for(lambda: len(next_events) >= 6, what="notify-next events")
        assert next_events[0].execution.job_document == {"final": "SUCCEEDED"}

        with pytest.raises(Exception) as e:
            jobs.update_job_execution(iotjobs.UpdateJobExecutionRequest(
                thing_name=thing, job_id=uniq("nope"), status="SUCCEEDED")).result(10)
        assert "ResourceNotFound" in repr(e.value) or "ResourceNotFound" in str(getattr(e.value, "modeled_error", ""))
    finally:
        # Let the native client stop completely before it is collected (it crashes otherwise).
        client.stop()
        stopped.result(10)


def test_jobs_data_plane_over_http(server, iot):
    data = server.client("iot-jobs-data")
    (thing,) = make_things(iot, uniq("http"))
    job = create_job(iot, server, things=[thing])
    p = data.get_pending_job_executions(thingName=thing)
    assert p["inProgressJobs"] == [] and [j["jobId"] for j in p["queuedJobs"]] == [job]
    s = data.start_next_pending_job_execution(thingName=thing, statusDetails={"k": "v"}, stepTimeoutInMinutes=5)
    ex = s["execution"]
    assert ex["status"] == "IN_PROGRESS" and json.loads(ex["jobDocument"]) == DOC and ex["versionNumber"] == 2
    assert ex["statusDetails"] == {"k": "v"} and 0 < ex["approximateSecondsBeforeTimedOut"] <= 300
    d = data.describe_job_execution(thingName=thing, jobId=job, includeJobDocument=False)["execution"]
    assert "jobDocument" not in d and d["versionNumber"] == 2
    with pytest.raises(data.exceptions.ConflictException):
        data.update_job_execution(thingName=thing, jobId=job, status="SUCCEEDED", expectedVersion=1)
    with pytest.raises(data.exceptions.InvalidRequestException):
        data.update_job_execution(thingName=thing, jobId=job, status="CANCELED")
    u = data.update_job_execution(thingName=thing, jobId=job, status="SUCCEEDED", expectedVersion=2,
                                  includeJobExecutionState=True, includeJobDocument=True)
    assert u["executionState"]["status"] == "SUCCEEDED" and json.loads(u["jobDocument"]) == DOC
    with pytest.raises(data.exceptions.InvalidStateTransitionException):
        data.update_job_execution(thingName=thing, jobId=job, status="IN_PROGRESS")
    with pytest.raises(data.exceptions.TerminalStateException):
        data.describe_job_execution(thingName=thing, jobId=job)
    with pytest.raises(data.exceptions.ResourceNotFoundException):
        data.describe_job_execution(thingName=thing, jobId=uniq("nope"))
    assert "execution" not in data.start_next_pending_job_execution(thingName=thing)

    # The AWS CLI: both services on one endpoint, told apart by the signature.
    job2 = server.aws("iot", "create-job", "--job-id", uniq("cli"), "--targets", thing_arn(server, thing),
                      "--document", json.dumps(DOC))["jobId"]
    got = server.aws("iot-jobs-data", "get-pending-job-executions", "--thing-name", thing)
    assert [j["jobId"] for j in got["queuedJobs"]] == [job2]
    server.aws("iot", "cancel-job", "--job-id", job2, "--force")
    assert server.aws("iot", "describe-job", "--job-id", job2)["job"]["status"] == "CANCELED"


def test_continuous_job_follows_its_group(server, iot, mqtt):
    group = uniq("fleet")
    iot.create_thing_group(thingGroupName=group)
    first, later = make_things(iot, uniq("c"), uniq("c"))
    iot.add_thing_to_thing_group(thingGroupName=group, thingName=first)
    job = create_job(iot, server, groups=[group], targetSelection="CONTINUOUS")
    assert iot.describe_job(jobId=job)["job"]["jobProcessDetails"]["numberOfQueuedThings"] == 1
    dev = mqtt()
    dev.subscribe(f"$aws/things/{later}/jobs/notify-next")
    iot.add_thing_to_thing_group(thingGroupName=group, thingName=later)
    nxt = recv_on(dev, f"$aws/things/{later}/jobs/notify-next")
    assert nxt["execution"]["jobId"] == job
    iot.remove_thing_from_thing_group(thingGroupName=group, thingName=first)
    wait_for(lambda: iot.describe_job_execution(jobId=job, thingName=first)["execution"]["status"] == "REMOVED",
             what="REMOVED after leaving the group")
    other = uniq("g2")
    iot.create_thing_group(thingGroupName=other)
    (third,) = make_things(iot, uniq("c"))
    iot.add_thing_to_thing_group(thingGroupName=other, thingName=third)
    iot.associate_targets_with_job(jobId=job, targets=[group_arn(server, other)])
    assert iot.describe_job_execution(jobId=job, thingName=third)["execution"]["status"] == "QUEUED"
    assert iot.describe_job(jobId=job)["job"]["status"] == "IN_PROGRESS"
    snap = create_job(iot, server, things=[third])
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.associate_targets_with_job(jobId=snap, targets=[group_arn(server, other)])


def test_abort_cancels_the_rest(server, iot):
    data = server.client("iot-jobs-data")
    things = make_things(iot, *(uniq("ab") for _ in range(4)))
    job = create_job(iot, server, things=things, abortConfig={"criteriaList": [
        {"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 50, "minNumberOfExecutedThings": 2}]})
    data.update_job_execution(thingName=things[0], jobId=job, status="FAILED")
    data.update_job_execution(thingName=things[1], jobId=job, status="IN_PROGRESS")
    assert iot.describe_job(jobId=job)["job"]["status"] == "IN_PROGRESS"
    data.update_job_execution(thingName=things[2], jobId=job, status="SUCCEEDED")
    d = iot.describe_job(jobId=job)["job"]
    assert d["status"] == "CANCELED" and "abort" in d["comment"]
    assert d["jobProcessDetails"]["numberOfCanceledThings"] == 1
    assert d["jobProcessDetails"]["numberOfInProgressThings"] == 1, "IN_PROGRESS executions are left alone"


def test_rollout_rate_is_respected(server, iot):
    things = make_things(iot, *(uniq("ro") for _ in range(4)))
    job = create_job(iot, server, things=things, jobExecutionsRolloutConfig={"maximumPerMinute": 120})

    def all_queued():
        e = iot.list_job_executions_for_job(jobId=job)["executionSummaries"]
        return e if len(e) == 4 else None

    execs = wait_for(all_queued, timeout=10, what="all four executions")
    times = sorted(e["jobExecutionSummary"]["queuedAt"].timestamp() for e in execs)
    gaps = [b - a for a, b in zip(times, times[1:])]
    # 120 a minute is one every 0.5 s: three gaps of about half a second each (the ticker runs at 4 Hz).
    assert times[-1] - times[0] >= 1.2, times
    assert all(g >= 0.25 for g in gaps), gaps


def test_timeouts_retries_and_restart(fresh_server, tmp_path):
    s = fresh_server("--jobs-minute-ms", "300").start()
    iot, data = s.client("iot"), s.client("iot-jobs-data")
    a, b = make_things(iot, "ta", "tb")
    job = create_job(iot, s, things=[a, b], timeoutConfig={"inProgressTimeoutInMinutes": 2},
                     jobExecutionsRetryConfig={"criteriaList": [{"failureType": "TIMED_OUT", "numberOfRetries": 1}]})
    data.start_next_pending_job_execution(thingName=a)
    wait_for(lambda: iot.describe_job_execution(jobId=job, thingName=a, executionNumber=1)["execution"]["status"]
             == "TIMED_OUT", timeout=10, what="the in-progress timer")
    retry = iot.describe_job_execution(jobId=job, thingName=a)["execution"]
    assert (retry["status"], retry["executionNumber"]) == ("QUEUED", 2)
    summaries = iot.list_job_executions_for_thing(thingName=a)["executionSummaries"]
    assert summaries[0]["jobExecutionSummary"]["retryAttempt"] == 1
    # A step timer shorter than the in-progress one wins (and the retry follows).
    data.start_next_pending_job_execution(thingName=b, stepTimeoutInMinutes=1)
    started = time.monotonic()
    wait_for(lambda: iot.describe_job_execution(jobId=job, thingName=b, executionNumber=1)["execution"]["status"]
             == "TIMED_OUT", timeout=10, what="the step timer")
    assert time.monotonic() - started < 0.6 + 0.5, "the step timer (0.3 s) fired, not the in-progress one (0.6 s)"
    assert iot.describe_job(jobId=job)["job"]["jobProcessDetails"]["numberOfQueuedThings"] == 2

    # Restart with an execution in progress: it keeps its state, version and timer.
    (c,) = make_things(iot, "tc")
    job2 = create_job(iot, s, things=[c], timeoutConfig={"inProgressTimeoutInMinutes": 10})
    data.start_next_pending_job_execution(thingName=c, statusDetails={"phase": "flash"})
    assert s.stop() == 0
    s.start()
    iot = s.client("iot")
    ex = iot.describe_job_execution(jobId=job2, thingName=c)["execution"]
    assert (ex["status"], ex["versionNumber"], ex["statusDetails"]["detailsMap"]) == ("IN_PROGRESS", 2, {"phase": "flash"})
    assert iot.describe_job_execution(jobId=job, thingName=a)["execution"]["executionNumber"] == 2
    wait_for(lambda: iot.describe_job(jobId=job2)["job"]["status"] == "COMPLETED", timeout=10,
             what="the timer resumed after the restart")
    assert iot.describe_job(jobId=job2)["job"]["jobProcessDetails"]["numberOfTimedOutThings"] == 1


def test_ota_file_served_through_a_presigned_link(server, iot, mqtt):
    firmware = uuid.uuid4().bytes * 100
    status, _, info = call(server, "/console/api/ota-files/firmware/lamp/v2.bin", method="PUT", raw=firmware)
    assert status == 200 and info["size"] == len(firmware)
    placeholder = info["placeholder"]
    assert placeholder == "${aws:iot:s3-presigned-url:https://s3.amazonaws.com/firmware/lamp/v2.bin}"
    status, _, files = call(server, "/console/api/ota-files")
    assert any(f["key"] == "lamp/v2.bin" for f in files)
    (thing,) = make_things(iot, uniq("ota"))
    job = create_job(iot, server, things=[thing], doc={"url": placeholder},
                     presignedUrlConfig={"roleArn": "arn:aws:iam::000000000000:role/x", "expiresInSec": 60})
    assert json.loads(iot.get_job_document(jobId=job)["document"]) == {"url": placeholder}, "not substituted here"
    dev = mqtt()
    kind, started = request(dev, f"$aws/things/{thing}/jobs/start-next", {})
    url = started["execution"]["jobDocument"]["url"]
    assert url.startswith(server.api + "/ota/firmware/lamp/v2.bin?expires=")
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.read() == firmware
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url[:-4] + "0000", timeout=10)
    assert e.value.code == 403
    # documentSource reads the document from the same place.
    call(server, "/console/api/ota-files/docs/job.json", method="PUT", raw=json.dumps(DOC).encode())
    j2 = iot.create_job(jobId=uniq("src"), targets=[thing_arn(server, thing)],
                        documentSource="https://s3.amazonaws.com/docs/job.json")["jobId"]
    assert json.loads(iot.get_job_document(jobId=j2)["document"]) == DOC
    with pytest.raises(iot.exceptions.InvalidRequestException) as e:
        iot.create_job(jobId=uniq("src"), targets=[thing_arn(server, thing)],
                       documentSource="https://s3.amazonaws.com/docs/missing.json")
    assert "put the job document there" in str(e.value)


def test_job_templates(server, iot):
    (thing,) = make_things(iot, uniq("tpl"))
    tid = uniq("tpl")
    r = iot.create_job_template(jobTemplateId=tid, description="firmware",
                                document=json.dumps({"version": "${aws:iot:parameter:version}"}),
                                timeoutConfig={"inProgressTimeoutInMinutes": 10})
    assert r["jobTemplateArn"].endswith(f":jobtemplate/{tid}")
    assert iot.describe_job_template(jobTemplateId=tid)["timeoutConfig"] == {"inProgressTimeoutInMinutes": 10}
    assert tid in [t["jobTemplateId"] for t in iot.list_job_templates()["jobTemplates"]]
    job = iot.create_job(jobId=uniq("fromtpl"), targets=[thing_arn(server, thing)], jobTemplateArn=r["jobTemplateArn"],
                         documentParameters={"version": "2.1"})["jobId"]
    assert json.loads(iot.get_job_document(jobId=job)["document"]) == {"version": "2.1"}
    d = iot.describe_job(jobId=job)["job"]
    assert d["jobTemplateArn"] == r["jobTemplateArn"] and d["timeoutConfig"] == {"inProgressTimeoutInMinutes": 10}
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.create_job(jobId=uniq("fromtpl"), targets=[thing_arn(server, thing)], jobTemplateArn=r["jobTemplateArn"])
    iot.delete_job_template(jobTemplateId=tid)
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_job_template(jobTemplateId=tid)


def test_job_events_when_enabled(server, iot, mqtt):
    from botocore.exceptions import ClientError

    conf = iot.describe_event_configurations()["eventConfigurations"]
    assert set(conf) >= {"THING", "JOB", "JOB_EXECUTION", "CA_CERTIFICATE"}
    assert conf["JOB"] == {"Enabled": False}
    with pytest.raises(ClientError) as e:
        iot.update_event_configurations(eventConfigurations={"JOB": {"Enabled": True}, "JOBZ": {"Enabled": True}})
    assert e.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "'JOBZ' is not an event type" in e.value.response["Error"]["Message"]
    assert iot.describe_event_configurations()["eventConfigurations"]["JOB"] == {"Enabled": False}, "refused: unchanged"
    # The AWS CLI turns them on, as a user would.
    server.aws("iot", "update-event-configurations", "--event-configurations",
               '{"JOB": {"Enabled": true}, "JOB_EXECUTION": {"Enabled": true}}')
    d = server.aws("iot", "describe-event-configurations")
    assert d["eventConfigurations"]["JOB"] == {"Enabled": True} and "lastModifiedDate" in d

    watcher = mqtt()
    watcher.subscribe("$aws/events/job/#")
    watcher.subscribe("$aws/events/jobExecution/#")
    data = server.client("iot-jobs-data")
    a, b = make_things(iot, uniq("ev"), uniq("ev"))
    job = create_job(iot, server, things=[a, b], description="events demo")
    data.update_job_execution(thingName=a, jobId=job, status="SUCCEEDED", statusDetails={"took": "3s"})
    ev = recv_on(watcher, f"$aws/events/jobExecution/{job}/succeeded")
    assert ev["eventType"] == "JOB_EXECUTION" and ev["operation"] == "succeeded" and ev["status"] == "SUCCEEDED"
    assert ev["thingArn"] == thing_arn(server, a) and ev["statusDetails"] == {"took": "3s"}
    assert isinstance(ev["timestamp"], int) and len(ev["eventId"]) == 36

    iot.cancel_job(jobId=job, comment="enough")
    seq = [json.loads(m.payload) for m in (watcher.recv(timeout=5) for _ in range(3))]
    assert [(x["eventType"], x["operation"]) for x in seq] == [
        ("JOB", "cancellation_in_progress"), ("JOB_EXECUTION", "canceled"), ("JOB", "canceled")]
    canceled = seq[2]
    assert canceled["status"] == "CANCELED" and canceled["comment"] == "enough"
    assert canceled["description"] == "events demo" and canceled["targets"] == [thing_arn(server, a), thing_arn(server, b)]
    assert canceled["jobProcessDetails"]["numberOfSucceededThings"] == 1
    assert canceled["jobProcessDetails"]["numberOfCanceledThings"] == 1
    assert canceled["createdAt"] > 10**12, "the job's own times are in milliseconds"

    # With JOB_EXECUTION off, deleting the job says only the job's two events.
    iot.update_event_configurations(eventConfigurations={"JOB_EXECUTION": {"Enabled": False}})
    iot.delete_job(jobId=job)
    seq = [json.loads(m.payload) for m in (watcher.recv(timeout=5) for _ in range(2))]
    assert [(x["operation"], x["status"]) for x in seq] == [
        ("deletion_in_progress", "DELETION_IN_PROGRESS"), ("deleted", "DELETED")]
    iot.update_event_configurations(eventConfigurations={"JOB": {"Enabled": False}})


def test_scheduled_job_starts_and_ends_on_time(fresh_server):
    from datetime import datetime, timedelta, timezone

    # Job minutes of 100 ms: AWS's "at least 30 minutes ahead" is 3 s here.
    s = fresh_server("--jobs-minute-ms", "100").start()
    iot, data = s.client("iot"), s.client("iot-jobs-data")
    a, b = make_things(iot, "sa", "sb")
    start = (datetime.now(timezone.utc) + timedelta(seconds=4)).replace(microsecond=0)
    end = start + timedelta(seconds=4)
    fmt = "%Y-%m-%dT%H:%M:%S"
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as e:
        create_job(iot, s, things=[a], schedulingConfig={"startTime": datetime.now(timezone.utc).strftime(fmt)})
    assert e.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "at least 30 minutes from now" in e.value.response["Error"]["Message"]
    assert iot.list_jobs()["jobs"] == [], "a refused job is not kept"

    job = create_job(iot, s, things=[a, b], schedulingConfig={
        "startTime": start.strftime(fmt), "endTime": end.strftime(fmt), "endBehavior": "CANCEL"})
    d = iot.describe_job(jobId=job)["job"]
    assert d["status"] == "SCHEDULED" and d["schedulingConfig"]["endBehavior"] == "CANCEL"
    assert data.get_pending_job_executions(thingName=a)["queuedJobs"] == [], "nothing before the start"
    wait_for(lambda: iot.describe_job(jobId=job)["job"]["status"] == "IN_PROGRESS", timeout=10, what="the start")
    assert datetime.now(timezone.utc) >= start
    data.start_next_pending_job_execution(thingName=a)
    wait_for(lambda: iot.describe_job(jobId=job)["job"]["status"] == "CANCELED", timeout=10, what="the end")
    assert datetime.now(timezone.utc) >= end
    ex = {t: iot.describe_job_execution(jobId=job, thingName=t)["execution"]["status"] for t in (a, b)}
    assert ex == {a: "IN_PROGRESS", b: "CANCELED"}, "CANCEL leaves the running execution alone"
