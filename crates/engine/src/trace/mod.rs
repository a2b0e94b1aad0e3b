//! The message-flow tracer: for a message, every step it took through the engine and why —
//! the publisher's identity, the policy decision on publish, retain handling, each matching
//! subscription and what became of it (sent, acknowledged, refused by iot:Receive, dropped, queued
//! offline), each rule whose FROM matched with its WHERE, output and actions, and the shadow or
//! jobs service's answer.
//!
//! A traced message carries an `Arc<Trace>` (`Message::trace`); whoever handles it appends a
//! step. An untraced message carries `None`, so tracing costs the hot path one branch per
//! component. [`Tracer::wants`] decides which messages are traced: every message of an armed trace
//! session (a client id or a topic filter, for a while), plus a sample of the rest — at most
//! `per_second` a second, so a demo's every message is traced and a load test's cost stays flat.
//! Traces live in two bounded rings (sampled, armed) in memory: a sampled flood never pushes out
//! what a user armed a session for. They do not survive a restart.

pub mod why_not;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use base64::Engine as _;
use parking_lot::{Mutex, RwLock};
use thingbox_api::rules::PayloadView;
use thingbox_api::trace::{self as wire, Queueing, Step, TraceStep, TraceSummary};

/// Tracer settings.
#[derive(Debug, Clone, Copy)]
pub struct TraceConfig {
    /// Messages sampled per second outside armed sessions (0: only armed sessions trace).
    pub per_second: u32,
    /// Traces each ring (sampled, armed) keeps.
    pub ring: usize,
}

impl Default for TraceConfig {
    fn default() -> Self {
        Self { per_second: 100, ring: 5_000 }
    }
}

/// Steps one trace records; past it steps are counted, not kept (a message to 10,000 subscribers).
const MAX_STEPS: usize = 400;
/// Payload bytes a trace keeps for the console.
const PAYLOAD_VIEW: usize = 1024;
/// Armed sessions at once.
const MAX_ARMED: usize = 20;
/// Longest armed session, in minutes.
pub const MAX_ARM_MINUTES: u32 = 24 * 60;

/// One message's trace, filled in as the message moves.
#[derive(Debug)]
pub struct Trace {
    /// Its number.
    pub id: u64,
    parent: Option<u64>,
    armed: bool,
    timestamp: i64,
    topic: String,
    qos: u8,
    retain: bool,
    client_id: Option<String>,
    principal: String,
    payload: PayloadView,
    /// The viewer's number for the message (0 until numbered).
    message_id: AtomicU64,
    steps: Mutex<Vec<TraceStep>>,
    omitted: AtomicUsize,
}

/// What a trace starts from: the message's facts.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    /// Topic.
    pub topic: &'a str,
    /// QoS published with.
    pub qos: u8,
    /// RETAIN.
    pub retain: bool,
    /// The publisher's client id.
    pub client_id: Option<&'a str>,
    /// The publisher's principal (`Principal::identifier`).
    pub principal: &'a str,
    /// Payload.
    pub payload: &'a [u8],
    /// When it arrived.
    pub now_ms: i64,
}

impl Trace {
    /// Appends a step, timed now.
    pub fn step(&self, step: Step) {
        self.step_at(crate::broker::now_ms(), step);
    }

    /// Appends a step at `at`. Per-subscriber steps past [`MAX_STEPS`] are counted, not kept; the
    /// others (rules, services, what it caused) always are.
    pub fn step_at(&self, at: i64, step: Step) {
        let mut steps = self.steps.lock();
        if per_subscriber(&step) && steps.len() >= MAX_STEPS {
            self.omitted.fetch_add(1, Ordering::Relaxed);
            return;
        }
        steps.push(TraceStep { at, step });
    }

    /// The steps in the order they happened (see [`in_order`]).
    fn ordered(&self) -> Vec<TraceStep> {
        let mut steps = self.steps.lock().clone();
        in_order(&mut steps);
        steps
    }

    /// Records the viewer's number for the message.
    pub fn set_message_id(&self, id: u64) {
        self.message_id.store(id, Ordering::Relaxed);
    }

    /// The viewer's number, if numbered.
    pub fn message_id(&self) -> Option<u64> {
        Some(self.message_id.load(Ordering::Relaxed)).filter(|id| *id != 0)
    }

    /// The trace as the console reads it.
    pub fn to_wire(&self) -> wire::Trace {
        let mut steps = self.ordered();
        let omitted = self.omitted.load(Ordering::Relaxed);
        if omitted > 0 {
            let at = steps.last().map_or(self.timestamp, |s| s.at);
            steps.push(TraceStep { at, step: Step::MoreSubscribers { count: omitted } });
        }
        wire::Trace { summary: self.summary_of(&steps), payload: self.payload.clone(), steps }
    }

