//! The values AWS IoT SQL computes with, and AWS's conversions between them.
//!
//! AWS's types are Int, Decimal, Boolean, String, Array, Object, Null and **Undefined** (a missing
//! value: an absent key, a function given arguments it cannot use). Thingbox keeps Int as `i64`
//! and Decimal as `f64` (AWS: 34 digits; docs/compat.md says where that shows), and adds `Binary`
//! for a non-JSON payload selected with `*`.
//!
//! The implicit conversions are AWS's tables: [`Value::to_decimal`], [`Value::to_int`],
//! [`Value::to_bool`] and [`Value::to_text`] return `None` where AWS's result is Undefined.

use serde_json::Value as Json;

pub use crate::object::Object;

/// One SQL value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// Missing. Dropped from output objects; alone it serializes as the empty payload.
    #[default]
    Undefined,
    /// JSON `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction or exponent.
    Decimal(f64),
    /// UTF-8 text.
    String(String),
    /// A JSON array.
    Array(Vec<Value>),
    /// A JSON object.
    Object(Object),
    /// The raw bytes of a payload that is not JSON.
    Binary(Vec<u8>),
}

/// A number, for arithmetic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    /// Int.
    Int(i64),
    /// Decimal.
    Dec(f64),
}

impl Num {
    /// As a double.
    pub fn f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Dec(d) => d,
        }
    }

    /// Back to a value.
    pub fn value(self) -> Value {
        match self {
            Num::Int(i) => Value::Int(i),
            Num::Dec(d) => Value::Decimal(d),
        }
    }
}

