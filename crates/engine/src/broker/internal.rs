//! [`InternalClient`]: how the engine's own services (shadows, rules, jobs) subscribe and publish
//! through the router like devices, without a socket, and how a service answers one client alone.

use std::sync::Arc;

use bytes::Bytes;

use super::{Broker, Delivery, Message, Principal, Properties, Session, SubOptions, now_ms};
use crate::storage::StorageError;

impl Broker {
    /// An in-process client for the engine's own services: it subscribes and publishes through
    /// this router like any device, under `principal`. Its queue is unbounded: the service must
    /// keep up (the shadow service does).
    pub fn internal_client(self: &Arc<Self>, name: &'static str) -> InternalClient {
        self.internal_client_bounded(name, usize::MAX / 2)
    }

    /// Like [`internal_client`](Self::internal_client) with a queue of at most `max_queued`
    /// messages (and `session::MAX_QUEUED_BYTES`): past it, deliveries to this client are dropped
    /// and counted ([`InternalClient::dropped`]).
    pub fn internal_client_bounded(
        self: &Arc<Self>,
        name: &'static str,
        max_queued: usize,
    ) -> InternalClient {
        let session =
            Arc::new(Session::new(self.new_id(), format!("{}{name}", super::INTERNAL_PREFIX), max_queued));
        {
            let mut st = session.state.lock();
            st.connection = Some(0);
        }
        InternalClient {
            broker: self.clone(),
            session,
            principal: Principal::Service(name),
            spare: Default::default(),
        }
    }

    /// Delivers `msg` to the session of `client_id` alone, whether or not it subscribed (AWS's jobs
    /// replies: "only to the requesting client"); the console's tap sees it too. `false` when the
    /// client has no session or its queue is full.
    pub fn reply_to(&self, client_id: &str, msg: Message) -> bool {
        let msg = Arc::new(msg);
        self.tap.capture(&msg);
        let Some(session) = self.sessions.lock().get(client_id).cloned() else { return false };
        self.enqueue_reply(&session, msg)
    }

    /// Delivers `msg` to the session of `client_id` alone, and only if one of its subscriptions
    /// matches the topic (at that subscription's QoS): fleet provisioning's replies, which hold
    /// private keys. `false` when it was not delivered.
    pub fn reply_to_subscriber(&self, client_id: &str, mut msg: Message) -> bool {
        let Some(session) = self.sessions.lock().get(client_id).cloned() else { return false };
        let granted = session
            .state
            .lock()
            .subscriptions
            .iter()
            .filter(|(f, _)| thingbox_model::topic::matches(f, &msg.topic))
            .map(|(_, o)| o.qos)
            .max();
        let Some(qos) = granted else { return false };
        msg.qos = msg.qos.min(qos);
        let msg = Arc::new(msg);
        self.tap.capture(&msg);
        self.enqueue_reply(&session, msg)
    }

    /// Queues a reply on `session`, counted as delivered or dropped.
    fn enqueue_reply(&self, session: &Session, msg: Arc<Message>) -> bool {
        let qos = msg.qos;
        let queued = session.enqueue(Delivery { message: msg, qos, retain: false, dup: false });
        let counter = if queued { &self.stats.delivered } else { &self.stats.dropped };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        queued
    }
}

/// A service's connection to the router, without a socket.
#[derive(Debug)]
pub struct InternalClient {
    broker: Arc<Broker>,
    pub(super) session: Arc<Session>,
    principal: Principal,
    /// An empty queue to swap with the session's in [`recv_many`](Self::recv_many), its
    /// allocation kept from one call to the next.
    spare: parking_lot::Mutex<std::collections::VecDeque<super::Delivery>>,
}

impl InternalClient {
    /// Subscribes to `filter` (QoS 1: nothing is dropped for an in-process client).
    pub fn subscribe(&self, filter: &str) {
        self.broker.subscribe(
            &self.session,
            filter,
            SubOptions { qos: 1, no_local: false, retain_as_published: false },
        );
    }

    /// Publishes under this client's identity.
    pub async fn publish(
        &self,
        topic: &str,
        payload: impl Into<Bytes>,
        qos: u8,
        retain: bool,
    ) -> Result<(), StorageError> {
        self.broker
            .publish(Message {
                topic: topic.to_owned(),
                payload: payload.into(),
                qos,
                retain,
                properties: Properties::default(),
                client_id: None,
                principal: self.principal.clone(),
                timestamp_ms: now_ms(),
                rule_hops: 0,
                trace: None,
            })
            .await
    }

    /// Subscribes to what is published from now on, without the retained message (the rules
    /// engine: AWS never runs rules on retained messages).
    pub fn subscribe_new_only(&self, filter: &str) {
        self.broker.subscribe_with(
            &self.session,
            filter,
            SubOptions { qos: 1, no_local: false, retain_as_published: false },
            false,
        );
    }

    /// Removes a subscription.
    pub fn unsubscribe(&self, filter: &str) {
        self.broker.unsubscribe(&self.session, filter);
    }

    /// Messages dropped because this client's queue was full.
    pub fn dropped(&self) -> u64 {
        self.session.state.lock().dropped
    }

    /// Waits for messages and moves every one queued into `out`. The queue is swapped out whole
    /// (its lock held for a swap, not a pass over it): a client on a background-priority thread
    /// (the rules engine) preempted while holding that lock would stall every publisher routing
    /// to it until a core fell idle.
    pub async fn recv_many(&self, out: &mut Vec<Arc<Message>>) {
        let mut spare = std::mem::take(&mut *self.spare.lock());
        loop {
            self.session.state.lock().swap_queue(&mut spare);
            if !spare.is_empty() {
                out.extend(spare.drain(..).map(|d| d.message));
                *self.spare.lock() = spare;
                return;
            }
            self.session.notify.notified().await;
        }
    }

    /// The next message for this client.
    pub async fn recv(&self) -> Arc<Message> {
        loop {
            if let Some(d) = self.session.state.lock().pop_front() {
                return d.message;
            }
            self.session.notify.notified().await;
        }
    }
}

impl Drop for InternalClient {
    fn drop(&mut self) {
        self.broker.drop_subscriptions(&self.session);
    }
}
