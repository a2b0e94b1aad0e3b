//! One simulated device: a real MQTT 3.1.1 client with its own certificate, connecting through
//! mutual TLS like any device, and doing what its fleet says — telemetry on timers, applying
//! desired shadow state, running jobs as the AWS IoT jobs agent does, answering commands — with
//! its connection pattern and faults. One task per device; everything it will do later sits in
//! one timer heap, so an idle device costs a sleeping task.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeFilter, TlsConfiguration, Transport};
use serde_json::{Value, json};
use thingbox_api::sim::DeviceStatus;
use thingbox_model::scenario::{Fleet, GenState, Rng, Vars};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::cell::{Control, DeviceCell, now_ms};
use super::stopped;

/// AWS's payload limit; an oversize fault pads past it.
const OVERSIZE: usize = 130 * 1024;
/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Where and how a device connects.
#[derive(Debug, Clone)]
pub struct Link {
    /// The broker's host (an IP address or the endpoint's name).
    pub host: String,
    /// Its mutual-TLS port.
    pub port: u16,
    /// The device's TLS: the broker's CA and the device's own certificate and key.
    pub tls: Arc<rustls::ClientConfig>,
}

/// Everything a device needs to run.
#[derive(Debug)]
pub struct Spec {
    /// Its number in the fleet, from 1.
    pub index: usize,
    /// Its fleet.
    pub fleet: Arc<Fleet>,
    /// The random seed (the scenario's, mixed with the device's name).
    pub seed: u64,
    /// How it connects.
    pub link: Link,
    /// Fetches OTA files.
    pub http: reqwest::Client,
}

/// Something due later.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Due {
    Telemetry(usize),
    Send { topic: String, payload: Vec<u8>, qos: u8, delayed: bool },
    ShadowApply(String),
    JobStep { job: String, step: u32 },
    JobEnd { job: String },
}

enum End {
    Stop,
    Offline(Option<Duration>),
    Lost(String),
}

pub(super) struct Device {
    pub(super) cell: Arc<DeviceCell>,
    pub(super) spec: Spec,
    pub(super) rng: Rng,
    pub(super) telemetry_gens: Vec<GenState>,
    pub(super) reply_gens: Vec<GenState>,
    pub(super) telemetry_topics: Vec<String>,
    pub(super) commands: Vec<(String, String)>,
    pub(super) shadow_prefix: Option<String>,
    pub(super) reported_once: bool,
    pub(super) job: Option<(String, Value)>,
    pub(super) download: Option<tokio::task::JoinHandle<Result<u64, String>>>,
    pub(super) timers: BinaryHeap<Reverse<(Instant, u64, Due)>>,
    pub(super) seq: u64,
}

/// What a device's templates fill their variables with.
fn vars<'a>(cell: &'a DeviceCell, index: usize, fleet: &'a Fleet) -> Vars<'a> {
    Vars { thing: &cell.name, index, fleet: &fleet.name, scenario: &cell.scenario }
}

