//! The engine's event buses: broadcasts of what happened, for the console (the message-flow
//! tracer does not use them: a traced message carries its own trace, `crate::trace`). Producers ask [`Bus::has_listeners`] first, so nothing is built or
//! formatted while nobody listens; a slow listener loses old events, never slows the engine.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use thingbox_api::console::ConsoleEvent;
use thingbox_model::policy::{Binding, StatementRef};
use tokio::sync::broadcast;

/// One authorization decision, with its reasons.
#[derive(Debug, Clone)]
pub struct AuthDecision {
    /// The caller's identity (certificate id, or the plain listener's identity).
    pub principal: String,
    /// The MQTT client id.
    pub client_id: String,
    /// `iot:Connect`, `iot:Publish`, …
    pub action: &'static str,
    /// The resource ARN checked.
    pub resource: String,
    /// `ALLOWED`, `EXPLICIT_DENY` or `IMPLICIT_DENY`.
    pub decision: &'static str,
    /// Allow statements that matched.
    pub allowed_by: Vec<StatementRef>,
    /// Deny statements that matched.
    pub denied_by: Vec<StatementRef>,
    /// How each variable resolved.
    pub bindings: Vec<Binding>,
    /// When (ms since the epoch).
    pub timestamp_ms: i64,
}

/// Something that happened in the engine.
#[derive(Debug, Clone)]
pub enum Event {
    /// An authorization decision on device traffic.
    Authorization(AuthDecision),
}

/// The engine's buses: authorization decisions (costly to explain, so only built when someone
/// listens to them) and the console's change stream (registry, lifecycle, shadows).
#[derive(Debug, Clone, Default)]
pub struct Events {
    /// Authorization decisions.
    pub auth: Bus<Event>,
    /// What the console shows live.
    pub console: Bus<ConsoleEvent>,
}

/// One broadcast bus.
#[derive(Debug)]
pub struct Bus<T> {
    tx: broadcast::Sender<Arc<T>>,
    /// Live receivers, counted here so that `has_listeners` is one atomic load (the broadcast
    /// channel's own count takes a lock shared by every producer).
    listeners: Arc<AtomicUsize>,
}

impl<T> Clone for Bus<T> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone(), listeners: self.listeners.clone() }
    }
}

/// A listener; dropping it stops the events.
#[derive(Debug)]
pub struct Listener<T> {
    rx: broadcast::Receiver<Arc<T>>,
    listeners: Arc<AtomicUsize>,
}

impl<T: Clone> Listener<T> {
    /// The next event (`Lagged` when this listener fell behind and lost some).
    pub async fn recv(&mut self) -> Result<Arc<T>, broadcast::error::RecvError> {
        self.rx.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Result<Arc<T>, broadcast::error::TryRecvError> {
        self.rx.try_recv()
    }
}

impl<T> Drop for Listener<T> {
    fn drop(&mut self) {
        self.listeners.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<T> Default for Bus<T> {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl<T> Bus<T> {
    /// A bus that keeps up to `capacity` events for each slow listener.
    pub fn new(capacity: usize) -> Self {
        Self { tx: broadcast::channel(capacity).0, listeners: Arc::new(AtomicUsize::new(0)) }
    }

    /// How many listen.
    pub fn listeners(&self) -> usize {
        self.listeners.load(Ordering::Relaxed)
    }

    /// Whether anyone listens (check before building an event).
    pub fn has_listeners(&self) -> bool {
        self.listeners.load(Ordering::Relaxed) > 0
    }

    /// Publishes an event (dropped when nobody listens).
    pub fn emit(&self, e: T) {
        if self.has_listeners() {
            let _ = self.tx.send(Arc::new(e));
        }
    }

    /// Starts listening.
    pub fn subscribe(&self) -> Listener<T> {
        self.listeners.fetch_add(1, Ordering::Relaxed);
        Listener { rx: self.tx.subscribe(), listeners: self.listeners.clone() }
    }
}
