//! String functions. Arguments that are not strings are converted with AWS's "to String" rules
//! (numbers in standard notation, arrays and objects as JSON); Null and Undefined give Undefined.

use std::cell::RefCell;
use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::take;
use crate::eval::Env;
use crate::value::{Value, f64_to_i64};

fn text(v: &Value) -> Option<String> {
    v.to_text()
}

fn map_text(v: &Value, f: impl FnOnce(&str) -> String) -> Value {
    text(v).map_or(Value::Undefined, |s| Value::String(f(&s)))
}

/// `concat(…)`: no arguments → Undefined; any array argument → one flattened array; otherwise
/// the arguments' text joined.
pub fn concat(_: &Env<'_>, args: Vec<Value>) -> Value {
    if args.is_empty() {
        return Value::Undefined;
    }
    if args.len() == 1 {
        return args.into_iter().next().unwrap_or_default();
    }
    if args.iter().any(|a| matches!(a, Value::Array(_))) {
        let mut out = Vec::new();
        for a in args {
            match a {
                Value::Array(items) => out.extend(items),
                other => out.push(other),
            }
        }
        return Value::Array(out);
    }
    let mut s = String::new();
    for a in &args {
        match text(a) {
            Some(t) => s.push_str(&t),
            None => return Value::Undefined,
        }
    }
    Value::String(s)
}

pub fn lower(_: &Env<'_>, a: Vec<Value>) -> Value {
    map_text(&a[0], str::to_lowercase)
}

pub fn upper(_: &Env<'_>, a: Vec<Value>) -> Value {
    map_text(&a[0], str::to_uppercase)
}

pub fn length(_: &Env<'_>, a: Vec<Value>) -> Value {
    text(&a[0]).map_or(Value::Undefined, |s| Value::Int(s.chars().count() as i64))
}

pub fn numbytes(_: &Env<'_>, a: Vec<Value>) -> Value {
    text(&a[0]).map_or(Value::Undefined, |s| Value::Int(s.len() as i64))
}

/// 0-based index (in characters) of the first occurrence, -1 when absent.
pub fn indexof(_: &Env<'_>, a: Vec<Value>) -> Value {
    let (Some(s), Some(sub)) = (text(&a[0]), text(&a[1])) else { return Value::Undefined };
    match s.find(&sub) {
        Some(byte) => Value::Int(s[..byte].chars().count() as i64),
        None => Value::Int(-1),
    }
}

fn index_arg(v: &Value) -> Option<i64> {
    f64_to_i64(v.to_decimal()?.floor())
}

/// `substring(s, start[, end])`: 0-based, end exclusive, indices clamped and rounded down.
pub fn substring(_: &Env<'_>, a: Vec<Value>) -> Value {
    let Some(s) = text(&a[0]) else { return Value::Undefined };
    let chars: Vec<char> = s.chars().collect();
    let len = chars.len() as i64;
    let Some(start) = index_arg(&a[1]) else { return Value::Undefined };
    let end = match a.get(2) {
        Some(e) => match index_arg(e) {
            Some(e) => e,
            None => return Value::Undefined,
        },
        None => len,
    };
    let (start, end) = (start.clamp(0, len), end.clamp(0, len));
    if start >= end {
        return Value::String(String::new());
    }
    Value::String(chars[start as usize..end as usize].iter().collect())
}

fn blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

pub fn trim(_: &Env<'_>, a: Vec<Value>) -> Value {
    map_text(&a[0], |s| s.trim_matches(blank).to_owned())
}

pub fn ltrim(_: &Env<'_>, a: Vec<Value>) -> Value {
    map_text(&a[0], |s| s.trim_start_matches(blank).to_owned())
}

pub fn rtrim(_: &Env<'_>, a: Vec<Value>) -> Value {
    map_text(&a[0], |s| s.trim_end_matches(blank).to_owned())
}

fn pad(a: &[Value], left: bool) -> Value {
    let Some(s) = text(&a[0]) else { return Value::Undefined };
    let Some(n) = a[1].to_int() else { return Value::Undefined };
    let spaces = " ".repeat(n.clamp(0, 1000) as usize);
    Value::String(if left { spaces + &s } else { s + &spaces })
}

/// `lpad(s, n)`: `s` with `n` spaces in front (n clamped to 0..=1000).
pub fn lpad(_: &Env<'_>, a: Vec<Value>) -> Value {
    pad(&a, true)
}

/// `rpad(s, n)`: `s` with `n` spaces after it.
pub fn rpad(_: &Env<'_>, a: Vec<Value>) -> Value {
    pad(&a, false)
}

pub fn startswith(_: &Env<'_>, a: Vec<Value>) -> Value {
    match (text(&a[0]), text(&a[1])) {
        (Some(s), Some(p)) => Value::Bool(s.starts_with(&p)),
        _ => Value::Undefined,
    }
}

pub fn endswith(_: &Env<'_>, a: Vec<Value>) -> Value {
    match (text(&a[0]), text(&a[1])) {
        (Some(s), Some(p)) => Value::Bool(s.ends_with(&p)),
        _ => Value::Undefined,
    }
}

