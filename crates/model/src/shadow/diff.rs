//! Shadow documents as leaves, for the console: the side-by-side tree (every leaf of desired and
//! reported with the time it was last set), the timeline's "when did this key change?" filter,
//! and the diff of two versions (added, removed and changed leaves).
//!
//! A leaf is a value that is not an object: a string, number, boolean, or a whole array — AWS
//! replaces arrays whole, so an array is one leaf. Paths join keys with `.` (`light.color`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Shadow;

/// Every leaf under `map`, by path.
pub fn leaves(map: Option<&Map<String, Value>>) -> BTreeMap<String, Value> {
    fn walk(prefix: &str, map: &Map<String, Value>, out: &mut BTreeMap<String, Value>) {
        for (k, v) in map {
            let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match v {
                Value::Object(inner) => walk(&path, inner, out),
                leaf => {
                    out.insert(path, leaf.clone());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Some(m) = map {
        walk("", m, &mut out);
    }
    out
}

/// When each leaf was last set (epoch seconds), from a metadata section that mirrors the state
/// (`{"color": {"timestamp": 1700000000}}`; an array's metadata lists its elements', of which the
/// newest counts).
pub fn leaf_times(meta: Option<&Map<String, Value>>) -> BTreeMap<String, i64> {
    fn newest(v: &Value) -> Option<i64> {
        match v {
            Value::Object(m) => match m.get("timestamp").and_then(Value::as_i64) {
                Some(t) if m.len() == 1 => Some(t),
                _ => m.values().filter_map(newest).max(),
            },
            Value::Array(a) => a.iter().filter_map(newest).max(),
            _ => None,
        }
    }
    fn walk(prefix: &str, map: &Map<String, Value>, out: &mut BTreeMap<String, i64>) {
        for (k, v) in map {
            let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match v {
                Value::Object(inner)
                    if !(inner.len() == 1 && inner.get("timestamp").is_some_and(Value::is_i64)) =>
                {
                    walk(&path, inner, out);
                }
                other => {
                    if let Some(t) = newest(other) {
                        out.insert(path, t);
                    }
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Some(m) = meta {
        walk("", m, &mut out);
    }
    out
}

/// How a leaf differs between two versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    /// Only in the later version.
    Added,
    /// Only in the earlier version.
    Removed,
    /// In both, with different values.
    Changed,
}

/// One leaf that differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeafChange {
    /// `desired.…` or `reported.…`.
    pub path: String,
    /// How.
    pub kind: ChangeKind,
    /// The earlier value.
    pub before: Option<Value>,
    /// The later value.
    pub after: Option<Value>,
}

/// A shadow's state as leaves, each path starting with `desired.` or `reported.`.
pub fn state_leaves(s: &Shadow) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (section, map) in [("desired", s.desired.as_ref()), ("reported", s.reported.as_ref())] {
        out.extend(leaves(map).into_iter().map(|(k, v)| (format!("{section}.{k}"), v)));
    }
    out
}

/// The leaves that differ from `before` to `after`, by path.
pub fn diff(before: &BTreeMap<String, Value>, after: &BTreeMap<String, Value>) -> Vec<LeafChange> {
    let mut out = Vec::new();
    for (path, b) in before {
        match after.get(path) {
            None => out.push(LeafChange {
                path: path.clone(),
                kind: ChangeKind::Removed,
                before: Some(b.clone()),
                after: None,
            }),
            Some(a) if a != b => out.push(LeafChange {
                path: path.clone(),
                kind: ChangeKind::Changed,
                before: Some(b.clone()),
                after: Some(a.clone()),
            }),
            Some(_) => {}
        }
    }
    for (path, a) in after {
        if !before.contains_key(path) {
            out.push(LeafChange {
                path: path.clone(),
                kind: ChangeKind::Added,
                before: None,
                after: Some(a.clone()),
            });
        }
    }
    out.sort_by(|x, y| x.path.cmp(&y.path));
    out
}

/// Whether `path` (or anything under it, or an object holding it) differs between two versions —
/// the timeline's key filter: `firmware` matches `desired.firmware`, `reported.firmware.version`.
pub fn touches(changes: &[LeafChange], key: &str) -> bool {
    let key = key.trim().trim_matches('.');
    !key.is_empty()
        && changes.iter().any(|c| {
            let rest = c.path.split_once('.').map_or(c.path.as_str(), |(_, r)| r);
            rest == key
                || rest.starts_with(&format!("{key}."))
                || key.starts_with(&format!("{rest}."))
                || c.path == key
                || c.path.starts_with(&format!("{key}."))
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn leaves_flatten_objects_and_keep_arrays_whole() {
        let m = obj(json!({"light": {"color": "red", "level": 3}, "tags": [1, 2], "on": true}));
        let l = leaves(Some(&m));
        assert_eq!(l.keys().collect::<Vec<_>>(), ["light.color", "light.level", "on", "tags"]);
        assert_eq!(l["tags"], json!([1, 2]));
        assert!(leaves(None).is_empty());
    }

    #[test]
    fn leaf_times_read_metadata() {
        let meta = obj(json!({
            "light": {"color": {"timestamp": 10}, "level": {"timestamp": 12}},
            "tags": [{"timestamp": 7}, {"timestamp": 9}],
        }));
        let t = leaf_times(Some(&meta));
        assert_eq!(t["light.color"], 10);
        assert_eq!(t["light.level"], 12);
        assert_eq!(t["tags"], 9);
    }

    #[test]
    fn diff_names_added_removed_and_changed_leaves() {
        let a = BTreeMap::from([
            ("desired.color".to_owned(), json!("red")),
            ("desired.level".to_owned(), json!(1)),
            ("reported.color".to_owned(), json!("red")),
        ]);
        let b = BTreeMap::from([
            ("desired.color".to_owned(), json!("blue")),
            ("reported.color".to_owned(), json!("red")),
            ("reported.firmware.version".to_owned(), json!("2.0")),
        ]);
        let d = diff(&a, &b);
        let kinds: Vec<(&str, ChangeKind)> = d.iter().map(|c| (c.path.as_str(), c.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("desired.color", ChangeKind::Changed),
                ("desired.level", ChangeKind::Removed),
                ("reported.firmware.version", ChangeKind::Added)
            ]
        );
        assert_eq!(d[0].before, Some(json!("red")));
        assert_eq!(d[0].after, Some(json!("blue")));
        assert!(touches(&d, "firmware"));
        assert!(touches(&d, "firmware.version"));
        assert!(touches(&d, "desired.color"));
        assert!(!touches(&d, "reported.color"));
        assert!(!touches(&d, "colour"));
        assert!(!touches(&d, ""));
    }
}
