//! Carrying out actions: republish through the router, HTTP POST, a Lambda function mapped to a
//! local URL or command, local tables for DynamoDB, files for S3, and — for the AWS services
//! Thingbox does not run — a record of what would have been sent.
//!
//! Every action ends in an [`ActionResult`] a person can read: where it went (templates
//! resolved), how it ended, and why it failed. One module a kind: [`republish`], [`http`] (also
//! Lambda functions mapped to a URL or a command), [`local`] (tables, files, the outbox).

mod http;
pub(crate) mod local;
mod republish;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use thingbox_api::rules::{ActionResult, Outcome};
use thingbox_model::rules::Served;

pub use self::http::lambda_target;
pub use self::local::forward_target;
pub use self::republish::{headers, republish_message, republish_topic};
use super::tables::Tables;
use crate::broker::{Broker, Message};

/// Where a Lambda function runs locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LambdaTarget {
    /// POST the payload to this URL.
    Url(String),
    /// Run this command with the payload on standard input.
    Command(Vec<String>),
}

impl LambdaTarget {
    /// Reads `http(s)://…` as a URL, anything else as a command line split on spaces.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.starts_with("http://") || s.starts_with("https://") {
            return Some(Self::Url(s.to_owned()));
        }
        let argv: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
        (!argv.is_empty()).then_some(Self::Command(argv))
    }
}

/// What actions need.
#[derive(Debug)]
pub struct ActionCtx {
    /// The router (republish).
    pub broker: Arc<Broker>,
    /// The HTTP client (http, lambda URLs).
    pub http: reqwest::Client,
    /// Function ARN or name → local target.
    pub lambdas: BTreeMap<String, LambdaTarget>,
    /// Local tables (dynamoDB, dynamoDBv2).
    pub tables: Arc<Tables>,
    /// Where s3 actions write: `<data dir>/s3`.
    pub s3_dir: PathBuf,
    /// Where actions for the AWS services Thingbox does not run are recorded when they are not
    /// forwarded: `<data dir>/rules-outbox.jsonl`.
    pub outbox: PathBuf,
    /// Where those actions are sent, when the user chose an endpoint.
    pub forward: Option<super::forward::Forwarder>,
}

/// A TLS client configuration trusting the system's roots (after `thingbox trust`, Thingbox's
/// root too): HTTP actions and the Kafka action.
pub fn system_tls_config() -> Option<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .ok()
}

/// An HTTP client trusting the system's roots ([`system_tls_config`]).
pub fn http_client() -> reqwest::Client {
    let builder =
        reqwest::Client::builder().timeout(http::HTTP_TIMEOUT).redirect(reqwest::redirect::Policy::none());
    match system_tls_config() {
        Some(config) => builder.use_preconfigured_tls(config),
        None => builder,
    }
    .build()
    .unwrap_or_default()
}

/// The rule's output as an action sends it.
#[derive(Debug, Clone)]
pub struct Payload {
    /// The bytes.
    pub bytes: bytes::Bytes,
    /// Whether they are JSON.
    pub json: bool,
}

fn s<'a>(body: &'a Value, key: &str) -> &'a str {
    body.get(key).and_then(Value::as_str).unwrap_or_default()
}

struct Done {
    target: String,
    result: Result<(Outcome, Option<String>), String>,
}

fn ok(target: String, detail: impl Into<String>) -> Done {
    Done { target, result: Ok((Outcome::Ok, Some(detail.into()))) }
}

fn failed(target: String, error: impl Into<String>) -> Done {
    Done { target, result: Err(error.into()) }
}

