//! A session: a client id's subscriptions and its outbound queue, which outlives a connection when
//! the session is persistent.
//!
//! The router pushes deliveries into the queue under the session's lock and wakes the connection's
//! writer through `notify`; the writer moves QoS 1 deliveries into `inflight` as it sends them and
//! a PUBACK removes them. The queue is bounded: past `max_queued`, QoS 0 deliveries are dropped and
//! QoS 1 deliveries are dropped too (counted), so one slow subscriber never holds up the others.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::{Notify, oneshot};

use super::message::Message;

/// Options of one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubOptions {
    /// Granted QoS.
    pub qos: u8,
    /// MQTT 5 no-local.
    pub no_local: bool,
    /// MQTT 5 retain-as-published.
    pub retain_as_published: bool,
}

/// A message on its way to one session.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message.
    pub message: Arc<Message>,
    /// Delivered QoS: the lower of publish and subscription.
    pub qos: u8,
    /// RETAIN flag on delivery (true only for retained messages sent on subscribe, or
    /// retain-as-published).
    pub retain: bool,
    /// Set on a QoS 1 redelivery after reconnect (the DUP flag).
    pub dup: bool,
}

/// Why a connection was closed, as lifecycle events name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The client sent DISCONNECT.
    ClientInitiated,
    /// Another connection took the client id.
    DuplicateClientId,
    /// No packet for 1.5 × keep-alive.
    KeepAliveTimeout,
    /// The socket closed or failed.
    ConnectionLost,
    /// The client broke the protocol or a limit.
    ClientError,
    /// The client's certificate stopped being ACTIVE, or authorization failed.
    AuthError,
    /// The broker is shutting down.
    ServerInitiated,
}

impl DisconnectReason {
    /// AWS's `disconnectReason` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientInitiated => "CLIENT_INITIATED_DISCONNECT",
            Self::DuplicateClientId => "DUPLICATE_CLIENTID",
            Self::KeepAliveTimeout => "MQTT_KEEP_ALIVE_TIMEOUT",
            Self::ConnectionLost => "CONNECTION_LOST",
            Self::ClientError => "CLIENT_ERROR",
            Self::AuthError => "AUTH_ERROR",
            Self::ServerInitiated => "SERVER_INITIATED_DISCONNECT",
        }
    }
}

/// The mutable part of a session.
#[derive(Debug)]
pub struct SessionState {
    /// Filter → options.
    pub subscriptions: HashMap<String, SubOptions>,
    /// Deliveries waiting to be sent.
    pub queue: VecDeque<Delivery>,
    /// QoS 1 deliveries sent and not yet acknowledged, by packet id.
    pub inflight: BTreeMap<u16, Delivery>,
    next_pkid: u16,
    /// The live connection's number, if connected.
    pub connection: Option<u64>,
    /// Tells the live connection to close, and why.
    pub kick: Option<oneshot::Sender<DisconnectReason>>,
    /// Whether the session survives disconnection.
    pub persistent: bool,
    /// Seconds it survives disconnection.
    pub expiry_secs: u64,
    /// When its connection went away.
    pub disconnected_at: Option<Instant>,
    /// Deliveries dropped because the queue was full or the client offline with QoS 0.
    pub dropped: u64,
    /// Lifecycle `versionNumber`, +1 per connection.
    pub version: u64,
    /// Who the live (or last) connection authenticated as.
    pub principal: Option<super::message::Principal>,
}

/// A session.
#[derive(Debug)]
pub struct Session {
    /// Unique per session object (a new session for the same client id gets a new id).
    pub id: u64,
    /// The client id.
    pub client_id: String,
    /// Most queued deliveries.
    pub max_queued: usize,
    /// The state.
    pub state: Mutex<SessionState>,
    /// Wakes the writer of the live connection.
    pub notify: Notify,
}

impl Session {
    /// A new, empty, disconnected session.
    pub fn new(id: u64, client_id: String, max_queued: usize) -> Self {
        Self {
            id,
            client_id,
            max_queued,
            state: Mutex::new(SessionState {
                subscriptions: HashMap::new(),
                queue: VecDeque::new(),
                inflight: BTreeMap::new(),
                next_pkid: 0,
                connection: None,
                kick: None,
                persistent: false,
                expiry_secs: 0,
                disconnected_at: None,
                dropped: 0,
                version: 0,
                principal: None,
            }),
            notify: Notify::new(),
        }
    }

    /// Queues a delivery; returns false if it was dropped.
    pub fn enqueue(&self, d: Delivery) -> bool {
        {
            let mut st = self.state.lock();
            let online = st.connection.is_some();
            if (d.qos == 0 && !online) || st.queue.len() >= self.max_queued {
                st.dropped += 1;
                return false;
            }
            if !online && !st.persistent {
                st.dropped += 1;
                return false;
            }
            st.queue.push_back(d);
        }
        self.notify.notify_one();
        true
    }
}

impl SessionState {
    /// The next free packet id (1..=65535, skipping ids in flight).
    pub fn next_packet_id(&mut self) -> u16 {
        loop {
            self.next_pkid = self.next_pkid.wrapping_add(1);
            if self.next_pkid == 0 {
                self.next_pkid = 1;
            }
            if !self.inflight.contains_key(&self.next_pkid) {
                return self.next_pkid;
            }
        }
    }
}
