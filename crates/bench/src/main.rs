//! `thingbox-bench`: an MQTT load tool (rumqttc) for comparing brokers on the same machine. Each
//! scenario prints one JSON line; `bench/mqtt.py` runs it against Thingbox and mosquitto and
//! writes the table in docs/benchmarks.md. It measures; it does not judge.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer};
use serde_json::json;

mod idle;
mod jobs;
mod sql;

#[derive(Debug, Parser)]
#[command(name = "thingbox-bench", about = "MQTT load tool for broker comparisons")]
struct Cli {
    /// Broker host.
    #[arg(long, default_value = "localhost")]
    host: String,
    /// Broker port (not needed by `sql`).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// CA certificate (PEM) for TLS; without it the connection is plain TCP.
    #[arg(long)]
    ca: Option<String>,
    /// Client certificate (PEM).
    #[arg(long)]
    cert: Option<String>,
    /// Client key (PEM, PKCS#1 or PKCS#8).
    #[arg(long)]
    key: Option<String>,
    /// Topic prefix.
    #[arg(long, default_value = "bench")]
    prefix: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// 1 publisher → 1 subscriber: messages per second.
    Throughput {
        /// 0 or 1.
        #[arg(long, default_value_t = 0)]
        qos: u8,
        /// Messages.
        #[arg(long, default_value_t = 200_000)]
        messages: u64,
        /// Payload bytes.
        #[arg(long, default_value_t = 64)]
        payload: usize,
        /// Send a small JSON object (`{"temperature":…,"seq":…}`, about 60 bytes) instead of
        /// `payload` bytes of `x`: what rules read.
        #[arg(long)]
        json: bool,
    },
    /// 1 publisher → N subscribers: deliveries per second.
    Fanout {
        /// Subscribers.
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        /// Messages published.
        #[arg(long, default_value_t = 200)]
        messages: u64,
        /// Payload bytes.
        #[arg(long, default_value_t = 64)]
        payload: usize,
    },
    /// QoS 1 publish → delivery round trips, one at a time: p50/p99.
    Latency {
        /// Round trips.
        #[arg(long, default_value_t = 2000)]
        messages: u64,
        /// Wait for the message on this topic instead of the one published to (a rule that
        /// republishes it: publish → rule → republished delivery).
        #[arg(long)]
        reply_topic: Option<String>,
    },
    /// AWS IoT SQL speed on one thread, no broker: a typical rule evaluated over a typical
    /// payload (parsed once per message, as the engine does) for `seconds`.
    Sql {
        /// How long to run.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
    },
    /// N devices update their own shadows as fast as replies come back: updates/s and accept
    /// latency (publish `…/shadow/update` → `…/update/accepted`).
    Shadow {
        /// Devices (connections), each with its own thing.
        #[arg(long, default_value_t = 100)]
        devices: usize,
        /// Updates per device.
        #[arg(long, default_value_t = 200)]
        updates: u64,
    },
    /// Devices finish a job: `devices` connections share `things` things named `<things_prefix><n>`
    /// (0-based) and send each execution's UpdateJobExecution (SUCCEEDED, QoS 1) over MQTT,
    /// pipelined, counting the accepted replies: durable execution updates per second.
    Jobs {
        /// The job.
        #[arg(long)]
        job: String,
        /// Thing name prefix.
        #[arg(long, default_value = "jb-")]
        things_prefix: String,
        /// Things.
        #[arg(long, default_value_t = 10_000)]
        things: usize,
        /// Connections.
        #[arg(long, default_value_t = 10)]
        devices: usize,
    },
    /// A paced load for the topic-viewer benchmark: `publishers` connections spread `rate`
    /// msgs/s (0: as fast as they can) round-robin over `topics` topics for `seconds`; one
    /// subscriber on `<prefix>/load/#` counts what the broker delivers.
    Load {
        /// Messages per second offered in all (0: unpaced).
        #[arg(long, default_value_t = 10_000)]
        rate: u64,
        /// Distinct topics.
        #[arg(long, default_value_t = 1000)]
        topics: usize,
        /// Duration.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Publishing connections.
        #[arg(long, default_value_t = 4)]
        publishers: usize,
    },
    /// A subscriber for tests: prints `{"subscribed":…}` once the SUBACK is in, then one JSON line
    /// per message (topic, qos, retain, payload as text), and exits after `count` messages or
    /// `timeout` seconds.
    Watch {
        /// Topic filter.
        #[arg(long)]
        filter: String,
        /// 0 or 1.
        #[arg(long, default_value_t = 1)]
        qos: u8,
        /// Messages to wait for.
        #[arg(long, default_value_t = 1)]
        count: u64,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// Client id.
        #[arg(long, default_value = "bench-watch")]
        client_id: String,
    },
    /// Devices connected as things `<prefix><n>`, each subscribed to its `notify-next`: prints
    /// `{"ready":…}`, then when the first and the last of them heard of a job (epoch ms).
    Notified {
        /// Thing name prefix.
        #[arg(long, default_value = "jb-")]
        things_prefix: String,
        /// Devices.
        #[arg(long, default_value_t = 10_000)]
        things: usize,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Opens N connections (CONNECT, keep-alive 0) and holds them until stdin closes.
    Idle {
        /// Connections.
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
    },
}

fn pem_blocks(path: &str) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let text = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    let mut out = Vec::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(&text) {
        let pem = pem.with_context(|| format!("parsing {path}"))?;
        out.push((pem.label, pem.contents));
    }
    Ok(out)
}

