//! Rule actions for AWS services Thingbox does not run, sent with the AWS SDK for Rust to an
//! endpoint the user chose: one URL for every service (LocalStack, moto), or AWS itself with the
//! machine's AWS credentials (`--forward aws`). Without one, the runner records them instead.
//!
//! Served this way: `sqs` (SendMessage), `sns` (Publish), `kinesis` (PutRecord), `firehose`
//! (PutRecord), `cloudwatchMetric` (PutMetricData), `cloudwatchAlarm` (SetAlarmState),
//! `cloudwatchLogs` (PutLogEvents into the stream `thingbox-rules`, made when missing),
//! `stepFunctions` (StartExecution), `timestream` (WriteRecords: each attribute of the output a
//! measure); the IoT family in `sdk/iot.rs`: `iotEvents`, `iotAnalytics`, `iotSiteWise`, `location`;
//! and the actions whose endpoint is in the action itself, in `sdk/web.rs`: `elasticsearch` and
//! `openSearch` (a signed PUT of the document) and `salesforce` (a POST to the input stream); and
//! `kafka`, produced to the cluster the action names, in `sdk/kafka.rs`. The SDK's clients are made on
//! first use and kept.
//!
//! The SDKs are the engine's `forward` feature (on by default). A build without it (the fuzz
//! targets', which would spend minutes building SDK code they never reach) records forwarded
//! actions as a target-less engine does, and fails them with the reason when a target is set.

#[cfg(feature = "forward")]
mod sdk;
#[cfg(feature = "forward")]
pub use sdk::Forwarder;

#[cfg(not(feature = "forward"))]
mod off;
#[cfg(not(feature = "forward"))]
pub use off::Forwarder;

/// Where forwarded actions go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardTarget {
    /// Every service at this URL (LocalStack `http://localhost:4566`, moto); credentials from the
    /// environment when set, else the dummy `test`/`test` such endpoints accept.
    Endpoint(String),
    /// AWS, with the standard credential chain (environment, `~/.aws`, SSO, instance roles).
    Aws,
}

impl ForwardTarget {
    /// `aws`, or an `http(s)://` URL.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("aws") {
            return Some(Self::Aws);
        }
        (s.starts_with("http://") || s.starts_with("https://"))
            .then(|| Self::Endpoint(s.trim_end_matches('/').to_owned()))
    }

    /// Where actions go, for people: the URL, or `AWS (<region>)`.
    pub fn describe(&self, region: &str) -> String {
        match self {
            Self::Endpoint(u) => u.clone(),
            Self::Aws => format!("AWS ({region})"),
        }
    }
}

/// The action types forwarded when a target is set.
pub const FORWARDED: [&str; 17] = [
    "sqs",
    "sns",
    "kinesis",
    "firehose",
    "cloudwatchMetric",
    "cloudwatchAlarm",
    "cloudwatchLogs",
    "stepFunctions",
    "timestream",
    "iotEvents",
    "iotAnalytics",
    "iotSiteWise",
    "location",
    "elasticsearch",
    "openSearch",
    "salesforce",
    "kafka",
];
