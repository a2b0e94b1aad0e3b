//! A CloudFormation template (Thingbox's export, or a hand-written one with the same resource
//! types) read back as the AWS IoT API calls that make its resources — in dependency order, with
//! `Ref`, `Fn::Sub` and the `AWS::…` pseudo parameters resolved for the local account and region.
//! The whole template is checked before any call is planned: a resource type Thingbox does not
//! import, or an intrinsic it cannot resolve, refuses the template with the resource's name.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::text::camel_keys;

/// One AWS IoT API call (service `iot`, REST-JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The template's logical id, for messages.
    pub resource: String,
    /// HTTP method.
    pub method: &'static str,
    /// Path, names percent-encoded.
    pub path: String,
    /// JSON body.
    pub body: Value,
    /// `x-amz-tagging` (CreateTopicRule's tags).
    pub tagging: Option<String>,
}

/// Why a template cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ImportError(pub String);

/// A resource: its logical id and its properties, intrinsics resolved.
type Item = (String, Map<String, Value>);

/// The order resources are made in (a thing group's parent first is handled separately).
const ORDER: &[&str] = &[
    "AWS::IoT::ThingType",
    "AWS::IoT::ThingGroup",
    "AWS::IoT::Thing",
    "AWS::IoT::Policy",
    "AWS::IoT::TopicRule",
    "AWS::IoT::JobTemplate",
    "AWS::IoT::ProvisioningTemplate",
];

/// Names of the name-giving property of each type.
fn name_property(kind: &str) -> &'static str {
    match kind {
        "AWS::IoT::ThingType" => "ThingTypeName",
        "AWS::IoT::ThingGroup" => "ThingGroupName",
        "AWS::IoT::Thing" => "ThingName",
        "AWS::IoT::Policy" => "PolicyName",
        "AWS::IoT::TopicRule" => "RuleName",
        "AWS::IoT::JobTemplate" => "JobTemplateId",
        _ => "TemplateName",
    }
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct Resolver<'a> {
    account: &'a str,
    region: &'a str,
    names: BTreeMap<String, String>,
}

impl Resolver<'_> {
    fn pseudo(&self, name: &str) -> Option<String> {
        Some(match name {
            "AWS::Region" => self.region.to_owned(),
            "AWS::AccountId" => self.account.to_owned(),
            "AWS::Partition" => "aws".to_owned(),
            "AWS::URLSuffix" => "amazonaws.com".to_owned(),
            other => self.names.get(other)?.clone(),
        })
    }

    fn sub(&self, text: &str, at: &str) -> Result<String, ImportError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(end) = after.find('}') else {
                return Err(ImportError(format!("{at}: Fn::Sub has an unclosed ${{")));
            };
            let var = &after[..end];
            match var.strip_prefix('!') {
                Some(lit) => {
                    out.push_str("${");
                    out.push_str(lit);
                    out.push('}');
                }
                None => out.push_str(&self.pseudo(var).ok_or_else(|| {
                    ImportError(format!(
                        "{at}: Fn::Sub names ${{{var}}}, which is neither a pseudo parameter nor a resource"
                    ))
                })?),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// `v` with every intrinsic function resolved.
    fn resolve(&self, v: &Value, at: &str) -> Result<Value, ImportError> {
        Ok(match v {
            Value::Object(m) if m.len() == 1 && m.contains_key("Ref") => {
                let r = m["Ref"].as_str().unwrap_or_default();
                Value::String(
                    self.pseudo(r).ok_or_else(|| ImportError(format!("{at}: Ref to unknown '{r}'")))?,
                )
            }
            Value::Object(m) if m.len() == 1 && m.contains_key("Fn::Sub") => match &m["Fn::Sub"] {
                Value::String(s) => Value::String(self.sub(s, at)?),
                _ => return Err(ImportError(format!("{at}: only the one-string form of Fn::Sub is read"))),
            },
            Value::Object(m) if m.len() == 1 && m.keys().next().is_some_and(|k| k.starts_with("Fn::")) => {
                let f = m.keys().next().cloned().unwrap_or_default();
                return Err(ImportError(format!(
                    "{at}: {f} is not read by thingbox import (Ref and Fn::Sub are)"
                )));
            }
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    out.insert(k.clone(), self.resolve(v, at)?);
                }
                Value::Object(out)
            }
            Value::Array(items) => {
                Value::Array(items.iter().map(|i| self.resolve(i, at)).collect::<Result<_, _>>()?)
            }
            other => other.clone(),
        })
    }
}

