//! Metering and the cost estimate (`GET /console/api/usage`): usage per day, per thing and in
//! total, in AWS's billing units, and what it would cost on AWS IoT Core.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `GET /console/api/usage?days=N`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    /// Each day with usage, oldest first: metric name → units.
    pub days: Vec<DayUsage>,
    /// Each thing with usage in those days, by name (`""`: not a thing's).
    pub things: Vec<ThingUsage>,
    /// The days' totals: metric name → units.
    pub totals: BTreeMap<String, u64>,
    /// What the totals would cost on AWS.
    pub estimate: Estimate,
}

/// One day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DayUsage {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Metric name → units.
    pub metrics: BTreeMap<String, u64>,
}

/// One thing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingUsage {
    /// Thing name (`""`: usage no thing accounts for — HTTP publishes, registry calls…).
    pub thing: String,
    /// Metric name → units.
    pub metrics: BTreeMap<String, u64>,
}

/// The cost estimate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    /// One line per metric.
    pub lines: Vec<EstimateLine>,
    /// Their sum.
    pub total: f64,
    /// The price table's currency, region and date.
    pub currency: String,
    /// See `currency`.
    pub region: String,
    /// See `currency`.
    pub date: String,
    /// Where the prices came from (the built-in table, or the data dir's `prices.json`).
    pub source: String,
}

/// One metric's cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EstimateLine {
    /// Metric name.
    pub metric: String,
    /// Units.
    pub units: u64,
    /// Price of `per` units.
    pub price: f64,
    /// See `price`.
    pub per: u64,
    /// Cost.
    pub cost: f64,
}
