//! The shadow service: classic and named shadows over MQTT (`$aws/things/{thing}/shadow[/name/{name}]/…`)
//! and HTTP (iot-data), with every accepted change kept as history.
//!
//! Each request is decided under one lock (so versions are assigned in order), its write is queued
//! in decision order, and its replies are published only after the write is durable. MQTT requests
//! flow through a two-stage pipeline — decide-and-queue, then wait-and-publish — so that many
//! updates share one commit while replies keep their order.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;
use thingbox_model::shadow::{self, Shadow, ShadowError};
use thingbox_model::topic::{Reserved, reserved};
use tokio::sync::{mpsc, watch};

use crate::broker::{Broker, InternalClient, now_ms};
use crate::storage::undo::{Ticket, Undo};
use crate::storage::{Db, Pending, StorageError, Write};
use thingbox_api::console::ConsoleEvent;
use thingbox_api::shadows::{ShadowRejection, ShadowSummary};
use thingbox_api::trace::Step;
pub use thingbox_model::shadow::HistoryEntry;

mod rejections;
use self::rejections::{Refused, Rejections};

/// Changes kept per shadow (older ones are trimmed).
pub const DEFAULT_HISTORY: i64 = 1000;

type Key = (String, String);

/// The service.
#[derive(Debug)]
pub struct ShadowService {
    shadows: Mutex<HashMap<Key, Shadow>>,
    /// Who made each shadow's last change (locked after `shadows` when both are held).
    writers: Mutex<HashMap<Key, String>>,
    db: Db,
    broker: Arc<Broker>,
    keep: i64,
    /// MQTT requests decided but not yet answered, per client id (AWS allows 10 per connection).
    in_flight: Mutex<HashMap<String, usize>>,
    /// The shadows with writes pending, to put back what the database holds if one is refused.
    undo: Undo<(String, String)>,
    /// Refused updates and deletes, for the console.
    rejections: Rejections,
}

/// In-flight shadow requests one client may have before getting 429.
pub const MAX_IN_FLIGHT: usize = 10;

fn now_secs() -> i64 {
    now_ms() / 1000
}

fn topic_prefix(thing: &str, name: &str) -> String {
    if name.is_empty() {
        format!("$aws/things/{thing}/shadow")
    } else {
        format!("$aws/things/{thing}/shadow/name/{name}")
    }
}

fn check_names(thing: &str, name: &str) -> Result<(), ShadowError> {
    let ok = |s: &str, max: usize, extra: bool| {
        !s.is_empty()
            && s.len() <= max
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-') || (extra && c == '$'))
    };
    if !ok(thing, 128, false) {
        return Err(ShadowError { code: 400, message: format!("Invalid thing name: '{thing}'") });
    }
    if !name.is_empty() && !ok(name, 64, true) {
        return Err(ShadowError { code: 400, message: format!("Invalid shadow name: '{name}'") });
    }
    Ok(())
}

/// A change queued for storage, and its ticket for putting memory back if it is refused.
struct Queued {
    pending: Pending,
    key: (String, String),
    ticket: Ticket,
}

/// What a request produced: its reply, the publications to make once durable, and the write.
struct Decided {
    reply: Result<Value, ShadowError>,
    publish: Vec<(String, Value)>,
    /// The change queued for storage, if any.
    write: Option<Queued>,
    /// For the console, once durable.
    event: Option<ConsoleEvent>,
    /// The request's rule hops, carried by the replies: a rule that republishes into a shadow it
    /// listens to is stopped like any other loop.
    hops: u8,
    /// The MQTT request, when it is traced: the shadow's answer joins its trace, and the replies
    /// get traces of their own.
    cause: Option<Arc<crate::broker::Message>>,
}

/// The shadow service's answer as a trace step.
fn shadow_step(thing: &str, shadow: Option<&str>, op: &str, reply: &Result<Value, ShadowError>) -> Step {
    let (accepted, version, code, message) = match reply {
        Ok(doc) => (true, doc.get("version").and_then(Value::as_u64), None, None),
        Err(e) => (false, None, Some(e.code), Some(e.message.clone())),
    };
    Step::Shadow {
        thing: thing.to_owned(),
        shadow: shadow.map(str::to_owned),
        operation: op.to_owned(),
        accepted,
        version,
        code,
        message,
    }
}

