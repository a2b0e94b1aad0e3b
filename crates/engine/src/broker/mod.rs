//! The router: sessions by client id, the subscription trie, retained messages, and fan-out.
//!
//! Publishing never waits for a subscriber: matching deliveries are pushed into each session's
//! bounded queue (see [`session`]) and the session's connection writer is woken. The gateway's
//! connections and the engine's own services (through [`InternalClient`]) use the same router, and
//! every message carries its publisher's identity.

mod internal;
mod lifecycle;
pub mod message;
mod persist;
pub mod session;
pub mod tap;
pub mod trie;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use tokio::sync::oneshot;

pub use self::internal::InternalClient;
pub use self::message::{Message, Principal, Properties};
pub use self::session::{Delivery, DisconnectReason, Queued, Session, SubOptions};
use self::trie::{Entry, Trie};
use crate::events::Bus;
use crate::storage::undo::Undo;
use crate::storage::{Pending, StorageError, Write, Writer};
use thingbox_api::console::{ConsoleEvent, LifecycleEntry};
use thingbox_api::trace::{Queueing, Step};

/// Router settings.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Most deliveries queued per session (QoS 0 and 1 alike; also bounded by
    /// `session::MAX_QUEUED_BYTES`); past it deliveries to that session are dropped.
    pub max_queued: usize,
    /// Expiry of a persistent session after its connection goes away, when the client asks for
    /// none (MQTT 3.1.1 clean-session=false): AWS's default, one hour.
    pub default_session_expiry_secs: u64,
    /// The longest expiry a client may ask for.
    pub max_session_expiry_secs: u64,
    /// What the message-flow tracer samples and keeps.
    pub trace: crate::trace::TraceConfig,
    /// Strict-AWS mode: exceeded AWS quotas are refused, not only reported.
    pub strict: bool,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            max_queued: 10_000,
            default_session_expiry_secs: 3600,
            max_session_expiry_secs: 7 * 24 * 3600,
            trace: crate::trace::TraceConfig::default(),
            strict: false,
        }
    }
}

/// Counters for the console and benchmarks.
#[derive(Debug, Default)]
pub struct Stats {
    /// Messages accepted for routing.
    pub published: AtomicU64,
    /// Deliveries queued.
    pub delivered: AtomicU64,
    /// Deliveries dropped (queue full, or QoS 0 to an offline client).
    pub dropped: AtomicU64,
}

/// The router.
#[derive(Debug)]
pub struct Broker {
    config: BrokerConfig,
    trie: RwLock<Trie>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    retained: RwLock<BTreeMap<String, Arc<Message>>>,
    /// The retained topics with writes pending, to put back what the database holds if one is
    /// refused.
    retained_undo: Undo<String>,
    next_id: AtomicU64,
    writer: Writer,
    /// For reading a refused retained topic back.
    pool: sqlx::SqlitePool,
    /// Counters.
    pub stats: Stats,
    /// The console's live stream (lifecycle events go there too).
    pub console: Bus<ConsoleEvent>,
    /// The newest lifecycle events, newest last (for the console's overview).
    recent: Mutex<std::collections::VecDeque<LifecycleEntry>>,
    /// A copy of every routed message for the viewer, history and recordings.
    pub tap: tap::Tap,
    /// Where Basic Ingest messages (`$aws/rules/<rule>/…`) go instead of being routed: the rules
    /// engine's session.
    ingest: RwLock<Option<Arc<Session>>>,
    /// Persistent sessions without a connection (a QoS 1 publish that may reach one is
    /// acknowledged only once what it queued there is durable).
    offline: std::sync::atomic::AtomicUsize,
    /// The message-flow tracer: a traced message carries its trace, and the router adds the
    /// retain, subscription and queueing steps.
    pub tracer: Arc<crate::trace::Tracer>,
    /// The meter (what the traffic would be billed as on AWS).
    pub meter: Arc<crate::usage::Meter>,
    /// AWS's quotas, enforced in strict mode and reported otherwise.
    pub quotas: Arc<crate::quotas::Quotas>,
}

/// The client ids of the engine's own services' sessions start with this.
pub const INTERNAL_PREFIX: &str = "$thingbox/";

/// The Basic Ingest prefix: a publish to `$aws/rules/<rule>/<topic>` reaches only that rule.
pub const INGEST_PREFIX: &str = "$aws/rules/";

