//! The simulator's console API (`/console/api/sim…`): running scenarios, their simulated devices
//! (state, counters, faults, log) and the requests that start, stop and fault them.

use serde::{Deserialize, Serialize};

/// Where a scenario is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ScenarioPhase {
    /// Making things, certificates and policies.
    Provisioning,
    /// Devices running, steps being taken.
    Running,
    /// Stopped (by a step, its duration, a person, or the engine's shutdown).
    Stopped,
    /// Could not start (the log says why).
    Failed,
}

/// A device's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeviceStatus {
    /// Being made.
    Provisioning,
    /// Connecting.
    Connecting,
    /// Connected.
    Online,
    /// Offline on purpose (its connection pattern or a fault).
    Offline,
    /// Lost or refused its connection; trying again.
    Retrying,
    /// Its scenario stopped.
    Stopped,
}

/// A device's faults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultState {
    /// The share of outgoing messages lost.
    pub drop: f64,
    /// Outgoing messages this many ms late.
    pub delay_ms: i64,
    /// The device's clock is this many ms off.
    pub clock_skew_ms: i64,
    /// The share of telemetry padded past 128 KB.
    pub oversize: f64,
    /// Its certificate was revoked.
    pub revoked: bool,
}

/// A scenario's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioInfo {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Where it is.
    pub phase: ScenarioPhase,
    /// Started at (epoch ms).
    pub started_at: i64,
    /// How many devices it has.
    pub devices: usize,
    /// How many are online.
    pub online: usize,
    /// How many are made.
    pub provisioned: usize,
    /// Steps taken of all.
    pub steps_done: usize,
    /// Steps in all.
    pub steps: usize,
    /// Messages its devices sent and received.
    pub sent: u64,
    /// Messages received.
    pub received: u64,
    /// Its newest log lines, newest last.
    pub log: Vec<LogLine>,
}

/// A line of a log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    /// When (epoch ms).
    pub at: i64,
    /// What happened.
    pub text: String,
}

/// A simulated device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    /// Its thing name (and client id).
    pub name: String,
    /// Its scenario.
    pub scenario: String,
    /// Its fleet.
    pub fleet: String,
    /// Its connection.
    pub status: DeviceStatus,
    /// Messages sent.
    pub sent: u64,
    /// Messages received.
    pub received: u64,
    /// Messages its faults (or a full queue) lost.
    pub dropped: u64,
    /// Its faults.
    pub faults: FaultState,
    /// The job it is running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The state it last reported to its shadow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<serde_json::Value>,
    /// Its certificate's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_id: Option<String>,
    /// The last error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// `GET /console/api/sim`: scenarios and (a page of) their devices.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimState {
    /// Every scenario, running or not.
    pub scenarios: Vec<ScenarioInfo>,
    /// Devices (at most `limit`, from `offset`).
    pub devices: Vec<DeviceInfo>,
    /// How many devices there are.
    pub total_devices: usize,
    /// The example scenarios that ship with Thingbox.
    pub examples: Vec<Example>,
}

/// An example scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Example {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Its text (YAML).
    pub text: String,
}

/// `GET /console/api/sim/devices/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceDetail {
    /// The device.
    pub device: DeviceInfo,
    /// Its log, newest last.
    pub log: Vec<LogLine>,
}

/// `POST /console/api/sim/scenarios`: a scenario's text (YAML or JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartScenario {
    /// The scenario.
    pub text: String,
}

/// `POST /console/api/sim/quick`: N devices of an example's first fleet, as a new scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuickAdd {
    /// The example (`smart-lamps`, …).
    pub example: String,
    /// How many devices.
    pub count: usize,
}
