//! The engine's event bus: a broadcast of what happened, for the console (and, later, the
//! message-flow tracer). Producers ask [`Events::has_listeners`] first, so nothing is built or
//! formatted while nobody listens; a slow listener loses old events, never slows the engine.

use std::sync::Arc;

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

/// The bus.
#[derive(Debug, Clone)]
pub struct Events {
    tx: broadcast::Sender<Arc<Event>>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl Events {
    /// A bus that keeps up to `capacity` events for each slow listener.
    pub fn new(capacity: usize) -> Self {
        Self { tx: broadcast::channel(capacity).0 }
    }

    /// Whether anyone listens (check before building an event).
    pub fn has_listeners(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Publishes an event (dropped when nobody listens).
    pub fn emit(&self, e: Event) {
        let _ = self.tx.send(Arc::new(e));
    }

    /// Starts listening.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}
