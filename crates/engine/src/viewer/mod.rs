//! The console's view of the traffic: the consumer of the router's tap ([`crate::broker::tap`]),
//! which every [`BATCH_MS`] numbers what was captured and hands it to the live viewers (sampled
//! per socket, never waiting for one), the message history ([`history`]) and active recordings
//! ([`record`]); and the console's own publishing identity ([`CONSOLE_CLIENT_ID`]), used by the
//! publish panel and by replays.
//!
//! Architecture Invariant: nothing downstream of the tap can slow the router. Viewers, history and
//! recordings are fed from one task through bounded queues with `try_send`; what does not fit is
//! counted and reported, never waited for.

pub mod history;
pub mod record;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use parking_lot::Mutex;
use thingbox_api::viewer::{
    BATCH_MS, Batch, CONSOLE_CLIENT_ID, LIVE_PAYLOAD_LIMIT, MAX_BATCH_MESSAGES, MessageProperties,
    PublishRequest, TopicSummary, ViewedMessage, ViewerFrame,
};
use tokio::sync::{mpsc, watch};

use self::history::History;
use crate::Error;
use crate::broker::{Broker, Message, Principal, Properties, now_ms};
use crate::events::Bus;
use thingbox_api::console::ConsoleEvent;

/// A captured message with its sequence number.
pub type Captured = (u64, Arc<Message>);

/// Frames queued per viewer socket (each one [`BATCH_MS`] of traffic): past that, batches for that
/// socket are dropped and counted.
const VIEWER_QUEUE: usize = 16;
/// Most messages the history keeps from one window (20,000 messages/s): past that it samples
/// evenly, so that recording history never takes a core away from routing under a flood.
pub const HISTORY_PER_WINDOW: usize = 1_000;
/// Batches queued for the history writer.
pub const HISTORY_QUEUE: usize = 64;
/// Most filters one viewer or recording may hold.
pub const MAX_FILTERS: usize = 32;

/// A payload as text when it is UTF-8, base64 otherwise; cut at `limit` bytes (on a character
/// boundary for text).
pub fn payload_fields(payload: &[u8], limit: usize) -> (Option<String>, Option<String>) {
    let cut = &payload[..payload.len().min(limit)];
    match std::str::from_utf8(cut) {
        Ok(text) => (Some(text.to_owned()), None),
        Err(e) if e.error_len().is_none() && std::str::from_utf8(payload).is_ok() => {
            // Cut in the middle of a character of a UTF-8 payload.
            (Some(String::from_utf8_lossy(&cut[..e.valid_up_to()]).into_owned()), None)
        }
        Err(_) => (None, Some(B64.encode(cut))),
    }
}

/// The MQTT 5 properties as the console shows them.
pub fn properties_of(p: &Properties) -> MessageProperties {
    MessageProperties {
        payload_format_indicator: p.payload_format_indicator,
        message_expiry_interval: p.message_expiry_interval,
        response_topic: p.response_topic.clone(),
        correlation_data: p.correlation_data.as_ref().map(|b| B64.encode(b)),
        user_properties: p.user_properties.clone(),
        content_type: p.content_type.clone(),
    }
}

/// A message as the console shows it, its payload cut at `limit`.
pub fn view(id: u64, m: &Message, limit: usize) -> ViewedMessage {
    let (payload, payload_base64) = payload_fields(&m.payload, limit);
    ViewedMessage {
        id,
        timestamp: m.timestamp_ms,
        topic: m.topic.clone(),
        qos: m.qos,
        retain: m.retain,
        client_id: m.client_id.clone(),
        principal: m.principal.identifier(),
        size: m.payload.len(),
        payload,
        payload_base64,
        truncated: m.payload.len() > limit,
        properties: properties_of(&m.properties),
        trace: m.trace.as_ref().map(|t| t.id),
    }
}

/// Checks the filters a viewer or recording asks for.
pub fn check_filters(filters: &[String]) -> Result<(), Error> {
    if filters.len() > MAX_FILTERS {
        return Err(Error::InvalidRequest(format!(
            "{} filters given; at most {MAX_FILTERS} are allowed",
            filters.len()
        )));
    }
    for f in filters {
        thingbox_model::topic::check_filter(f)
            .map_err(|e| Error::InvalidRequest(format!("the topic filter '{f}' is not valid: {e}")))?;
    }
    Ok(())
}

