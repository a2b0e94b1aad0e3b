//! Carrying out actions: republish through the router, HTTP POST, a Lambda function mapped to a
//! local URL or command, local tables for DynamoDB, files for S3, and — for the AWS services
//! Thingbox does not run — a record of what would have been sent.
//!
//! Every action ends in an [`ActionResult`] a person can read: where it went (templates
//! resolved), how it ended, and why it failed.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use thingbox_api::rules::{ActionResult, Outcome};
use thingbox_model::rules::Served;
use thingbox_model::topic::{MAX_PAYLOAD_BYTES, Reserved};

use super::tables::Tables;
use crate::broker::{Broker, Message, Principal, Properties, now_ms};

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

/// How long one HTTP attempt (http and lambda URL actions) may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a lambda command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Most HTTP attempts (AWS: at most 3, retrying on 429 and 5xx).
const HTTP_TRIES: usize = 3;

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

/// An HTTP client trusting the system's roots (and, for https://localhost, whatever the system
/// trusts, which after `thingbox trust` includes Thingbox's root).
pub fn http_client() -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder =
        reqwest::Client::builder().timeout(HTTP_TIMEOUT).redirect(reqwest::redirect::Policy::none());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    match tls {
        Ok(config) => builder.use_preconfigured_tls(config),
        Err(_) => builder,
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
        Served::Republish => republish(ctx, body, payload, msg).await,
        Served::Http => http(ctx, body, payload).await,
        Served::Lambda => lambda(ctx, body, payload, msg).await,
        Served::DynamoDb => dynamo(ctx, body, payload).await,
        Served::DynamoDbV2 => dynamo_v2(ctx, body, payload).await,
        Served::S3 => s3(ctx, body, payload).await,
        Served::Forwarded => match &ctx.forward {
            Some(f) if super::forward::FORWARDED.contains(&kind) => match f
                .send(kind, body, &payload.bytes)
                .await
            {
                Ok(detail) => ok(forward_target(kind, body), format!("sent to {}: {detail}", f.describe())),
                Err(e) => failed(forward_target(kind, body), format!("{}: {e}", f.describe())),
            },
            _ => record(ctx, kind, body, payload).await,
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

/// A republish topic as written (`$$` stands for a reserved topic's `$`).
pub fn republish_topic(written: &str) -> String {
    match written.strip_prefix("$$") {
        Some(rest) => format!("${rest}"),
        None => written.to_owned(),
    }
}

async fn republish(ctx: &ActionCtx, body: &Value, payload: &Payload, msg: &Message) -> Done {
    let topic = republish_topic(s(body, "topic"));
    let qos = body.get("qos").and_then(Value::as_u64).unwrap_or(0).min(1) as u8;
    let properties = match headers(body.get("headers")) {
        Ok(p) => p,
        Err(e) => return failed(topic, e),
    };
    // A republish never retains, so nothing waits for storage: it is routed at once.
    match republish_message(topic, qos, properties, payload.bytes.clone(), msg, now_ms()) {
        Ok(m) => {
            let topic = m.topic.clone();
            ctx.broker.publish_now(m);
            ok(topic, format!("published at QoS {qos}"))
        }
        Err((topic, e)) => failed(topic, e),
    }
}

/// The message a republish sends: checks the resolved topic and the size, and builds it under the
/// rules engine's identity, one rule hop further from the client's publish.
pub fn republish_message(
    topic: String,
    qos: u8,
    properties: Properties,
    payload: bytes::Bytes,
    msg: &Message,
    now: i64,
) -> Result<Message, (String, String)> {
    if let Err(e) = thingbox_model::topic::check_name(&topic) {
        return Err((topic, format!("the resolved topic is not valid: {e}")));
    }
    if topic.starts_with('$') {
        if matches!(thingbox_model::topic::reserved(&topic), Some(Reserved::Jobs { .. })) {
            return Err((topic, "republishing to reserved job topics is not supported (as on AWS)".into()));
        }
        if !thingbox_model::topic::client_may_publish(&topic, false) {
            return Err((topic, "this reserved topic cannot be published to".into()));
        }
    }
    if payload.len() > MAX_PAYLOAD_BYTES {
        let n = payload.len();
        return Err((topic, format!("the output is {n} bytes; MQTT messages are limited to 128 KB")));
    }
    Ok(Message {
        topic,
        payload,
        qos,
        retain: false,
        properties,
        client_id: None,
        principal: Principal::Service("rules"),
        timestamp_ms: now,
        rule_hops: msg.rule_hops.saturating_add(1),
    })
}

/// MQTT 5 headers of a republish action.
pub fn headers(h: Option<&Value>) -> Result<Properties, String> {
    let mut p = Properties::default();
    let Some(h) = h.and_then(Value::as_object) else { return Ok(p) };
    if let Some(f) = h.get("payloadFormatIndicator").and_then(Value::as_str) {
        p.payload_format_indicator = Some(match f {
            "UTF8_DATA" => 1,
            "UNSPECIFIED_BYTES" => 0,
            other => {
                return Err(format!(
                    "payloadFormatIndicator '{other}' is not UTF8_DATA or UNSPECIFIED_BYTES"
                ));
            }
        });
    }
    p.content_type = h.get("contentType").and_then(Value::as_str).map(str::to_owned);
    p.response_topic = h.get("responseTopic").and_then(Value::as_str).map(str::to_owned);
    if let Some(c) = h.get("correlationData").and_then(Value::as_str) {
        // AWS takes correlationData base64-encoded.
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(c)
            .map_err(|_| format!("correlationData '{c}' is not base64"))?;
        p.correlation_data = Some(bytes.into());
    }
    if let Some(e) = h.get("messageExpiry").and_then(Value::as_str) {
        p.message_expiry_interval =
            Some(e.trim().parse().map_err(|_| format!("messageExpiry '{e}' is not a number of seconds"))?);
    }
    if let Some(list) = h.get("userProperties").and_then(Value::as_array) {
        for up in list {
            p.user_properties.push((s(up, "key").to_owned(), s(up, "value").to_owned()));
        }
    }
    Ok(p)
}

async fn post(
    ctx: &ActionCtx,
    url: &str,
    headers: &[(String, String)],
    payload: &Payload,
) -> Result<String, String> {
    let mut content_type =
        if payload.json { "application/json" } else { "application/octet-stream" }.to_owned();
    let mut extra = Vec::new();
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("content-type") {
            content_type = v.clone();
        } else {
            extra.push((k.clone(), v.clone()));
        }
    }
    let mut last = String::new();
    for attempt in 1..=HTTP_TRIES {
        let mut req = ctx.http.post(url).header("content-type", &content_type).body(payload.bytes.clone());
        for (k, v) in &extra {
            req = req.header(k.as_str(), v.as_str());
        }
        match req.send().await {
            Ok(res) => {
                let status = res.status();
                if status.is_success() {
                    return Ok(format!(
                        "HTTP {status} after {attempt} attempt{}",
                        if attempt == 1 { "" } else { "s" }
                    ));
                }
                last = format!("HTTP {status}");
                if status.as_u16() != 429 && !status.is_server_error() {
                    break;
                }
            }
            Err(e) => {
                last = describe_reqwest(&e);
                if e.is_timeout() {
                    break;
                }
            }
        }
    }
    Err(last)
}

/// A client error in a person's words: what failed, and the innermost reason.
fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut root = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        root = s.to_string();
        source = s.source();
    }
    if e.is_timeout() {
        format!("no answer within {} s", HTTP_TIMEOUT.as_secs())
    } else if e.is_connect() {
        format!("could not connect: {root}")
    } else {
        format!("the request failed: {root}")
    }
}

