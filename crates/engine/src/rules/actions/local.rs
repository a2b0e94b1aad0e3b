//! What rules keep on this machine: `dynamoDB`/`dynamoDBv2` items in local tables, `s3` objects as
//! files, and — for AWS services not forwarded — a record of what would have been sent.

use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use serde_json::{Value, json};
use thingbox_api::rules::Outcome;

use super::{ActionCtx, Done, Payload, failed, ok, s};
use crate::broker::now_ms;

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

pub(super) async fn dynamo(ctx: &ActionCtx, body: &Value, payload: &Payload) -> Done {
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

pub(super) async fn dynamo_v2(ctx: &ActionCtx, body: &Value, payload: &Payload) -> Done {
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
pub(crate) fn bucket_ok(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && !name.starts_with(['.', '-'])
}

/// The file an object key maps to under `bucket_dir`, refusing keys that would leave it.
pub(crate) fn object_path(bucket_dir: &Path, key: &str) -> Result<PathBuf, String> {
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

pub(super) async fn s3(ctx: &ActionCtx, body: &Value, payload: &Payload) -> Done {
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
pub fn forward_target(kind: &str, body: &Value) -> String {
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
        "iotAnalytics" => &["channelName", "channelArn"],
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

pub(super) async fn record(ctx: &ActionCtx, kind: &'static str, body: &Value, payload: &Payload) -> Done {
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