/// Messages the tap holds between two drains (one `BATCH_MS` window): 200,000 messages/s.
const TAP_CAPACITY: usize = 10_000;

/// Lifecycle events kept for the console's overview.
const RECENT_EVENTS: usize = 50;

/// A session as [`Broker::session_facts`] reports it.
#[derive(Debug, Clone)]
pub struct SessionFacts {
    /// Whether a connection is attached.
    pub connected: bool,
    /// Whether it outlives its connection.
    pub persistent: bool,
    /// For a session without a connection: how long until it expires.
    pub expires_in: Option<Duration>,
    /// Its subscriptions, by filter.
    pub subscriptions: Vec<(String, SubOptions)>,
    /// Who its live (or last) connection authenticated as.
    pub principal: Option<Principal>,
    /// Where its live (or last) connection came from.
    pub peer_ip: Option<std::net::IpAddr>,
    /// Deliveries waiting in its queue.
    pub queued: usize,
    /// Its queue's limit.
    pub max_queued: usize,
    /// Deliveries dropped for it (queue full, QoS 0 while offline).
    pub dropped: u64,
}

/// What [`Broker::connect`] hands a new connection.
#[derive(Debug)]
pub struct Attached {
    /// The session (new or resumed).
    pub session: Arc<Session>,
    /// Whether an existing session was resumed.
    pub session_present: bool,
    /// This connection's number within the session.
    pub connection: u64,
    /// Fires when another connection takes the client id (or the engine stops).
    pub kicked: oneshot::Receiver<DisconnectReason>,
    /// Lifecycle `versionNumber`.
    pub version: u64,
}

/// The rules a publish that does not come from a device connection follows (iot-data Publish, the
/// console, replays): a valid topic name, no reserved topic a client may not publish to, and a
/// payload within AWS's 128 KB. Devices get the same rules as MQTT reason codes from the gateway.
pub fn check_publish(topic: &str, retain: bool, payload_len: usize) -> Result<(), crate::Error> {
    use thingbox_model::topic::MAX_PAYLOAD_BYTES as MAX_PAYLOAD;
    thingbox_model::topic::check_name(topic)
        .map_err(|e| crate::Error::InvalidRequest(format!("Invalid topic '{topic}': {e}")))?;
    if !thingbox_model::topic::client_may_publish(topic, retain) {
        return Err(crate::Error::InvalidRequest(format!(
            "Publishing to the reserved topic '{topic}' is not allowed"
        )));
    }
    if payload_len > MAX_PAYLOAD {
        return Err(crate::Error::TooLarge(format!(
            "The payload is {payload_len} bytes; the limit is {MAX_PAYLOAD} bytes (128 KB)"
        )));
    }
    Ok(())
}

