//! The `republish` action: a message through the router under the rules engine's identity.

use base64::Engine as _;
use serde_json::Value;
use thingbox_model::topic::{MAX_PAYLOAD_BYTES, Reserved};

use super::{ActionCtx, Done, Payload, failed, ok, s};
use crate::broker::{Message, Principal, Properties, now_ms};

/// A republish topic as written (`$$` stands for a reserved topic's `$`).
pub fn republish_topic(written: &str) -> String {
    match written.strip_prefix("$$") {
        Some(rest) => format!("${rest}"),
        None => written.to_owned(),
    }
}

pub(super) async fn republish(ctx: &ActionCtx, body: &Value, payload: &Payload, msg: &Message) -> Done {
    let topic = republish_topic(s(body, "topic"));
    let qos = body.get("qos").and_then(Value::as_u64).unwrap_or(0).min(1) as u8;
    let properties = match headers(body.get("headers")) {
        Ok(p) => p,
        Err(e) => return failed(topic, e),
    };
    // A republish never retains, so nothing waits for storage: it is routed at once.
    match republish_message(topic, qos, properties, payload.bytes.clone(), msg, now_ms()) {
        Ok(mut m) => {
            m.follow(msg, &ctx.broker.tracer, || "a rule's republish action".into());
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
        trace: None,
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
