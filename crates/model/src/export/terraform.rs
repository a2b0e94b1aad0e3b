//! The Terraform export: one `main.tf` for the AWS provider (`aws_iot_thing_type`, `aws_iot_thing`,
//! `aws_iot_thing_group`, `aws_iot_thing_group_membership`, `aws_iot_policy`,
//! `aws_iot_topic_rule`, `aws_iot_provisioning_template`). The local account and region become
//! the `aws_caller_identity` and `aws_region` data sources; `${…}` in the text (policy variables,
//! substitution templates) is written `$${…}`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::text::{hcl_escape, hcl_string, hcl_value, snake};
use super::{Inventory, Names, Report, groups_parents_first, report_certificates};

/// Rule action types the AWS provider's `aws_iot_topic_rule` has a block for, by API name.
const ACTION_BLOCKS: &[(&str, &str)] = &[
    ("cloudwatchAlarm", "cloudwatch_alarm"),
    ("cloudwatchLogs", "cloudwatch_logs"),
    ("cloudwatchMetric", "cloudwatch_metric"),
    ("dynamoDB", "dynamodb"),
    ("dynamoDBv2", "dynamodbv2"),
    ("elasticsearch", "elasticsearch"),
    ("firehose", "firehose"),
    ("http", "http"),
    ("iotAnalytics", "iot_analytics"),
    ("iotEvents", "iot_events"),
    ("kafka", "kafka"),
    ("kinesis", "kinesis"),
    ("lambda", "lambda"),
    ("republish", "republish"),
    ("s3", "s3"),
    ("sns", "sns"),
    ("sqs", "sqs"),
    ("stepFunctions", "step_functions"),
    ("timestream", "timestream"),
];

/// Action members the provider's blocks lack: (action, member, what it is).
const MISSING_MEMBERS: &[(&str, &str, &str)] =
    &[("republish", "headers", "MQTT 5 headers"), ("http", "auth", "SigV4 auth")];

/// Members that become repeated blocks of another name.
const LIST_BLOCKS: &[(&str, &str)] = &[("headers", "http_header"), ("dimensions", "dimension")];

/// Members that are maps, not blocks.
const MAP_MEMBERS: &[&str] = &["clientProperties"];

struct Out<'a> {
    s: String,
    account: &'a str,
    region: &'a str,
}

impl Out<'_> {
    fn line(&mut self, indent: usize, text: &str) {
        let _ = writeln!(self.s, "{}{text}", " ".repeat(indent));
    }

    fn attr(&mut self, indent: usize, key: &str, v: &Value) {
        let value = hcl_value(v, self.account, self.region, indent);
        self.line(indent, &format!("{key} = {value}"));
    }

    fn string_map(&mut self, indent: usize, key: &str, m: &BTreeMap<String, String>) {
        if m.is_empty() {
            return;
        }
        self.line(indent, &format!("{key} = {{"));
        for (k, v) in m {
            let v = hcl_string(v, self.account, self.region);
            self.line(indent + 2, &format!("\"{}\" = {v}", hcl_escape(k)));
        }
        self.line(indent, "}");
    }

    /// An API object as a block's body: scalars and scalar lists as attributes, objects as nested
    /// blocks, lists of objects as repeated blocks.
    fn body(&mut self, indent: usize, v: &Value) {
        let Some(m) = v.as_object() else { return };
        for (k, v) in m {
            let name = snake(k);
            match v {
                Value::Object(_) if MAP_MEMBERS.contains(&k.as_str()) => self.attr(indent, &name, v),
                Value::Object(_) => {
                    self.line(indent, &format!("{name} {{"));
                    self.body(indent + 2, v);
                    self.line(indent, "}");
                }
                Value::Array(items) if items.iter().any(Value::is_object) => {
                    let block = LIST_BLOCKS
                        .iter()
                        .find(|(a, _)| a == k)
                        .map_or(name.clone(), |(_, b)| (*b).to_owned());
                    for item in items {
                        self.line(indent, &format!("{block} {{"));
                        self.body(indent + 2, item);
                        self.line(indent, "}");
                    }
                }
                _ => self.attr(indent, &name, v),
            }
        }
    }
}