/// Every occurrence of a literal string replaced.
pub fn replace(_: &Env<'_>, a: Vec<Value>) -> Value {
    match (text(&a[0]), text(&a[1]), text(&a[2])) {
        (Some(s), Some(from), Some(to)) if !from.is_empty() => Value::String(s.replace(&from, &to)),
        (Some(s), Some(_), Some(_)) => Value::String(s),
        _ => Value::Undefined,
    }
}

thread_local! {
    /// Compiled patterns (rules reuse a handful): `None` for a pattern that does not compile.
    static REGEXES: RefCell<HashMap<String, Option<regex::Regex>>> = RefCell::new(HashMap::new());
}

fn with_regex<R>(pattern: &str, f: impl FnOnce(&regex::Regex) -> R) -> Option<R> {
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !cache.contains_key(pattern) {
            if cache.len() >= 256 {
                cache.clear();
            }
            let re = regex::RegexBuilder::new(pattern).size_limit(1 << 20).build().ok();
            cache.insert(pattern.to_owned(), re);
        }
        cache.get(pattern).and_then(Option::as_ref).map(f)
    })
}

/// Whether the pattern occurs anywhere in the string (a find, not a full match).
pub fn regexp_matches(_: &Env<'_>, a: Vec<Value>) -> Value {
    let (Some(s), Some(p)) = (text(&a[0]), text(&a[1])) else { return Value::Undefined };
    with_regex(&p, |re| Value::Bool(re.is_match(&s))).unwrap_or_default()
}

/// Every match replaced; `$1` in the replacement names a group.
pub fn regexp_replace(_: &Env<'_>, a: Vec<Value>) -> Value {
    let (Some(s), Some(p), Some(r)) = (text(&a[0]), text(&a[1]), text(&a[2])) else {
        return Value::Undefined;
    };
    with_regex(&p, |re| Value::String(re.replace_all(&s, r.as_str()).into_owned())).unwrap_or_default()
}

/// The first match, or Undefined when there is none.
pub fn regexp_substr(_: &Env<'_>, a: Vec<Value>) -> Value {
    let (Some(s), Some(p)) = (text(&a[0]), text(&a[1])) else { return Value::Undefined };
    with_regex(&p, |re| re.find(&s).map_or(Value::Undefined, |m| Value::String(m.as_str().to_owned())))
        .unwrap_or_default()
}

/// The character with that code.
pub fn chr(_: &Env<'_>, a: Vec<Value>) -> Value {
    let Some(n) = a[0].to_int() else { return Value::Undefined };
    u32::try_from(n).ok().and_then(char::from_u32).map_or(Value::Undefined, |c| Value::String(c.to_string()))
}

fn digest<D: sha2::Digest>(v: &Value) -> Value {
    text(v).map_or(Value::Undefined, |s| Value::String(hex::encode(D::digest(s.as_bytes()))))
}

pub fn md2(_: &Env<'_>, a: Vec<Value>) -> Value {
    digest::<md2::Md2>(&a[0])
}
pub fn md5(_: &Env<'_>, a: Vec<Value>) -> Value {
    digest::<md5::Md5>(&a[0])
}
pub fn sha1(_: &Env<'_>, a: Vec<Value>) -> Value {
    digest::<sha1::Sha1>(&a[0])
}
pub fn sha224(_: &Env<'_>, a: Vec<Value>) -> Value {
    digest::<sha2::Sha224>(&a[0])
}
pub fn sha256(_: &Env<'_>, a: Vec<Value>) -> Value {
    digest::<sha2::Sha256>(&a[0])
}
pub fn sha384(_: &Env<'_>, a: Vec<Value>) -> Value {
    digest::<sha2::Sha384>(&a[0])
}
pub fn sha512(_: &Env<'_>, a: Vec<Value>) -> Value {
    digest::<sha2::Sha512>(&a[0])
}

/// `encode(value, 'base64')`: the bytes of a binary payload (`encode(*, 'base64')`), a string's
/// UTF-8, or anything else's JSON text, in base64.
pub fn encode(_: &Env<'_>, mut a: Vec<Value>) -> Value {
    if text(&a[1]).as_deref() != Some("base64") {
        return Value::Undefined;
    }
    let bytes = match take(&mut a, 0) {
        Value::Binary(b) => b,
        Value::String(s) => s.into_bytes(),
        Value::Undefined => return Value::Undefined,
        other => other.json_text().into_bytes(),
    };
    Value::String(B64.encode(bytes))
}

/// `decode(text, 'base64')`: the decoded JSON value when the bytes are JSON, else the decoded
/// text; Null when it does not decode.
pub fn decode(env: &Env<'_>, a: Vec<Value>) -> Value {
    if text(&a[1]).as_deref() != Some("base64") {
        return Value::Undefined;
    }
    let Some(s) = a[0].as_str() else { return Value::Undefined };
    let Ok(bytes) = B64.decode(s.trim()) else { return Value::Null };
    if let Some(v) = crate::json::parse(&bytes, env.version.modern()) {
        return v;
    }
    match String::from_utf8(bytes) {
        Ok(s) => Value::String(s),
        Err(e) => Value::Binary(e.into_bytes()),
    }
}
