"""Fixtures for the end-to-end suites: a real `thingbox serve` process on port 0 with a temporary
data dir, discovered through its endpoints.json, and the real AWS clients pointed at it."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(
    os.environ.get("THINGBOX_BIN")
    or Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "thingbox"
)
FAKE_CREDS = {"AWS_ACCESS_KEY_ID": "AKIDTHINGBOXTEST", "AWS_SECRET_ACCESS_KEY": "secret"}


def wait_for(condition, timeout=15.0, what="condition"):
    """Polls `condition` until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def http(url, headers=None, method="GET", body=None):
    """One plain HTTP request: (status, headers, body), error statuses included."""
    req = urllib.request.Request(url, headers=headers or {}, method=method, data=body)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class Server:
    """One `thingbox serve` process."""

    def __init__(self, data_dir: Path, *extra: str):
        self.data_dir = Path(data_dir)
        ports = {"--api-port": "0", "--mqtt-tls-port": "0", "--mqtt-port": "0", "--https-port": "0"}
        ports = [a for flag, port in ports.items() if flag not in extra for a in (flag, port)]
        self.args = [str(BIN), "serve", "--data-dir", str(self.data_dir), *ports, *extra]
        self.proc = None
        self.endpoints = None

    @property
    def endpoints_file(self) -> Path:
        return self.data_dir / "endpoints.json"

    def start(self):
        assert BIN.exists(), f"{BIN} is missing: build it with `cargo build -p thingbox-server`"
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "RUST_LOG": "warn"},
        )

        def ready():
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"thingbox exited with {self.proc.returncode}: {err}{out}")
            try:
                ep = json.loads(self.endpoints_file.read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                return None
            # A file left by a killed predecessor names a port nobody serves: wait for ours.
            host, port = ep["api"].removeprefix("http://").rsplit(":", 1)
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
            except OSError:
                return None
            return ep

        self.endpoints = wait_for(ready, what="endpoints.json")
        return self

    @property
    def api(self) -> str:
        return self.endpoints["api"]

    def stop(self, sig=signal.SIGINT, timeout=15):
        """Stops the server with `sig` and returns its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self.proc.stdout.close()
        self.proc.stderr.close()
        code, self.proc = self.proc.returncode, None
        return code

    def client(self, service="iot", region="us-east-1"):
        return boto3.client(
            service,
            endpoint_url=self.api,
            region_name=region,
            aws_access_key_id=FAKE_CREDS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDS["AWS_SECRET_ACCESS_KEY"],
            config=Config(retries={"max_attempts": 1}),
        )

    def aws(self, *args, check=True):
        """Runs the AWS CLI from the test virtualenv against this server; returns parsed JSON."""
        aws_bin = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "aws"
        env = {**os.environ, **FAKE_CREDS, "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": ""}
        res = subprocess.run(
            [str(aws_bin), "--endpoint-url", self.api, "--output", "json", *args],
            capture_output=True, text=True, env=env, timeout=60,
        )
        if check and res.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({res.returncode}): {res.stderr}")
        if res.returncode != 0:
            return res
        return json.loads(res.stdout) if res.stdout.strip() else {}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("data")).start()
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def iot(server):
    return server.client("iot")


@pytest.fixture
def fresh_server(tmp_path):
    servers = []

    def make(*extra, data_dir=None):
        s = Server(data_dir or tmp_path / f"data{len(servers)}", *extra)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


def one_attempt_clients(s):
    """`iot` and `iot-data` clients of `s` that send each call once (botocore's standard mode with
    one attempt; the legacy mode's `max_attempts: 1` still retries once): no retry hides a failure."""
    cfg = Config(retries={"mode": "standard", "max_attempts": 1})
    kw = dict(endpoint_url=s.api, region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b", config=cfg)
    return boto3.client("iot", **kw), boto3.client("iot-data", **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