async fn http(ctx: &ActionCtx, body: &Value, payload: &Payload) -> Done {
    let url = s(body, "url").to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return failed(url, "the resolved url is not an http:// or https:// URL");
    }
    let headers: Vec<(String, String)> = body
        .get("headers")
        .and_then(Value::as_array)
        .map(|hs| hs.iter().map(|h| (s(h, "key").to_owned(), s(h, "value").to_owned())).collect())
        .unwrap_or_default();
    match post(ctx, &url, &headers, payload).await {
        Ok(detail) => ok(url, detail),
        Err(e) => failed(url, e),
    }
}

/// The local target of a function ARN: by the whole ARN, else by the function name.
fn lambda_target<'a>(map: &'a BTreeMap<String, LambdaTarget>, arn: &str) -> Option<&'a LambdaTarget> {
    if let Some(t) = map.get(arn) {
        return Some(t);
    }
    let name = arn.split(":function:").nth(1).map_or(arn, |rest| rest.split(':').next().unwrap_or(rest));
    map.get(name)
}

async fn lambda(ctx: &ActionCtx, body: &Value, payload: &Payload, msg: &Message) -> Done {
    let arn = s(body, "functionArn").to_owned();
    let Some(target) = lambda_target(&ctx.lambdas, &arn) else {
        return failed(
            arn,
            "no local target for this function: map it to a URL or a command with \
             `thingbox serve --lambda NAME=TARGET` or [rules.lambda] in thingbox.toml",
        );
    };
    match target {
        LambdaTarget::Url(url) => {
            let headers = vec![("x-thingbox-function-arn".to_owned(), arn.clone())];
            match post(ctx, url, &headers, payload).await {
                Ok(detail) => ok(arn, format!("{url}: {detail}")),
                Err(e) => failed(arn, format!("{url}: {e}")),
            }
        }
        LambdaTarget::Command(argv) => match command(argv, &arn, payload, msg).await {
            Ok(detail) => ok(arn, detail),
            Err(e) => failed(arn, e),
        },
    }
}

