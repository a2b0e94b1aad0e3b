//! The meter: what this Thingbox's traffic would be billed as on AWS IoT Core, per UTC day, per
//! thing and in total (`thingbox_model::usage` says what counts and how sizes become units).
//!
//! A device connection counts into its own [`ConnMeter`] (plain atomics nobody else writes), the
//! other producers — HTTP publishes, registry calls, the shadow, rules and jobs services — through
//! [`Meter::add`]. Every ten seconds (and at shutdown) [`Meter::run`] folds both into the day's
//! totals and stores the rows that moved through the storage writer; a report folds first, so it
//! is exact to the message. Metering is best effort across a crash: at most the last ten seconds
//! are lost, never a device's message.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use thingbox_api::usage::{DayUsage, Estimate, EstimateLine, ThingUsage, UsageReport};
use thingbox_model::usage::{self, Metric, Prices};
use tokio::sync::watch;

use crate::storage::usage::UsageRow;
use crate::storage::{Write, Writer};

/// How often the totals are folded and stored.
const FLUSH: Duration = Duration::from_secs(10);

/// One device connection's counters.
#[derive(Debug)]
pub struct ConnMeter {
    thing: Option<String>,
    connected_at_ms: i64,
    counts: [AtomicU64; 7],
    closed: AtomicBool,
}

impl ConnMeter {
    /// Counts `units` of `metric`.
    pub fn add(&self, metric: Metric, units: u64) {
        self.counts[metric.index()].fetch_add(units, Ordering::Relaxed);
    }

    /// Counts a message of `bytes` (topic, payload and MQTT 5 properties) in 5 KB units.
    pub fn message(&self, bytes: usize) {
        self.add(Metric::Messages, usage::units(bytes, usage::MESSAGE_UNIT));
    }
}

/// The meter.
#[derive(Debug)]
pub struct Meter {
    writer: Writer,
    connections: Mutex<Vec<Weak<ConnMeter>>>,
    pending: Mutex<HashMap<(String, Metric), u64>>,
    /// Counts no thing accounts for (no lock: the rules engine counts here per firing).
    account: [AtomicU64; 7],
    /// Running totals: (day, thing or "", metric) → units.
    totals: Mutex<BTreeMap<Key, u64>>,
    /// The totals that moved since they were last stored.
    dirty: Mutex<std::collections::BTreeSet<Key>>,
}

/// A total's key: UTC day, thing (or ""), metric.
type Key = (String, String, Metric);

impl Meter {
    /// A meter storing through `writer`.
    pub fn new(writer: Writer) -> Self {
        Self {
            writer,
            connections: Mutex::new(Vec::new()),
            pending: Mutex::new(HashMap::new()),
            account: Default::default(),
            totals: Mutex::new(BTreeMap::new()),
            dirty: Mutex::new(Default::default()),
        }
    }

    /// Takes the stored totals back (at start).
    pub fn restore(&self, rows: Vec<UsageRow>) {
        let mut t = self.totals.lock();
        for r in rows {
            t.insert((r.day, r.thing, r.metric), r.units);
        }
    }