fn tls_config(cli: &Cli) -> anyhow::Result<Option<Arc<rustls::ClientConfig>>> {
    let Some(ca) = &cli.ca else { return Ok(None) };
    let mut roots = rustls::RootCertStore::empty();
    for (_, der) in pem_blocks(ca)? {
        roots.add(CertificateDer::from(der))?;
    }
    let builder =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
    let config = match (&cli.cert, &cli.key) {
        (Some(cert), Some(key)) => {
            let chain = pem_blocks(cert)?.into_iter().map(|(_, d)| CertificateDer::from(d)).collect();
            let (label, der) = pem_blocks(key)?.into_iter().next().context("no key in the key file")?;
            let key = if label == "RSA PRIVATE KEY" {
                PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der))
            } else {
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der))
            };
            builder.with_client_auth_cert(chain, key)?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Some(Arc::new(config)))
}

fn options(cli: &Cli, tls: &Option<Arc<rustls::ClientConfig>>, id: &str) -> MqttOptions {
    let mut o = MqttOptions::new(id, cli.host.clone(), cli.port);
    o.set_keep_alive(Duration::from_secs(60));
    o.set_max_packet_size(256 * 1024, 256 * 1024);
    o.set_inflight(100);
    if let Some(cfg) = tls {
        o.set_transport(Transport::Tls(TlsConfiguration::Rustls(cfg.clone())));
    }
    o
}

async fn connected(
    id: &str,
    cli: &Cli,
    tls: &Option<Arc<rustls::ClientConfig>>,
    cap: usize,
) -> (AsyncClient, EventLoop) {
    let (c, mut ev) = AsyncClient::new(options(cli, tls, id), cap);
    // As device SDKs do: no Nagle, so a PUBACK followed by a PUBLISH is not held for an ACK.
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    ev.set_network_options(net);
    loop {
        match ev.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => return (c, ev),
            Ok(_) => {}
            Err(e) => panic!("{id}: connect failed: {e}"),
        }
    }
}

async fn subscribed(c: &AsyncClient, ev: &mut EventLoop, topic: &str, qos: QoS) {
    c.subscribe(topic, qos).await.expect("subscribe");
    loop {
        if let Ok(Event::Incoming(Packet::SubAck(_))) = ev.poll().await {
            return;
        }
    }
}

fn qos_of(n: u8) -> QoS {
    if n == 0 { QoS::AtMostOnce } else { QoS::AtLeastOnce }
}

