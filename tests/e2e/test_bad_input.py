"""The bad-input catalogue: hostile and malformed input on every surface — the AWS APIs (wrong
types, huge bodies, bad UTF-8, path traversal in names, malformed documents), MQTT (truncated and
oversized packets, wrong lengths, forbidden flags, topic aliases out of range, subscribe storms),
TLS (no certificate, a stranger's certificate, plain bytes, stalled handshakes) and the console
(wrong token, bad JSON, oversize uploads). Each case states the answer (AWS error type and HTTP
status, or MQTT reason code and the connection's fate) and is followed by proof that nothing else
was affected: the registry, policies, rules, jobs, templates and retained messages are compared
with a snapshot taken before the catalogue, and the broker still serves a fresh client."""

import json
import socket
import ssl
import struct
import time
import urllib.error
import urllib.request
import uuid

import pytest

from mqtt_helpers import Client, Device, host_port

SIGNED = "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/{svc}/aws4_request, SignedHeaders=host, Signature=0"
ARN = "arn:aws:iot:us-east-1:000000000000"
ROLE = "arn:aws:iam::000000000000:role/r"


def policy(statement):
    return json.dumps({"policyDocument": json.dumps({"Version": "2012-10-17", "Statement": statement})})


def rule(sql, actions=None):
    return json.dumps({"sql": sql, "actions": actions if actions is not None else
                       [{"republish": {"topic": "out", "roleArn": ROLE}}]})


BIG = b"{" + b'"a":"' + b"x" * (1024 * 1024 + 10) + b'"}'
NEST = b'{"state":{"desired":' + b'{"a":' * 7 + b"1" + b"}" * 7 + b"}}"

