//! Service `iotdata` (the device data plane over HTTP): Publish, and the retained-message API.
//! Publishing goes through the same router as MQTT, under the HTTP identity (no client id).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use thingbox_api::console::TOKEN_HEADER;
use thingbox_api::trace::Step;
use thingbox_model::usage::{MESSAGE_UNIT, Metric, RECORD_UNIT, units};

use super::AppState;
use super::error::{ApiError, AwsErrorType, aws_message};
use super::extract::{Params, to_the_end};
use crate::Error;
use crate::broker::{Message, Principal, Properties, now_ms};

/// The routes of `iotdata` served so far.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/topics/{*topic}", post(publish))
        .route("/retainedMessage", get(list_retained))
        .route("/retainedMessage/{*topic}", get(get_retained))
        .route("/things/{thingName}/shadow", get(get_shadow).post(update_shadow).delete(delete_shadow))
        .route("/api/things/shadow/ListNamedShadowsForThing/{thingName}", get(list_named_shadows))
}

/// Strict-AWS mode's per-thing shadow rate: AWS's ThrottlingException.
fn throttled(s: &AppState, thing: &str) -> Result<(), ApiError> {
    if s.shadows.throttled(thing) {
        let message = "Rate exceeded: more than 20 Device Shadow requests a second for this thing \
                       (strict-AWS mode enforces AWS's quota)";
        return Err(crate::Error::from(thingbox_model::shadow::ShadowError {
            code: 429,
            message: message.into(),
        })
        .into());
    }
    Ok(())
}

async fn get_shadow(
    State(s): State<AppState>,
    Path(thing): Path<String>,
    q: Params,
) -> Result<Json<Value>, ApiError> {
    s.broker.meter.add(Some(&thing), Metric::ShadowOperations, 1);
    throttled(&s, &thing)?;
    Ok(Json(s.shadows.get(&thing, q.str("name").unwrap_or("")).await?))
}

async fn update_shadow(
    State(s): State<AppState>,
    Path(thing): Path<String>,
    q: Params,
    h: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    // The console's editor sends its token: its changes are recorded as the console's.
    let from_console = header(&h, TOKEN_HEADER).is_some_and(|t| super::console::same(t, &s.console_token));
    let writer = if from_console { "console" } else { "api" };
    s.broker.meter.add(Some(&thing), Metric::ShadowOperations, units(body.len(), RECORD_UNIT));
    throttled(&s, &thing)?;
    let name = q.str("name").unwrap_or("").to_owned();
    to_the_end(async move { Ok(Json(s.shadows.update(&thing, &name, &body, writer).await?)) }).await
}

async fn delete_shadow(
    State(s): State<AppState>,
    Path(thing): Path<String>,
    q: Params,
) -> Result<Json<Value>, ApiError> {
    s.broker.meter.add(Some(&thing), Metric::ShadowOperations, 1);
    throttled(&s, &thing)?;
    let name = q.str("name").unwrap_or("").to_owned();
    to_the_end(async move { Ok(Json(s.shadows.delete(&thing, &name).await?)) }).await
}

