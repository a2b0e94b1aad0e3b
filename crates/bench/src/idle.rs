//! Raw MQTT 3.1.1 connections without a client library, for scenarios that hold thousands of
//! them (a rumqttc event loop each would measure the tool, not the broker): `idle` opens and holds
//! N connections while the orchestrator reads the broker's memory.

use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::ServerName;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A byte stream to the broker: TCP, or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where and how to connect, cheap to share between tasks.
#[derive(Clone)]
pub struct Target {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS, when the run has a CA.
    pub tls: Option<tokio_rustls::TlsConnector>,
}

impl Target {
    /// The CLI's broker.
    pub fn new(cli: &crate::Cli, tls: &Option<Arc<rustls::ClientConfig>>) -> Self {
        Self {
            host: cli.host.clone(),
            port: cli.port,
            tls: tls.clone().map(tokio_rustls::TlsConnector::from),
        }
    }

    /// TLS (if configured) + CONNECT (clean session, keep-alive 0) as `id`, CONNACK checked.
    pub async fn connect(&self, id: &str) -> anyhow::Result<Box<dyn Io>> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await?;
        let mut s: Box<dyn Io> = match &self.tls {
            Some(connector) => {
                let name = ServerName::try_from(self.host.clone())?;
                Box::new(connector.connect(name, tcp).await?)
            }
            None => Box::new(tcp),
        };
        anyhow::ensure!(id.len() < 100, "client id too long for this tool");
        let mut connect =
            vec![0x10, (12 + id.len()) as u8, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 0, 0, id.len() as u8];
        connect.extend_from_slice(id.as_bytes());
        s.write_all(&connect).await?;
        let mut ack = [0u8; 4];
        s.read_exact(&mut ack).await?;
        anyhow::ensure!(ack[3] == 0, "CONNACK refused: {ack:?}");
        Ok(s)
    }
}

/// SUBSCRIBE to one filter at QoS 0 (packet id 1) and wait for its SUBACK.
pub async fn subscribe(s: &mut Box<dyn Io>, filter: &str) -> anyhow::Result<()> {
    let len = 2 + 2 + filter.len() + 1;
    anyhow::ensure!(len < 128, "filter too long for this tool");
    let mut sub = vec![0x82, len as u8, 0, 1, 0, filter.len() as u8];
    sub.extend_from_slice(filter.as_bytes());
    sub.push(0);
    s.write_all(&sub).await?;
    let mut ack = [0u8; 5];
    s.read_exact(&mut ack).await?;
    anyhow::ensure!(ack[0] == 0x90 && ack[4] == 0, "SUBACK refused: {ack:?}");
    Ok(())
}

/// Reads one whole packet and returns its first byte (type and flags).
pub async fn read_packet(s: &mut Box<dyn Io>) -> anyhow::Result<u8> {
    let first = s.read_u8().await?;
    let (mut len, mut shift) = (0usize, 0);
    loop {
        let b = s.read_u8().await?;
        len |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        anyhow::ensure!(shift <= 21, "malformed remaining length");
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await?;
    Ok(first)
}

/// Runs `open(i)` for every `i` below `n`, at most 64 at a time (a broker's accept queue is not
/// what these scenarios measure), and returns the streams in the order they came up.
pub async fn open_all<F, Fut>(n: usize, open: F) -> anyhow::Result<Vec<Box<dyn Io>>>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<Box<dyn Io>>> + Send + 'static,
{
    let mut out = Vec::with_capacity(n);
    let mut pending = tokio::task::JoinSet::new();
    for i in 0..n {
        pending.spawn(open(i));
        if pending.len() >= 64 {
            out.push(pending.join_next().await.expect("task")??);
        }
    }
    while let Some(r) = pending.join_next().await {
        out.push(r??);
    }
    Ok(out)
}

/// Opens `connections` connections, 64 at a time, prints when all are up, and holds them until
/// stdin closes.
pub async fn idle(target: Target, connections: usize) -> anyhow::Result<serde_json::Value> {
    let start = Instant::now();
    let held = open_all(connections, |i| {
        let target = target.clone();
        async move { target.connect(&format!("idle-{i}")).await }
    })
    .await?;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"scenario": "idle", "connections": held.len(), "seconds_to_connect": seconds, "state": "holding"})
    );
    // Hold until stdin closes (the orchestrator measures the broker's memory meanwhile).
    let _ = tokio::task::spawn_blocking(|| {
        use std::io::Read as _;
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await;
    Ok(json!({"scenario": "idle", "connections": held.len(), "state": "closed"}))
}