/// The trace step of one subscriber: which of its filters matched and what became of the message.
fn trace_subscriber(
    t: &crate::trace::Trace,
    at: i64,
    session: &Session,
    topic: &str,
    qos: u8,
    outcome: Queueing,
) {
    let mut filters: Vec<String> = session
        .state
        .lock()
        .subscriptions
        .keys()
        .filter(|f| thingbox_model::topic::matches(f, topic))
        .cloned()
        .collect();
    filters.sort();
    let client_id = session.client_id.clone();
    let service = client_id.starts_with(INTERNAL_PREFIX);
    t.step_at(at, Step::Subscriber { client_id, filters, qos, outcome, service });
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Broker {
    /// A router whose retained messages are `retained` (loaded from storage) and persisted in
    /// `db`.
    pub fn new(
        config: BrokerConfig,
        retained: Vec<crate::storage::retained::RetainedRow>,
        db: &crate::storage::Db,
        console: Bus<ConsoleEvent>,
    ) -> Self {
        let writer = db.writer();
        Self {
            trie: RwLock::new(Trie::default()),
            sessions: Mutex::new(HashMap::new()),
            retained: RwLock::new(
                retained.into_iter().map(|r| (r.topic.clone(), Arc::new(Message::from_row(r)))).collect(),
            ),
            retained_undo: Undo::default(),
            next_id: AtomicU64::new(1),
            meter: Arc::new(crate::usage::Meter::new(writer.clone())),
            writer,
            pool: db.pool().clone(),
            stats: Stats::default(),
            console,
            recent: Mutex::new(std::collections::VecDeque::with_capacity(RECENT_EVENTS)),
            tap: tap::Tap::new(TAP_CAPACITY),
            ingest: RwLock::new(None),
            offline: std::sync::atomic::AtomicUsize::new(0),
            tracer: Arc::new(crate::trace::Tracer::new(config.trace)),
            quotas: Arc::new(crate::quotas::Quotas::new(config.strict)),
            config,
        }
    }

    fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Publishes: stores or clears the retained message first (durably) when RETAIN is set, then
    /// routes. A Basic Ingest topic (`$aws/rules/…`, never retained) goes to the rules engine
    /// alone, as on AWS: no subscription can receive it.
    pub async fn publish(&self, msg: Message) -> Result<(), StorageError> {
        let msg = Arc::new(msg);
        if msg.topic.starts_with(INGEST_PREFIX) {
            self.ingest(msg);
            return Ok(());
        }
        if msg.retain {
            if let Some(t) = &msg.trace {
                let action = if msg.payload.is_empty() { "cleared" } else { "stored" };
                t.step(Step::Retained { action: action.into() });
            }
            // The change and its write are queued under the lock, so the writer's order is the
            // order of the changes.
            let (pending, ticket) = {
                let mut retained = self.retained.write();
                let write = if msg.payload.is_empty() {
                    retained.remove(&msg.topic);
                    Write::DeleteRetained(msg.topic.clone())
                } else {
                    // The retained copy carries no trace: later subscribers get it as a new
                    // delivery, not as a step of a trace that has long left the ring.
                    let kept = match msg.trace {
                        Some(_) => Arc::new(Message { trace: None, ..(*msg).clone() }),
                        None => msg.clone(),
                    };
                    retained.insert(msg.topic.clone(), kept);
                    Write::PutRetained(msg.to_row())
                };
                (self.writer.submit(vec![write]), self.retained_undo.begin(&msg.topic))
            };
            let stored = pending.wait().await;
            if self.retained_undo.settle(&msg.topic, ticket, stored.is_ok()) {
                self.read_back_retained(&msg.topic).await;
            }
            stored?;
        }
        // What it queued for sessions without a connection is durable before the publisher hears
        // back.
        for stored in self.route_durably(msg) {
            stored.wait().await?;
        }
        Ok(())
    }

    /// After a refused retained publish, once the topic has no other write pending: a refused
    /// message is not served, so the topic gets back what the database holds — unless a newer
    /// publish was made meanwhile, which settles it in its turn.
    async fn read_back_retained(&self, topic: &str) {
        let topic = topic.to_owned();
        match crate::storage::retained::load_one(&self.pool, &topic).await {
            Ok(stored) => {
                let mut retained = self.retained.write();
                if self.retained_undo.busy(&topic) {
                    return;
                }
                match stored {
                    Some(row) => retained.insert(topic, Arc::new(Message::from_row(row))),
                    None => retained.remove(&topic),
                };
            }
            Err(e) => tracing::error!(error = %e, topic, "reading a retained message back failed"),
        }
    }

    /// Publishes a message that is not retained, right now (no storage to wait for): the rules
    /// engine's republish.
    pub fn publish_now(&self, msg: Message) {
        debug_assert!(!msg.retain);
        let msg = Arc::new(msg);
        if msg.topic.starts_with(INGEST_PREFIX) {
            self.ingest(msg);
        } else {
            self.route(msg);
        }
    }

    /// Hands a Basic Ingest message to the rules engine (and the tap, so the console sees it).
    pub fn ingest(&self, msg: Arc<Message>) {
        self.stats.published.fetch_add(1, Ordering::Relaxed);
        self.tap.capture(&msg);
        let target = self.ingest.read().clone();
        let traced = msg.trace.as_ref().map(|t| (t.clone(), now_ms()));
        let queued = target
            .as_ref()
            .is_some_and(|s| s.enqueue(Delivery { message: msg, qos: 1, retain: false, dup: false }));
        if let (Some((t, at)), Some(rules)) = (traced, &target)
            && !queued
        {
            let (outcome, client_id) = (Queueing::DroppedQueueFull, rules.client_id.clone());
            t.step_at(at, Step::Subscriber { client_id, filters: vec![], qos: 1, outcome, service: true });
        }
        if !queued {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Makes `client`'s session the receiver of Basic Ingest messages.
    pub fn set_ingest(&self, client: &InternalClient) {
        *self.ingest.write() = Some(client.session.clone());
    }

    /// Delivers `msg` to every matching subscription (once per session, at the highest granted QoS).
    pub fn route(&self, msg: Arc<Message>) {
        let _stored_in_the_background = self.route_durably(msg);
    }

    /// [`Broker::route`], returning the writes of what it queued for persistent sessions without
    /// a connection.
    fn route_durably(&self, msg: Arc<Message>) -> Vec<Pending> {
        self.stats.published.fetch_add(1, Ordering::Relaxed);
        self.tap.capture(&msg);
        let mut targets: Vec<(Arc<Session>, u8)> = Vec::new();
        Self::targets(&self.trie.read(), &msg.topic, &mut targets);
        self.deliver(&msg, targets)
    }

    /// Publishes many messages that are not retained (the rules engine's republishes of one batch),
    /// taking the router's shared locks once for all of them rather than once each: the rules
    /// engine runs on its own thread, and every lock it shares with device traffic is a cache line
    /// the two threads pass back and forth.
    pub fn publish_batch(&self, msgs: Vec<Message>) {
        let mut routed = Vec::with_capacity(msgs.len());
        for m in msgs {
            debug_assert!(!m.retain);
            let m = Arc::new(m);
            if m.topic.starts_with(INGEST_PREFIX) {
                self.ingest(m);
            } else {
                routed.push(m);
            }
        }
        if routed.is_empty() {
            return;
        }
        self.stats.published.fetch_add(routed.len() as u64, Ordering::Relaxed);
        self.tap.capture_many(&routed);
        let mut all: Vec<Vec<(Arc<Session>, u8)>> = Vec::with_capacity(routed.len());
        // The read lock in short holds: the rules thread runs at background priority, and a
        // subscriber's SUBSCRIBE (a writer) must not wait behind it for long.
        for chunk in routed.chunks(32) {
            let trie = self.trie.read();
            for m in chunk {
                let mut targets = Vec::new();
                Self::targets(&trie, &m.topic, &mut targets);
                all.push(targets);
            }
        }
        for (m, targets) in routed.iter().zip(all) {
            let _stored_in_the_background = self.deliver(m, targets);
        }
    }

    /// The sessions subscribed to `topic`, once each at the highest QoS they were granted.
    fn targets(trie: &Trie, topic: &str, targets: &mut Vec<(Arc<Session>, u8)>) {
        trie.for_each_match(topic, |e: &Entry| {
            match targets.iter_mut().find(|(s, _)| s.id == e.session.id) {
                Some((_, q)) => *q = (*q).max(e.qos),
                None => targets.push((e.session.clone(), e.qos)),
            }
        });
    }

    /// Queues `msg` for each target session (honouring MQTT 5 no-local); stores what went to
    /// persistent sessions without a connection.
    fn deliver(&self, msg: &Arc<Message>, targets: Vec<(Arc<Session>, u8)>) -> Vec<Pending> {
        let mut stored = Vec::new();
        if let Some(t) = &msg.trace
            && targets.is_empty()
        {
            t.step(Step::NoSubscribers);
        }
        for (session, sub_qos) in targets {
            // Taken before queueing: the subscriber's writer may send it (a later step) at once.
            let traced = msg.trace.as_ref().map(|t| (t, now_ms()));
            let no_local = msg.client_id.as_deref() == Some(session.client_id.as_str()) && {
                let st = session.state.lock();
                st.subscriptions
                    .iter()
                    .any(|(f, o)| o.no_local && thingbox_model::topic::matches(f, &msg.topic))
            };
            if no_local {
                if let Some((t, at)) = traced {
                    trace_subscriber(t, at, &session, &msg.topic, sub_qos.min(msg.qos), Queueing::NoLocal);
                }
                continue;
            }
            let qos = sub_qos.min(msg.qos);
            let d = Delivery { message: msg.clone(), qos, retain: false, dup: false };
            let (queued, write) = session.enqueue_for(d, Some(&self.writer));
            match queued {
                Queued::Online => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Queued::Offline => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    stored.push(write);
                }
                Queued::Dropped | Queued::DroppedOffline => {
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            if let Some((t, at)) = traced {
                let outcome = match queued {
                    Queued::Online => Queueing::Queued,
                    Queued::Offline => Queueing::QueuedOffline,
                    Queued::DroppedOffline => Queueing::DroppedOfflineQos0,
                    Queued::Dropped => Queueing::DroppedQueueFull,
                };
                trace_subscriber(t, at, &session, &msg.topic, qos, outcome);
            }
        }
        stored
    }

    /// Attaches a new connection for `client_id`: takes over a live connection (which is told
    /// `DuplicateClientId`), resumes a persistent session unless `clean`, or starts a new one.
    pub fn connect(&self, client_id: &str, clean: bool, persistent: bool, expiry_secs: u64) -> Attached {
        let (kick_tx, kicked) = oneshot::channel();
        let connection = self.new_id();
        let mut sessions = self.sessions.lock();
        let existing = sessions.get(client_id).cloned();
        let (session, session_present) = match existing {
            Some(s) => {
                let reusable = {
                    let mut st = s.state.lock();
                    if let Some(kick) = st.kick.take() {
                        let _ = kick.send(DisconnectReason::DuplicateClientId);
                    }
                    st.connection = None;
                    self.count_offline(&mut st, false);
                    let reusable = !clean && st.persistent;
                    if !reusable && st.stored {
                        st.stored = false;
                        let _ = self.writer.submit(vec![persist::delete(&s)]);
                    }
                    reusable
                };
                if reusable {
                    (s, true)
                } else {
                    self.drop_subscriptions(&s);
                    let fresh =
                        Arc::new(Session::new(self.new_id(), client_id.to_owned(), self.config.max_queued));
                    fresh.state.lock().version = s.state.lock().version;
                    sessions.insert(client_id.to_owned(), fresh.clone());
                    (fresh, false)
                }
            }
            None => {
                let fresh =
                    Arc::new(Session::new(self.new_id(), client_id.to_owned(), self.config.max_queued));
                sessions.insert(client_id.to_owned(), fresh.clone());
                (fresh, false)
            }
        };
        let version = {
            let mut st = session.state.lock();
            st.connection = Some(connection);
            st.kick = Some(kick_tx);
            st.persistent = persistent;
            st.expiry_secs = expiry_secs.min(self.config.max_session_expiry_secs);
            st.disconnected_at = None;
            st.version += 1;
            // A resumed session resends what was in flight first.
            let inflight = st.take_inflight_in_send_order();
            for d in inflight.into_iter().rev() {
                st.push_front(Delivery { dup: true, ..d });
            }
            let _ = self.writer.submit(persist::connected(&session, &mut st));
            st.version
        };
        session.notify.notify_one();
        Attached { session, session_present, connection, kicked, version }
    }

    /// Detaches connection `connection` from `session`. A non-persistent session (or one with expiry
    /// 0) ends now; a persistent one waits for its expiry.
    pub fn disconnect(&self, session: &Arc<Session>, connection: u64) {
        let end = {
            let mut st = session.state.lock();
            if st.connection != Some(connection) {
                return; // taken over already
            }
            st.connection = None;
            st.kick = None;
            st.disconnected_at = Some(Instant::now());
            if st.persistent && st.expiry_secs > 0 {
                // Unacknowledged QoS 1 deliveries are kept for the next connection; QoS 0 ones go.
                st.retain_queued(|d| d.qos > 0);
                self.count_offline(&mut st, true);
                let _ = self.writer.submit(persist::disconnected(session, &mut st, now_ms()));
                false
            } else {
                true
            }
        };
        if end {
            self.end_session(session);
        }
    }

    fn end_session(&self, session: &Arc<Session>) {
        let mut sessions = self.sessions.lock();
        if sessions.get(&session.client_id).is_some_and(|s| s.id == session.id) {
            let mut st = session.state.lock();
            if st.connection.is_some() {
                // Resumed by a connection after it was chosen for expiry: it lives on.
                return;
            }
            sessions.remove(&session.client_id);
            self.count_offline(&mut st, false);
            if st.stored {
                st.stored = false;
                let _ = self.writer.submit(vec![persist::delete(session)]);
            }
        }
        drop(sessions);
        self.drop_subscriptions(session);
    }

    fn drop_subscriptions(&self, session: &Arc<Session>) {
        let filters: Vec<String> = session.state.lock().subscriptions.drain().map(|(f, _)| f).collect();
        let mut trie = self.trie.write();
        for f in filters {
            trie.remove(&f, session.id);
        }
    }

    /// Ends persistent sessions whose expiry has passed; returns how many.
    pub fn expire_sessions(&self, now: Instant) -> usize {
        let expired: Vec<Arc<Session>> = self
            .sessions
            .lock()
            .values()
            .filter(|s| {
                let st = s.state.lock();
                st.connection.is_none()
                    && st
                        .disconnected_at
                        .is_some_and(|at| now.duration_since(at) >= Duration::from_secs(st.expiry_secs))
            })
            .cloned()
            .collect();
        for s in &expired {
            self.end_session(s);
        }
        expired.len()
    }

    /// Adds (or replaces) a subscription and queues the retained message of an exactly matching
    /// topic (AWS delivers retained messages only for filters without wildcards).
    pub fn subscribe(&self, session: &Arc<Session>, filter: &str, opts: SubOptions) {
        self.subscribe_with(session, filter, opts, true);
    }

    fn subscribe_with(&self, session: &Arc<Session>, filter: &str, opts: SubOptions, retained: bool) {
        session.state.lock().subscriptions.insert(filter.to_owned(), opts);
        self.trie.write().insert(filter, Entry { session: session.clone(), qos: opts.qos });
        if retained && !thingbox_model::topic::has_wildcard(filter) {
            let retained = self.retained.read().get(filter).cloned();
            if let Some(m) = retained {
                let qos = opts.qos.min(m.qos);
                session.enqueue(Delivery { message: m, qos, retain: true, dup: false });
            }
        }
    }

    /// Removes a subscription; true if it existed.
    pub fn unsubscribe(&self, session: &Arc<Session>, filter: &str) -> bool {
        let had = session.state.lock().subscriptions.remove(filter).is_some();
        self.trie.write().remove(filter, session.id) || had
    }

    /// What the router knows of `client_id`'s session ("why did X not get T?").
    pub fn session_facts(&self, client_id: &str) -> Option<SessionFacts> {
        let session = self.sessions.lock().get(client_id).cloned()?;
        let st = session.state.lock();
        let mut subscriptions: Vec<(String, SubOptions)> =
            st.subscriptions.iter().map(|(f, o)| (f.clone(), *o)).collect();
        subscriptions.sort_by(|a, b| a.0.cmp(&b.0));
        Some(SessionFacts {
            connected: st.connection.is_some(),
            persistent: st.persistent,
            expires_in: st
                .disconnected_at
                .map(|at| Duration::from_secs(st.expiry_secs).saturating_sub(at.elapsed())),
            subscriptions,
            principal: st.principal.clone(),
            peer_ip: st.peer_ip,
            queued: st.queued(),
            max_queued: session.max_queued,
            dropped: st.dropped,
        })
    }

    /// Number of live sessions (connected or waiting for expiry).
    pub fn session_count(&self) -> usize {
        self.sessions.lock().len()
    }

    /// The newest lifecycle events, newest first.
    pub fn recent_events(&self) -> Vec<LifecycleEntry> {
        self.recent.lock().iter().rev().cloned().collect()
    }

    /// Live connections: client id and principal.
    pub fn connections(&self) -> Vec<(String, Option<Principal>)> {
        let mut out: Vec<_> = self
            .sessions
            .lock()
            .values()
            .filter_map(|s| {
                let st = s.state.lock();
                st.connection.map(|_| (s.client_id.clone(), st.principal.clone()))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Number of live connections.
    pub fn connected_count(&self) -> usize {
        self.sessions.lock().values().filter(|s| s.state.lock().connection.is_some()).count()
    }

    /// Tells every live connection to close (engine shutdown, or a certificate that stopped being
    /// ACTIVE when `only` says so).
    pub fn kick_where(&self, reason: DisconnectReason, mut only: impl FnMut(&Session) -> bool) -> usize {
        let mut n = 0;
        for s in self.sessions.lock().values() {
            if only(s)
                && let Some(kick) = s.state.lock().kick.take()
            {
                let _ = kick.send(reason);
                n += 1;
            }
        }
        n
    }

    /// Retained messages, sorted by topic, after `after`, at most `max`.
    pub fn retained_page(&self, after: Option<&str>, max: usize) -> (Vec<Arc<Message>>, bool) {
        use std::ops::Bound;
        let r = self.retained.read();
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut it = r.range::<str, _>((lower, Bound::Unbounded)).map(|(_, m)| m.clone());
        let page: Vec<_> = it.by_ref().take(max).collect();
        (page, it.next().is_some())
    }

    /// The retained message of `topic`.
    pub fn retained(&self, topic: &str) -> Option<Arc<Message>> {
        self.retained.read().get(topic).cloned()
    }
}
