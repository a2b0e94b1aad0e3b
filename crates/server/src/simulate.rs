//! `thingbox simulate SCENARIO`: runs a scenario's simulated devices in this process — against the
//! Thingbox serving the data dir (its fleet made through that Thingbox's AWS API, its devices
//! connecting to its mutual-TLS port), or, given `--endpoint` and a certificate, against any AWS
//! IoT endpoint (AWS itself: the things must exist; every device uses that certificate, with its
//! thing name as client id; steps that need the AWS API are skipped). Progress is printed every
//! few seconds; Ctrl-C stops the devices.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;
use thingbox_api::sim::ScenarioPhase;
use thingbox_engine::sim::{Simulator, Target, api, provision};

/// Where the devices connect, when not to a local Thingbox.
#[derive(Debug, Clone, Default)]
pub struct Remote {
    /// `host[:port]` (8883 when absent).
    pub endpoint: Option<String>,
    /// The device certificate (PEM).
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub key: Option<PathBuf>,
    /// The CA that signed the endpoint's certificate (AmazonRootCA1.pem for AWS).
    pub ca: Option<PathBuf>,
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Runs the scenario in `file` until it ends or Ctrl-C.
pub async fn simulate(data_dir: Option<PathBuf>, file: &Path, remote: Remote) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (sim, api) = match &remote.endpoint {
        Some(endpoint) => {
            let (host, port) = match endpoint.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().with_context(|| format!("the port in {endpoint}"))?),
                None => (endpoint.clone(), 8883),
            };
            let need = |p: &Option<PathBuf>, what: &str| {
                p.clone().with_context(|| format!("--endpoint needs --{what}"))
            };
            let (cert, key, ca) =
                (need(&remote.cert, "cert")?, need(&remote.key, "key")?, need(&remote.ca, "ca")?);
            let ca_pem = read(&ca)?;
            let roots = provision::roots(&ca_pem).map_err(anyhow::Error::msg)?;
            let cert = String::from_utf8(read(&cert)?).context("the certificate is not PEM text")?;
            let key = String::from_utf8(read(&key)?).context("the key is not PEM text")?;
            let tls = provision::client_config(&roots, &cert, &key).map_err(anyhow::Error::msg)?;
            let target = Target { host, port, ca_pem, shared_identity: Some(tls) };
            (Simulator::new(Ok(target), None, stop_rx.clone()), None)
        }
        None => {
            let dir = crate::config::data_dir_or_default(data_dir)?;
            let ep = running(&dir).await?;
            let s = |k: &str| ep.get(k).and_then(Value::as_str).map(str::to_owned);
            let mqtt = s("mqtt_tls").context("that Thingbox does not serve mutual-TLS MQTT")?;
            let addr: std::net::SocketAddr =
                mqtt.parse().with_context(|| format!("its MQTT address {mqtt}"))?;
            let ca_pem = read(Path::new(&s("root_ca").unwrap_or_default()))?;
            let token = s("console")
                .and_then(|c| c.split_once("token=").map(|(_, t)| t.to_owned()))
                .context("its endpoints.json names no console token")?;
            let caller = api::remote(s("api").unwrap_or_default(), token, s("region").unwrap_or_default());
            let target =
                Target { host: addr.ip().to_string(), port: addr.port(), ca_pem, shared_identity: None };
            (
                Simulator::new(Ok(target), Some(dir.join("simulator")), stop_rx.clone()),
                Some(api::Api::new(caller)),
            )
        }
    };
    let owner = tokio::spawn(sim.clone().run(stop_rx));
    let name = sim.start(&text, api).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    println!("scenario {name} started");
    let result = follow(&sim, &name).await;
    let _ = stop_tx.send(true);
    let _ = owner.await;
    result
}

/// Prints progress until the scenario ends or Ctrl-C (which stops it).
async fn follow(sim: &Arc<Simulator>, name: &str) -> anyhow::Result<()> {
    let mut seen = 0usize;
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    let mut interrupted = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c(), if !interrupted => {
                interrupted = true;
                println!("stopping…");
                let _ = sim.stop(name);
            }
        }
        let state = sim.state(Some(name), 0, 0);
        let Some(info) = state.scenarios.into_iter().find(|s| s.name == name) else {
            bail!("scenario {name} is gone")
        };
        // Log lines are kept up to a bound; print the ones not printed yet.
        let new = info.log.len().saturating_sub(seen.min(info.log.len()));
        for l in &info.log[info.log.len() - new..] {
            println!("  {}", l.text);
        }
        seen = info.log.len();
        println!(
            "{:?}: {}/{} devices online, {} provisioned, steps {}/{}, sent {}, received {}",
            info.phase,
            info.online,
            info.devices,
            info.provisioned,
            info.steps_done,
            info.steps,
            info.sent,
            info.received
        );
        match info.phase {
            ScenarioPhase::Stopped => return Ok(()),
            ScenarioPhase::Failed => bail!("scenario {name} could not start (see above)"),
            _ => {}
        }
    }
}

async fn running(dir: &Path) -> anyhow::Result<Value> {
    let path = dir.join(thingbox_engine::ENDPOINTS_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("no Thingbox is running for {} (start one with `thingbox serve`)", dir.display())
    })?;
    let ep: Value = serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    let api = ep.get("api").and_then(Value::as_str).unwrap_or_default();
    tokio::net::TcpStream::connect(api.trim_start_matches("http://"))
        .await
        .with_context(|| format!("the Thingbox of {} does not answer at {api}", dir.display()))?;
    Ok(ep)
}
