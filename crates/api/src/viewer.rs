//! The live topic viewer's wire types: what the engine's router tap sends the console over the
//! WebSocket `/console/api/messages`, the message history (`/console/api/history`), console
//! publishing, saved payloads ("collections"), recordings and replays.
//!
//! The engine samples for the viewer: every [`BATCH_MS`] it sends one [`ViewerFrame::Batch`] per
//! socket with at most [`MAX_BATCH_MESSAGES`] messages; what did not fit is counted per topic in
//! [`Batch::summarized`], and batches a slow socket could not take are counted in
//! [`Batch::dropped`]. The router never waits for a viewer.

use serde::{Deserialize, Serialize};

/// How often the tap flushes to viewers, history and recorders (milliseconds).
pub const BATCH_MS: u64 = 50;
/// Most messages one batch carries to one viewer (the rest are summarized per topic).
pub const MAX_BATCH_MESSAGES: usize = 500;
/// Payload bytes a live message carries; longer payloads are cut (`truncated`) and the whole one
/// is read from the history by id.
pub const LIVE_PAYLOAD_LIMIT: usize = 16 * 1024;
/// The client id (and the `principal` name) of what the console publishes and replays.
pub const CONSOLE_CLIENT_ID: &str = "thingbox-console";

/// MQTT 5 properties of a message, when any were set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageProperties {
    /// 1 = UTF-8 payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_format_indicator: Option<u8>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_expiry_interval: Option<u32>,
    /// Response topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_topic: Option<String>,
    /// Correlation data, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_data: Option<String>,
    /// User properties in order, as `[key, value]` pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_properties: Vec<(String, String)>,
    /// Content type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

impl MessageProperties {
    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One message as the viewer, the history and recordings show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ViewedMessage {
    /// The tap's sequence number: increasing, and the message's key in the history.
    pub id: u64,
    /// When the router accepted it (ms since the epoch).
    pub timestamp: i64,
    /// Topic name.
    pub topic: String,
    /// QoS it was published with.
    pub qos: u8,
    /// Published with RETAIN.
    pub retain: bool,
    /// The publisher's client id (absent for HTTP publishes and Thingbox's services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The publisher's principal (certificate id, `thingbox:shadow`, …).
    pub principal: String,
    /// Payload size in bytes.
    pub size: usize,
    /// The payload when it is UTF-8 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// The payload, base64, when it is not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_base64: Option<String>,
    /// Whether the payload above was cut at [`LIVE_PAYLOAD_LIMIT`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// MQTT 5 properties.
    #[serde(default, skip_serializing_if = "MessageProperties::is_empty")]
    pub properties: MessageProperties,
    /// The message's trace (`/console/api/traces/{id}`), when the tracer followed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<u64>,
}

/// Messages of one topic that a batch counted instead of carrying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicSummary {
    /// Topic.
    pub topic: String,
    /// Messages left out.
    pub count: u64,
    /// Their payload bytes.
    pub bytes: u64,
}

/// What the tap saw for one viewer in one [`BATCH_MS`] window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    /// Messages, oldest first (when over [`MAX_BATCH_MESSAGES`]: the newest of each topic first).
    pub messages: Vec<ViewedMessage>,
    /// Matching messages not carried, per topic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub summarized: Vec<TopicSummary>,
    /// Messages lost before this batch: batches this socket was too slow to take, and messages the
    /// tap itself had no room for under extreme load.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Client → engine on `/console/api/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ViewerCommand {
    /// Replace the viewer's filters (none = see nothing).
    Subscribe {
        /// MQTT topic filters (`#` does not match `$aws/…`: add `$aws/#` for those).
        filters: Vec<String>,
    },
}

/// Engine → client on `/console/api/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ViewerFrame {
    /// The filters now in force.
    Subscribed {
        /// Filters.
        filters: Vec<String>,
    },
    /// A command was refused (nothing changed).
    Error {
        /// What was wrong.
        message: String,
    },
    /// Messages.
    Batch(Batch),
}

/// A page of the history (`GET /console/api/history`), newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    /// Messages, newest first.
    pub messages: Vec<ViewedMessage>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<u64>,
}

/// How much the history holds (`GET /console/api/history/stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryStats {
    /// Messages kept.
    pub messages: u64,
    /// Their topic + payload bytes.
    pub bytes: u64,
    /// The limit on messages (0 = history off).
    pub max_messages: u64,
    /// The limit on bytes.
    pub max_bytes: u64,
    /// The oldest message kept (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest: Option<i64>,
    /// Messages the tap could not keep up with since start (never recorded).
    pub dropped: u64,
}

/// A topic as the history knows it (`GET /console/api/history/topics`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicStat {
    /// Topic.
    pub topic: String,
    /// Messages kept for it.
    pub count: u64,
    /// Its newest message.
    pub last: ViewedMessage,
}

/// `POST /console/api/publish`: a message from the console, routed like any client's under the
/// [`CONSOLE_CLIENT_ID`] identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishRequest {
    /// Topic name.
    pub topic: String,
    /// Text payload.
    #[serde(default)]
    pub payload: String,
    /// Binary payload, base64 (instead of `payload`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_base64: Option<String>,
    /// 0 or 1.
    #[serde(default)]
    pub qos: u8,
    /// RETAIN.
    #[serde(default)]
    pub retain: bool,
    /// MQTT 5 properties to send along.
    #[serde(default, skip_serializing_if = "MessageProperties::is_empty")]
    pub properties: MessageProperties,
}

/// A saved payload (`/console/api/collections`, kept in the data dir's `collections.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedMessage {
    /// What the person called it.
    pub name: String,
    /// Topic.
    pub topic: String,
    /// Payload text.
    #[serde(default)]
    pub payload: String,
    /// 0 or 1.
    #[serde(default)]
    pub qos: u8,
    /// RETAIN.
    #[serde(default)]
    pub retain: bool,
}

/// A recording (`/console/api/recordings`): messages of some filters written to a JSON-lines file
/// in the data dir's `recordings/`, one [`ViewedMessage`] per line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recording {
    /// File name (`….jsonl`).
    pub name: String,
    /// Filters recorded.
    #[serde(default)]
    pub filters: Vec<String>,
    /// Messages written.
    pub messages: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// Whether it is still recording.
    pub active: bool,
}

/// `POST /console/api/recordings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordRequest {
    /// Filters to record.
    pub filters: Vec<String>,
}

/// A replay's progress (`/console/api/replays`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Replay {
    /// Its id.
    pub id: u64,
    /// The recording replayed, or `upload`.
    pub source: String,
    /// Speed factor (1 = original timing; 0 = as fast as possible).
    pub speed: f64,
    /// Messages published so far.
    pub sent: u64,
    /// Messages in the recording.
    pub total: u64,
    /// Whether it has ended (finished or stopped).
    pub done: bool,
    /// Why it ended early, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `POST /console/api/replays`: replay a recording of the data dir (`recording`) or the JSON lines
/// in `lines`, at `speed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayRequest {
    /// A recording's file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<String>,
    /// Or the recording's contents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<String>,
    /// 1 = original timing, 2 = twice as fast, 0 = as fast as possible.
    #[serde(default = "one")]
    pub speed: f64,
}

fn one() -> f64 {
    1.0
}
