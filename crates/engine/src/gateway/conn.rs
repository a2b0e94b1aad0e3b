//! One device connection, from CONNECT to close: a reader that handles the client's packets and a
//! writer that sends replies and the session's deliveries, so a client that stops reading never
//! stops us from reading its acknowledgements.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use super::{Authorizer, Caller};
use thingbox_api::trace::Step;
use thingbox_model::policy::Action;
use thingbox_model::quotas::{Quota, Window};
use thingbox_model::usage::Metric;
use thingbox_wire::mqtt::{
    self as codec, Ack, ConnectInfo, Inbound, Proto, Refusal, ServerDisconnect, SubResult,
};

use super::writer::{Ctl, Writer};
use crate::usage::ConnMeter;

use crate::broker::{Broker, DisconnectReason, Message, Principal, Session, SubOptions, now_ms};

/// AWS IoT's payload limit for PUBLISH (and CONNECT will) messages.
pub const MAX_PAYLOAD: usize = thingbox_model::topic::MAX_PAYLOAD_BYTES;
/// Topic filters allowed in one SUBSCRIBE.
pub const MAX_FILTERS_PER_SUBSCRIBE: usize = 8;
/// Subscriptions one connection may hold.
pub const MAX_SUBSCRIPTIONS: usize = 50;
/// Longest client id, in bytes.
pub const MAX_CLIENT_ID: usize = 128;
/// QoS 1 deliveries in flight per connection when the client sets no receive maximum.
const DEFAULT_INFLIGHT: usize = 100;
/// Topic aliases a v5 client may use.
const TOPIC_ALIAS_MAX: u16 = 8;

/// Everything a connection needs from the gateway.
#[derive(Debug, Clone)]
pub struct ConnCtx {
    /// The router.
    pub broker: Arc<Broker>,
    /// Authorization decisions.
    pub auth: Arc<dyn Authorizer>,
    /// Who the transport authenticated.
    pub principal: Principal,
    /// The peer.
    pub peer: SocketAddr,
    /// Which listener it came through, for people (the tracer).
    pub listener: &'static str,
    /// Fires when the engine stops.
    pub shutdown: watch::Receiver<bool>,
    /// How long a client may take to send CONNECT.
    pub connect_timeout: Duration,
    /// Expiry of persistent sessions that ask for none (MQTT 3.1.1).
    pub default_session_expiry: u64,
}

/// How long a closing connection's writer may take to flush.
const WRITER_GRACE: Duration = Duration::from_secs(2);

