//! A rule ready to run: its parsed SQL, its FROM filter, and its actions with every substitution
//! template parsed once, so a message costs an evaluation and a few renders, never a parse.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use thingbox_model::rules::{Served, TopicRule, actions::action_type};
use thingbox_sql::{Host, Input, Query, SqlVersion, Template};

use super::stats::Counters;

/// One action with its templates parsed.
#[derive(Debug)]
pub struct CompiledAction {
    /// The wire name (`republish`, …).
    pub kind: &'static str,
    /// How Thingbox carries it out.
    pub served: Served,
    /// The action's members as given.
    body: Value,
    /// Every string member containing `${`, parsed.
    templates: HashMap<String, Template>,
    /// For a republish whose headers hold no template: everything needed to publish without
    /// touching JSON (the runner does these itself, in order, without a worker).
    pub republish: Option<RepublishPlan>,
}

/// A republish, ready to run.
#[derive(Debug)]
pub struct RepublishPlan {
    topic: Result<String, Template>,
    /// QoS.
    pub qos: u8,
    /// MQTT 5 properties from `headers`.
    pub properties: crate::broker::Properties,
}

impl RepublishPlan {
    fn new(body: &Value, version: SqlVersion) -> Option<Self> {
        let written = body.get("topic")?.as_str()?;
        let topic = if written.contains("${") {
            Err(Template::parse(written, version).ok()?)
        } else {
            Ok(super::actions::republish_topic(written))
        };
        let headers = body.get("headers");
        if headers.is_some_and(|h| h.to_string().contains("${")) {
            return None;
        }
        Some(Self {
            topic,
            qos: body.get("qos").and_then(Value::as_u64).unwrap_or(0).min(1) as u8,
            properties: super::actions::headers(headers).ok()?,
        })
    }

    /// The topic for this message.
    pub fn topic(&self, input: &Input<'_>, host: &dyn Host) -> String {
        match &self.topic {
            Ok(t) => t.clone(),
            Err(t) => super::actions::republish_topic(&t.render(input, host)),
        }
    }
}

impl CompiledAction {
    /// Compiles `{"<type>": {…}}` (already checked by the model).
    pub fn new(action: &Value, version: SqlVersion) -> Option<Self> {
        let (name, body) = action.as_object()?.iter().find(|(_, v)| !v.is_null())?;
        let ty = action_type(name)?;
        let mut templates = HashMap::new();
        collect(body, version, &mut templates);
        let republish = (ty.served == Served::Republish).then(|| RepublishPlan::new(body, version)).flatten();
        Some(Self { kind: ty.name, served: ty.served, body: body.clone(), templates, republish })
    }

    /// The members with every template rendered against the incoming message.
    pub fn resolve(&self, input: &Input<'_>, host: &dyn Host) -> Value {
        if self.templates.is_empty() {
            return self.body.clone();
        }
        render(&self.body, &self.templates, input, host)
    }
}

fn collect(v: &Value, version: SqlVersion, out: &mut HashMap<String, Template>) {
    match v {
        Value::String(s) if s.contains("${") => {
            if let Ok(t) = Template::parse(s, version) {
                out.insert(s.clone(), t);
            }
        }
        Value::Object(o) => {
            o.iter().filter(|(k, _)| *k != "roleArn").for_each(|(_, v)| collect(v, version, out))
        }
        Value::Array(a) => a.iter().for_each(|v| collect(v, version, out)),
        _ => {}
    }
}

fn render(v: &Value, templates: &HashMap<String, Template>, input: &Input<'_>, host: &dyn Host) -> Value {
    match v {
        Value::String(s) => match templates.get(s) {
            Some(t) => Value::String(t.render(input, host)),
            None => v.clone(),
        },
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    (k.clone(), if k == "roleArn" { v.clone() } else { render(v, templates, input, host) })
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| render(v, templates, input, host)).collect()),
        other => other.clone(),
    }
}

/// A rule ready to run.
#[derive(Debug)]
pub struct CompiledRule {
    /// Name.
    pub name: String,
    /// The SQL.
    pub query: Query,
    /// FROM's filter (`None`: Basic Ingest only).
    pub filter: Option<String>,
    /// The actions.
    pub actions: Vec<CompiledAction>,
    /// The errorAction.
    pub error_action: Option<CompiledAction>,
    /// Its counters (shared with the rule's earlier and later compilations).
    pub counters: Arc<Counters>,
    /// The stored rule this was compiled from (to tell whether a change needs a recompile).
    pub source: TopicRule,
    /// Whether every action (and the errorAction) is a plain republish, which the runner does
    /// itself instead of handing the firing to the rule's worker.
    pub inline: bool,
    /// Payload bytes waiting in the rule's worker queue.
    pub queued_bytes: std::sync::atomic::AtomicUsize,
}

impl CompiledRule {
    /// Compiles a stored rule; `None` if its SQL no longer parses (a rule stored by an older build).
    pub fn new(rule: &TopicRule, counters: Arc<Counters>) -> Option<Self> {
        let version = rule.payload.version();
        let query = thingbox_sql::parse(&rule.payload.sql, version).ok()?;
        let actions: Vec<CompiledAction> =
            rule.payload.actions.iter().filter_map(|a| CompiledAction::new(a, version)).collect();
        let error_action = rule.payload.error_action.as_ref().and_then(|a| CompiledAction::new(a, version));
        let inline =
            actions.iter().chain(error_action.iter()).all(|a: &CompiledAction| a.republish.is_some());
        Some(Self {
            name: rule.name.clone(),
            filter: query.topic_filter().map(str::to_owned),
            query,
            actions,
            error_action,
            inline,
            queued_bytes: std::sync::atomic::AtomicUsize::new(0),
            counters,
            source: rule.clone(),
        })
    }
}
