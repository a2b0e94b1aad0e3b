//! Simulated devices: scenarios (`thingbox_model::scenario`) run as fleets of real MQTT clients.
//!
//! [`Simulator::start`] parses a scenario and hands it to a runner task that makes the fleet
//! through the AWS API ([`provision`], over an [`api::Api`] — the engine's own router in process,
//! HTTP for `thingbox simulate`), starts one task per device ([`device`]) connecting through the
//! mutual-TLS gateway like any device, takes the timed steps and, when the scenario ends (a
//! `stop` step, its duration, [`Simulator::stop`] or the engine's shutdown), stops the devices
//! and waits for them. Devices are therefore seen by policies, lifecycle events, the topic viewer,
//! rules, shadows and jobs exactly as real ones are; the simulator is a client of the engine and
//! never reaches into the router.
//!
//! Architecture Invariant: the simulator depends on the engine only through the AWS API and MQTT
//! over TLS, so the same code drives a Thingbox in another process, or AWS IoT itself.

mod agent;
pub mod api;
pub mod cell;
pub mod device;
pub mod expire;
pub mod provision;
mod steps;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use parking_lot::{Mutex, RwLock};
use thingbox_api::sim::{
    DeviceDetail, DeviceStatus, Example, LogLine, ScenarioInfo, ScenarioPhase, SimState,
};
use thingbox_model::scenario::{self, Action, FaultChange, Scenario, ScenarioError};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use self::api::Api;
use self::cell::DeviceCell;
use self::device::{Link, Spec};

/// The scenarios that ship with Thingbox (`assets/scenarios/`).
pub const EXAMPLES: [(&str, &str); 3] = [
    ("smart-lamps", include_str!("../../../../assets/scenarios/smart-lamps.yaml")),
    ("ota-rollout", include_str!("../../../../assets/scenarios/ota-rollout.yaml")),
    ("telemetry-rules", include_str!("../../../../assets/scenarios/telemetry-rules.yaml")),
];

/// Devices made at once while a fleet is provisioned.
const PROVISIONING: usize = 16;
/// Log lines a scenario keeps.
const LOG_LINES: usize = 200;
/// Ended scenarios kept for the console.
const ENDED_KEPT: usize = 20;
/// How long stopping devices may take before they are aborted.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What the simulator refuses.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario is not valid (the line is in the message).
    #[error("{0}")]
    Invalid(#[from] ScenarioError),
    /// A scenario of that name is running.
    #[error("scenario '{0}' is running; stop it first")]
    Running(String),
    /// No such scenario or device.
    #[error("{0}")]
    NotFound(String),
    /// The simulator cannot run here (the reason says why).
    #[error("{0}")]
    Unavailable(String),
    /// A request was malformed.
    #[error("{0}")]
    Request(String),
}

/// Where simulated devices connect.
#[derive(Debug, Clone)]
pub struct Target {
    /// Host and port of the mutual-TLS MQTT endpoint.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The CA that signed the endpoint's certificate (PEM).
    pub ca_pem: Vec<u8>,
    /// Against AWS (or any broker with a given certificate): every device's TLS, and no API.
    pub shared_identity: Option<Arc<rustls::ClientConfig>>,
}

/// A scenario's run.
#[derive(Debug)]
struct Run {
    scenario: Scenario,
    phase: Mutex<ScenarioPhase>,
    started_at: i64,
    devices: RwLock<Vec<Arc<DeviceCell>>>,
    provisioned: AtomicUsize,
    steps_done: AtomicUsize,
    log: Mutex<VecDeque<LogLine>>,
    stop: watch::Sender<bool>,
}

impl Run {
    fn log(&self, text: impl Into<String>) {
        let text = text.into();
        tracing::debug!(scenario = %self.scenario.name, "{text}");
        let mut log = self.log.lock();
        if log.len() >= LOG_LINES {
            log.pop_front();
        }
        log.push_back(LogLine { at: crate::broker::now_ms(), text });
    }

