//! The IoT family of forwarded actions: `iotEvents` (BatchPutMessage to an input), `iotAnalytics`
//! (BatchPutMessage to a channel; `batchMode` sends each element of an array output as a
//! message), `iotSiteWise` (BatchPutAssetPropertyValue: the action's entries, their string fields
//! read as the types SiteWise wants) and `location` (BatchUpdateDevicePosition on a tracker).
//!
//! These APIs answer 200 with per-entry errors; the first one fails the action, so the rule's
//! errorAction runs and the console shows the service's code and text.
//!
//! SiteWise and Location put a host prefix (`data.`, `tracking.`) before AWS's endpoint; with one
//! URL for every service (LocalStack, moto) [`SameHost`] keeps the request on the URL's host.

use serde_json::Value;

use aws_sdk_iotsitewise::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_iotsitewise::config::{ConfigBag, Intercept, RuntimeComponents};

use super::{ForwardTarget, Forwarder, build, err, s};

/// Undoes the SDK's host prefix (`data.localhost:4566` → `localhost:4566`) for an endpoint URL.
#[derive(Debug)]
struct SameHost(String);

impl SameHost {
    fn rewrite(&self, uri: &str) -> Option<String> {
        let (scheme, rest) = uri.split_once("://")?;
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let prefixed = authority.strip_suffix(self.0.as_str())?.ends_with('.');
        prefixed.then(|| format!("{scheme}://{}{}", self.0, &rest[end..]))
    }
}

impl Intercept for SameHost {
    fn name(&self) -> &'static str {
        "SameHost"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let request = context.request_mut();
        if let Some(uri) = self.rewrite(request.uri()) {
            request.set_uri(uri)?;
        }
        Ok(())
    }
}

/// The action's `batchMode` output: each element of a JSON array, else the whole payload.
fn batch(body: &Value, payload: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if body.get("batchMode").and_then(Value::as_bool) != Some(true) {
        return Ok(vec![payload.to_vec()]);
    }
    match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Array(items)) if !items.is_empty() => {
            Ok(items.iter().map(|v| serde_json::to_vec(v).unwrap_or_default()).collect())
        }
        _ => Err("batchMode is on, so the rule's output must be a non-empty JSON array of messages".into()),
    }
}

/// A refused entry of a 200 answer as the action's error: `<code>: <message>`, `what` naming
/// what was refused when the service gave no message.
fn entry_error(code: Option<&str>, message: Option<&str>, what: &str) -> String {
    match message {
        Some(m) => format!("{}: {m}", code.unwrap_or("error")),
        None => format!("{}: {what} was refused", code.unwrap_or("error")),
    }
}

/// A number in a string field (substitution templates make every field a string).
fn number<T: std::str::FromStr>(field: &str, raw: &str) -> Result<T, String> {
    raw.trim().parse().map_err(|_| format!("{field} '{raw}' is not a number of the kind it needs"))
}

/// SiteWise's value for one `propertyValues` element.
fn sitewise_value(v: &Value) -> Result<aws_sdk_iotsitewise::types::AssetPropertyValue, String> {
    use aws_sdk_iotsitewise::types::{AssetPropertyValue, Quality, TimeInNanos, Variant};
    let value = v.get("value").ok_or("a propertyValues element has no value")?;
    let mut variant = Variant::builder();
    let mut kinds = 0;
    if let Some(t) = value.get("stringValue").and_then(Value::as_str) {
        variant = variant.string_value(t);
        kinds += 1;
    }
    if let Some(t) = value.get("integerValue").and_then(Value::as_str) {
        variant = variant.integer_value(number::<i32>("integerValue", t)?);
        kinds += 1;
    }
    if let Some(t) = value.get("doubleValue").and_then(Value::as_str) {
        variant = variant.double_value(number::<f64>("doubleValue", t)?);
        kinds += 1;
    }
    if let Some(t) = value.get("booleanValue").and_then(Value::as_str) {
        let b = match t.trim().to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => return Err(format!("booleanValue '{t}' is neither true nor false")),
        };
        variant = variant.boolean_value(b);
        kinds += 1;
    }
    if kinds != 1 {
        return Err(
            "a value needs exactly one of stringValue, integerValue, doubleValue, booleanValue".into()
        );
    }
    let ts = v.get("timestamp").ok_or("a propertyValues element has no timestamp")?;
    let mut time = TimeInNanos::builder().time_in_seconds(number("timeInSeconds", s(ts, "timeInSeconds"))?);
    if let Some(o) = ts.get("offsetInNanos").and_then(Value::as_str) {
        time = time.offset_in_nanos(number("offsetInNanos", o)?);
    }
    let quality = match s(v, "quality") {
        "" => Quality::Good,
        q => Quality::from(q),
    };
    Ok(AssetPropertyValue::builder()
        .value(variant.build())
        .timestamp(time.build().map_err(build)?)
        .quality(quality)
        .build())
}