async fn throughput(
    cli: &Cli,
    tls: &Option<Arc<rustls::ClientConfig>>,
    qos: u8,
    messages: u64,
    payload: usize,
    json_payload: bool,
) -> serde_json::Value {
    let topic = format!("{}/tp", cli.prefix);
    let (sub, mut sev) = connected("bench-sub", cli, tls, 10).await;
    subscribed(&sub, &mut sev, &topic, qos_of(qos)).await;
    let (publ, mut pev) = connected("bench-pub", cli, tls, 1000).await;
    let body = vec![b'x'; payload];
    let start = Instant::now();
    let sender = tokio::spawn({
        let topic = topic.clone();
        async move {
            for seq in 0..messages {
                let body = if json_payload {
                    format!(r#"{{"temperature":{},"status":"ok","seq":{seq}}}"#, 20 + seq % 20).into_bytes()
                } else {
                    body.clone()
                };
                publ.publish(topic.as_str(), qos_of(qos), false, body).await.expect("publish");
            }
            publ
        }
    });
    let pumping = tokio::spawn(async move { while pev.poll().await.is_ok() {} });
    let mut received = 0u64;
    let mut last = start;
    let idle = Duration::from_secs(3);
    while received < messages {
        match tokio::time::timeout(idle, sev.poll()).await {
            Ok(Ok(Event::Incoming(Packet::Publish(_)))) => {
                received += 1;
                last = Instant::now();
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("subscriber: {e}"),
            Err(_) => break, // nothing for 3 s: the rest was dropped
        }
    }
    let elapsed = last.duration_since(start).as_secs_f64();
    let publ = sender.await.expect("sender");
    let _ = publ.disconnect().await;
    pumping.abort();
    json!({"scenario": "throughput", "qos": qos, "payload": if json_payload { 0 } else { payload }, "sent": messages, "received": received,
           "seconds": elapsed, "msgs_per_sec": received as f64 / elapsed})
}

async fn fanout(
    cli: &Cli,
    tls: &Option<Arc<rustls::ClientConfig>>,
    subscribers: usize,
    messages: u64,
    payload: usize,
) -> serde_json::Value {
    let topic = format!("{}/fan", cli.prefix);
    let received = Arc::new(AtomicU64::new(0));
    let done_at = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let expected = subscribers as u64 * messages;
    let mut subs = Vec::new();
    for i in 0..subscribers {
        let (c, mut ev) = connected(&format!("bench-fan-{i}"), cli, tls, 10).await;
        subscribed(&c, &mut ev, &topic, QoS::AtMostOnce).await;
        let received = received.clone();
        let done_at = done_at.clone();
        subs.push((
            c,
            tokio::spawn(async move {
                while let Ok(e) = ev.poll().await {
                    if let Event::Incoming(Packet::Publish(_)) = e
                        && received.fetch_add(1, Ordering::Relaxed) + 1 == expected
                    {
                        *done_at.lock().unwrap() = Some(Instant::now());
                    }
                }
            }),
        ));
    }
    let (publ, mut pev) = connected("bench-fan-pub", cli, tls, 1000).await;
    tokio::spawn(async move { while pev.poll().await.is_ok() {} });
    let start = Instant::now();
    for _ in 0..messages {
        publ.publish(topic.as_str(), QoS::AtMostOnce, false, vec![b'x'; payload]).await.expect("publish");
    }
    let mut last_count = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = received.load(Ordering::Relaxed);
        if now >= expected || (now == last_count && start.elapsed() > Duration::from_secs(5)) {
            break;
        }
        last_count = now;
    }
    let got = received.load(Ordering::Relaxed);
    let end = done_at.lock().unwrap().unwrap_or_else(Instant::now);
    let elapsed = end.duration_since(start).as_secs_f64();
    for (_, t) in &subs {
        t.abort();
    }
    json!({"scenario": "fanout", "subscribers": subscribers, "published": messages, "expected": expected,
           "delivered": got, "seconds": elapsed, "deliveries_per_sec": got as f64 / elapsed})
}

async fn latency(
    cli: &Cli,
    tls: &Option<Arc<rustls::ClientConfig>>,
    messages: u64,
    reply: Option<&str>,
) -> serde_json::Value {
    let topic = format!("{}/rtt", cli.prefix);
    let (sub, mut sev) = connected("bench-rtt-sub", cli, tls, 10).await;
    subscribed(&sub, &mut sev, reply.unwrap_or(&topic), QoS::AtLeastOnce).await;
    let (publ, mut pev) = connected("bench-rtt-pub", cli, tls, 10).await;
    tokio::spawn(async move { while pev.poll().await.is_ok() {} });
    let mut samples = Vec::with_capacity(messages as usize);
    for i in 0..messages {
        let t0 = Instant::now();
        publ.publish(topic.as_str(), QoS::AtLeastOnce, false, i.to_be_bytes().to_vec())
            .await
            .expect("publish");
        loop {
            match sev.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) if p.payload.as_ref() == i.to_be_bytes() => break,
                Ok(_) => {}
                Err(e) => panic!("subscriber: {e}"),
            }
        }
        samples.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    json!({"scenario": "latency", "messages": messages, "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": pct(1.0)})
}

