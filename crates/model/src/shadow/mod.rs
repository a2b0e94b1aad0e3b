//! Device shadows as AWS IoT keeps them: validating update requests (with AWS's exact rejection
//! codes and messages), merging them into the stored document with per-leaf metadata, computing
//! the delta, and building every response document (`/update/accepted`, `/update/delta`,
//! `/update/documents`, `/get/accepted`, `/delete/accepted`, rejections). Pure: callers pass `now`.

use serde_json::{Map, Value, json};

pub mod diff;

/// Largest nesting of a `desired` or `reported` section.
pub const MAX_DEPTH: usize = 6;
/// Largest `desired` + `reported` state, in bytes of JSON.
pub const MAX_STATE_BYTES: usize = 8 * 1024;
/// Longest `clientToken`, in bytes.
pub const MAX_CLIENT_TOKEN: usize = 64;

/// A rejection: AWS's code and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {message}")]
pub struct ShadowError {
    /// 400, 404, 409, 413, 415, …
    pub code: u16,
    /// AWS's text.
    pub message: String,
}

impl ShadowError {
    fn new(code: u16, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// `404 No shadow exists with name: '<name>'` (the thing name for a classic shadow).
    pub fn not_found(name: &str) -> Self {
        Self::new(404, format!("No shadow exists with name: '{name}'"))
    }

    /// The rejection payload for `/…/rejected`.
    pub fn document(&self, client_token: Option<&str>, now: i64) -> Value {
        let mut v = json!({"code": self.code, "message": self.message, "timestamp": now});
        if let Some(t) = client_token {
            v["clientToken"] = Value::String(t.to_owned());
        }
        v
    }
}

/// A stored shadow.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shadow {
    /// `state.desired` (absent when never set or removed).
    pub desired: Option<Map<String, Value>>,
    /// `state.reported`.
    pub reported: Option<Map<String, Value>>,
    /// Metadata mirroring `desired`.
    pub meta_desired: Option<Map<String, Value>>,
    /// Metadata mirroring `reported`.
    pub meta_reported: Option<Map<String, Value>>,
    /// Version (1 after the first update).
    pub version: i64,
    /// Last update, epoch seconds.
    pub timestamp: i64,
    /// Deleted: the document is gone but the version is remembered.
    pub deleted: bool,
}

/// A validated UPDATE request.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateRequest {
    /// `state` (`None` when `"state": null`).
    pub state: Option<Map<String, Value>>,
    /// `clientToken`.
    pub client_token: Option<String>,
    /// `version`.
    pub version: Option<i64>,
}

/// The client token of any request payload, if one can be read (for rejections).
pub fn client_token_of(payload: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    v.get("clientToken")?.as_str().filter(|t| t.len() <= MAX_CLIENT_TOKEN).map(str::to_owned)
}

fn level(v: &Value) -> usize {
    match v {
        Value::Object(m) if !m.is_empty() => 1 + m.values().map(level).max().unwrap_or(0),
        Value::Array(a) if !a.is_empty() => 1 + a.iter().map(level).max().unwrap_or(0),
        _ => 0,
    }
}

fn has_null_in_array(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.iter().any(|x| x.is_null() || has_null_in_array(x)),
        Value::Object(m) => m.values().any(has_null_in_array),
        _ => false,
    }
}

/// Validates an UPDATE payload.
pub fn parse_update(payload: &[u8]) -> Result<UpdateRequest, ShadowError> {
    let text = std::str::from_utf8(payload)
        .map_err(|_| ShadowError::new(415, "Unsupported documented encoding; supported encoding is UTF-8"))?;
    let v: Value = serde_json::from_str(text).map_err(|_| ShadowError::new(400, "Invalid JSON"))?;
    let Value::Object(obj) = v else { return Err(ShadowError::new(400, "Invalid JSON")) };
    let client_token = match obj.get("clientToken") {
        None => None,
        Some(Value::String(t)) if t.len() <= MAX_CLIENT_TOKEN => Some(t.clone()),
        Some(_) => return Err(ShadowError::new(400, "Invalid clientToken")),
    };
    let version = match obj.get("version") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_i64().ok_or_else(|| ShadowError::new(400, "Invalid version"))?),
        Some(_) => return Err(ShadowError::new(400, "Invalid version")),
    };
    let state = match obj.get("state") {
        None => return Err(ShadowError::new(400, "Missing required node: state")),
        Some(Value::Null) => None,
        Some(Value::Object(s)) => Some(s.clone()),
        Some(_) => return Err(ShadowError::new(400, "State node must be an object")),
    };
    if let Some(s) = &state {
        for (k, v) in s {
            match k.as_str() {
                "desired" | "reported" => {
                    if !(v.is_object() || v.is_null()) {
                        let which = if k == "desired" { "Desired" } else { "Reported" };
                        return Err(ShadowError::new(400, format!("{which} node must be an object")));
                    }
                    if level(v) > MAX_DEPTH {
                        return Err(ShadowError::new(
                            400,
                            "JSON contains too many levels of nesting; maximum is 6",
                        ));
                    }
                    if has_null_in_array(v) {
                        return Err(ShadowError::new(400, "Invalid JSON"));
                    }
                }
                "delta" => {}
                _ => return Err(ShadowError::new(400, "State contains an invalid node")),
            }
        }
    }
    let mut state = state;
    if let Some(s) = &mut state {
        s.remove("delta");
    }
    Ok(UpdateRequest { state, client_token, version })
}

