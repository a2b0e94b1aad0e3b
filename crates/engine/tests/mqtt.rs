//! The engine in-process with rumqttc (MQTT 3.1.1 and 5) as the client: many engines start and
//! stop in one process, round trips over plain TCP and mutual TLS, keep-alive, and a subscriber
//! that stops reading never slows anyone else.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use thingbox_engine::{Engine, EngineConfig, EngineHandle, Listeners};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

struct Running {
    handle: EngineHandle,
    stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let listeners = Listeners {
        api: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        mqtt_tls: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
        mqtt: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
        https: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
    };
    let (stop, rx) = oneshot::channel::<()>();
    let handle = Engine::start(EngineConfig::new(dir.path()), listeners, async {
        let _ = rx.await;
    })
    .await
    .unwrap();
    Running { handle, stop, _dir: dir }
}

impl Running {
    fn port(&self, which: &str) -> u16 {
        let ep = self.handle.endpoints();
        let hp = match which {
            "mqtt" => ep.mqtt.clone().unwrap(),
            _ => ep.mqtt_tls.clone().unwrap(),
        };
        hp.rsplit_once(':').unwrap().1.parse().unwrap()
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.handle.wait())
            .await
            .expect("engine stops")
            .unwrap();
    }
}

/// Polls the event loop until `want` returns Some for an incoming packet.
async fn until<T>(ev: &mut EventLoop, mut want: impl FnMut(&Packet) -> Option<T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Event::Incoming(p) = ev.poll().await.expect("connection stays up")
                && let Some(t) = want(&p)
            {
                return t;
            }
        }
    })
    .await
    .expect("expected packet within 10 s")
}

fn opts(id: &str, port: u16) -> MqttOptions {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(30));
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_engines_start_and_stop_and_free_their_ports() {
    for _ in 0..5 {
        let e = start().await;
        let port = e.port("mqtt");
        let (c, mut ev) = AsyncClient::new(opts("c", port), 10);
        until(&mut ev, |p| matches!(p, Packet::ConnAck(_)).then_some(())).await;
        e.stop().await;
        drop(c);
        // The port is free again.
        TcpListener::bind(("127.0.0.1", port)).await.expect("port released");
    }
}

// One worker: the runtime `thingbox serve` builds on a 2-core machine (half the cores).
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn v4_round_trip_over_plain_tcp() {
    let e = start().await;
    let (sub, mut sev) = AsyncClient::new(opts("sub", e.port("mqtt")), 10);
    sub.subscribe("room/+/temp", QoS::AtLeastOnce).await.unwrap();
    until(&mut sev, |p| matches!(p, Packet::SubAck(_)).then_some(())).await;
    let (publ, mut pev) = AsyncClient::new(opts("pub", e.port("mqtt")), 10);
    publ.publish("room/1/temp", QoS::AtLeastOnce, false, "21.5").await.unwrap();
    tokio::spawn(async move { while pev.poll().await.is_ok() {} });
    let got = until(&mut sev, |p| match p {
        Packet::Publish(p) => Some((p.topic.clone(), p.payload.clone(), p.qos)),
        _ => None,
    })
    .await;
    assert_eq!(got, ("room/1/temp".to_owned(), "21.5".into(), QoS::AtLeastOnce));
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_round_trip_with_user_properties() {
    use rumqttc::v5::mqttbytes::v5::{Packet as P5, PublishProperties};
    use rumqttc::v5::{AsyncClient as C5, Event as E5, MqttOptions as O5, mqttbytes::QoS as Q5};
    let e = start().await;
    let port = e.port("mqtt");
    let (sub, mut sev) = C5::new(O5::new("sub5", "127.0.0.1", port), 10);
    sub.subscribe("v5/topic", Q5::AtLeastOnce).await.unwrap();
    let (publ, mut pev) = C5::new(O5::new("pub5", "127.0.0.1", port), 10);
    // The publisher's event loop runs on its own: dropping a half-done `poll` (as a `select!` over
    // both loops did) can lose its write, and the test then waited forever.
    tokio::spawn(async move { while pev.poll().await.is_ok() {} });
    let mut suback = false;
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match sev.poll().await.unwrap() {
                E5::Incoming(P5::SubAck(_)) => {
                    suback = true;
                    let props = PublishProperties {
                        user_properties: vec![("k".into(), "v".into())],
                        ..Default::default()
                    };
                    publ.publish_with_properties("v5/topic", Q5::AtLeastOnce, false, "five", props)
                        .await
                        .unwrap();
                }
                E5::Incoming(P5::Publish(p)) => return p,
                _ => {}
            }
        }
    })
    .await
    .unwrap();
    assert!(suback);
    assert_eq!(got.payload, "five");
    assert_eq!(got.properties.unwrap().user_properties, vec![("k".to_owned(), "v".to_owned())]);
    e.stop().await;
}

/// One request to the AWS API over raw HTTP/1.1 (no client library); returns the JSON body.
async fn call(api: &str, method: &str, path: &str, body: &str) -> serde_json::Value {
    let addr = api.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap()
}