impl ShadowService {
    /// The console's event for a change, built only while a console listens.
    fn changed(&self, thing: &str, name: &str, shadow: &Shadow) -> Option<ConsoleEvent> {
        self.broker.console.has_listeners().then(|| ConsoleEvent::Shadow {
            thing: thing.to_owned(),
            shadow: name.to_owned(),
            version: (!shadow.deleted).then_some(shadow.version),
        })
    }
}

impl ShadowService {
    /// Keeps a refused update or delete for the console, and the event that tells it — unless
    /// its names are invalid: not a shadow anyone can look at, so answered and not kept.
    fn refused(&self, r: Refused<'_>, e: &ShadowError, now: i64) -> Option<ConsoleEvent> {
        check_names(r.thing, r.name).ok()?;
        let event = self.broker.console.has_listeners().then(|| ConsoleEvent::ShadowRejected {
            thing: r.thing.to_owned(),
            shadow: r.name.to_owned(),
            code: e.code,
        });
        self.rejections.record(r, e.code, &e.message, now);
        event
    }

    /// A shadow's refused updates and deletes (newest first, at most `limit`; kept in memory).
    pub fn rejections(&self, thing: &str, name: &str, limit: usize) -> Vec<ShadowRejection> {
        self.rejections.of(thing, name, limit)
    }
}

impl ShadowService {
    /// Loads every shadow.
    /// Loads every shadow; `keep` changes are kept per shadow.
    pub async fn load(db: Db, broker: Arc<Broker>, keep: i64) -> Result<Arc<Self>, StorageError> {
        let mut shadows = HashMap::new();
        let mut writers = HashMap::new();
        for (t, n, s, w) in crate::storage::shadows::load(db.pool()).await? {
            writers.insert((t.clone(), n.clone()), w);
            shadows.insert((t, n), s);
        }
        Ok(Arc::new(Self {
            shadows: Mutex::new(shadows),
            writers: Mutex::new(writers),
            db,
            broker,
            keep: keep.max(1),
            in_flight: Mutex::new(HashMap::new()),
            undo: Undo::default(),
            rejections: Rejections::default(),
        }))
    }

