//! The Thingbox engine: AWS IoT Core on the desk.
//!
//! [`Engine::start`] takes a configuration, listeners that are already bound, and a shutdown future;
//! it opens the data dir (lock, local CA, SQLite), loads every service's state, serves the AWS APIs
//! and writes `endpoints.json`. [`EngineHandle::wait`] returns once the shutdown future has completed
//! and every task has stopped, the database is closed and `endpoints.json` is removed.
//!
//! Module map: [`storage`] (SQLite, group-commit writer), [`ca`] (local CA), [`registry`] (things,
//! types, groups), [`rules`] (topic rules and their actions), [`http`] (the AWS REST APIs),
//! [`sim`] (simulated devices, clients of the rest).

pub mod broker;
pub mod ca;
pub mod certs;
mod error;
pub mod event_config;
pub mod events;
pub mod gateway;
pub mod http;
pub mod jobs;
pub mod policy;
pub mod provisioning;
pub mod quotas;
pub mod registry;
pub mod rules;
pub mod shadow;
pub mod sim;
pub mod storage;
pub mod trace;
pub mod usage;
pub mod viewer;

use std::fs;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::Error;
use thingbox_api::Endpoints;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The file `Engine::start` writes into the data dir once every listener is ready.
pub const ENDPOINTS_FILE: &str = "endpoints.json";
const LOCK_FILE: &str = "thingbox.lock";
/// The file holding the console token (see [`Endpoints::console`]).
pub const CONSOLE_TOKEN_FILE: &str = "console-token";

/// How an engine is set up.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where everything lives: database, CA, `endpoints.json`.
    pub data_dir: PathBuf,
    /// The emulated account id (12 digits).
    pub account: String,
    /// The region for requests that do not name one.
    pub region: String,
    /// The address the listeners are bound to; the server certificate covers it.
    pub bind: IpAddr,
    /// The host name DescribeEndpoint returns and the server certificate names first.
    pub endpoint_host: String,
    /// Router settings.
    pub broker: broker::BrokerConfig,
    /// Device gateway settings.
    pub gateway: gateway::GatewayConfig,
    /// Changes kept per shadow (history).
    pub shadow_history: i64,
    /// The console's files (the built `ui/`), served at `/` on the API port.
    pub console_assets: &'static [http::assets::Asset],
    /// How much message history to keep for the console's viewer.
    pub history: viewer::history::HistoryConfig,
    /// Rules engine settings (Lambda mappings, queue sizes).
    pub rules: rules::RulesConfig,
    /// Jobs settings.
    pub jobs: jobs::JobsConfig,
    /// Provisioning settings (token and claim lifetimes).
    pub provisioning: provisioning::ProvisioningConfig,
    /// Why the multiplexed TLS port is not served (the caller could not bind it), for
    /// `endpoints.json` and the console.
    pub https_unavailable: Option<String>,
    /// Who may call the HTTP APIs: allowed hosts and web origins, access keys to verify.
    pub access: http::access::AccessConfig,
}

impl EngineConfig {
    /// A configuration with Thingbox's defaults for `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            account: "000000000000".into(),
            region: "us-east-1".into(),
            bind: IpAddr::from([127, 0, 0, 1]),
            endpoint_host: "localhost".into(),
            broker: broker::BrokerConfig::default(),
            gateway: gateway::GatewayConfig::default(),
            shadow_history: shadow::DEFAULT_HISTORY,
            console_assets: &[],
            history: viewer::history::HistoryConfig::default(),
            rules: rules::RulesConfig::default(),
            jobs: jobs::JobsConfig::default(),
            provisioning: provisioning::ProvisioningConfig::default(),
            https_unavailable: None,
            access: http::access::AccessConfig::default(),
        }
    }

    /// The names the server certificate must cover.
    fn server_names(&self) -> Vec<String> {
        let mut names =
            vec![self.endpoint_host.clone(), "localhost".into(), "127.0.0.1".into(), "::1".into()];
        if !self.bind.is_unspecified() {
            names.push(self.bind.to_string());
        }
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        names
    }
}

/// The listeners an engine serves, bound by the caller (port 0 in tests).
#[derive(Debug)]
pub struct Listeners {
    /// The HTTP port: the AWS APIs.
    pub api: TcpListener,
    /// The mutual-TLS MQTT port.
    pub mqtt_tls: Option<TcpListener>,
    /// The plain MQTT port.
    pub mqtt: Option<TcpListener>,
    /// The multiplexed TLS port (443 on AWS): MQTT by ALPN, HTTPS and `wss://` otherwise.
    pub https: Option<TcpListener>,
}

