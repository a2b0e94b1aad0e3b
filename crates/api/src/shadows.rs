//! Shadows in the console: the fleet's list (every classic and named shadow with its version, last
//! writer and whether the device has caught up with what is desired).

use serde::{Deserialize, Serialize};

/// One shadow in the console's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShadowSummary {
    /// Thing.
    pub thing: String,
    /// Shadow name (`""`: the classic shadow).
    pub shadow: String,
    /// Version.
    pub version: i64,
    /// Who made the last change: an MQTT client id, `api` (UpdateThingShadow) or `console` (its editor).
    pub writer: String,
    /// Last change, epoch seconds.
    pub timestamp: i64,
    /// The top-level keys whose desired value the reported state does not match yet (the delta's
    /// keys); empty when the shadow is in sync.
    pub delta_keys: Vec<String>,
}

/// One kept version of a shadow (`/console/api/shadows/{thing}/history`, newest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShadowVersion {
    /// Thing.
    pub thing: String,
    /// Shadow name (`""`: classic).
    pub shadow: String,
    /// The version this change produced.
    pub version: i64,
    /// `update` or `delete`.
    pub kind: String,
    /// Who made it: an MQTT client id, `api` or `console`.
    pub writer: String,
    /// When, epoch seconds.
    pub timestamp: i64,
    /// The document as GetThingShadow would have returned it then (`null` after a delete).
    pub document: Option<serde_json::Value>,
    /// The shadow as kept (state and per-leaf metadata), for trees and diffs.
    pub state: thingbox_model::shadow::Shadow,
}

/// A shadow's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowHistory {
    /// Newest first.
    pub changes: Vec<ShadowVersion>,
    /// Refused updates and deletes, newest first (kept in memory since the engine started).
    #[serde(default)]
    pub rejected: Vec<ShadowRejection>,
}

/// A shadow request the service refused, as the console's timeline shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShadowRejection {
    /// Thing.
    pub thing: String,
    /// Shadow name (`""`: classic).
    pub shadow: String,
    /// `update` or `delete`.
    pub operation: String,
    /// AWS's code: 400, 404, 409, 413, 415, 429.
    pub code: u16,
    /// AWS's message.
    pub message: String,
    /// Who sent it: an MQTT client id, `api` or `console`.
    pub writer: String,
    /// When, epoch seconds.
    pub timestamp: i64,
    /// The request's `clientToken`, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    /// The request as sent (its first kilobyte, as text).
    pub payload: String,
}
