//! The writing half of a device connection: the reader's replies and the session's deliveries (QoS 1
//! up to the in-flight window, each checked against `iot:Receive` on the way out), written in the
//! connection's protocol until the reader says close.

use std::sync::Arc;

use bytes::BytesMut;
use thingbox_api::trace::Step;
use thingbox_model::policy::Action;
use thingbox_wire::mqtt::{self as codec, Proto, ServerDisconnect};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{Authorizer, Caller};
use crate::broker::{Delivery, Session};
use crate::usage::ConnMeter;

/// What the reader tells the writer.
pub(super) enum Ctl {
    /// Bytes to write (replies the reader encoded).
    Bytes(BytesMut),
    /// Write what is left, the server DISCONNECT if any, and stop.
    Close(Option<ServerDisconnect>),
}

/// What the writer of one connection needs.
pub(super) struct Writer {
    pub session: Arc<Session>,
    pub proto: Proto,
    /// QoS 1 deliveries in flight at most (the client's Receive Maximum, capped).
    pub inflight_max: usize,
    pub auth: Arc<dyn Authorizer>,
    pub caller: Caller,
    pub meter: Arc<ConnMeter>,
}

impl Writer {
    /// Writes what the reader sends and the session's deliveries until told to close (or the socket
    /// breaks).
    pub(super) async fn run<W: AsyncWrite + Unpin>(self, mut wr: W, mut ctl: mpsc::Receiver<Ctl>) {
        let Self { session, proto, inflight_max, auth, caller, meter } = self;
        let mut out = BytesMut::new();
        let mut closing: Option<Option<ServerDisconnect>> = None;
        loop {
            tokio::select! {
                biased;
                c = ctl.recv() => match c {
                    Some(Ctl::Bytes(b)) => out.extend_from_slice(&b),
                    Some(Ctl::Close(why)) => closing = Some(why),
                    None => closing = Some(None),
                },
                () = session.notify.notified() => {}
            }
            while closing.is_none() {
                match ctl.try_recv() {
                    Ok(Ctl::Bytes(b)) => out.extend_from_slice(&b),
                    Ok(Ctl::Close(why)) => closing = Some(why),
                    Err(_) => break,
                }
            }
            if closing.is_none() {
                fill(&session, proto, inflight_max, &*auth, &caller, &meter, &mut out);
            }
            if let Some(why) = closing {
                if let Some(w) = why {
                    codec::disconnect(proto, w, &mut out);
                }
                let _ = wr.write_all(&out).await;
                let _ = wr.shutdown().await;
                return;
            }
            if !out.is_empty() {
                if wr.write_all(&out).await.is_err() {
                    // The reader sees the broken socket too and ends the connection.
                    while let Some(c) = ctl.recv().await {
                        if matches!(c, Ctl::Close(_)) {
                            break;
                        }
                    }
                    return;
                }
                out.clear();
                if out.capacity() > 256 * 1024 {
                    out = BytesMut::new();
                }
            }
        }
    }
}

/// Moves deliveries from the session queue into `out`, up to the in-flight window for QoS 1.
fn fill(
    session: &Session,
    proto: Proto,
    inflight_max: usize,
    auth: &dyn Authorizer,
    caller: &Caller,
    meter: &ConnMeter,
    out: &mut BytesMut,
) {
    let mut st = session.state.lock();
    let mut budget = 256;
    while budget > 0 {
        let Some(front) = st.front() else { break };
        if front.qos == 1 && st.inflight.len() >= inflight_max {
            break;
        }
        let d: Delivery = st.pop_front().expect("front exists");
        budget -= 1;
        if !auth.receive(caller, &d.message.topic) {
            if let Some(t) = &d.message.trace {
                let (explanation, note) = auth.explain(caller, Action::Receive, &d.message.topic);
                let subscriber = Some(session.client_id.clone());
                t.step(Step::Policy { action: "iot:Receive".into(), subscriber, explanation, note });
            }
            continue;
        }
        meter.message(d.message.metered_len());
        let packet_id = (d.qos == 1).then(|| st.next_packet_id());
        if let Some(t) = &d.message.trace {
            let client_id = session.client_id.clone();
            t.step(Step::Delivered { client_id, qos: d.qos, packet_id, dup: d.dup });
        }
        match packet_id {
            Some(pkid) => {
                codec::publish(proto, out_of(&d), pkid, d.dup, out);
                st.inflight.insert(pkid, d);
            }
            None => codec::publish(proto, out_of(&d), 0, false, out),
        }
    }
    if budget == 0 && st.queued() > 0 {
        session.notify.notify_one();
    }
}

/// The PUBLISH a delivery is written as.
fn out_of(d: &Delivery) -> codec::PublishOut<'_> {
    let m = &d.message;
    codec::PublishOut {
        topic: &m.topic,
        payload: &m.payload,
        properties: &m.properties,
        qos: d.qos,
        retain: d.retain,
    }
}