fn mix(seed: u64, name: &str) -> u64 {
    name.bytes().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Runs a device until `stop`.
pub async fn run(
    cell: Arc<DeviceCell>,
    spec: Spec,
    mut ctl: mpsc::Receiver<Control>,
    mut stop: watch::Receiver<bool>,
) {
    let fleet = spec.fleet.clone();
    let vars = vars(&cell, spec.index, &fleet);
    let mut d = Device {
        rng: Rng::new(mix(spec.seed, &cell.name)),
        telemetry_gens: vec![GenState::default(); fleet.telemetry.len()],
        reply_gens: vec![GenState::default(); fleet.commands.len()],
        telemetry_topics: fleet.telemetry.iter().map(|t| t.topic.0.render(&vars)).collect(),
        commands: fleet.commands.iter().map(|c| (c.topic.0.render(&vars), c.reply.0.render(&vars))).collect(),
        shadow_prefix: fleet.shadow.as_ref().map(|s| match &s.name {
            Some(n) => format!("$aws/things/{}/shadow/name/{n}", cell.name),
            None => format!("$aws/things/{}/shadow", cell.name),
        }),
        reported_once: false,
        job: None,
        download: None,
        timers: BinaryHeap::new(),
        seq: 0,
        cell,
        spec,
    };
    let mut backoff = Duration::from_secs(1);
    loop {
        let stopping = *stop.borrow();
        if stopping {
            break;
        }
        d.cell.set_status(DeviceStatus::Connecting);
        let mut wait = match d.session(&mut ctl, &mut stop).await {
            End::Stop => break,
            End::Offline(t) => {
                backoff = Duration::from_secs(1);
                d.cell.set_status(DeviceStatus::Offline);
                if let Some(t) = t {
                    d.cell.log(format!("offline for {} ms", t.as_millis()));
                }
                t
            }
            End::Lost(e) => {
                d.cell.set_status(DeviceStatus::Retrying);
                d.cell.error(format!("connection: {e}; retrying in {} s", backoff.as_secs()));
                let t = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                Some(t)
            }
        };
        // Offline until the wait is over, or until asked to connect (or to stay away longer).
        loop {
            let until = wait.map(|w| Instant::now() + w);
            tokio::select! {
                () = sleep_until(until) => break,
                c = ctl.recv() => match c {
                    Some(Control::Connect) => {
                        d.cell.log("started by hand");
                        break;
                    }
                    Some(Control::Disconnect(t)) => {
                        d.cell.set_status(DeviceStatus::Offline);
                        wait = t;
                    }
                    Some(Control::Identity(tls)) => d.spec.link.tls = tls,
                    None => break,
                },
                () = stopped(&mut stop) => break,
            }
        }
    }
    if let Some(h) = d.download.take() {
        h.abort();
    }
    d.cell.set_status(DeviceStatus::Stopped);
}

impl Device {
    pub(super) fn fleet(&self) -> &Fleet {
        &self.spec.fleet
    }

    pub(super) fn at(&mut self, after: Duration, due: Due) {
        self.seq += 1;
        self.timers.push(Reverse((Instant::now() + after, self.seq, due)));
    }

    /// The device's clock (skewed by its fault).
    pub(super) fn clock(&self) -> i64 {
        now_ms() + self.cell.faults.lock().clock_skew.0
    }

    async fn session(&mut self, ctl: &mut mpsc::Receiver<Control>, stop: &mut watch::Receiver<bool>) -> End {
        let link = &self.spec.link;
        let mut opts = MqttOptions::new(self.cell.name.clone(), link.host.clone(), link.port);
        let keep_alive = self.fleet().connection.keep_alive.map_or(30_000, |d| d.0.max(5_000));
        opts.set_keep_alive(Duration::from_millis(keep_alive as u64))
            .set_clean_session(true)
            .set_max_packet_size(256 * 1024, 256 * 1024)
            .set_inflight(16)
            .set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(link.tls.clone())));
        let (client, mut events) = AsyncClient::new(opts, 32);
        self.timers.clear();
        if let Some(h) = self.download.take() {
            h.abort();
        }
        self.job = None;
        *self.cell.job.lock() = None;
        let pattern = self.fleet().connection;
        let mut online_until: Option<Instant> = None;
        loop {
            let next = self.timers.peek().map(|r| r.0.0);
            tokio::select! {
                () = stopped(stop) => {
                    goodbye(&client, &mut events).await;
                    return End::Stop;
                }
                c = ctl.recv() => match c {
                    Some(Control::Disconnect(t)) => {
                        self.cell.log(if t.is_some() { "disconnected by a fault" } else { "stopped by hand" });
                        goodbye(&client, &mut events).await;
                        return End::Offline(t);
                    }
                    Some(Control::Connect) => {}
                    Some(Control::Identity(tls)) => self.spec.link.tls = tls,
                    None => return End::Stop,
                },
                _ = sleep_until(online_until) => {
                    goodbye(&client, &mut events).await;
                    let offline = pattern.offline.map_or(0, |d| d.0.max(0));
                    return End::Offline(Some(Duration::from_millis(offline as u64)));
                }
                _ = sleep_until(next) => {
                    if let Some(Reverse((_, _, due))) = self.timers.pop() {
                        self.due(&client, due);
                    }
                }
                ev = events.poll() => match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        self.cell.set_status(DeviceStatus::Online);
                        self.cell.log("connected");
                        *self.cell.last_error.lock() = None;
                        online_until = pattern.online.map(|d| Instant::now() + Duration::from_millis(d.0 as u64));
                        self.connected(&client);
                    }
                    Ok(Event::Incoming(Packet::SubAck(ack))) => {
                        let refused = ack.return_codes.iter().filter(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure)).count();
                        if refused > 0 {
                            self.cell.error(format!("{refused} topic filter(s) refused by the broker (SUBACK 0x80)"));
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        self.cell.received.fetch_add(1, Ordering::Relaxed);
                        self.message(&client, &p.topic, &p.payload);
                    }
                    Ok(_) => {}
                    Err(e) => return End::Lost(e.to_string()),
                },
            }
        }
    }

    /// Just connected: subscribe, report, ask for what is pending, start the timers.
    fn connected(&mut self, client: &AsyncClient) {
        let t = self.cell.name.clone();
        let mut filters = Vec::new();
        if let Some(p) = &self.shadow_prefix {
            for s in ["update/delta", "get/accepted", "get/rejected", "update/rejected"] {
                filters.push(format!("{p}/{s}"));
            }
        }
        if self.fleet().jobs.is_some() {
            for s in ["notify-next", "start-next/accepted", "start-next/rejected", "+/update/rejected"] {
                filters.push(format!("$aws/things/{t}/jobs/{s}"));
            }
        }
        filters.extend(self.commands.iter().map(|(f, _)| f.clone()));
        // AWS IoT takes at most 8 topic filters per SUBSCRIBE.
        for chunk in filters.chunks(8) {
            let subs = chunk.iter().map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
            if let Err(e) = client.try_subscribe_many(subs) {
                self.cell.error(format!("subscribe: {e}"));
            }
        }
        if let (Some(p), Some(shadow)) = (self.shadow_prefix.clone(), self.fleet().shadow.clone()) {
            if !self.reported_once
                && let Some(initial) = &shadow.reported
            {
                let mut state = GenState::default();
                let now = self.clock();
                let fleet = self.spec.fleet.clone();
                let vars = vars(&self.cell, self.spec.index, &fleet);
                let reported = initial.template.render(&vars, now, &mut state, &mut self.rng);
                *self.cell.reported.lock() = Some(reported.clone());
                self.send(
                    client,
                    format!("{p}/update"),
                    json!({"state": {"reported": reported}}).to_string().into_bytes(),
                    1,
                );
            }
            self.reported_once = true;
            self.send(client, format!("{p}/get"), b"{}".to_vec(), 1);
        }
        if self.fleet().jobs.is_some() {
            self.send(client, format!("$aws/things/{t}/jobs/start-next"), b"{}".to_vec(), 1);
        }
        for i in 0..self.fleet().telemetry.len() {
            // The first message somewhere in the first period, so a fleet does not send in step.
            let every = self.fleet().telemetry[i].every.0.max(10) as f64;
            let first = Duration::from_millis((self.rng.unit() * every) as u64);
            self.at(first, Due::Telemetry(i));
        }
    }

    fn due(&mut self, client: &AsyncClient, due: Due) {
        match due {
            Due::Telemetry(i) => self.telemetry(client, i),
            Due::Send { topic, payload, qos, delayed } => {
                if delayed {
                    self.publish(client, topic, payload, qos);
                } else {
                    self.send(client, topic, payload, qos);
                }
            }
            Due::ShadowApply(delta) => self.apply_shadow(client, &delta),
            Due::JobStep { job, step } => self.job_step(client, job, step),
            Due::JobEnd { job } => self.job_end(client, job),
        }
    }

    fn telemetry(&mut self, client: &AsyncClient, i: usize) {
        let fleet = self.spec.fleet.clone();
        let t = &fleet.telemetry[i];
        let now = self.clock();
        let vars = vars(&self.cell, self.spec.index, &fleet);
        let mut payload = t.payload.template.render(&vars, now, &mut self.telemetry_gens[i], &mut self.rng);
        let oversize = self.cell.faults.lock().oversize.0;
        if self.rng.chance(oversize) {
            self.cell.log(format!(
                "sending an oversize message ({OVERSIZE} bytes) on {}",
                self.telemetry_topics[i]
            ));
            let pad = "x".repeat(OVERSIZE);
            payload = match payload {
                Value::Object(mut o) => {
                    o.insert("padding".into(), Value::String(pad));
                    Value::Object(o)
                }
                other => json!({"value": other, "padding": pad}),
            };
        }
        let bytes = match &payload {
            Value::String(s) => s.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        };
        self.send(client, self.telemetry_topics[i].clone(), bytes, t.qos);
        let jitter = t.jitter.0.max(0) as f64;
        let next = t.every.0 as f64 + (self.rng.unit() * 2.0 - 1.0) * jitter;
        self.at(Duration::from_millis(next.max(10.0) as u64), Due::Telemetry(i));
    }

    /// Sends with the device's faults: lost, late, or now.
    pub(super) fn send(&mut self, client: &AsyncClient, topic: String, payload: Vec<u8>, qos: u8) {
        let f = *self.cell.faults.lock();
        if self.rng.chance(f.drop.0) {
            self.cell.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if f.delay.0 > 0 {
            self.at(
                Duration::from_millis(f.delay.0 as u64),
                Due::Send { topic, payload, qos, delayed: true },
            );
            return;
        }
        self.publish(client, topic, payload, qos);
    }

    fn publish(&mut self, client: &AsyncClient, topic: String, payload: Vec<u8>, qos: u8) {
        let qos = if qos == 0 { QoS::AtMostOnce } else { QoS::AtLeastOnce };
        match client.try_publish(topic, qos, false, payload) {
            Ok(()) => {
                self.cell.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.cell.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn message(&mut self, client: &AsyncClient, topic: &str, payload: &[u8]) {
        let json: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
        if let Some(p) = self.shadow_prefix.clone()
            && let Some(rest) = topic.strip_prefix(&p)
        {
            return self.shadow_message(rest, &json);
        }
        let jobs = format!("$aws/things/{}/jobs/", self.cell.name);
        if let Some(rest) = topic.strip_prefix(&jobs)
            && self.fleet().jobs.is_some()
        {
            return self.jobs_message(client, rest, &json);
        }
        for i in 0..self.commands.len() {
            if !thingbox_model::topic::matches(&self.commands[i].0, topic) {
                continue;
            }
            let fleet = self.spec.fleet.clone();
            let c = &fleet.commands[i];
            let reply = match &c.payload {
                Some(t) => {
                    let now = self.clock();
                    let vars = vars(&self.cell, self.spec.index, &fleet);
                    t.template
                        .render(&vars, now, &mut self.reply_gens[i], &mut self.rng)
                        .to_string()
                        .into_bytes()
                }
                None => payload.to_vec(),
            };
            self.cell.log(format!("command on {topic}: replying on {}", self.commands[i].1));
            let topic = self.commands[i].1.clone();
            self.at(
                Duration::from_millis(c.delay.0.max(0) as u64),
                Due::Send { topic, payload: reply, qos: 1, delayed: false },
            );
        }
    }

    fn shadow_message(&mut self, rest: &str, json: &Value) {
        let Some(sync) = self.fleet().shadow.clone() else { return };
        let after = Duration::from_millis(sync.apply_after.map_or(500, |d| d.0.max(0)) as u64);
        match rest {
            "/update/delta" => {
                if let Some(state) = json.get("state") {
                    self.at(after, Due::ShadowApply(state.to_string()));
                }
            }
            "/get/accepted" => {
                if let Some(delta) = json.get("state").and_then(|s| s.get("delta")) {
                    self.cell.log("desired state was waiting; applying it");
                    self.at(after, Due::ShadowApply(delta.to_string()));
                }
            }
            "/update/rejected" => {
                let m = json.get("message").and_then(Value::as_str).unwrap_or("?");
                self.cell.error(format!("shadow update rejected: {m}"));
            }
            _ => {}
        }
    }

    fn apply_shadow(&mut self, client: &AsyncClient, delta: &str) {
        let Some(sync) = self.fleet().shadow.clone() else { return };
        let Some(p) = self.shadow_prefix.clone() else { return };
        let Ok(Value::Object(mut delta)) = serde_json::from_str::<Value>(delta) else { return };
        if self.rng.chance(sync.fail.0) {
            self.cell.log(format!("did not apply desired {} (fail ratio)", Value::Object(delta)));
            return;
        }
        for k in &sync.ignore {
            delta.remove(k);
        }
        if delta.is_empty() {
            return;
        }
        let applied = Value::Object(delta);
        {
            let mut reported = self.cell.reported.lock();
            let mut merged = reported.take().unwrap_or_else(|| json!({}));
            merge(&mut merged, &applied);
            *reported = Some(merged);
        }
        self.cell.log(format!("applied desired → reported {applied}"));
        let body = json!({"state": {"reported": applied}}).to_string().into_bytes();
        self.send(client, format!("{p}/update"), body, 1);
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Disconnects politely (DISCONNECT sent, or a second passed).
async fn goodbye(client: &AsyncClient, events: &mut rumqttc::EventLoop) {
    if client.try_disconnect().is_err() {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            match events.poll().await {
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
}

fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                if v.is_null() {
                    a.remove(k);
                } else {
                    merge(a.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (a, b) => *a = b.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_reported_state() {
        let mut a = json!({"on": false, "c": {"r": 1, "g": 2}});
        merge(&mut a, &json!({"on": true, "c": {"g": null, "b": 3}}));
        assert_eq!(a, json!({"on": true, "c": {"r": 1, "b": 3}}));
    }
}
