"""A full disk under the data dir: writes are refused with InternalFailureException saying so and
change nothing, reads go on, writes work again once space is freed, and after a restart every
acknowledged write is there and no refused one. Root only (it mounts a 40 MB tmpfs).

This found a lost-write bug: when SQLite could not COMMIT (SQLITE_FULL) it kept the transaction
open, sqlx nested the writer's next transactions in it as savepoints, and every later write was
acknowledged without reaching the disk. The writer now reopens its connection after a failure."""

import json
import os
import subprocess
import uuid

import pytest

from conftest import one_attempt_clients

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs")


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


def fill(path):
    """Fills the file system of `path` to the last byte."""
    with open(path, "wb", buffering=0) as f:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass


def test_a_full_disk_refuses_writes_keeps_reads_and_recovers(fresh_server, small_disk):
    s = fresh_server("--history-messages", "0", data_dir=small_disk / "data").start()
    iot, data = one_attempt_clients(s)
    iot.create_thing(thingName="before", attributePayload={"attributes": {"k": "v"}})
    data.update_thing_shadow(thingName="before", payload=b'{"state":{"reported":{"n":0}}}')
    filler = small_disk / "filler"
    fill(filler)

    acked, refused, messages = [], [], set()
    for i in range(400):  # until SQLite has no room left (its WAL reuses some space first)
        name = f"full-{i}-{uuid.uuid4().hex[:4]}"
        try:
            iot.create_thing(thingName=name, attributePayload={"attributes": {"pad": "x" * 800}})
            acked.append(name)
        except iot.exceptions.InternalFailureException as e:
            refused.append(name)
            messages.add(e.response["Error"]["Message"])
            if len(refused) >= 5:
                break
    assert refused, f"the disk never filled up ({len(acked)} writes acknowledged)"
    assert all("disk that holds the data dir is full" in m for m in messages), messages
    # Reads go on, and the refused writes are not there.
    assert iot.describe_thing(thingName="before")["attributes"] == {"k": "v"}
    listed = {t["thingName"] for t in iot.list_things(maxResults=250)["things"]}
    assert set(acked) <= listed and not listed & set(refused)
    assert json.loads(data.get_thing_shadow(thingName="before")["payload"].read())["version"] == 1

    os.remove(filler)
    iot.create_thing(thingName="after")
    data.update_thing_shadow(thingName="before", payload=b'{"state":{"reported":{"n":1}}}')

    assert s.stop() == 0
    again = fresh_server("--history-messages", "0", data_dir=small_disk / "data").start()
    iot, data = one_attempt_clients(again)
    listed = {t["thingName"] for t in iot.list_things(maxResults=250)["things"]}
    assert set(acked) | {"before", "after"} <= listed
    assert not listed & set(refused)
    assert json.loads(data.get_thing_shadow(thingName="before")["payload"].read())["version"] == 2
