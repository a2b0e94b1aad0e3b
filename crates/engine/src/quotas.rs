//! Strict-AWS mode: the quotas of `thingbox_model::quotas`, counted where they apply (the gateway
//! for publishes and CONNECTs, the shadow service, DeleteThingType, the jobs service's rollouts)
//! and, when exceeded, refused (a rollout: paced)
//! (`--strict`, or the console's switch) or only reported — "this would be throttled on AWS" —
//! so a prototype meets its limits before production does.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use thingbox_api::quotas::{Notice, QuotaInfo, QuotaState};
use thingbox_model::quotas::{Quota, Window};

/// Notices kept.
const NOTICES: usize = 200;
/// At most one notice per quota and key in this many ms (a flood is one line, counted).
const NOTICE_EVERY_MS: i64 = 10_000;
/// Keys tracked per per-key window map before the idle ones are forgotten.
const MAX_KEYS: usize = 100_000;

/// The quotas and what exceeded them.
#[derive(Debug)]
pub struct Quotas {
    strict: AtomicBool,
    exceeded: [AtomicU64; Quota::ALL.len()],
    notices: Mutex<VecDeque<Notice>>,
    last_notice: Mutex<HashMap<(Quota, String), i64>>,
    connects: Mutex<HashMap<String, Window>>,
    shadows: Mutex<HashMap<String, Window>>,
    account_connects: Mutex<Window>,
    subscriptions: Mutex<Window>,
    rollouts: Mutex<HashMap<String, Window>>,
}

impl Quotas {
    /// Quotas, strict or lenient.
    pub fn new(strict: bool) -> Self {
        Self {
            strict: AtomicBool::new(strict),
            exceeded: Default::default(),
            notices: Mutex::new(VecDeque::new()),
            last_notice: Mutex::new(HashMap::new()),
            connects: Mutex::new(HashMap::new()),
            shadows: Mutex::new(HashMap::new()),
            account_connects: Mutex::new(Window::default()),
            subscriptions: Mutex::new(Window::default()),
            rollouts: Mutex::new(HashMap::new()),
        }
    }

    /// Whether exceeded quotas are refused.
    pub fn strict(&self) -> bool {
        self.strict.load(Ordering::Relaxed)
    }

    /// Switches strict mode.
    pub fn set_strict(&self, strict: bool) {
        self.strict.store(strict, Ordering::Relaxed);
    }

    /// `key` exceeded `quota`: counted and reported; true when it is to be refused (strict).
    pub fn exceeded(&self, quota: Quota, key: &str, now_ms: i64) -> bool {
        let refused = self.hit(quota);
        self.note(quota, key, now_ms, refused);
        refused
    }

    /// Counts one excess of `quota` (one atomic add); true when it is to be refused (strict).
    pub fn hit(&self, quota: Quota) -> bool {
        self.exceeded[quota as usize].fetch_add(1, Ordering::Relaxed);
        self.strict()
    }

    /// Reports that `key` exceeded `quota` (at most one notice per quota and key in ten seconds);
    /// true if a notice was made.
    pub fn note(&self, quota: Quota, key: &str, now_ms: i64, refused: bool) -> bool {
        let due = {
            let mut last = self.last_notice.lock();
            if last.len() > MAX_KEYS {
                last.retain(|_, at| now_ms - *at < NOTICE_EVERY_MS);
            }
            let at = last.entry((quota, key.to_owned())).or_insert(i64::MIN / 2);
            let due = now_ms - *at >= NOTICE_EVERY_MS;
            if due {
                *at = now_ms;
            }
            due
        };
        if due {
            let what = if refused { quota.strict_verb() } else { "this would be throttled on AWS" };
            let text = format!("{what}: {} ({}) — {key}", quota.aws_name(), quota.describe());
            if !refused {
                tracing::info!(quota = quota.aws_name(), key, "this would be throttled on AWS");
            }
            let mut n = self.notices.lock();
            if n.len() >= NOTICES {
                n.pop_back();
            }
            n.push_front(Notice { at: now_ms, quota: quota_id(quota), key: key.to_owned(), refused, text });
        }
        due
    }

    /// Strict mode paced `key` (a job's rollout) below what it asked for: reported, and counted
    /// once per notice (a paced rollout is not a stream of refusals).
    pub fn paced(&self, quota: Quota, key: &str, now_ms: i64) {
        if self.note(quota, key, now_ms, true) {
            self.exceeded[quota as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn over(map: &Mutex<HashMap<String, Window>>, key: &str, now_ms: i64, limit: u64) -> bool {
        let mut m = map.lock();
        if m.len() > MAX_KEYS {
            m.retain(|_, w| !w.idle(now_ms));
        }
        m.entry(key.to_owned()).or_default().over(now_ms, 1, limit)
    }

    /// A CONNECT by `client_id`: the quota it is over, if any (the per-client-id rate, then the
    /// account's).
    pub fn connect_over(&self, client_id: &str, now_ms: i64) -> Option<Quota> {
        if Self::over(&self.connects, client_id, now_ms, Quota::ConnectRate.limit()) {
            return Some(Quota::ConnectRate);
        }
        let limit = Quota::AccountConnectRate.limit();
        self.account_connects.lock().over(now_ms, 1, limit).then_some(Quota::AccountConnectRate)
    }

    /// A SUBSCRIBE of `filters` topic filters: true if it is over the account's rate.
    pub fn subscribe_over(&self, filters: u64, now_ms: i64) -> bool {
        self.subscriptions.lock().over(now_ms, filters, Quota::SubscriptionRate.limit())
    }

    /// A shadow request for `thing`: true if it is over the per-thing rate.
    pub fn shadow_over(&self, thing: &str, now_ms: i64) -> bool {
        Self::over(&self.shadows, thing, now_ms, Quota::ShadowRate.limit())
    }

    /// `executions` rolled out for job `key` now: true if its minute is over AWS's rollout rate.
    pub fn rollout_over(&self, key: &str, executions: u64, now_ms: i64) -> bool {
        let mut m = self.rollouts.lock();
        if m.len() > MAX_KEYS {
            m.clear();
        }
        m.entry(key.to_owned()).or_default().over_span(
            now_ms,
            60_000,
            executions,
            Quota::JobRolloutRate.limit(),
        )
    }

    /// The console's view.
    pub fn state(&self) -> QuotaState {
        QuotaState {
            strict: self.strict(),
            quotas: Quota::ALL
                .iter()
                .map(|q| QuotaInfo {
                    quota: quota_id(*q),
                    aws_name: q.aws_name().to_owned(),
                    limit: q.describe(),
                    exceeded: self.exceeded[*q as usize].load(Ordering::Relaxed),
                })
                .collect(),
            notices: self.notices.lock().iter().cloned().collect(),
        }
    }
}

fn quota_id(q: Quota) -> String {
    serde_json::to_value(q).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
