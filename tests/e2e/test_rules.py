"""The rules engine through real clients: rules made with boto3 and the AWS CLI, messages published
by paho devices (mutual TLS), the AWS IoT Device SDK and iot-data, and every served action observed
where it lands — a subscriber, a local HTTP server, a mapped Lambda script, local tables, files."""

import base64
import http.server
import json
import queue
import sys
import threading
import time
import uuid

import pytest

from conftest import wait_for
from mqtt_helpers import Client, Device
from test_viewer import call

ROLE = "arn:aws:iam::000000000000:role/thingbox-test"


def republish(topic, qos=1, **extra):
    return {"republish": {"topic": topic, "roleArn": ROLE, "qos": qos, **extra}}


def rule(iot, name, sql, actions, error_action=None, version="2016-03-23", **extra):
    payload = {"sql": sql, "actions": actions, "awsIotSqlVersion": version, **extra}
    if error_action:
        payload["errorAction"] = error_action
    iot.create_topic_rule(ruleName=name, topicRulePayload=payload)
    return name


def uniq(prefix="r"):
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def sub(server):
    clients = []

    def make(*filters, v5=False):
        c = Client(server, v5=v5)
        c.connect()
        for f in filters:
            c.subscribe(f)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


class Recorder(http.server.ThreadingHTTPServer):
    """A local HTTP server that records every request and answers with `status`."""

    def __init__(self, status=200):
        self.requests = queue.Queue()
        self.status = status
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                recorder.requests.put((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(recorder.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


def detail(server, name):
    status, _, body = call(server, f"/console/api/rules/{name}")
    assert status == 200, body
    return body


def test_rules_through_boto3_and_the_aws_cli(server, iot, tmp_path):
    name = uniq("crud")
    iot.create_topic_rule(
        ruleName=name,
        topicRulePayload={"sql": "SELECT * FROM 'crud/+/in'", "description": "first", "actions": [republish("crud/out")],
                          "ruleDisabled": False, "awsIotSqlVersion": "2016-03-23"},
        tags="team=iot&env=dev",
    )
    got = iot.get_topic_rule(ruleName=name)
    assert got["ruleArn"] == f"arn:aws:iot:us-east-1:000000000000:rule/{name}"
    r = got["rule"]
    assert (r["ruleName"], r["sql"], r["description"], r["ruleDisabled"], r["awsIotSqlVersion"]) == (
        name, "SELECT * FROM 'crud/+/in'", "first", False, "2016-03-23")
    assert r["actions"] == [republish("crud/out")]
    tags = iot.list_tags_for_resource(resourceArn=got["ruleArn"])["tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", "dev"), ("team", "iot")]
    iot.tag_resource(resourceArn=got["ruleArn"], tags=[{"Key": "owner", "Value": "me"}])
    iot.untag_resource(resourceArn=got["ruleArn"], tagKeys=["env"])
    assert {t["Key"] for t in iot.list_tags_for_resource(resourceArn=got["ruleArn"])["tags"]} == {"team", "owner"}

    listed = [x for x in iot.list_topic_rules()["rules"] if x["ruleName"] == name]
    assert listed[0]["topicPattern"] == "crud/+/in" and listed[0]["ruleDisabled"] is False
    assert [x["ruleName"] for x in iot.list_topic_rules(topic="crud/+/in")["rules"]] == [name]
    assert [x["ruleName"] for x in iot.list_topic_rules(topic="crud/a/in")["rules"]] == [name]
    assert iot.list_topic_rules(topic="other/topic")["rules"] == []

    iot.disable_topic_rule(ruleName=name)
    assert iot.get_topic_rule(ruleName=name)["rule"]["ruleDisabled"] is True
    assert name in [x["ruleName"] for x in iot.list_topic_rules(ruleDisabled=True)["rules"]]
    assert name not in [x["ruleName"] for x in iot.list_topic_rules(ruleDisabled=False)["rules"]]
    iot.enable_topic_rule(ruleName=name)
    iot.replace_topic_rule(ruleName=name, topicRulePayload={"sql": "SELECT a FROM 'crud/x'", "actions": []})
    r = iot.get_topic_rule(ruleName=name)["rule"]
    assert (r["sql"], r["actions"], r["awsIotSqlVersion"]) == ("SELECT a FROM 'crud/x'", [], "2015-10-08")

    # The AWS CLI, with the payload from a file, and its own pagination.
    other = uniq("cli")
    payload = tmp_path / "rule.json"
    payload.write_text(json.dumps({"sql": "SELECT temp FROM 'cli/#' WHERE temp > 1", "actions": [republish("cli/out")],
                                   "awsIotSqlVersion": "2016-03-23"}))
    server.aws("iot", "create-topic-rule", "--rule-name", other, "--topic-rule-payload", f"file://{payload}")
    assert server.aws("iot", "get-topic-rule", "--rule-name", other)["rule"]["sql"] == "SELECT temp FROM 'cli/#' WHERE temp > 1"
    listed = server.aws("iot", "list-topic-rules", "--page-size", "1")["rules"]
    assert {name, other} <= {x["ruleName"] for x in listed}
    page = iot.list_topic_rules(maxResults=1)
    assert len(page["rules"]) == 1 and "nextToken" in page
    assert iot.list_topic_rules(maxResults=1, nextToken=page["nextToken"])["rules"][0]["ruleName"] > page["rules"][0]["ruleName"]

    for n in (name, other):
        iot.delete_topic_rule(ruleName=n)
    with pytest.raises(iot.exceptions.UnauthorizedException):
        iot.get_topic_rule(ruleName=name)
    res = server.aws("iot", "delete-topic-rule", "--rule-name", other, check=False)
    assert res.returncode != 0 and "UnauthorizedException" in res.stderr


def test_bad_rules_are_refused_with_aws_errors_and_change_nothing(server, iot):
    name = uniq("good")
    rule(iot, name, "SELECT * FROM 'good/in'", [republish("good/out")])
    before = iot.list_topic_rules()["rules"]

    def refused(exc, fragment, **kw):
        with pytest.raises(exc) as e:
            kw.get("call", iot.create_topic_rule)(ruleName=kw.get("rule_name", uniq("bad")),
                                                  topicRulePayload=kw["payload"])
        assert fragment in str(e.value), str(e.value)

    refused(iot.exceptions.SqlParseException, "line 1, column 10: expected ',' or FROM, found 'FORM'",
            payload={"sql": "SELECT * FORM 'x'", "actions": []})
    refused(iot.exceptions.SqlParseException, "unknown function 'uper'; did you mean upper()?",
            payload={"sql": "SELECT uper(a) FROM 'x'", "actions": []})
    refused(iot.exceptions.SqlParseException, "line 2, column 5: expected ',' or FROM, found 'c'",
            payload={"sql": "SELECT a,\n  b c FROM 'x'", "actions": []})
    refused(iot.exceptions.SqlParseException, "the FROM topic filter is invalid",
            payload={"sql": "SELECT * FROM 'a/#/b'", "actions": []})
    refused(iot.exceptions.SqlParseException, "need awsIotSqlVersion 2016-03-23 or later",
            payload={"sql": "SELECT {'a': 1} AS o FROM 'x'", "actions": [], "awsIotSqlVersion": "2015-10-08"})
    refused(iot.exceptions.InvalidRequestException, "Member must satisfy regular expression pattern: ^[a-zA-Z0-9_]+$",
            rule_name="has-hyphen", payload={"sql": "SELECT * FROM 'x'", "actions": []})
    refused(iot.exceptions.InvalidRequestException, "Member must have length less than or equal to 10",
            payload={"sql": "SELECT * FROM 'x'", "actions": [republish("o")] * 11})
    refused(iot.exceptions.InvalidRequestException, "topicRulePayload.actions.1.member.republish.qos' failed to satisfy constraint: Member must be 0 or 1",
            payload={"sql": "SELECT * FROM 'x'", "actions": [republish("o", qos=5)]})
    refused(iot.exceptions.InvalidRequestException, "the substitution template 'o/${upper(}' is invalid",
            payload={"sql": "SELECT * FROM 'x'", "actions": [republish("o/${upper(}")]})
    refused(iot.exceptions.InvalidRequestException, "must start with the confirmationUrl",
            payload={"sql": "SELECT * FROM 'x'", "actions": [{"http": {"url": "https://a.example/x",
                                                                        "confirmationUrl": "https://b.example"}}]})
    refused(iot.exceptions.ResourceAlreadyExistsException, "already exists", rule_name=name,
            payload={"sql": "SELECT * FROM 'x'", "actions": []})
    # ReplaceTopicRule: a missing rule is UnauthorizedException (as AWS answers); bad SQL keeps the old rule.
    refused(iot.exceptions.UnauthorizedException, "does not exist", call=iot.replace_topic_rule,
            rule_name=uniq("missing"), payload={"sql": "SELECT * FROM 'x'", "actions": []})
    refused(iot.exceptions.SqlParseException, "Invalid SQL", call=iot.replace_topic_rule, rule_name=name,
            payload={"sql": "SELECT FROM", "actions": []})
    assert iot.get_topic_rule(ruleName=name)["rule"]["sql"] == "SELECT * FROM 'good/in'"
    assert iot.list_topic_rules()["rules"] == before
    iot.delete_topic_rule(ruleName=name)


def test_republish_from_a_device_with_templates_where_and_mqtt5_headers(server, iot, tmp_path, sub):
    name = rule(iot, uniq("hot"),
                "SELECT temp, topic(2) AS device, clientid() AS cid FROM 'sensors/+/data' WHERE temp > 30",
                [republish("alerts/${topic(2)}", headers={
                    "contentType": "application/json", "payloadFormatIndicator": "UTF8_DATA",
                    "userProperties": [{"key": "source", "value": "${clientid()}"}]})])
    watcher = sub("alerts/#", v5=True)
    device = Device(iot, tmp_path)
    dev = Client(server, client_id="lamp-7", device=device)
    dev.connect()
    dev.publish("sensors/lamp-7/data", json.dumps({"temp": 20}))
    dev.publish("sensors/lamp-7/data", json.dumps({"temp": 35, "hum": 3}))
    m = watcher.recv()
    assert m.topic == "alerts/lamp-7"
    assert json.loads(m.payload) == {"temp": 35, "device": "lamp-7", "cid": "lamp-7"}
    assert m.properties.ContentType == "application/json"
    assert m.properties.UserProperty == [("source", "lamp-7")]
    watcher.nothing(0.3)
    d = wait_for(lambda: (x := detail(server, name))["summary"]["stats"]["actionsOk"] == 1 and x, what="stats")
    stats = d["summary"]["stats"]
    assert (stats["evaluated"], stats["matched"], stats["filtered"]) == (2, 1, 1)
    f = d["firings"][0]
    assert f["condition"] == "true" and json.loads(f["output"]["text"])["device"] == "lamp-7"
    assert f["actions"][0]["target"] == "alerts/lamp-7" and f["actions"][0]["outcome"] == "ok"
    assert d["filtered"][0]["condition"] == "false" and json.loads(d["filtered"][0]["input"]["text"]) == {"temp": 20}
    dev.close()
    iot.delete_topic_rule(ruleName=name)


def test_basic_ingest_reaches_only_its_rule(server, iot, sub):
    name = rule(iot, uniq("ingest"), "SELECT *, topic() AS t FROM 'ignored/topic'", [republish("ingested/out")])
    watcher = sub("ingested/out")
    spy = sub("$aws/rules/#")
    data = server.client("iot-data")
    data.publish(topic=f"$aws/rules/{name}/fleet/a", payload=b'{"v": 1}')
    m = watcher.recv()
    assert json.loads(m.payload) == {"v": 1, "t": "fleet/a"}
    data.publish(topic="$aws/rules/no_such_rule/x", payload=b"{}")
    spy.nothing(0.3)
    _, _, body = call(server, "/console/api/rules")
    assert body["engine"]["ingestUnknown"] >= 1
    iot.delete_topic_rule(ruleName=name)


def test_http_action_retries_and_the_error_action_reports_failures(server, iot, sub):
    ok_server, failing = Recorder(200), Recorder(503)
    ok_name = rule(iot, uniq("hook"), "SELECT * FROM 'hook/+'", [{"http": {
        "url": ok_server.url + "/in/${topic(2)}", "confirmationUrl": ok_server.url,
        "headers": [{"key": "x-device", "value": "${clientid()}"}]}}])
    bad_name = rule(iot, uniq("hookfail"), "SELECT * FROM 'hookfail/+'",
                    [{"http": {"url": failing.url + "/down"}}, republish("hookout/ok")],
                    error_action=republish("hookout/errors"))
    errors = sub("hookout/errors", "hookout/ok")
    data = server.client("iot-data")
    data.publish(topic="hook/dev1", payload=b'{"a": 1}')
    path, headers, body = ok_server.requests.get(timeout=5)
    assert path == "/in/dev1" and json.loads(body) == {"a": 1}
    assert headers["x-device"] == "n/a" and headers["content-type"] == "application/json"
    data.publish(topic="hookfail/dev2", payload=b'{"b": 2}')
    got = {errors.recv().topic: None for _ in range(2)}
    assert set(got) == {"hookout/errors", "hookout/ok"}
    assert failing.requests.qsize() == 3, "503 is retried: three attempts in all"
    d = wait_for(lambda: (x := detail(server, bad_name))["firings"] and x["firings"][0].get("errorAction") and x,
                 what="firing with errorAction")
    f = d["firings"][0]
    assert [a["outcome"] for a in f["actions"]] == ["failed", "ok"]
    assert f["actions"][0]["error"] == "HTTP 503 Service Unavailable"
    assert d["summary"]["stats"]["errorActions"] == 1
    # The errorAction got AWS's message (checked on a fresh subscriber's copy of the next failure).
    watcher = sub("hookout/errors")
    data.publish(topic="hookfail/dev3", payload=b"raw bytes")
    err = json.loads(watcher.recv().payload)
    assert err["ruleName"] == bad_name and err["topic"] == "hookfail/dev3" and err["clientId"] == "n/a"
    assert base64.b64decode(err["base64OriginalPayload"]) == b"raw bytes"
    assert err["failures"] == [{"failedAction": "HttpAction", "failedResource": failing.url + "/down",
                                "errorMessage": "HTTP 503 Service Unavailable"}]
    for n in (ok_name, bad_name):
        iot.delete_topic_rule(ruleName=n)
    ok_server.shutdown()
    failing.shutdown()


def test_lambda_mapped_to_a_script_and_a_url(fresh_server, tmp_path):
    out = tmp_path / "lambda-out.jsonl"
    script = tmp_path / "handler.py"
    script.write_text(
        "import os, sys\n"
        f"open({str(out)!r}, 'a').write(os.environ['THINGBOX_FUNCTION_ARN'] + ' ' + sys.stdin.read() + '\\n')\n"
    )
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "thingbox.toml").write_text(f'[rules.lambda]\nscripted = ["{sys.executable}", "{script}"]\n')
    hook = Recorder(202)
    s = fresh_server("--lambda", f"viaUrl={hook.url}/invoke", data_dir=data_dir).start()
    iot = s.client()
    arn = "arn:aws:lambda:us-east-1:000000000000:function:"
    rule(iot, "lam", "SELECT n FROM 'lam/in'", [{"lambda": {"functionArn": arn + "scripted"}},
                                                {"lambda": {"functionArn": arn + "viaUrl:prod"}}])
    rule(iot, "lam_missing", "SELECT n FROM 'lam/missing'", [{"lambda": {"functionArn": arn + "nowhere"}}],
         error_action=republish("lam/errors"))
    watcher = Client(s)
    watcher.connect()
    watcher.subscribe("lam/errors")
    data = s.client("iot-data")
    data.publish(topic="lam/in", payload=b'{"n": 42, "x": 0}')
    wait_for(lambda: out.exists() and out.read_text(), what="the script's output")
    assert out.read_text() == f'{arn}scripted {{"n":42}}\n'
    path, headers, body = hook.requests.get(timeout=5)
    assert path == "/invoke" and json.loads(body) == {"n": 42}
    data.publish(topic="lam/missing", payload=b'{"n": 1}')
    err = json.loads(watcher.recv().payload)
    assert err["failures"][0]["failedAction"] == "LambdaAction"
    assert "map it to a URL or a command" in err["failures"][0]["errorMessage"]
    watcher.close()
    hook.shutdown()


def test_dynamodb_tables_get_dynamodb_and_restart(fresh_server):
    s = fresh_server().start()
    iot = s.client()
    rule(iot, "store", "SELECT temp, ts FROM 'tele/+'", [{"dynamoDB": {
        "tableName": "readings", "roleArn": ROLE, "hashKeyField": "device", "hashKeyValue": "${topic(2)}",
        "rangeKeyField": "ts", "rangeKeyValue": "${ts}", "rangeKeyType": "NUMBER"}}])
    rule(iot, "store_v2", "SELECT device, site FROM 'devices/register'",
         [{"dynamoDBv2": {"roleArn": ROLE, "putItem": {"tableName": "registered"}}}])
    data = s.client("iot-data")
    for ts in (1, 2):
        data.publish(topic="tele/dev1", payload=json.dumps({"temp": 20 + ts, "ts": ts}))
    data.publish(topic="devices/register", payload=json.dumps({"device": "dev1", "site": "north"}))
    wait_for(lambda: {t["name"]: t["items"] for t in call(s, "/console/api/rule-tables")[2]} == {"readings": 2, "registered": 1},
             what="two tables")
    status, _, page = call(s, "/console/api/rule-tables/readings")
    assert page["table"]["key"] == ["device", "ts"]
    assert page["items"] == [{"device": "dev1", "ts": 1, "payload": {"temp": 21, "ts": 1}},
                             {"device": "dev1", "ts": 2, "payload": {"temp": 22, "ts": 2}}]
    status, headers, text = call(s, "/console/api/rule-tables/registered/export")
    assert status == 200 and [json.loads(l) for l in text.decode().splitlines()] == [{"device": "dev1", "site": "north", "_seq": 0}]
    assert s.stop() == 0

    s = fresh_server(data_dir=s.data_dir).start()
    iot = s.client()
    assert {r["ruleName"] for r in iot.list_topic_rules()["rules"]} == {"store", "store_v2"}
    rule(iot, "enrich", "SELECT n, get_dynamodb('readings', 'device', 'dev1', 'ts', 2, 'arn:aws:iam::0:role/r').payload.temp AS last "
         "FROM 'enrich/in'", [republish("enrich/out")])
    watcher = Client(s)
    watcher.connect()
    watcher.subscribe("enrich/out")
    s.client("iot-data").publish(topic="enrich/in", payload=b'{"n": 1}')
    assert json.loads(watcher.recv().payload) == {"n": 1, "last": 22}
    watcher.close()


def test_s3_files_and_recorded_actions(server, iot):
    name = rule(iot, uniq("files"), "SELECT * FROM 'files/+'", [
        {"s3": {"roleArn": ROLE, "bucketName": "telemetry", "key": "${topic(2)}/${timestamp()}.json"}},
        {"sqs": {"roleArn": ROLE, "queueUrl": "https://sqs.us-east-1.amazonaws.com/000000000000/q", "useBase64": False}}])
    server.client("iot-data").publish(topic="files/dev9", payload=b'{"k": "v"}')
    d = wait_for(lambda: (x := detail(server, name))["firings"] and x, what="a firing")
    s3, sqs = d["firings"][0]["actions"]
    assert s3["outcome"] == "ok" and s3["target"].startswith("s3://telemetry/dev9/")
    files = list((server.data_dir / "s3" / "telemetry" / "dev9").iterdir())
    assert len(files) == 1 and json.loads(files[0].read_text()) == {"k": "v"}
    assert sqs["outcome"] == "recorded" and sqs["target"] == "https://sqs.us-east-1.amazonaws.com/000000000000/q"
    lines = [json.loads(l) for l in (server.data_dir / "rules-outbox.jsonl").read_text().splitlines()]
    assert any(l["action"] == "sqs" and l["payload"] == '{"k":"v"}' for l in lines)
    iot.delete_topic_rule(ruleName=name)


def test_a_rule_republishing_into_its_own_topic_stops(server, iot, sub):
    name = rule(iot, uniq("loop"), "SELECT * FROM 'loop/#'", [republish("loop/again")])
    watcher = sub("loop/again")
    before = call(server, "/console/api/rules")[2]["engine"]["loopsStopped"]
    server.client("iot-data").publish(topic="loop/start", payload=b"{}")
    seen = [watcher.recv() for _ in range(8)]
    assert len(seen) == 8
    wait_for(lambda: call(server, "/console/api/rules")[2]["engine"]["loopsStopped"] > before, what="loop stopped")
    watcher.nothing(0.3)
    iot.delete_topic_rule(ruleName=name)


def test_device_sdk_and_shadows_with_rules(server, iot, tmp_path):
    from awscrt import mqtt as crt_mqtt
    from awsiot import mqtt_connection_builder

    thing = f"lamp-{uuid.uuid4().hex[:6]}"
    data = server.client("iot-data")
    data.update_thing_shadow(thingName=thing, payload=json.dumps({"state": {"reported": {"mode": "eco"}}}))
    # A rule reads the shadow, and another writes a shadow through $$.
    reader = rule(iot, uniq("shadowread"),
                  "SELECT v, get_thing_shadow(topic(2), 'arn:aws:iam::0:role/r').state.reported.mode AS mode FROM 'sdk/+/in'",
                  [republish("sdk/${topic(2)}/out")])
    writer = rule(iot, uniq("shadowwrite"), "SELECT VALUE {'state': {'reported': {'v': v}}} FROM 'sdk/+/in'",
                  [republish("$$aws/things/${topic(2)}/shadow/update")])
    device = Device(iot, tmp_path)
    port = int(server.endpoints["mqtt_tls"].rsplit(":", 1)[1])
    conn = mqtt_connection_builder.mtls_from_path(
        endpoint="localhost", port=port, cert_filepath=str(device.cert), pri_key_filepath=str(device.key),
        ca_filepath=server.endpoints["root_ca"], client_id=thing, clean_session=True, keep_alive_secs=30)
    conn.connect().result(10)
    got = queue.Queue()
    conn.subscribe(f"sdk/{thing}/out", crt_mqtt.QoS.AT_LEAST_ONCE,
                   callback=lambda topic, payload, **kw: got.put(payload))[0].result(10)
    conn.publish(f"sdk/{thing}/in", json.dumps({"v": 7}), crt_mqtt.QoS.AT_LEAST_ONCE)[0].result(10)
    assert json.loads(got.get(timeout=5)) == {"v": 7, "mode": "eco"}
    shadow = wait_for(lambda: (d := json.loads(data.get_thing_shadow(thingName=thing)["payload"].read()))
                      ["state"]["reported"].get("v") == 7 and d, what="the shadow updated by a rule")
    assert shadow["state"]["reported"] == {"mode": "eco", "v": 7}
    conn.disconnect().result(10)
    for n in (reader, writer):
        iot.delete_topic_rule(ruleName=n)


def test_rules_survive_restart(fresh_server):
    s = fresh_server().start()
    iot = s.client()
    rule(iot, "kept", "SELECT a FROM 'kept/in'", [republish("kept/out")], description="d")
    rule(iot, "off", "SELECT a FROM 'off/in'", [republish("kept/out")])
    iot.disable_topic_rule(ruleName="off")
    assert s.stop() == 0
    s = fresh_server(data_dir=s.data_dir).start()
    iot = s.client()
    assert iot.get_topic_rule(ruleName="kept")["rule"]["description"] == "d"
    assert iot.get_topic_rule(ruleName="off")["rule"]["ruleDisabled"] is True
    watcher = Client(s)
    watcher.connect()
    watcher.subscribe("kept/out")
    data = s.client("iot-data")
    data.publish(topic="off/in", payload=b'{"a": 0}')
    data.publish(topic="kept/in", payload=b'{"a": 1}')
    assert json.loads(watcher.recv().payload) == {"a": 1}
    watcher.nothing(0.3)
    watcher.close()


def test_an_output_over_128_kb_fails_the_action_clearly(server, iot, sub):
    name = rule(iot, uniq("huge"), "SELECT VALUE [*, *] FROM 'huge/in'", [republish("huge/out")],
                error_action=republish("huge/errors"))
    watcher = sub("huge/out", "huge/errors")
    server.client("iot-data").publish(topic="huge/in", payload=json.dumps({"blob": "x" * 70_000}))
    m = watcher.recv()
    assert m.topic == "huge/errors", "the doubled payload is not republished"
    err = json.loads(m.payload)["failures"][0]
    assert err["failedAction"] == "RepublishAction" and err["failedResource"] == "huge/out"
    assert "limited to 128 KB" in err["errorMessage"]
    watcher.nothing(0.3)
    iot.delete_topic_rule(ruleName=name)


def test_retained_messages_do_not_fire_rules(fresh_server):
    s = fresh_server().start()
    iot, data = s.client(), s.client("iot-data")
    data.publish(topic="kept/state", payload=b'{"v": 1}', retain=True)
    rule(iot, "on_state", "SELECT v FROM 'kept/state'", [republish("kept/seen")])
    watcher = Client(s)
    watcher.connect()
    watcher.subscribe("kept/seen")
    watcher.nothing(0.5)
    assert s.stop() == 0
    s = fresh_server(data_dir=s.data_dir).start()
    watcher = Client(s)
    watcher.connect()
    watcher.subscribe("kept/seen")
    watcher.nothing(0.5)
    s.client("iot-data").publish(topic="kept/state", payload=b'{"v": 2}')
    assert json.loads(watcher.recv().payload) == {"v": 2}
    watcher.close()


def test_a_loop_through_a_shadow_stops_too(server, iot):
    thing = f"loop-{uuid.uuid4().hex[:6]}"
    name = rule(iot, uniq("shadowloop"), "SELECT VALUE {'state': {'reported': {'n': current.state.reported.n + 1}}} "
                f"FROM '$aws/things/{thing}/shadow/update/documents'",
                [republish("$$aws/things/${topic(3)}/shadow/update")])
    data = server.client("iot-data")
    before = call(server, "/console/api/rules")[2]["engine"]["loopsStopped"]
    data.update_thing_shadow(thingName=thing, payload=json.dumps({"state": {"reported": {"n": 0}}}))
    wait_for(lambda: call(server, "/console/api/rules")[2]["engine"]["loopsStopped"] > before, what="loop stopped")
    doc = json.loads(data.get_thing_shadow(thingName=thing)["payload"].read())
    assert doc["version"] == 9 and doc["state"]["reported"]["n"] == 8, doc
    iot.delete_topic_rule(ruleName=name)