/// `main.tf` and the report.
pub fn export(inv: &Inventory<'_>) -> (String, Report) {
    let reg = inv.registry;
    let mut names = Names::default();
    let mut report = Report::default();
    let mut o = Out { s: String::new(), account: inv.account, region: inv.region };
    o.s.push_str(
        "# AWS IoT resources exported by Thingbox. `terraform init && terraform apply` with AWS credentials.\n\
         terraform {\n  required_providers {\n    aws = {\n      source  = \"hashicorp/aws\"\n      version = \">= 5.0\"\n    }\n  }\n}\n\n\
         data \"aws_caller_identity\" \"current\" {}\n\ndata \"aws_region\" \"current\" {}\n",
    );
    let mut types = BTreeMap::new();
    for t in reg.thing_types() {
        let id = names.unique("type_", &t.name, true);
        o.s.push('\n');
        o.line(0, &format!("resource \"aws_iot_thing_type\" \"{id}\" {{"));
        o.attr(2, "name", &Value::String(t.name.clone()));
        if t.deprecated {
            o.line(2, "deprecated = true");
        }
        if t.description.is_some() || !t.searchable_attributes.is_empty() {
            o.line(2, "properties {");
            if let Some(d) = &t.description {
                o.attr(4, "description", &Value::String(d.clone()));
            }
            if !t.searchable_attributes.is_empty() {
                o.attr(4, "searchable_attributes", &serde_json::json!(t.searchable_attributes));
            }
            o.line(2, "}");
        }
        o.string_map(2, "tags", &t.tags);
        o.line(0, "}");
        if t.propagating_attributes.is_some() {
            report.not_exported(
                format!("thing type {}", t.name),
                "its MQTT 5 propagating attributes: set them after applying with `aws iot update-thing-type`",
            );
        }
        types.insert(t.name.clone(), id);
    }
    let mut groups = BTreeMap::new();
    for g in groups_parents_first(reg) {
        let id = names.unique("group_", &g.name, true);
        o.s.push('\n');
        o.line(0, &format!("resource \"aws_iot_thing_group\" \"{id}\" {{"));
        o.attr(2, "name", &Value::String(g.name.clone()));
        if let Some(p) = g.parent.as_ref().and_then(|p| groups.get(p)) {
            o.line(2, &format!("parent_group_name = aws_iot_thing_group.{p}.name"));
        }
        if g.description.is_some() || !g.attributes.is_empty() {
            o.line(2, "properties {");
            if let Some(d) = &g.description {
                o.attr(4, "description", &Value::String(d.clone()));
            }
            if !g.attributes.is_empty() {
                o.line(4, "attribute_payload {");
                o.string_map(6, "attributes", &g.attributes);
                o.line(4, "}");
            }
            o.line(2, "}");
        }
        o.string_map(2, "tags", &g.tags);
        o.line(0, "}");
        groups.insert(g.name.clone(), id);
    }
    for t in reg.things() {
        let id = names.unique("thing_", &t.name, true);
        o.s.push('\n');
        o.line(0, &format!("resource \"aws_iot_thing\" \"{id}\" {{"));
        o.attr(2, "name", &Value::String(t.name.clone()));
        if let Some(ty) = t.type_name.as_ref().and_then(|n| types.get(n)) {
            o.line(2, &format!("thing_type_name = aws_iot_thing_type.{ty}.name"));
        }
        o.string_map(2, "attributes", &t.attributes);
        o.line(0, "}");
        for g in reg.direct_groups(&t.name) {
            let Some(gid) = groups.get(g) else { continue };
            let mid = names.unique("member_", &format!("{}_{g}", t.name), true);
            o.s.push('\n');
            o.line(0, &format!("resource \"aws_iot_thing_group_membership\" \"{mid}\" {{"));
            o.line(2, &format!("thing_name       = aws_iot_thing.{id}.name"));
            o.line(2, &format!("thing_group_name = aws_iot_thing_group.{gid}.name"));
            o.line(0, "}");
        }
    }
    for p in reg.policies() {
        let id = names.unique("policy_", &p.name, true);
        let doc: Value = serde_json::from_str(&p.default().document).unwrap_or_default();
        o.s.push('\n');
        o.line(0, &format!("resource \"aws_iot_policy\" \"{id}\" {{"));
        o.attr(2, "name", &Value::String(p.name.clone()));
        let body = hcl_value(&doc, inv.account, inv.region, 2);
        o.line(2, &format!("policy = jsonencode({body})"));
        o.string_map(2, "tags", &p.tags);
        o.line(0, "}");
    }
    for rule in inv.rules {
        rule_resource(&mut o, &mut names, &mut report, inv, rule);
    }
    for t in inv.job_templates {
        report.not_exported(
            format!("job template {}", t.id),
            "the AWS provider has no job template resource: create it with `aws iot create-job-template` \
             (or use the CloudFormation export, which has AWS::IoT::JobTemplate)",
        );
    }
    for t in inv.provisioning {
        let id = names.unique("provisioning_", &t.name, true);
        o.s.push('\n');
        o.line(0, &format!("resource \"aws_iot_provisioning_template\" \"{id}\" {{"));
        o.attr(2, "name", &Value::String(t.name.clone()));
        if let Some(d) = &t.description {
            o.attr(2, "description", &Value::String(d.clone()));
        }
        o.line(2, &format!("enabled = {}", t.enabled));
        o.attr(2, "provisioning_role_arn", &Value::String(t.role_arn.clone()));
        let body = t.versions.get(&t.default_version).map(|v| v.body.clone()).unwrap_or_default();
        o.attr(2, "template_body", &Value::String(body));
        o.attr(2, "type", &serde_json::to_value(t.kind).unwrap_or_default());
        if let Some(h) = &t.hook {
            o.line(2, "pre_provisioning_hook {");
            o.attr(4, "target_arn", &Value::String(h.target_arn.clone()));
            o.attr(4, "payload_version", &Value::String(h.payload_version.clone()));
            o.line(2, "}");
        }
        o.string_map(2, "tags", &t.tags);
        o.line(0, "}");
    }
    report_certificates(inv, &mut report);
    (o.s, report)
}