    /// The list entry.
    pub fn summary(&self) -> TraceSummary {
        self.summary_of(&self.ordered())
    }

    fn summary_of(&self, steps: &[TraceStep]) -> TraceSummary {
        let (outcome, problem) = outcome(steps);
        TraceSummary {
            id: self.id,
            message_id: self.message_id(),
            parent: self.parent,
            armed: self.armed,
            timestamp: self.timestamp,
            topic: self.topic.clone(),
            qos: self.qos,
            retain: self.retain,
            client_id: self.client_id.clone(),
            principal: self.principal.clone(),
            outcome,
            problem,
        }
    }

    /// When the message arrived.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// What became of it for `client_id`, if the trace says.
    pub fn for_client(&self, client_id: &str) -> Option<String> {
        let steps = self.ordered();
        let mut said = None;
        for s in steps.iter() {
            let line = match &s.step {
                Step::Subscriber { client_id: c, outcome, qos, .. } if c == client_id => match outcome {
                    Queueing::Queued => format!("queued for its connection at QoS {qos}"),
                    Queueing::QueuedOffline => "queued for its persistent session while offline".into(),
                    Queueing::DroppedQueueFull => "dropped: its session's queue was full".into(),
                    Queueing::DroppedOfflineQos0 => "dropped: QoS 0 while it had no connection".into(),
                    Queueing::NoLocal => "skipped: it published it and subscribed with no-local".into(),
                },
                Step::Delivered { client_id: c, qos, .. } if c == client_id => format!("sent at QoS {qos}"),
                Step::Acknowledged { client_id: c, .. } if c == client_id => "sent and acknowledged".into(),
                Step::Policy { subscriber: Some(c), explanation, .. }
                    if c == client_id && explanation.decision != "ALLOWED" =>
                {
                    format!("not sent: iot:Receive {}", explanation.decision)
                }
                _ => continue,
            };
            said = Some(line);
        }
        said.or_else(|| {
            steps.iter().find_map(|s| match &s.step {
                Step::Refused { reason, .. } => Some(format!("never routed: {reason}")),
                _ => None,
            })
        })
        .or_else(|| {
            (self.omitted.load(Ordering::Relaxed) > 0)
                .then(|| "not recorded: the trace kept its first subscribers only".to_owned())
        })
    }
}

/// Whether a step is about one subscriber (these are capped per trace).
fn per_subscriber(step: &Step) -> bool {
    matches!(
        step,
        Step::Subscriber { .. }
            | Step::Delivered { .. }
            | Step::Acknowledged { .. }
            | Step::Policy { subscriber: Some(_), .. }
    )
}

/// Sorts steps into the order they happened. Each records its own time, and tasks on other threads
/// (a subscriber's writer) may append before the step that led to theirs: by time, then queueing
/// before sending before the acknowledgement, and what the message caused last.
pub fn in_order(steps: &mut [TraceStep]) {
    steps.sort_by_key(|s| {
        let rank = match s.step {
            Step::Delivered { .. } | Step::Policy { subscriber: Some(_), .. } => 1,
            Step::Acknowledged { .. } => 2,
            Step::Caused { .. } => 3,
            _ => 0,
        };
        (s.at, rank)
    });
}

/// What became of a message for one subscriber, at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Queued,
    Offline,
    Dropped,
    Skipped,
    Denied,
    Sent,
}

