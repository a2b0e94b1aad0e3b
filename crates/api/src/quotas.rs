//! Strict-AWS mode (`GET`/`PUT /console/api/quotas`): which AWS quotas Thingbox enforces or only
//! reports, how often each was exceeded, and the newest notices.

use serde::{Deserialize, Serialize};

/// The quotas' state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaState {
    /// Whether exceeded quotas are refused (strict) or only reported (lenient).
    pub strict: bool,
    /// Each quota.
    pub quotas: Vec<QuotaInfo>,
    /// The newest notices, newest first.
    pub notices: Vec<Notice>,
}

/// One quota.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaInfo {
    /// Its id (`publishRate`, …).
    pub quota: String,
    /// AWS's name for it.
    pub aws_name: String,
    /// Its limit, for a person.
    pub limit: String,
    /// How often it was exceeded since the start.
    pub exceeded: u64,
}

/// One exceeded quota.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    /// When (ms since the epoch).
    pub at: i64,
    /// Its id.
    pub quota: String,
    /// Who or what exceeded it (client id, thing, thing type).
    pub key: String,
    /// Whether it was refused (strict) or only reported.
    pub refused: bool,
    /// What a person reads.
    pub text: String,
}

/// `PUT /console/api/quotas`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetStrict {
    /// Strict or lenient.
    pub strict: bool,
}
