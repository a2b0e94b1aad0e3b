"""The desktop app under Xvfb: it starts the engine in-process, its window loads the console (which
connects to the event stream), a screenshot is taken, and the app exits cleanly on the window
closing and on SIGTERM, leaving no process and no endpoints.json behind. Driven through
WebKitWebDriver, the window's console downloads a device bundle and the system's save dialog
(answered with xdotool) puts it where the user picks."""

import json
import os
import shutil
import signal
import socket
import subprocess
import urllib.error
import urllib.request
import zipfile
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
    assert code == 0, f"exit {code}: {err}{out}"
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


class WebDriver:
    """The W3C WebDriver protocol over HTTP, enough to drive the window's console through
    WebKitWebDriver (Debian's webkit2gtk-driver), which starts the desktop app itself."""

    def __init__(self, display, env):
        assert shutil.which("WebKitWebDriver"), "WebKitWebDriver is missing: scripts/setup installs webkit2gtk-driver"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        # TAURI_WEBVIEW_AUTOMATION lets WebKit's automation drive the app's webview.
        self.proc = subprocess.Popen(["WebKitWebDriver", f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True,
                                     env={**env, "DISPLAY": display, "TAURI_WEBVIEW_AUTOMATION": "true"})
        wait_for(lambda: self._ready(), what="WebKitWebDriver")
        caps = {"capabilities": {"alwaysMatch": {"webkitgtk:browserOptions": {"binary": str(BIN), "args": []}}}}
        self.session = "/session/" + self.call("POST", "/session", caps, timeout=90)["sessionId"]

    def _ready(self):
        try:
            return self.call("GET", "/status")["ready"]
        except OSError:
            return False

    def call(self, method, path, body=None, timeout=30):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read())["value"]
        except urllib.error.HTTPError as e:
            raise AssertionError(f"WebDriver {method} {path}: {e.read().decode()}") from None

    def run(self, script):
        return self.call("POST", self.session + "/execute/sync", {"script": script, "args": []})

    def find(self, css):
        def found():
            try:
                el = self.call("POST", self.session + "/element", {"using": "css selector", "value": css})
                return next(iter(el.values()))
            except AssertionError:
                return None
        return wait_for(found, what=f"{css} in the window")

    def click(self, css):
        self.call("POST", f"{self.session}/element/{self.find(css)}/click", {})

    def type(self, css, text):
        self.call("POST", f"{self.session}/element/{self.find(css)}/value", {"text": text})

    def close(self):
        try:
            self.call("DELETE", self.session, timeout=10)
        except (AssertionError, OSError):
            pass  # the app has quit already
        finally:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)


def save_dialog(display):
    """The save dialog's window id and title, once it is shown."""
    xenv = {**os.environ, "DISPLAY": display}

    def shown():
        ids = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^Save "], capture_output=True, text=True,
                             env=xenv).stdout.split()
        return ids[-1] if ids else None
    wid = wait_for(shown, what="the save dialog")
    title = subprocess.run(["xdotool", "getwindowname", wid], capture_output=True, text=True, env=xenv).stdout.strip()
    return wid, title


def answer_dialog(display, wid, *keys, text=None):
    xenv = {**os.environ, "DISPLAY": display}
    # A dialog just mapped may not take the focus yet (BadMatch): ask until it does.
    wait_for(lambda: subprocess.run(["xdotool", "windowfocus", "--sync", wid], env=xenv,
                                    capture_output=True).returncode == 0, what="the save dialog to take the focus")
    if text is not None:
        subprocess.run(["xdotool", "key", "--window", wid, "ctrl+a"], env=xenv, check=True)
        subprocess.run(["xdotool", "type", "--window", wid, text], env=xenv, check=True)
    for k in keys:
        subprocess.run(["xdotool", "key", "--window", wid, k], env=xenv, check=True)


