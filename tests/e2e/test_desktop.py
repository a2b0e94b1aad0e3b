"""Desktop smoke test: the Tauri app under Xvfb starts the engine in-process, its window loads the
console (which connects to the event stream), a screenshot is taken, and the app exits cleanly on
the window closing and on SIGTERM, leaving no process and no endpoints.json behind."""

import json
import os
import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, wait_for

BIN = Path(os.environ.get("THINGBOX_DESKTOP_BIN")
           or Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "thingbox-desktop")
ARTIFACTS = ROOT / "tests" / "artifacts" / "desktop"


@pytest.fixture
def display(tmp_path):
    assert shutil.which("Xvfb"), "Xvfb is missing: scripts/setup installs it"
    for n in range(90, 130):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            break
    xvfb = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1280x860x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: Path(f"/tmp/.X11-unix/X{n}").exists(), what="Xvfb")
    yield f":{n}"
    xvfb.terminate()
    xvfb.wait(10)


def start_app(display, data_dir):
    assert BIN.exists(), f"{BIN} is missing: build it with `cargo build -p thingbox-desktop`"
    data_dir.mkdir(parents=True, exist_ok=True)
    # Any free ports: the test must not depend on 4580/8883/1883 being free.
    (data_dir / "thingbox.toml").write_text("api_port = 0\nmqtt_tls_port = 0\nmqtt_port = 0\n")
    env = {**os.environ, "DISPLAY": display, "THINGBOX_DATA_DIR": str(data_dir), "RUST_LOG": "warn",
           "WEBKIT_DISABLE_DMABUF_RENDERER": "1"}
    env.pop("WAYLAND_DISPLAY", None)
    proc = subprocess.Popen([str(BIN)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)

    def endpoints():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the desktop app exited with {proc.returncode}: {err}{out}")
        try:
            return json.loads((data_dir / "endpoints.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    ep = wait_for(endpoints, timeout=60, what="the desktop app's engine")
    return proc, ep


def consoles(ep):
    token = ep["console"].split("token=", 1)[1]
    req = urllib.request.Request(ep["api"] + "/console/api/overview", headers={"x-thingbox-token": token})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())["stats"]["consoles"]


def window_id(display):
    out = subprocess.run(["xdotool", "search", "--name", "^Thingbox$"], capture_output=True, text=True,
                         env={**os.environ, "DISPLAY": display})
    ids = out.stdout.split()
    return ids[-1] if ids else None


def assert_gone(proc, data_dir):
    code = proc.wait(30)
    out, err = proc.communicate()
    assert code == 0, f"exit {code}: {err}"
    assert "stopped cleanly" in out
    assert not (data_dir / "endpoints.json").exists()
    # Nothing of the app's process group is left (WebKit's web and network processes end once
    # their parent is gone).
    wait_for(lambda: subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True).returncode != 0,
             timeout=10, what="WebKit's helper processes to exit")


def test_desktop_app_shows_the_console_and_exits_cleanly(display, tmp_path):
    data_dir = tmp_path / "desktop-data"
    proc, ep = start_app(display, data_dir)
    try:
        # The window's console loaded (wasm ran) and follows the event stream.
        wait_for(lambda: consoles(ep) >= 1, timeout=60, what="the window's console to connect")
        wid = wait_for(lambda: window_id(display), what="the Thingbox window")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "overview.png"

        def painted():
            # The overview is painted once the active navigation link shows: the dark theme's accent
            # (#5b8cff) appears nowhere on the boot page.
            if subprocess.run(["import", "-window", "root", str(shot)], env={**os.environ, "DISPLAY": display}).returncode:
                return False
            hist = subprocess.run(["convert", str(shot), "-format", "%c", "histogram:info:-"], capture_output=True,
                                  text=True).stdout
            return "#5B8CFF" in hist.upper()

        wait_for(painted, timeout=30, what="the window to paint the overview")
        # Closing the window stops the app and the engine.
        # Without a window manager there is no close button: use the app's Quit shortcut.
        xenv = {**os.environ, "DISPLAY": display}
        subprocess.run(["xdotool", "windowfocus", "--sync", wid], env=xenv, check=True)
        subprocess.run(["xdotool", "key", "ctrl+q"], env=xenv, check=True)
        assert_gone(proc, data_dir)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)

    # SIGTERM (or Ctrl-C in the terminal) stops it cleanly too; the data dir is reused.
    proc, ep = start_app(display, data_dir)
    try:
        wait_for(lambda: consoles(ep) >= 1, timeout=60, what="the window's console to connect")
        proc.send_signal(signal.SIGTERM)
        assert_gone(proc, data_dir)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
