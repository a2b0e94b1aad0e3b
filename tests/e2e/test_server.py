"""`thingbox serve` as a process: discovery through endpoints.json, clean shutdown, persistence
across restarts, and one clear line for every start-up problem."""

import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
from pathlib import Path

import boto3
import pytest
from conftest import BIN, Server, free_port


def run_to_exit(*args, timeout=30):
    """Runs thingbox to completion (for start-up failures); returns (code, stderr). MQTT ports
    default to 0 so that only the failure under test can stop it."""
    args = list(args)
    for flag in ("--mqtt-tls-port", "--mqtt-port", "--https-port"):
        if args and args[0] == "serve" and flag not in args:
            args += [flag, "0"]
    res = subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "RUST_LOG": "off"})
    return res.returncode, res.stderr.strip()


def test_endpoints_json_and_clean_shutdown(fresh_server):
    s = fresh_server().start()
    ep = s.endpoints
    assert set(ep) == {"api", "mqtt_tls", "mqtt", "https", "root_ca", "account", "region", "console"}
    assert ep["mqtt_tls"].startswith("127.0.0.1:") and ep["mqtt"].startswith("127.0.0.1:")
    assert ep["api"].startswith("http://127.0.0.1:") and not ep["api"].endswith(":0")
    assert os.path.isabs(ep["root_ca"]) and open(ep["root_ca"]).read().startswith("-----BEGIN CERTIFICATE-----")
    assert (ep["account"], ep["region"]) == ("000000000000", "us-east-1")
    key = s.data_dir / "ca" / "root-ca.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((s.data_dir / "ca" / "server.key").stat().st_mode) == 0o600
    assert s.stop(signal.SIGTERM) == 0
    assert not s.endpoints_file.exists()


def test_registry_survives_restart(fresh_server):
    s = fresh_server().start()
    iot = s.client()
    iot.create_thing_type(thingTypeName="bulb")
    created = iot.create_thing(thingName="lamp-1", thingTypeName="bulb", attributePayload={"attributes": {"a": "1"}})
    iot.create_thing_group(thingGroupName="hall", tags=[{"Key": "env", "Value": "dev"}])
    iot.add_thing_to_thing_group(thingGroupName="hall", thingName="lamp-1")
    iot.update_thing(thingName="lamp-1", attributePayload={"attributes": {"b": "2"}, "merge": True})
    cert = iot.create_keys_and_certificate(setAsActive=True)
    iot.attach_thing_principal(thingName="lamp-1", principal=cert["certificateArn"])
    code = iot.get_registration_code()["registrationCode"]
    root_ca = open(s.endpoints["root_ca"]).read()
    assert s.stop() == 0

    again = fresh_server(data_dir=s.data_dir).start()
    iot = again.client()
    d = iot.describe_thing(thingName="lamp-1")
    assert d["thingId"] == created["thingId"]
    assert (d["attributes"], d["version"], d["thingTypeName"]) == ({"a": "1", "b": "2"}, 2, "bulb")
    assert iot.list_things_in_thing_group(thingGroupName="hall")["things"] == ["lamp-1"]
    arn = iot.describe_thing_group(thingGroupName="hall")["thingGroupArn"]
    assert iot.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "env", "Value": "dev"}]
    assert open(again.endpoints["root_ca"]).read() == root_ca, "the root CA must be kept across restarts"
    d = iot.describe_certificate(certificateId=cert["certificateId"])["certificateDescription"]
    assert (d["status"], d["certificatePem"]) == ("ACTIVE", cert["certificatePem"])
    assert iot.list_thing_principals(thingName="lamp-1")["principals"] == [cert["certificateArn"]]
    assert iot.get_registration_code()["registrationCode"] == code


def test_writes_acknowledged_before_sigkill_survive(fresh_server):
    s = fresh_server().start()
    iot = s.client()
    for i in range(50):
        iot.create_thing(thingName=f"k{i}")
    s.proc.kill()
    s.proc.wait()
    again = fresh_server(data_dir=s.data_dir).start()
    names = [t["thingName"] for p in again.client().get_paginator("list_things").paginate() for t in p["things"]]
    assert sorted(names) == sorted(f"k{i}" for i in range(50))


def test_port_in_use_is_one_clear_line(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        code, err = run_to_exit("serve", "--data-dir", str(tmp_path), "--api-port", str(port))
    assert code != 0
    assert err.count("\n") == 0, err
    assert f"port {port}" in err and "already in use" in err and "--api-port" in err


def test_unwritable_data_dir(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a dir")
    code, err = run_to_exit("serve", "--data-dir", str(blocker / "data"), "--api-port", "0")
    assert code != 0 and "not writable" in err and "--data-dir" in err, err


def test_corrupt_database_is_refused_and_kept(tmp_path):
    db = tmp_path / "thingbox.db"
    junk = b"definitely not sqlite " * 500
    db.write_bytes(junk)
    code, err = run_to_exit("serve", "--data-dir", str(tmp_path), "--api-port", "0")
    assert code != 0 and "not a readable Thingbox database" in err, err
    assert db.read_bytes() == junk
    assert not (tmp_path / "endpoints.json").exists()


def test_database_from_a_newer_version_is_refused(fresh_server):
    s = fresh_server().start()
    s.stop()
    con = sqlite3.connect(s.data_dir / "thingbox.db")
    con.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) "
        "VALUES (99990101000000, 'future', 1, x'00', 0)"
    )
    con.commit()
    con.close()
    code, err = run_to_exit("serve", "--data-dir", str(s.data_dir), "--api-port", "0")
    assert code != 0 and "newer Thingbox" in err, err