/// Parses AWS's numeric-string form `^-?\d+(\.\d+)?((?i)E-?\d+)?$`: digits only (no `+`, no
/// spaces, no `.5`). A string without fraction or exponent is an Int when it fits.
pub fn parse_number(s: &str) -> Option<Num> {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i = 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return None;
    }
    let mut whole = true;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        whole = false;
        if !digits(&mut i) {
            return None;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        whole = false;
        if i < b.len() && b[i] == b'-' {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    if whole && let Ok(n) = s.parse::<i64>() {
        return Some(Num::Int(n));
    }
    s.parse::<f64>().ok().filter(|d| d.is_finite()).map(Num::Dec)
}

impl Value {
    /// Converts a JSON document. With `whole_decimals_as_int` (SQL 2016-03-23) a number like
    /// `10.0` becomes Int 10, as AWS processes it.
    pub fn from_json(j: &Json, whole_decimals_as_int: bool) -> Value {
        match j {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else {
                    let d = n.as_f64().unwrap_or(f64::NAN);
                    Value::decimal(d, whole_decimals_as_int)
                }
            }
            Json::String(s) => Value::String(s.clone()),
            Json::Array(a) => {
                Value::Array(a.iter().map(|v| Value::from_json(v, whole_decimals_as_int)).collect())
            }
            Json::Object(o) => Value::Object(
                o.iter().map(|(k, v)| (k.clone(), Value::from_json(v, whole_decimals_as_int))).collect(),
            ),
        }
    }

    /// A Decimal, or an Int when `whole_as_int` and it is a whole number that fits.
    pub fn decimal(d: f64, whole_as_int: bool) -> Value {
        if whole_as_int && d.fract() == 0.0 && d.abs() < 9.0e15 {
            Value::Int(d as i64)
        } else {
            Value::Decimal(d)
        }
    }

    /// The JSON form, or `None` for Undefined (and Binary, which has none). Undefined members of
    /// objects are dropped; Undefined array elements become `null`.
    pub fn to_json(&self) -> Option<Json> {
        Some(match self {
            Value::Undefined | Value::Binary(_) => return None,
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::Decimal(d) => serde_json::Number::from_f64(*d).map_or(Json::Null, Json::Number),
            Value::String(s) => Json::String(s.clone()),
            Value::Array(a) => Json::Array(a.iter().map(|v| v.to_json().unwrap_or(Json::Null)).collect()),
            Value::Object(o) => {
                Json::Object(o.iter().filter_map(|(k, v)| v.to_json().map(|j| (k.clone(), j))).collect())
            }
        })
    }

    /// Writes the JSON text of this value, keeping object keys in their order.
    pub fn write_json(&self, out: &mut String) {
        use std::fmt::Write as _;
        match self {
            Value::Undefined | Value::Binary(_) | Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Decimal(d) => match serde_json::Number::from_f64(*d) {
                Some(n) => {
                    let _ = write!(out, "{n}");
                }
                None => out.push_str("null"),
            },
            Value::String(s) => write_json_string(s, out),
            Value::Array(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            Value::Object(o) => {
                out.push('{');
                let mut first = true;
                for (k, v) in o {
                    if matches!(v, Value::Undefined) {
                        continue;
                    }
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    write_json_string(k, out);
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }

    /// The JSON text indented by two spaces a level, keys in their order (for people).
    pub fn pretty_json(&self) -> String {
        fn go(v: &Value, depth: usize, out: &mut String) {
            let pad = |d: usize| "  ".repeat(d);
            match v {
                Value::Array(a) if !a.is_empty() => {
                    out.push_str("[\n");
                    for (i, x) in a.iter().enumerate() {
                        out.push_str(&pad(depth + 1));
                        go(x, depth + 1, out);
                        out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
                    }
                    out.push_str(&pad(depth));
                    out.push(']');
                }
                Value::Object(o) if o.values().any(|x| !x.is_undefined()) => {
                    out.push_str("{\n");
                    let live: Vec<_> = o.iter().filter(|(_, x)| !x.is_undefined()).collect();
                    for (i, (k, x)) in live.iter().enumerate() {
                        out.push_str(&pad(depth + 1));
                        write_json_string(k, out);
                        out.push_str(": ");
                        go(x, depth + 1, out);
                        out.push_str(if i + 1 < live.len() { ",\n" } else { "\n" });
                    }
                    out.push_str(&pad(depth));
                    out.push('}');
                }
                other => other.write_json(out),
            }
        }
        let mut s = String::new();
        go(self, 0, &mut s);
        s
    }

    /// The JSON text of this value (see [`write_json`](Self::write_json)).
    pub fn json_text(&self) -> String {
        let mut s = String::with_capacity(128);
        self.write_json(&mut s);
        s
    }

    /// AWS's type name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Undefined => "Undefined",
            Value::Null => "Null",
            Value::Bool(_) => "Boolean",
            Value::Int(_) => "Int",
            Value::Decimal(_) => "Decimal",
            Value::String(_) => "String",
            Value::Array(_) => "Array",
            Value::Object(_) => "Object",
            Value::Binary(_) => "Binary",
        }
    }

    /// Whether this is Undefined.
    pub fn is_undefined(&self) -> bool {
        matches!(self, Value::Undefined)
    }

    /// To a number: Int and Decimal as they are, numeric strings parsed; anything else `None`.
    pub fn to_num(&self) -> Option<Num> {
        match self {
            Value::Int(i) => Some(Num::Int(*i)),
            Value::Decimal(d) => Some(Num::Dec(*d)),
            Value::String(s) => parse_number(s),
            _ => None,
        }
    }

    /// AWS's "to Decimal" (as a double).
    pub fn to_decimal(&self) -> Option<f64> {
        self.to_num().map(Num::f64)
    }

    /// AWS's "to Int": Decimals rounded to the nearest whole number, numeric strings parsed and
    /// truncated.
    pub fn to_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Decimal(d) => f64_to_i64(d.round()),
            Value::String(s) => match parse_number(s)? {
                Num::Int(i) => Some(i),
                Num::Dec(d) => f64_to_i64(d.trunc()),
            },
            _ => None,
        }
    }

    /// AWS's "to Boolean": Booleans, and the strings `true`/`false` in any case.
    pub fn to_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// AWS's "to String": numbers in standard notation, Booleans as words, arrays and objects as
    /// JSON; Null and Undefined have none.
    pub fn to_text(&self) -> Option<String> {
        match self {
            Value::String(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Decimal(_) | Value::Array(_) | Value::Object(_) => Some(self.json_text()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null | Value::Undefined | Value::Binary(_) => None,
        }
    }

    /// A string value's text without copying; `None` for other types.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// A double as an `i64`, if it is finite and in range.
pub fn f64_to_i64(d: f64) -> Option<i64> {
    (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&d).then_some(d as i64)
}

/// Writes `s` as a JSON string (the escapes serde_json writes), without allocating.
pub(crate) fn write_json_string(s: &str, out: &mut String) {
    use std::fmt::Write as _;
    out.reserve(s.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_strings_follow_aws_pattern() {
        assert_eq!(parse_number("42"), Some(Num::Int(42)));
        assert_eq!(parse_number("-1.5"), Some(Num::Dec(-1.5)));
        assert_eq!(parse_number("1E3"), Some(Num::Dec(1000.0)));
        assert_eq!(parse_number("2e-1"), Some(Num::Dec(0.2)));
        for bad in ["", "-", "+1", ".5", "5.", "1e", " 1", "1 ", "0x10", "1.2.3", "NaN", "inf"] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn json_round_trip_keeps_key_order_and_drops_undefined() {
        let mut o = Object::new();
        o.insert("z".into(), Value::Int(1));
        o.insert("a".into(), Value::Undefined);
        o.insert("m".into(), Value::Array(vec![Value::Undefined, Value::Decimal(1.5)]));
        assert_eq!(Value::Object(o).json_text(), r#"{"z":1,"m":[null,1.5]}"#);
    }

    #[test]
    fn strings_are_escaped_like_serde_json() {
        for s in ["plain", "quote\" back\\slash", "ctl\u{1}\u{1f}\n\t\r\u{8}\u{c}", "ünï €"] {
            let mut out = String::new();
            write_json_string(s, &mut out);
            assert_eq!(out, serde_json::to_string(s).unwrap());
        }
    }

    #[test]
    fn pretty_keeps_order() {
        let mut o = Object::new();
        o.insert("z".into(), Value::Array(vec![Value::Int(1), Value::Object(Object::new())]));
        o.insert("a".into(), Value::Undefined);
        o.insert("b".into(), Value::String("x".into()));
        assert_eq!(Value::Object(o).pretty_json(), "{\n  \"z\": [\n    1,\n    {}\n  ],\n  \"b\": \"x\"\n}");
    }

    #[test]
    fn whole_decimals_become_ints_only_when_asked() {
        let j: Json = serde_json::from_str("10.0").unwrap();
        assert_eq!(Value::from_json(&j, true), Value::Int(10));
        assert_eq!(Value::from_json(&j, false), Value::Decimal(10.0));
    }
}
