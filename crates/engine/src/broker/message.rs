//! What flows through the router: a message with its publisher's identity attached, and the
//! identities that can publish.

use bytes::Bytes;
use thingbox_api::trace::Step;

use crate::storage::retained::{RetainedRow, StoredProps};

/// Who a connection or in-process client is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A device authenticated by an X.509 certificate (its certificate id).
    Certificate(String),
    /// A client of the plain (non-TLS) listener, which all share one configured identity.
    Plain(String),
    /// One of Thingbox's own services (shadow, jobs, rules, console), by name.
    Service(&'static str),
    /// An HTTP publish (iot-data Publish) by an AWS client.
    Http,
    /// A SigV4-signed MQTT-over-WebSocket client, by access key id.
    Iam(String),
}

impl Principal {
    /// AWS's `principalIdentifier` / `principal()` value.
    pub fn identifier(&self) -> String {
        match self {
            Self::Certificate(id) => id.clone(),
            Self::Plain(name) => name.clone(),
            Self::Service(name) => format!("thingbox:{name}"),
            Self::Http => "n/a".into(),
            Self::Iam(key) => key.clone(),
        }
    }
}

/// MQTT 5 publish properties Thingbox carries end to end (the wire crate reads and writes them).
pub use thingbox_wire::mqtt::Properties;

/// One published message.
#[derive(Debug, Clone)]
pub struct Message {
    /// Topic name.
    pub topic: String,
    /// Payload.
    pub payload: Bytes,
    /// QoS it was published with (0 or 1).
    pub qos: u8,
    /// Whether it was published with RETAIN.
    pub retain: bool,
    /// MQTT 5 properties.
    pub properties: Properties,
    /// The publisher's client id (`None` for HTTP publishes and services).
    pub client_id: Option<String>,
    /// The publisher.
    pub principal: Principal,
    /// When the router accepted it (ms since the epoch).
    pub timestamp_ms: i64,
    /// How many rule republishes led to it (0 for a message a client published): the rules engine
    /// stops a chain that grows past `rules::MAX_RULE_HOPS`, so a rule that republishes to its
    /// own topic cannot loop forever.
    pub rule_hops: u8,
    /// The message's trace, when the tracer follows it (`crate::trace`); `None` for most.
    pub trace: Option<std::sync::Arc<crate::trace::Trace>>,
}

impl Message {
    /// The bytes AWS meters a PUBLISH of this message on: topic, payload, MQTT 5 properties.
    pub fn metered_len(&self) -> usize {
        self.topic.len() + self.payload.len() + self.properties.metered_len()
    }

    /// A QoS 1, non-retained message one of Thingbox's own services publishes now (replies,
    /// notifications, lifecycle events).
    pub fn from_service(service: &'static str, topic: String, payload: impl Into<Bytes>) -> Self {
        Self {
            topic,
            payload: payload.into(),
            qos: 1,
            retain: false,
            properties: Properties::default(),
            client_id: None,
            principal: Principal::Service(service),
            timestamp_ms: super::now_ms(),
            rule_hops: 0,
            trace: None,
        }
    }
}

impl Message {
    /// The facts a trace of this message starts from.
    pub fn trace_head<'a>(&'a self, principal: &'a str) -> crate::trace::Head<'a> {
        crate::trace::Head {
            topic: &self.topic,
            qos: self.qos,
            retain: self.retain,
            client_id: self.client_id.as_deref(),
            principal,
            payload: &self.payload,
            now_ms: self.timestamp_ms,
        }
    }

    /// Starts this message's trace if the tracer wants it, with the publisher's step.
    pub fn begin_trace(&mut self, tracer: &crate::trace::Tracer, published: impl FnOnce() -> Step) {
        // Decided before anything is built: an untraced message costs no allocation here.
        let Some(armed) = tracer.wants(self.client_id.as_deref(), &self.topic, self.timestamp_ms) else {
            return;
        };
        let principal = self.principal.identifier();
        let t = tracer.open(self.trace_head(&principal), armed, None);
        t.step_at(self.timestamp_ms, published());
        self.trace = Some(t);
    }

    /// Traces this message when `cause`, the message it was published because of, is traced: it
    /// gets a trace of its own, which `cause`'s trace points to.
    pub fn follow(&mut self, cause: &Message, tracer: &crate::trace::Tracer, by: impl FnOnce() -> String) {
        let Some(parent) = &cause.trace else { return };
        let principal = self.principal.identifier();
        let by = by();
        let t = tracer.child(parent, by.clone(), self.trace_head(&principal));
        t.step_at(
            self.timestamp_ms,
            Step::Published {
                identity: by,
                principal,
                things: Vec::new(),
                protocol: "internal".into(),
                peer: None,
            },
        );
        self.trace = Some(t);
    }
}

impl Principal {
    /// How the tracer names this kind of identity.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Certificate(_) => "certificate",
            Self::Plain(_) => "plain listener",
            Self::Service(_) => "Thingbox service",
            Self::Http => "iot-data Publish (HTTP)",
            Self::Iam(_) => "IAM (MQTT over WebSocket)",
        }
    }

    /// The stored text form (`cert:<id>`, `plain:<name>`, `service:<name>`, `http`, `iam:<key>`).
    pub fn to_text(&self) -> String {
        match self {
            Self::Certificate(id) => format!("cert:{id}"),
            Self::Plain(n) => format!("plain:{n}"),
            Self::Service(n) => format!("service:{n}"),
            Self::Http => "http".into(),
            Self::Iam(k) => format!("iam:{k}"),
        }
    }

    /// Reads [`to_text`](Self::to_text)'s form (a service name, which is static, reads as HTTP).
    pub fn from_text(text: &str) -> Self {
        match text.split_once(':') {
            Some(("cert", id)) => Self::Certificate(id.into()),
            Some(("plain", n)) => Self::Plain(n.into()),
            Some(("iam", k)) => Self::Iam(k.into()),
            _ => Self::Http,
        }
    }
}

impl Message {
    /// The retained-table row of this message.
    pub fn to_row(&self) -> RetainedRow {
        let p = &self.properties;
        RetainedRow {
            topic: self.topic.clone(),
            payload: self.payload.clone(),
            qos: self.qos,
            properties: StoredProps {
                payload_format_indicator: p.payload_format_indicator,
                message_expiry_interval: p.message_expiry_interval,
                response_topic: p.response_topic.clone(),
                correlation_data: p.correlation_data.as_ref().map(|b| b.to_vec()),
                user_properties: p.user_properties.clone(),
                content_type: p.content_type.clone(),
            },
            client_id: self.client_id.clone(),
            principal: self.principal.to_text(),
            ts_ms: self.timestamp_ms,
        }
    }

    /// A retained message read back from its row.
    pub fn from_row(r: RetainedRow) -> Self {
        Self::from_stored(r, true)
    }

    /// A message read back from storage, with its RETAIN flag.
    pub fn from_stored(r: RetainedRow, retain: bool) -> Self {
        let p = r.properties;
        Message {
            topic: r.topic,
            payload: r.payload,
            qos: r.qos,
            retain,
            properties: Properties {
                payload_format_indicator: p.payload_format_indicator,
                message_expiry_interval: p.message_expiry_interval,
                response_topic: p.response_topic,
                correlation_data: p.correlation_data.map(Into::into),
                user_properties: p.user_properties,
                content_type: p.content_type,
            },
            client_id: r.client_id,
            principal: Principal::from_text(&r.principal),
            timestamp_ms: r.ts_ms,
            rule_hops: 0,
            trace: None,
        }
    }
}