/// Why an engine could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Another process holds the data dir.
    #[error("the data dir {0} is in use by another Thingbox; stop it first, or pass another --data-dir")]
    Locked(PathBuf),
    /// The data dir cannot be used.
    #[error(
        "the data dir {path} is not usable ({source}); check that it exists and is writable, or pass another --data-dir"
    )]
    DataDir {
        /// The dir.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The local CA could not be loaded or made.
    #[error("local CA: {0}")]
    Ca(#[from] ca::CaError),
    /// The database could not be opened.
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    /// A listener failed.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}

/// The engine.
#[derive(Debug)]
pub struct Engine;

/// A running engine.
#[derive(Debug)]
pub struct EngineHandle {
    endpoints: Endpoints,
    api_addr: SocketAddr,
    events: events::Events,
    task: JoinHandle<Result<(), StartError>>,
    /// The API and console, for in-process calls.
    app: axum::Router,
    /// The device edge, for in-process connections.
    gateway: gateway::Gateway,
}

fn data_dir_err(path: &Path) -> impl FnOnce(std::io::Error) -> StartError + '_ {
    move |source| StartError::DataDir { path: path.to_owned(), source }
}

/// Writes a file atomically (temp file + rename), so readers never see half of it.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, contents)?;
    fs::rename(&tmp, path)
}