    fn phase(&self) -> ScenarioPhase {
        *self.phase.lock()
    }

    fn info(&self) -> ScenarioInfo {
        let devices = self.devices.read();
        ScenarioInfo {
            name: self.scenario.name.clone(),
            description: self.scenario.description.clone(),
            phase: self.phase(),
            started_at: self.started_at,
            devices: devices.len(),
            online: devices.iter().filter(|d| d.status() == DeviceStatus::Online).count(),
            provisioned: self.provisioned.load(Ordering::Relaxed),
            steps_done: self.steps_done.load(Ordering::Relaxed),
            steps: self.scenario.steps.len(),
            sent: devices.iter().map(|d| d.sent()).sum(),
            received: devices.iter().map(|d| d.received()).sum(),
            log: self.log.lock().iter().cloned().collect(),
        }
    }

    pub(super) fn selected(&self, selector: &str) -> Vec<Arc<DeviceCell>> {
        self.devices
            .read()
            .iter()
            .filter(|d| scenario::selects(selector, &d.name, &d.fleet))
            .cloned()
            .collect()
    }
}

/// The simulator.
#[derive(Debug)]
pub struct Simulator {
    target: Result<Target, String>,
    keys: Option<PathBuf>,
    runs: Mutex<BTreeMap<String, Arc<Run>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    http: reqwest::Client,
    certifier: expire::Certifier,
    shutdown: watch::Receiver<bool>,
}