async fn shadow(
    cli: &Cli,
    tls: &Option<Arc<rustls::ClientConfig>>,
    devices: usize,
    updates: u64,
) -> serde_json::Value {
    let mut clients = Vec::with_capacity(devices);
    for i in 0..devices {
        let thing = format!("bench-shadow-{i}");
        let (c, mut ev) = connected(&format!("bench-shadow-{i}"), cli, tls, 10).await;
        subscribed(&c, &mut ev, &format!("$aws/things/{thing}/shadow/update/accepted"), QoS::AtLeastOnce)
            .await;
        clients.push((thing, c, ev));
    }
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (thing, c, mut ev) in clients {
        tasks.spawn(async move {
            let mut lat = Vec::with_capacity(updates as usize);
            let topic = format!("$aws/things/{thing}/shadow/update");
            for n in 0..updates {
                let token = n.to_string();
                let body = format!(r#"{{"state":{{"reported":{{"n":{n}}}}},"clientToken":"{token}"}}"#);
                let t0 = Instant::now();
                c.publish(topic.as_str(), QoS::AtLeastOnce, false, body).await.expect("publish");
                loop {
                    match ev.poll().await {
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            let v: serde_json::Value = serde_json::from_slice(&p.payload).unwrap_or_default();
                            if v["clientToken"].as_str() == Some(token.as_str()) {
                                break;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => panic!("{thing}: {e}"),
                    }
                }
                lat.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.expect("device task"));
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    json!({"scenario": "shadow", "devices": devices, "updates": all.len(), "seconds": secs,
           "updates_per_sec": all.len() as f64 / secs, "p50_ms": pct(0.5), "p99_ms": pct(0.99)})
}

/// Publishes `rate` msgs/s in all (0: unpaced) for `seconds` from `publishers` connections over
/// `topics` topics with small JSON payloads (what a fleet of sensors sends); one QoS 0 subscriber
/// on the whole prefix counts deliveries. Prints a progress line per second on stderr.
async fn load(
    cli: &Cli,
    tls: &Option<Arc<rustls::ClientConfig>>,
    rate: u64,
    topics: usize,
    seconds: u64,
    publishers: usize,
) -> serde_json::Value {
    let publishers = publishers.max(1);
    let filter = format!("{}/load/#", cli.prefix);
    let topic_names: Arc<Vec<String>> = Arc::new(
        (0..topics.max(1)).map(|i| format!("{}/load/site{}/dev{i}/telemetry", cli.prefix, i % 10)).collect(),
    );
    let (sub, mut sev) = connected("bench-load-sub", cli, tls, 10).await;
    subscribed(&sub, &mut sev, &filter, QoS::AtMostOnce).await;
    let received = Arc::new(AtomicU64::new(0));
    let counting = tokio::spawn({
        let received = received.clone();
        async move {
            while let Ok(e) = sev.poll().await {
                if let Event::Incoming(Packet::Publish(_)) = e {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    let sent = Arc::new(AtomicU64::new(0));
    let duration = Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for p in 0..publishers {
        let (c, mut ev) = connected(&format!("bench-load-pub-{p}"), cli, tls, 1000).await;
        tokio::spawn(async move { while ev.poll().await.is_ok() {} });
        let (topic_names, sent) = (topic_names.clone(), sent.clone());
        tasks.spawn(async move {
            // Paced in 10 ms ticks; a tick that ran late is made up in the next one.
            let tick = Duration::from_millis(10);
            let per_sec = rate as f64 / publishers as f64;
            let mut ticker = tokio::time::interval(tick);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut n = 0u64;
            let mut i = p;
            while start.elapsed() < duration {
                let due = if rate == 0 {
                    n + 256
                } else {
                    ticker.tick().await;
                    (start.elapsed().as_secs_f64() * per_sec) as u64
                };
                while n < due {
                    let topic = &topic_names[i % topic_names.len()];
                    i += publishers;
                    let body = format!(
                        r#"{{"seq":{n},"temp":{:.1},"rssi":-{}}}"#,
                        20.0 + (n % 100) as f64 / 10.0,
                        40 + n % 50
                    );
                    c.publish(topic.as_str(), QoS::AtMostOnce, false, body).await.expect("publish");
                    n += 1;
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            c
        });
    }
    let mut per_second = Vec::new();
    let mut last = 0;
    let mut next = start + Duration::from_secs(1);
    while start.elapsed() < duration {
        tokio::time::sleep_until(next.into()).await;
        next += Duration::from_secs(1);
        let now = received.load(Ordering::Relaxed);
        per_second.push(now - last);
        eprintln!(
            "{}",
            json!({"second": per_second.len(), "sent": sent.load(Ordering::Relaxed), "received": now})
        );
        last = now;
    }
    let mut clients = Vec::new();
    while let Some(c) = tasks.join_next().await {
        clients.push(c.expect("publisher"));
    }
    // What is still in flight arrives within a moment; stop when nothing more comes for 1 s.
    let sent = sent.load(Ordering::Relaxed);
    let mut seen = received.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = received.load(Ordering::Relaxed);
        if now >= sent || (now == seen && start.elapsed() > duration + Duration::from_secs(1)) {
            break;
        }
        seen = now;
    }
    let got = received.load(Ordering::Relaxed);
    for c in clients {
        let _ = c.disconnect().await;
    }
    counting.abort();
    let secs = duration.as_secs_f64();
    per_second.sort_unstable();
    json!({"scenario": "load", "rate": rate, "topics": topics, "seconds": seconds, "publishers": publishers,
           "sent": sent, "received": got, "sent_per_sec": sent as f64 / secs, "received_per_sec": got as f64 / secs,
           "slowest_second": per_second.first().copied().unwrap_or(0)})
}

/// Subscribes to `filter` and prints what arrives (see `Scenario::Watch`).
async fn watch(
    cli: &Cli,
    tls: &Option<Arc<rustls::ClientConfig>>,
    filter: &str,
    qos: u8,
    count: u64,
    timeout: u64,
    client_id: &str,
) -> serde_json::Value {
    let (c, mut ev) = connected(client_id, cli, tls, 10).await;
    subscribed(&c, &mut ev, filter, qos_of(qos)).await;
    println!("{}", json!({"subscribed": filter}));
    let mut got = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    while got < count {
        match tokio::time::timeout_at(deadline, ev.poll()).await {
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                got += 1;
                println!(
                    "{}",
                    json!({"topic": p.topic, "qos": p.qos as u8, "retain": p.retain,
                           "payload": String::from_utf8_lossy(&p.payload)})
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("{client_id}: {e}"),
            Err(_) => break,
        }
    }
    let _ = c.disconnect().await;
    json!({"scenario": "watch", "received": got})
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let tls = tls_config(&cli)?;
    let result = match cli.scenario {
        Scenario::Throughput { qos, messages, payload, json } => {
            throughput(&cli, &tls, qos, messages, payload, json).await
        }
        Scenario::Fanout { subscribers, messages, payload } => {
            fanout(&cli, &tls, subscribers, messages, payload).await
        }
        Scenario::Latency { messages, ref reply_topic } => {
            latency(&cli, &tls, messages, reply_topic.as_deref()).await
        }
        Scenario::Sql { seconds } => sql::sql(seconds),
        Scenario::Shadow { devices, updates } => shadow(&cli, &tls, devices, updates).await,
        Scenario::Load { rate, topics, seconds, publishers } => {
            load(&cli, &tls, rate, topics, seconds, publishers).await
        }
        Scenario::Watch { ref filter, qos, count, timeout, ref client_id } => {
            watch(&cli, &tls, filter, qos, count, timeout, client_id).await
        }
        Scenario::Idle { connections } => idle::idle(idle::Target::new(&cli, &tls), connections).await?,
        Scenario::Jobs { ref job, ref things_prefix, things, devices } => {
            jobs::jobs(&cli, &tls, job, things_prefix, things, devices).await
        }
        Scenario::Notified { ref things_prefix, things, timeout } => {
            jobs::notified(idle::Target::new(&cli, &tls), things_prefix, things, timeout).await?
        }
    };
    println!("{result}");
    Ok(())
}