/// Issues an ACTIVE device certificate with a policy allowing everything attached (as on AWS, a
/// certificate without a policy may not even connect).
async fn issue_certificate(api: &str) -> (String, String) {
    let v = call(api, "POST", "/keys-and-certificate?setAsActive=true", "").await;
    let doc = serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})
        .to_string();
    call(api, "POST", "/policies/all", &serde_json::json!({ "policyDocument": doc }).to_string()).await;
    let target = serde_json::json!({ "target": v["certificateArn"] }).to_string();
    call(api, "PUT", "/target-policies/all", &target).await;
    (
        v["certificatePem"].as_str().unwrap().to_owned(),
        v["keyPair"]["PrivateKey"].as_str().unwrap().to_owned(),
    )
}

fn der(pem: &str) -> Vec<u8> {
    x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap().1.contents
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v4_over_mutual_tls_with_an_issued_certificate() {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer};
    let e = start().await;
    let mut events = e.handle.events();
    let (cert_pem, key_pem) = issue_certificate(&e.handle.endpoints().api).await;
    let root = std::fs::read_to_string(&e.handle.endpoints().root_ca).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(der(&root))).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![CertificateDer::from(der(&cert_pem))],
            PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der(&key_pem))),
        )
        .unwrap();
    let mut o = MqttOptions::new("tls-device", "localhost", e.port("tls"));
    o.set_transport(Transport::Tls(TlsConfiguration::Rustls(Arc::new(config))));
    let (c, mut ev) = AsyncClient::new(o, 10);
    c.subscribe("devices/tls", QoS::AtLeastOnce).await.unwrap();
    until(&mut ev, |p| matches!(p, Packet::SubAck(_)).then_some(())).await;
    c.publish("devices/tls", QoS::AtLeastOnce, false, "secure").await.unwrap();
    let payload = until(&mut ev, |p| match p {
        Packet::Publish(p) => Some(p.payload.clone()),
        _ => None,
    })
    .await;
    assert_eq!(payload, "secure");
    // Every decision was published on the event bus, with the statement that decided.
    let mut seen = Vec::new();
    while let Ok(ev) = events.try_recv() {
        let thingbox_engine::events::Event::Authorization(d) = &*ev;
        seen.push((d.action, d.decision, d.allowed_by.first().map(|s| (s.policy.clone(), s.index))));
    }
    for action in ["iot:Connect", "iot:Subscribe", "iot:Publish", "iot:Receive"] {
        assert!(
            seen.contains(&(action, "ALLOWED", Some(("all".to_owned(), 0)))),
            "{action} decision missing from {seen:?}"
        );
    }
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_timeout_closes_the_connection_and_says_why() {
    let e = start().await;
    let port = e.port("mqtt");
    let (watch, mut wev) = AsyncClient::new(opts("watcher", port), 10);
    watch.subscribe("$aws/events/presence/disconnected/+", QoS::AtLeastOnce).await.unwrap();
    until(&mut wev, |p| matches!(p, Packet::SubAck(_)).then_some(())).await;
    // CONNECT with keep-alive 1 s, then silence.
    let mut raw = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    raw.write_all(b"\x10\x10\x00\x04MQTT\x04\x02\x00\x01\x00\x04idle").await.unwrap();
    let mut connack = [0u8; 4];
    raw.read_exact(&mut connack).await.unwrap();
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00]);
    let event = until(&mut wev, |p| match p {
        Packet::Publish(p) => Some(serde_json::from_slice::<serde_json::Value>(&p.payload).unwrap()),
        _ => None,
    })
    .await;
    assert_eq!(event["clientId"], "idle");
    assert_eq!(event["disconnectReason"], "MQTT_KEEP_ALIVE_TIMEOUT");
    let mut rest = Vec::new();
    let n =
        tokio::time::timeout(Duration::from_secs(2), raw.read_to_end(&mut rest)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0, "the socket is closed");
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_does_not_slow_the_others() {
    let e = start().await;
    let port = e.port("mqtt");
    // A subscriber that never reads: CONNECT + SUBSCRIBE to `flood` at QoS 0, then nothing.
    let mut stuck = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stuck.write_all(b"\x10\x11\x00\x04MQTT\x04\x02\x00\x3c\x00\x05stuck").await.unwrap();
    stuck.write_all(b"\x82\x0a\x00\x01\x00\x05flood\x00").await.unwrap();
    let mut head = [0u8; 9];
    stuck.read_exact(&mut head).await.unwrap(); // CONNACK + SUBACK
    let (fast, mut fev) = AsyncClient::new(opts("fast", port), 10);
    fast.subscribe("flood", QoS::AtLeastOnce).await.unwrap();
    until(&mut fev, |p| matches!(p, Packet::SubAck(_)).then_some(())).await;

    let total = 5_000;
    let (publ, mut pev) = AsyncClient::new(opts("publisher", port), 100);
    let sender = tokio::spawn(async move {
        for i in 0..total {
            publ.publish("flood", QoS::AtLeastOnce, false, vec![(i % 251) as u8; 1024]).await.unwrap();
        }
    });
    tokio::spawn(async move { while pev.poll().await.is_ok() {} });
    let mut received = 0;
    tokio::time::timeout(Duration::from_secs(20), async {
        while received < total {
            if let Event::Incoming(Packet::Publish(_)) = fev.poll().await.unwrap() {
                received += 1;
            }
        }
    })
    .await
    .expect("the reading subscriber gets every message while the other one is stuck");
    sender.await.unwrap();
    drop(stuck);
    e.stop().await;
}