    /// After a refused change, once the shadow has no other write pending: memory ran ahead of
    /// the database (an update is applied as it is queued, so the next one builds on it), so the
    /// shadow is read back from the database, which holds every acknowledged change and no refused
    /// one — unless a newer change was made meanwhile, which settles it in its turn.
    async fn read_back(&self, key: &(String, String)) {
        match crate::storage::shadows::load_one(self.db.pool(), &key.0, &key.1).await {
            Ok(stored) => {
                let mut shadows = self.shadows.lock();
                if self.undo.busy(key) {
                    return;
                }
                let mut writers = self.writers.lock();
                match stored {
                    Some((_, _, shadow, writer)) => {
                        shadows.insert(key.clone(), shadow);
                        writers.insert(key.clone(), writer);
                    }
                    None => {
                        shadows.remove(key);
                        writers.remove(key);
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, thing = key.0, shadow = key.1, "reading a shadow back failed")
            }
        }
    }

    /// Queues a change (under the shadows lock, so the writer's order is the order of the changes).
    fn write(&self, shadow: &Shadow, thing: &str, name: &str, kind: &'static str, writer: &str) -> Queued {
        let key = (thing.to_owned(), name.to_owned());
        self.writers.lock().insert(key.clone(), writer.to_owned());
        let entry = HistoryEntry {
            thing: thing.to_owned(),
            name: name.to_owned(),
            version: shadow.version,
            kind,
            shadow: shadow.clone(),
            writer: writer.to_owned(),
            ts: shadow.timestamp,
        };
        let pending =
            self.db.writer().submit(vec![Write::Shadow { entry: Box::new(entry), keep: self.keep }]);
        let ticket = self.undo.begin(&key);
        Queued { pending, key, ticket }
    }

    fn decide_update(&self, thing: &str, name: &str, payload: &[u8], writer: &str, mqtt: bool) -> Decided {
        let prefix = topic_prefix(thing, name);
        let token = shadow::client_token_of(payload);
        let now = now_secs();
        let rejected = |e: ShadowError| {
            let publish = if mqtt {
                vec![(format!("{prefix}/update/rejected"), e.document(token.as_deref(), now))]
            } else {
                vec![]
            };
            let r =
                Refused { thing, name, operation: "update", writer, payload, client_token: token.clone() };
            let event = self.refused(r, &e, now);
            Decided { reply: Err(e), publish, write: None, event, hops: 0, cause: None }
        };
        if let Err(e) = check_names(thing, name) {
            return rejected(e);
        }
        let req = match shadow::parse_update(payload) {
            Ok(r) => r,
            Err(e) => return rejected(e),
        };
        let mut shadows = self.shadows.lock();
        let key = (thing.to_owned(), name.to_owned());
        let updated = match shadow::update(shadows.get(&key), &req, now) {
            Ok(u) => u,
            Err(e) => return rejected(e),
        };
        let write = self.write(&updated.shadow, thing, name, "update", writer);
        let event = self.changed(thing, name, &updated.shadow);
        shadows.insert(key, updated.shadow);
        drop(shadows);
        let mut publish = Vec::with_capacity(3);
        if let Some(d) = updated.delta {
            publish.push((format!("{prefix}/update/delta"), d));
        }
        publish.push((format!("{prefix}/update/documents"), updated.documents));
        if mqtt {
            publish.push((format!("{prefix}/update/accepted"), updated.accepted.clone()));
        }
        Decided { reply: Ok(updated.accepted), publish, write: Some(write), event, hops: 0, cause: None }
    }

    fn decide_get(&self, thing: &str, name: &str, payload: &[u8], mqtt: bool) -> Decided {
        let prefix = topic_prefix(thing, name);
        let token = shadow::client_token_of(payload);
        let reply = check_names(thing, name).and_then(|()| {
            let shadows = self.shadows.lock();
            match shadows.get(&(thing.to_owned(), name.to_owned())).filter(|s| !s.deleted) {
                Some(s) => Ok(s.get_document(token.as_deref())),
                None => Err(ShadowError::not_found(if name.is_empty() { thing } else { name })),
            }
        });
        let publish = match (&reply, mqtt) {
            (Ok(doc), true) => vec![(format!("{prefix}/get/accepted"), doc.clone())],
            (Err(e), true) => {
                vec![(format!("{prefix}/get/rejected"), e.document(token.as_deref(), now_secs()))]
            }
            _ => vec![],
        };
        Decided { reply, publish, write: None, event: None, hops: 0, cause: None }
    }

    fn decide_delete(&self, thing: &str, name: &str, payload: &[u8], writer: &str, mqtt: bool) -> Decided {
        let prefix = topic_prefix(thing, name);
        let token = shadow::client_token_of(payload);
        let now = now_secs();
        let mut write = None;
        let mut event = None;
        let reply = check_names(thing, name).and_then(|()| {
            let mut shadows = self.shadows.lock();
            let key = (thing.to_owned(), name.to_owned());
            match shadows.get(&key).filter(|s| !s.deleted) {
                Some(s) => {
                    let (gone, doc) = shadow::delete(s, token.as_deref(), now);
                    write = Some(self.write(&gone, thing, name, "delete", writer));
                    event = self.changed(thing, name, &gone);
                    shadows.insert(key, gone);
                    Ok(doc)
                }
                None => Err(ShadowError::not_found(if name.is_empty() { thing } else { name })),
            }
        });
        let publish = match (&reply, mqtt) {
            (Ok(doc), true) => vec![(format!("{prefix}/delete/accepted"), doc.clone())],
            (Err(e), true) => vec![(format!("{prefix}/delete/rejected"), e.document(token.as_deref(), now))],
            _ => vec![],
        };
        if let Err(e) = &reply {
            let r =
                Refused { thing, name, operation: "delete", writer, payload, client_token: token.clone() };
            event = self.refused(r, e, now);
        }
        Decided { reply, publish, write, event, hops: 0, cause: None }
    }

    async fn finish(&self, d: Decided) -> Result<Value, ShadowError> {
        if let Some(q) = d.write {
            let stored = q.pending.wait().await;
            if self.undo.settle(&q.key, q.ticket, stored.is_ok()) {
                self.read_back(&q.key).await;
            }
            if let Err(e) = stored {
                tracing::error!(error = %e, thing = q.key.0, shadow = q.key.1, "shadow write failed");
                return Err(ShadowError { code: 500, message: e.refusal() });
            }
        }
        if let Some(e) = d.event {
            self.broker.console.emit(e);
        }
        for (topic, payload) in d.publish {
            let mut m = crate::broker::Message {
                rule_hops: d.hops,
                ..crate::broker::Message::from_service("shadow", topic, payload.to_string())
            };
            if let Some(cause) = &d.cause {
                m.follow(cause, &self.broker.tracer, || "the shadow service".into());
            }
            self.broker.route(Arc::new(m));
        }
        d.reply
    }

    /// Whether a request for `thing` is over AWS's per-thing rate and refused (strict-AWS mode;
    /// lenient, it is only reported).
    pub fn throttled(&self, thing: &str) -> bool {
        let q = &self.broker.quotas;
        let now = now_ms();
        q.shadow_over(thing, now) && q.exceeded(thingbox_model::quotas::Quota::ShadowRate, thing, now)
    }

    /// UpdateThingShadow (HTTP): replies with the accepted document; publishes delta and documents.
    /// `writer` is what the history records: `api`, or `console` for the console's editor.
    pub async fn update(
        &self,
        thing: &str,
        name: &str,
        payload: &[u8],
        writer: &str,
    ) -> Result<Value, ShadowError> {
        let d = self.decide_update(thing, name, payload, writer, false);
        self.finish(d).await
    }

    /// GetThingShadow (HTTP).
    pub async fn get(&self, thing: &str, name: &str) -> Result<Value, ShadowError> {
        let d = self.decide_get(thing, name, b"", false);
        self.finish(d).await
    }

    /// DeleteThingShadow (HTTP).
    pub async fn delete(&self, thing: &str, name: &str) -> Result<Value, ShadowError> {
        let d = self.decide_delete(thing, name, b"", "api", false);
        self.finish(d).await
    }

    /// A shadow as GetThingShadow returns it, read from memory without a reply or any publish
    /// (`get_thing_shadow()` in rules); `None` when it does not exist.
    pub fn document(&self, thing: &str, name: &str) -> Option<Value> {
        let key = (thing.to_owned(), name.to_owned());
        self.shadows.lock().get(&key).filter(|s| !s.deleted).map(|s| s.get_document(None))
    }

    /// Every existing shadow (classic and named) of every thing, by thing then name, with its last
    /// writer and the keys of its delta — the console's fleet list.
    pub fn summaries(&self) -> Vec<ShadowSummary> {
        let mut out: Vec<ShadowSummary> = {
            let shadows = self.shadows.lock();
            let writers = self.writers.lock();
            shadows
                .iter()
                .filter(|(_, s)| !s.deleted)
                .map(|(key, s)| ShadowSummary {
                    thing: key.0.clone(),
                    shadow: key.1.clone(),
                    version: s.version,
                    writer: writers.get(key).cloned().unwrap_or_default(),
                    timestamp: s.timestamp,
                    delta_keys: s.delta().map(|d| d.keys().cloned().collect()).unwrap_or_default(),
                })
                .collect()
        };
        out.sort_unstable_by(|a, b| (&a.thing, &a.shadow).cmp(&(&b.thing, &b.shadow)));
        out
    }

    /// ListNamedShadowsForThing: the thing's named shadows, sorted.
    pub fn named(&self, thing: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .shadows
            .lock()
            .iter()
            .filter(|((t, n), s)| t == thing && !n.is_empty() && !s.deleted)
            .map(|((_, n), _)| n.clone())
            .collect();
        names.sort();
        names
    }

    /// The newest `limit` changes of a shadow ('' = classic), newest first.
    pub async fn history(
        &self,
        thing: &str,
        name: &str,
        limit: i64,
    ) -> Result<Vec<HistoryEntry>, StorageError> {
        crate::storage::shadows::history(self.db.pool(), thing, name, limit).await
    }

    /// The changes that produced the given versions (for a diff in the console).
    pub async fn versions(
        &self,
        thing: &str,
        name: &str,
        wanted: &[i64],
    ) -> Result<Vec<HistoryEntry>, StorageError> {
        crate::storage::shadows::versions(self.db.pool(), thing, name, wanted).await
    }

    /// Serves the MQTT shadow topics until `stop`: one task decides and queues, another waits for
    /// durability and publishes, in order.
    pub async fn serve_mqtt(self: Arc<Self>, client: InternalClient, mut stop: watch::Receiver<bool>) {
        client.subscribe("$aws/things/+/shadow/+");
        client.subscribe("$aws/things/+/shadow/name/+/+");
        let (tx, mut rx) = mpsc::channel::<(String, Decided)>(4096);
        let publisher = {
            let me = self.clone();
            tokio::spawn(async move {
                while let Some((writer, d)) = rx.recv().await {
                    let _ = me.finish(d).await;
                    let mut f = me.in_flight.lock();
                    if let Some(n) = f.get_mut(&writer) {
                        *n -= 1;
                        if *n == 0 {
                            f.remove(&writer);
                        }
                    }
                }
            })
        };
        loop {
            let msg = tokio::select! {
                m = client.recv() => m,
                _ = stop.wait_for(|s| *s) => break,
            };
            let Some(Reserved::Shadow { thing, shadow, op }) = reserved(&msg.topic) else { continue };
            let name = shadow.unwrap_or("");
            let writer = msg.client_id.clone().unwrap_or_else(|| msg.principal.identifier());
            if !matches!(op, "update" | "get" | "delete") {
                continue;
            }
            let units = thingbox_model::usage::units(msg.payload.len(), thingbox_model::usage::RECORD_UNIT);
            self.broker.meter.add(Some(thing), thingbox_model::usage::Metric::ShadowOperations, units);
            let busy = {
                let mut f = self.in_flight.lock();
                let n = f.entry(writer.clone()).or_insert(0);
                *n += 1;
                *n > MAX_IN_FLIGHT
            } || self.throttled(thing);
            let mut decided = if busy {
                let e = ShadowError { code: 429, message: "Too Many Requests".into() };
                let token = shadow::client_token_of(&msg.payload);
                let topic = format!("{}/{op}/rejected", topic_prefix(thing, name));
                let now = now_secs();
                let event = (op != "get")
                    .then(|| {
                        let r = Refused {
                            thing,
                            name,
                            operation: op,
                            writer: &writer,
                            payload: &msg.payload,
                            client_token: token.clone(),
                        };
                        self.refused(r, &e, now)
                    })
                    .flatten();
                Decided {
                    publish: vec![(topic, e.document(token.as_deref(), now))],
                    reply: Err(e),
                    write: None,
                    event,
                    hops: 0,
                    cause: None,
                }
            } else {
                match op {
                    "update" => self.decide_update(thing, name, &msg.payload, &writer, true),
                    "get" => self.decide_get(thing, name, &msg.payload, true),
                    _ => self.decide_delete(thing, name, &msg.payload, &writer, true),
                }
            };
            decided.hops = msg.rule_hops;
            if let Some(t) = &msg.trace {
                t.step(shadow_step(thing, shadow, op, &decided.reply));
                decided.cause = Some(msg.clone());
            }
            if tx.send((writer, decided)).await.is_err() {
                break;
            }
        }
        drop(tx);
        let _ = publisher.await;
    }
}
