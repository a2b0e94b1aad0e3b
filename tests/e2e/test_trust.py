"""`thingbox trust`: with the local root CA in the system trust store, the AWS IoT Device SDK v2
connects without being given a CA (as its samples do); `--uninstall` takes it out again."""

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import BIN
from mqtt_helpers import Device, host_port

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="changing the system trust store needs root")


def sdk_connects_without_ca(server, device) -> bool:
    from awsiot import mqtt_connection_builder

    _, port = host_port(server.endpoints["mqtt_tls"])
    conn = mqtt_connection_builder.mtls_from_path(
        endpoint="localhost", port=port, cert_filepath=str(device.cert), pri_key_filepath=str(device.key),
        client_id=f"trust-{uuid.uuid4().hex[:6]}", clean_session=True, keep_alive_secs=30,
    )
    try:
        conn.connect().result(10)
    except Exception:
        return False
    conn.disconnect().result(10)
    return True


def system_store_trusts_server(server, device) -> bool:
    """What OpenSSL's default trust store (which update-ca-certificates maintains) says."""
    import socket
    import ssl

    ctx = ssl.create_default_context()
    ctx.load_cert_chain(device.cert, device.key)
    host, port = host_port(server.endpoints["mqtt_tls"])
    try:
        with socket.create_connection((host, port), timeout=5) as raw, ctx.wrap_socket(raw, server_hostname="localhost"):
            return True
    except ssl.SSLCertVerificationError:
        return False


def trust(data_dir, *extra):
    return subprocess.run([str(BIN), "trust", "--data-dir", str(data_dir), *extra], capture_output=True, text=True)


def test_trust_and_uninstall(server, iot, tmp_path):
    device = Device(iot, tmp_path)
    assert not system_store_trusts_server(server, device), "the root CA must not be trusted before `thingbox trust`"
    res = trust(server.data_dir)
    try:
        assert res.returncode == 0, res.stderr
        installed = [p for p in Path("/usr/local/share/ca-certificates").glob("thingbox-*.crt")]
        assert installed and installed[0].read_text() == open(server.endpoints["root_ca"]).read()
        assert system_store_trusts_server(server, device)
        assert sdk_connects_without_ca(server, device)
    finally:
        res = trust(server.data_dir, "--uninstall")
    assert res.returncode == 0, res.stderr
    assert not list(Path("/usr/local/share/ca-certificates").glob("thingbox-*.crt"))
    assert not system_store_trusts_server(server, device)
    again = trust(server.data_dir, "--uninstall")
    assert again.returncode == 0 and "nothing to do" in again.stdout