fn live_match(filters: &[String], topic: &str) -> bool {
    filters.iter().any(|f| thingbox_model::topic::matches(f, topic))
}

/// The batch one viewer gets from one window: everything when it fits, otherwise the newest
/// message of as many topics as fit (then the newest of the rest), the others counted per topic.
fn batch_for(filters: &[String], window: &[Captured], dropped: u64) -> Option<Batch> {
    let matching: Vec<&Captured> = window.iter().filter(|(_, m)| live_match(filters, &m.topic)).collect();
    if matching.is_empty() && dropped == 0 {
        return None;
    }
    let mut batch = Batch { dropped, ..Batch::default() };
    if matching.len() <= MAX_BATCH_MESSAGES {
        batch.messages = matching.iter().map(|(id, m)| view(*id, m, LIVE_PAYLOAD_LIMIT)).collect();
        return Some(batch);
    }
    let mut keep = vec![false; matching.len()];
    let mut kept = 0;
    let mut topics = std::collections::HashSet::new();
    for (i, (_, m)) in matching.iter().enumerate().rev() {
        if kept == MAX_BATCH_MESSAGES {
            break;
        }
        if topics.insert(m.topic.as_str()) {
            keep[i] = true;
            kept += 1;
        }
    }
    for k in keep.iter_mut().rev() {
        if kept == MAX_BATCH_MESSAGES {
            break;
        }
        if !*k {
            *k = true;
            kept += 1;
        }
    }
    let mut summary: HashMap<&str, (usize, u64, u64)> = HashMap::new();
    for (i, (id, m)) in matching.iter().enumerate() {
        if keep[i] {
            batch.messages.push(view(*id, m, LIVE_PAYLOAD_LIMIT));
        } else {
            let n = summary.len();
            let e = summary.entry(m.topic.as_str()).or_insert((n, 0, 0));
            e.1 += 1;
            e.2 += m.payload.len() as u64;
        }
    }
    let mut summarized: Vec<_> = summary.into_iter().collect();
    summarized.sort_by_key(|(_, (order, _, _))| *order);
    batch.summarized = summarized
        .into_iter()
        .map(|(topic, (_, count, bytes))| TopicSummary { topic: topic.to_owned(), count, bytes })
        .collect();
    Some(batch)
}

#[derive(Debug)]
struct Slot {
    id: u64,
    filters: Vec<String>,
    tx: mpsc::Sender<String>,
    /// Messages this socket lost since its last delivered batch.
    dropped: u64,
}

/// The viewer service.
#[derive(Debug)]
pub struct ViewerService {
    broker: Arc<Broker>,
    /// The message history.
    pub history: Arc<History>,
    viewers: Mutex<Vec<Slot>>,
    recorders: record::Recorders,
    /// Replays in progress.
    pub replays: record::Replays,
    next_viewer: AtomicU64,
    tap_dropped: AtomicU64,
    console: Bus<ConsoleEvent>,
}

/// A live viewer (one WebSocket): its frames arrive on `rx`; dropping it detaches it.
#[derive(Debug)]
pub struct ViewerHandle {
    id: u64,
    service: Arc<ViewerService>,
    /// Serialized [`ViewerFrame`]s.
    pub rx: mpsc::Receiver<String>,
}

impl ViewerHandle {
    /// Replaces this viewer's filters.
    pub fn set_filters(&self, filters: Vec<String>) -> Result<(), Error> {
        check_filters(&filters)?;
        if let Some(slot) = self.service.viewers.lock().iter_mut().find(|s| s.id == self.id) {
            slot.filters = filters;
        }
        Ok(())
    }
}

impl Drop for ViewerHandle {
    fn drop(&mut self) {
        self.service.viewers.lock().retain(|s| s.id != self.id);
        self.service.update_tap();
    }
}

impl ViewerService {
    /// The service over `broker`'s tap, with its history, recordings in `data_dir/recordings`.
    pub fn new(
        broker: Arc<Broker>,
        history: Arc<History>,
        data_dir: &Path,
        console: Bus<ConsoleEvent>,
    ) -> Arc<Self> {
        let s = Arc::new(Self {
            broker,
            history,
            viewers: Mutex::new(Vec::new()),
            recorders: record::Recorders::new(data_dir.join(record::RECORDINGS_DIR)),
            replays: record::Replays::default(),
            next_viewer: AtomicU64::new(1),
            tap_dropped: AtomicU64::new(0),
            console,
        });
        s.update_tap();
        s
    }

