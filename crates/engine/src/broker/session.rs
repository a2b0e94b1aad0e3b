//! A session: a client id's subscriptions and its outbound queue, which outlives a connection when
//! the session is persistent.
//!
//! The router pushes deliveries into the queue under the session's lock and wakes the connection's
//! writer through `notify`; the writer moves QoS 1 deliveries into `inflight` as it sends them and
//! a PUBACK removes them. The queue is bounded by count (`max_queued`) and by payload bytes
//! (`MAX_QUEUED_BYTES`): past either, deliveries to that session are dropped (and counted), so one
//! slow subscriber never holds up the others or the publisher.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::{Notify, oneshot};

use super::message::Message;
use crate::storage::{Pending, Writer};

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

/// Payload bytes one session may hold queued.
pub const MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;

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
    /// Deliveries waiting to be sent (use `push`/`pop` to keep `queued_bytes` right).
    queue: VecDeque<Delivery>,
    /// Payload bytes in `queue`.
    queued_bytes: usize,
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
    /// The address the live (or last) connection came from.
    pub peer_ip: Option<std::net::IpAddr>,
    /// Whether the session has a row in storage (see `broker::persist`).
    pub stored: bool,
    /// Whether storage may hold queued messages the live connection has not had acknowledged yet.
    pub stored_queue: bool,
    /// Whether the router counts it among the persistent sessions without a connection.
    pub counted_offline: bool,
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
                queued_bytes: 0,
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
                peer_ip: None,
                stored: false,
                stored_queue: false,
                counted_offline: false,
            }),
            notify: Notify::new(),
        }
    }

    /// Queues a delivery; returns false if it was dropped.
    pub fn enqueue(&self, d: Delivery) -> bool {
        !matches!(self.enqueue_for(d, None).0, Queued::Dropped | Queued::DroppedOffline)
    }

    /// Queues a delivery and says whether the session was connected. For a stored persistent
    /// session without a connection, the message is also handed to `store` under the session's
    /// lock (so the write is ordered with the session's other writes); the returned write completes
    /// when it is durable.
    pub fn enqueue_for(&self, d: Delivery, store: Option<&Writer>) -> (Queued, Pending) {
        let (online, pending) = {
            let mut st = self.state.lock();
            let online = st.connection.is_some();
            let full = st.queue.len() >= self.max_queued
                || st.queued_bytes + d.message.payload.len() > MAX_QUEUED_BYTES;
            if !online && (d.qos == 0 || !st.persistent) {
                st.dropped += 1;
                return (Queued::DroppedOffline, Pending::done());
            }
            if full {
                st.dropped += 1;
                return (Queued::Dropped, Pending::done());
            }
            let pending = match store {
                Some(writer) if !online && st.stored => {
                    st.stored_queue = true;
                    writer.submit(vec![super::persist::enqueued(self, &d.message, d.qos)])
                }
                _ => Pending::done(),
            };
            st.push_back(d);
            (online, pending)
        };
        if online {
            self.notify.notify_one();
            (Queued::Online, pending)
        } else {
            (Queued::Offline, pending)
        }
    }
}

/// What [`Session::enqueue_for`] did with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// Dropped: the queue was full.
    Dropped,
    /// Dropped: QoS 0 (or a session that is not persistent) without a connection.
    DroppedOffline,
    /// Queued for the live connection.
    Online,
    /// Queued for a persistent session without a connection.
    Offline,
}

impl SessionState {
    /// Appends a delivery.
    pub fn push_back(&mut self, d: Delivery) {
        self.queued_bytes += d.message.payload.len();
        self.queue.push_back(d);
    }

    /// Puts a delivery first (redeliveries after reconnect).
    pub fn push_front(&mut self, d: Delivery) {
        self.queued_bytes += d.message.payload.len();
        self.queue.push_front(d);
    }

    /// Takes the first delivery.
    pub fn pop_front(&mut self) -> Option<Delivery> {
        let d = self.queue.pop_front()?;
        self.queued_bytes -= d.message.payload.len();
        Some(d)
    }

    /// Swaps the queue with `empty` (an empty queue, whose allocation the session then keeps).
    pub fn swap_queue(&mut self, empty: &mut VecDeque<Delivery>) {
        debug_assert!(empty.is_empty());
        std::mem::swap(&mut self.queue, empty);
        self.queued_bytes = 0;
    }

    /// The first delivery.
    pub fn front(&self) -> Option<&Delivery> {
        self.queue.front()
    }

    /// The deliveries in flight, oldest first (packet ids are handed out in a circle, so the
    /// oldest is the first after the newest, not the smallest).
    pub fn inflight_in_send_order(&self) -> Vec<&Delivery> {
        let newest = self.next_pkid;
        let mut v: Vec<(&u16, &Delivery)> = self.inflight.iter().collect();
        v.sort_by_key(|(id, _)| id.wrapping_sub(newest).wrapping_sub(1));
        v.into_iter().map(|(_, d)| d).collect()
    }

    /// Takes the deliveries in flight, oldest first (a resumed session resends them).
    pub fn take_inflight_in_send_order(&mut self) -> Vec<Delivery> {
        let newest = self.next_pkid;
        let mut v: Vec<(u16, Delivery)> = std::mem::take(&mut self.inflight).into_iter().collect();
        v.sort_by_key(|(id, _)| id.wrapping_sub(newest).wrapping_sub(1));
        v.into_iter().map(|(_, d)| d).collect()
    }

    /// The queued deliveries, in order.
    pub fn queued_iter(&self) -> impl Iterator<Item = &Delivery> {
        self.queue.iter()
    }

    /// Deliveries queued.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Keeps only the deliveries `keep` accepts.
    pub fn retain_queued(&mut self, keep: impl FnMut(&Delivery) -> bool) {
        self.queue.retain(keep);
        self.queued_bytes = self.queue.iter().map(|d| d.message.payload.len()).sum();
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::Principal;

    fn delivery(payload: &str) -> Delivery {
        let message = Message {
            topic: "t".into(),
            payload: payload.as_bytes().to_vec().into(),
            qos: 1,
            retain: false,
            properties: Default::default(),
            client_id: None,
            principal: Principal::from_text("thingbox:console"),
            timestamp_ms: 0,
            rule_hops: 0,
            trace: None,
        };
        Delivery { message: Arc::new(message), qos: 1, retain: false, dup: false }
    }

    /// Packet ids wrap from 65535 to 1: the oldest delivery in flight is the first after the
    /// newest id, not the smallest id.
    #[test]
    fn in_flight_deliveries_keep_their_send_order_across_the_id_wrap() {
        let s = Session::new(1, "c".into(), 10);
        let mut st = s.state.lock();
        st.next_pkid = 65533;
        for p in ["a", "b", "c", "d"] {
            let id = st.next_packet_id();
            st.inflight.insert(id, delivery(p));
        }
        assert_eq!(st.inflight.keys().copied().collect::<Vec<_>>(), [1, 2, 65534, 65535]);
        let order: Vec<&[u8]> = st.inflight_in_send_order().iter().map(|d| &d.message.payload[..]).collect();
        assert_eq!(order, [&b"a"[..], b"b", b"c", b"d"]);
        let taken: Vec<Vec<u8>> =
            st.take_inflight_in_send_order().iter().map(|d| d.message.payload.to_vec()).collect();
        assert_eq!(taken, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]);
    }
}
