//! The CloudFormation export: one template (JSON, which CloudFormation reads as it reads YAML) with
//! an `AWS::IoT::…` resource per exported item. Property names are CloudFormation's (AWS's API
//! members with a capital first letter); ARNs of the local account are `Fn::Sub` strings.

use serde_json::{Map, Value, json};

use super::text::{cfn, cfn_value, pascal_keys};
use super::{Inventory, Names, Report, groups_parents_first, report_certificates, report_local_lambda};

/// Members whose keys are the user's, not AWS's: left as written.
pub const USER_KEYED: &[&str] = &["clientProperties"];

fn tags(t: &crate::tags::Tags) -> Option<Value> {
    (!t.is_empty()).then(|| Value::Array(t.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect()))
}

fn put(m: &mut Map<String, Value>, k: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(k.to_owned(), v);
    }
}

/// The template and its report.
pub fn export(inv: &Inventory<'_>) -> (Value, Report) {
    let (a, r) = (inv.account, inv.region);
    let reg = inv.registry;
    let mut names = Names::default();
    let mut report = Report::default();
    let mut resources = Map::new();
    let mut type_ids = std::collections::BTreeMap::new();
    let mut group_ids = std::collections::BTreeMap::new();

    for t in reg.thing_types() {
        let id = names.unique("ThingType", &t.name, false);
        let mut props = Map::new();
        if let Some(d) = &t.description {
            props.insert("ThingTypeDescription".into(), json!(d));
        }
        if !t.searchable_attributes.is_empty() {
            props.insert("SearchableAttributes".into(), json!(t.searchable_attributes));
        }
        if let Some(p) = &t.propagating_attributes {
            props.insert(
                "Mqtt5Configuration".into(),
                json!({"PropagatingAttributes": pascal_keys(&serde_json::to_value(p).unwrap_or_default(), &[])}),
            );
        }
        let mut p = Map::new();
        p.insert("ThingTypeName".into(), json!(t.name));
        if !props.is_empty() {
            p.insert("ThingTypeProperties".into(), Value::Object(props));
        }
        if t.deprecated {
            p.insert("DeprecateThingType".into(), json!(true));
        }
        put(&mut p, "Tags", tags(&t.tags));
        resources.insert(id.clone(), json!({"Type": "AWS::IoT::ThingType", "Properties": p}));
        type_ids.insert(t.name.clone(), id);
    }

    for g in groups_parents_first(reg) {
        let id = names.unique("ThingGroup", &g.name, false);
        let mut p = Map::new();
        p.insert("ThingGroupName".into(), json!(g.name));
        if let Some(parent) = &g.parent {
            // A Ref (the parent's name) orders the parent first.
            let parent_ref = group_ids.get(parent).map_or_else(|| json!(parent), |pid| json!({"Ref": pid}));
            p.insert("ParentGroupName".into(), parent_ref);
        }
        let mut props = Map::new();
        if let Some(d) = &g.description {
            props.insert("ThingGroupDescription".into(), json!(d));
        }
        if !g.attributes.is_empty() {
            props.insert("AttributePayload".into(), json!({"Attributes": g.attributes}));
        }
        if !props.is_empty() {
            p.insert("ThingGroupProperties".into(), Value::Object(props));
        }
        put(&mut p, "Tags", tags(&g.tags));
        resources.insert(id.clone(), json!({"Type": "AWS::IoT::ThingGroup", "Properties": p}));
        group_ids.insert(g.name.clone(), id);
    }

    for t in reg.things() {
        let id = names.unique("Thing", &t.name, false);
        let mut p = Map::new();
        p.insert("ThingName".into(), json!(t.name));
        if !t.attributes.is_empty() {
            p.insert("AttributePayload".into(), json!({"Attributes": t.attributes}));
        }
        let mut resource = json!({"Type": "AWS::IoT::Thing", "Properties": p});
        if let Some(ty) = &t.type_name {
            if let Some(tid) = type_ids.get(ty) {
                resource["DependsOn"] = json!(tid);
            }
            report.not_exported(
                format!("thing {}", t.name),
                format!(
                    "CloudFormation's AWS::IoT::Thing has no thing type: after deploying, \
                     `aws iot update-thing --thing-name {} --thing-type-name {ty}`",
                    t.name
                ),
            );
        }
        let groups: Vec<&str> = reg.direct_groups(&t.name).collect();
        if !groups.is_empty() {
            report.not_exported(
                format!("thing {} in {}", t.name, groups.join(", ")),
                format!(
                    "CloudFormation has no resource for group membership: after deploying, \
                     `aws iot add-thing-to-thing-group --thing-name {} --thing-group-name <group>` for each",
                    t.name
                ),
            );
        }
        resources.insert(id, resource);
    }

    for pol in reg.policies() {
        let id = names.unique("Policy", &pol.name, false);
        let doc: Value = serde_json::from_str(&pol.default().document).unwrap_or_default();
        resources.insert(
            id,
            json!({"Type": "AWS::IoT::Policy", "Properties": {
                "PolicyName": pol.name, "PolicyDocument": cfn_value(&doc, a, r)}}),
        );
        if pol.versions.len() > 1 {
            report.check(
                format!("policy {}", pol.name),
                format!(
                    "only the default version (v{}) is exported; the other {} versions are not",
                    pol.default_version,
                    pol.versions.len() - 1
                ),
            );
        }
    }

    for rule in inv.rules {
        let id = names.unique("TopicRule", &rule.name, false);
        let pl = &rule.payload;
        let mut payload = Map::new();
        payload.insert("Sql".into(), json!(pl.sql));
        payload.insert("RuleDisabled".into(), json!(pl.rule_disabled));
        put(&mut payload, "AwsIotSqlVersion", pl.aws_iot_sql_version.as_ref().map(|v| json!(v)));
        put(&mut payload, "Description", pl.description.as_ref().map(|d| json!(d)));
        let actions: Vec<Value> =
            pl.actions.iter().map(|act| cfn_value(&pascal_keys(act, USER_KEYED), a, r)).collect();
        payload.insert("Actions".into(), Value::Array(actions));
        if let Some(e) = &pl.error_action {
            payload.insert("ErrorAction".into(), cfn_value(&pascal_keys(e, USER_KEYED), a, r));
        }
        let mut p = Map::new();
        p.insert("RuleName".into(), json!(rule.name));
        p.insert("TopicRulePayload".into(), Value::Object(payload));
        put(&mut p, "Tags", tags(&rule.tags));
        resources.insert(id, json!({"Type": "AWS::IoT::TopicRule", "Properties": p}));
        report_rule(inv, rule, &mut report);
    }

    for t in inv.job_templates {
        let id = names.unique("JobTemplate", &t.id, false);
        let s = &t.spec;
        let mut p = Map::new();
        p.insert("JobTemplateId".into(), json!(t.id));
        p.insert("Description".into(), json!(s.description.clone().unwrap_or_else(|| t.id.clone())));
        put(&mut p, "Document", s.document.as_ref().map(|d| json!(d)));
        put(&mut p, "DocumentSource", s.document_source.as_ref().map(|d| cfn(d, a, r)));
        let cfg = |v: &Option<_>| -> Option<Value> {
            v.as_ref().map(|c: &Value| cfn_value(&pascal_keys(c, &[]), a, r))
        };
        put(&mut p, "PresignedUrlConfig", cfg(&s.presigned_url_config));
        put(&mut p, "JobExecutionsRolloutConfig", cfg(&to_value(&s.job_executions_rollout_config)));
        put(&mut p, "AbortConfig", cfg(&to_value(&s.abort_config)));
        put(&mut p, "TimeoutConfig", cfg(&to_value(&s.timeout_config)));
        put(&mut p, "JobExecutionsRetryConfig", cfg(&to_value(&s.job_executions_retry_config)));
        put(&mut p, "Tags", tags(&t.tags));
        resources.insert(id, json!({"Type": "AWS::IoT::JobTemplate", "Properties": p}));
        if s.document_source.is_some() {
            report.check(
                format!("job template {}", t.id),
                "its document is read from S3 on AWS: upload the file the documentSource names first",
            );
        }
    }

    for t in inv.provisioning {
        let id = names.unique("ProvisioningTemplate", &t.name, false);
        let mut p = Map::new();
        p.insert("TemplateName".into(), json!(t.name));
        put(&mut p, "Description", t.description.as_ref().map(|d| json!(d)));
        p.insert("Enabled".into(), json!(t.enabled));
        p.insert("ProvisioningRoleArn".into(), cfn(&t.role_arn, a, r));
        let body = t.versions.get(&t.default_version).map(|v| v.body.clone()).unwrap_or_default();
        p.insert("TemplateBody".into(), json!(body));
        p.insert("TemplateType".into(), serde_json::to_value(t.kind).unwrap_or_default());
        if let Some(h) = &t.hook {
            p.insert(
                "PreProvisioningHook".into(),
                json!({"TargetArn": cfn(&h.target_arn, a, r), "PayloadVersion": h.payload_version}),
            );
            report_local_lambda(
                inv,
                &format!("provisioning template {}", t.name),
                &h.target_arn,
                &mut report,
            );
        }
        put(&mut p, "Tags", tags(&t.tags));
        resources.insert(id, json!({"Type": "AWS::IoT::ProvisioningTemplate", "Properties": p}));
    }

    report_certificates(inv, &mut report);
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "AWS IoT resources exported by Thingbox",
        "Resources": resources,
    });
    (template, report)
}

fn to_value<T: serde::Serialize>(v: &Option<T>) -> Option<Value> {
    v.as_ref().and_then(|x| serde_json::to_value(x).ok())
}

/// Report lines of a rule: Lambda functions and the roles its actions assume.
pub(super) fn report_rule(inv: &Inventory<'_>, rule: &crate::rules::TopicRule, report: &mut Report) {
    let pl = &rule.payload;
    for act in pl.actions.iter().chain(pl.error_action.iter()) {
        let Some((kind, body)) = act.as_object().and_then(|m| m.iter().next()) else { continue };
        if kind == "lambda"
            && let Some(f) = body.get("functionArn").and_then(Value::as_str)
        {
            report_local_lambda(inv, &format!("rule {}", rule.name), f, report);
        }
        if let Some(role) = body.get("roleArn").and_then(Value::as_str) {
            report.check(
                format!("rule {} ({kind})", rule.name),
                format!("the role {role} must exist on AWS and let AWS IoT do this action"),
            );
        }
    }
}
