"""Who may use the local API. A web page the user visits must neither read nor change Thingbox —
not by cross-origin requests (headless Chromium on a page of another origin: simple requests,
a form post, a WebSocket to /mqtt), nor by DNS rebinding (Chromium resolving a foreign name to
127.0.0.1) — while the AWS CLI, boto3 and the Device SDK work unchanged. With
--verify-signatures, only requests signed with a configured key are served, with AWS's error types
otherwise; beyond loopback, Thingbox refuses to start with unsigned APIs unless told to."""

import http.server as httpserver
import json
import os
import socket
import subprocess
import threading
import urllib.error
import urllib.request
import uuid
from concurrent.futures import Future

import boto3
import botocore
import pytest
from botocore.config import Config
from playwright.sync_api import sync_playwright

from conftest import http, BIN, ROOT

CHROMIUM = os.environ.get("THINGBOX_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         # A DNS name that a rebinding attack has pointed at this machine.
         "--host-resolver-rules=MAP rebound.test 127.0.0.1"]

# An MQTT-over-WebSocket URL as the Device SDK signs it (Thingbox reads, but by default does not
# verify, the signature): what a page would need to subscribe to everything.
PRESIGNED = ("/mqtt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDPAGE%2F20261206%2Fus-east-1%2F"
             "iotdevicegateway%2Faws4_request&X-Amz-Date=20261206T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00")