async fn list_named_shadows(
    State(s): State<AppState>,
    Path(thing): Path<String>,
    q: Params,
) -> Result<Json<Value>, ApiError> {
    let size = q.int("pageSize", 1, 100)?.unwrap_or(25) as usize;
    let page = q.page(s.shadows.named(&thing), size, Clone::clone)?;
    let mut out = json!({"results": page.items, "timestamp": now_ms() / 1000});
    if let Some(t) = page.next_token {
        out["nextToken"] = Value::String(t);
    }
    Ok(Json(out))
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError(Error::InvalidRequest(msg.into()))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// MQTT 5 properties from Publish's query parameters and `x-amz-mqtt5-*` headers.
fn properties(q: &Params, h: &HeaderMap) -> Result<Properties, ApiError> {
    let mut p = Properties {
        content_type: q.str("contentType").map(str::to_owned),
        response_topic: q.str("responseTopic").map(str::to_owned),
        message_expiry_interval: q
            .int("messageExpiry", 0, i64::from(u32::MAX))?
            .map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
        ..Properties::default()
    };
    if let Some(raw) = header(h, "x-amz-mqtt5-user-properties") {
        let bytes = B64.decode(raw).map_err(|_| invalid("x-amz-mqtt5-user-properties must be base64"))?;
        let bad = || {
            invalid("x-amz-mqtt5-user-properties must be a base64 JSON array of {\"key\": \"value\"} objects")
        };
        let mut value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        // botocore JSON-encodes the string it is given, so the array may arrive as a JSON string.
        if let Value::String(inner) = &value {
            value = serde_json::from_str(inner).map_err(|_| bad())?;
        }
        let list: Vec<serde_json::Map<String, Value>> = serde_json::from_value(value).map_err(|_| bad())?;
        for obj in list {
            for (k, v) in obj {
                let v = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
                p.user_properties.push((k, v));
            }
        }
    }
    match header(h, "x-amz-mqtt5-payload-format-indicator") {
        None | Some("UNSPECIFIED_BYTES") => {}
        Some("UTF8_DATA") => p.payload_format_indicator = Some(1),
        Some(other) => {
            return Err(invalid(format!(
                "x-amz-mqtt5-payload-format-indicator '{other}' is not UNSPECIFIED_BYTES or UTF8_DATA"
            )));
        }
    }
    if let Some(raw) = header(h, "x-amz-mqtt5-correlation-data") {
        let bytes = B64.decode(raw).map_err(|_| invalid("x-amz-mqtt5-correlation-data must be base64"))?;
        p.correlation_data = Some(bytes.into());
    }
    Ok(p)
}

async fn publish(
    State(s): State<AppState>,
    Path(topic): Path<String>,
    q: Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let qos = q.int("qos", 0, 1)?.unwrap_or(0) as u8;
    let retain = q.bool("retain")?.unwrap_or(false);
    crate::broker::check_publish(&topic, retain, body.len())?;
    let properties = properties(&q, &headers)?;
    let mut msg = Message {
        topic,
        payload: body,
        qos,
        retain,
        properties,
        client_id: None,
        principal: Principal::Http,
        timestamp_ms: now_ms(),
        rule_hops: 0,
        trace: None,
    };
    msg.begin_trace(&s.broker.tracer, || Step::Published {
        identity: Principal::Http.kind().into(),
        principal: "n/a (HTTP callers are not policy-checked; docs/compat.md)".into(),
        things: Vec::new(),
        protocol: "HTTP".into(),
        peer: None,
    });
    // AWS meters the request's body and the response's, each in 5 KB units.
    s.broker.meter.add(None, Metric::Messages, units(msg.payload.len(), MESSAGE_UNIT) + 1);
    let broker = s.broker.clone();
    to_the_end(async move { Ok(broker.publish(msg).await?) }).await?;
    let trace = uuid::Uuid::new_v4().to_string();
    let mut res = Json(json!({"message": "OK", "traceId": trace})).into_response();
    if let Ok(v) = HeaderValue::from_str(&trace) {
        res.headers_mut().insert("x-amzn-RequestId", v);
    }
    Ok(res)
}

async fn list_retained(State(s): State<AppState>, q: Params) -> Result<Json<Value>, ApiError> {
    let max = q.int("maxResults", 1, 200)?.unwrap_or(200) as usize;
    let after = q.page_start()?;
    let (page, more) = s.broker.retained_page(after.as_deref(), max);
    let next = if more { page.last().map(|m| thingbox_model::paging::encode_token(&m.topic)) } else { None };
    let topics: Vec<Value> = page
        .iter()
        .map(|m| {
            json!({"topic": m.topic, "payloadSize": m.payload.len(), "qos": m.qos, "lastModifiedTime": m.timestamp_ms})
        })
        .collect();
    let mut out = json!({ "retainedTopics": topics });
    if let Some(n) = next {
        out["nextToken"] = Value::String(n);
    }
    Ok(Json(out))
}

async fn get_retained(State(s): State<AppState>, Path(topic): Path<String>) -> Result<Response, ApiError> {
    let Some(m) = s.broker.retained(&topic) else {
        return Ok(aws_message(
            AwsErrorType::ResourceNotFound,
            format!("No retained message exists for topic '{topic}'"),
        ));
    };
    let mut out = json!({
        "topic": m.topic,
        "payload": B64.encode(&m.payload),
        "qos": m.qos,
        "lastModifiedTime": m.timestamp_ms,
    });
    if !m.properties.user_properties.is_empty() {
        let list: Vec<Value> = m.properties.user_properties.iter().map(|(k, v)| json!({ k: v })).collect();
        out["userProperties"] = Value::String(B64.encode(Value::Array(list).to_string()));
    }
    Ok(Json(out).into_response())
}