impl Simulator {
    /// A simulator whose devices connect to `target` (or, `Err`, why they cannot), keeping their
    /// keys under `keys`, stopping when `shutdown` becomes true.
    pub fn new(
        target: Result<Target, String>,
        keys: Option<PathBuf>,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<Self> {
        let http = http_client(target.as_ref().ok());
        let certifier = expire::Certifier::new(target.as_ref().ok().map(|t| t.ca_pem.as_slice()));
        Arc::new(Self {
            target,
            keys,
            runs: Mutex::new(BTreeMap::new()),
            tasks: Mutex::new(Vec::new()),
            http,
            certifier,
            shutdown,
        })
    }

    /// Starts a scenario from its text; `api` makes its fleet and takes its steps (`None`:
    /// devices only, with the target's shared identity). Returns its name.
    pub fn start(self: &Arc<Self>, text: &str, api: Option<Api>) -> Result<String, SimError> {
        let scenario = scenario::parse(text)?;
        self.launch(scenario, api)
    }

    fn launch(self: &Arc<Self>, scenario: Scenario, api: Option<Api>) -> Result<String, SimError> {
        let target = self.target.clone().map_err(SimError::Unavailable)?;
        if api.is_none() && target.shared_identity.is_none() {
            return Err(SimError::Unavailable(
                "the simulator needs the AWS API or a device certificate".into(),
            ));
        }
        let name = scenario.name.clone();
        let (stop, _) = watch::channel(false);
        let run = Arc::new(Run {
            scenario,
            phase: Mutex::new(ScenarioPhase::Provisioning),
            started_at: crate::broker::now_ms(),
            devices: RwLock::new(Vec::new()),
            provisioned: AtomicUsize::new(0),
            steps_done: AtomicUsize::new(0),
            log: Mutex::new(VecDeque::new()),
            stop,
        });
        {
            let mut runs = self.runs.lock();
            if runs
                .get(&name)
                .is_some_and(|r| matches!(r.phase(), ScenarioPhase::Provisioning | ScenarioPhase::Running))
            {
                return Err(SimError::Running(name));
            }
            let ended: Vec<String> = runs
                .iter()
                .filter(|(_, r)| matches!(r.phase(), ScenarioPhase::Stopped | ScenarioPhase::Failed))
                .map(|(n, _)| n.clone())
                .collect();
            for n in ended.iter().take(ended.len().saturating_sub(ENDED_KEPT - 1)) {
                runs.remove(n);
            }
            runs.insert(name.clone(), run.clone());
        }
        let handle = tokio::spawn(self.clone().drive(run, target, api));
        let mut tasks = self.tasks.lock();
        tasks.retain(|t| !t.is_finished());
        tasks.push(handle);
        Ok(name)
    }

    /// Stops a running scenario (its devices disconnect; its things stay).
    pub fn stop(&self, name: &str) -> Result<(), SimError> {
        let runs = self.runs.lock();
        let run = runs.get(name).ok_or_else(|| SimError::NotFound(format!("no scenario '{name}'")))?;
        run.log("stop asked for");
        let _ = run.stop.send(true);
        Ok(())
    }

    /// Adds `count` devices like the first fleet of the example `example`, as a new scenario.
    pub fn quick_add(
        self: &Arc<Self>,
        example: &str,
        count: usize,
        api: Option<Api>,
    ) -> Result<String, SimError> {
        let (_, text) = EXAMPLES
            .iter()
            .find(|(n, _)| *n == example)
            .ok_or_else(|| SimError::NotFound(format!("no example scenario '{example}'")))?;
        if !(1..=1000).contains(&count) {
            return Err(SimError::Request(format!("count {count}: add 1 to 1000 devices at a time")));
        }
        let mut s = scenario::parse(text)?;
        let runs = self.runs.lock().keys().cloned().collect::<Vec<_>>();
        let k = (1..).find(|k| !runs.contains(&format!("quick-{example}-{k}"))).unwrap_or(1);
        let mut fleet = s.devices.swap_remove(0);
        if k > 1 {
            fleet.name = format!("{}{k}", fleet.name);
        }
        fleet.count = count;
        s.name = format!("quick-{example}-{k}");
        s.description = format!("{count} devices like {example}'s {}", fleet.name);
        s.devices = vec![fleet];
        s.steps.clear();
        self.launch(s, api)
    }

    /// Changes a device's faults (`api` revokes its certificate when asked).
    pub async fn fault(&self, device: &str, change: &FaultChange, api: Option<&Api>) -> Result<(), SimError> {
        let cell = self.device_cell(device)?;
        steps::apply_fault(&cell, change, api, &self.certifier).await.map_err(SimError::Request)
    }

    /// Disconnects a device until [`start_device`](Self::start_device) (or starts it again).
    pub fn stop_device(&self, device: &str) -> Result<(), SimError> {
        self.device_cell(device)?.disconnect(None);
        Ok(())
    }

    /// Connects a device stopped by hand, offline or waiting to retry, now.
    pub fn start_device(&self, device: &str) -> Result<(), SimError> {
        self.device_cell(device)?.connect();
        Ok(())
    }

    fn device_cell(&self, name: &str) -> Result<Arc<DeviceCell>, SimError> {
        let runs = self.runs.lock();
        // The running scenario's device, else the newest ended one's.
        let mut found = None;
        for r in runs.values() {
            if let Some(d) = r.devices.read().iter().find(|d| d.name == name) {
                let running = matches!(r.phase(), ScenarioPhase::Provisioning | ScenarioPhase::Running);
                if running || found.is_none() {
                    found = Some(d.clone());
                }
            }
        }
        found.ok_or_else(|| SimError::NotFound(format!("no simulated device '{name}'")))
    }

    /// The console's view: every scenario and a page of devices (`scenario` filters them).
    pub fn state(&self, scenario: Option<&str>, offset: usize, limit: usize) -> SimState {
        let runs: Vec<Arc<Run>> = self.runs.lock().values().cloned().collect();
        let mut devices = Vec::new();
        let mut total = 0;
        for r in runs.iter().filter(|r| scenario.is_none_or(|s| r.scenario.name == s)) {
            let list = r.devices.read();
            for d in list.iter() {
                if total >= offset && devices.len() < limit {
                    devices.push(d.info());
                }
                total += 1;
            }
        }
        SimState {
            scenarios: runs.iter().map(|r| r.info()).collect(),
            devices,
            total_devices: total,
            examples: EXAMPLES
                .iter()
                .map(|(name, text)| Example {
                    name: (*name).to_owned(),
                    description: scenario::parse(text).map(|s| s.description).unwrap_or_default(),
                    text: (*text).to_owned(),
                })
                .collect(),
        }
    }

    /// One device and its log.
    pub fn device(&self, name: &str) -> Result<DeviceDetail, SimError> {
        let cell = self.device_cell(name)?;
        Ok(DeviceDetail { device: cell.info(), log: cell.log_lines() })
    }

    /// Waits for `stop`, then for every scenario to stop (the engine's shutdown).
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let _ = stop.wait_for(|s| *s).await;
        for r in self.runs.lock().values() {
            let _ = r.stop.send(true);
        }
        let tasks = std::mem::take(&mut *self.tasks.lock());
        for t in tasks {
            let _ = t.await;
        }
    }

