//! What every rule did: counters, the SQL evaluation time's 99th percentile, firings per second
//! for the last minute, and the most recent firings with each action's result — in memory, for
//! the console.
//!
//! Counters are atomics bumped by the runner and the rule's worker; the rest sits behind short
//! locks. Nothing here allocates per message unless a firing is kept (the newest few per rule).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use thingbox_api::rules::{Firing, RuleStats};

/// Firings (and WHERE-false samples) kept per rule.
pub const KEPT_FIRINGS: usize = 50;

/// Evaluation-time buckets: powers of two of nanoseconds, up to ~1 s.
const BUCKETS: usize = 31;

/// One rule's counters.
#[derive(Debug, Default)]
pub struct Counters {
    /// Topic matched FROM.
    pub evaluated: AtomicU64,
    /// WHERE true.
    pub matched: AtomicU64,
    /// WHERE not true.
    pub filtered: AtomicU64,
    /// Actions done or recorded.
    pub actions_ok: AtomicU64,
    /// Actions failed.
    pub actions_failed: AtomicU64,
    /// errorAction runs.
    pub error_actions: AtomicU64,
    /// Firings dropped (queue full).
    pub dropped: AtomicU64,
    eval_ns: [AtomicU64; BUCKETS],
    recent: Mutex<Recent>,
}

#[derive(Debug, Default)]
struct Recent {
    firings: VecDeque<Firing>,
    filtered: VecDeque<Firing>,
    last_error: Option<(i64, String)>,
    last_fired: Option<i64>,
    /// When the newest kept firing happened.
    last_kept: i64,
    /// Firings per second: (epoch second, count), the last 60 seconds.
    seconds: VecDeque<(i64, u32)>,
}

fn push_bounded(q: &mut VecDeque<Firing>, f: Firing) {
    if q.len() == KEPT_FIRINGS {
        q.pop_back();
    }
    q.push_front(f);
}

impl Counters {
    /// Counts one SQL evaluation, and its time in nanoseconds when it was timed.
    pub fn evaluation(&self, ns: Option<u64>) {
        self.evaluated.fetch_add(1, Ordering::Relaxed);
        let Some(ns) = ns else { return };
        let bucket = (64 - ns.max(1).leading_zeros() as usize).min(BUCKETS - 1);
        self.eval_ns[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// The 99th percentile of evaluation time, in microseconds (a bucket's upper bound).
    pub fn eval_p99_micros(&self) -> f64 {
        let counts: Vec<u64> = self.eval_ns.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let target = (total * 99).div_ceil(100);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return (1u64 << i) as f64 / 1000.0;
            }
        }
        0.0
    }

    /// Counts a firing at `now_ms` (for the per-second series).
    pub fn fired(&self, now_ms: i64) {
        self.matched.fetch_add(1, Ordering::Relaxed);
        let sec = now_ms.div_euclid(1000);
        let mut r = self.recent.lock();
        r.last_fired = Some(now_ms);
        match r.seconds.back_mut() {
            Some((s, n)) if *s == sec => *n += 1,
            _ => {
                r.seconds.push_back((sec, 1));
                while r.seconds.front().is_some_and(|(s, _)| *s <= sec - 60) {
                    r.seconds.pop_front();
                }
            }
        }
    }

    /// Keeps a firing (its actions done).
    pub fn keep_firing(&self, f: Firing) {
        let mut r = self.recent.lock();
        let failed = f
            .actions
            .iter()
            .chain(f.error_action.iter())
            .find(|a| a.outcome == thingbox_api::rules::Outcome::Failed)
            .and_then(|a| a.error.clone().map(|e| format!("{} {}: {e}", a.kind, a.target)));
        if let Some(e) = failed {
            r.last_error = Some((f.timestamp, e));
        }
        if let Some(d) = &f.dropped {
            r.last_error = Some((f.timestamp, d.clone()));
        }
        r.last_kept = f.timestamp;
        push_bounded(&mut r.firings, f);
    }

    /// Whether a firing at `now` should be kept for the console: always while few are kept, then at
    /// most one every 200 ms (every 50 ms when it failed), so that under load keeping firings costs
    /// next to nothing while the console still shows recent ones and recent failures.
    pub fn wants_firing(&self, now: i64, failed: bool) -> bool {
        let r = self.recent.lock();
        r.firings.len() < KEPT_FIRINGS || now - r.last_kept >= if failed { 50 } else { 200 }
    }

    /// Keeps a message on which WHERE was not true.
    pub fn keep_filtered(&self, f: Firing) {
        push_bounded(&mut self.recent.lock().filtered, f);
    }

    /// Whether a WHERE-false sample is wanted now (at most the newest few are kept, so under load
    /// only every 64th is built).
    pub fn wants_filtered_sample(&self) -> bool {
        self.filtered.load(Ordering::Relaxed).is_multiple_of(64)
            || self.recent.lock().filtered.len() < KEPT_FIRINGS
    }

    /// The recent firings and WHERE-false samples, newest first.
    pub fn recent(&self) -> (Vec<Firing>, Vec<Firing>) {
        let r = self.recent.lock();
        (r.firings.iter().cloned().collect(), r.filtered.iter().cloned().collect())
    }

    /// The wire form, at `now_ms`.
    pub fn snapshot(&self, name: &str, now_ms: i64) -> RuleStats {
        let r = self.recent.lock();
        let now_sec = now_ms.div_euclid(1000);
        let mut per_second = vec![0u32; 60];
        for (s, n) in &r.seconds {
            let age = now_sec - s;
            if (0..60).contains(&age) {
                per_second[59 - age as usize] = *n;
            }
        }
        RuleStats {
            name: name.to_owned(),
            evaluated: self.evaluated.load(Ordering::Relaxed),
            matched: self.matched.load(Ordering::Relaxed),
            filtered: self.filtered.load(Ordering::Relaxed),
            actions_ok: self.actions_ok.load(Ordering::Relaxed),
            actions_failed: self.actions_failed.load(Ordering::Relaxed),
            error_actions: self.error_actions.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            last_error: r.last_error.as_ref().map(|(_, e)| e.clone()),
            last_error_at: r.last_error.as_ref().map(|(t, _)| *t),
            last_fired_at: r.last_fired,
            eval_p99_micros: self.eval_p99_micros(),
            per_second,
        }
    }
}

/// Engine-wide counters.
#[derive(Debug, Default)]
pub struct EngineCounters {
    /// Messages received.
    pub received: AtomicU64,
    /// Republish chains stopped.
    pub loops_stopped: AtomicU64,
    /// Basic Ingest messages for no enabled rule.
    pub ingest_unknown: AtomicU64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_and_the_per_second_series() {
        let c = Counters::default();
        for _ in 0..99 {
            c.evaluation(Some(1_000)); // ~1 µs
        }
        c.evaluation(Some(1_000_000)); // 1 ms
        assert!(c.eval_p99_micros() <= 2.1, "{}", c.eval_p99_micros());
        c.evaluation(Some(1_000_000));
        assert!(c.eval_p99_micros() >= 1000.0, "{}", c.eval_p99_micros());
        c.fired(10_000);
        c.fired(10_500);
        c.fired(12_000);
        let s = c.snapshot("r", 12_100);
        assert_eq!(s.per_second.len(), 60);
        assert_eq!(&s.per_second[57..], &[2, 0, 1]);
        assert_eq!(s.matched, 3);
        assert_eq!(c.snapshot("r", 80_000).per_second.iter().sum::<u32>(), 0, "older than a minute");
    }
}