def test_second_server_on_same_data_dir_is_refused(fresh_server):
    s = fresh_server().start()
    code, err = run_to_exit("serve", "--data-dir", str(s.data_dir), "--api-port", "0")
    assert code != 0 and "in use by another Thingbox" in err, err
    assert s.endpoints_file.exists(), "the running server's endpoints.json must be left alone"


def test_config_file_and_flags(tmp_path):
    port = free_port()
    (tmp_path / "thingbox.toml").write_text(f'api_port = {port}\nregion = "eu-west-3"\naccount = "111122223333"\n')
    s = Server(tmp_path)
    s.args = [str(BIN), "serve", "--data-dir", str(tmp_path), "--mqtt-tls-port", "0", "--mqtt-port", "0",
              "--https-port", "0"]
    s.start()
    try:
        assert s.endpoints["api"] == f"http://127.0.0.1:{port}"
        assert (s.endpoints["region"], s.endpoints["account"]) == ("eu-west-3", "111122223333")
        arn = s.client(region="eu-west-3").create_thing(thingName="x")["thingArn"]
        assert arn == "arn:aws:iot:eu-west-3:111122223333:thing/x"
    finally:
        assert s.stop() == 0
    s = Server(tmp_path, "--region", "ap-south-1")  # flags win over the file; --api-port 0 from Server
    s.start()
    try:
        assert s.endpoints["region"] == "ap-south-1" and s.endpoints["api"] != f"http://127.0.0.1:{port}"
    finally:
        s.stop()


def banner_line(server, label, timeout=10):
    """The banner line that starts with `label` (printed right after endpoints.json is written)."""
    import queue
    import threading

    lines = queue.Queue()

    def read():
        for line in server.proc.stdout:
            lines.put(line)
            if line.startswith("Press Ctrl-C"):
                break
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    while (line := lines.get(timeout=timeout)) is not None:
        if line.strip().startswith(label):
            return line.strip()
    raise AssertionError(f"no {label!r} line in the banner")


def runtime_threads(pid):
    """Threads the runtime made: its workers, and blocking-pool threads that come and go."""
    n = 0
    for t in Path(f"/proc/{pid}/task").iterdir():
        try:
            n += (t / "comm").read_text().startswith("tokio-rt-worker")
        except OSError:
            pass  # a blocking-pool thread that just ended
    return n


def test_worker_threads(fresh_server, tmp_path):
    s = fresh_server("--worker-threads", "3").start()
    assert banner_line(s, "Threads") == "Threads    3 runtime workers (--worker-threads)"
    assert runtime_threads(s.proc.pid) >= 3
    s.client("iot").create_thing(thingName="on-three-workers")
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "thingbox.toml").write_text("worker_threads = 1\n")
    s = fresh_server(data_dir=tmp_path / "one").start()
    assert banner_line(s, "Threads") == "Threads    1 runtime worker (--worker-threads)"
    assert s.client("iot").list_things()["things"] == []
    code, err = run_to_exit("serve", "--data-dir", str(tmp_path / "x"), "--worker-threads", "0")
    assert code != 0 and "must be between 1 and 256 (got 0)" in err, err


def test_bad_config_is_named(tmp_path):
    (tmp_path / "thingbox.toml").write_text("api_prot = 1\n")
    code, err = run_to_exit("serve", "--data-dir", str(tmp_path))
    assert code != 0 and "thingbox.toml" in err and "api_prot" in err, err
    code, err = run_to_exit("serve", "--data-dir", str(tmp_path / "x"), "--account", "42")
    assert code != 0 and "12 digits" in err


def test_help_lists_every_flag():
    res = subprocess.run([str(BIN), "serve", "--help"], capture_output=True, text=True)
    assert res.returncode == 0
    for flag in ["--data-dir", "--bind", "--api-port", "--mqtt-tls-port", "--mqtt-port", "--https-port", "--account", "--region", "--endpoint-host",
                 "--worker-threads"]:
        assert flag in res.stdout, flag


def test_the_multiplexed_tls_port_serves_https_and_says_why_when_it_cannot(fresh_server):
    import ssl
    import urllib.request

    s = fresh_server().start()
    host, port = s.endpoints["https"].rsplit(":", 1)
    assert "https_unavailable" not in s.endpoints
    ctx = ssl.create_default_context(cafile=s.endpoints["root_ca"])
    # No ALPN (or http/1.1): HTTPS without a client certificate, the same AWS API as the API port.
    s.client().create_thing(thingName="over-http")
    with urllib.request.urlopen(f"https://localhost:{port}/things", context=ctx, timeout=5) as res:
        assert [t["thingName"] for t in json.loads(res.read())["things"]] == ["over-http"]
    iot = boto3.client("iot", endpoint_url=f"https://localhost:{port}", region_name="us-east-1", verify=s.endpoints["root_ca"],
                       aws_access_key_id="AKID", aws_secret_access_key="x")
    assert iot.describe_thing(thingName="over-http")["thingName"] == "over-http"
    # ALPN x-amzn-mqtt-ca: mutual TLS, so a client without a certificate is refused in the handshake.
    mqtt_ctx = ssl.create_default_context(cafile=s.endpoints["root_ca"])
    mqtt_ctx.set_alpn_protocols(["x-amzn-mqtt-ca"])
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with socket.create_connection((host, int(port)), timeout=5) as raw:
            with mqtt_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.recv(1)

    # A port that cannot be bound does not stop the server: it runs without it and says why.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = fresh_server("--https-port", str(taken.getsockname()[1])).start()
        assert busy.endpoints["https"] is None
        assert "in use by another program" in busy.endpoints["https_unavailable"]
        assert "--https-port" in busy.endpoints["https_unavailable"]