/// A task handle that aborts the task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves one connection until it closes.
pub async fn serve<S>(stream: S, ctx: ConnCtx)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    // Small to start: an idle connection should cost little; the buffers grow with the traffic.
    let mut buf = BytesMut::with_capacity(512);
    let connect = match tokio::time::timeout(ctx.connect_timeout, read_connect(&mut rd, &mut buf)).await {
        Ok(Ok(c)) => c,
        Ok(Err(why)) => {
            tracing::debug!(peer = %ctx.peer, %why, "connection closed before CONNECT");
            return;
        }
        Err(_) => {
            tracing::debug!(peer = %ctx.peer, "no CONNECT in time; closing");
            return;
        }
    };
    if connect.receive_maximum == Some(0) {
        tracing::debug!(peer = %ctx.peer, "CONNECT with Receive Maximum 0 (a protocol error); closing");
        return;
    }
    let proto = connect.proto;
    let mut out = BytesMut::new();

    // Client id rules.
    let mut assigned = None;
    let client_id = if connect.client_id.is_empty() {
        if !connect.clean {
            codec::connack(proto, false, Some(Refusal::BadClientId), None, &mut out);
            let _ = wr.write_all(&out).await;
            return;
        }
        let id = format!("thingbox-{}", uuid::Uuid::new_v4().simple());
        assigned = Some(id.clone());
        id
    } else {
        connect.client_id.clone()
    };
    if client_id.len() > MAX_CLIENT_ID || client_id.starts_with('$') {
        codec::connack(proto, false, Some(Refusal::BadClientId), None, &mut out);
        let _ = wr.write_all(&out).await;
        return;
    }
    let mut connect_attributes = Vec::new();
    let persistent_asked = match proto {
        Proto::V4 => !connect.clean,
        Proto::V5 => connect.session_expiry.unwrap_or(0) > 0,
    };
    if persistent_asked {
        connect_attributes.push("PersistentConnect");
    }
    if connect.will.is_some() {
        connect_attributes.push("LastWill");
    }
    let caller = Caller {
        principal: ctx.principal.clone(),
        client_id: client_id.clone(),
        ip: ctx.peer.ip(),
        connect_attributes,
        cache: Default::default(),
    };
    let quotas = &ctx.broker.quotas;
    let now = now_ms();
    if let Some(quota) = quotas.connect_over(&client_id, now)
        && quotas.exceeded(quota, &client_id, now)
    {
        // Strict-AWS mode: AWS takes one CONNECT a second per client id, 500 per account.
        codec::connack(proto, false, Some(Refusal::ConnectionRateExceeded), None, &mut out);
        let _ = wr.write_all(&out).await;
        return;
    }
    if !ctx.auth.connect(&caller) {
        codec::connack(proto, false, Some(Refusal::NotAuthorized), None, &mut out);
        let _ = wr.write_all(&out).await;
        ctx.auth.disconnected(&caller);
        return;
    }
    if let Some(w) = &connect.will
        && (w.payload.len() > MAX_PAYLOAD || thingbox_model::topic::check_name(&w.topic).is_err())
    {
        codec::connack(proto, false, Some(Refusal::NotAuthorized), None, &mut out);
        let _ = wr.write_all(&out).await;
        return;
    }

    let (persistent, expiry) = match proto {
        Proto::V4 => (!connect.clean, ctx.default_session_expiry),
        Proto::V5 => {
            let e = u64::from(connect.session_expiry.unwrap_or(0));
            (e > 0, e)
        }
    };
    let attached = ctx.broker.connect(&client_id, connect.clean, persistent, expiry);
    let meter = ctx.broker.meter.connection(ctx.auth.thing_of(&caller), now_ms());
    // CONNECT is metered on its size with the will's topic and payload.
    meter.message(client_id.len() + connect.will.as_ref().map_or(0, |w| w.topic.len() + w.payload.len()));
    {
        let mut st = attached.session.state.lock();
        st.principal = Some(ctx.principal.clone());
        st.peer_ip = Some(ctx.peer.ip());
    }
    codec::connack(proto, attached.session_present, None, assigned, &mut out);
    if wr.write_all(&out).await.is_err() {
        ctx.broker.disconnect(&attached.session, attached.connection);
        return;
    }
    let session_ident =
        format!("{:032x}", attached.connection as u128 | (u128::from(attached.session.id) << 64));
    ctx.broker.event_connected(
        &client_id,
        &ctx.principal,
        &ctx.peer.ip().to_string(),
        &session_ident,
        attached.version,
    );

    let inflight_max =
        connect.receive_maximum.map_or(DEFAULT_INFLIGHT, |m| usize::from(m).min(DEFAULT_INFLIGHT));
    let (ctl_tx, ctl_rx) = mpsc::channel::<Ctl>(64);
    // Owned by this task: aborted when it ends or is aborted (the accept loop's shutdown deadline).
    let writer = Writer {
        session: attached.session.clone(),
        proto,
        inflight_max,
        auth: ctx.auth.clone(),
        caller: caller.clone(),
        meter: meter.clone(),
    };
    let mut writer = AbortOnDrop(tokio::spawn(writer.run(wr, ctl_rx)));

    let mut conn = Conn {
        ctx: &ctx,
        proto,
        caller: &caller,
        client_id: &client_id,
        session: &attached.session,
        session_ident: &session_ident,
        ctl: ctl_tx,
        aliases: std::collections::HashMap::new(),
        meter: &meter,
        publishes: Window::default(),
        throughput: Window::default(),
        noted: [i64::MIN; 2],
    };
    let reason = conn.read_loop(&mut rd, &mut buf, connect.keep_alive, attached.kicked).await;
    let (reason, publish_will) = reason;
    drop(conn);
    // A client that stopped reading leaves the writer stuck in a write: it gets a moment to send
    // what it holds (a DISCONNECT), then it is stopped, so the connection — and the engine's
    // shutdown — never waits on a peer.
    let _ = tokio::time::timeout(WRITER_GRACE, &mut writer.0).await;

    ctx.broker.disconnect(&attached.session, attached.connection);
    ctx.broker.meter.closed(&meter, now_ms());
    if publish_will && let Some(w) = connect.will {
        let msg = Message {
            topic: w.topic,
            payload: w.payload,
            qos: w.qos.min(1),
            retain: w.retain,
            properties: w.properties,
            client_id: Some(client_id.clone()),
            principal: ctx.principal.clone(),
            timestamp_ms: now_ms(),
            rule_hops: 0,
            trace: None,
        };
        if ctx.auth.publish(&caller, &msg.topic) && (!msg.retain || ctx.auth.retain(&caller, &msg.topic)) {
            let _ = ctx.broker.publish(msg).await;
        }
    }
    ctx.auth.disconnected(&caller);
    ctx.broker.event_disconnected(&client_id, &ctx.principal, &session_ident, attached.version, reason);
}