/// Runs one action whose templates are already resolved.
pub async fn run(
    ctx: &ActionCtx,
    kind: &'static str,
    served: Served,
    body: &Value,
    payload: &Payload,
    msg: &Message,
    index: Option<usize>,
) -> ActionResult {
    let started = Instant::now();
    let done = match served {
        Served::Republish => republish::republish(ctx, body, payload, msg).await,
        Served::Http => http::http(ctx, body, payload).await,
        Served::Lambda => http::lambda(ctx, body, payload, msg).await,
        Served::DynamoDb => local::dynamo(ctx, body, payload).await,
        Served::DynamoDbV2 => local::dynamo_v2(ctx, body, payload).await,
        Served::S3 => local::s3(ctx, body, payload).await,
        Served::Forwarded => match &ctx.forward {
            Some(f) if super::forward::FORWARDED.contains(&kind) => match f
                .send(kind, body, &payload.bytes)
                .await
            {
                Ok(detail) => ok(forward_target(kind, body), format!("sent to {}: {detail}", f.describe())),
                Err(e) => failed(forward_target(kind, body), format!("{}: {e}", f.describe())),
            },
            _ => local::record(ctx, kind, body, payload).await,
        },
    };
    let (outcome, error, detail) = match done.result {
        Ok((outcome, detail)) => (outcome, None, detail),
        Err(e) => (Outcome::Failed, Some(e), None),
    };
    ActionResult {
        index,
        kind: kind.to_owned(),
        target: done.target,
        outcome,
        error,
        detail,
        millis: started.elapsed().as_secs_f64() * 1000.0,
    }
}

/// The `failedAction` name AWS puts in an errorAction message (`RepublishAction`, …).
pub fn failed_action_name(kind: &str) -> String {
    match kind {
        "dynamoDB" => "DynamoAction".into(),
        "dynamoDBv2" => "DynamoDBv2Action".into(),
        "s3" => "S3Action".into(),
        "iotAnalytics" => "IotAnalyticsAction".into(),
        other => {
            let mut c = other.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default() + "Action"
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::http::lambda_target;
    use super::local::{bucket_ok, object_path};
    use super::*;

    #[test]
    fn object_keys_cannot_leave_the_bucket() {
        let dir = Path::new("/data/s3/b");
        assert_eq!(object_path(dir, "a/b.json").unwrap(), dir.join("a/b.json"));
        for bad in ["", "../x", "a/../../x", "/etc/passwd", "a//b", "a/./b", "dir/"] {
            assert!(object_path(dir, bad).is_err(), "{bad:?}");
        }
        assert!(bucket_ok("my-bucket.1"));
        for bad in ["ab", "Upper", "-x1", "a_b", &"x".repeat(64)] {
            assert!(!bucket_ok(bad), "{bad}");
        }
    }

    #[test]
    fn names_and_targets() {
        assert_eq!(failed_action_name("republish"), "RepublishAction");
        assert_eq!(failed_action_name("dynamoDB"), "DynamoAction");
        assert_eq!(failed_action_name("cloudwatchMetric"), "CloudwatchMetricAction");
        assert_eq!(republish_topic("$$aws/things/t/shadow/update"), "$aws/things/t/shadow/update");
        let mut map = BTreeMap::new();
        map.insert("f".to_owned(), LambdaTarget::Url("http://x".into()));
        assert!(lambda_target(&map, "arn:aws:lambda:us-east-1:1:function:f").is_some());
        assert!(lambda_target(&map, "arn:aws:lambda:us-east-1:1:function:f:prod").is_some());
        assert!(lambda_target(&map, "arn:aws:lambda:us-east-1:1:function:g").is_none());
        assert_eq!(
            LambdaTarget::parse("python3 h.py"),
            Some(LambdaTarget::Command(vec!["python3".into(), "h.py".into()]))
        );
        assert_eq!(LambdaTarget::parse(" "), None);
        let p = headers(Some(&json!({"payloadFormatIndicator": "UTF8_DATA", "contentType": "application/json",
            "correlationData": "YWJj", "messageExpiry": "60", "userProperties": [{"key": "k", "value": "v"}]})))
        .unwrap();
        assert_eq!(p.payload_format_indicator, Some(1));
        assert_eq!(p.correlation_data.as_deref(), Some(&b"abc"[..]));
        assert_eq!(p.message_expiry_interval, Some(60));
        assert!(headers(Some(&json!({"correlationData": "!!"}))).is_err());
    }
}