/// Bytes of a command's output kept (its tail goes into the action's result).
const OUTPUT_KEPT: usize = 16 * 1024;

/// Reads a pipe to its end, keeping the last [`OUTPUT_KEPT`] bytes.
async fn drain(pipe: Option<impl tokio::io::AsyncRead + Unpin>) -> Vec<u8> {
    use tokio::io::AsyncReadExt as _;
    let Some(mut pipe) = pipe else { return Vec::new() };
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * OUTPUT_KEPT {
            kept.drain(..kept.len() - OUTPUT_KEPT);
        }
    }
    kept
}

async fn command(argv: &[String], arn: &str, payload: &Payload, msg: &Message) -> Result<String, String> {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .env("THINGBOX_FUNCTION_ARN", arn)
        .env("THINGBOX_TOPIC", &msg.topic)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", argv[0]))?;
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let bytes = payload.bytes.clone();
    // Standard input is written while the output is read, all within the time limit: a command
    // that writes before it reads, or never reads, cannot stall the rule's worker.
    let feed = async move {
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(&bytes).await;
        }
    };
    let run = async {
        let (_, out, err, status) = tokio::join!(feed, drain(stdout), drain(stderr), child.wait());
        (out, err, status)
    };
    let (out, err, status) = tokio::time::timeout(COMMAND_TIMEOUT, run).await.map_err(|_| {
        format!("{} ran longer than {} s and was stopped", argv[0], COMMAND_TIMEOUT.as_secs())
    })?;
    let status = status.map_err(|e| format!("{}: {e}", argv[0]))?;
    let tail = |b: &[u8]| {
        let t = String::from_utf8_lossy(b);
        let t = t.trim();
        let cut = t.len().saturating_sub(400);
        let cut = (cut..=t.len()).find(|i| t.is_char_boundary(*i)).unwrap_or(t.len());
        t[cut..].to_owned()
    };
    if status.success() {
        Ok(format!(
            "{} exited 0{}",
            argv[0],
            if out.is_empty() { String::new() } else { format!(": {}", tail(&out)) }
        ))
    } else {
        Err(format!("{} exited with {status}: {}", argv[0], tail(&err)))
    }
}