async fn read_connect<R: AsyncRead + Unpin>(rd: &mut R, buf: &mut BytesMut) -> Result<ConnectInfo, String> {
    let proto = loop {
        if let Some(p) = codec::sniff(buf)? {
            break p;
        }
        if rd.read_buf(buf).await.map_err(|e| e.to_string())? == 0 {
            return Err("closed".into());
        }
    };
    loop {
        match codec::read(proto, buf).map_err(|e| e.to_string())? {
            Some(Inbound::Connect(c)) => return Ok(c),
            Some(_) => return Err("the first packet must be CONNECT".into()),
            None => {
                if rd.read_buf(buf).await.map_err(|e| e.to_string())? == 0 {
                    return Err("closed".into());
                }
            }
        }
    }
}

struct Conn<'a> {
    ctx: &'a ConnCtx,
    proto: Proto,
    caller: &'a Caller,
    client_id: &'a str,
    session: &'a Arc<Session>,
    session_ident: &'a str,
    ctl: mpsc::Sender<Ctl>,
    aliases: std::collections::HashMap<u16, String>,
    meter: &'a Arc<ConnMeter>,
    /// This second's publishes and bytes (AWS's per-connection quotas).
    publishes: Window,
    throughput: Window,
    /// The second each of those was last reported exceeded.
    noted: [i64; 2],
}

/// How a read loop ended: the reason, and whether the will is published.
type Ending = (DisconnectReason, bool);