fn action_block(o: &mut Out<'_>, indent: usize, act: &Value, rule: &str, report: &mut Report) -> bool {
    let Some((kind, body)) = act.as_object().and_then(|m| m.iter().next()) else { return false };
    let Some((_, block)) = ACTION_BLOCKS.iter().find(|(k, _)| k == kind) else {
        report.not_exported(
            format!("rule {rule} ({kind})"),
            format!("the AWS provider's aws_iot_topic_rule has no {kind} action: add it on AWS by hand, or use the CloudFormation export"),
        );
        return false;
    };
    let mut body = body.clone();
    for (action, member, what) in MISSING_MEMBERS {
        if kind == action
            && let Some(m) = body.as_object_mut()
            && m.remove(*member).is_some()
        {
            report.not_exported(
                format!("rule {rule} ({kind})"),
                format!("the AWS provider's {kind} block has no {what}: add it on AWS by hand"),
            );
        }
    }
    o.line(indent, &format!("{block} {{"));
    o.body(indent + 2, &body);
    o.line(indent, "}");
    true
}

fn rule_resource(
    o: &mut Out<'_>,
    names: &mut Names,
    report: &mut Report,
    inv: &Inventory<'_>,
    rule: &crate::rules::TopicRule,
) {
    let id = names.unique("rule_", &rule.name, true);
    let pl = &rule.payload;
    o.s.push('\n');
    o.line(0, &format!("resource \"aws_iot_topic_rule\" \"{id}\" {{"));
    o.attr(2, "name", &Value::String(rule.name.clone()));
    o.line(2, &format!("enabled = {}", !pl.rule_disabled));
    o.attr(2, "sql", &Value::String(pl.sql.clone()));
    o.attr(
        2,
        "sql_version",
        &Value::String(pl.aws_iot_sql_version.clone().unwrap_or_else(|| "2015-10-08".into())),
    );
    if let Some(d) = &pl.description {
        o.attr(2, "description", &Value::String(d.clone()));
    }
    for act in &pl.actions {
        action_block(o, 2, act, &rule.name, report);
    }
    if let Some(e) = &pl.error_action {
        let mut inner = Out { s: String::new(), account: o.account, region: o.region };
        if action_block(&mut inner, 4, e, &rule.name, report) {
            o.line(2, "error_action {");
            o.s.push_str(&inner.s);
            o.line(2, "}");
        }
    }
    o.string_map(2, "tags", &rule.tags);
    o.line(0, "}");
    super::cloudformation::report_rule(inv, rule, report);
}