impl Forwarder {
    /// The interceptor that keeps prefixed requests on an endpoint URL's host.
    fn same_host(&self) -> Option<SameHost> {
        let ForwardTarget::Endpoint(url) = &self.target else { return None };
        let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        Some(SameHost(rest.split(['/', '?']).next().unwrap_or_default().to_owned()))
    }

    pub(super) async fn iot_events(&self, body: &Value, payload: &[u8]) -> Result<String, String> {
        let c = self
            .iotevents
            .get_or_init(|| async { aws_sdk_ioteventsdata::Client::new(self.config().await) })
            .await;
        let mut messages = Vec::new();
        let mut ids = Vec::new();
        for (i, item) in batch(body, payload)?.into_iter().enumerate() {
            let id = match s(body, "messageId") {
                "" => uuid::Uuid::new_v4().to_string(),
                m if i == 0 => m.to_owned(),
                m => format!("{m}-{i}"),
            };
            messages.push(
                aws_sdk_ioteventsdata::types::Message::builder()
                    .message_id(&id)
                    .input_name(s(body, "inputName"))
                    .payload(aws_sdk_ioteventsdata::primitives::Blob::new(item))
                    .build()
                    .map_err(build)?,
            );
            ids.push(id);
        }
        let out = c.batch_put_message().set_messages(Some(messages)).send().await.map_err(err)?;
        match out.batch_put_message_error_entries().first() {
            Some(e) => Err(entry_error(e.error_code().map(|c| c.as_str()), e.error_message(), "the message")),
            None => Ok(format!("BatchPutMessage: message id {}", ids.join(", "))),
        }
    }

    pub(super) async fn iot_analytics(&self, body: &Value, payload: &[u8]) -> Result<String, String> {
        let channel = match (s(body, "channelName"), s(body, "channelArn")) {
            ("", arn) => arn.rsplit_once("channel/").map(|(_, n)| n).unwrap_or_default(),
            (name, _) => name,
        };
        if channel.is_empty() {
            return Err("the iotAnalytics action names no channel (channelName or channelArn)".into());
        }
        let c = self
            .iotanalytics
            .get_or_init(|| async { aws_sdk_iotanalytics::Client::new(self.config().await) })
            .await;
        let mut messages = Vec::new();
        for item in batch(body, payload)? {
            messages.push(
                aws_sdk_iotanalytics::types::Message::builder()
                    .message_id(uuid::Uuid::new_v4().simple().to_string())
                    .payload(aws_sdk_iotanalytics::primitives::Blob::new(item))
                    .build()
                    .map_err(build)?,
            );
        }
        let n = messages.len();
        let out = c
            .batch_put_message()
            .channel_name(channel)
            .set_messages(Some(messages))
            .send()
            .await
            .map_err(err)?;
        match out.batch_put_message_error_entries().first() {
            Some(e) => Err(entry_error(e.error_code(), e.error_message(), "the message")),
            None => {
                Ok(format!("BatchPutMessage: {n} message{} into {channel}", if n == 1 { "" } else { "s" }))
            }
        }
    }

    pub(super) async fn sitewise(&self, body: &Value) -> Result<String, String> {
        use aws_sdk_iotsitewise::types::PutAssetPropertyValueEntry;
        let mut entries = Vec::new();
        for e in body.get("putAssetPropertyValueEntries").and_then(Value::as_array).into_iter().flatten() {
            let mut values = Vec::new();
            for v in e.get("propertyValues").and_then(Value::as_array).into_iter().flatten() {
                values.push(sitewise_value(v)?);
            }
            let id = match s(e, "entryId") {
                "" => uuid::Uuid::new_v4().to_string(),
                id => id.to_owned(),
            };
            let opt = |k: &str| Some(s(e, k)).filter(|v| !v.is_empty()).map(str::to_owned);
            entries.push(
                PutAssetPropertyValueEntry::builder()
                    .entry_id(id)
                    .set_asset_id(opt("assetId"))
                    .set_property_id(opt("propertyId"))
                    .set_property_alias(opt("propertyAlias"))
                    .set_property_values(Some(values))
                    .build()
                    .map_err(build)?,
            );
        }
        if entries.is_empty() {
            return Err("putAssetPropertyValueEntries is empty".into());
        }
        let c = self
            .sitewise
            .get_or_init(|| async {
                let mut conf = aws_sdk_iotsitewise::config::Builder::from(self.config().await);
                if let Some(i) = self.same_host() {
                    conf = conf.interceptor(i);
                }
                aws_sdk_iotsitewise::Client::from_conf(conf.build())
            })
            .await;
        let n = entries.len();
        let out = c.batch_put_asset_property_value().set_entries(Some(entries)).send().await.map_err(err)?;
        match out.error_entries().first().and_then(|e| e.errors().first().map(|x| (e.entry_id(), x))) {
            Some((id, e)) => Err(format!("entry {id}: {}: {}", e.error_code().as_str(), e.error_message())),
            None => Ok(format!("BatchPutAssetPropertyValue: {n} entr{}", if n == 1 { "y" } else { "ies" })),
        }
    }