/// What became of a message, in a few words, and whether something went wrong.
fn outcome(steps: &[TraceStep]) -> (String, bool) {
    let mut parts: Vec<String> = Vec::new();
    let mut problem = false;
    let mut fates: BTreeMap<&str, Fate> = BTreeMap::new();
    let (mut fired, mut failed) = (0, 0);
    let mut no_subscribers = false;
    let failures = |a: &[thingbox_api::rules::ActionResult]| {
        a.iter().filter(|a| a.outcome == thingbox_api::rules::Outcome::Failed).count()
    };
    for s in steps {
        match &s.step {
            Step::Refused { reason, .. } => return (format!("refused: {reason}"), true),
            Step::Subscriber { client_id, outcome, service: false, .. } => {
                let fate = match outcome {
                    Queueing::Queued => Fate::Queued,
                    Queueing::QueuedOffline => Fate::Offline,
                    Queueing::DroppedQueueFull | Queueing::DroppedOfflineQos0 => Fate::Dropped,
                    Queueing::NoLocal => Fate::Skipped,
                };
                fates.insert(client_id, fate);
            }
            Step::Delivered { client_id, .. } | Step::Acknowledged { client_id, .. } => {
                fates.insert(client_id, Fate::Sent);
            }
            Step::Policy { subscriber: Some(c), explanation, .. } if explanation.decision != "ALLOWED" => {
                fates.insert(c, Fate::Denied);
            }
            Step::NoSubscribers => no_subscribers = true,
            Step::Rule { output, actions, error_action, dropped: d, .. } => {
                fired += usize::from(output.is_some());
                failed += failures(actions);
                problem |= d.is_some() || error_action.is_some();
            }
            Step::RuleActions { actions, .. } => failed += failures(actions),
            Step::Shadow { operation, accepted, version, code, .. } => {
                if *accepted {
                    parts.push(match version {
                        Some(v) => format!("shadow {operation} accepted (version {v})"),
                        None => format!("shadow {operation} accepted"),
                    });
                } else {
                    problem = true;
                    parts.push(format!("shadow {operation} rejected ({})", code.unwrap_or(0)));
                }
            }
            Step::Job { operation, accepted, .. } => {
                problem |= !accepted;
                parts.push(format!("job {operation} {}", if *accepted { "accepted" } else { "rejected" }));
            }
            Step::RuleLoopStopped { .. } => {
                problem = true;
                parts.push("rule loop stopped".into());
            }
            Step::Ingest { found: false, rule } => {
                problem = true;
                parts.push(format!("no enabled rule '{rule}'"));
            }
            _ => {}
        }
    }
    let count = |f: Fate| fates.values().filter(|x| **x == f).count();
    let mut head = Vec::new();
    for (fate, words, bad) in [
        (Fate::Sent, "sent to", false),
        (Fate::Queued, "queued for", false),
        (Fate::Offline, "queued offline for", false),
        (Fate::Dropped, "dropped for", true),
        (Fate::Denied, "receive denied for", true),
    ] {
        let n = count(fate);
        if n > 0 {
            problem |= bad;
            head.push(format!("{words} {n}"));
        }
    }
    if fired > 0 {
        head.push(format!("{fired} rule{} fired", if fired == 1 { "" } else { "s" }));
    }
    if failed > 0 {
        problem = true;
        head.push(format!("{failed} action{} failed", if failed == 1 { "" } else { "s" }));
    }
    if no_subscribers {
        head.push("no subscribers".into());
    }
    head.extend(parts);
    if head.is_empty() {
        head.push("routed".into());
    }
    (head.join(", "), problem)
}

/// An armed trace session.
#[derive(Debug)]
struct Arm {
    id: u64,
    client_id: Option<String>,
    topic: Option<String>,
    until: i64,
    traced: AtomicU64,
    /// Messages it matched over its per-second cap, not traced.
    skipped: AtomicU64,
    window: Budget,
}

/// What the armed sessions say of a message.
enum Armed {
    /// One traces it.
    Traced,
    /// One matched, over its cap.
    Skipped,
    /// None matched.
    No,
}

/// Messages one armed session traces per second at most: the armed ring keeps 5,000, so a client
/// publishing faster would only push out its own traces; past the cap they are counted.
pub const ARMED_PER_SECOND: u64 = 2_000;

/// A per-second budget: `second << 20 | taken in that second`. Once a second's budget is spent,
/// asking costs one atomic load.
#[derive(Debug, Default)]
struct Budget(AtomicU64);

impl Budget {
    /// Takes one of this second's `per_second`, if any is left.
    fn take(&self, now: i64, per_second: u64) -> bool {
        if per_second == 0 {
            return false;
        }
        let second = (now.max(0) as u64 / 1000) & ((1 << 43) - 1);
        let mask = (1u64 << 20) - 1;
        let w = self.0.load(Ordering::Relaxed);
        if w >> 20 == second && w & mask >= per_second {
            return false;
        }
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                if w >> 20 > second {
                    // A later second has begun on another thread: this late caller gets nothing.
                    None
                } else if w >> 20 < second {
                    Some(second << 20 | 1)
                } else if w & mask < per_second {
                    Some(w + 1)
                } else {
                    None
                }
            })
            .is_ok()
    }
}

/// What a list of traces is filtered by.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// The publisher's client id.
    pub client_id: Option<String>,
    /// A topic filter the topic must match.
    pub topic: Option<String>,
    /// Only traces at or after this time (ms since the epoch).
    pub since: Option<i64>,
    /// Only traces where something went wrong.
    pub problems: bool,
    /// Only traces an armed session made.
    pub armed: Option<bool>,
    /// At most this many.
    pub limit: usize,
}

