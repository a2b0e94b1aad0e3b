"""A data dir whose file system turns read-only under a running Thingbox, the way ext4 does it after
an I/O error (`errors=remount-ro`): writes are refused with InternalFailureException saying the data
dir cannot be written and change nothing (a refused retained message is not served either), reads
and MQTT routing go on, the server stops cleanly, and once the disk is repaired (fsck) and mounted
again every acknowledged write is there and no refused one. Root only (it mounts an ext4 image on a
loop device and triggers the file system error through /sys/fs/ext4)."""

import json
import os
import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import one_attempt_clients
from mqtt_helpers import Client

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts an ext4 image on a loop device")


class Ext4Disk:
    def __init__(self, tmp: Path):
        self.image = tmp / "disk.img"
        self.mnt = tmp / "disk"
        self.mnt.mkdir()
        subprocess.run(["truncate", "-s", "96M", str(self.image)], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(self.image)], check=True)

    def mount(self):
        r = subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(self.image), str(self.mnt)])
        if r.returncode != 0:
            pytest.skip("cannot mount an ext4 image on a loop device here")
        dev = subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(self.mnt)], capture_output=True, text=True)
        self.trigger = Path("/sys/fs/ext4") / Path(dev.stdout.strip()).name / "trigger_fs_error"
        if not self.trigger.exists():
            pytest.skip("this kernel has no /sys/fs/ext4/<dev>/trigger_fs_error")

    def fail(self):
        """An ext4 error: the kernel aborts the journal and remounts the file system read-only."""
        self.trigger.write_text("thingbox test\n")
        opts = subprocess.run(["findmnt", "-n", "-o", "OPTIONS", str(self.mnt)], capture_output=True, text=True)
        assert "ro" in opts.stdout.split(",") or "emergency_ro" in opts.stdout, opts.stdout

    def repair(self):
        """What a user does: unmount, fsck, mount again."""
        subprocess.run(["umount", str(self.mnt)], check=True)
        fsck = subprocess.run(["e2fsck", "-f", "-y", str(self.image)], capture_output=True, text=True)
        assert fsck.returncode in (0, 1), fsck.stdout + fsck.stderr  # 1: errors corrected
        self.mount()


@pytest.fixture
def disk(tmp_path):
    d = Ext4Disk(tmp_path)
    d.mount()
    yield d
    subprocess.run(["umount", "-l", str(d.mnt)])


POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})
RULE = {"sql": "SELECT * FROM 'ro/#'", "actions": [{"republish": {"topic": "out", "roleArn": "arn:aws:iam::1:role/r"}}]}
THING_ARN = "arn:aws:iot:us-east-1:000000000000:thing/before"


def assert_nothing_refused_is_there(iot):
    assert iot.describe_thing(thingName="before")["attributes"] == {"k": "v"}
    assert "refused" not in {t["thingName"] for t in iot.list_things()["things"]}
    assert "refused" not in {p["policyName"] for p in iot.list_policies()["policies"]}
    assert "refused" not in {r["ruleName"] for r in iot.list_topic_rules()["rules"]}
    assert "refused" not in {j["jobId"] for j in iot.list_jobs()["jobs"]}
    assert "refused" not in {g["groupName"] for g in iot.list_thing_groups()["thingGroups"]}
    assert iot.describe_event_configurations()["eventConfigurations"]["THING"]["Enabled"] is False


def test_a_data_dir_that_turns_read_only_refuses_writes_keeps_reads_and_loses_nothing(fresh_server, disk):
    s = fresh_server("--history-messages", "0", data_dir=disk.mnt / "data").start()
    iot, data = one_attempt_clients(s)
    iot.create_thing(thingName="before", attributePayload={"attributes": {"k": "v"}})
    data.update_thing_shadow(thingName="before", payload=b'{"state":{"reported":{"n":1}}}')
    data.publish(topic="ro/kept", qos=1, retain=True, payload=b"before")
    watcher = Client(s, client_id="ro-watcher")
    watcher.connect()
    watcher.subscribe("ro/live/#")

    disk.fail()

    refused = {}
    for call, what in [
        (lambda: iot.create_thing(thingName="refused"), "CreateThing"),
        (lambda: iot.update_thing(thingName="before", attributePayload={"attributes": {"k": "w"}}), "UpdateThing"),
        (lambda: data.update_thing_shadow(thingName="before", payload=b'{"state":{"reported":{"n":2}}}'), "shadow"),
        (lambda: data.publish(topic="ro/kept", qos=1, retain=True, payload=b"refused"), "retained publish"),
        (lambda: iot.create_policy(policyName="refused", policyDocument=POLICY), "CreatePolicy"),
        (lambda: iot.create_topic_rule(ruleName="refused", topicRulePayload=RULE), "CreateTopicRule"),
        (lambda: iot.create_job(jobId="refused", targets=[THING_ARN], document='{"a":1}'), "CreateJob"),
        (lambda: iot.create_thing_group(thingGroupName="refused"), "CreateThingGroup"),
        (lambda: iot.update_event_configurations(eventConfigurations={"THING": {"Enabled": True}}), "events"),
    ]:
        with pytest.raises(ClientError) as e:
            call()
        refused[what] = (e.value.response["Error"]["Code"], e.value.response["Error"]["Message"])
    for what, (code, message) in refused.items():
        assert code == "InternalFailureException", (what, code, message)
        assert "cannot be written" in message and "read-only" in message, (what, message)

    # Reads go on from memory, and nothing refused is visible.
    assert_nothing_refused_is_there(iot)
    assert json.loads(data.get_thing_shadow(thingName="before")["payload"].read())["version"] == 1
    assert data.get_retained_message(topic="ro/kept")["payload"] == b"before"
    # Messages that need no storage are still routed.
    publisher = Client(s, client_id="ro-publisher")
    publisher.connect()
    publisher.publish("ro/live/a", b"still routed", qos=1)
    assert watcher.recv().payload == b"still routed"
    publisher.close()
    watcher.close()

    assert s.stop() == 0
    disk.repair()
    again = fresh_server("--history-messages", "0", data_dir=disk.mnt / "data").start()
    iot, data = one_attempt_clients(again)
    assert_nothing_refused_is_there(iot)
    assert json.loads(data.get_thing_shadow(thingName="before")["payload"].read())["version"] == 1
    assert data.get_retained_message(topic="ro/kept")["payload"] == b"before"
    iot.create_thing(thingName="after")  # writable again
    assert again.stop() == 0