def test_desktop_saves_a_device_bundle_where_the_user_picks(display, tmp_path):
    """The certificate bundle goes through the system's save dialog: the Downloads folder and the
    bundle's name are suggested, another place can be typed, and cancelling leaves no file (the
    staged copy, which holds a private key, is deleted)."""
    data_dir, home = tmp_path / "desktop-data", tmp_path / "home"
    downloads, elsewhere = home / "Downloads", tmp_path / "elsewhere"
    for d in (data_dir, downloads, home / ".config", elsewhere):
        d.mkdir(parents=True)
    (home / ".config" / "user-dirs.dirs").write_text('XDG_DOWNLOAD_DIR="$HOME/Downloads"\n')
    (data_dir / "thingbox.toml").write_text("api_port = 0\nmqtt_tls_port = 0\nmqtt_port = 0\n")
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "THINGBOX_DATA_DIR": str(data_dir), "RUST_LOG": "warn", "WEBKIT_DISABLE_DMABUF_RENDERER": "1"}
    env.pop("WAYLAND_DISPLAY", None)
    wd = WebDriver(display, env)
    staging = data_dir / "downloads-staging"
    try:
        ep = json.loads((data_dir / "endpoints.json").read_text())
        urllib.request.urlopen(urllib.request.Request(ep["api"] + "/things/desk-lamp", data=b"{}", method="POST")).read()
        wd.find("#counts")
        wd.run("location.hash = '#/certificates'")
        wd.click("#new-bundle")
        wd.type("#bundle-thing", "desk-lamp")

        def toast():
            return wd.run("return document.getElementById('desktop-toast')?.textContent ?? null")

        def toast_says(text):
            wait_for(lambda: toast() == text, what=f"the notice {text!r} (it says {toast()!r})")

        # 1. The suggested place and name: Enter saves it in Downloads.
        wd.click("#bundle-submit")
        wid, title = save_dialog(display)
        assert title == "Save desk-lamp-device-bundle.zip"
        assert len(list(staging.iterdir())) == 1, "the finished download waits in the staging folder"
        assert oct(staging.stat().st_mode & 0o777) == "0o700"
        answer_dialog(display, wid, "Return")
        saved = downloads / "desk-lamp-device-bundle.zip"
        wait_for(saved.exists, what="the bundle in Downloads")
        with zipfile.ZipFile(saved) as z:
            names = z.namelist()
        assert {"desk-lamp/device.pem.crt", "desk-lamp/private.pem.key", "desk-lamp/root-CA.crt"} <= set(names), names
        toast_says(f"Saved desk-lamp-device-bundle.zip to {saved}")
        assert not list(staging.iterdir())

        # 2. Somewhere else, under another name. (The name suggested now is one Downloads does not
        # hold yet, as WebKit picks it.)
        wd.click("#bundle-submit")
        wid, title = save_dialog(display)
        assert title == "Save desk-lamp-device-bundle (1).zip"
        other = elsewhere / "lamp.zip"
        answer_dialog(display, wid, "Return", text=str(other))
        wait_for(other.exists, what="the bundle where it was typed")
        assert zipfile.ZipFile(other).testzip() is None
        toast_says(f"Saved desk-lamp-device-bundle (1).zip to {other}")

        # 3. Cancelled: no file anywhere, and the staged copy is gone.
        wd.click("#bundle-submit")
        wid, _ = save_dialog(display)
        answer_dialog(display, wid, "Escape")
        toast_says("desk-lamp-device-bundle (1).zip was not saved (cancelled)")
        assert not list(staging.iterdir())
        assert sorted(p.name for p in downloads.iterdir()) == ["desk-lamp-device-bundle.zip"]
        assert [p.name for p in elsewhere.iterdir()] == ["lamp.zip"]
        # Quit (Ctrl+Q): the app stops cleanly and takes the staging folder with it.
        xenv = {**os.environ, "DISPLAY": display}
        wid = wait_for(lambda: window_id(display), what="the Thingbox window")
        subprocess.run(["xdotool", "windowfocus", "--sync", wid], env=xenv, check=True)
        subprocess.run(["xdotool", "key", "ctrl+q"], env=xenv, check=True)
        wait_for(lambda: not (data_dir / "endpoints.json").exists(), timeout=30, what="the app to stop")
        assert not staging.exists()
    finally:
        wd.close()
