"""The Jobs page in headless Chromium: create a job from the form (targets picked from the
registry, settings explained in words), watch its progress bar reach 100 % as devices (boto3's
iot-jobs-data) finish their executions, see each execution's details, and manage OTA files."""

import uuid

from playwright.sync_api import expect

from test_console import browser, go, page, shot  # noqa: F401  (fixtures)


def test_create_a_job_and_watch_it_complete(server, iot, page, tmp_path):
    data = server.client("iot-jobs-data")
    things = [f"pump{uuid.uuid4().hex[:6]}" for _ in range(3)]
    for t in things:
        iot.create_thing(thingName=t)
    group = f"pumps{uuid.uuid4().hex[:6]}"
    iot.create_thing_group(thingGroupName=group)
    iot.add_thing_to_thing_group(thingGroupName=group, thingName=things[2])

    go(page, server, "jobs")
    page.click("#new-job")
    job = f"ui-job-{uuid.uuid4().hex[:6]}"
    page.fill("#job-id", job)
    page.locator("#job-things").select_option(label=things[:2])
    page.locator("#job-groups").select_option(label=[group])
    page.fill("#job-doc", "{ nope")
    expect(page.locator("#create-job")).to_contain_text("✗")
    expect(page.locator("#create-job-go")).to_be_disabled()
    page.fill("#job-doc", '{"operation": "flush"}')
    page.fill("#job-timeout", "30")
    page.fill("#job-abort", "50")
    expect(page.locator("#job-explained")).to_contain_text("becomes TIMED_OUT")
    expect(page.locator("#job-explained")).to_contain_text("50% or more")
    shot(page, "jobs-create")
    page.click("#create-job-go")

    # Made through the AWS API: boto3 sees the job with its settings.
    expect(page.locator("#job-summary")).to_be_visible()
    d = iot.describe_job(jobId=job)["job"]
    assert d["timeoutConfig"] == {"inProgressTimeoutInMinutes": 30}
    assert d["jobProcessDetails"]["numberOfQueuedThings"] == 3
    expect(page.locator("#executions tbody tr")).to_have_count(3)

    # Devices work; the page follows live.
    data.start_next_pending_job_execution(thingName=things[0], statusDetails={"step": "flushing"})
    expect(page.locator(f'#executions tr[data-thing="{things[0]}"]')).to_contain_text("step=flushing")
    for t in things:
        data.update_job_execution(thingName=t, jobId=job, status="SUCCEEDED")
    expect(page.locator("#job-status")).to_have_text("COMPLETED")
    expect(page.locator("#job-summary .progress")).to_have_attribute("data-percent", "100")
    shot(page, "jobs-detail")
    go(page, server, "jobs")
    expect(page.locator(f'#jobs tr[data-job="{job}"] .progress')).to_have_attribute("data-percent", "100")

    # OTA files: upload, see the placeholder, delete.
    fw = tmp_path / f"fw-{uuid.uuid4().hex[:6]}.bin"
    fw.write_bytes(b"\x7fELF" + b"0" * 1000)
    page.set_input_files("#ota-upload", str(fw))
    row = page.locator(f'#ota-files tr[data-file="firmware/{fw.name}"]')
    expect(row).to_contain_text("1004")
    expect(row).to_contain_text(f"s3-presigned-url:https://s3.amazonaws.com/firmware/{fw.name}")
    shot(page, "jobs-list")
    row.locator("button.danger").click()
    expect(row).to_have_count(0)


def test_create_from_a_template_and_a_file_and_watch_the_abort_threshold(server, iot, page, tmp_path):
    data = server.client("iot-jobs-data")
    things = [f"valve{uuid.uuid4().hex[:6]}" for _ in range(3)]
    for t in things:
        iot.create_thing(thingName=t)
    tid = f"tpl-{uuid.uuid4().hex[:6]}"
    abort = {"criteriaList": [{"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 50.0,
                               "minNumberOfExecutedThings": 2}]}
    tpl = iot.create_job_template(
        jobTemplateId=tid, description="valve firmware",
        document='{"firmware": "${aws:iot:parameter:version}"}',
        abortConfig=abort, jobExecutionsRolloutConfig={"maximumPerMinute": 600},
    )

    # A document read from a file fills the editor.
    go(page, server, "jobs")
    page.click("#new-job")
    doc_file = tmp_path / "doc.json"
    doc_file.write_text('{"operation": "from-a-file"}')
    page.set_input_files("#job-doc-file", str(doc_file))
    expect(page.locator("#job-doc")).to_have_value('{"operation": "from-a-file"}')

    # A template fills the document and the settings; its parameter gets a field.
    page.locator("#job-template").select_option(label=tid)
    expect(page.locator("#job-doc")).to_have_value('{"firmware": "${aws:iot:parameter:version}"}')
    expect(page.locator("#job-rate")).to_have_value("600")
    expect(page.locator("#job-abort")).to_have_value("50")
    page.fill('input[data-param="version"]', "2.1.0")
    job = f"tpl-job-{uuid.uuid4().hex[:6]}"
    page.fill("#job-id", job)
    page.locator("#job-things").select_option(label=things)
    page.click("#create-job-go")
    expect(page.locator("#job-thresholds")).to_be_visible()

    # boto3 sees a job made from the template: its abort criteria whole (not the form's guess),
    # the parameter substituted.
    d = iot.describe_job(jobId=job)["job"]
    assert d["jobTemplateArn"] == tpl["jobTemplateArn"]
    assert d["abortConfig"] == abort
    assert d["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 600}
    assert iot.get_job_document(jobId=job)["document"] == '{"firmware": "2.1.0"}'

    # The threshold is drawn against the job's failures as they come.
    crit = page.locator('#job-thresholds .criterion[data-failure-type="FAILED"]')
    expect(crit).to_have_attribute("data-threshold", "50")
    expect(page.locator("#job-thresholds .meter").first).to_have_attribute("data-notified", "3")
    data.update_job_execution(thingName=things[0], jobId=job, status="FAILED")
    expect(crit).to_contain_text("not yet armed: 1 of 2 executed")
    data.update_job_execution(thingName=things[1], jobId=job, status="SUCCEEDED")
    expect(crit).to_have_attribute("data-share", "50.0")
    expect(crit).to_contain_text("now 1 of 2 executed (50.0%)")
    expect(page.locator("#job-status")).to_have_text("CANCELED")
    shot(page, "jobs-thresholds")
