//! The AWS IoT quotas Thingbox relaxes by default and enforces in strict-AWS mode (`--strict`),
//! by AWS's names, and the per-second window they are counted in. Lenient, an exceeded quota is
//! only reported ("this would be throttled on AWS"); strict, it is refused as AWS refuses it.

use serde::{Deserialize, Serialize};

/// A quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Quota {
    /// Inbound publishes per second per connection.
    PublishRate,
    /// Inbound bytes per second per connection.
    PublishThroughput,
    /// CONNECT requests per second per client id.
    ConnectRate,
    /// CONNECT requests per second per account.
    AccountConnectRate,
    /// Subscriptions (topic filters) per second per account.
    SubscriptionRate,
    /// Device Shadow requests per second per thing.
    ShadowRate,
    /// The wait between deprecating a thing type and deleting it.
    ThingTypeDeletionWait,
    /// Job executions rolled out (created and notified) per minute per job.
    JobRolloutRate,
}

impl Quota {
    /// Every quota.
    pub const ALL: [Quota; 8] = [
        Quota::PublishRate,
        Quota::PublishThroughput,
        Quota::ConnectRate,
        Quota::AccountConnectRate,
        Quota::SubscriptionRate,
        Quota::ShadowRate,
        Quota::ThingTypeDeletionWait,
        Quota::JobRolloutRate,
    ];

    /// AWS's name for it.
    pub const fn aws_name(self) -> &'static str {
        match self {
            Self::PublishRate => "Publish requests per second per connection",
            Self::PublishThroughput => "Throughput per second per connection",
            Self::ConnectRate => "Connect requests per second per client ID",
            Self::AccountConnectRate => "Connect requests per second per account",
            Self::SubscriptionRate => "Subscriptions per second per account",
            Self::ShadowRate => "Device Shadow requests per second per thing",
            Self::ThingTypeDeletionWait => "Thing type deletion after deprecation",
            Self::JobRolloutRate => "Job executions rolled out per minute",
        }
    }

    /// Its value (per second; minutes for the deletion wait; per minute for the job rollout).
    pub const fn limit(self) -> u64 {
        match self {
            Self::PublishRate => 100,
            Self::PublishThroughput => 512 * 1024,
            Self::ConnectRate => 1,
            Self::AccountConnectRate => 500,
            Self::SubscriptionRate => 200,
            Self::ShadowRate => 20,
            Self::ThingTypeDeletionWait => 5,
            Self::JobRolloutRate => 1000,
        }
    }

    /// The limit for a person.
    pub fn describe(self) -> String {
        match self {
            Self::PublishRate => "100 publishes a second".into(),
            Self::PublishThroughput => "512 KB a second".into(),
            Self::ConnectRate => "1 CONNECT a second".into(),
            Self::AccountConnectRate => "500 CONNECTs a second".into(),
            Self::SubscriptionRate => "200 topic filters a second".into(),
            Self::ShadowRate => "20 requests a second".into(),
            Self::ThingTypeDeletionWait => "5 minutes after deprecation".into(),
            Self::JobRolloutRate => "1,000 executions a minute per job".into(),
        }
    }

    /// What strict mode does to what exceeds it: refuse it, or (the job rollout) pace it.
    pub const fn strict_verb(self) -> &'static str {
        match self {
            Self::JobRolloutRate => "paced as on AWS",
            _ => "refused as on AWS",
        }
    }
}

/// Counts within fixed windows — one second, as AWS's per-second quotas are described, unless
/// [`over_span`](Self::over_span) names another span.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    slot: i64,
    used: u64,
}

impl Window {
    /// Adds `amount` at `now_ms`; true if the second's total is now over `limit` (the amount is
    /// then not kept: what was refused does not count).
    pub fn over(&mut self, now_ms: i64, amount: u64, limit: u64) -> bool {
        self.over_span(now_ms, 1000, amount, limit)
    }

    /// Like [`over`](Self::over) in windows of `span_ms`.
    pub fn over_span(&mut self, now_ms: i64, span_ms: i64, amount: u64, limit: u64) -> bool {
        let slot = now_ms.div_euclid(span_ms.max(1));
        if slot != self.slot {
            self.slot = slot;
            self.used = 0;
        }
        if self.used + amount > limit {
            return true;
        }
        self.used += amount;
        false
    }

    /// Whether nothing was counted in the second of `now_ms` (the window may be forgotten).
    pub fn idle(&self, now_ms: i64) -> bool {
        self.slot != now_ms.div_euclid(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_admits_its_limit_each_second() {
        let mut w = Window::default();
        let admitted = (0..150).filter(|_| !w.over(5_000, 1, 100)).count();
        assert_eq!(admitted, 100);
        assert!(!w.over(6_000, 1, 100), "a new second starts afresh");
        let mut b = Window::default();
        assert!(!b.over(0, 400 * 1024, Quota::PublishThroughput.limit()));
        assert!(b.over(10, 200 * 1024, Quota::PublishThroughput.limit()));
        assert!(!b.over(20, 100 * 1024, Quota::PublishThroughput.limit()), "the refused bytes did not count");
        assert_eq!(Quota::ALL.len(), 8);
        let mut m = Window::default();
        assert!(!m.over_span(0, 60_000, 1000, Quota::JobRolloutRate.limit()));
        assert!(m.over_span(59_999, 60_000, 1, Quota::JobRolloutRate.limit()));
        assert!(!m.over_span(60_000, 60_000, 1, Quota::JobRolloutRate.limit()), "a new minute");
    }
}
