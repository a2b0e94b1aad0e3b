//! The headless server as a library: settings (`thingbox serve` flags over `thingbox.toml` over
//! defaults), starting an engine on them, and `thingbox trust`. The `thingbox` binary and the
//! desktop app both start the engine through [`start`], so they share data dir, ports and files.

pub mod config;
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
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let engine =
        Engine::start(settings.engine_config(), Listeners { api, mqtt_tls: Some(mqtt_tls), mqtt }, async {
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
