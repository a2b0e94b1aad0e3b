//! Jobs at fleet scale: `jobs` — devices finishing a job's executions over MQTT as fast as the
//! broker accepts them (durable updates per second) — and `notified` — thousands of connected
//! devices, each subscribed to its own `notify-next`, timed until the last one has heard of a job.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rumqttc::{Event, Packet, QoS};
use serde_json::json;

use crate::idle::{Target, open_all, read_packet, subscribe};
use crate::{Cli, connected};

/// `devices` connections send every thing's UpdateJobExecution (SUCCEEDED, QoS 1, pipelined) and
/// count the `…/accepted` replies.
pub async fn jobs(
    cli: &Cli,
    tls: &Option<Arc<rustls::ClientConfig>>,
    job: &str,
    prefix: &str,
    things: usize,
    devices: usize,
) -> serde_json::Value {
    let mut clients = Vec::with_capacity(devices);
    for d in 0..devices {
        clients.push(connected(&format!("bench-jobs-{d}"), cli, tls, 1000).await);
    }
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (d, (c, mut ev)) in clients.into_iter().enumerate() {
        let mine: Vec<String> = (d..things).step_by(devices).map(|n| format!("{prefix}{n}")).collect();
        let job = job.to_owned();
        tasks.spawn(async move {
            let total = mine.len();
            let sender = tokio::spawn(async move {
                for t in mine {
                    let topic = format!("$aws/things/{t}/jobs/{job}/update");
                    c.publish(topic, QoS::AtLeastOnce, false, r#"{"status":"SUCCEEDED"}"#)
                        .await
                        .expect("publish");
                }
                c
            });
            let (mut accepted, mut rejected) = (0usize, 0usize);
            while accepted + rejected < total {
                match ev.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if p.topic.ends_with("/accepted") {
                            accepted += 1;
                        } else if p.topic.ends_with("/rejected") {
                            rejected += 1;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => panic!("jobs device {d}: {e}"),
                }
            }
            drop(sender.await);
            (accepted, rejected)
        });
    }
    let (mut accepted, mut rejected) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        let (a, r) = r.expect("device task");
        accepted += a;
        rejected += r;
    }
    let secs = start.elapsed().as_secs_f64();
    json!({"scenario": "jobs", "devices": devices, "accepted": accepted, "rejected": rejected, "seconds": secs,
           "updates_per_sec": accepted as f64 / secs})
}

fn epoch_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default()
}

/// Connects `things` devices (client id = thing name `<prefix><n>`), each subscribed to its own
/// `$aws/things/<thing>/jobs/notify-next`; prints `{"ready": …}` once every SUBACK is in, then
/// waits (at most `timeout` seconds) until each has received a message and answers with the
/// epoch milliseconds of the first and the last arrival, so the caller can time a CreateJob.
pub async fn notified(
    target: Target,
    prefix: &str,
    things: usize,
    timeout: u64,
) -> anyhow::Result<serde_json::Value> {
    let start = Instant::now();
    let ready = open_all(things, |n| {
        let (target, thing) = (target.clone(), format!("{prefix}{n}"));
        async move {
            let mut s = target.connect(&thing).await?;
            subscribe(&mut s, &format!("$aws/things/{thing}/jobs/notify-next")).await?;
            anyhow::Ok(s)
        }
    })
    .await?;
    let seconds_to_connect = start.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"scenario": "notified", "ready": ready.len(), "seconds_to_connect": seconds_to_connect})
    );
    let mut waiting = tokio::task::JoinSet::new();
    for mut s in ready {
        waiting.spawn(async move {
            loop {
                if read_packet(&mut s).await? & 0xf0 == 0x30 {
                    return anyhow::Ok(epoch_ms());
                }
            }
        });
    }
    let (mut first, mut last, mut heard) = (u128::MAX, 0u128, 0usize);
    let deadline = tokio::time::sleep(Duration::from_secs(timeout));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            r = waiting.join_next() => match r {
                Some(r) => {
                    let at = r??;
                    first = first.min(at);
                    last = last.max(at);
                    heard += 1;
                }
                None => break,
            },
            () = &mut deadline => break,
        }
    }
    Ok(json!({"scenario": "notified", "devices": things, "notified": heard,
              "first_at_ms": first, "last_at_ms": last}))
}