/// Decides what is traced and keeps the traces.
#[derive(Debug)]
pub struct Tracer {
    config: TraceConfig,
    /// Armed sessions (read only while `armed_count` > 0; publishers share the read lock).
    armed: RwLock<Vec<Arm>>,
    armed_count: AtomicUsize,
    /// The sample's per-second budget.
    window: Budget,
    sampled: Mutex<VecDeque<Arc<Trace>>>,
    kept: Mutex<VecDeque<Arc<Trace>>>,
    next_id: AtomicU64,
    next_arm: AtomicU64,
}

impl Tracer {
    /// A tracer with `config`.
    pub fn new(config: TraceConfig) -> Self {
        Self {
            config,
            armed: RwLock::new(Vec::new()),
            armed_count: AtomicUsize::new(0),
            window: Budget::default(),
            sampled: Mutex::new(VecDeque::new()),
            kept: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(1),
            next_arm: AtomicU64::new(1),
        }
    }

    /// Whether a message from `client_id` on `topic` is traced: `Some(true)` for an armed session,
    /// `Some(false)` for a sample, `None` when not.
    pub fn wants(&self, client_id: Option<&str>, topic: &str, now: i64) -> Option<bool> {
        if self.armed_count.load(Ordering::Relaxed) > 0 {
            match self.armed_match(client_id, topic, now) {
                Armed::Traced => return Some(true),
                // Over its cap: counted there, and not sampled either.
                Armed::Skipped => return None,
                Armed::No => {}
            }
        }
        self.sample(now).then_some(false)
    }

    fn armed_match(&self, client_id: Option<&str>, topic: &str, now: i64) -> Armed {
        let armed = self.armed.read();
        let (mut hit, mut skipped, mut expired) = (false, false, false);
        for a in armed.iter() {
            if a.until <= now {
                expired = true;
                continue;
            }
            let by_client = a.client_id.as_deref().is_none_or(|c| Some(c) == client_id);
            let by_topic = a.topic.as_deref().is_none_or(|f| thingbox_model::topic::matches(f, topic));
            if by_client && by_topic {
                if a.window.take(now, ARMED_PER_SECOND) {
                    a.traced.fetch_add(1, Ordering::Relaxed);
                    hit = true;
                } else {
                    a.skipped.fetch_add(1, Ordering::Relaxed);
                    skipped = true;
                }
            }
        }
        drop(armed);
        if expired {
            self.prune(now);
        }
        match (hit, skipped) {
            (true, _) => Armed::Traced,
            (false, true) => Armed::Skipped,
            _ => Armed::No,
        }
    }

    /// Forgets the armed sessions that have ended.
    fn prune(&self, now: i64) {
        let mut armed = self.armed.write();
        armed.retain(|a| a.until > now);
        self.armed_count.store(armed.len(), Ordering::Relaxed);
    }

    /// One of this second's samples, if any is left.
    fn sample(&self, now: i64) -> bool {
        self.window.take(now, u64::from(self.config.per_second))
    }

    /// The trace of a message published because of a traced one (a republish, a shadow reply): it
    /// is traced too, and the parent's trace points to it.
    pub fn child(&self, parent: &Trace, by: String, head: Head<'_>) -> Arc<Trace> {
        let t = self.open(head, parent.armed, Some(parent.id));
        parent.step_at(head.now_ms, Step::Caused { by, topic: head.topic.to_owned(), trace: t.id });
        t
    }

    /// Opens a trace [`Tracer::wants`] asked for (`armed` as it said).
    pub fn open(&self, head: Head<'_>, armed: bool, parent: Option<u64>) -> Arc<Trace> {
        let t = Arc::new(Trace {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            parent,
            armed,
            timestamp: head.now_ms,
            topic: head.topic.to_owned(),
            qos: head.qos,
            retain: head.retain,
            client_id: head.client_id.map(str::to_owned),
            principal: head.principal.to_owned(),
            payload: payload_view(head.payload, PAYLOAD_VIEW),
            message_id: AtomicU64::new(0),
            steps: Mutex::new(Vec::with_capacity(8)),
            omitted: AtomicUsize::new(0),
        });
        let ring = if armed { &self.kept } else { &self.sampled };
        let mut ring = ring.lock();
        if ring.len() >= self.config.ring {
            ring.pop_front();
        }
        ring.push_back(t.clone());
        t
    }