    /// Captures only while someone uses what is captured.
    fn update_tap(&self) {
        let on = self.history.enabled() || !self.viewers.lock().is_empty() || self.recorders.any_active();
        self.broker.tap.set_enabled(on);
    }

    /// A new live viewer with no filters yet.
    pub fn attach(self: &Arc<Self>) -> ViewerHandle {
        let (tx, rx) = mpsc::channel(VIEWER_QUEUE);
        let id = self.next_viewer.fetch_add(1, Ordering::Relaxed);
        self.viewers.lock().push(Slot { id, filters: Vec::new(), tx, dropped: 0 });
        self.update_tap();
        ViewerHandle { id, service: self.clone(), rx }
    }

    /// Live viewers now.
    pub fn viewer_count(&self) -> usize {
        self.viewers.lock().len()
    }

    /// Messages the tap could not keep since start.
    pub fn tap_dropped(&self) -> u64 {
        self.tap_dropped.load(Ordering::Relaxed)
    }

    /// The recordings.
    pub fn recorders(&self) -> &record::Recorders {
        &self.recorders
    }

    /// Starts recording `filters` into a new file; returns its name.
    pub fn start_recording(&self, filters: Vec<String>) -> Result<thingbox_api::viewer::Recording, Error> {
        check_filters(&filters)?;
        if filters.is_empty() {
            return Err(Error::InvalidRequest("give at least one topic filter to record".into()));
        }
        let r = self.recorders.start(filters)?;
        self.update_tap();
        Ok(r)
    }

    /// Stops recording `name`.
    pub fn stop_recording(&self, name: &str) -> Result<thingbox_api::viewer::Recording, Error> {
        let r = self.recorders.stop(name)?;
        self.update_tap();
        Ok(r)
    }

    /// Deletes recording `name` (stopping it first if it runs).
    pub fn delete_recording(&self, name: &str) -> Result<(), Error> {
        self.recorders.delete(name)?;
        self.update_tap();
        Ok(())
    }

