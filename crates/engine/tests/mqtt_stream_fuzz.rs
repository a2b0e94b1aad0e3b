//! Mutated MQTT byte streams through the real connection state machine: whole sessions (CONNECT,
//! SUBSCRIBE, PUBLISH at QoS 0 and 1, PUBACK, PINGREQ, UNSUBSCRIBE, DISCONNECT; MQTT 3.1.1 and 5
//! with properties and topic aliases) are mutated with a seeded generator (bytes flipped,
//! overwritten with boundary values, inserted, deleted, duplicated, truncated, spliced) and written
//! to the engine's plain listener. Every connection must end once the client stops sending, no
//! task of the engine may panic, and afterwards a well-behaved client still gets its round trip
//! and the engine stops cleanly.
//!
//! `THINGBOX_FUZZ_CASES` sets the number of streams (default 3,000; `scripts/fuzz` runs more) and
//! `THINGBOX_FUZZ_SEED` the seed (default 1; a failure prints the seed and case to replay).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
use common::Rng;

fn varint(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let b = (n % 128) as u8;
        n /= 128;
        out.push(if n > 0 { b | 0x80 } else { b });
        if n == 0 {
            return;
        }
    }
}

fn s16(b: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(b.len() as u16).to_be_bytes());
    out.extend_from_slice(b);
}

fn packet(first: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(first);
    varint(body.len(), out);
    out.extend_from_slice(body);
}

/// A valid session of `v5` or 3.1.1 for client `id`.
fn session(v5: bool, id: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let props = |p: &[u8]| {
        let mut b = Vec::new();
        if v5 {
            varint(p.len(), &mut b);
            b.extend_from_slice(p);
        }
        b
    };
    // CONNECT: clean start, keep-alive 30, v5: session expiry 60 and receive maximum 10.
    let mut b = Vec::new();
    s16(b"MQTT", &mut b);
    b.extend_from_slice(&[if v5 { 5 } else { 4 }, 0x02, 0, 30]);
    b.extend(props(&[0x11, 0, 0, 0, 60, 0x21, 0, 10]));
    s16(id.as_bytes(), &mut b);
    packet(0x10, &b, &mut out);
    // SUBSCRIBE two filters.
    let mut b = vec![0, 1];
    b.extend(props(&[0x26, 0, 1, b'k', 0, 1, b'v']));
    s16(b"fz/+/x", &mut b);
    b.push(1);
    s16(b"fz/#", &mut b);
    b.push(0);
    packet(0x82, &b, &mut out);
    // PUBLISH QoS 1 (v5: topic alias 1, a user property, a content type), then QoS 0 (v5: by alias).
    let mut b = Vec::new();
    s16(b"fz/a/x", &mut b);
    b.extend_from_slice(&[0, 2]);
    b.extend(props(&[0x23, 0, 1, 0x26, 0, 1, b'a', 0, 1, b'b', 0x03, 0, 4, b't', b'e', b'x', b't']));
    b.extend_from_slice(b"{\"t\":21.5}");
    packet(0x32, &b, &mut out);
    let mut b = Vec::new();
    s16(if v5 { b"" } else { b"fz/b/x" }, &mut b);
    b.extend(props(&[0x23, 0, 1]));
    b.extend_from_slice(b"hello");
    packet(0x30, &b, &mut out);
    packet(0x40, &[0, 1], &mut out); // PUBACK
    packet(0xC0, &[], &mut out); // PINGREQ
    let mut b = vec![0, 3];
    b.extend(props(&[]));
    s16(b"fz/#", &mut b);
    packet(0xA2, &b, &mut out);
    packet(0xE0, if v5 { &[0] } else { &[] }, &mut out);
    out
}

/// Applies one to three mutations.
fn mutate(rng: &mut Rng, mut data: Vec<u8>, other: &[u8]) -> Vec<u8> {
    for _ in 0..1 + rng.below(3) {
        let len = data.len().max(1);
        match rng.below(7) {
            0 => {
                let i = rng.below(len);
                if let Some(b) = data.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
            1 => {
                let i = rng.below(len);
                let v = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0xC0][rng.below(6)];
                if let Some(b) = data.get_mut(i) {
                    *b = v;
                }
            }
            2 => {
                let i = rng.below(len);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                data.splice(i.min(data.len())..i.min(data.len()), bytes);
            }
            3 => {
                let i = rng.below(len);
                let j = (i + 1 + rng.below(16)).min(data.len());
                if i < j {
                    data.drain(i..j);
                }
            }
            4 => {
                let i = rng.below(len);
                let j = (i + 1 + rng.below(32)).min(data.len());
                if i < j {
                    let copy = data[i..j].to_vec();
                    data.splice(j..j, copy);
                }
            }
            5 => data.truncate(rng.below(len)),
            _ => {
                let i = rng.below(len).min(data.len());
                let k = rng.below(other.len().max(1)).min(other.len());
                data.truncate(i);
                data.extend_from_slice(&other[k..]);
            }
        }
    }
    data
}

/// Writes `data`, closes the sending half, and reads until the engine closes: false if it never does.
async fn run(port: u16, data: Vec<u8>) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else { return true };
    let _ = s.write_all(&data).await;
    let _ = s.shutdown().await;
    let mut buf = [0u8; 4096];
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    ended.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_streams_never_panic_or_hang_the_gateway() {
    let panicked = common::panics();
    let (cases, seed) = common::params(3000);
    let engine = common::Running::start(true).await;
    let handle = &engine.handle;
    let port: u16 = handle.endpoints().mqtt.clone().unwrap().rsplit_once(':').unwrap().1.parse().unwrap();

    let hung = Arc::new(AtomicUsize::new(0));
    let mut rng = Rng::seeded(seed);
    let mut tasks = tokio::task::JoinSet::new();
    for case in 0..cases {
        let v5 = rng.below(2) == 1;
        let base = session(v5, &format!("fz{}", case % 64));
        let other = session(!v5, "fz-other");
        let data = mutate(&mut rng, base, &other);
        let hung = hung.clone();
        tasks.spawn(async move {
            if !run(port, data).await {
                eprintln!("case {case} (seed {seed}) left the connection open after the client stopped");
                hung.fetch_add(1, Ordering::SeqCst);
            }
        });
        while tasks.len() >= 16 {
            tasks.join_next().await;
        }
    }
    while tasks.join_next().await.is_some() {}

    assert_eq!(hung.load(Ordering::SeqCst), 0, "connections the gateway never closed");
    assert_eq!(common::panics(), panicked, "a task panicked (see the output above; seed {seed})");

    // A well-behaved client still gets its round trip.
    let (c, mut ev) = AsyncClient::new(MqttOptions::new("after-fuzz", "127.0.0.1", port), 10);
    c.subscribe("after/fuzz", QoS::AtLeastOnce).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ev.poll().await.expect("connection stays up") {
                Event::Incoming(Packet::SubAck(_)) => {
                    c.publish("after/fuzz", QoS::AtLeastOnce, false, "still here").await.unwrap();
                }
                Event::Incoming(Packet::Publish(p)) => return p.payload,
                _ => {}
            }
        }
    })
    .await
    .expect("round trip after the fuzzing");
    assert_eq!(&got[..], b"still here");
    engine.stop().await;
}