fn tags(p: &Map<String, Value>) -> Option<Value> {
    p.get("Tags").map(|t| {
        Value::Array(
            t.as_array()
                .into_iter()
                .flatten()
                .map(|x| json!({"Key": x.get("Key").cloned().unwrap_or_default(), "Value": x.get("Value").cloned().unwrap_or_default()}))
                .collect(),
        )
    })
}

fn insert(m: &mut Map<String, Value>, k: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(k.to_owned(), v);
    }
}

/// The calls that make `template`'s resources, or why it cannot be imported.
pub fn plan(template: &Value, account: &str, region: &str) -> Result<Vec<Call>, ImportError> {
    let resources = template
        .get("Resources")
        .and_then(Value::as_object)
        .ok_or_else(|| ImportError("the template has no Resources object".into()))?;
    let mut names = BTreeMap::new();
    for (id, r) in resources {
        let kind = r.get("Type").and_then(Value::as_str).unwrap_or_default();
        if !ORDER.contains(&kind) {
            return Err(ImportError(format!(
                "resource {id}: type '{kind}' is not one thingbox import makes (it makes {})",
                ORDER.join(", ")
            )));
        }
        let name = r
            .pointer(&format!("/Properties/{}", name_property(kind)))
            .and_then(Value::as_str)
            .unwrap_or(id)
            .to_owned();
        names.insert(id.clone(), name);
    }
    let resolver = Resolver { account, region, names };
    let mut by_kind: BTreeMap<usize, Vec<Item>> = BTreeMap::new();
    for (id, r) in resources {
        let kind = r.get("Type").and_then(Value::as_str).unwrap_or_default();
        let props = resolver.resolve(r.get("Properties").unwrap_or(&json!({})), &format!("resource {id}"))?;
        let props = props.as_object().cloned().unwrap_or_default();
        let rank = ORDER.iter().position(|k| *k == kind).unwrap_or(0);
        by_kind.entry(rank).or_default().push((id.clone(), props));
    }
    let mut calls = Vec::new();
    for (rank, mut items) in by_kind {
        if ORDER[rank] == "AWS::IoT::ThingGroup" {
            items = parents_first(items);
        }
        for (id, p) in items {
            let name = resolver.names[&id].clone();
            calls.extend(call(ORDER[rank], &id, &name, &p)?);
        }
    }
    Ok(calls)
}

fn parents_first(items: Vec<Item>) -> Vec<Item> {
    let name = |p: &Map<String, Value>| p.get("ThingGroupName").and_then(Value::as_str).map(str::to_owned);
    let mut left = items;
    let mut out: Vec<Item> = Vec::new();
    while !left.is_empty() {
        let made: Vec<String> = out.iter().filter_map(|(_, p)| name(p)).collect();
        let all: Vec<String> = left.iter().filter_map(|(_, p)| name(p)).collect();
        let (ready, wait): (Vec<_>, Vec<_>) = left.into_iter().partition(|(_, p)| {
            p.get("ParentGroupName")
                .and_then(Value::as_str)
                .is_none_or(|g| made.iter().any(|m| m == g) || !all.iter().any(|a| a == g))
        });
        if ready.is_empty() {
            out.extend(wait);
            break;
        }
        out.extend(ready);
        left = wait;
    }
    out
}

/// The API body of properties named by `(CloudFormation, API)` pairs, plus the tags.
fn members(p: &Map<String, Value>, names: &[(&str, &str)]) -> Map<String, Value> {
    let mut body = Map::new();
    for (cfn, api) in names {
        insert(&mut body, api, p.get(*cfn).map(|v| camel_keys(v, &[])));
    }
    insert(&mut body, "tags", tags(p));
    body
}

