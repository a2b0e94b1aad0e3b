//! Thingbox's own console API (`/console/api/…`, JSON, token-protected): what the console needs
//! beyond the AWS APIs — an overview, live connections, device bundles, explained authorization
//! decisions — and the event stream (`/console/api/events`, a WebSocket of [`ConsoleEvent`]s).

use serde::{Deserialize, Serialize};

/// The header (or `token` query parameter) that carries the console token.
pub const TOKEN_HEADER: &str = "x-thingbox-token";

/// What a registry change was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ResourceKind {
    /// A thing (also: its group memberships and principals).
    Thing,
    /// A thing type.
    ThingType,
    /// A thing group (also: its members).
    ThingGroup,
    /// A device certificate (also: its policies and things).
    Certificate,
    /// A CA certificate.
    CaCertificate,
    /// An IoT policy (also: its versions and targets).
    Policy,
    /// A topic rule.
    Rule,
    /// A job (also: its executions).
    Job,
}

/// One event on the console's stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ConsoleEvent {
    /// Something in the registry changed: refetch what shows `kind`/`name`.
    #[serde(rename_all = "camelCase")]
    Registry {
        /// What changed.
        kind: ResourceKind,
        /// Its name or id.
        name: String,
        /// Whether it is gone.
        deleted: bool,
    },
    /// A lifecycle event, with the payload AWS publishes on `$aws/events/…`.
    #[serde(rename_all = "camelCase")]
    Lifecycle {
        /// The `$aws/events/…` topic.
        topic: String,
        /// The event's JSON payload.
        payload: serde_json::Value,
    },
    /// A shadow accepted a change.
    #[serde(rename_all = "camelCase")]
    Shadow {
        /// Thing name.
        thing: String,
        /// Shadow name (`""` for the classic shadow).
        shadow: String,
        /// The new version (absent when deleted).
        version: Option<i64>,
    },
    /// A shadow refused an update or delete (the console's timeline shows it).
    #[serde(rename_all = "camelCase")]
    ShadowRejected {
        /// Thing name.
        thing: String,
        /// Shadow name (`""` for the classic shadow).
        shadow: String,
        /// AWS's code (400, 404, 409, 413, 429, …).
        code: u16,
    },
    /// Once a second: the router's counters.
    #[serde(rename_all = "camelCase")]
    Stats(Stats),
    /// A replay advanced or ended.
    #[serde(rename_all = "camelCase")]
    Replay(crate::viewer::Replay),
    /// Once a second while rules exist: every rule's counters.
    #[serde(rename_all = "camelCase")]
    Rules {
        /// Per rule, sorted by name.
        rules: Vec<crate::rules::RuleStats>,
        /// Engine-wide.
        engine: crate::rules::EngineRuleStats,
    },
    /// The stream fell behind and skipped events: refetch everything shown.
    #[serde(rename_all = "camelCase")]
    Lagged {
        /// How many were skipped.
        skipped: u64,
    },
}

/// The router's counters, sampled.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// When sampled (ms since the epoch).
    pub timestamp: i64,
    /// Messages routed since the engine started.
    pub published: u64,
    /// Messages routed per second over the last interval.
    pub published_per_sec: f64,
    /// Live connections.
    pub connections: usize,
    /// Consoles (browser tabs, the desktop window) following the event stream now.
    #[serde(default)]
    pub consoles: usize,
}

/// `GET /console/api/overview`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    /// Where everything is served.
    pub endpoints: crate::Endpoints,
    /// Thingbox's version.
    pub version: String,
    /// The data dir.
    pub data_dir: String,
    /// Number of things.
    pub things: usize,
    /// Number of thing types.
    pub thing_types: usize,
    /// Number of thing groups.
    pub thing_groups: usize,
    /// Number of device certificates.
    pub certificates: usize,
    /// Number of policies.
    pub policies: usize,
    /// Counters.
    pub stats: Stats,
    /// The newest lifecycle events, newest first.
    pub recent_events: Vec<LifecycleEntry>,
}

/// A lifecycle event kept for the overview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleEntry {
    /// The `$aws/events/…` topic.
    pub topic: String,
    /// Its payload.
    pub payload: serde_json::Value,
}

/// One live MQTT connection (`GET /console/api/connections`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// The client id.
    pub client_id: String,
    /// The principal: a certificate id, the plain listener's identity, …
    pub principal: String,
    /// The things this connection belongs to: the thing its client id names, and the things its
    /// certificate is attached to.
    pub things: Vec<String>,
}

/// `POST /console/api/things/{thing}/bundle`: make a certificate for a thing, attach it (and a
/// policy), and answer with a zip of everything a device needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleRequest {
    /// An existing policy to attach to the new certificate.
    #[serde(default)]
    pub policy_name: Option<String>,
    /// Create (if missing) and attach Thingbox's starter policy, which lets a device whose client
    /// id is its thing name use its own topics (`things/<thing>/…` and its shadows).
    #[serde(default)]
    pub starter_policy: bool,
}

/// The starter policy's name.
pub const STARTER_POLICY: &str = "thingbox-device-starter";

/// `POST /console/api/explain`: would this caller be allowed this action, and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplainRequest {
    /// The caller's certificate id (absent: the plain listener's identity).
    #[serde(default)]
    pub certificate_id: Option<String>,
    /// The MQTT client id.
    pub client_id: String,
    /// `iot:Connect`, `iot:Publish`, `iot:RetainPublish`, `iot:Subscribe` or `iot:Receive`.
    pub action: String,
    /// The topic (publish, receive), topic filter (subscribe); ignored for connect.
    #[serde(default)]
    pub topic: String,
    /// The source address (for `aws:SourceIp` conditions).
    #[serde(default)]
    pub source_ip: Option<String>,
    /// Policies to evaluate instead of the caller's attached ones (documents, by name), to try a
    /// draft before saving it.
    #[serde(default)]
    pub draft: Option<DraftPolicy>,
}

/// A policy document not yet saved.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DraftPolicy {
    /// Which attached policy it replaces (or a new name, added to the caller's).
    pub policy_name: String,
    /// The document.
    pub document: String,
}

/// A statement that matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatementRef {
    /// Policy name.
    pub policy: String,
    /// Policy version id.
    pub version: String,
    /// Statement index (0-based).
    pub index: usize,
    /// Its `Sid`.
    pub sid: Option<String>,
}

/// How a policy variable resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Binding {
    /// The variable.
    pub variable: String,
    /// Its value (`None`: unresolved).
    pub value: Option<String>,
}

/// The answer to [`ExplainRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// `ALLOWED`, `EXPLICIT_DENY` or `IMPLICIT_DENY`.
    pub decision: String,
    /// The resource ARN checked.
    pub resource: String,
    /// The policies evaluated (name and version).
    pub policies: Vec<(String, String)>,
    /// Allow statements that matched.
    pub allowed_by: Vec<StatementRef>,
    /// Deny statements that matched.
    pub denied_by: Vec<StatementRef>,
    /// Every variable met, and how it resolved.
    pub bindings: Vec<Binding>,
}
