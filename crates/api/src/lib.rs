//! Wire types shared by the engine and the console: the JSON shapes of AWS IoT's REST-JSON API
//! (service `iot`, botocore model `iot/2015-05-28`) and of Thingbox's own console API.
//!
//! Field names are the AWS wire names exactly. Requests deserialize leniently (unknown members are
//! ignored, as AWS ignores them); responses skip absent optional members, as AWS omits them.

pub mod console;
pub mod iot;
pub mod jobs;
pub mod provisioning;
pub mod quotas;
pub mod rules;
pub mod shadows;
pub mod sim;
pub mod trace;
pub mod usage;
pub mod viewer;

/// The body of every AWS error response: `{"message": "..."}`, plus the resource for
/// `ResourceAlreadyExistsException`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// What a person reads.
    pub message: String,
    /// The existing resource's id (ResourceAlreadyExistsException).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// The existing resource's ARN (ResourceAlreadyExistsException).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_arn: Option<String>,
}

/// The contents of `endpoints.json`, which `thingbox serve` writes into its data dir once every
/// listener is ready, and removes on a clean shutdown.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endpoints {
    /// Base URL of the AWS API (and, later, the console), e.g. `http://127.0.0.1:4580`.
    pub api: String,
    /// `host:port` of the mutual-TLS MQTT listener (`null` while this build has no MQTT gateway).
    pub mqtt_tls: Option<String>,
    /// `host:port` of the plain MQTT listener (`null` while this build has no MQTT gateway).
    pub mqtt: Option<String>,
    /// `host:port` of the multiplexed TLS port (AWS's 443): MQTT with ALPN `x-amzn-mqtt-ca`, HTTPS
    /// for the AWS APIs and `wss://host:port/mqtt`; `null` when it is not served.
    #[serde(default)]
    pub https: Option<String>,
    /// Why the multiplexed TLS port is not served, and how to change that (e.g. port 443 needs a
    /// privilege: `sudo thingbox trust` grants it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_unavailable: Option<String>,
    /// Absolute path of the root CA certificate (PEM).
    pub root_ca: String,
    /// The emulated AWS account id.
    pub account: String,
    /// The emulated AWS region.
    pub region: String,
    /// The console's URL, with its per-data-dir token (`http://127.0.0.1:4580/?token=…`).
    #[serde(default)]
    pub console: Option<String>,
}