    /// The counters of a new device connection; `thing` is the thing its client id names, if any.
    pub fn connection(&self, thing: Option<String>, now_ms: i64) -> Arc<ConnMeter> {
        let c = Arc::new(ConnMeter {
            thing,
            connected_at_ms: now_ms,
            counts: Default::default(),
            closed: AtomicBool::new(false),
        });
        let mut list = self.connections.lock();
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(&c));
        c
    }

    /// A connection ended: its minutes are counted (each connection rounded up to a minute).
    pub fn closed(&self, c: &Arc<ConnMeter>, now_ms: i64) {
        if !c.closed.swap(true, Ordering::Relaxed) {
            c.add(Metric::ConnectionMinutes, usage::connection_minutes(now_ms - c.connected_at_ms));
        }
        // What it counted is folded now: its `Weak` would not outlive the connection.
        self.fold_one(c, &usage::utc_day(now_ms));
    }

    /// Counts `units` of `metric` for `thing` (or no thing).
    pub fn add(&self, thing: Option<&str>, metric: Metric, units: u64) {
        match thing {
            _ if units == 0 => {}
            None | Some("") => {
                self.account[metric.index()].fetch_add(units, Ordering::Relaxed);
            }
            Some(t) => *self.pending.lock().entry((t.to_owned(), metric)).or_insert(0) += units,
        }
    }

    fn fold_one(&self, c: &ConnMeter, day: &str) {
        let thing = c.thing.clone().unwrap_or_default();
        let mut totals = self.totals.lock();
        let mut dirty = self.dirty.lock();
        for m in Metric::ALL {
            let n = c.counts[m.index()].swap(0, Ordering::Relaxed);
            if n > 0 {
                let key = (day.to_owned(), thing.clone(), m);
                *totals.entry(key.clone()).or_insert(0) += n;
                dirty.insert(key);
            }
        }
    }

    /// Moves everything counted since the last fold into `now_ms`'s day, and queues the totals that
    /// moved with the storage writer — under the totals' lock, so stored totals never go back.
    fn store(&self, now_ms: i64) -> crate::storage::Pending {
        let day = usage::utc_day(now_ms);
        let live: Vec<Arc<ConnMeter>> = self.connections.lock().iter().filter_map(Weak::upgrade).collect();
        for c in &live {
            self.fold_one(c, &day);
        }
        let mut pending = std::mem::take(&mut *self.pending.lock());
        for m in Metric::ALL {
            let n = self.account[m.index()].swap(0, Ordering::Relaxed);
            if n > 0 {
                *pending.entry((String::new(), m)).or_insert(0) += n;
            }
        }
        let mut totals = self.totals.lock();
        let mut dirty = self.dirty.lock();
        for ((thing, m), n) in pending {
            let key = (day.clone(), thing, m);
            *totals.entry(key.clone()).or_insert(0) += n;
            dirty.insert(key);
        }
        if dirty.is_empty() {
            return crate::storage::Pending::done();
        }
        let rows: Vec<UsageRow> = std::mem::take(&mut *dirty)
            .into_iter()
            .map(|key| {
                let units = totals.get(&key).copied().unwrap_or(0);
                let (day, thing, metric) = key;
                UsageRow { day, thing, metric, units }
            })
            .collect();
        self.writer.submit(vec![Write::Usage(rows)])
    }

    /// Folds and stores every ten seconds until `stop`, then once more.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(FLUSH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            let _ = self.store(crate::broker::now_ms());
        }
        if let Err(e) = self.store(crate::broker::now_ms()).wait().await {
            tracing::warn!(error = %e, "the last usage totals could not be stored");
        }
    }

    /// The last `days` days (today included), folded up to now, priced with `prices`.
    pub fn report(&self, now_ms: i64, days: u32, prices: &Prices, source: String) -> UsageReport {
        let _ = self.store(now_ms);
        let first = usage::utc_day(now_ms - i64::from(days.saturating_sub(1)) * 86_400_000);
        let totals = self.totals.lock();
        let mut by_day: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut by_thing: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut sums: BTreeMap<Metric, u64> = BTreeMap::new();
        for ((day, thing, m), n) in totals.iter().filter(|((d, _, _), _)| *d >= first) {
            *by_day.entry(day.clone()).or_default().entry(m.as_str().to_owned()).or_insert(0) += n;
            *by_thing.entry(thing.clone()).or_default().entry(m.as_str().to_owned()).or_insert(0) += n;
            *sums.entry(*m).or_insert(0) += n;
        }
        let (lines, total) = usage::estimate(&sums, prices);
        UsageReport {
            days: by_day.into_iter().map(|(day, metrics)| DayUsage { day, metrics }).collect(),
            things: by_thing.into_iter().map(|(thing, metrics)| ThingUsage { thing, metrics }).collect(),
            totals: Metric::ALL
                .iter()
                .map(|m| (m.as_str().to_owned(), sums.get(m).copied().unwrap_or(0)))
                .collect(),
            estimate: Estimate {
                lines: lines
                    .into_iter()
                    .map(|l| {
                        let p = &prices.prices[&l.metric];
                        EstimateLine {
                            metric: l.metric.as_str().to_owned(),
                            units: l.units,
                            price: p.price,
                            per: p.per,
                            cost: l.cost,
                        }
                    })
                    .collect(),
                total,
                currency: prices.currency.clone(),
                region: prices.region.clone(),
                date: prices.date.clone(),
                source,
            },
        }
    }
}

/// Whether `(method, path)` of the `iot` API is a registry operation AWS meters (CreateThing,
/// DescribeThing, ListThings, the thing group and type calls, AttachThingPrincipal, …).
pub fn is_registry_call(path: &str) -> bool {
    ["/things", "/thing-types", "/thing-groups", "/principals/things"].iter().any(|p| {
        path == *p || path.strip_prefix(p).is_some_and(|rest| rest.starts_with('/') || rest.starts_with('?'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_calls_are_the_thing_type_and_group_apis() {
        for p in [
            "/things",
            "/things/lamp",
            "/things/lamp/principals",
            "/thing-types/t",
            "/thing-groups/g",
            "/principals/things",
        ] {
            assert!(is_registry_call(p), "{p}");
        }
        for p in ["/policies/p", "/rules/r", "/thingsx", "/jobs/j"] {
            assert!(!is_registry_call(p), "{p}");
        }
    }
}
