//! The message's metadata (`topic()`, `clientid()`, …), collections and types (`get`,
//! `isNull`, `transform`), time, and the functions the host answers (`get_thing_shadow`, …).

use base64::Engine as _;

use super::take;
use crate::eval::Env;
use crate::value::{Object, Value};

fn opt(s: Option<&str>) -> Value {
    s.map_or(Value::Undefined, |s| Value::String(s.to_owned()))
}

/// `topic()` the whole topic; `topic(n)` its n-th level, from 1.
pub fn topic(env: &Env<'_>, a: Vec<Value>) -> Value {
    let topic = env.input.topic;
    let Some(n) = a.first() else { return Value::String(topic.to_owned()) };
    let Some(n) = n.to_int() else { return Value::Undefined };
    if n < 1 {
        return Value::Undefined;
    }
    opt(topic.split('/').nth(n as usize - 1))
}

/// The publisher's MQTT client id, `n/a` when it did not publish over MQTT.
pub fn clientid(env: &Env<'_>, _: Vec<Value>) -> Value {
    Value::String(env.input.client_id.unwrap_or("n/a").to_owned())
}

pub fn principal(env: &Env<'_>, _: Vec<Value>) -> Value {
    opt(env.input.principal)
}

/// Epoch milliseconds, from the host's clock.
pub fn timestamp(env: &Env<'_>, _: Vec<Value>) -> Value {
    Value::Int(env.host.now_ms())
}

pub fn accountid(env: &Env<'_>, _: Vec<Value>) -> Value {
    Value::String(env.input.account.to_owned())
}

pub fn sql_version(env: &Env<'_>, _: Vec<Value>) -> Value {
    Value::String(env.version.as_str().to_owned())
}

pub fn traceid(env: &Env<'_>, _: Vec<Value>) -> Value {
    opt(env.input.trace_id)
}

pub fn newuuid(env: &Env<'_>, _: Vec<Value>) -> Value {
    Value::String(env.host.uuid())
}

pub fn rand(env: &Env<'_>, _: Vec<Value>) -> Value {
    Value::Decimal(env.host.random())
}

pub fn sourceip(env: &Env<'_>, _: Vec<Value>) -> Value {
    opt(env.input.source_ip)
}

/// `get_mqtt_property(name)`: `format_indicator`, `content_type`, `response_topic`,
/// `correlation_data` (base64) of an MQTT 5 publish.
pub fn get_mqtt_property(env: &Env<'_>, a: Vec<Value>) -> Value {
    let p = &env.input.properties;
    match a[0].as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("format_indicator") => Value::String(
            match p.format_indicator {
                Some(1) => "UTF8_DATA",
                _ => "UNSPECIFIED_BYTES",
            }
            .into(),
        ),
        Some("content_type") => opt(p.content_type),
        Some("response_topic") => opt(p.response_topic),
        Some("correlation_data") => p
            .correlation_data
            .map_or(Value::Undefined, |c| Value::String(base64::engine::general_purpose::STANDARD.encode(c))),
        _ => Value::Undefined,
    }
}

/// `get_user_properties(key)`: the values of that MQTT 5 user property, in order.
pub fn get_user_properties(env: &Env<'_>, a: Vec<Value>) -> Value {
    let Some(key) = a[0].as_str() else { return Value::Undefined };
    let values: Vec<Value> = env
        .input
        .properties
        .user_properties
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| Value::String(v.clone()))
        .collect();
    if values.is_empty() { Value::Undefined } else { Value::Array(values) }
}

/// `get(collection, key)`: an array element (0-based), a string's character, an object member.
pub fn get(_: &Env<'_>, mut a: Vec<Value>) -> Value {
    let key = take(&mut a, 1);
    element(take(&mut a, 0), &key)
}

