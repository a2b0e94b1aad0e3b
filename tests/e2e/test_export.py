"""Export to AWS and import back, through the `thingbox` binary and the real tools: a registry made
with boto3 (types, nested groups, things with attributes, policies with account ARNs and policy
variables, topic rules, a job template, a provisioning template, a certificate) is exported as
CloudFormation — checked by cfn-lint against CloudFormation's resource schemas, deployed into
moto's server and read back with boto3 — and imported into a fresh data dir, where boto3 reads the
same registry; the Terraform export is parsed with an HCL parser and checked against the AWS
provider's resource attributes; the console's download is a zip of the same files."""

import copy
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import hcl2
import pytest
from botocore.config import Config

from conftest import BIN, free_port, wait_for
from test_console import browser, go, page  # noqa: F401  (fixtures)
from test_viewer import call

ACCT = "arn:aws:iot:us-east-1:000000000000"
ROLE = "arn:aws:iam::000000000000:role/iot-actions"
VENV = Path(sys.executable).parent
POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "Own", "Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
     "Resource": f"{ACCT}:topic/lamps/${{iot:ClientId}}/*"},
    {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{ACCT}:client/${{iot:Connection.Thing.ThingName}}"}]}
RULE = {"sql": "SELECT state.reported.on AS on FROM '$aws/things/+/shadow/update/accepted' WHERE state.reported.on <> null",
        "awsIotSqlVersion": "2016-03-23", "description": "lamp switches",
        "actions": [{"republish": {"topic": "lamps/${topic(3)}/switched", "roleArn": ROLE, "qos": 1}},
                    {"http": {"url": "https://hooks.example.com/lamps", "headers": [{"key": "x-src", "value": "thingbox"}]}},
                    {"lambda": {"functionArn": "arn:aws:lambda:us-east-1:000000000000:function:on-switch"}}],
        "errorAction": {"republish": {"topic": "lamps/errors", "roleArn": ROLE}}}
PROVISIONING = {"Parameters": {"SerialNumber": {"Type": "String"}, "AWS::IoT::Certificate::Id": {"Type": "String"}},
                "Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "SerialNumber"}}},
                              "certificate": {"Type": "AWS::IoT::Certificate",
                                              "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "Active"}}}}


def populate(iot):
    iot.create_thing_type(thingTypeName="lamp-type", thingTypeProperties={
        "thingTypeDescription": "A lamp", "searchableAttributes": ["color"]})
    iot.create_thing_group(thingGroupName="home", thingGroupProperties={"thingGroupDescription": "the house"})
    iot.create_thing_group(thingGroupName="kitchen", parentGroupName="home",
                           thingGroupProperties={"attributePayload": {"attributes": {"floor": "0"}}})
    iot.create_thing(thingName="lamp-1", thingTypeName="lamp-type", attributePayload={"attributes": {"color": "red"}})
    iot.create_thing(thingName="lamp-2", attributePayload={"attributes": {"color": "blue", "watts": "40"}})
    iot.add_thing_to_thing_group(thingGroupName="kitchen", thingName="lamp-1")
    iot.create_policy(policyName="lamp-policy", policyDocument=json.dumps(POLICY))
    iot.create_topic_rule(ruleName="lamp_switches", topicRulePayload=RULE)
    iot.create_topic_rule(ruleName="quiet_rule", topicRulePayload={"sql": "SELECT * FROM 'x/#'", "ruleDisabled": True,
                                                                   "actions": [{"republish": {"topic": "y", "roleArn": ROLE}}]})
    iot.create_job_template(jobTemplateId="firmware", description="firmware update",
                            document=json.dumps({"url": "${aws:iot:parameter:url}"}),
                            timeoutConfig={"inProgressTimeoutInMinutes": 10})
    iot.create_provisioning_template(templateName="fleet", templateBody=json.dumps(PROVISIONING),
                                     provisioningRoleArn="arn:aws:iam::000000000000:role/Provisioning", enabled=True)
    cert = iot.create_keys_and_certificate(setAsActive=True)
    iot.attach_thing_principal(thingName="lamp-1", principal=cert["certificateArn"])
    iot.attach_policy(policyName="lamp-policy", target=cert["certificateArn"])
    return cert["certificateId"]


def snapshot(iot):
    """The registry as boto3 reads it, ids and dates left out."""
    things = {t["thingName"]: (t.get("thingTypeName"), t["attributes"]) for t in iot.list_things()["things"]}
    types = {t["thingTypeName"]: t["thingTypeProperties"] for t in iot.list_thing_types()["thingTypes"]}
    groups = {}
    for g in iot.list_thing_groups()["thingGroups"]:
        d = iot.describe_thing_group(thingGroupName=g["groupName"])
        parent = d["thingGroupMetadata"].get("parentGroupName")
        members = sorted(iot.list_things_in_thing_group(thingGroupName=g["groupName"])["things"])
        groups[g["groupName"]] = (parent, d["thingGroupProperties"], members)
    policies = {p["policyName"]: json.loads(iot.get_policy(policyName=p["policyName"])["policyDocument"])
                for p in iot.list_policies()["policies"]}
    rules = {}
    for r in iot.list_topic_rules()["rules"]:
        rule = iot.get_topic_rule(ruleName=r["ruleName"])["rule"]
        rule.pop("createdAt", None)
        rule.pop("ruleArn", None)
        rules[r["ruleName"]] = rule
    jobs = {}
    for t in iot.list_job_templates()["jobTemplates"]:
        d = iot.describe_job_template(jobTemplateId=t["jobTemplateId"])
        jobs[t["jobTemplateId"]] = {k: d.get(k) for k in ("description", "document", "timeoutConfig")}
    prov = {}
    for t in iot.list_provisioning_templates()["templates"]:
        d = iot.describe_provisioning_template(templateName=t["templateName"])
        prov[t["templateName"]] = (json.loads(d["templateBody"]), d["provisioningRoleArn"], d["enabled"])
    return {"things": things, "types": types, "groups": groups, "policies": policies, "rules": rules,
            "jobs": jobs, "provisioning": prov}


def thingbox(*args, check=True):
    res = subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "RUST_LOG": "warn"})
    if check:
        assert res.returncode == 0, f"thingbox {' '.join(args)}: {res.stderr}{res.stdout}"
    return res


@pytest.fixture
def moto():
    port = free_port()
    p = subprocess.Popen([str(VENV / "moto_server"), "-p", str(port)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            boto3.client("sts", endpoint_url=url, region_name="us-east-1", aws_access_key_id="a",
                         aws_secret_access_key="b").get_caller_identity()
            return True
        except Exception:
            return False

    wait_for(up, timeout=30, what="moto_server")
    yield lambda svc: boto3.client(svc, endpoint_url=url, region_name="us-east-1", aws_access_key_id="a",
                                   aws_secret_access_key="b", config=Config(retries={"max_attempts": 1}))
    p.terminate()
    p.wait(timeout=10)


def test_cloudformation_export_lints_deploys_into_moto_and_imports_back(fresh_server, tmp_path, moto):
    s = fresh_server().start()
    iot = s.client()
    cert_id = populate(iot)
    before = snapshot(iot)
    out = tmp_path / "cfn"
    res = thingbox("export", "--format", "cloudformation", "--out", str(out), "--data-dir", str(s.data_dir))
    assert "REPORT.md" in res.stdout
    template = json.loads((out / "template.json").read_text())
    report = (out / "REPORT.md").read_text()
    assert "Private keys are never exported" in report and f"certificate {cert_id[:12]}" in report
    assert "attach it to lamp-1" in report and "attach policy lamp-policy" in report
    assert "--thing-type-name lamp-type" in report and "add-thing-to-thing-group --thing-name lamp-1" in report
    assert "on-switch must exist on AWS" in report and f"the role {ROLE} must exist" in report
    assert "BEGIN RSA PRIVATE KEY" not in (out / "template.json").read_text()

    # CloudFormation's own resource schemas (cfn-lint bundles them): no errors.
    lint = subprocess.run([str(VENV / "cfn-lint"), "--format", "parseable", str(out / "template.json")],
                          capture_output=True, text=True, timeout=300)
    assert lint.returncode & 2 == 0, f"cfn-lint errors:\n{lint.stdout}{lint.stderr}"

    # Deployed into moto's CloudFormation. moto cannot read AWS's AttributePayload object (it calls
    # json.loads on it), so its copy goes without thing attributes; moto has no ThingGroup, TopicRule
    # or ProvisioningTemplate support (cfn-lint and the import below cover those).
    for_moto = copy.deepcopy(template)
    for r in for_moto["Resources"].values():
        if r["Type"] == "AWS::IoT::Thing":
            r["Properties"].pop("AttributePayload", None)
    cf = moto("cloudformation")
    cf.create_stack(StackName="thingbox", TemplateBody=json.dumps(for_moto))
    status = wait_for(lambda: (st := cf.describe_stacks(StackName="thingbox")["Stacks"][0]["StackStatus"])
                      .endswith("COMPLETE") or st.endswith("FAILED") and st, what="the stack")
    assert cf.describe_stacks(StackName="thingbox")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE", status
    aws = moto("iot")
    assert {t["thingName"] for t in aws.list_things()["things"]} == set(before["things"])
    assert {t["thingTypeName"] for t in aws.list_thing_types()["thingTypes"]} == set(before["types"])
    assert {t["jobTemplateId"] for t in aws.list_job_templates()["jobTemplates"]} == set(before["jobs"])
    deployed = aws.get_policy(policyName="lamp-policy")["policyDocument"]
    deployed = deployed if isinstance(deployed, dict) else json.loads(deployed)
    moto_policy = json.loads(json.dumps(POLICY).replace("000000000000", "123456789012"))
    assert deployed == moto_policy, "account rewritten, policy variables intact"

    # Imported into a fresh data dir (no server running there: the command starts one for itself).
    fresh = tmp_path / "imported"
    res = thingbox("import", str(out / "template.json"), "--data-dir", str(fresh))
    assert "made ThingGroupKitchen" in res.stdout
    s2 = fresh_server(data_dir=fresh).start()
    after = snapshot(s2.client())
    # What CloudFormation has no resource for is in the report, not the template: the thing type of
    # lamp-1 and the kitchen membership are the two differences, as REPORT.md says.
    expected = copy.deepcopy(before)
    expected["things"]["lamp-1"] = (None, before["things"]["lamp-1"][1])
    expected["groups"]["kitchen"] = (*before["groups"]["kitchen"][:2], [])
    assert after == expected

    # Importing it again is refused the AWS way, naming the resource; nothing changes.
    again = thingbox("import", str(out / "template.json"), "--data-dir", str(fresh), check=False)
    assert again.returncode != 0 and "ResourceAlreadyExistsException" in again.stderr, again.stderr
    assert snapshot(s2.client()) == after


# The AWS provider's attributes and blocks (registry.terraform.io/providers/hashicorp/aws, v5) of
# the resources the export writes; nested blocks by path.
PROVIDER = {
    "aws_iot_thing_type": {"name", "deprecated", "properties", "tags"},
    "aws_iot_thing_type.properties": {"description", "searchable_attributes"},
    "aws_iot_thing": {"name", "attributes", "thing_type_name"},
    "aws_iot_thing_group": {"name", "parent_group_name", "properties", "tags"},
    "aws_iot_thing_group.properties": {"description", "attribute_payload"},
    "aws_iot_thing_group.properties.attribute_payload": {"attributes"},
    "aws_iot_thing_group_membership": {"thing_name", "thing_group_name", "override_dynamic_group"},
    "aws_iot_policy": {"name", "policy", "tags"},
    "aws_iot_topic_rule": {"name", "description", "enabled", "sql", "sql_version", "tags", "error_action",
                           "cloudwatch_alarm", "cloudwatch_logs", "cloudwatch_metric", "dynamodb", "dynamodbv2",
                           "elasticsearch", "firehose", "http", "iot_analytics", "iot_events", "kafka", "kinesis",
                           "lambda", "republish", "s3", "sns", "sqs", "step_functions", "timestream"},
    "aws_iot_topic_rule.republish": {"role_arn", "topic", "qos"},
    "aws_iot_topic_rule.http": {"url", "confirmation_url", "http_header"},
    "aws_iot_topic_rule.http.http_header": {"key", "value"},
    "aws_iot_topic_rule.lambda": {"function_arn"},
    "aws_iot_provisioning_template": {"name", "description", "enabled", "provisioning_role_arn", "template_body",
                                      "type", "pre_provisioning_hook", "tags"},
}
REQUIRED = {"aws_iot_topic_rule": {"name", "enabled", "sql", "sql_version"}, "aws_iot_policy": {"name", "policy"},
            "aws_iot_provisioning_template": {"name", "provisioning_role_arn", "template_body"}}


def unquote(label):
    return label.strip('"')


def check_block(path, body):
    """Every attribute and nested block of `body` is one the provider has (python-hcl2 gives
    nested blocks as lists of dicts marked `__is_block__`)."""
    allowed = PROVIDER.get(path)
    for key, value in body.items():
        if key == "__is_block__":
            continue
        if allowed is not None:
            assert key in allowed, f"{path}: the AWS provider has no '{key}'"
        if isinstance(value, list) and value and all(isinstance(v, dict) and v.get("__is_block__") for v in value):
            for b in value:
                check_block(f"{path}.{key}", b)


def test_terraform_export_parses_and_uses_the_providers_attributes(fresh_server, tmp_path):
    s = fresh_server().start()
    iot = s.client()
    populate(iot)
    out = tmp_path / "tf"
    thingbox("export", "--format", "terraform", "--out", str(out), "--data-dir", str(s.data_dir))
    text = (out / "main.tf").read_text()
    parsed = hcl2.loads(text)
    seen = {}
    for block in parsed["resource"]:
        for kind, named in block.items():
            kind = unquote(kind)
            for name, body in named.items():
                name = unquote(name)
                seen.setdefault(kind, []).append(name)
                check_block(kind, body)
                missing = REQUIRED.get(kind, set()) - set(body)
                assert not missing, f"{kind}.{name} lacks {missing}"
    assert sorted(seen["aws_iot_thing"]) == ["thing_lamp_1", "thing_lamp_2"]
    assert seen["aws_iot_thing_group_membership"] and seen["aws_iot_topic_rule"] and seen["aws_iot_provisioning_template"]
    assert {"aws_caller_identity", "aws_region"} <= {unquote(k) for d in parsed["data"] for k in d}
    # Policy variables escaped, the account a data source.
    assert "$${iot:ClientId}" in text and "${data.aws_caller_identity.current.account_id}" in text
    assert "thing_type_name = aws_iot_thing_type.type_lamp_type.name" in text
    report = (out / "REPORT.md").read_text()
    assert "job template firmware" in report and "no job template resource" in report


def test_the_consoles_export_is_a_zip_and_bad_formats_are_refused(server, iot):
    status, headers, body = call(server, "/console/api/export?format=terraform&download=zip")
    assert status == 200 and headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert names == ["thingbox-terraform/main.tf", "thingbox-terraform/REPORT.md"]
    status, headers, body = call(server, "/console/api/export?format=pulumi")
    assert status == 400 and headers["x-amzn-ErrorType"].startswith("InvalidRequestException")
    assert "cloudformation or terraform" in body["message"]
    status, headers, body = call(server, "/console/api/import", "POST", raw=b"not json")
    assert status == 400 and "not JSON" in body["message"]
    status, _, body = call(server, "/console/api/import", "POST",
                           {"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {}}}})
    assert status == 400 and "resource Q: type 'AWS::SQS::Queue'" in body["message"]


def test_the_overview_page_downloads_the_export(server, page):
    go(page, server, "overview")
    with page.expect_download() as d:
        page.click("#export-cloudformation")
    assert d.value.suggested_filename == "thingbox-cloudformation.zip"
    names = zipfile.ZipFile(d.value.path()).namelist()
    assert names == ["thingbox-cloudformation/template.json", "thingbox-cloudformation/REPORT.md"]
    template = json.loads(zipfile.ZipFile(d.value.path()).read("thingbox-cloudformation/template.json"))
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