    pub(super) async fn location(&self, body: &Value) -> Result<String, String> {
        use aws_sdk_location::types::DevicePositionUpdate;
        let latitude: f64 = number("latitude", s(body, "latitude"))?;
        let longitude: f64 = number("longitude", s(body, "longitude"))?;
        if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
            return Err(format!("({latitude}, {longitude}) is not a position on Earth"));
        }
        let sample_ms = match body.get("timestamp") {
            Some(t) => {
                let value: f64 = number("timestamp value", s(t, "value"))?;
                let per_ms = match s(t, "unit") {
                    "" | "MILLISECONDS" => 1.0,
                    "SECONDS" => 1e-3,
                    "MICROSECONDS" => 1e3,
                    "NANOSECONDS" => 1e6,
                    other => {
                        return Err(format!(
                            "timestamp unit '{other}' is not SECONDS, MILLISECONDS, MICROSECONDS or NANOSECONDS"
                        ));
                    }
                };
                value / per_ms
            }
            None => crate::broker::now_ms() as f64,
        };
        #[allow(clippy::cast_possible_truncation)]
        let sample = aws_sdk_location::primitives::DateTime::from_millis(sample_ms as i64);
        let update = DevicePositionUpdate::builder()
            .device_id(s(body, "deviceId"))
            .sample_time(sample)
            .position(longitude)
            .position(latitude)
            .build()
            .map_err(build)?;
        let c = self
            .location
            .get_or_init(|| async {
                let mut conf = aws_sdk_location::config::Builder::from(self.config().await);
                if let Some(i) = self.same_host() {
                    conf = conf.interceptor(i);
                }
                aws_sdk_location::Client::from_conf(conf.build())
            })
            .await;
        let out = c
            .batch_update_device_position()
            .tracker_name(s(body, "trackerName"))
            .updates(update)
            .send()
            .await
            .map_err(err)?;
        match out.errors().first() {
            Some(e) => Err(entry_error(
                e.error().and_then(|x| x.code()).map(|c| c.as_str()),
                e.error().and_then(|x| x.message()),
                "the position",
            )),
            None => {
                Ok(format!("BatchUpdateDevicePosition: {} at ({latitude}, {longitude})", s(body, "deviceId")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn host_prefixes_are_undone_for_an_endpoint_url() {
        let h = SameHost("localhost:4566".into());
        assert_eq!(
            h.rewrite("http://data.localhost:4566/properties?x=1").as_deref(),
            Some("http://localhost:4566/properties?x=1")
        );
        assert_eq!(h.rewrite("http://localhost:4566/properties"), None);
        assert_eq!(h.rewrite("http://otherlocalhost:4566/x"), None);
    }

    #[test]
    fn batch_mode_splits_arrays() {
        assert_eq!(batch(&json!({}), b"[1,2]").unwrap(), vec![b"[1,2]".to_vec()]);
        assert_eq!(
            batch(&json!({"batchMode": true}), b"[1,{\"a\":2}]").unwrap(),
            vec![b"1".to_vec(), b"{\"a\":2}".to_vec()]
        );
        for bad in [&b"{}"[..], b"[]", b"nope"] {
            assert!(batch(&json!({"batchMode": true}), bad).is_err());
        }
    }

    #[test]
    fn sitewise_values_are_read_from_strings() {
        let ok = sitewise_value(&json!({"value": {"doubleValue": "21.5"},
            "timestamp": {"timeInSeconds": "1700000000", "offsetInNanos": "5"}}))
        .unwrap();
        assert_eq!(ok.value().and_then(|v| v.double_value()), Some(21.5));
        assert_eq!(
            ok.timestamp().map(|t| (t.time_in_seconds(), t.offset_in_nanos())),
            Some((1_700_000_000, Some(5)))
        );
        assert_eq!(ok.quality().map(|q| q.as_str()), Some("GOOD"));
        let cases = [
            (
                json!({"value": {"integerValue": "x"}, "timestamp": {"timeInSeconds": "1"}}),
                "integerValue 'x'",
            ),
            (json!({"value": {"booleanValue": "yes"}, "timestamp": {"timeInSeconds": "1"}}), "neither true"),
            (json!({"value": {}, "timestamp": {"timeInSeconds": "1"}}), "exactly one"),
            (
                json!({"value": {"stringValue": "a", "doubleValue": "1"}, "timestamp": {"timeInSeconds": "1"}}),
                "exactly one",
            ),
            (json!({"value": {"stringValue": "a"}}), "no timestamp"),
            (json!({"value": {"stringValue": "a"}, "timestamp": {"timeInSeconds": ""}}), "timeInSeconds"),
        ];
        for (v, want) in cases {
            let e = sitewise_value(&v).unwrap_err();
            assert!(e.contains(want), "{v}: {e}");
        }
    }
}