fn call(kind: &str, id: &str, name: &str, p: &Map<String, Value>) -> Result<Vec<Call>, ImportError> {
    let mk = |method, path: String, body: Value| Call {
        resource: id.to_owned(),
        method,
        path,
        body,
        tagging: None,
    };
    let n = enc(name);
    Ok(match kind {
        "AWS::IoT::ThingType" => {
            let mut body = Map::new();
            if let Some(props) = p.get("ThingTypeProperties") {
                body.insert("thingTypeProperties".into(), camel_keys(props, &[]));
            }
            insert(&mut body, "tags", tags(p));
            let mut v = vec![mk("POST", format!("/thing-types/{n}"), Value::Object(body))];
            if p.get("DeprecateThingType").and_then(Value::as_bool) == Some(true) {
                v.push(mk("POST", format!("/thing-types/{n}/deprecate"), json!({"undoDeprecate": false})));
            }
            v
        }
        "AWS::IoT::ThingGroup" => {
            let mut body = Map::new();
            insert(&mut body, "parentGroupName", p.get("ParentGroupName").cloned());
            if let Some(props) = p.get("ThingGroupProperties") {
                body.insert("thingGroupProperties".into(), camel_keys(props, &["attributes"]));
            }
            insert(&mut body, "tags", tags(p));
            vec![mk("POST", format!("/thing-groups/{n}"), Value::Object(body))]
        }
        "AWS::IoT::Thing" => {
            let mut body = Map::new();
            if let Some(a) = p.get("AttributePayload") {
                body.insert("attributePayload".into(), camel_keys(a, &["attributes"]));
            }
            vec![mk("POST", format!("/things/{n}"), Value::Object(body))]
        }
        "AWS::IoT::Policy" => {
            let doc = match p.get("PolicyDocument") {
                Some(Value::String(s)) => s.clone(),
                Some(d) => d.to_string(),
                None => return Err(ImportError(format!("resource {id}: PolicyDocument is missing"))),
            };
            vec![mk("POST", format!("/policies/{n}"), json!({"policyDocument": doc}))]
        }
        "AWS::IoT::TopicRule" => {
            let payload = p
                .get("TopicRulePayload")
                .ok_or_else(|| ImportError(format!("resource {id}: TopicRulePayload is missing")))?;
            let mut c =
                mk("POST", format!("/rules/{n}"), camel_keys(payload, super::cloudformation::USER_KEYED));
            c.tagging = p.get("Tags").and_then(Value::as_array).map(|t| {
                t.iter()
                    .map(|x| {
                        let s = |k: &str| enc(x.get(k).and_then(Value::as_str).unwrap_or_default());
                        format!("{}={}", s("Key"), s("Value"))
                    })
                    .collect::<Vec<_>>()
                    .join("&")
            });
            vec![c]
        }
        "AWS::IoT::JobTemplate" => {
            let body = members(
                p,
                &[
                    ("Description", "description"),
                    ("Document", "document"),
                    ("DocumentSource", "documentSource"),
                    ("PresignedUrlConfig", "presignedUrlConfig"),
                    ("JobExecutionsRolloutConfig", "jobExecutionsRolloutConfig"),
                    ("AbortConfig", "abortConfig"),
                    ("TimeoutConfig", "timeoutConfig"),
                    ("JobExecutionsRetryConfig", "jobExecutionsRetryConfig"),
                ],
            );
            vec![mk("PUT", format!("/job-templates/{n}"), Value::Object(body))]
        }
        _ => {
            let mut body = members(
                p,
                &[
                    ("Description", "description"),
                    ("TemplateBody", "templateBody"),
                    ("Enabled", "enabled"),
                    ("ProvisioningRoleArn", "provisioningRoleArn"),
                    ("TemplateType", "type"),
                    ("PreProvisioningHook", "preProvisioningHook"),
                ],
            );
            body.insert("templateName".into(), json!(name));
            vec![mk("POST", "/provisioning-templates".into(), Value::Object(body))]
        }
    })
}