impl Engine {
    /// Starts an engine. Returns once every listener is serving and `endpoints.json` is written.
    pub async fn start(
        config: EngineConfig,
        listeners: Listeners,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<EngineHandle, StartError> {
        let dir = config.data_dir.clone();
        fs::create_dir_all(&dir).map_err(data_dir_err(&dir))?;
        let dir = dir.canonicalize().map_err(data_dir_err(&dir))?;
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(data_dir_err(&dir))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(StartError::Locked(dir)),
            Err(fs::TryLockError::Error(e)) => return Err(data_dir_err(&dir)(e)),
        }

        // A crashed predecessor may have left its endpoints.json: it names ports nobody serves.
        let endpoints_path = dir.join(ENDPOINTS_FILE);
        match fs::remove_file(&endpoints_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(data_dir_err(&dir)(e)),
            _ => {}
        }

        let ca = ca::LocalCa::open(&dir, &config.server_names(), time::OffsetDateTime::now_utc())?;
        let (db, writer_task) = storage::Db::open(&dir).await?;
        let pool = db.pool().clone();
        let registration_code = match db.setting("registration_code").await? {
            Some(code) => code,
            None => {
                let code = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
                let write = storage::Write::Setting { key: "registration_code".into(), value: code.clone() };
                db.writer().submit(vec![write]).wait().await?;
                code
            }
        };
        let console_token = console_token(&dir)?;
        let events = events::Events::default();
        let retained = storage::retained::load(&pool).await?;
        let broker =
            Arc::new(broker::Broker::new(config.broker.clone(), retained, &db, events.console.clone()));
        broker.meter.restore(storage::usage::load(&pool).await?);
        let sessions = storage::sessions::load(&pool).await?;
        let restored = broker.restore(sessions, broker::now_ms());
        if restored > 0 {
            tracing::info!(restored, "persistent sessions restored");
        }
        let shadows = shadow::ShadowService::load(db.clone(), broker.clone(), config.shadow_history).await?;
        let rules = rules::RulesService::load(
            db.clone(),
            broker.clone(),
            shadows.clone(),
            &dir,
            (config.account.clone(), config.region.clone()),
            config.rules.clone(),
        )
        .await?;
        let registry = Arc::new(registry::RegistryService::load(db.clone(), events.console.clone()).await?);
        let (history, history_writer) = viewer::history::History::open(&dir, config.history).await?;
        let viewer =
            viewer::ViewerService::new(broker.clone(), history.clone(), &dir, events.console.clone());
        let ca = Arc::new(ca);
        let provisioning = provisioning::ProvisioningService::load(
            db.clone(),
            registry.clone(),
            broker.clone(),
            ca.clone(),
            thingbox_model::arn::Scope::new(config.region.clone(), config.account.clone()),
            config.rules.lambdas.clone(),
            config.provisioning.clone(),
        )
        .await?;
        let (auto_register, auto_registrations) = tokio::sync::mpsc::channel(provisioning::jitr::QUEUE);
        let tls =
            gateway::tls::server_config(&ca, registry.clone(), provisioning.claims.clone(), auto_register)?;
        let https_tls = gateway::tls::https_config(&ca)?;

        let host: IpAddr =
            if config.bind.is_unspecified() { IpAddr::from([127, 0, 0, 1]) } else { config.bind };
        let addr_of = |l: &TcpListener| l.local_addr().map(|a| SocketAddr::new(host, a.port()));
        let api_addr = listeners.api.local_addr()?;
        let endpoints = Endpoints {
            api: format!("http://{}", SocketAddr::new(host, api_addr.port())),
            mqtt_tls: listeners.mqtt_tls.as_ref().map(addr_of).transpose()?.map(|a| a.to_string()),
            mqtt: listeners.mqtt.as_ref().map(addr_of).transpose()?.map(|a| a.to_string()),
            https: listeners.https.as_ref().map(addr_of).transpose()?.map(|a| a.to_string()),
            https_unavailable: if listeners.https.is_some() {
                None
            } else {
                config.https_unavailable.clone()
            },
            root_ca: ca.root_path().display().to_string(),
            account: config.account.clone(),
            region: config.region.clone(),
            console: Some(format!(
                "http://{}/?token={console_token}",
                SocketAddr::new(host, api_addr.port())
            )),
        };
        let files = jobs::files::Files::new(&dir, endpoints.api.clone(), &console_token);
        let switches = event_config::EventSwitches::load(db.clone()).await?;
        let jobs = jobs::JobsService::load(
            db,
            broker.clone(),
            registry.clone(),
            files,
            switches.clone(),
            config.jobs.clone(),
        )
        .await?;
        // One signal for every task: set when the caller's shutdown future completes.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let authorizer = Arc::new(policy::PolicyAuthorizer::new(
            registry.clone(),
            config.region.clone(),
            config.account.clone(),
            config.gateway.plain_policies.clone(),
            events.clone(),
            provisioning.claims.clone(),
        ));
        let gw = gateway::Gateway {
            broker: broker.clone(),
            auth: authorizer.clone(),
            config: config.gateway.clone(),
            shutdown: stop_rx.clone(),
        };
        let sim = sim::Simulator::new(sim_target(&endpoints), Some(dir.join("simulator")), stop_rx.clone());
        let state = http::AppState::new(http::Shared {
            registry,
            broker: broker.clone(),
            shadows: shadows.clone(),
            gateway: gw.clone(),
            account: config.account.clone(),
            default_region: config.region.clone(),
            endpoint_host: config.endpoint_host.clone(),
            ca: ca.clone(),
            registration_code,
            authorizer,
            console_token,
            console_assets: config.console_assets,
            endpoints: endpoints.clone(),
            data_dir: dir.clone(),
            viewer: viewer.clone(),
            rules: rules.clone(),
            jobs: jobs.clone(),
            provisioning: provisioning.clone(),
            switches,
            access: config.access.clone(),
            sim: sim.clone(),
        });
        let app = http::app(state);
        let handle_app = app.clone();

        let mut tasks = tokio::task::JoinSet::new();
        if let Some(l) = listeners.https {
            let local = l.local_addr()?;
            let (to_http, handed) = tokio::sync::mpsc::channel(64);
            let mux = gateway::alpn::Multiplexed { mqtt: tls.clone(), https: https_tls, to_http };
            tasks.spawn(gw.clone().serve_multiplexed(l, mux));
            let mut stop = stop_rx.clone();
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            let app = app.clone();
            tasks.spawn(async move {
                if let Err(e) = http::serve_https(handed, local, app, stopped).await {
                    tracing::warn!(error = %e, "HTTPS on the multiplexed port stopped");
                }
            });
        }
        if let Some(l) = listeners.mqtt_tls {
            tasks.spawn(gw.clone().serve_tls(l, tls));
        }
        if let Some(l) = listeners.mqtt {
            tasks.spawn(gw.clone().serve_plain(l));
        }
        tasks.spawn(reap_sessions(broker.clone(), stop_rx.clone()));
        tasks.spawn(broker.meter.clone().run(stop_rx.clone()));
        tasks.spawn(shadows.clone().serve_mqtt(broker.internal_client("shadow"), stop_rx.clone()));
        tasks.spawn(rules.clone().run(stop_rx.clone()));
        tasks.spawn(jobs.clone().serve_mqtt(broker.internal_client("jobs"), stop_rx.clone()));
        tasks.spawn(jobs.run(stop_rx.clone()));
        tasks.spawn(provisioning.clone().serve_mqtt(broker.internal_client("provisioning"), stop_rx.clone()));
        tasks.spawn(provisioning.clone().serve_auto_registrations(auto_registrations, stop_rx.clone()));
        tasks.spawn(provisioning.run(stop_rx.clone()));
        let (history_tx, history_rx) = tokio::sync::mpsc::channel(viewer::HISTORY_QUEUE);
        tasks.spawn(history_writer.run_in_background(history_rx));
        tasks.spawn(viewer.run(history_tx, stop_rx.clone()));
        tasks.spawn(sim.run(stop_rx.clone()));

        let json = serde_json::to_vec_pretty(&endpoints).map_err(std::io::Error::other)?;
        write_atomic(&endpoints_path, &json).map_err(data_dir_err(&dir))?;

        let api = listeners.api;
        let task = tokio::spawn(async move {
            let mut http_stop = stop_rx.clone();
            let stopper = tokio::spawn(async move {
                shutdown.await;
                let _ = stop_tx.send(true);
            });
            let served = http::serve(api, app, async move {
                let _ = http_stop.wait_for(|stop| *stop).await;
            })
            .await;
            while tasks.join_next().await.is_some() {}
            stopper.abort();
            drop(broker);
            // Every service and writer handle is dropped by now: the writer drains its queue and
            // stops. Read connections close first, so the writer's is the last one and checkpoints
            // the WAL.
            history.close().await;
            pool.close().await;
            let _ = writer_task.await;
            let _ = fs::remove_file(&endpoints_path);
            drop(lock);
            drop(ca);
            served.map_err(StartError::from)
        });
        Ok(EngineHandle { endpoints, api_addr, task, events, app: handle_app, gateway: gw })
    }
}

