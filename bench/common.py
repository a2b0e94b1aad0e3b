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
    # Every port free-chosen, 443 included: a benchmark must not hold the port the Device SDK
    # sample tests (and a user's own Thingbox) use.
    proc = subprocess.Popen([binary, "serve", "--data-dir", str(data_dir), "--api-port", "0", "--mqtt-port", "0",
                             "--mqtt-tls-port", "0", "--https-port", "0", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
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


# Chromium's flags for the browser benchmarks: headless as root, and no background traffic (this
# machine's closed network refuses it, many connections at a time).
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def browser_args(**sizes):
    """The arguments of a browser benchmark: the Thingbox binary, one integer option per `sizes`
    item (its default), the number of runs and Chromium's path."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--thingbox", required=True)
    for name, default in sizes.items():
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    return ap.parse_args()


def console_runs(args, prepare):
    """Starts `thingbox serve`, calls `prepare(endpoints)`, then yields a page once per run — each
    in a fresh browser context (1280×860) with the console open and its overview rendered — and
    cleans up after the last."""
    import tempfile

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        proc, ep = start_serve(args.thingbox, tmp)
        try:
            prepare(ep)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_FLAGS)
                for _ in range(args.runs):
                    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
                    page = ctx.new_page()
                    page.goto(ep["console"])
                    page.wait_for_selector("#counts")
                    yield page
                    ctx.close()
                browser.close()
        finally:
            proc.terminate()
            proc.wait(10)
