//! Lifecycle events the router publishes: `$aws/events/presence/…` and
//! `$aws/events/subscriptions/…`, kept for the console's overview and sent on its stream.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::json;
use thingbox_api::console::{ConsoleEvent, LifecycleEntry};

use super::{Broker, DisconnectReason, Message, Principal, RECENT_EVENTS, now_ms};

impl Broker {
    /// Publishes a lifecycle event (`$aws/events/...`) with a JSON payload. Client ids containing
    /// `+` or `#` produce no events, as on AWS.
    pub fn event(&self, client_id: &str, topic: String, payload: serde_json::Value) {
        if client_id.contains(['+', '#']) {
            return;
        }
        let body = Bytes::from(payload.to_string());
        {
            let mut recent = self.recent.lock();
            if recent.len() == RECENT_EVENTS {
                recent.pop_front();
            }
            recent.push_back(LifecycleEntry { topic: topic.clone(), payload: payload.clone() });
        }
        if self.console.has_listeners() {
            self.console.emit(ConsoleEvent::Lifecycle { topic: topic.clone(), payload });
        }
        self.route(Arc::new(Message::from_service("lifecycle", topic, body)));
    }

    /// `$aws/events/presence/connected/{clientId}`.
    pub fn event_connected(
        &self,
        client_id: &str,
        principal: &Principal,
        ip: &str,
        session_id: &str,
        version: u64,
    ) {
        self.event(
            client_id,
            format!("$aws/events/presence/connected/{client_id}"),
            json!({
                "clientId": client_id,
                "timestamp": now_ms(),
                "eventType": "connected",
                "sessionIdentifier": session_id,
                "principalIdentifier": principal.identifier(),
                "ipAddress": ip,
                "versionNumber": version,
            }),
        );
    }

    /// `$aws/events/presence/disconnected/{clientId}`.
    pub fn event_disconnected(
        &self,
        client_id: &str,
        principal: &Principal,
        session_id: &str,
        version: u64,
        reason: DisconnectReason,
    ) {
        self.event(
            client_id,
            format!("$aws/events/presence/disconnected/{client_id}"),
            json!({
                "clientId": client_id,
                "timestamp": now_ms(),
                "eventType": "disconnected",
                "sessionIdentifier": session_id,
                "principalIdentifier": principal.identifier(),
                "clientInitiatedDisconnect": reason == DisconnectReason::ClientInitiated,
                "disconnectReason": reason.as_str(),
                "versionNumber": version,
            }),
        );
    }

    /// `$aws/events/subscriptions/{subscribed|unsubscribed}/{clientId}`.
    pub fn event_subscriptions(
        &self,
        client_id: &str,
        principal: &Principal,
        session_id: &str,
        subscribed: bool,
        topics: &[String],
    ) {
        let kind = if subscribed { "subscribed" } else { "unsubscribed" };
        self.event(
            client_id,
            format!("$aws/events/subscriptions/{kind}/{client_id}"),
            json!({
                "clientId": client_id,
                "timestamp": now_ms(),
                "eventType": kind,
                "sessionIdentifier": session_id,
                "principalIdentifier": principal.identifier(),
                "topics": topics,
            }),
        );
    }
}