/// Metadata for a value written at `ts`: `{"timestamp": ts}` per leaf, mirrored through objects
/// and arrays.
fn meta_for(v: &Value, ts: i64) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), meta_for(v, ts))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(|v| meta_for(v, ts)).collect()),
        _ => json!({ "timestamp": ts }),
    }
}

/// An object with every null member removed, recursively; `None` if nothing is left.
fn without_nulls(m: &Map<String, Value>) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    for (k, v) in m {
        match v {
            Value::Null => {}
            Value::Object(inner) => {
                if let Some(i) = without_nulls(inner) {
                    out.insert(k.clone(), Value::Object(i));
                }
            }
            other => {
                out.insert(k.clone(), other.clone());
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Merges `patch` into `doc` (and its metadata) at `ts`: null deletes, objects merge, anything
/// else replaces; emptied objects are pruned.
fn merge(doc: &mut Map<String, Value>, meta: &mut Map<String, Value>, patch: &Map<String, Value>, ts: i64) {
    for (k, v) in patch {
        match v {
            Value::Null => {
                doc.remove(k);
                meta.remove(k);
            }
            Value::Object(p) => {
                if let Some(Value::Object(cur)) = doc.get_mut(k) {
                    let m = meta.entry(k.clone()).or_insert_with(|| Value::Object(Map::new()));
                    if !m.is_object() {
                        *m = Value::Object(Map::new());
                    }
                    let Value::Object(m) = m else { unreachable!("just made an object") };
                    merge(cur, m, p, ts);
                    if cur.is_empty() {
                        doc.remove(k);
                        meta.remove(k);
                    }
                } else if let Some(clean) = without_nulls(p) {
                    let clean = Value::Object(clean);
                    meta.insert(k.clone(), meta_for(&clean, ts));
                    doc.insert(k.clone(), clean);
                } else {
                    doc.remove(k);
                    meta.remove(k);
                }
            }
            other => {
                doc.insert(k.clone(), other.clone());
                meta.insert(k.clone(), meta_for(other, ts));
            }
        }
    }
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        _ => a == b,
    }
}

/// The delta of `desired` against `reported`: desired keys whose values differ (objects
/// recursively, arrays and scalars whole); `None` when empty.
pub fn delta(
    desired: Option<&Map<String, Value>>,
    reported: Option<&Map<String, Value>>,
) -> Option<Map<String, Value>> {
    let desired = desired?;
    let Some(reported) = reported else { return (!desired.is_empty()).then(|| desired.clone()) };
    let mut out = Map::new();
    for (k, d) in desired {
        match (d, reported.get(k)) {
            (_, None) => {
                out.insert(k.clone(), d.clone());
            }
            (Value::Object(dm), Some(Value::Object(rm))) => {
                if let Some(inner) = delta(Some(dm), Some(rm)) {
                    out.insert(k.clone(), Value::Object(inner));
                }
            }
            (d, Some(r)) if !json_eq(d, r) => {
                out.insert(k.clone(), d.clone());
            }
            _ => {}
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Metadata of the delta's leaves, taken from the desired metadata.
fn delta_meta(delta: &Map<String, Value>, meta: Option<&Map<String, Value>>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in delta {
        let m = meta.and_then(|m| m.get(k));
        let entry = match (v, m) {
            (Value::Object(d), Some(Value::Object(mm))) => Value::Object(delta_meta(d, Some(mm))),
            (_, Some(m)) => m.clone(),
            (v, None) => meta_for(v, 0),
        };
        out.insert(k.clone(), entry);
    }
    out
}

fn with_token(mut v: Value, token: Option<&str>) -> Value {
    if let Some(t) = token {
        v["clientToken"] = Value::String(t.to_owned());
    }
    v
}

impl Shadow {
    fn state_value(&self) -> Value {
        let mut s = Map::new();
        if let Some(d) = &self.desired {
            s.insert("desired".into(), Value::Object(d.clone()));
        }
        if let Some(r) = &self.reported {
            s.insert("reported".into(), Value::Object(r.clone()));
        }
        Value::Object(s)
    }

    fn meta_value(&self) -> Value {
        let mut m = Map::new();
        if let Some(d) = &self.meta_desired {
            m.insert("desired".into(), Value::Object(d.clone()));
        }
        if let Some(r) = &self.meta_reported {
            m.insert("reported".into(), Value::Object(r.clone()));
        }
        Value::Object(m)
    }

    /// The current delta.
    pub fn delta(&self) -> Option<Map<String, Value>> {
        delta(self.desired.as_ref(), self.reported.as_ref())
    }

    /// The `/get/accepted` (and GetThingShadow) document.
    pub fn get_document(&self, client_token: Option<&str>) -> Value {
        let mut state = self.state_value();
        if let Some(d) = self.delta() {
            state["delta"] = Value::Object(d);
        }
        with_token(
            json!({"state": state, "metadata": self.meta_value(), "version": self.version, "timestamp": self.timestamp}),
            client_token,
        )
    }

    /// The document as `/update/documents` shows it (`state` without delta).
    fn snapshot(&self) -> Value {
        json!({"state": self.state_value(), "metadata": self.meta_value(), "version": self.version})
    }

    /// Bytes of `desired` + `reported` as JSON.
    pub fn state_size(&self) -> usize {
        let len = |m: &Option<Map<String, Value>>| {
            m.as_ref().map_or(0, |m| Value::Object(m.clone()).to_string().len())
        };
        len(&self.desired) + len(&self.reported)
    }
}

/// What an accepted update produces.
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    /// The new stored shadow.
    pub shadow: Shadow,
    /// `/update/accepted` (and UpdateThingShadow's body).
    pub accepted: Value,
    /// `/update/delta`, when the delta is not empty.
    pub delta: Option<Value>,
    /// `/update/documents`.
    pub documents: Value,
}

/// Applies a validated update to `current` (`None`: no shadow yet, or a deleted one) at `now`.
pub fn update(current: Option<&Shadow>, req: &UpdateRequest, now: i64) -> Result<Updated, ShadowError> {
    let live = current.filter(|s| !s.deleted);
    let current_version = current.map_or(0, |s| s.version);
    if let Some(v) = req.version {
        match live {
            Some(s) if s.version != v => return Err(ShadowError::new(409, "Version conflict")),
            None if v != current_version + 1 && v != current_version => {
                return Err(ShadowError::new(409, "Version conflict"));
            }
            _ => {}
        }
    }
    let mut next = match live {
        Some(s) => s.clone(),
        None => Shadow {
            desired: None,
            reported: None,
            meta_desired: None,
            meta_reported: None,
            version: current_version,
            timestamp: now,
            deleted: false,
        },
    };
    let mut accepted_state = Map::new();
    let mut accepted_meta = Map::new();
    match &req.state {
        None => {
            next.desired = None;
            next.reported = None;
            next.meta_desired = None;
            next.meta_reported = None;
        }
        Some(state) => {
            for (section, value) in state {
                let (doc, meta) = if section == "desired" {
                    (&mut next.desired, &mut next.meta_desired)
                } else {
                    (&mut next.reported, &mut next.meta_reported)
                };
                match value {
                    Value::Null => {
                        *doc = None;
                        *meta = None;
                    }
                    Value::Object(patch) => {
                        let mut d = doc.take().unwrap_or_default();
                        let mut m = meta.take().unwrap_or_default();
                        merge(&mut d, &mut m, patch, now);
                        if !d.is_empty() {
                            *doc = Some(d);
                            *meta = Some(m);
                        }
                    }
                    _ => {}
                }
                accepted_state.insert(section.clone(), value.clone());
                accepted_meta.insert(section.clone(), meta_for(value, now));
            }
        }
    }
    if next.state_size() > MAX_STATE_BYTES {
        return Err(ShadowError::new(413, "The payload exceeds the maximum size allowed"));
    }
    next.version += 1;
    next.timestamp = now;
    let token = req.client_token.as_deref();
    let accepted_state = if req.state.is_none() { Value::Null } else { Value::Object(accepted_state) };
    let accepted = with_token(
        json!({"state": accepted_state, "metadata": Value::Object(accepted_meta), "version": next.version, "timestamp": now}),
        token,
    );
    let delta = next.delta().map(|d| {
        let meta = delta_meta(&d, next.meta_desired.as_ref());
        with_token(
            json!({"state": Value::Object(d), "metadata": Value::Object(meta), "version": next.version, "timestamp": now}),
            token,
        )
    });
    let documents = with_token(
        json!({"previous": live.map_or(Value::Null, Shadow::snapshot), "current": next.snapshot(), "timestamp": now}),
        token,
    );
    Ok(Updated { shadow: next, accepted, delta, documents })
}

/// Deletes a shadow: the returned record remembers the version; the second value is the
/// `/delete/accepted` (and DeleteThingShadow) document.
pub fn delete(current: &Shadow, client_token: Option<&str>, now: i64) -> (Shadow, Value) {
    let gone = Shadow {
        desired: None,
        reported: None,
        meta_desired: None,
        meta_reported: None,
        version: current.version,
        timestamp: now,
        deleted: true,
    };
    (gone, with_token(json!({"version": current.version, "timestamp": now}), client_token))
}

#[cfg(test)]
mod tests;

/// One accepted change.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// Thing.
    pub thing: String,
    /// Shadow name ('' = classic).
    pub name: String,
    /// The version after the change (for a delete: the version deleted).
    pub version: i64,
    /// `update` or `delete`.
    pub kind: &'static str,
    /// The shadow after the change.
    pub shadow: Shadow,
    /// Who: a client id, or `api`.
    pub writer: String,
    /// Epoch seconds.
    pub ts: i64,
}
