//! The `kafka` action: the rule's output produced as one record to the action's `topic` on the
//! cluster its `clientProperties` name (`bootstrap.servers`), with rskafka (pure Rust).
//!
//! - `security.protocol` PLAINTEXT (the default here), SSL, SASL_PLAINTEXT or SASL_SSL; TLS trusts
//!   the system's roots (after `thingbox trust`, Thingbox's too); `sasl.mechanism` PLAIN,
//!   SCRAM-SHA-256 or SCRAM-SHA-512 with `sasl.plain.*` / `sasl.scram.*` credentials.
//! - `key` (a template) and `headers` are sent as given; `partition` when given, else Kafka's own
//!   default partitioner (murmur2 of the key) or, without a key, a random partition.
//! - Records are sent uncompressed whatever `compression.type` says; `acks` is the library's
//!   (all replicas).
//!
//! Clients are kept per cluster and security settings, partition clients per topic and
//! partition; a failed send drops the partition client so the next one looks the leader up again.
//! Every step is bounded by [`DEADLINE`]: an unreachable cluster fails the action, it never hangs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rskafka::BackoffConfig;
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};
use rskafka::record::Record;
use serde_json::Value;
use tokio::sync::Mutex;

use super::{Forwarder, s};

/// How long one send may take, connection and retries included.
const DEADLINE: Duration = Duration::from_secs(5);

/// The clients kept between sends.
#[derive(Debug, Default)]
pub(super) struct KafkaClients {
    clients: Mutex<HashMap<String, Arc<Client>>>,
    partitions: Mutex<HashMap<(String, String, i32), Arc<PartitionClient>>>,
}

/// How to reach a cluster, read from `clientProperties`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cluster {
    servers: Vec<String>,
    tls: bool,
    sasl: Option<(String, String, String)>,
}

impl Cluster {
    fn from_properties(props: &Value) -> Result<Self, String> {
        let prop = |k: &str| s(props, k).trim();
        let servers: Vec<String> = prop("bootstrap.servers")
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect();
        if servers.is_empty() {
            return Err("clientProperties has no bootstrap.servers".into());
        }
        let (tls, sasl) = match prop("security.protocol").to_ascii_uppercase().as_str() {
            "" | "PLAINTEXT" => (false, false),
            "SSL" => (true, false),
            "SASL_PLAINTEXT" => (false, true),
            "SASL_SSL" => (true, true),
            other => {
                return Err(format!(
                    "security.protocol '{other}' is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
                ));
            }
        };
        let sasl = if sasl {
            let mechanism = match prop("sasl.mechanism") {
                "" => "PLAIN".to_owned(),
                m => m.to_ascii_uppercase(),
            };
            let (user, password) = match mechanism.as_str() {
                "PLAIN" => (prop("sasl.plain.username"), prop("sasl.plain.password")),
                "SCRAM-SHA-256" | "SCRAM-SHA-512" => {
                    (prop("sasl.scram.username"), prop("sasl.scram.password"))
                }
                other => {
                    return Err(format!(
                        "sasl.mechanism '{other}' is not served locally (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 are)"
                    ));
                }
            };
            Some((mechanism, user.to_owned(), password.to_owned()))
        } else {
            None
        };
        Ok(Self { servers, tls, sasl })
    }

    /// The key clients are kept under.
    fn key(&self) -> String {
        format!("{}|{}|{:?}", self.servers.join(","), self.tls, self.sasl)
    }
}

/// Kafka's default partitioner for keyed records: murmur2 of the key, made positive, modulo the
/// partition count (as the Java client does).
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const SEED: u32 = 0x9747_b28c;
    let len = data.len();
    #[allow(clippy::cast_possible_truncation)]
    let mut h = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() == 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

fn partition_for(key: Option<&[u8]>, partitions: &[i32]) -> Option<i32> {
    if partitions.is_empty() {
        return None;
    }
    let i = match key {
        Some(k) => (murmur2(k) & 0x7fff_ffff) as usize % partitions.len(),
        None => rand_core::RngCore::next_u32(&mut rand_core::OsRng) as usize % partitions.len(),
    };
    Some(partitions[i])
}

/// The record's timestamp (rskafka's chrono has no clock).
fn now() -> rskafka::chrono::DateTime<rskafka::chrono::Utc> {
    rskafka::chrono::DateTime::from_timestamp_millis(crate::broker::now_ms()).unwrap_or_default()
}

async fn bounded<T, E: std::fmt::Display>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(DEADLINE, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no answer within {} s", DEADLINE.as_secs())),
    }
}