/// One element of an array, string or object (shared by `get()` and `x[i]`).
pub fn element(coll: Value, key: &Value) -> Value {
    match coll {
        Value::Array(mut items) => match key.to_int() {
            Some(i) if i >= 0 && (i as usize) < items.len() => items.swap_remove(i as usize),
            _ => Value::Undefined,
        },
        Value::String(s) => match key.to_int() {
            Some(i) if i >= 0 => {
                s.chars().nth(i as usize).map_or(Value::Undefined, |c| Value::String(c.to_string()))
            }
            _ => Value::Undefined,
        },
        Value::Object(mut o) => match key.to_text() {
            Some(k) => o.remove(&k).unwrap_or_default(),
            None => Value::Undefined,
        },
        _ => Value::Undefined,
    }
}

pub fn is_null(_: &Env<'_>, a: Vec<Value>) -> Value {
    Value::Bool(matches!(a[0], Value::Null))
}

pub fn is_undefined(_: &Env<'_>, a: Vec<Value>) -> Value {
    Value::Bool(matches!(a[0], Value::Undefined))
}

/// Largest result `transform` builds.
const TRANSFORM_MAX: usize = 128 * 1024;

/// `transform('enrichArray', object, array)`: each object element of `array` with `object`'s
/// members added (the element's own members win).
pub fn transform(_: &Env<'_>, mut a: Vec<Value>) -> Value {
    if a[0].as_str() != Some("enrichArray") {
        return Value::Undefined;
    }
    let (Value::Object(extra), Value::Array(items)) = (take(&mut a, 1), take(&mut a, 2)) else {
        return Value::Undefined;
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(own) = item else { continue };
        let mut merged: Object = extra.clone();
        merged.extend(own);
        out.push(Value::Object(merged));
    }
    let out = Value::Array(out);
    if out.json_text().len() > TRANSFORM_MAX { Value::Undefined } else { out }
}

/// `parse_time(pattern, epochMillis[, zone])`: a Joda-Time pattern, UTC unless a zone is named.
pub fn parse_time(_: &Env<'_>, a: Vec<Value>) -> Value {
    let (Some(pattern), Some(ms)) = (a[0].to_text(), a[1].to_int()) else { return Value::Undefined };
    let zone = match a.get(2) {
        Some(z) => match z.to_text() {
            Some(z) => z,
            None => return Value::Undefined,
        },
        None => "UTC".into(),
    };
    crate::time::format(&pattern, ms, &zone).map_or(Value::Undefined, Value::String)
}

/// `time_to_epoch(text, pattern)`: epoch milliseconds of a date written with a JDK pattern.
pub fn time_to_epoch(_: &Env<'_>, a: Vec<Value>) -> Value {
    let (Some(s), Some(pattern)) = (a[0].to_text(), a[1].to_text()) else { return Value::Undefined };
    crate::time::parse(&s, &pattern).map_or(Value::Undefined, Value::Int)
}

/// `get_thing_shadow(thing, [shadowName,] roleArn)`: the shadow as GetThingShadow returns it.
pub fn get_thing_shadow(env: &Env<'_>, a: Vec<Value>) -> Value {
    let Some(thing) = a[0].as_str() else { return Value::Undefined };
    let name = if a.len() == 3 {
        match a[1].as_str() {
            Some(n) => Some(n),
            None => return Value::Undefined,
        }
    } else {
        None
    };
    env.host
        .thing_shadow(thing, name)
        .map_or(Value::Undefined, |j| Value::from_json(&j, env.version.modern()))
}

/// `get_dynamodb(table, keyName, keyValue, [rangeName, rangeValue,] roleArn)`.
pub fn get_dynamodb(env: &Env<'_>, a: Vec<Value>) -> Value {
    if a.len() != 4 && a.len() != 6 {
        return Value::Undefined;
    }
    let Some(table) = a[0].as_str() else { return Value::Undefined };
    let mut key = Vec::new();
    for pair in a[1..a.len() - 1].chunks(2) {
        let Some(name) = pair[0].as_str() else { return Value::Undefined };
        if pair[1].is_undefined() {
            return Value::Undefined;
        }
        key.push((name.to_owned(), pair[1].clone()));
    }
    env.host.dynamodb_get(table, &key).unwrap_or_default()
}

/// `get_secret`, `aws_lambda`, `machinelearning_predict`: whatever the host answers.
pub fn external(_: &Env<'_>, _: Vec<Value>) -> Value {
    Value::Undefined
}