# (id, service, method, path, body, extra headers, status, error type, words in the message)
API = [
    # Things: names
    ("thing-name-space", "iot", "POST", "/things/a%20b", b"{}", {}, 400, "InvalidRequestException", "thingName"),
    ("thing-name-traversal", "iot", "POST", "/things/..%2F..%2Fetc", b"{}", {}, 400, "InvalidRequestException", "../../etc"),
    ("thing-name-slash", "iot", "POST", "/things/a%2Fb", b"{}", {}, 400, "InvalidRequestException", "thingName"),
    ("thing-name-nul", "iot", "POST", "/things/a%00b", b"{}", {}, 400, "InvalidRequestException", "thingName"),
    ("thing-name-129", "iot", "POST", "/things/" + "a" * 129, b"{}", {}, 400, "InvalidRequestException", "thingName"),
    ("thing-name-unicode", "iot", "POST", "/things/%C3%A9t%C3%A9", b"{}", {}, 400, "InvalidRequestException", "thingName"),
    ("thing-name-bad-utf8", "iot", "POST", "/things/%FF%FE", b"{}", {}, 400, "InvalidRequestException", ""),
    # Things: bodies
    ("thing-body-truncated", "iot", "POST", "/things/bi-new", b"{", {}, 400, "InvalidRequestException", "not valid JSON"),
    ("thing-body-array", "iot", "POST", "/things/bi-new", b"[]", {}, 400, "InvalidRequestException", "JSON object"),
    ("thing-body-null", "iot", "POST", "/things/bi-new", b"null", {}, 400, "InvalidRequestException", "JSON object"),
    ("thing-body-string", "iot", "POST", "/things/bi-new", b'"x"', {}, 400, "InvalidRequestException", "JSON object"),
    ("thing-body-bad-utf8", "iot", "POST", "/things/bi-new", b'{"attributePayload":{"attributes":{"a":"\xff"}}}', {}, 400, "InvalidRequestException", "not valid JSON"),
    ("thing-body-1mb", "iot", "POST", "/things/bi-new", BIG, {}, 413, "RequestEntityTooLargeException", "at most 1048576"),
    ("thing-attrs-wrong-type", "iot", "POST", "/things/bi-new", b'{"attributePayload":"x"}', {}, 400, "InvalidRequestException", "not valid JSON"),
    ("thing-attr-number", "iot", "POST", "/things/bi-new", b'{"attributePayload":{"attributes":{"a":1}}}', {}, 400, "InvalidRequestException", "expected a string"),
    ("thing-attr-space", "iot", "POST", "/things/bi-new", b'{"attributePayload":{"attributes":{"a":"x y"}}}', {}, 400, "InvalidRequestException", "attributes.a"),
    ("thing-attr-empty-key", "iot", "POST", "/things/bi-new", b'{"attributePayload":{"attributes":{"":"x"}}}', {}, 400, "InvalidRequestException", "key"),
    ("thing-attr-long-value", "iot", "POST", "/things/bi-new", json.dumps({"attributePayload": {"attributes": {"a": "x" * 801}}}).encode(), {}, 400, "InvalidRequestException", "attributes"),
    ("thing-unknown-type", "iot", "POST", "/things/bi-new", b'{"thingTypeName":"no-such-type"}', {}, 404, "ResourceNotFoundException", "no-such-type"),
    ("thing-type-bad-name", "iot", "POST", "/things/bi-new", b'{"thingTypeName":"a b"}', {}, 400, "InvalidRequestException", "thingTypeName"),
    ("thing-billing-missing", "iot", "POST", "/things/bi-new", b'{"billingGroupName":"nope"}', {}, 404, "ResourceNotFoundException", "nope"),
    ("thing-exists-other-attrs", "iot", "POST", "/things/bi-thing", b'{"attributePayload":{"attributes":{"other":"x"}}}', {}, 409, "ResourceAlreadyExistsException", "bi-thing"),
    ("thing-update-missing", "iot", "PATCH", "/things/bi-missing", b"{}", {}, 404, "ResourceNotFoundException", "bi-missing"),
    ("thing-update-version", "iot", "PATCH", "/things/bi-thing", b'{"expectedVersion":99}', {}, 409, "VersionConflictException", ""),
    ("thing-update-version-type", "iot", "PATCH", "/things/bi-thing", b'{"expectedVersion":"one"}', {}, 400, "InvalidRequestException", "not valid JSON"),
    ("thing-update-neg-version", "iot", "PATCH", "/things/bi-thing", b'{"expectedVersion":-1}', {}, 409, "VersionConflictException", "-1"),
    ("thing-delete-version", "iot", "DELETE", "/things/bi-thing?expectedVersion=99", None, {}, 409, "VersionConflictException", ""),
    ("thing-delete-version-nan", "iot", "DELETE", "/things/bi-thing?expectedVersion=x", None, {}, 400, "InvalidRequestException", "expectedVersion"),
    ("thing-describe-missing", "iot", "GET", "/things/bi-missing", None, {}, 404, "ResourceNotFoundException", "bi-missing"),
    ("list-max-nan", "iot", "GET", "/things?maxResults=abc", None, {}, 400, "InvalidRequestException", "maxResults"),
    ("list-max-zero", "iot", "GET", "/things?maxResults=0", None, {}, 400, "InvalidRequestException", "maxResults"),
    ("list-max-huge", "iot", "GET", "/things?maxResults=99999999999999999999", None, {}, 400, "InvalidRequestException", "maxResults"),
    ("list-bad-token", "iot", "GET", "/things?nextToken=%27%3B--", None, {}, 400, "InvalidRequestException", "nextToken"),
    ("list-bad-query-utf8", "iot", "GET", "/things?attributeName=%FF", None, {}, 400, "InvalidRequestException", ""),
    ("wrong-method", "iot", "PUT", "/things/bi-thing", b"{}", {}, 404, "UnknownOperationException", "PUT"),
    ("unknown-path", "iot", "GET", "/etc/passwd", None, {}, 404, "UnknownOperationException", "/etc/passwd"),
    ("traversal-path", "iot", "GET", "/things/../../etc/passwd", None, {}, 404, "UnknownOperationException", ""),
    ("other-service", "s3", "GET", "/things", None, {}, 400, "InvalidRequestException", "s3"),
    # Thing types and groups
    ("type-bad-name", "iot", "POST", "/thing-types/t%2F1", b"{}", {}, 400, "InvalidRequestException", "thingTypeName"),
    ("type-props-wrong", "iot", "POST", "/thing-types/bi-type2", b'{"thingTypeProperties":{"searchableAttributes":"a"}}', {}, 400, "InvalidRequestException", ""),
    ("type-4-searchable", "iot", "POST", "/thing-types/bi-type2", b'{"thingTypeProperties":{"searchableAttributes":["a","b","c","d"]}}', {}, 400, "InvalidRequestException", "searchable attributes"),
    ("type-delete-in-use", "iot", "DELETE", "/thing-types/bi-type", None, {}, 400, "InvalidRequestException", ""),
    ("type-deprecate-missing", "iot", "POST", "/thing-types/bi-missing/deprecate", b"{}", {}, 404, "ResourceNotFoundException", "bi-missing"),
    ("group-bad-name", "iot", "POST", "/thing-groups/g%20x", b"{}", {}, 400, "InvalidRequestException", "thingGroupName"),
    ("group-missing-parent", "iot", "POST", "/thing-groups/bi-group2", b'{"parentGroupName":"nope"}', {}, 400, "InvalidRequestException", "nope"),
    ("group-add-missing-thing", "iot", "PUT", "/thing-groups/addThingToThingGroup", b'{"thingGroupName":"bi-group","thingName":"bi-missing"}', {}, 404, "ResourceNotFoundException", "bi-missing"),
    ("group-add-missing-group", "iot", "PUT", "/thing-groups/addThingToThingGroup", b'{"thingGroupName":"nope","thingName":"bi-thing"}', {}, 404, "ResourceNotFoundException", "nope"),
    # Policies
    ("policy-bad-name", "iot", "POST", "/policies/p%20x", b'{"policyDocument":"{}"}', {}, 400, "InvalidRequestException", "policyName"),
    ("policy-no-document", "iot", "POST", "/policies/bi-p2", b"{}", {}, 400, "InvalidRequestException", "policyDocument"),
    ("policy-not-json", "iot", "POST", "/policies/bi-p2", b'{"policyDocument":"{"}', {}, 400, "MalformedPolicyException", "not valid JSON"),
    ("policy-doc-number", "iot", "POST", "/policies/bi-p2", b'{"policyDocument":5}', {}, 400, "InvalidRequestException", "not valid JSON"),
    ("policy-empty-statement", "iot", "POST", "/policies/bi-p2", policy([]).encode(), {}, 400, "MalformedPolicyException", "Statement"),
    ("policy-bad-effect", "iot", "POST", "/policies/bi-p2", policy([{"Effect": "Maybe", "Action": "iot:*", "Resource": "*"}]).encode(), {}, 400, "MalformedPolicyException", "Maybe"),
    ("policy-s3-action", "iot", "POST", "/policies/bi-p2", policy([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]).encode(), {}, 400, "MalformedPolicyException", "s3:GetObject"),
    ("policy-no-resource", "iot", "POST", "/policies/bi-p2", policy([{"Effect": "Allow", "Action": "iot:Connect"}]).encode(), {}, 400, "MalformedPolicyException", "Resource"),
    ("policy-bad-condition", "iot", "POST", "/policies/bi-p2", policy([{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*", "Condition": {"Frobnicate": {"a": "b"}}}]).encode(), {}, 400, "MalformedPolicyException", "Frobnicate"),
    ("policy-action-number", "iot", "POST", "/policies/bi-p2", policy([{"Effect": "Allow", "Action": 5, "Resource": "*"}]).encode(), {}, 400, "MalformedPolicyException", ""),
    ("policy-too-long", "iot", "POST", "/policies/bi-p2", policy([{"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{ARN}:client/{'x' * 40}"}] * 60).encode(), {}, 400, "MalformedPolicyException", "2048"),
    ("policy-version-missing", "iot", "POST", "/policies/bi-missing/version", policy([{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]).encode(), {}, 404, "ResourceNotFoundException", "bi-missing"),
    ("policy-version-bad-id", "iot", "GET", "/policies/bi-policy/version/abc", None, {}, 400, "InvalidRequestException", ""),
    ("policy-delete-attached", "iot", "DELETE", "/policies/bi-policy", None, {}, 409, "DeleteConflictException", ""),
    ("policy-attach-bad-target", "iot", "PUT", "/target-policies/bi-policy", b'{"target":"not-an-arn"}', {}, 400, "InvalidRequestException", ""),
    ("policy-attach-missing", "iot", "PUT", "/target-policies/bi-missing", b'{"target":"' + f"{ARN}:cert/{'0' * 64}".encode() + b'"}', {}, 404, "ResourceNotFoundException", ""),
    # Certificates
    ("csr-garbage", "iot", "POST", "/certificates?setAsActive=true", b'{"certificateSigningRequest":"garbage"}', {}, 400, "CertificateValidationException", "PEM"),
    ("csr-missing", "iot", "POST", "/certificates", b"{}", {}, 400, "InvalidRequestException", "certificateSigningRequest"),
    ("register-garbage", "iot", "POST", "/certificate/register", b'{"certificatePem":"-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----"}', {}, 400, "CertificateValidationException", "X.509"),
    ("register-not-pem", "iot", "POST", "/certificate/register", b'{"certificatePem":"hello"}', {}, 400, "CertificateValidationException", ""),
    ("register-ca-garbage", "iot", "POST", "/cacertificate", b'{"caCertificate":"x","verificationCertificate":"y"}', {}, 400, "CertificateValidationException", ""),
    ("cert-id-short", "iot", "GET", "/certificates/zz", None, {}, 400, "InvalidRequestException", "certificateId"),
    ("cert-id-missing", "iot", "GET", "/certificates/" + "0" * 64, None, {}, 404, "ResourceNotFoundException", ""),
    ("cert-bad-status", "iot", "PUT", "/certificates/" + "0" * 64 + "?newStatus=BOGUS", None, {}, 400, "InvalidRequestException", "BOGUS"),
    ("cert-delete-active", "iot", "DELETE", "/certificates/{cert}", None, {}, 406, "CertificateStateException", "deactivated"),
    ("cert-update-missing", "iot", "PUT", "/certificates/" + "0" * 64 + "?newStatus=INACTIVE", None, {}, 404, "ResourceNotFoundException", ""),
    ("principal-attach-missing", "iot", "PUT", "/things/bi-missing/principals", None, {"x-amzn-principal": f"{ARN}:cert/{'0' * 64}"}, 404, "ResourceNotFoundException", ""),
    ("principal-attach-no-header", "iot", "PUT", "/things/bi-thing/principals", None, {}, 400, "InvalidRequestException", "principal"),
    # Topic rules
    ("rule-bad-name", "iot", "POST", "/rules/bad-name", rule("SELECT * FROM 'a'").encode(), {}, 400, "InvalidRequestException", "ruleName"),
    ("rule-no-sql", "iot", "POST", "/rules/bi_rule2", b'{"actions":[]}', {}, 400, "InvalidRequestException", "sql"),
    ("rule-sql-syntax", "iot", "POST", "/rules/bi_rule2", rule("SELECT FROM").encode(), {}, 400, "SqlParseException", "column 8"),
    ("rule-sql-unknown-fn", "iot", "POST", "/rules/bi_rule2", rule("SELECT nosuchfn(x) FROM 'a'").encode(), {}, 400, "SqlParseException", "nosuchfn"),
    ("rule-sql-bad-filter", "iot", "POST", "/rules/bi_rule2", rule("SELECT * FROM 'a/#/b'").encode(), {}, 400, "SqlParseException", "a/#/b"),
    ("rule-sql-unclosed", "iot", "POST", "/rules/bi_rule2", rule("SELECT 'x FROM 'a'").encode(), {}, 400, "SqlParseException", ""),
    ("rule-sql-version", "iot", "POST", "/rules/bi_rule2", json.dumps({"sql": "SELECT * FROM 'a'", "awsIotSqlVersion": "1999-01-01", "actions": []}).encode(), {}, 400, "InvalidRequestException", "awsIotSqlVersion"),
    ("rule-unknown-action", "iot", "POST", "/rules/bi_rule2", rule("SELECT * FROM 'a'", [{"bogus": {}}]).encode(), {}, 400, "InvalidRequestException", "bogus"),
    ("rule-11-actions", "iot", "POST", "/rules/bi_rule2", rule("SELECT * FROM 'a'", [{"republish": {"topic": f"o{i}", "roleArn": ROLE}} for i in range(11)]).encode(), {}, 400, "InvalidRequestException", "10"),
    ("rule-republish-wildcard", "iot", "POST", "/rules/bi_rule2", rule("SELECT * FROM 'a'", [{"republish": {"topic": "a/+", "roleArn": ROLE}}]).encode(), {}, 400, "InvalidRequestException", ""),
    ("rule-republish-qos2", "iot", "POST", "/rules/bi_rule2", rule("SELECT * FROM 'a'", [{"republish": {"topic": "o", "roleArn": ROLE, "qos": 2}}]).encode(), {}, 400, "InvalidRequestException", "qos"),
    ("rule-bad-template", "iot", "POST", "/rules/bi_rule2", rule("SELECT * FROM 'a'", [{"republish": {"topic": "o/${", "roleArn": ROLE}}]).encode(), {}, 400, "InvalidRequestException", ""),
    ("rule-http-not-url", "iot", "POST", "/rules/bi_rule2", rule("SELECT * FROM 'a'", [{"http": {"url": "ftp://x"}}]).encode(), {}, 400, "InvalidRequestException", ""),
    ("rule-exists", "iot", "POST", "/rules/bi_rule", rule("SELECT * FROM 'a'").encode(), {}, 409, "ResourceAlreadyExistsException", ""),
    ("rule-get-missing", "iot", "GET", "/rules/bi_missing", None, {}, 401, "UnauthorizedException", "bi_missing"),
    ("rule-replace-bad-sql", "iot", "PATCH", "/rules/bi_rule", rule("SELEC * FROM 'a'").encode(), {}, 400, "SqlParseException", ""),
    # Jobs
    ("job-bad-id", "iot", "PUT", "/jobs/j%20x", b'{"targets":["x"],"document":"{}"}', {}, 400, "InvalidRequestException", "jobId"),
    ("job-no-targets", "iot", "PUT", "/jobs/bi-job2", b'{"targets":[],"document":"{}"}', {}, 400, "InvalidRequestException", "targets"),
    ("job-bad-target", "iot", "PUT", "/jobs/bi-job2", b'{"targets":["not-an-arn"],"document":"{}"}', {}, 400, "InvalidRequestException", "not-an-arn"),
    ("job-missing-target", "iot", "PUT", "/jobs/bi-job2", json.dumps({"targets": [f"{ARN}:thing/bi-missing"], "document": "{}"}).encode(), {}, 404, "ResourceNotFoundException", "bi-missing"),
    ("job-doc-not-json", "iot", "PUT", "/jobs/bi-job2", json.dumps({"targets": [f"{ARN}:thing/bi-thing"], "document": "{"}).encode(), {}, 400, "InvalidRequestException", "document"),
    ("job-doc-too-big", "iot", "PUT", "/jobs/bi-job2", json.dumps({"targets": [f"{ARN}:thing/bi-thing"], "document": json.dumps({"a": "x" * 33000})}).encode(), {}, 400, "InvalidRequestException", ""),
    ("job-bad-selection", "iot", "PUT", "/jobs/bi-job2", json.dumps({"targets": [f"{ARN}:thing/bi-thing"], "document": "{}", "targetSelection": "SOMETIMES"}).encode(), {}, 400, "InvalidRequestException", "SOMETIMES"),
    ("job-exists", "iot", "PUT", "/jobs/bi-job", json.dumps({"targets": [f"{ARN}:thing/bi-thing"], "document": "{}"}).encode(), {}, 409, "ResourceAlreadyExistsException", "bi-job"),
    ("job-describe-missing", "iot", "GET", "/jobs/bi-missing", None, {}, 404, "ResourceNotFoundException", "bi-missing"),
    ("job-cancel-missing", "iot", "PUT", "/jobs/bi-missing/cancel", b"{}", {}, 404, "ResourceNotFoundException", ""),
    # Provisioning
    ("template-bad-body", "iot", "POST", "/provisioning-templates", json.dumps({"templateName": "bi-t2", "templateBody": "{", "provisioningRoleArn": ROLE}).encode(), {}, 400, "InvalidRequestException", "templateBody"),
    ("template-bad-name", "iot", "POST", "/provisioning-templates", json.dumps({"templateName": "t 1", "templateBody": "{}", "provisioningRoleArn": ROLE}).encode(), {}, 400, "InvalidRequestException", "templateName"),
    ("template-no-role", "iot", "POST", "/provisioning-templates", json.dumps({"templateName": "bi-t2", "templateBody": "{}"}).encode(), {}, 400, "InvalidRequestException", "provisioningRoleArn"),
    ("template-missing", "iot", "GET", "/provisioning-templates/bi-missing", None, {}, 404, "ResourceNotFoundException", "bi-missing"),
    ("claim-missing-template", "iot", "POST", "/provisioning-templates/bi-missing/provisioning-claim", b"{}", {}, 404, "ResourceNotFoundException", ""),
    # iot-data: shadows and publish
    ("shadow-not-json", "iotdata", "POST", "/things/bi-thing/shadow", b"{", {}, 400, "InvalidRequestException", "JSON"),
    ("shadow-state-string", "iotdata", "POST", "/things/bi-thing/shadow", b'{"state":"x"}', {}, 400, "InvalidRequestException", "State"),
    ("shadow-too-deep", "iotdata", "POST", "/things/bi-thing/shadow", NEST, {}, 400, "InvalidRequestException", "nesting"),
    ("shadow-too-big", "iotdata", "POST", "/things/bi-thing/shadow", b'{"state":{"desired":{"a":"' + b"x" * 9000 + b'"}}}', {}, 413, "RequestEntityTooLargeException", ""),
    ("shadow-bad-version", "iotdata", "POST", "/things/bi-thing/shadow", b'{"state":{"desired":{"a":1}},"version":99}', {}, 409, "ConflictException", ""),
    ("shadow-version-type", "iotdata", "POST", "/things/bi-thing/shadow", b'{"state":{"desired":{"a":1}},"version":"1"}', {}, 400, "InvalidRequestException", "version"),
    ("shadow-bad-utf8", "iotdata", "POST", "/things/bi-thing/shadow", b'{"state":{"desired":{"a":"\xff"}}}', {}, 415, "UnsupportedDocumentEncodingException", "UTF-8"),
    ("shadow-bad-name", "iotdata", "POST", "/things/bi-thing/shadow?name=a%20b", b'{"state":{"desired":{"a":1}}}', {}, 400, "InvalidRequestException", ""),
    ("shadow-missing-thing-get", "iotdata", "GET", "/things/bi-missing/shadow", None, {}, 404, "ResourceNotFoundException", ""),
    ("shadow-thing-name-bad", "iotdata", "GET", "/things/a%20b/shadow", None, {}, 400, "InvalidRequestException", ""),
    ("publish-wildcard", "iotdata", "POST", "/topics/a%2F%2B", b"x", {}, 400, "InvalidRequestException", "wildcard"),
    ("publish-too-big", "iotdata", "POST", "/topics/a", b"x" * 140000, {}, 413, "RequestEntityTooLargeException", "128 KB"),
    ("publish-qos2", "iotdata", "POST", "/topics/a?qos=2", b"x", {}, 400, "InvalidRequestException", "qos"),
    ("publish-retained-reserved", "iotdata", "POST", "/topics/%24aws%2Fthings%2Fx%2Fshadow%2Fupdate?retain=true", b"x", {}, 400, "InvalidRequestException", "reserved"),
    ("publish-other-dollar", "iotdata", "POST", "/topics/%24SYS%2Fx", b"x", {}, 400, "InvalidRequestException", "reserved"),
    ("publish-empty-level-long", "iotdata", "POST", "/topics/" + "a%2F" * 300 + "a", b"x", {}, 400, "InvalidRequestException", ""),
    ("retained-missing", "iotdata", "GET", "/retainedMessage/bi%2Fnothing", None, {}, 404, "ResourceNotFoundException", ""),
    # iot-jobs-data
    ("jobs-data-bad-timeout", "iot-jobs-data", "PUT", "/things/bi-thing/jobs/$next", b'{"stepTimeoutInMinutes":"x"}', {}, 400, "InvalidRequestException", ""),
    ("jobs-data-bad-status", "iot-jobs-data", "POST", "/things/bi-thing/jobs/bi-job", b'{"status":"DANCING"}', {}, 400, "InvalidRequestException", "DANCING"),
    ("jobs-data-missing-exec", "iot-jobs-data", "GET", "/things/bi-thing/jobs/bi-missing", None, {}, 404, "ResourceNotFoundException", ""),
]


def call(server, service, method, path, body, headers):
    h = dict(headers)
    if service != "iot":
        h["authorization"] = SIGNED.format(svc=service)
    req = urllib.request.Request(server.api + path, data=body, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def unchanged(server, world):
    """Asserts that stored state is as before the catalogue (then takes the current state as the
    reference, so that one failing case does not fail every later one)."""
    now, before = snapshot(server), world["before"]
    world["before"] = now
    assert now == before, "a refused input changed stored state"


def snapshot(server):
    """Everything a bad input might have changed, in a comparable form."""
    iot, data = server.client("iot"), server.client("iot-data")
    return {
        "things": sorted((t["thingName"], t["version"], json.dumps(t.get("attributes", {}), sort_keys=True))
                         for t in iot.list_things(maxResults=250)["things"]),
        "types": sorted(t["thingTypeName"] for t in iot.list_thing_types()["thingTypes"]),
        "groups": sorted(g["groupName"] for g in iot.list_thing_groups()["thingGroups"]),
        "policies": sorted((p["policyName"], iot.get_policy(policyName=p["policyName"])["defaultVersionId"])
                           for p in iot.list_policies()["policies"]),
        "certificates": sorted((c["certificateId"], c["status"]) for c in iot.list_certificates()["certificates"]),
        "rules": sorted((r["ruleName"], iot.get_topic_rule(ruleName=r["ruleName"])["rule"]["sql"])
                        for r in iot.list_topic_rules()["rules"]),
        "jobs": sorted((j["jobId"], j["status"]) for j in iot.list_jobs()["jobs"]),
        "templates": sorted(t["templateName"] for t in iot.list_provisioning_templates()["templates"]),
        "retained": sorted(r["topic"] for r in data.list_retained_messages()["retainedTopics"]),
        "shadow": json.loads(data.get_thing_shadow(thingName="bi-thing")["payload"].read())["version"],
    }


@pytest.fixture(scope="module")
def world(server, tmp_path_factory):
    """A small registry the cases aim at, and its snapshot."""
    iot = server.client("iot")
    iot.create_thing_type(thingTypeName="bi-type")
    iot.create_thing(thingName="bi-thing", thingTypeName="bi-type", attributePayload={"attributes": {"k": "v"}})
    iot.create_thing_group(thingGroupName="bi-group")
    iot.create_policy(policyName="bi-policy", policyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}))
    device = Device(iot, tmp_path_factory.mktemp("bi-device"), policy="bi-policy")
    iot.create_topic_rule(ruleName="bi_rule", topicRulePayload={
        "sql": "SELECT * FROM 'bi/in'", "actions": [{"republish": {"topic": "bi/out", "roleArn": ROLE}}]})
    iot.create_job(jobId="bi-job", targets=[f"{ARN}:thing/bi-thing"], document="{}")
    iot.create_provisioning_template(templateName="bi-template", templateBody=json.dumps({"Resources": {}}),
                                     provisioningRoleArn=ROLE)
    data = server.client("iot-data")
    data.update_thing_shadow(thingName="bi-thing", payload=b'{"state":{"reported":{"on":true}}}')
    data.publish(topic="bi/retained", payload=b"kept", retain=True)
    return {"before": snapshot(server), "device": device}


@pytest.mark.parametrize("case", API, ids=[c[0] for c in API])
def test_api(server, world, case):
    _, service, method, path, body, headers, status, kind, words = case
    path = path.replace("{cert}", world["device"].id)
    got, h, raw = call(server, service, method, path, body, headers)
    assert (got, h.get("x-amzn-ErrorType")) == (status, kind), raw[:300]
    message = json.loads(raw)["message"]
    assert message and words in message, message
    assert h.get("x-amzn-RequestId")
    unchanged(server, world)


# ---- MQTT: raw bytes on the plain listener ----

def varint(n):
    out = bytearray()
    while True:
        b, n = n % 128, n // 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s16(b):
    return struct.pack(">H", len(b)) + b


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect(client_id=b"bi-raw", level=4, flags=0x02, keepalive=30, name=b"MQTT", props=b"", payload=None):
    body = s16(name) + bytes([level, flags]) + struct.pack(">H", keepalive)
    if level == 5:
        body += varint(len(props)) + props
    body += payload if payload is not None else s16(client_id)
    return packet(0x10, body)


def publish(topic, payload=b"x", qos=0, pkid=1, first=None, props=None):
    body = s16(topic) + (struct.pack(">H", pkid) if qos else b"")
    if props is not None:
        body += varint(len(props)) + props
    return packet(first if first is not None else 0x30 | (qos << 1), body + payload)


def subscribe(filters, pkid=1, v5=False):
    body = struct.pack(">H", pkid) + (b"\x00" if v5 else b"")
    for f, q in filters:
        body += s16(f) + bytes([q])
    return packet(0x82, body)


V4 = connect()
V5 = connect(level=5)

# (id, bytes sent after the TCP connect, expected: "closed", "open", ("connack", code), ("suback", codes),
#  ("disconnect", reason))
MQTT = [
    ("zero-byte", b"\x00\x00", "closed"),
    ("garbage", b"GET / HTTP/1.1\r\n\r\n", "closed"),
    ("publish-before-connect", publish(b"a"), "closed"),
    ("pingreq-before-connect", b"\xc0\x00", "closed"),
    ("wrong-protocol-name", connect(name=b"MQTX"), "closed"),
    ("mqtt-3.1", connect(name=b"MQIsdp", level=3), "closed"),
    ("protocol-level-6", connect(level=6), "closed"),
    ("reserved-flag", connect(flags=0x03), "closed"),
    ("password-without-username", connect(flags=0x42, payload=s16(b"c") + s16(b"pw")), "closed"),
    ("will-qos-3", connect(flags=0x1E, payload=s16(b"c") + s16(b"w") + s16(b"x")), "closed"),
    ("client-id-129", connect(client_id=b"c" * 129), ("connack", 2)),
    ("empty-id-persistent", connect(client_id=b"", flags=0x00), ("connack", 2)),
    ("client-id-bad-utf8", connect(client_id=b"\xff\xfe"), "closed"),
    ("will-topic-wildcard", connect(flags=0x06, payload=s16(b"c") + s16(b"a/#") + s16(b"x")), ("connack", 5)),
    ("truncated-connect", connect()[:8], "closed-after-connect-timeout"),
    ("varint-5-bytes", b"\x10\xff\xff\xff\xff\x7f", "closed"),
    ("remaining-256mb", b"\x10\xff\xff\xff\x7f" + b"\x00" * 16, "closed"),
    ("second-connect", V4 + V4, "closed"),
    ("publish-qos3", V4 + publish(b"a", first=0x36), "closed"),
    ("publish-wildcard", V4 + publish(b"a/+"), "closed"),
    ("publish-hash", V4 + publish(b"a/#"), "closed"),
    ("publish-empty-topic", V4 + publish(b""), "closed"),
    ("publish-topic-bad-utf8", V4 + publish(b"a/\xff"), "closed"),
    ("publish-topic-nul", V4 + publish(b"a\x00b"), "closed"),
    ("publish-topic-257", V4 + publish(b"a" * 257), "closed"),
    ("publish-128kb-plus", V4 + publish(b"bi/big", b"x" * (128 * 1024 + 1)), "closed"),
    ("publish-qos1-pkid-0", V4 + publish(b"a", qos=1, pkid=0), "closed"),
    ("publish-reserved-topic", V4 + publish(b"$aws/events/presence/connected/x"), "closed"),
    ("publish-dollar-sys", V4 + publish(b"$SYS/x"), "closed"),
    ("publish-retained-reserved", V4 + publish(b"$aws/things/bi-thing/shadow/update", first=0x31), "closed"),
    ("publish-length-short", V4 + b"\x30\x02\x00\x05ab", "closed"),
    ("subscribe-no-filters", V4 + packet(0x82, b"\x00\x01"), "closed"),
    ("subscribe-bad-flags", V4 + packet(0x80, b"\x00\x01" + s16(b"a") + b"\x00"), "closed"),
    ("subscribe-pkid-0", V4 + subscribe([(b"a", 0)], pkid=0), "closed"),
    ("subscribe-bad-filter", V4 + subscribe([(b"a/#/b", 0)]), ("suback", [0x80])),
    ("subscribe-plus-in-level", V4 + subscribe([(b"a/b+", 0)]), ("suback", [0x80])),
    ("subscribe-empty-filter", V4 + subscribe([(b"", 0)]), ("suback", [0x80])),
    ("subscribe-mixed", V4 + subscribe([(b"bi/ok", 1), (b"#/x", 0)]), ("suback", [1, 0x80])),
    ("unsubscribe-no-filters", V4 + packet(0xA2, b"\x00\x01"), "closed"),
    ("puback-unknown", V4 + b"\x40\x02\x12\x34", "open"),
    ("pingreq-with-body", V4 + b"\xc0\x01\x00", "closed"),
    ("reserved-type-0", V4 + b"\x00\x00", "closed"),
    ("auth-in-3.1.1", V4 + b"\xf0\x00", "closed"),
    ("pubrel-qos2-flow", V4 + b"\x62\x02\x00\x01", "closed"),
    ("v5-topic-alias-0", V5 + publish(b"a", props=b"\x23\x00\x00"), ("disconnect", 0x94)),
    ("v5-topic-alias-too-big", V5 + publish(b"a", props=b"\x23\xff\xff"), ("disconnect", 0x94)),
    ("v5-unknown-alias", V5 + publish(b"", props=b"\x23\x00\x01"), ("disconnect", 0x82)),
    ("v5-unknown-property", V5 + publish(b"a", props=b"\x7f\x00"), "closed"),
    # Found by fuzzing: a field running past its frame was taken for "more bytes to come" and the
    # packet skipped silently.
    ("v5-properties-past-frame", V5 + packet(0x30, s16(b"a") + b"\xff\xff\xff"), ("disconnect", 0x82)),
    ("filter-past-frame", V4 + packet(0x82, b"\x00\x01\x00\x09a"), "closed"),
    ("v5-receive-maximum-0", connect(level=5, props=b"\x21\x00\x00"), "closed"),
    ("v5-subscription-id", V5 + packet(0x82, b"\x00\x01\x02\x0b\x01" + s16(b"a") + b"\x00"), ("disconnect", 0xA1)),
    ("v5-subscribe-qos-bits", V5 + packet(0x82, b"\x00\x01\x00" + s16(b"a") + b"\xc0"), "closed"),
]


def mqtt_addr(server):
    return host_port(server.endpoints["mqtt"])


def read_some(sock, timeout):
    sock.settimeout(timeout)
    try:
        return sock.recv(65536)
    except socket.timeout:
        return None
    except ConnectionError:
        return b""


def closed_within(sock, seconds):
    """True if the peer closes `sock` within `seconds` (whatever it sends first)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        chunk = read_some(sock, max(0.05, deadline - time.monotonic()))
        if chunk == b"":
            return True
    return False


def fate(server, data, quiet=0.5, wait=5.0):
    """What the broker did with `data`: its answer bytes, and whether it closed the connection.
    Reads until the broker closes or has been quiet for `quiet` s; then a PINGREQ must get a
    PINGRESP if the connection is still open."""
    s = socket.create_connection(mqtt_addr(server), timeout=5)
    try:
        s.sendall(data)
        got = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            chunk = read_some(s, quiet)
            if chunk is None:
                break
            if chunk == b"":
                return got, True
            got += chunk
        try:
            s.sendall(b"\xc0\x00")
        except OSError:
            return got, True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            chunk = read_some(s, wait)
            if chunk == b"":
                return got, True
            if chunk is None:
                break
            got += chunk
            if got.endswith(b"\xd0\x00"):
                return got[:-2], False
        raise AssertionError(f"no PINGRESP and no close (got {got!r})")
    finally:
        s.close()


def healthy(server):
    c = Client(server)
    c.connect()
    t = f"bi/health/{uuid.uuid4().hex[:6]}"
    c.subscribe(t)
    c.publish(t, b"ok")
    assert c.recv().payload == b"ok"
    c.close()


@pytest.mark.parametrize("case", MQTT, ids=[c[0] for c in MQTT])
def test_mqtt(server, world, case):
    name, data, want = case
    if want == "closed-after-connect-timeout":
        pytest.skip("covered by test_stalled_connections (one 10 s wait for all)")
    got, closed = fate(server, data)
    if want == "closed":
        assert closed, f"{name}: the connection stayed open (got {got!r})"
    elif want == "open":
        assert not closed, f"{name}: the connection was closed"
    elif want[0] == "connack":
        assert got[:1] == b"\x20", got
        code = got[3] if data[8] != 5 else got[3]
        assert code == want[1], f"CONNACK code {code}, wanted {want[1]}"
        assert closed, "a refused CONNECT must close the connection"
    elif want[0] == "suback":
        i = got.index(b"\x90")
        n = got[i + 1]
        assert list(got[i + 4:i + 2 + n]) == want[1], got
        assert not closed
    elif want[0] == "disconnect":
        assert b"\xe0" in got, got
        i = got.index(b"\xe0")
        assert got[i + 2] == want[1], f"reason {got[i + 2]:#x}, wanted {want[1]:#x}"
        assert closed
    healthy(server)
    unchanged(server, world)


def test_subscribe_storm_is_bounded(server, world):
    """1,000 SUBSCRIBE packets of 8 filters each, sent at once: every one answered, the 50-per-
    connection quota applied (AWS's limit), the connection kept, the broker unaffected."""
    s = socket.create_connection(mqtt_addr(server), timeout=10)
    s.sendall(V4)
    assert read_some(s, 5)[:4] == b"\x20\x02\x00\x00"
    storm = b"".join(subscribe([(f"bi/storm/{p}/{i}".encode(), 0) for i in range(8)], pkid=p + 1)
                     for p in range(1000))
    s.sendall(storm)
    got = b""
    while got.count(b"\x90\x0a") < 1000:
        chunk = read_some(s, 10)
        assert chunk, "the connection closed or stalled during the storm"
        got += chunk
    codes = [got[i + 4:i + 12] for i in range(len(got)) if got[i:i + 2] == b"\x90\x0a"][:1000]
    granted = sum(c.count(0) for c in codes)
    assert granted == 50 and sum(c.count(0x97) + c.count(0x80) for c in codes) == 8000 - 50
    s.close()
    healthy(server)
    unchanged(server, world)


def test_stalled_connections(server, world):
    """Slowloris: a TCP connection that never finishes CONNECT, and one that never finishes the
    TLS handshake, are closed by the broker's deadlines (10 s) — both at once."""
    plain = socket.create_connection(mqtt_addr(server), timeout=5)
    plain.sendall(connect()[:8])
    tls = socket.create_connection(host_port(server.endpoints["mqtt_tls"]), timeout=5)
    tls.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # the start of a ClientHello
    assert closed_within(plain, 15), "the stalled CONNECT was not closed"
    assert closed_within(tls, 5), "the stalled TLS handshake was not closed"
    tls.close()
    plain.close()
    healthy(server)


# ---- TLS on the mutual-TLS listener ----

def tls_connect(server, cert=None, key=None, ca=True, hostname="localhost"):
    ctx = ssl.create_default_context(cafile=server.endpoints["root_ca"]) if ca else ssl._create_unverified_context()
    if cert:
        ctx.load_cert_chain(cert, key)
    raw = socket.create_connection(host_port(server.endpoints["mqtt_tls"]), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname=hostname)
    s.sendall(connect(client_id=b"bi-tls"))
    return s.recv(4)


def stranger(tmp_path):
    """A certificate and key from a CA Thingbox has never seen."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stranger")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    (tmp_path / "s.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "s.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    return str(tmp_path / "s.crt"), str(tmp_path / "s.key")


def refused(fn):
    try:
        answer = fn()
    except (ssl.SSLError, ConnectionError, OSError):
        return True
    return answer in (b"",) or (answer[:1] == b"\x20" and answer[3] != 0)


def test_tls_without_a_client_certificate(server, world):
    assert refused(lambda: tls_connect(server))
    healthy(server)


def test_tls_with_a_strangers_certificate(server, world, tmp_path):
    cert, key = stranger(tmp_path)
    assert refused(lambda: tls_connect(server, cert, key))
    healthy(server)
    unchanged(server, world)


def test_tls_with_an_inactive_certificate(server, world, tmp_path):
    iot = server.client("iot")
    dev = Device(iot, tmp_path, active=False, policy="bi-policy")
    assert refused(lambda: tls_connect(server, dev.cert, dev.key))
    iot.update_certificate(certificateId=dev.id, newStatus="REVOKED")
    assert refused(lambda: tls_connect(server, dev.cert, dev.key))
    healthy(server)
    world["before"] = snapshot(server)  # the new certificate is this test's setup, not a bad input


def test_plain_mqtt_on_the_tls_port(server, world):
    raw = socket.create_connection(host_port(server.endpoints["mqtt_tls"]), timeout=5)
    raw.sendall(V4)
    first = read_some(raw, 5)
    assert first is not None and not first.startswith(b"\x20"), first
    assert first == b"" or closed_within(raw, 5)
    raw.close()
    healthy(server)


# ---- The console API ----

CONSOLE = [
    ("no-token", "GET", "/console/api/overview", None, None, 401, "UnauthorizedException"),
    ("wrong-token", "GET", "/console/api/overview", None, "x" * 64, 401, "UnauthorizedException"),
    ("token-prefix", "GET", "/console/api/overview", None, "TOKEN"[:3], 401, "UnauthorizedException"),
    ("publish-not-json", "POST", "/console/api/publish", b"{", "TOKEN", 400, "InvalidRequestException"),
    ("publish-array", "POST", "/console/api/publish", b"[]", "TOKEN", 400, "InvalidRequestException"),
    ("publish-wildcard", "POST", "/console/api/publish", b'{"topic":"a/#","payload":"x"}', "TOKEN", 400, "InvalidRequestException"),
    ("publish-reserved", "POST", "/console/api/publish", b'{"topic":"$SYS/x","payload":"x"}', "TOKEN", 400, "InvalidRequestException"),
    ("explain-bad-json", "POST", "/console/api/explain", b'{"action":', "TOKEN", 400, "InvalidRequestException"),
    ("replay-bad-lines", "POST", "/console/api/replays", b'{"name":"../../etc/passwd"}', "TOKEN", 400, "InvalidRequestException"),
    ("collections-not-array", "PUT", "/console/api/collections", b'{"a":1}', "TOKEN", 400, "InvalidRequestException"),
    ("collections-bad-items", "PUT", "/console/api/collections", b'[{"a":1}]', "TOKEN", 400, "InvalidRequestException"),
    ("replay-bad-speed", "POST", "/console/api/replays", b'{"lines":"","speed":-1}', "TOKEN", 400, "InvalidRequestException"),
    ("ota-unsigned", "GET", "/ota/bi/x.bin", None, None, 403, "ForbiddenException"),
    ("ota-link-tampered", "GET", "/ota/bi/x.bin?expires=9999999999&signature=00", None, None, 403, "ForbiddenException"),
]


@pytest.mark.parametrize("case", CONSOLE, ids=[c[0] for c in CONSOLE])
def test_console(server, world, case):
    _, method, path, body, token, status, kind = case
    real = server.endpoints["console"].split("token=", 1)[1]
    headers = {} if token is None else {"x-thingbox-token": real if token == "TOKEN" else token}
    got, h, raw = call(server, "iot", method, path, body, headers)
    assert (got, h.get("x-amzn-ErrorType")) == (status, kind), raw[:300]
    assert json.loads(raw)["message"]
    unchanged(server, world)


def test_console_upload_larger_than_allowed(server, world):
    """An OTA file upload that declares more than the 512 MB the console takes is refused before
    its body is read: a raw request with the Content-Length alone."""
    token = server.endpoints["console"].split("token=", 1)[1]
    host, port = server.api.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall((f"PUT /console/api/ota-files/bi/huge.bin HTTP/1.1\r\nHost: {host}:{port}\r\n"
                   f"x-thingbox-token: {token}\r\nContent-Length: {600 * 1024 * 1024}\r\n\r\n").encode() + b"x" * 1024)
        head = s.recv(4096)
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert b"RequestEntityTooLargeException" in head, head[:400]
    files = json.loads(call(server, "iot", "GET", "/console/api/ota-files", None, {"x-thingbox-token": token})[2])
    assert not any(f["key"] == "huge.bin" for f in files)
    unchanged(server, world)