    /// Runs a scenario to its end.
    async fn drive(self: Arc<Self>, run: Arc<Run>, target: Target, api: Option<Api>) {
        let mut devices = JoinSet::new();
        match self.provision(&run, &target, api.as_ref(), &mut devices).await {
            Ok(()) => {
                *run.phase.lock() = ScenarioPhase::Running;
                run.log(format!("running: {} devices", run.devices.read().len()));
                self.timeline(&run, api.as_ref()).await;
            }
            Err(e) => {
                *run.phase.lock() = ScenarioPhase::Failed;
                run.log(format!("could not start: {e}"));
            }
        }
        let _ = run.stop.send(true);
        let stopped =
            tokio::time::timeout(STOP_GRACE, async { while devices.join_next().await.is_some() {} }).await;
        if stopped.is_err() {
            devices.abort_all();
        }
        let mut phase = run.phase.lock();
        if *phase != ScenarioPhase::Failed {
            *phase = ScenarioPhase::Stopped;
        }
        drop(phase);
        run.log("stopped");
    }

    /// Makes the fleets and starts each device as soon as it is made.
    async fn provision(
        &self,
        run: &Arc<Run>,
        target: &Target,
        api: Option<&Api>,
        devices: &mut JoinSet<()>,
    ) -> Result<(), String> {
        let s = &run.scenario;
        let roots = provision::roots(&target.ca_pem)?;
        let fleets: Vec<Arc<scenario::Fleet>> = s.devices.iter().cloned().map(Arc::new).collect();
        let mut cells = Vec::new();
        let mut controls = Vec::new();
        for (fi, index, name) in s.device_names() {
            let (cell, ctl) = DeviceCell::new(name, &fleets[fi], &s.name);
            cells.push((fi, index, cell.clone()));
            controls.push(Some(ctl));
        }
        *run.devices.write() = cells.iter().map(|c| c.2.clone()).collect();
        if let Some(api) = api {
            for f in &fleets {
                provision::fleet(api, &s.name, f).await?;
            }
        }
        run.log(format!("making {} devices", cells.len()));
        let roots = Arc::new(roots);
        let mut making = Vec::with_capacity(cells.len());
        for (fi, _, cell) in &cells {
            let (fleet, keys, roots, cell) =
                (fleets[*fi].clone(), self.keys.clone(), roots.clone(), cell.clone());
            let (api, shared, scenario) = (api.cloned(), target.shared_identity.clone(), s.name.clone());
            making.push(async move {
                let identity = match (api, shared) {
                    (Some(api), _) => {
                        provision::device(&api, &scenario, &fleet, &cell.name, keys.as_deref(), &roots).await
                    }
                    (None, Some(tls)) => Ok(provision::Identity { certificate_id: String::new(), tls }),
                    (None, None) => Err("no API and no certificate".into()),
                };
                (cell, identity)
            });
        }
        let made = futures_util::stream::iter(making).buffer_unordered(PROVISIONING);
        tokio::pin!(made);
        let mut failed = 0;
        let mut stop = run.stop.subscribe();
        let by_name: BTreeMap<String, usize> =
            cells.iter().enumerate().map(|(i, c)| (c.2.name.clone(), i)).collect();
        loop {
            let next = tokio::select! {
                n = made.next() => n,
                () = stopped(&mut stop) => return Err("stopped while making the devices".into()),
            };
            let Some((cell, identity)) = next else { break };
            let i = by_name[&cell.name];
            let (fi, index, _) = &cells[i];
            match identity {
                Ok(id) => {
                    if !id.certificate_id.is_empty() {
                        *cell.certificate.lock() = Some(id.certificate_id.clone());
                    }
                    run.provisioned.fetch_add(1, Ordering::Relaxed);
                    let spec = Spec {
                        index: *index,
                        fleet: fleets[*fi].clone(),
                        seed: s.seed,
                        link: Link { host: target.host.clone(), port: target.port, tls: id.tls },
                        http: self.http.clone(),
                    };
                    let ctl = controls[i].take().expect("each device is started once");
                    devices.spawn(device::run(cell, spec, ctl, run.stop.subscribe()));
                }
                Err(e) => {
                    failed += 1;
                    cell.log(format!("not made: {e}"));
                    run.log(format!("{}: not made: {e}", cell.name));
                }
            }
        }
        if failed == cells.len() {
            return Err(format!("none of the {failed} devices could be made"));
        }
        Ok(())
    }

