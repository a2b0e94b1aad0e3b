//! The headless server as a library: settings (`thingbox serve` flags over `thingbox.toml` over
//! defaults), starting an engine on them, and `thingbox trust`. The `thingbox` binary and the
//! desktop app both start the engine through [`start`], so they share data dir, ports and files.

pub mod config;
pub mod simulate;
pub mod tools;
pub mod trust;

use std::net::SocketAddr;

use thingbox_engine::{Engine, EngineHandle, Listeners};
use tokio::net::TcpListener;

use crate::config::Settings;

async fn bind(addr: SocketAddr, flag: &str, or_any: bool) -> anyhow::Result<TcpListener> {
    match TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && or_any => {
            tracing::warn!(%addr, "port in use; taking any free port instead (see endpoints.json)");
            Ok(TcpListener::bind(SocketAddr::new(addr.ip(), 0)).await?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(anyhow::anyhow!(
            "port {} on {} is already in use (another Thingbox, or another program); stop it, or pass {flag} \
             with another port (0 takes any free port)",
            addr.port(),
            addr.ip()
        )),
        Err(e) => Err(anyhow::anyhow!("cannot listen on {addr} ({e}); pass another --bind or {flag}")),
    }
}

/// Binds the multiplexed TLS port. Unlike the other ports, failing to is not fatal (443 is
/// privileged, and often taken by a web server): Thingbox runs without it and says why and how to
/// change that.
async fn bind_https(addr: SocketAddr) -> (Option<TcpListener>, Option<String>) {
    let why = match TcpListener::bind(addr).await {
        Ok(l) => return (Some(l), None),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => format!(
            "port {} needs a privilege this process lacks: run `sudo thingbox trust` once (it lets this \
             binary bind ports below 1024), or pass --https-port with a port above 1023",
            addr.port()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => format!(
            "port {} on {} is in use by another program; stop it, or pass --https-port with another port",
            addr.port(),
            addr.ip()
        ),
        Err(e) => format!("cannot listen on {addr} ({e}); pass another --https-port"),
    };
    tracing::warn!("the multiplexed TLS port (MQTT with ALPN, HTTPS, wss) is not served: {why}");
    (None, Some(why))
}

/// Binds the listeners `settings` name and starts an engine on them. With `ports_or_any`, a port
/// in use is replaced by any free one (the desktop app, which must start whatever else runs);
/// otherwise it is an error naming the flag. Dropping (or sending on) the returned sender stops
/// the engine; then wait on the handle.
pub async fn start(
    settings: &Settings,
    ports_or_any: bool,
) -> anyhow::Result<(EngineHandle, tokio::sync::oneshot::Sender<()>)> {
    let api = bind(SocketAddr::new(settings.bind, settings.api_port), "--api-port", ports_or_any).await?;
    let mqtt_tls =
        bind(SocketAddr::new(settings.bind, settings.mqtt_tls_port), "--mqtt-tls-port", ports_or_any).await?;
    let mqtt = match settings.mqtt_port {
        Some(port) => Some(bind(SocketAddr::new(settings.bind, port), "--mqtt-port", ports_or_any).await?),
        None => None,
    };
    let (https, https_unavailable) = match settings.https_port {
        Some(port) => bind_https(SocketAddr::new(settings.bind, port)).await,
        None => (None, None),
    };
    let mut config = settings.engine_config();
    config.https_unavailable = https_unavailable;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let listeners = Listeners { api, mqtt_tls: Some(mqtt_tls), mqtt, https };
    let engine = Engine::start(config, listeners, async {
        let _ = stop_rx.await;
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((engine, stop_tx))
}

/// Logs to stderr, filtered by `RUST_LOG` (default: info, sqlx quieter).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Completes on Ctrl-C, or SIGTERM on Unix.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