    /// Arms a trace session; `None` when too many are armed.
    pub fn arm(
        &self,
        client_id: Option<String>,
        topic: Option<String>,
        minutes: u32,
        now: i64,
    ) -> Option<wire::Armed> {
        self.prune(now);
        let mut armed = self.armed.write();
        if armed.len() >= MAX_ARMED {
            return None;
        }
        let id = self.next_arm.fetch_add(1, Ordering::Relaxed);
        let until = now + i64::from(minutes) * 60_000;
        let a = Arm {
            id,
            client_id,
            topic,
            until,
            traced: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            window: Budget::default(),
        };
        let wire = wire_arm(&a);
        armed.push(a);
        self.armed_count.store(armed.len(), Ordering::Relaxed);
        Some(wire)
    }

    /// Ends an armed session; false if there was none with that id.
    pub fn disarm(&self, id: u64) -> bool {
        let mut armed = self.armed.write();
        let before = armed.len();
        armed.retain(|a| a.id != id);
        self.armed_count.store(armed.len(), Ordering::Relaxed);
        armed.len() != before
    }

    /// The armed sessions still running.
    pub fn armed(&self, now: i64) -> Vec<wire::Armed> {
        self.armed.read().iter().filter(|a| a.until > now).map(wire_arm).collect()
    }

    /// How the tracer samples, for a person.
    pub fn sampling(&self) -> String {
        match self.config.per_second {
            0 => "only armed trace sessions are traced".into(),
            n => format!(
                "up to {n} messages a second are traced, plus every message of an armed session (up to \
                 {ARMED_PER_SECOND} a second each); the newest {} of each are kept",
                self.config.ring
            ),
        }
    }

    /// Traces held.
    pub fn held(&self) -> usize {
        self.sampled.lock().len() + self.kept.lock().len()
    }

    fn all(&self) -> Vec<Arc<Trace>> {
        let mut all: Vec<Arc<Trace>> = self.sampled.lock().iter().cloned().collect();
        all.extend(self.kept.lock().iter().cloned());
        all.sort_by_key(|t| std::cmp::Reverse(t.id));
        all
    }

    /// The newest traces matching `q`, newest first.
    pub fn list(&self, q: &Query) -> Vec<TraceSummary> {
        self.all()
            .into_iter()
            .filter(|t| {
                q.client_id.as_deref().is_none_or(|c| t.client_id.as_deref() == Some(c))
                    && q.topic.as_deref().is_none_or(|f| thingbox_model::topic::matches(f, &t.topic))
                    && q.since.is_none_or(|s| t.timestamp >= s)
                    && q.armed.is_none_or(|a| t.armed == a)
            })
            .map(|t| t.summary())
            .filter(|s| !q.problems || s.problem)
            .take(q.limit)
            .collect()
    }

    /// A trace by its number.
    pub fn get(&self, id: u64) -> Option<Arc<Trace>> {
        let find = |ring: &Mutex<VecDeque<Arc<Trace>>>| ring.lock().iter().find(|t| t.id == id).cloned();
        find(&self.sampled).or_else(|| find(&self.kept))
    }

    /// The trace of the message the viewer numbered `message_id`.
    pub fn by_message(&self, message_id: u64) -> Option<Arc<Trace>> {
        let find = |ring: &Mutex<VecDeque<Arc<Trace>>>| {
            ring.lock().iter().rev().find(|t| t.message_id.load(Ordering::Relaxed) == message_id).cloned()
        };
        find(&self.sampled).or_else(|| find(&self.kept))
    }

    /// The newest trace of a message on `topic`.
    pub fn newest_on(&self, topic: &str) -> Option<Arc<Trace>> {
        self.all().into_iter().find(|t| t.topic == topic)
    }
}

/// A payload as the console shows it, cut at `limit` bytes (at a character boundary).
pub fn payload_view(bytes: &[u8], limit: usize) -> PayloadView {
    let cut = bytes.len().min(limit);
    match std::str::from_utf8(&bytes[..cut]) {
        Ok(text) => PayloadView {
            text: text.to_owned(),
            base64: false,
            truncated: cut < bytes.len(),
            size: bytes.len(),
        },
        Err(e) if e.error_len().is_none() && e.valid_up_to() > 0 => PayloadView {
            // Cut in the middle of a character: keep the whole characters.
            text: String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(),
            base64: false,
            truncated: true,
            size: bytes.len(),
        },
        Err(_) => PayloadView {
            text: base64::engine::general_purpose::STANDARD.encode(&bytes[..cut]),
            base64: true,
            truncated: cut < bytes.len(),
            size: bytes.len(),
        },
    }
}

fn wire_arm(a: &Arm) -> wire::Armed {
    wire::Armed {
        id: a.id,
        client_id: a.client_id.clone(),
        topic: a.topic.clone(),
        until: a.until,
        traced: a.traced.load(Ordering::Relaxed),
        skipped: a.skipped.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests;