    /// Takes the steps at their times, then waits for the end.
    async fn timeline(&self, run: &Arc<Run>, api: Option<&Api>) {
        let start = tokio::time::Instant::now();
        let mut stop = run.stop.subscribe();
        let mut shutdown = self.shutdown.clone();
        let mut steps: Vec<&scenario::Step> = run.scenario.steps.iter().collect();
        steps.sort_by_key(|s| s.at);
        let end = run.scenario.duration.map(|d| start + Duration::from_millis(d.0.max(0) as u64));
        for step in steps {
            let at = start + Duration::from_millis(step.at.0 as u64);
            if end.is_some_and(|e| at > e) {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                () = stopped(&mut stop) => return,
                () = stopped(&mut shutdown) => return,
            }
            if matches!(step.action, Action::Stop) {
                run.log(format!("at {} ms: stop", step.at.0));
                return;
            }
            let result = match api {
                Some(api) => steps::take_step(run, &step.action, api, &self.certifier).await,
                None => Err("steps need the AWS API (not available against this endpoint)".into()),
            };
            run.steps_done.fetch_add(1, Ordering::Relaxed);
            match result {
                Ok(what) => run.log(format!("at {} ms: {what}", step.at.0)),
                Err(e) => run.log(format!("at {} ms: failed: {e}", step.at.0)),
            }
        }
        let until_end = async {
            match end {
                Some(e) => tokio::time::sleep_until(e).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = until_end => run.log("its duration is over"),
            () = stopped(&mut stop) => {}
            () = stopped(&mut shutdown) => run.log("the engine is stopping"),
        }
    }
}

/// Resolves once `stop` says stop (its guard not held: the caller's future stays `Send`).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// The HTTP client simulated devices download OTA files with: it trusts the target's CA and the
/// system's roots.
fn http_client(target: Option<&Target>) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(t) = target
        && let Ok(ours) = provision::roots(&t.ca_pem)
    {
        roots.extend(ours.roots);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = reqwest::Client::builder().timeout(Duration::from_secs(60));
    let builder =
        match rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
            Ok(b) => builder.use_preconfigured_tls(b.with_root_certificates(roots).with_no_client_auth()),
            Err(_) => builder,
        };
    builder.build().unwrap_or_default()
}