def raw(server, request: bytes) -> bytes:
    """Sends `request` as is (urllib would set its own Host) and returns the whole answer."""
    host, port = server.api.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def exists(iot, name):
    try:
        iot.describe_thing(thingName=name)
        return True
    except iot.exceptions.ResourceNotFoundException:
        return False


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def web_page_origin():
    """A page 'on the web': served by a server of its own, at http://localhost:<port> (another site
    than the API's 127.0.0.1)."""

    class Page(httpserver.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<!doctype html><title>some site</title><p>a page the user visits</p>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    srv = httpserver.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://localhost:{srv.server_address[1]}"
    srv.shutdown()


def on_page(browser, url):
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(url)
    return ctx, page


WRITE = """async ([url, form]) => {
  if (form) {  // a form posted to Thingbox: a navigation, with the page's Origin
    const f = document.createElement('form');
    f.method = 'POST'; f.action = url; f.enctype = 'text/plain';
    const i = document.createElement('input'); i.name = '{"attributePayload":{"attributes":{"a":"'; i.value = 'b"}}}';
    f.appendChild(i); document.body.appendChild(f); f.submit();
    return 'submitted';
  }
  // a "simple" request: no preflight, the browser sends it and hides the answer
  await fetch(url, {method: 'POST', mode: 'no-cors', headers: {'content-type': 'text/plain'}, body: '{}'});
  return 'sent';
}"""

READ = """async (url) => await new Promise((resolve) => {
  const ws = new WebSocket(url, 'mqtt');
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => {  // CONNECT (MQTT 3.1.1, clean session, client id "page")
    ws.send(new Uint8Array([16, 16, 0, 4, 77, 81, 84, 84, 4, 2, 0, 60, 0, 4, 112, 97, 103, 101]));
  };
  ws.onmessage = (m) => { resolve(new Uint8Array(m.data)[0] === 32 ? 'connected' : 'other'); ws.close(); };
  ws.onerror = () => resolve('refused');
  ws.onclose = () => resolve('refused');
})"""


def attack(browser, origin, api):
    """What a page of `origin` can do to the Thingbox at `api`: the names of the things its two
    write attempts targeted, and whether its WebSocket got an MQTT session."""
    ctx, page = on_page(browser, origin + "/")
    fetched, posted = f"page-fetch-{uuid.uuid4().hex[:6]}", f"page-form-{uuid.uuid4().hex[:6]}"
    try:
        page.evaluate(WRITE, [f"{api}/things/{fetched}", False])
        with page.expect_navigation():
            page.evaluate(WRITE, [f"{api}/things/{posted}", True])
        form_status = page.evaluate("() => document.body.innerText")
        page.goto(origin + "/")
        mqtt = page.evaluate(READ, api.replace("http://", "ws://") + PRESIGNED)
    finally:
        ctx.close()
    return fetched, posted, form_status, mqtt


def test_a_page_of_another_origin_can_neither_write_nor_read(server, iot, browser, web_page_origin):
    fetched, posted, form_status, mqtt = attack(browser, web_page_origin, server.api)
    assert not exists(iot, fetched), "a cross-origin no-cors POST created a thing"
    assert not exists(iot, posted), "a cross-origin form post created a thing"
    assert "ForbiddenException" in form_status or "--allow-origin" in form_status, form_status
    assert mqtt == "refused", "a cross-origin page opened an MQTT session over ws://…/mqtt"
    # The refusal explains itself to whoever looks.
    status, headers, body = http(server.api + "/things", {"Origin": web_page_origin})
    assert status == 403 and headers["x-amzn-ErrorType"] == "ForbiddenException"
    assert web_page_origin in json.loads(body)["message"] and "--allow-origin" in json.loads(body)["message"]
    status, _, _ = http(server.api + "/things", {"Sec-Fetch-Site": "cross-site"})
    assert status == 403
    # The console's own origin, and programs that send no Origin, are served.
    assert http(server.api + "/things", {"Origin": server.api})[0] == 200
    assert http(server.api + "/things", {"Sec-Fetch-Site": "same-origin"})[0] == 200
    # Opening the console from a link on another site is a cross-site navigation: its files load.
    status, _, body = http(server.api + "/", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"})
    assert status == 200 and b"ui.js" in body


def test_an_allowed_origin_can_do_both(fresh_server, browser, web_page_origin):
    # The same page, the same requests: this is what the refusals above prevent.
    s = fresh_server("--allow-origin", web_page_origin).start()
    iot = s.client("iot")
    fetched, posted, _, mqtt = attack(browser, web_page_origin, s.api)
    assert exists(iot, fetched) and exists(iot, posted)
    assert mqtt == "connected"


def test_dns_rebinding_is_refused(server, iot, browser):
    port = server.api.rsplit(":", 1)[1]
    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        # The attacker's name now resolves to this machine: the page is "same-origin" with
        # Thingbox as far as the browser knows, so only the Host header gives it away.
        res = page.goto(f"http://rebound.test:{port}/")
        assert res.status == 403
        assert "--allow-host rebound.test" in page.inner_text("body")
        name = f"rebound-{uuid.uuid4().hex[:6]}"
        statuses = page.evaluate("""async (name) => [
            (await fetch('/things')).status,
            (await fetch('/things/' + name, {method: 'POST', body: '{}'})).status,
            (await fetch('/console/api/overview')).status]""", name)
    finally:
        ctx.close()
    assert statuses == [403, 403, 403]
    assert not exists(iot, name)
    # Raw requests: any other name is refused, the names Thingbox answers to are served.
    for host, status in [("rebound.test", 403), ("localhost", 200), ("127.0.0.1", 200), ("localhost.", 200)]:
        answer = raw(server, f"GET /things HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        assert answer.startswith(f"HTTP/1.1 {status}".encode()), (host, answer[:200])


def test_an_allowed_host_name_is_served(fresh_server, browser):
    s = fresh_server("--allow-host", "rebound.test").start()
    port = s.api.rsplit(":", 1)[1]
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        assert page.goto(f"http://rebound.test:{port}/").status == 200
        assert page.evaluate("async () => (await fetch('/things')).status") == 200
    finally:
        ctx.close()


def write_credentials(data_dir, keys):
    data_dir.mkdir(parents=True, exist_ok=True)
    lines = ["[access.credentials]"] + [f'{k} = "{v}"' for k, v in keys.items()]
    (data_dir / "thingbox.toml").write_text("\n".join(lines) + "\n")


def client(s, service, key, secret, **config):
    return boto3.client(service, endpoint_url=s.api, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}, **config))


def code_of(call):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def test_verify_signatures(fresh_server, tmp_path):
    data = tmp_path / "signed"
    write_credentials(data, {"AKIDTEAM": "team-secret", "AKIDCI": "ci-secret"})
    s = fresh_server("--verify-signatures", data_dir=data).start()
    iot = client(s, "iot", "AKIDTEAM", "team-secret")
    name = f"signed-{uuid.uuid4().hex[:6]}"
    iot.create_thing(thingName=name, attributePayload={"attributes": {"k": "a/b:c=d@e"}})
    assert iot.describe_thing(thingName=name)["attributes"] == {"k": "a/b:c=d@e"}
    assert [t["thingName"] for t in iot.list_things(attributeName="k", attributeValue="a/b:c=d@e")["things"]] == [name]
    data_plane = client(s, "iot-data", "AKIDCI", "ci-secret")
    data_plane.update_thing_shadow(thingName=name, payload=b'{"state":{"desired":{"on":true}}}')
    assert json.loads(data_plane.get_thing_shadow(thingName=name)["payload"].read())["version"] == 1
    jobs_data = client(s, "iot-jobs-data", "AKIDCI", "ci-secret")
    assert jobs_data.get_pending_job_executions(thingName=name)["inProgressJobs"] == []
    # The AWS CLI, configured with a key, works unchanged.
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIDCI", "AWS_SECRET_ACCESS_KEY": "ci-secret",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": ""}
    aws_bin = os.path.join(os.environ.get("VIRTUAL_ENV", str(ROOT / ".venv")), "bin", "aws")
    out = subprocess.run([aws_bin, "--endpoint-url", s.api, "iot", "describe-thing", "--thing-name", name],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and json.loads(out.stdout)["thingName"] == name, out.stderr

    # Refused, with AWS's error types, and nothing changed.
    refused = f"refused-{uuid.uuid4().hex[:6]}"
    code, message = code_of(lambda: client(s, "iot", "AKIDTEAM", "wrong").create_thing(thingName=refused))
    assert code == "InvalidSignatureException" and "Canonical String" in message
    code, message = code_of(lambda: client(s, "iot", "AKIDNOBODY", "x").create_thing(thingName=refused))
    assert code == "UnrecognizedClientException" and "AKIDNOBODY" in message
    code, _ = code_of(lambda: client(s, "iot", "x", "x", signature_version=botocore.UNSIGNED).create_thing(thingName=refused))
    assert code == "MissingAuthenticationTokenException"
    code, _ = code_of(lambda: client(s, "iot-data", "AKIDCI", "nope").get_thing_shadow(thingName=name))
    assert code == "InvalidSignatureException"
    assert not exists(iot, refused)
    # A signed body cannot be swapped: the same headers with another body are refused.
    req = botocore.awsrequest.AWSRequest(method="POST", url=f"{s.api}/things/{refused}", data=b"{}",
                                         headers={"content-type": "application/json"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials("AKIDTEAM", "team-secret"), "iot", "us-east-1").add_auth(req)
    prepared = dict(req.headers.items())
    status, headers, _ = http(f"{s.api}/things/{refused}", prepared, "POST", b'{"attributePayload":{}}')
    assert status == 403 and headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    status, _, _ = http(f"{s.api}/things/{refused}", prepared, "POST", b"{}")
    assert status == 200 and exists(iot, refused)

    # The console's own calls carry its token instead of a signature.
    token = s.endpoints["console"].split("token=", 1)[1]
    status, _, body = http(s.api + "/things", {"x-thingbox-token": token})
    assert status == 200 and name in body.decode()
    assert http(s.api + "/things", {"x-thingbox-token": "x" * len(token)})[0] == 403
    assert http(s.api + "/")[0] == 200, "the console's files need no signature"

    # MQTT over wss: the Device SDK's signed URL with a configured key connects; with a wrong
    # secret, the upgrade is refused.
    assert wss_connects(s, "AKIDCI", "ci-secret") is True
    assert wss_connects(s, "AKIDCI", "wrong") is False


def wss_connects(s, key, secret):
    from awscrt import auth, mqtt5
    from awsiot import mqtt5_client_builder

    host, port = s.endpoints["https"].rsplit(":", 1)
    result, stopped = Future(), Future()
    client = mqtt5_client_builder.websockets_with_default_aws_signing(
        endpoint="localhost", port=int(port), region="us-east-1", ca_filepath=s.endpoints["root_ca"],
        credentials_provider=auth.AwsCredentialsProvider.new_static(key, secret),
        client_id=f"wss-{uuid.uuid4().hex[:6]}",
        on_lifecycle_connection_success=lambda _: result.done() or result.set_result(True),
        on_lifecycle_connection_failure=lambda _: result.done() or result.set_result(False),
        on_lifecycle_stopped=lambda _: stopped.set_result(True))
    client.start()
    try:
        return result.result(15)
    finally:
        client.stop()
        stopped.result(10)


def test_beyond_loopback_needs_signatures_or_consent(fresh_server, tmp_path):
    args = [str(BIN), "serve", "--data-dir", str(tmp_path / "open"), "--bind", "0.0.0.0",
            "--api-port", "0", "--mqtt-tls-port", "0", "--mqtt-port", "0", "--https-port", "0"]
    res = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert res.returncode != 0
    assert "--verify-signatures" in res.stderr and "--allow-unsigned" in res.stderr, res.stderr
    assert not (tmp_path / "open" / "endpoints.json").exists(), "it refused before starting anything"
    s = fresh_server("--bind", "0.0.0.0", "--allow-unsigned").start()
    assert http(s.api + "/things")[0] == 200