fn typed(value: &str, ty: &str) -> Value {
    if ty == "NUMBER"
        && let Ok(n) = serde_json::from_str::<serde_json::Number>(value)
    {
        return Value::Number(n);
    }
    Value::String(value.to_owned())
}

fn output_value(payload: &Payload) -> Value {
    if payload.json {
        serde_json::from_slice(&payload.bytes).unwrap_or(Value::Null)
    } else {
        Value::String(base64::engine::general_purpose::STANDARD.encode(&payload.bytes))
    }
}

async fn dynamo(ctx: &ActionCtx, body: &Value, payload: &Payload) -> Done {
    let table = s(body, "tableName").to_owned();
    let hash_field = s(body, "hashKeyField").to_owned();
    let hash =
        typed(s(body, "hashKeyValue"), body.get("hashKeyType").and_then(Value::as_str).unwrap_or("STRING"));
    let range_field = body.get("rangeKeyField").and_then(Value::as_str);
    let range = range_field.map(|_| {
        typed(s(body, "rangeKeyValue"), body.get("rangeKeyType").and_then(Value::as_str).unwrap_or("STRING"))
    });
    let mut key = vec![hash_field.clone()];
    key.extend(range_field.map(str::to_owned));
    let operation = body.get("operation").and_then(Value::as_str).unwrap_or("INSERT").to_ascii_uppercase();
    if operation == "DELETE" {
        let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
        let pending = ctx.tables.delete(&table, &text(&hash), &range.as_ref().map(text).unwrap_or_default());
        return match pending.wait().await {
            Ok(()) => ok(table, format!("deleted {}", text(&hash))),
            Err(e) => failed(table, e.to_string()),
        };
    }
    let mut item = serde_json::Map::new();
    item.insert(hash_field, hash);
    if let (Some(f), Some(v)) = (range_field, range) {
        item.insert(f.to_owned(), v);
    }
    let payload_field = body.get("payloadField").and_then(Value::as_str).unwrap_or("payload");
    item.insert(payload_field.to_owned(), output_value(payload));
    put(ctx, table, Some(&key), Value::Object(item)).await
}

async fn dynamo_v2(ctx: &ActionCtx, body: &Value, payload: &Payload) -> Done {
    let table = body.get("putItem").map(|p| s(p, "tableName")).unwrap_or_default().to_owned();
    let item = output_value(payload);
    if !item.is_object() {
        return failed(
            table,
            "dynamoDBv2 writes the rule's output as an item, and the output is not a JSON object",
        );
    }
    put(ctx, table, None, item).await
}

async fn put(ctx: &ActionCtx, table: String, key: Option<&[String]>, item: Value) -> Done {
    if table.is_empty() {
        return failed(table, "the table name resolved to nothing");
    }
    match ctx.tables.put(&table, key, item) {
        Ok((shown, pending)) => match pending.wait().await {
            Ok(()) => ok(table, format!("stored item {shown}")),
            Err(e) => failed(table, e.to_string()),
        },
        Err(e) => failed(table, e),
    }
}

/// Whether `name` is a valid S3 bucket name (3–63 of lowercase letters, digits, `.` and `-`).
fn bucket_ok(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !name.starts_with(['.', '-'])
}

/// The file an object key maps to under `bucket_dir`, refusing keys that would leave it.
fn object_path(bucket_dir: &Path, key: &str) -> Result<PathBuf, String> {
    if key.is_empty() || key.len() > 1024 {
        return Err("the key must be 1 to 1024 bytes".into());
    }
    let rel = Path::new(key);
    let bad_segment = key.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..");
    if bad_segment || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(format!("the key '{key}' has an empty, '.' or '..' segment, or starts with '/'"));
    }
    Ok(bucket_dir.join(rel))
}