impl Conn<'_> {
    async fn send(&self, f: impl FnOnce(&mut BytesMut)) -> bool {
        let mut b = BytesMut::new();
        f(&mut b);
        self.ctl.send(Ctl::Bytes(b)).await.is_ok()
    }

    async fn close(&self, why: Option<ServerDisconnect>) {
        let _ = self.ctl.send(Ctl::Close(why)).await;
    }

    async fn read_loop<R: AsyncRead + Unpin>(
        &mut self,
        rd: &mut R,
        buf: &mut BytesMut,
        keep_alive: u16,
        mut kicked: tokio::sync::oneshot::Receiver<DisconnectReason>,
    ) -> Ending {
        // Keep-alive: one timer per connection, pushed forward at most twice a second (not re-armed
        // on every read, which would touch the shared timer wheel per packet). The timer runs half a
        // second past 1.5 × keep-alive, so silence is never cut short by the coarser re-arming.
        let idle = if keep_alive == 0 {
            Duration::from_secs(365 * 24 * 3600)
        } else {
            Duration::from_millis(u64::from(keep_alive) * 1500)
        };
        let slack = Duration::from_millis(500);
        let deadline = tokio::time::sleep(idle + slack);
        tokio::pin!(deadline);
        let mut armed_at = tokio::time::Instant::now();
        let mut shutdown = self.ctx.shutdown.clone();
        loop {
            // Handle every complete packet already buffered.
            loop {
                match codec::read(self.proto, buf) {
                    Ok(Some(p)) => {
                        if let Some(end) = self.handle(p).await {
                            return end;
                        }
                        // One unit of the task's cooperative budget per packet: a read can bring
                        // hundreds of packets, and the subscribers' writers (woken by routing,
                        // often on this same worker thread) must get to run before their queues
                        // fill up and QoS 0 is dropped.
                        tokio::task::coop::consume_budget().await;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(client = self.client_id, error = %e, "malformed packet; closing");
                        self.close(Some(e.reason)).await;
                        return (DisconnectReason::ClientError, true);
                    }
                }
            }
            tokio::select! {
                r = rd.read_buf(buf) => match r {
                    Ok(0) | Err(_) => { self.close(None).await; return (DisconnectReason::ConnectionLost, true) }
                    Ok(_) => {
                        let now = tokio::time::Instant::now();
                        if now.duration_since(armed_at) >= slack {
                            deadline.as_mut().reset(now + idle + slack);
                            armed_at = now;
                        }
                    }
                },
                () = &mut deadline => {
                    self.close(Some(ServerDisconnect::KeepAliveTimeout)).await;
                    return (DisconnectReason::KeepAliveTimeout, true);
                }
                why = &mut kicked => {
                    let why = why.unwrap_or(DisconnectReason::ServerInitiated);
                    let code = match why {
                        DisconnectReason::DuplicateClientId => ServerDisconnect::SessionTakenOver,
                        DisconnectReason::AuthError => ServerDisconnect::NotAuthorized,
                        _ => ServerDisconnect::ShuttingDown,
                    };
                    self.close(Some(code)).await;
                    return (why, why != DisconnectReason::ServerInitiated);
                }
                _ = shutdown.changed() => {
                    self.close(Some(ServerDisconnect::ShuttingDown)).await;
                    return (DisconnectReason::ServerInitiated, false);
                }
            }
        }
    }

    /// Handles one packet; `Some` ends the connection.
    async fn handle(&mut self, p: Inbound) -> Option<Ending> {
        match p {
            Inbound::Publish { topic, payload, qos, retain, pkid, properties, topic_alias } => {
                self.publish(topic, payload, qos, retain, pkid, properties, topic_alias).await
            }
            Inbound::PubAck(pkid) => {
                // A PUBACK from the device is metered as one message.
                self.meter.add(Metric::Messages, 1);
                // The writer is woken only when the freed slot lets a queued delivery go (a new
                // delivery wakes it anyway): one task wake-up less per QoS 1 delivery.
                if self.ctx.broker.acked(self.session, pkid) {
                    self.session.notify.notify_one();
                }
                None
            }
            Inbound::Subscribe { pkid, filters } => self.subscribe(pkid, filters).await,
            Inbound::Unsubscribe { pkid, filters } => {
                for f in &filters {
                    self.ctx.broker.unsubscribe(self.session, f);
                }
                if let Err(e) = self.ctx.broker.save_session(self.session).wait().await {
                    return self.storage_failed(e).await;
                }
                let n = filters.len();
                self.send(|b| codec::unsuback(self.proto, pkid, n, b)).await;
                self.ctx.broker.event_subscriptions(
                    self.client_id,
                    &self.ctx.principal,
                    self.session_ident,
                    false,
                    &filters,
                );
                None
            }
            Inbound::PingReq => {
                self.send(|b| codec::pingresp(self.proto, b)).await;
                None
            }
            Inbound::Disconnect { with_will } => {
                self.close(None).await;
                Some((DisconnectReason::ClientInitiated, with_will))
            }
            Inbound::Connect(_) => {
                tracing::debug!(client = self.client_id, "second CONNECT on one connection; closing");
                self.close(Some(ServerDisconnect::ProtocolError)).await;
                Some((DisconnectReason::ClientError, true))
            }
            Inbound::Unexpected(what) => {
                tracing::debug!(client = self.client_id, what, "unexpected packet; closing");
                self.close(Some(ServerDisconnect::ProtocolError)).await;
                Some((DisconnectReason::ClientError, true))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn publish(
        &mut self,
        mut topic: String,
        payload: Bytes,
        qos: u8,
        retain: bool,
        pkid: u16,
        properties: crate::broker::Properties,
        alias: Option<u16>,
    ) -> Option<Ending> {
        if qos > 1 {
            // AWS IoT does not support QoS 2: no PUBACK, nothing routed.
            return None;
        }
        if let Some(a) = alias {
            if a == 0 || a > TOPIC_ALIAS_MAX {
                self.close(Some(ServerDisconnect::TopicAliasInvalid)).await;
                return Some((DisconnectReason::ClientError, true));
            }
            if topic.is_empty() {
                match self.aliases.get(&a) {
                    Some(t) => topic = t.clone(),
                    None => {
                        self.close(Some(ServerDisconnect::ProtocolError)).await;
                        return Some((DisconnectReason::ClientError, true));
                    }
                }
            } else {
                self.aliases.insert(a, topic.clone());
            }
        }
        let mut msg = Message {
            topic,
            payload,
            qos,
            retain,
            properties,
            client_id: Some(self.client_id.to_owned()),
            principal: self.ctx.principal.clone(),
            timestamp_ms: now_ms(),
            rule_hops: 0,
            trace: None,
        };
        // The size AWS meters (and the throughput quota counts) is taken once.
        let metered = msg.metered_len();
        self.meter.message(metered);
        msg.begin_trace(&self.ctx.broker.tracer, || Step::Published {
            identity: self.ctx.principal.kind().into(),
            principal: self.ctx.principal.identifier(),
            things: Vec::new(),
            protocol: format!("{} on {}", self.proto.name(), self.ctx.listener),
            peer: Some(self.ctx.peer.to_string()),
        });
        if msg.payload.len() > MAX_PAYLOAD {
            let size = msg.payload.len();
            tracing::debug!(client = self.client_id, size, "payload over 128 KB; closing");
            let why = format!("the payload is {size} bytes; AWS IoT's limit is 128 KB");
            refused(&msg, why, "disconnected (MQTT 5: 0x95 Packet too large)");
            self.close(Some(ServerDisconnect::PacketTooLarge)).await;
            return Some((DisconnectReason::ClientError, true));
        }
        let valid = thingbox_model::topic::check_name(&msg.topic).map_err(|e| e.to_string()).and_then(|()| {
            if thingbox_model::topic::client_may_publish(&msg.topic, retain) {
                Ok(())
            } else {
                Err("clients may not publish to this reserved topic".to_owned())
            }
        });
        if let Err(why) = valid {
            tracing::debug!(
                client = self.client_id,
                topic = msg.topic,
                "publish to an invalid or reserved topic; closing"
            );
            refused(&msg, why, "disconnected (MQTT 5: 0x90 Topic name invalid)");
            self.close(Some(ServerDisconnect::TopicNameInvalid)).await;
            return Some((DisconnectReason::ClientError, true));
        }
        if let Some(quota) = self.over_quota(metered as u64, msg.timestamp_ms) {
            // Strict-AWS mode: dropped, as AWS throttles; MQTT 5 hears why.
            let why = format!("over the quota {}", quota.aws_name());
            refused(&msg, why, "PUBACK 0x97 Quota exceeded on MQTT 5; nothing on MQTT 3.1.1");
            if qos == 1 {
                let ack = if self.proto == Proto::V5 { Ack::QuotaExceeded } else { Ack::Success };
                self.send(|b| codec::puback(self.proto, pkid, ack, b)).await;
            }
            return None;
        }
        let allowed =
            self.authorize(&msg, Action::Publish) && (!retain || self.authorize(&msg, Action::RetainPublish));
        if !allowed {
            // AWS: MQTT 3.1.1 clients are disconnected; MQTT 5 clients get PUBACK 0x87 (QoS 1) and
            // the message is dropped.
            if self.proto == Proto::V5 {
                let answer = if qos == 1 { "PUBACK 0x87 Not authorized" } else { "nothing (QoS 0)" };
                refused(&msg, "denied by policy".into(), &format!("{answer}; MQTT 5 keeps the connection"));
                if qos == 1 {
                    self.send(|b| codec::puback(self.proto, pkid, Ack::NotAuthorized, b)).await;
                }
                return None;
            }
            refused(&msg, "denied by policy".into(), "disconnected (MQTT 3.1.1 has no negative PUBACK)");
            self.close(None).await;
            return Some((DisconnectReason::AuthError, true));
        }
        // A plain QoS 1 message is acknowledged as it is routed (routing cannot fail), and the ack is
        // queued first so that the subscribers' writers, woken by routing, run before ours. A retained
        // one, or one that may be queued for a persistent session without a connection, is
        // acknowledged only once it is durable.
        let ack_first = qos == 1 && !retain && !self.ctx.broker.has_offline_sessions();
        if ack_first {
            self.send(|b| codec::puback(self.proto, pkid, Ack::Success, b)).await;
        }
        if let Err(e) = self.ctx.broker.publish(msg).await {
            return self.storage_failed(e).await;
        }
        if retain {
            // A retained publish is metered once more, as RETAINED.
            self.meter.message(metered);
        }
        if qos == 1 && !ack_first {
            self.send(|b| codec::puback(self.proto, pkid, Ack::Success, b)).await;
        }
        None
    }

    /// Counts a publish of `bytes` against the per-connection quotas: the quota to refuse it by,
    /// in strict-AWS mode (otherwise an exceeded quota is only reported).
    fn over_quota(&mut self, bytes: u64, now: i64) -> Option<Quota> {
        let quotas = &self.ctx.broker.quotas;
        let second = now.div_euclid(1000);
        let [noted_rate, noted_bytes] = &mut self.noted;
        for (quota, window, amount, noted) in [
            (Quota::PublishRate, &mut self.publishes, 1, noted_rate),
            (Quota::PublishThroughput, &mut self.throughput, bytes, noted_bytes),
        ] {
            if !window.over(now, amount, quota.limit()) {
                continue;
            }
            // A flood past the quota costs one atomic add a message; the notice once a second.
            let refuse = quotas.hit(quota);
            if *noted != second {
                *noted = second;
                quotas.note(quota, self.client_id, now, refuse);
            }
            if refuse {
                return Some(quota);
            }
        }
        None
    }

    /// The publisher's policy check of `msg`; the explained decision joins its trace.
    fn authorize(&self, msg: &Message, action: Action) -> bool {
        let allowed = match action {
            Action::RetainPublish => self.ctx.auth.retain(self.caller, &msg.topic),
            _ => self.ctx.auth.publish(self.caller, &msg.topic),
        };
        if let Some(t) = &msg.trace {
            let (explanation, note) = self.ctx.auth.explain(self.caller, action, &msg.topic);
            t.step(Step::Policy { action: action.as_str().into(), subscriber: None, explanation, note });
        }
        allowed
    }

    /// A write the acknowledgement was waiting for failed: the client hears nothing and is
    /// disconnected, so it sends again when it reconnects.
    async fn storage_failed(&mut self, e: crate::storage::StorageError) -> Option<Ending> {
        tracing::error!(error = %e, client_id = self.client_id, "storing for an acknowledgement failed");
        self.close(None).await;
        Some((DisconnectReason::ConnectionLost, true))
    }

    async fn subscribe(&mut self, pkid: u16, filters: Vec<codec::FilterRequest>) -> Option<Ending> {
        if filters.iter().any(|f| f.qos > 1) {
            // AWS IoT does not support QoS 2: no SUBACK.
            return None;
        }
        // SUBSCRIBE is metered on the size of its topic filters.
        self.meter.message(filters.iter().map(|f| f.filter.len()).sum());
        let mut results = Vec::with_capacity(filters.len());
        let mut granted = Vec::new();
        let now = now_ms();
        let quotas = &self.ctx.broker.quotas;
        // Strict-AWS mode: 200 topic filters a second per account; a SUBSCRIBE over it is refused
        // whole (SUBACK 0x97 Quota exceeded on MQTT 5, 0x80 on MQTT 3.1.1).
        let throttled = quotas.subscribe_over(filters.len() as u64, now)
            && quotas.exceeded(Quota::SubscriptionRate, self.client_id, now);
        let too_many = filters.len() > MAX_FILTERS_PER_SUBSCRIBE;
        for f in &filters {
            let held = self.session.state.lock().subscriptions.len();
            let already = self.session.state.lock().subscriptions.contains_key(&f.filter);
            let r = if throttled || too_many || (held >= MAX_SUBSCRIPTIONS && !already) {
                SubResult::Quota
            } else if thingbox_model::topic::check_filter(&f.filter).is_err() {
                SubResult::InvalidFilter
            } else if !self.ctx.auth.subscribe(self.caller, &f.filter) {
                if self.proto == Proto::V4 {
                    // AWS closes an MQTT 3.1.1 connection that subscribes where it may not.
                    self.close(None).await;
                    return Some((DisconnectReason::AuthError, true));
                }
                SubResult::NotAuthorized
            } else {
                let opts = SubOptions {
                    qos: f.qos,
                    no_local: f.no_local,
                    retain_as_published: f.retain_as_published,
                };
                self.ctx.broker.subscribe(self.session, &f.filter, opts);
                granted.push(f.filter.clone());
                SubResult::Granted(f.qos)
            };
            results.push(r);
        }
        if let Err(e) = self.ctx.broker.save_session(self.session).wait().await {
            return self.storage_failed(e).await;
        }
        self.send(|b| codec::suback(self.proto, pkid, &results, b)).await;
        if !granted.is_empty() {
            self.ctx.broker.event_subscriptions(
                self.client_id,
                &self.ctx.principal,
                self.session_ident,
                true,
                &granted,
            );
        }
        None
    }
}

/// Records in `msg`'s trace that it went no further.
fn refused(msg: &Message, reason: String, answer: &str) {
    if let Some(t) = &msg.trace {
        t.step(Step::Refused { reason, answer: answer.into() });
    }
}