/// Where the engine's own simulated devices connect: its mutual-TLS MQTT listener, trusting its CA.
fn sim_target(endpoints: &Endpoints) -> Result<sim::Target, String> {
    let addr = endpoints
        .mqtt_tls
        .as_deref()
        .ok_or("simulated devices need the mutual-TLS MQTT listener, which is off")?;
    let addr: SocketAddr = addr.parse().map_err(|e| format!("the MQTT address {addr}: {e}"))?;
    let ca_pem =
        fs::read(&endpoints.root_ca).map_err(|e| format!("the root CA {}: {e}", endpoints.root_ca))?;
    Ok(sim::Target { host: addr.ip().to_string(), port: addr.port(), ca_pem, shared_identity: None })
}

/// The console token of a data dir: made once (random, 256 bits), kept in `console-token` (0600).
fn console_token(dir: &Path) -> Result<String, StartError> {
    let path = dir.join(CONSOLE_TOKEN_FILE);
    match fs::read_to_string(&path) {
        Ok(t) if t.trim().len() >= 32 => return Ok(t.trim().to_owned()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(data_dir_err(dir)(e)),
        _ => {}
    }
    let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    ca::write_secret(&path, &token)?;
    Ok(token)
}

/// Ends expired persistent sessions every few seconds until shutdown.
async fn reap_sessions(broker: Arc<broker::Broker>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => { broker.expire_sessions(std::time::Instant::now()); }
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

impl EngineHandle {
    /// What `endpoints.json` says.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// Listens to the engine's event bus (authorization decisions, …).
    pub fn events(&self) -> events::Listener<events::Event> {
        self.events.auth.subscribe()
    }

    /// The address the AWS API is served on.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// Answers one API request in process, as the API listener would (from 127.0.0.1): the AWS
    /// services, the console API and its files. The fuzz targets call the API this way.
    pub async fn call_api(
        &self,
        req: axum::http::Request<Vec<u8>>,
    ) -> Result<axum::http::Response<bytes::Bytes>, axum::Error> {
        use tower::ServiceExt as _;
        let (mut parts, body) = req.into_parts();
        parts.extensions.insert(axum::extract::ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 0))));
        let req = axum::http::Request::from_parts(parts, axum::body::Body::from(body));
        let res = match self.app.clone().oneshot(req).await {
            Ok(res) => res,
            Err(never) => match never {},
        };
        let (parts, body) = res.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await?;
        Ok(axum::http::Response::from_parts(parts, body))
    }

    /// Serves `stream` as one MQTT connection to the plain listener (its identity and policies,
    /// from 127.0.0.1) until it closes, whether or not that listener is on. The fuzz targets
    /// connect this way.
    pub async fn serve_mqtt<S>(&self, stream: S)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let principal = broker::Principal::Plain(self.gateway.config.plain_identity.clone());
        let peer = SocketAddr::from(([127, 0, 0, 1], 0));
        self.gateway.serve_stream(stream, principal, peer, "the plain MQTT port").await;
    }

    /// Waits until the engine has stopped (after the shutdown future completed).
    pub async fn wait(self) -> Result<(), StartError> {
        // The in-process handles hold services (and so the storage writer) alive: let them go, or
        // the engine's last step, waiting for the writer to drain, would wait for ever.
        let Self { task, app, gateway, .. } = self;
        drop((app, gateway));
        match task.await {
            Ok(r) => r,
            Err(e) => Err(StartError::Io(std::io::Error::other(e))),
        }
    }
}