impl Forwarder {
    async fn kafka_client(&self, cluster: &Cluster) -> Result<Arc<Client>, String> {
        let key = cluster.key();
        let mut clients = self.kafka.clients.lock().await;
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let mut builder = ClientBuilder::new(cluster.servers.clone())
            .client_id("thingbox-rules")
            .backoff_config(BackoffConfig {
                init_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
                deadline: Some(DEADLINE),
            });
        if cluster.tls {
            let tls =
                crate::rules::actions::system_tls_config().ok_or("TLS for Kafka could not be set up")?;
            builder = builder.tls_config(Arc::new(tls));
        }
        if let Some((mechanism, user, password)) = &cluster.sasl {
            let creds = Credentials::new(user.clone(), password.clone());
            builder = builder.sasl_config(match mechanism.as_str() {
                "SCRAM-SHA-256" => SaslConfig::ScramSha256(creds),
                "SCRAM-SHA-512" => SaslConfig::ScramSha512(creds),
                _ => SaslConfig::Plain(creds),
            });
        }
        let client = Arc::new(
            bounded(&format!("could not reach Kafka at {}", cluster.servers.join(",")), builder.build())
                .await?,
        );
        clients.insert(key, client.clone());
        Ok(client)
    }

    pub(super) async fn kafka(&self, body: &Value, payload: &[u8]) -> Result<String, String> {
        let cluster = Cluster::from_properties(body.get("clientProperties").unwrap_or(&Value::Null))?;
        let topic = s(body, "topic");
        if topic.is_empty() {
            return Err("the kafka action's topic is empty".into());
        }
        let key = Some(s(body, "key")).filter(|k| !k.is_empty()).map(|k| k.as_bytes().to_vec());
        let client = self.kafka_client(&cluster).await?;
        let partition = match s(body, "partition").trim() {
            "" => {
                let topics = bounded("listing Kafka's topics failed", client.list_topics()).await?;
                let partitions: Vec<i32> = topics
                    .iter()
                    .find(|t| t.name == topic)
                    .map(|t| t.partitions.iter().copied().collect())
                    .unwrap_or_default();
                partition_for(key.as_deref(), &partitions)
                    .ok_or_else(|| format!("Kafka has no topic '{topic}' (or it has no partitions)"))?
            }
            p => p.parse().map_err(|_| format!("partition '{p}' is not a number"))?,
        };
        let slot = (cluster.key(), topic.to_owned(), partition);
        let pc = {
            let mut partitions = self.kafka.partitions.lock().await;
            match partitions.get(&slot) {
                Some(pc) => pc.clone(),
                None => {
                    let pc = Arc::new(
                        bounded(
                            &format!("Kafka topic '{topic}' partition {partition}"),
                            client.partition_client(topic, partition, UnknownTopicHandling::Error),
                        )
                        .await?,
                    );
                    partitions.insert(slot.clone(), pc.clone());
                    pc
                }
            }
        };
        let headers: BTreeMap<String, Vec<u8>> = body
            .get("headers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|h| (s(h, "key").to_owned(), s(h, "value").as_bytes().to_vec()))
            .collect();
        let record = Record { key, value: Some(payload.to_vec()), headers, timestamp: now() };
        match bounded("producing to Kafka failed", pc.produce(vec![record], Compression::NoCompression)).await
        {
            Ok(offsets) => Ok(format!(
                "produced to {topic} partition {partition} at offset {}",
                offsets.first().map_or_else(|| "?".into(), i64::to_string)
            )),
            Err(e) => {
                self.kafka.partitions.lock().await.remove(&slot);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn murmur2_matches_kafkas() {
        // Values of org.apache.kafka.common.utils.Utils.murmur2 (its own tests).
        let cases: [(&str, i32); 4] = [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
        ];
        for (input, want) in cases {
            #[allow(clippy::cast_possible_wrap)]
            let got = murmur2(input.as_bytes()) as i32;
            assert_eq!(got, want, "{input}");
        }
        assert_eq!(partition_for(Some(b"foobar"), &[0, 1, 2]), partition_for(Some(b"foobar"), &[0, 1, 2]));
        assert_eq!(partition_for(None, &[]), None);
    }

    #[test]
    fn client_properties() {
        let c = Cluster::from_properties(&json!({"bootstrap.servers": "a:9092, b:9092"})).unwrap();
        assert_eq!((c.servers.len(), c.tls, c.sasl.is_none()), (2, false, true));
        let c =
            Cluster::from_properties(&json!({"bootstrap.servers": "a:9096", "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512", "sasl.scram.username": "u", "sasl.scram.password": "p"}))
            .unwrap();
        assert_eq!((c.tls, c.sasl), (true, Some(("SCRAM-SHA-512".into(), "u".into(), "p".into()))));
        for (props, want) in [
            (json!({}), "bootstrap.servers"),
            (json!({"bootstrap.servers": "a:1", "security.protocol": "TLS"}), "security.protocol 'TLS'"),
            (
                json!({"bootstrap.servers": "a:1", "security.protocol": "SASL_SSL", "sasl.mechanism": "GSSAPI"}),
                "GSSAPI",
            ),
        ] {
            assert!(Cluster::from_properties(&props).unwrap_err().contains(want), "{props}");
        }
    }
}