async fn s3(ctx: &ActionCtx, body: &Value, payload: &Payload) -> Done {
    let bucket = s(body, "bucketName").to_owned();
    let key = s(body, "key").to_owned();
    let target = format!("s3://{bucket}/{key}");
    if !bucket_ok(&bucket) {
        return failed(target, format!("'{bucket}' is not a valid bucket name"));
    }
    let path = match object_path(&ctx.s3_dir.join(&bucket), &key) {
        Ok(p) => p,
        Err(e) => return failed(target, e),
    };
    let bytes = payload.bytes.clone();
    let shown = path.display().to_string();
    let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // A temp name of its own: two actions writing the same key at once each rename a whole file.
        let tmp = path.with_file_name(format!(
            ".{}.{}.tmp",
            path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, &path)
    })
    .await;
    match written {
        Ok(Ok(())) => ok(target, format!("wrote {} bytes to {shown}", payload.bytes.len())),
        Ok(Err(e)) => failed(target, format!("{shown}: {e}")),
        Err(e) => failed(target, e.to_string()),
    }
}

/// Where a forwarded action would have gone.
fn forward_target(kind: &str, body: &Value) -> String {
    let keys: &[&str] = match kind {
        "sqs" => &["queueUrl"],
        "sns" => &["targetArn"],
        "kinesis" => &["streamName"],
        "firehose" => &["deliveryStreamName"],
        "cloudwatchMetric" => &["metricNamespace", "metricName"],
        "cloudwatchAlarm" => &["alarmName"],
        "cloudwatchLogs" => &["logGroupName"],
        "elasticsearch" | "openSearch" => &["endpoint", "index"],
        "salesforce" => &["url"],
        "iotAnalytics" => &["channelName"],
        "iotEvents" => &["inputName"],
        "stepFunctions" => &["stateMachineName"],
        "timestream" => &["databaseName", "tableName"],
        "kafka" => &["destinationArn", "topic"],
        "location" => &["trackerName"],
        _ => &[],
    };
    let parts: Vec<&str> = keys.iter().map(|k| s(body, k)).filter(|v| !v.is_empty()).collect();
    if parts.is_empty() { kind.to_owned() } else { parts.join("/") }
}

/// Largest outbox file before it is rotated to `.1`.
const OUTBOX_MAX: u64 = 16 * 1024 * 1024;

async fn record(ctx: &ActionCtx, kind: &'static str, body: &Value, payload: &Payload) -> Done {
    let target = forward_target(kind, body);
    let line = json!({
        "timestamp": now_ms(),
        "action": kind,
        "target": target,
        "params": body,
        "payload": String::from_utf8_lossy(&payload.bytes),
    })
    .to_string();
    let path = ctx.outbox.clone();
    let kept = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        use std::io::Write as _;
        // One writer at a time (rotation is check-then-rename), each line in one write.
        static OUTBOX: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = OUTBOX.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if std::fs::metadata(&path).is_ok_and(|m| m.len() > OUTBOX_MAX) {
            std::fs::rename(&path, path.with_extension("jsonl.1"))?;
        }
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        f.write_all(format!("{line}\n").as_bytes())
    })
    .await;
    let preview: String = String::from_utf8_lossy(&payload.bytes).chars().take(200).collect();
    match kept {
        Ok(Ok(())) => Done {
            target,
            result: Ok((
                Outcome::Recorded,
                Some(format!(
                    "not sent: Thingbox does not run {kind}; recorded in rules-outbox.jsonl what would have been sent: {preview}"
                )),
            )),
        },
        Ok(Err(e)) => failed(target, format!("could not record in rules-outbox.jsonl: {e}")),
        Err(e) => failed(target, e.to_string()),
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
