"""Rule actions for AWS services Thingbox does not run, forwarded with the AWS SDK for Rust to an AWS
endpoint the user chose (`--forward URL`): here moto's server stands in for LocalStack or AWS, and
boto3 reads back what arrived — an SQS message, an SNS notification, a Kinesis record, a CloudWatch
Logs event and metric, a Step Functions execution. Without `--forward` the same actions are
recorded (test_rules.py)."""

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

from conftest import ROOT, free_port, wait_for
from test_viewer import call

ROLE = "arn:aws:iam::123456789012:role/thingbox-test"
MOTO = Path(ROOT / ".venv" / "bin" / "moto_server")
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def moto():
    port = free_port()
    proc = subprocess.Popen([str(MOTO), "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            boto3.client("sqs", endpoint_url=url, **CREDS).list_queues()
            return True
        except Exception:  # noqa: BLE001 (not listening yet)
            return False

    wait_for(up, timeout=30, what="moto_server")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def aws(moto, service):
    return boto3.client(service, endpoint_url=moto, **CREDS)


def test_actions_reach_aws_services_through_the_sdk(fresh_server, moto):
    sqs, sns, kinesis, logs, sfn, cw, s3, firehose, ts = (
        aws(moto, s) for s in ("sqs", "sns", "kinesis", "logs", "stepfunctions", "cloudwatch", "s3", "firehose",
                               "timestream-write"))
    queue = sqs.create_queue(QueueName="rules-q")["QueueUrl"]
    notified = sqs.create_queue(QueueName="rules-notified")["QueueUrl"]
    notified_arn = sqs.get_queue_attributes(QueueUrl=notified, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name="rules-topic")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=notified_arn)
    kinesis.create_stream(StreamName="rules-stream", ShardCount=1)
    logs.create_log_group(logGroupName="rules-logs")
    machine = sfn.create_state_machine(
        name="rules-sm", roleArn=ROLE,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}))["stateMachineArn"]
    cw.put_metric_alarm(AlarmName="rules-alarm", MetricName="temp", Namespace="Thingbox", Statistic="Average",
                        Period=60, EvaluationPeriods=1, Threshold=30, ComparisonOperator="GreaterThanThreshold")
    s3.create_bucket(Bucket="rules-firehose")
    firehose.create_delivery_stream(DeliveryStreamName="rules-fh", ExtendedS3DestinationConfiguration={
        "RoleARN": ROLE, "BucketARN": "arn:aws:s3:::rules-firehose", "Prefix": "rules/"})
    ts.create_database(DatabaseName="rulesdb")
    ts.create_table(DatabaseName="rulesdb", TableName="readings")

    s = fresh_server("--forward", moto, "--account", "123456789012").start()
    iot = s.client()
    iot.create_topic_rule(ruleName="fwd", topicRulePayload={
        "sql": "SELECT temp, topic(2) AS device FROM 'fwd/+'", "awsIotSqlVersion": "2016-03-23",
        "actions": [
            {"sqs": {"roleArn": ROLE, "queueUrl": queue, "useBase64": False}},
            {"sns": {"roleArn": ROLE, "targetArn": topic, "messageFormat": "RAW"}},
            {"kinesis": {"roleArn": ROLE, "streamName": "rules-stream", "partitionKey": "${topic(2)}"}},
            {"cloudwatchLogs": {"roleArn": ROLE, "logGroupName": "rules-logs"}},
            {"stepFunctions": {"roleArn": ROLE, "stateMachineName": "rules-sm", "executionNamePrefix": "iot-"}},
            {"cloudwatchMetric": {"roleArn": ROLE, "metricNamespace": "Thingbox", "metricName": "temp",
                                  "metricValue": "${temp}", "metricUnit": "None"}},
            {"cloudwatchAlarm": {"roleArn": ROLE, "alarmName": "rules-alarm", "stateValue": "ALARM",
                                 "stateReason": "temp ${temp} from ${topic(2)}"}},
            {"firehose": {"roleArn": ROLE, "deliveryStreamName": "rules-fh", "separator": "\\n"}},
            {"timestream": {"roleArn": ROLE, "databaseName": "rulesdb", "tableName": "readings",
                            "dimensions": [{"name": "device", "value": "${topic(2)}"}]}},
        ]})
    iot.create_topic_rule(ruleName="fwd_missing", topicRulePayload={
        "sql": "SELECT * FROM 'fwdmissing/+'",
        "actions": [{"sqs": {"roleArn": ROLE, "queueUrl": queue + "-nope"}}],
        "errorAction": {"republish": {"roleArn": ROLE, "topic": "fwd/errors"}}})
    s.client("iot-data").publish(topic="fwd/dev1", payload=b'{"temp": 21.5}')

    expected = {"temp": 21.5, "device": "dev1"}
    got = wait_for(lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages"), what="SQS")
    assert json.loads(got[0]["Body"]) == expected
    note = wait_for(lambda: sqs.receive_message(QueueUrl=notified, WaitTimeSeconds=1).get("Messages"), what="SNS")
    assert json.loads(json.loads(note[0]["Body"])["Message"]) == expected
    shard = kinesis.describe_stream(StreamName="rules-stream")["StreamDescription"]["Shards"][0]["ShardId"]
    it = kinesis.get_shard_iterator(StreamName="rules-stream", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = wait_for(lambda: kinesis.get_records(ShardIterator=it["ShardIterator"])["Records"], what="Kinesis")
    assert json.loads(records[0]["Data"]) == expected and records[0]["PartitionKey"] == "dev1"
    events = wait_for(lambda: logs.get_log_events(logGroupName="rules-logs", logStreamName="thingbox-rules")["events"],
                      what="CloudWatch Logs")
    assert json.loads(events[0]["message"]) == expected
    executions = wait_for(lambda: sfn.list_executions(stateMachineArn=machine)["executions"], what="Step Functions")
    assert executions[0]["name"].startswith("iot-")
    metrics = wait_for(lambda: cw.list_metrics(Namespace="Thingbox")["Metrics"], what="CloudWatch metric")
    assert metrics[0]["MetricName"] == "temp"
    alarm = wait_for(lambda: (a := cw.describe_alarms(AlarmNames=["rules-alarm"])["MetricAlarms"][0])
                     ["StateValue"] == "ALARM" and a, what="CloudWatch alarm")
    assert alarm["StateReason"] == "temp 21.5 from dev1"
    objects = wait_for(lambda: s3.list_objects_v2(Bucket="rules-firehose").get("Contents"), what="Firehose → S3")
    body = s3.get_object(Bucket="rules-firehose", Key=objects[0]["Key"])["Body"].read()
    assert json.loads(body.splitlines()[0]) == expected and body.endswith(b"\n")

    # Timestream: moto keeps the records it was given (its data dump shows them).
    def timestream_records():
        dump = json.loads(urllib.request.urlopen(moto + "/moto-api/data.json", timeout=10).read())
        tables = dump.get("timestreamwrite", {}).get("TimestreamTable", [])
        return [r for t in tables if t["name"] == "readings" for r in t["records"]]
    records = wait_for(timestream_records, what="Timestream records")
    assert {"MeasureName": "temp", "MeasureValue": "21.5", "MeasureValueType": "DOUBLE"} in records
    assert {"MeasureName": "device", "MeasureValue": "dev1", "MeasureValueType": "VARCHAR"} in records

    # The console shows each action as sent (not recorded).
    _, _, d = call(s, "/console/api/rules/fwd")
    outcomes = {a["kind"]: (a["outcome"], a.get("detail", "")) for a in d["firings"][0]["actions"]}
    assert all(o == "ok" and d.startswith(f"sent to {moto}") for o, d in outcomes.values()), outcomes

    # A queue that does not exist: the SDK's error reaches the errorAction and the console.
    from mqtt_helpers import Client
    watcher = Client(s)
    watcher.connect()
    watcher.subscribe("fwd/errors")
    s.client("iot-data").publish(topic="fwdmissing/x", payload=b"{}")
    failure = json.loads(watcher.recv().payload)["failures"][0]
    assert failure["failedAction"] == "SqsAction" and "NonExistentQueue" in failure["errorMessage"], failure
    watcher.close()


class Recorder:
    """A local endpoint standing in for the AWS services moto does not serve (and for a search
    domain and a Salesforce input stream): records each request, answers what `answer` says."""

    def __init__(self):
        import http.server
        import queue
        import threading

        self.got = queue.Queue()
        self.answer = lambda method, path: (200, {})
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def handle_one(self, method):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                rec.got.put((method, self.path, {k.lower(): v for k, v in self.headers.items()},
                             json.loads(body) if body else None))
                status, doc = rec.answer(method, self.path)
                out = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def do_POST(self):
                self.handle_one("POST")

            def do_PUT(self):
                self.handle_one("PUT")

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def requests(self, n):
        """The next `n` requests, by path."""
        out = {}
        for _ in range(n):
            method, path, headers, body = self.got.get(timeout=10)
            out[path.split("?")[0]] = (method, headers, body)
        return out


@pytest.fixture
def recorder():
    r = Recorder()
    yield r
    r.server.shutdown()


def test_iot_events_messages_reach_the_endpoint(fresh_server, recorder):
    """moto serves no iotevents-data: a local endpoint records the SDK's BatchPutMessage."""
    recorder.answer = lambda method, path: (200, {"BatchPutMessageErrorEntries": []})
    s = fresh_server("--forward", recorder.url).start()
    s.client().create_topic_rule(ruleName="events", topicRulePayload={
        "sql": "SELECT * FROM 'events/+'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"iotEvents": {"roleArn": ROLE, "inputName": "doorInput", "messageId": "${topic(2)}-1"}}]})
    s.client("iot-data").publish(topic="events/door7", payload=b'{"open": true}')
    method, headers, body = recorder.requests(1)["/inputs/messages"]
    assert method == "POST" and headers["authorization"].startswith("AWS4-HMAC-SHA256")
    message = body["messages"][0]
    assert (message["inputName"], message["messageId"]) == ("doorInput", "door7-1")
    import base64
    assert json.loads(base64.b64decode(message["payload"])) == {"open": True}


def test_analytics_sitewise_location_search_and_salesforce_actions_are_sent(fresh_server, recorder):
    """The rest of AWS's forwarded actions, each observed at the endpoint as the service sees it:
    IoT Analytics (batchMode: one message per array element), SiteWise (string fields typed),
    Location (longitude first), OpenSearch and Elasticsearch (a SigV4-signed PUT of the document at
    the action's endpoint), Salesforce (a POST with the stream's token)."""
    import base64

    s = fresh_server("--forward", recorder.url).start()
    token = "T" * 40
    s.client().create_topic_rule(ruleName="iotfamily", topicRulePayload={
        "sql": "SELECT temp, lat, lon, topic(2) AS device FROM 'family/+'", "awsIotSqlVersion": "2016-03-23",
        "actions": [
            {"iotSiteWise": {"roleArn": ROLE, "putAssetPropertyValueEntries": [{
                "propertyAlias": "/plant/${topic(2)}/temp",
                "propertyValues": [{"value": {"doubleValue": "${temp}"},
                                    "timestamp": {"timeInSeconds": "1700000000", "offsetInNanos": "7"}}]}]}},
            {"location": {"roleArn": ROLE, "trackerName": "fleet", "deviceId": "${topic(2)}",
                          "latitude": "${lat}", "longitude": "${lon}",
                          "timestamp": {"value": "1700000000", "unit": "SECONDS"}}},
            {"openSearch": {"roleArn": ROLE, "endpoint": recorder.url + "/search", "index": "readings",
                            "type": "_doc", "id": "${topic(2)}-1"}},
            {"elasticsearch": {"roleArn": ROLE, "endpoint": recorder.url + "/es", "index": "readings",
                               "type": "reading", "id": "${topic(2)}-2"}},
            {"salesforce": {"token": token, "url": recorder.url + "/streams/s1/c1/event"}},
        ]})
    s.client().create_topic_rule(ruleName="analytics", topicRulePayload={
        "sql": "SELECT VALUE readings FROM 'batch/+'", "awsIotSqlVersion": "2016-03-23",
        "actions": [{"iotAnalytics": {"roleArn": ROLE, "batchMode": True,
                                      "channelArn": "arn:aws:iotanalytics:us-east-1:123456789012:channel/plant"}}]})
    recorder.answer = lambda method, path: (
        (201, {"result": "created"}) if method == "PUT" else (200, {}))
    data = s.client("iot-data")
    data.publish(topic="family/pump1", payload=b'{"temp": 21.5, "lat": 52.52, "lon": 13.40}')
    got = recorder.requests(5)

    method, headers, body = got["/properties"]
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256") and "/iotsitewise/" in headers["authorization"]
    entry = body["entries"][0]
    assert entry["propertyAlias"] == "/plant/pump1/temp"
    assert entry["propertyValues"][0]["value"] == {"doubleValue": 21.5}
    assert entry["propertyValues"][0]["timestamp"] == {"timeInSeconds": 1700000000, "offsetInNanos": 7}
    assert entry["propertyValues"][0]["quality"] == "GOOD"

    method, headers, body = got["/tracking/v0/trackers/fleet/positions"]
    update = body["Updates"][0]
    assert update["DeviceId"] == "pump1" and update["Position"] == [13.40, 52.52]
    assert update["SampleTime"].startswith("2023-11-14T22:13:20")

    method, headers, body = got["/search/readings/_doc/pump1-1"]
    assert method == "PUT" and body == {"temp": 21.5, "lat": 52.52, "lon": 13.40, "device": "pump1"}
    assert "/us-east-1/es/aws4_request" in headers["authorization"] and headers["x-amz-date"]
    method, headers, body = got["/es/readings/reading/pump1-2"]
    assert method == "PUT" and body["device"] == "pump1"

    method, headers, body = got["/streams/s1/c1/event"]
    assert method == "POST" and headers["authorization"] == f"Bearer {token}" and body["temp"] == 21.5

    data.publish(topic="batch/plant", payload=b'{"readings": [{"t": 1}, {"t": 2}]}')
    method, headers, body = recorder.requests(1)["/messages/batch"]
    assert body["channelName"] == "plant"
    assert [json.loads(base64.b64decode(m["payload"])) for m in body["messages"]] == [{"t": 1}, {"t": 2}]
    assert len({m["messageId"] for m in body["messages"]}) == 2

    _, _, d = call(s, "/console/api/rules/iotfamily")
    outcomes = {a["kind"]: (a["outcome"], a.get("detail", "")) for a in d["firings"][0]["actions"]}
    assert all(o == "ok" for o, _ in outcomes.values()), outcomes
    assert "BatchPutAssetPropertyValue: 1 entry" in outcomes["iotSiteWise"][1]
    assert "201 Created, created" in outcomes["openSearch"][1]


def test_refused_entries_and_bad_values_fail_the_action_and_run_its_error_action(fresh_server, recorder):
    """These APIs answer 200 with per-entry errors: Thingbox fails the action with the service's
    code and text, as it does for a value SiteWise cannot take and for a search domain's refusal."""
    from mqtt_helpers import Client

    s = fresh_server("--forward", recorder.url).start()

    def answer(method, path):
        if path.startswith("/properties"):
            return 200, {"errorEntries": [{"entryId": "e1", "errors": [
                {"errorCode": "ResourceNotFoundException", "errorMessage": "no property with that alias",
                 "timestamps": [{"timeInSeconds": 1}]}]}]}
        if path.startswith("/search"):
            return 403, {"message": "no permission for this index"}
        return 200, {}
    recorder.answer = answer

    def error_action(rule):
        return {"republish": {"roleArn": ROLE, "topic": f"family/errors/{rule}"}}
    iot = s.client()
    iot.create_topic_rule(ruleName="refused", topicRulePayload={
        "sql": "SELECT * FROM 'refused/+'", "errorAction": error_action("refused"),
        "actions": [{"iotSiteWise": {"roleArn": ROLE, "putAssetPropertyValueEntries": [{
            "entryId": "e1", "propertyAlias": "/nope",
            "propertyValues": [{"value": {"integerValue": "3"}, "timestamp": {"timeInSeconds": "1"}}]}]}}]})
    iot.create_topic_rule(ruleName="badvalue", topicRulePayload={
        "sql": "SELECT * FROM 'badvalue/+'", "errorAction": error_action("badvalue"),
        "actions": [{"iotSiteWise": {"roleArn": ROLE, "putAssetPropertyValueEntries": [{
            "propertyAlias": "/p", "propertyValues": [
                {"value": {"doubleValue": "${temp}"}, "timestamp": {"timeInSeconds": "1"}}]}]}}]})
    iot.create_topic_rule(ruleName="forbidden", topicRulePayload={
        "sql": "SELECT * FROM 'forbidden/+'", "errorAction": error_action("forbidden"),
        "actions": [{"openSearch": {"roleArn": ROLE, "endpoint": recorder.url + "/search", "index": "i",
                                    "type": "_doc", "id": "1"}}]})
    watcher = Client(s)
    watcher.connect()
    watcher.subscribe("family/errors/#")
    data = s.client("iot-data")
    failures = {}
    for topic, payload in [("refused/x", b'{}'), ("badvalue/x", b'{"temp": "warm"}'), ("forbidden/x", b'{"a": 1}')]:
        data.publish(topic=topic, payload=payload)
        m = watcher.recv()
        failures[m.topic.rsplit("/", 1)[1]] = json.loads(m.payload)["failures"][0]
    watcher.close()
    assert failures["refused"]["failedAction"] == "IotSiteWiseAction"
    assert "entry e1: ResourceNotFoundException: no property with that alias" in failures["refused"]["errorMessage"]
    assert "doubleValue 'warm' is not a number" in failures["badvalue"]["errorMessage"]
    assert "HTTP 403 Forbidden" in failures["forbidden"]["errorMessage"]
    assert "no permission for this index" in failures["forbidden"]["errorMessage"]
    # The value SiteWise cannot take never left Thingbox.
    paths = []
    while not recorder.got.empty():
        paths.append(recorder.got.get()[1])
    assert paths.count("/properties") == 1, paths


def test_kafka_records_reach_the_cluster_and_failures_are_explained(fresh_server):
    """The kafka action produces one record per firing to the cluster in `clientProperties`: the
    output as its value, the key and headers from templates, the partition given or Kafka's own
    (murmur2 of the key). An unknown topic or an unreachable cluster fails the action in seconds."""
    from kafka_fake import FakeKafka
    from mqtt_helpers import Client

    kafka = FakeKafka({"readings": 3})
    closed = free_port()  # nothing listens there
    s = fresh_server("--forward", "http://127.0.0.1:1").start()
    iot = s.client()
    props = {"bootstrap.servers": kafka.bootstrap, "security.protocol": "PLAINTEXT"}
    dest = "arn:aws:iot:us-east-1:123456789012:ruledestination/vpc/d1"
    iot.create_topic_rule(ruleName="tokafka", topicRulePayload={
        "sql": "SELECT temp, topic(2) AS device FROM 'kafka/+'", "awsIotSqlVersion": "2016-03-23",
        "actions": [
            {"kafka": {"destinationArn": dest, "topic": "readings", "key": "${topic(2)}", "clientProperties": props,
                       "headers": [{"key": "source", "value": "thingbox-${topic(2)}"}]}},
            {"kafka": {"destinationArn": dest, "topic": "readings", "partition": "2", "clientProperties": props}},
        ]})

    def error_action(rule):
        return {"republish": {"roleArn": ROLE, "topic": f"kafka-errors/{rule}"}}
    iot.create_topic_rule(ruleName="nokafkatopic", topicRulePayload={
        "sql": "SELECT * FROM 'nokafkatopic/+'", "errorAction": error_action("nokafkatopic"),
        "actions": [{"kafka": {"destinationArn": dest, "topic": "nope", "clientProperties": props}}]})
    iot.create_topic_rule(ruleName="nokafka", topicRulePayload={
        "sql": "SELECT * FROM 'nokafka/+'", "errorAction": error_action("nokafka"),
        "actions": [{"kafka": {"destinationArn": dest, "topic": "readings", "partition": "0",
                               "clientProperties": {"bootstrap.servers": f"127.0.0.1:{closed}"}}}]})
    watcher = Client(s)
    watcher.connect()
    watcher.subscribe("kafka-errors/#")

    data = s.client("iot-data")
    data.publish(topic="kafka/pump1", payload=b'{"temp": 21.5}')
    data.publish(topic="kafka/pump2", payload=b'{"temp": 22.5}')
    records = wait_for(lambda: len(kafka.records) >= 4 and list(kafka.records), what="records in Kafka")
    keyed = sorted((r for r in records if r[2] is not None), key=lambda r: r[2])
    assert [(r[2], json.loads(r[3])) for r in keyed] == [
        (b"pump1", {"temp": 21.5, "device": "pump1"}), (b"pump2", {"temp": 22.5, "device": "pump2"})]
    assert keyed[0][4] == {"source": b"thingbox-pump1"}
    # Kafka's default partitioner: toPositive(murmur2(key)) % 3 — 'pump1' and 'pump2' as the Java client puts them.
    from_java = {b"pump1": kafka_partition(b"pump1", 3), b"pump2": kafka_partition(b"pump2", 3)}
    assert {r[2]: r[1] for r in keyed} == from_java
    assert sorted(r[1] for r in records if r[2] is None) == [2, 2]

    failures = {}
    for topic in ("nokafkatopic/x", "nokafka/x"):
        started = time.monotonic()
        data.publish(topic=topic, payload=b'{"a": 1}')
        m = watcher.recv(timeout=15)
        failures[m.topic.split("/")[1]] = (json.loads(m.payload)["failures"][0], time.monotonic() - started)
    watcher.close()
    assert "Kafka has no topic 'nope'" in failures["nokafkatopic"][0]["errorMessage"]
    assert failures["nokafka"][0]["failedAction"] == "KafkaAction"
    assert "could not reach Kafka at 127.0.0.1:" in failures["nokafka"][0]["errorMessage"]
    assert failures["nokafka"][1] < 10

    _, _, d = call(s, "/console/api/rules/tokafka")
    details = [a["detail"] for f in d["firings"] for a in f["actions"]]
    assert any("produced to readings partition 2 at offset" in x for x in details), details
    kafka.close()


def kafka_partition(key, n):
    """The Java client's default partition for `key` (Utils.murmur2, written out independently)."""
    m, h = 0x5BD1E995, (0x9747B28C ^ len(key)) & 0xFFFFFFFF
    for i in range(0, len(key) // 4 * 4, 4):
        k = int.from_bytes(key[i:i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    rest = key[len(key) // 4 * 4:]
    if len(rest) == 3:
        h ^= rest[2] << 16
    if len(rest) >= 2:
        h ^= rest[1] << 8
    if rest:
        h ^= rest[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % n
