//! A simulated device's state as the console and the scenario's steps see it: status, counters,
//! faults, the job it runs, what it last reported, its log; shared between its task and the
//! simulator, and the controls the simulator sends it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;
use thingbox_api::sim::{DeviceInfo, DeviceStatus, FaultState, LogLine};
use thingbox_model::scenario::{Faults, Fleet};
use tokio::sync::mpsc;

/// Log lines a device keeps.
const LOG_LINES: usize = 40;

/// What the console and the scenario's steps can ask of a running device.
#[derive(Debug)]
pub enum Control {
    /// Drop the connection and stay offline this long (`None`: until [`Control::Connect`]).
    Disconnect(Option<Duration>),
    /// Connect now (after a stop by hand, an outage or a failed attempt).
    Connect,
    /// Use this TLS set-up (another certificate) from the next connection on.
    Identity(Arc<rustls::ClientConfig>),
}

/// A device's state as the console sees it; shared between its task and the simulator.
#[derive(Debug)]
pub struct DeviceCell {
    /// Thing name and client id.
    pub name: String,
    /// Its fleet.
    pub fleet: String,
    /// Its scenario.
    pub scenario: String,
    pub(super) status: AtomicU8,
    pub(super) sent: AtomicU64,
    pub(super) received: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) faults: Mutex<Faults>,
    pub(super) revoked: AtomicBool,
    pub(super) log: Mutex<VecDeque<LogLine>>,
    pub(super) job: Mutex<Option<String>>,
    pub(super) reported: Mutex<Option<Value>>,
    pub(super) last_error: Mutex<Option<String>>,
    /// Its certificate's id, once made.
    pub certificate: Mutex<Option<String>>,
    pub(super) ctl: mpsc::Sender<Control>,
}

const STATUSES: [DeviceStatus; 6] = [
    DeviceStatus::Provisioning,
    DeviceStatus::Connecting,
    DeviceStatus::Online,
    DeviceStatus::Offline,
    DeviceStatus::Retrying,
    DeviceStatus::Stopped,
];

pub(super) fn now_ms() -> i64 {
    crate::broker::now_ms()
}

impl DeviceCell {
    /// A device not made yet, and the receiving end of its controls.
    pub fn new(name: String, fleet: &Fleet, scenario: &str) -> (Arc<Self>, mpsc::Receiver<Control>) {
        let (ctl, rx) = mpsc::channel(4);
        let cell = Self {
            name,
            fleet: fleet.name.clone(),
            scenario: scenario.to_owned(),
            status: AtomicU8::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            faults: Mutex::new(fleet.faults),
            revoked: AtomicBool::new(false),
            log: Mutex::new(VecDeque::new()),
            job: Mutex::new(None),
            reported: Mutex::new(None),
            last_error: Mutex::new(None),
            certificate: Mutex::new(None),
            ctl,
        };
        (Arc::new(cell), rx)
    }

    /// Its connection.
    pub fn status(&self) -> DeviceStatus {
        STATUSES[self.status.load(Ordering::Relaxed) as usize % STATUSES.len()]
    }

    pub(super) fn set_status(&self, s: DeviceStatus) {
        let i = STATUSES.iter().position(|x| *x == s).unwrap_or(0);
        self.status.store(i as u8, Ordering::Relaxed);
    }

    /// Messages sent.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Messages received.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Adds a line to its log.
    pub fn log(&self, text: impl Into<String>) {
        let mut log = self.log.lock();
        if log.len() >= LOG_LINES {
            log.pop_front();
        }
        log.push_back(LogLine { at: now_ms(), text: text.into() });
    }

    pub(super) fn error(&self, text: String) {
        self.log(text.clone());
        *self.last_error.lock() = Some(text);
    }

    /// Its log, oldest first.
    pub fn log_lines(&self) -> Vec<LogLine> {
        self.log.lock().iter().cloned().collect()
    }

    /// Changes its faults.
    pub fn change_faults(&self, f: impl FnOnce(&mut Faults)) {
        f(&mut self.faults.lock());
    }

    /// Marks its certificate revoked.
    pub fn set_revoked(&self) {
        self.revoked.store(true, Ordering::Relaxed);
    }

    /// Asks the device to drop its connection for `offline` (`None`: until [`Self::connect`]).
    pub fn disconnect(&self, offline: Option<Duration>) {
        let _ = self.ctl.try_send(Control::Disconnect(offline));
    }

    /// Gives the device another certificate for its next connections.
    pub fn set_identity(&self, tls: Arc<rustls::ClientConfig>) {
        let _ = self.ctl.try_send(Control::Identity(tls));
    }

    /// Asks the device to connect now.
    pub fn connect(&self) {
        let _ = self.ctl.try_send(Control::Connect);
    }

    /// The console's view.
    pub fn info(&self) -> DeviceInfo {
        let f = *self.faults.lock();
        DeviceInfo {
            name: self.name.clone(),
            scenario: self.scenario.clone(),
            fleet: self.fleet.clone(),
            status: self.status(),
            sent: self.sent(),
            received: self.received(),
            dropped: self.dropped.load(Ordering::Relaxed),
            faults: FaultState {
                drop: f.drop.0,
                delay_ms: f.delay.0,
                clock_skew_ms: f.clock_skew.0,
                oversize: f.oversize.0,
                revoked: self.revoked.load(Ordering::Relaxed),
            },
            job: self.job.lock().clone(),
            reported: self.reported.lock().clone(),
            certificate_id: self.certificate.lock().clone(),
            last_error: self.last_error.lock().clone(),
        }
    }
}
