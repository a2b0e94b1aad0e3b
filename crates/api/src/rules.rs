//! Topic rules on the wire: the AWS API's responses (service `iot`), and the console's view of
//! what every rule does — counters, recent firings with each action's result, local tables.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `TopicRule` inside GetTopicRule's response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicRuleWire {
    /// Name.
    pub rule_name: String,
    /// SQL.
    pub sql: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Epoch seconds.
    pub created_at: f64,
    /// Actions as given.
    pub actions: Vec<Value>,
    /// Whether disabled.
    pub rule_disabled: bool,
    /// SQL version.
    pub aws_iot_sql_version: String,
    /// Error action as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_action: Option<Value>,
}

/// GetTopicRule response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetTopicRuleResponse {
    /// ARN.
    pub rule_arn: String,
    /// The rule.
    pub rule: TopicRuleWire,
}

/// `TopicRuleListItem`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicRuleListItem {
    /// ARN.
    pub rule_arn: String,
    /// Name.
    pub rule_name: String,
    /// FROM's topic filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_pattern: Option<String>,
    /// Epoch seconds.
    pub created_at: f64,
    /// Whether disabled.
    pub rule_disabled: bool,
}

/// ListTopicRules response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTopicRulesResponse {
    /// The rules.
    pub rules: Vec<TopicRuleListItem>,
    /// Token for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// How one action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Done (published, posted, written, invoked).
    Ok,
    /// Failed; the rule's errorAction (if any) was told.
    Failed,
    /// Not sent anywhere: no endpoint is configured for this AWS service, so Thingbox kept what it
    /// would have sent.
    Recorded,
}

/// One action's result in one firing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionResult {
    /// Position in the rule's actions (0-based); `None` for the errorAction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Action type (`republish`, `http`, …).
    pub kind: String,
    /// Where it went, templates resolved (topic, URL, table, bucket/key, function ARN, …).
    pub target: String,
    /// How it ended.
    pub outcome: Outcome,
    /// What went wrong, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Extra facts (HTTP status, exit code, stored key, what would have been sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How long it took, in milliseconds.
    pub millis: f64,
}

/// A payload as the console shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PayloadView {
    /// The text (UTF-8, cut at `limit`), or base64 when the bytes are not UTF-8.
    pub text: String,
    /// Whether `text` is base64.
    #[serde(default)]
    pub base64: bool,
    /// Whether it was cut.
    #[serde(default)]
    pub truncated: bool,
    /// Its full size in bytes.
    pub size: usize,
}

/// One evaluation of a rule on a message that matched its topic filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Firing {
    /// When (ms since the epoch).
    pub timestamp: i64,
    /// The message's topic.
    pub topic: String,
    /// The publisher's client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The incoming payload.
    pub input: PayloadView,
    /// What WHERE evaluated to (`true`, `false`, `undefined`, …).
    pub condition: String,
    /// The output, when WHERE was true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<PayloadView>,
    /// Each action's result.
    #[serde(default)]
    pub actions: Vec<ActionResult>,
    /// The errorAction's result, when an action failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_action: Option<ActionResult>,
    /// Why the actions did not run (the rule's queue was full).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<String>,
}

/// A rule's counters since the engine started (or the rule was created).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleStats {
    /// Rule name.
    pub name: String,
    /// Messages whose topic matched FROM.
    pub evaluated: u64,
    /// Messages for which WHERE was true (the rule fired).
    pub matched: u64,
    /// Messages for which WHERE was not true.
    pub filtered: u64,
    /// Actions that succeeded (or were recorded).
    pub actions_ok: u64,
    /// Actions that failed.
    pub actions_failed: u64,
    /// errorAction runs.
    pub error_actions: u64,
    /// Firings whose actions were dropped because the rule's queue was full.
    pub dropped: u64,
    /// The last failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the last failure happened (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<i64>,
    /// When the rule last fired (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fired_at: Option<i64>,
    /// 99th percentile of SQL evaluation time, in microseconds.
    pub eval_p99_micros: f64,
    /// Firings per second over the last 60 seconds, oldest first (the sparkline).
    pub per_second: Vec<u32>,
}

/// `GET /console/api/rules`: every rule with its counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleSummary {
    /// Name.
    pub name: String,
    /// SQL.
    pub sql: String,
    /// FROM's topic filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_pattern: Option<String>,
    /// Whether disabled.
    pub disabled: bool,
    /// SQL version.
    pub sql_version: String,
    /// Action types, in order.
    pub actions: Vec<String>,
    /// errorAction type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_action: Option<String>,
    /// Counters.
    pub stats: RuleStats,
}

/// `GET /console/api/rules/{name}`: one rule, its counters and recent firings (newest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleDetail {
    /// The rule and counters.
    pub summary: RuleSummary,
    /// Recent firings, newest first.
    pub firings: Vec<Firing>,
    /// Recent messages on which WHERE was not true, newest first.
    pub filtered: Vec<Firing>,
}

/// Engine-wide rule counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineRuleStats {
    /// Messages the rules engine received.
    pub received: u64,
    /// Messages dropped before evaluation because the rules engine's queue was full.
    pub dropped: u64,
    /// Messages not evaluated because they came from a chain of republishes that was too long (a
    /// loop).
    pub loops_stopped: u64,
    /// Basic Ingest messages for a rule that does not exist or is disabled.
    pub ingest_unknown: u64,
}

/// A local table (what dynamoDB and dynamoDBv2 actions write).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableInfo {
    /// Table name.
    pub name: String,
    /// Items.
    pub items: usize,
    /// Key attributes (partition, then sort), as learned from the actions that write it.
    pub key: Vec<String>,
}

/// A page of a local table's items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TablePage {
    /// The table.
    pub table: TableInfo,
    /// Items, by key.
    pub items: Vec<Value>,
    /// Offset of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<usize>,
}
