//! Metering as AWS IoT bills it, and what the same usage would cost: the metrics (messages in
//! 5 KB units, connection minutes, registry and shadow operations in 1 KB units, rules triggered,
//! actions executed, job executions), how a size becomes units, and the estimate from a price
//! table (data, with its date and region — `assets/prices/aws-iot-core.json`, or the user's copy).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What is metered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Metric {
    /// MQTT and HTTP messages, in 5 KB units: PUBLISH received and sent, CONNECT, SUBSCRIBE,
    /// PUBACK received, RETAINED, HTTP publish requests and responses.
    Messages,
    /// Minutes of connection, each connection rounded up to a whole minute.
    ConnectionMinutes,
    /// Registry API calls (things, types, groups), in 1 KB units.
    RegistryOperations,
    /// Device Shadow requests (MQTT or HTTP), in 1 KB units.
    ShadowOperations,
    /// Rules whose SQL matched a message (FROM and WHERE), in 5 KB units of the message.
    RulesTriggered,
    /// Rule actions carried out (errorActions included), in 5 KB units of what they sent.
    ActionsExecuted,
    /// Job executions made (AWS IoT Device Management's remote actions).
    JobExecutions,
}

impl Metric {
    /// Every metric, in display order.
    pub const ALL: [Metric; 7] = [
        Metric::Messages,
        Metric::ConnectionMinutes,
        Metric::RegistryOperations,
        Metric::ShadowOperations,
        Metric::RulesTriggered,
        Metric::ActionsExecuted,
        Metric::JobExecutions,
    ];

    /// Its wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Messages => "messages",
            Self::ConnectionMinutes => "connectionMinutes",
            Self::RegistryOperations => "registryOperations",
            Self::ShadowOperations => "shadowOperations",
            Self::RulesTriggered => "rulesTriggered",
            Self::ActionsExecuted => "actionsExecuted",
            Self::JobExecutions => "jobExecutions",
        }
    }

    /// Reads [`as_str`](Self::as_str)'s form.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Its position in [`Metric::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// AWS's messaging unit: 5 KB.
pub const MESSAGE_UNIT: usize = 5 * 1024;
/// AWS's registry and shadow record unit: 1 KB.
pub const RECORD_UNIT: usize = 1024;

/// How many `unit`-sized increments `bytes` is metered as (at least one).
pub fn units(bytes: usize, unit: usize) -> u64 {
    (bytes.div_ceil(unit)).max(1) as u64
}

/// Minutes metered for a connection of `millis` (rounded up, at least one).
pub fn connection_minutes(millis: i64) -> u64 {
    (millis.max(0) as u64).div_ceil(60_000).max(1)
}

/// The UTC day (`YYYY-MM-DD`) of a time in ms since the epoch.
pub fn utc_day(ms: i64) -> String {
    let (y, m, d) = crate::time::civil_from_days(ms.div_euclid(86_400_000));
    format!("{y:04}-{m:02}-{d:02}")
}

/// One metric's price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// How many units the price is for.
    pub per: u64,
    /// The price of `per` units.
    pub price: f64,
    /// What a person should know.
    #[serde(default)]
    pub note: String,
}

/// A price table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prices {
    /// When the prices were read.
    pub date: String,
    /// The region they are for.
    pub region: String,
    /// Their currency.
    pub currency: String,
    /// By metric.
    pub prices: BTreeMap<Metric, Price>,
}

/// The table that ships with Thingbox.
pub const BUILT_IN_PRICES: &str = include_str!("../../../assets/prices/aws-iot-core.json");

impl Prices {
    /// Reads a table (the built-in one's shape); every metric must have a price.
    pub fn parse(text: &str) -> Result<Self, String> {
        let p: Prices =
            serde_json::from_str(text).map_err(|e| format!("the price table is not valid: {e}"))?;
        if let Some(m) = Metric::ALL.iter().find(|m| !p.prices.contains_key(m)) {
            return Err(format!("the price table has no price for {}", m.as_str()));
        }
        if let Some((m, _)) =
            p.prices.iter().find(|(_, x)| x.per == 0 || !x.price.is_finite() || x.price < 0.0)
        {
            return Err(format!(
                "the price of {} must be a non-negative number per a positive count",
                m.as_str()
            ));
        }
        Ok(p)
    }

    /// The built-in table.
    pub fn built_in() -> Self {
        Self::parse(BUILT_IN_PRICES).expect("the built-in price table is valid")
    }
}

/// One line of an estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EstimateLine {
    /// The metric.
    pub metric: Metric,
    /// Units used.
    pub units: u64,
    /// What they cost.
    pub cost: f64,
}

/// What `totals` would cost at `prices`, by metric, and in all.
pub fn estimate(totals: &BTreeMap<Metric, u64>, prices: &Prices) -> (Vec<EstimateLine>, f64) {
    let lines: Vec<EstimateLine> = Metric::ALL
        .iter()
        .map(|m| {
            let units = totals.get(m).copied().unwrap_or(0);
            let p = &prices.prices[m];
            EstimateLine { metric: *m, units, cost: units as f64 * p.price / p.per as f64 }
        })
        .collect();
    let total = lines.iter().map(|l| l.cost).sum();
    (lines, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_become_units_as_aws_meters_them() {
        assert_eq!(units(0, MESSAGE_UNIT), 1);
        assert_eq!(units(5 * 1024, MESSAGE_UNIT), 1);
        assert_eq!(units(5 * 1024 + 1, MESSAGE_UNIT), 2);
        assert_eq!(units(1025, RECORD_UNIT), 2);
        assert_eq!(connection_minutes(1), 1);
        assert_eq!(connection_minutes(60_000), 1);
        assert_eq!(connection_minutes(60_001), 2);
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(1_796_601_599_999), "2026-12-06");
        assert_eq!(utc_day(951_782_400_000), "2000-02-29");
    }

    #[test]
    fn the_built_in_table_prices_a_month_of_fifty_devices() {
        let p = Prices::built_in();
        assert_eq!(p.region, "us-east-1");
        // AWS's own example: 50 devices, connected all month, 300 messages a day each.
        let mut t = BTreeMap::new();
        t.insert(Metric::ConnectionMinutes, 50 * 30 * 24 * 60);
        t.insert(Metric::Messages, 50 * 300 * 30);
        let (lines, total) = estimate(&t, &p);
        assert_eq!(lines.len(), 7);
        assert!((total - (2_160_000.0 * 0.08 / 1e6 + 450_000.0 * 1.0 / 1e6)).abs() < 1e-9);
        assert!(Prices::parse("{}").is_err());
        let missing = BUILT_IN_PRICES.replace("\"jobExecutions\"", "\"other\"");
        assert!(Prices::parse(&missing).is_err());
    }
}
