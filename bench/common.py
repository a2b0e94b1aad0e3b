"""Helpers the benchmark scripts share: free ports, waiting for a listener, starting `thingbox
serve` on port 0 (every listener) and reading its endpoints.json."""

import argparse
import json
import os
import resource
import socket
import subprocess
import time
from pathlib import Path


def raise_fd_limit():
    """Lifts the soft open-files limit to the hard one (10,000-connection runs need it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def start_serve(binary, data_dir, *extra):
    """Starts `thingbox serve` with every listener on port 0; returns (process, endpoints)."""
    proc = subprocess.Popen([binary, "serve", "--data-dir", str(data_dir), "--api-port", "0", "--mqtt-port", "0",
                             "--mqtt-tls-port", "0", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "RUST_LOG": "error"}, preexec_fn=raise_fd_limit)
    ep_file = Path(data_dir) / "endpoints.json"
    deadline = time.monotonic() + 30
    while not ep_file.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("thingbox did not start")
        time.sleep(0.001)
    return proc, json.loads(ep_file.read_text())


def tool_args(doc):
    """The arguments every MQTT harness takes: the Thingbox binary and the load tool."""
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--thingbox", required=True)
    ap.add_argument("--tool", required=True, help="path to thingbox-bench")
    ap.add_argument("--thingbox-arg", action="append", default=[],
                    help="extra flag for `thingbox serve` (repeat), e.g. --thingbox-arg=--history-messages=0")
    return ap