    /// Numbers and hands out the tap's captures every [`BATCH_MS`] until `stop`; then stops the
    /// replays, closes the recordings and lets the history writer finish.
    pub async fn run(
        self: Arc<Self>,
        history_tx: mpsc::Sender<Vec<Captured>>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut next_id = self.history.next_id();
        let mut tick = tokio::time::interval(Duration::from_millis(BATCH_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut buf: Vec<Arc<Message>> = Vec::new();
        // Whether some viewer is still owed a count of what it lost (told with the next batch,
        // even when no traffic follows).
        let mut owed = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            let dropped = self.broker.tap.drain(&mut buf);
            if buf.is_empty() && dropped == 0 && !owed {
                continue;
            }
            self.tap_dropped.fetch_add(dropped, Ordering::Relaxed);
            let window: Vec<Captured> = buf
                .drain(..)
                .map(|m| {
                    next_id += 1;
                    if let Some(t) = &m.trace {
                        t.set_message_id(next_id - 1);
                    }
                    (next_id - 1, m)
                })
                .collect();
            owed = self.deliver(&window, dropped);
            self.recorders.write(&window);
            if self.history.enabled() && !window.is_empty() {
                let kept = sample(window, HISTORY_PER_WINDOW);
                self.history.dropped.fetch_add(kept.1, Ordering::Relaxed);
                if let Err(mpsc::error::TrySendError::Full(w)) = history_tx.try_send(kept.0) {
                    self.history.dropped.fetch_add(w.len() as u64, Ordering::Relaxed);
                }
            }
        }
        self.replays.stop_all().await;
        self.recorders.stop_all();
        self.broker.tap.set_enabled(false);
    }

    /// Hands one window to every viewer; true if some viewer could not take its batch.
    fn deliver(&self, window: &[Captured], dropped: u64) -> bool {
        let mut viewers = self.viewers.lock();
        viewers.retain_mut(|slot| {
            let Some(batch) = batch_for(&slot.filters, window, dropped + slot.dropped) else { return true };
            // If this batch cannot be queued, everything it would have told is lost: say so next time.
            let lost = batch.dropped
                + batch.messages.len() as u64
                + batch.summarized.iter().map(|s| s.count).sum::<u64>();
            let Ok(text) = serde_json::to_string(&ViewerFrame::Batch(batch)) else { return true };
            match slot.tx.try_send(text) {
                Ok(()) => {
                    slot.dropped = 0;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    slot.dropped = lost;
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        viewers.iter().any(|s| s.dropped > 0)
    }

    /// Publishes for the console (the publish panel, re-publish, replays) through the router, as
    /// client [`CONSOLE_CLIENT_ID`].
    pub async fn publish(&self, req: PublishRequest) -> Result<(), Error> {
        let mut msg = console_message(req)?;
        msg.begin_trace(&self.broker.tracer, || thingbox_api::trace::Step::Published {
            identity: "the console".into(),
            principal: Principal::Service("console").identifier(),
            things: Vec::new(),
            protocol: "HTTP (console)".into(),
            peer: None,
        });
        self.broker.publish(msg).await?;
        Ok(())
    }

    /// Tells the console a replay moved.
    fn replay_event(&self, r: thingbox_api::viewer::Replay) {
        self.console.emit(ConsoleEvent::Replay(r));
    }

    /// Starts a replay of `messages` at `speed`.
    pub fn start_replay(
        self: &Arc<Self>,
        source: String,
        messages: Vec<Message>,
        speed: f64,
        stop: watch::Receiver<bool>,
    ) -> thingbox_api::viewer::Replay {
        let me = self.clone();
        self.replays.start(
            source,
            messages,
            speed,
            stop,
            move |m| {
                let me = me.clone();
                async move { me.broker.publish(m).await.map_err(|e| e.to_string()) }
            },
            {
                let me = self.clone();
                move |r| me.replay_event(r)
            },
        )
    }
}

/// At most `max` of `window`, evenly spaced (the newest always kept), and how many were left out.
fn sample(window: Vec<Captured>, max: usize) -> (Vec<Captured>, u64) {
    let n = window.len();
    if n <= max {
        return (window, 0);
    }
    let picks: Vec<usize> = (1..=max).map(|k| k * n / max - 1).collect();
    let mut next = picks.iter().peekable();
    let kept: Vec<Captured> = window
        .into_iter()
        .enumerate()
        .filter(|(i, _)| next.next_if(|&&p| p == *i).is_some())
        .map(|(_, c)| c)
        .collect();
    (kept, (n - max) as u64)
}

fn invalid(m: impl Into<String>) -> Error {
    Error::InvalidRequest(m.into())
}

/// Checks a console publish and builds its message (nothing is routed when this fails).
pub fn console_message(req: PublishRequest) -> Result<Message, Error> {
    let PublishRequest { topic, payload, payload_base64, qos, retain, properties } = req;
    if qos > 1 {
        return Err(invalid(format!("qos {qos} is not supported; AWS IoT accepts 0 or 1")));
    }
    let payload: Bytes = match payload_base64 {
        Some(b) if payload.is_empty() => {
            B64.decode(b.as_bytes()).map_err(|_| invalid("payloadBase64 is not valid base64"))?.into()
        }
        Some(_) => return Err(invalid("give payload or payloadBase64, not both")),
        None => payload.into_bytes().into(),
    };
    crate::broker::check_publish(&topic, retain, payload.len())?;
    let correlation_data = properties
        .correlation_data
        .map(|c| B64.decode(c.as_bytes()).map_err(|_| invalid("correlationData is not valid base64")))
        .transpose()?
        .map(Bytes::from);
    if let Some(rt) = &properties.response_topic {
        thingbox_model::topic::check_name(rt)
            .map_err(|e| invalid(format!("Invalid response topic '{rt}': {e}")))?;
    }
    if properties.payload_format_indicator.is_some_and(|p| p > 1) {
        return Err(invalid("payloadFormatIndicator must be 0 (bytes) or 1 (UTF-8)"));
    }
    Ok(Message {
        topic,
        payload,
        qos,
        retain,
        properties: Properties {
            payload_format_indicator: properties.payload_format_indicator,
            message_expiry_interval: properties.message_expiry_interval,
            response_topic: properties.response_topic,
            correlation_data,
            user_properties: properties.user_properties,
            content_type: properties.content_type,
        },
        client_id: Some(CONSOLE_CLIENT_ID.to_owned()),
        principal: Principal::Service("console"),
        timestamp_ms: now_ms(),
        rule_hops: 0,
        trace: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use thingbox_model::topic::MAX_PAYLOAD_BYTES as MAX_PAYLOAD;

    fn cap(id: u64, topic: &str) -> Captured {
        (
            id,
            Arc::new(Message {
                topic: topic.into(),
                payload: Bytes::from_static(b"{\"t\":1}"),
                qos: 0,
                retain: false,
                properties: Properties::default(),
                client_id: Some("dev".into()),
                principal: Principal::Plain("plain".into()),
                timestamp_ms: 1,
                rule_hops: 0,
                trace: None,
            }),
        )
    }

    #[test]
    fn a_batch_carries_everything_that_fits() {
        let window = vec![cap(1, "a/1"), cap(2, "$aws/things/t/shadow/update"), cap(3, "b")];
        let b = batch_for(&["a/#".into(), "$aws/#".into()], &window, 0).unwrap();
        assert_eq!(b.messages.iter().map(|m| m.id).collect::<Vec<_>>(), [1, 2]);
        assert!(b.summarized.is_empty());
        assert!(batch_for(&["c".into()], &window, 0).is_none(), "nothing to say");
        assert_eq!(batch_for(&["c".into()], &window, 7).unwrap().dropped, 7, "losses are always told");
        assert!(
            batch_for(&["#".into()], &window, 0).unwrap().messages.iter().all(|m| !m.topic.starts_with('$'))
        );
    }

    #[test]
    fn an_overfull_batch_keeps_every_topics_newest_and_counts_the_rest() {
        let mut window = Vec::new();
        for i in 0..(MAX_BATCH_MESSAGES as u64 * 3) {
            window.push(cap(i, &format!("t/{}", i % 10)));
        }
        let b = batch_for(&["#".into()], &window, 0).unwrap();
        assert_eq!(b.messages.len(), MAX_BATCH_MESSAGES);
        let ids: Vec<u64> = b.messages.iter().map(|m| m.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first");
        let last = window.len() as u64 - 1;
        for t in 0..10 {
            assert!(ids.contains(&(last - t)), "the newest of every topic is carried");
        }
        let summarized: u64 = b.summarized.iter().map(|s| s.count).sum();
        assert_eq!(summarized as usize + b.messages.len(), window.len());
        assert_eq!(b.summarized.len(), 10);
    }

    #[test]
    fn the_history_samples_a_flood_evenly_and_keeps_the_newest() {
        let window: Vec<Captured> = (0..2500).map(|i| cap(i, "t")).collect();
        let (kept, left_out) = sample(window, 1000);
        assert_eq!((kept.len(), left_out), (1000, 1500));
        assert_eq!(kept.last().unwrap().0, 2499);
        let ids: Vec<u64> = kept.iter().map(|c| c.0).collect();
        assert!(ids.windows(2).all(|w| (2..=3).contains(&(w[1] - w[0]))), "evenly spaced");
        let small: Vec<Captured> = (0..10).map(|i| cap(i, "t")).collect();
        assert_eq!(sample(small, 1000).0.len(), 10);
    }

    #[test]
    fn payloads_are_text_or_base64_and_cut_on_a_character() {
        assert_eq!(payload_fields(b"hello", 100), (Some("hello".into()), None));
        assert_eq!(payload_fields(&[0xff, 0, 1], 100), (None, Some("/wAB".into())));
        assert_eq!(payload_fields("héllo".as_bytes(), 2), (Some("h".into()), None));
        let m = cap(1, "a").1;
        assert!(!view(1, &m, 3).payload.unwrap().is_empty());
        assert!(view(1, &m, 3).truncated);
    }

    #[test]
    fn console_publishes_are_checked_before_anything_is_routed() {
        let ok = console_message(PublishRequest {
            topic: "a/b".into(),
            payload: "{}".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.client_id.as_deref(), Some(CONSOLE_CLIENT_ID));
        for (req, want) in [
            (PublishRequest { topic: "a/+".into(), ..Default::default() }, "Invalid topic"),
            (PublishRequest { topic: "a".into(), qos: 2, ..Default::default() }, "qos 2"),
            (
                PublishRequest { topic: "a".into(), payload_base64: Some("!!".into()), ..Default::default() },
                "base64",
            ),
            (
                PublishRequest { topic: "$aws/events/presence/connected/x".into(), ..Default::default() },
                "reserved",
            ),
        ] {
            let e = console_message(req).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        let big =
            PublishRequest { topic: "a".into(), payload: "x".repeat(MAX_PAYLOAD + 1), ..Default::default() };
        assert!(matches!(console_message(big), Err(Error::TooLarge(_))));
    }
}
