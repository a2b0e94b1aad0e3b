//! The evaluator: a parsed [`Query`] over one message.
//!
//! WHERE is evaluated first, on the incoming payload; only when it is true is the select list
//! built. Operators follow AWS's tables, Undefined included: a comparison or arithmetic with an
//! Undefined side is Undefined, `AND`/`OR`/`NOT` accept Booleans and the strings `true`/`false`
//! only, `=` between different types is false and `<>` true.

use std::borrow::Cow;
use std::cell::OnceCell;

use crate::ast::*;
use crate::functions::element;
use crate::value::{Num, Object, Value, f64_to_i64};

/// What the evaluator asks the world: time, randomness and the resources the external functions
/// read. The engine implements it; tests use fixed answers.
pub trait Host {
    /// Epoch milliseconds (`timestamp()`).
    fn now_ms(&self) -> i64;
    /// A random UUID (`newuuid()`).
    fn uuid(&self) -> String;
    /// A double in `[0, 1)` (`rand()`).
    fn random(&self) -> f64;
    /// A shadow document as GetThingShadow returns it (`get_thing_shadow`).
    fn thing_shadow(&self, _thing: &str, _shadow: Option<&str>) -> Option<serde_json::Value> {
        None
    }
    /// An item of a table (`get_dynamodb`), by its key attributes.
    fn dynamodb_get(&self, _table: &str, _key: &[(String, Value)]) -> Option<Value> {
        None
    }
}

/// MQTT 5 properties of the incoming message.
#[derive(Debug, Clone, Copy, Default)]
pub struct Properties<'a> {
    /// Payload format indicator.
    pub format_indicator: Option<u8>,
    /// Content type.
    pub content_type: Option<&'a str>,
    /// Response topic.
    pub response_topic: Option<&'a str>,
    /// Correlation data.
    pub correlation_data: Option<&'a [u8]>,
    /// User properties, in order.
    pub user_properties: &'a [(String, String)],
}

/// One incoming message, as the functions see it. The payload is parsed once per SQL dialect,
/// on first use, and shared by every rule evaluated over the same input.
#[derive(Debug, Default)]
pub struct Input<'a> {
    /// The topic `topic()` sees (Basic Ingest's `$aws/rules/<rule>/` already removed).
    pub topic: &'a str,
    /// The payload bytes.
    pub payload: &'a [u8],
    /// The publisher's MQTT client id.
    pub client_id: Option<&'a str>,
    /// `principal()`.
    pub principal: Option<&'a str>,
    /// `sourceip()`.
    pub source_ip: Option<&'a str>,
    /// `traceid()`.
    pub trace_id: Option<&'a str>,
    /// `accountid()`.
    pub account: &'a str,
    /// MQTT 5 properties.
    pub properties: Properties<'a>,
    parsed: [OnceCell<Option<Value>>; 2],
}

impl<'a> Input<'a> {
    /// A message on `topic` with `payload`; the other fields are set directly.
    pub fn new(topic: &'a str, payload: &'a [u8]) -> Self {
        Self { topic, payload, ..Self::default() }
    }

    /// The payload as a value in `version`'s dialect, or `None` when it is not JSON.
    pub fn document(&self, version: SqlVersion) -> Option<&Value> {
        let modern = version.modern();
        self.parsed[usize::from(modern)].get_or_init(|| crate::json::parse(self.payload, modern)).as_ref()
    }

    /// Whether the payload is JSON.
    pub fn is_json(&self) -> bool {
        self.document(SqlVersion::V2016_03_23).is_some()
    }
}

/// What an evaluation has in reach.
pub struct Env<'a> {
    /// The message.
    pub input: &'a Input<'a>,
    /// The world.
    pub host: &'a dyn Host,
    /// The dialect.
    pub version: SqlVersion,
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env").field("input", &self.input).field("version", &self.version).finish()
    }
}

/// A rule's result payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A JSON document.
    Json(Value),
    /// Raw bytes (`SELECT *` over a payload that is not JSON).
    Binary(Vec<u8>),
    /// Nothing (`SELECT VALUE` of something Undefined): an empty payload.
    Empty,
}

impl Output {
    /// The payload bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Output::Json(v) => v.json_text().into_bytes(),
            Output::Binary(b) => b.clone(),
            Output::Empty => Vec::new(),
        }
    }

    /// Whether it is JSON (the http action's Content-Type).
    pub fn is_json(&self) -> bool {
        matches!(self, Output::Json(_))
    }
}

/// The result of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// What WHERE evaluated to (`Bool(true)` without WHERE).
    pub condition: Value,
    /// The output, when WHERE was true.
    pub output: Option<Output>,
}

impl Evaluation {
    /// Whether the rule fires.
    pub fn matched(&self) -> bool {
        self.output.is_some()
    }
}

impl Query {
    /// Evaluates the statement over one message.
    pub fn evaluate(&self, input: &Input<'_>, host: &dyn Host) -> Evaluation {
        let env = Env { input, host, version: self.version };
        let undefined = Value::Undefined;
        let row = input.document(self.version).unwrap_or(&undefined);
        let condition = match &self.condition {
            Some(c) => eval(c, row, &env),
            None => Value::Bool(true),
        };
        if condition.to_bool() != Some(true) {
            return Evaluation { condition, output: None };
        }
        let output = match &self.select {
            Select::Value(e) => match eval(e, row, &env) {
                Value::Undefined => Output::Empty,
                Value::Binary(b) => Output::Binary(b),
                v => Output::Json(v),
            },
            Select::Items(items) if matches!(items.as_slice(), [SelectItem::Star]) => {
                match input.document(self.version) {
                    Some(doc) => Output::Json(doc.clone()),
                    None => Output::Binary(input.payload.to_vec()),
                }
            }
            Select::Items(items) => Output::Json(Value::Object(build(items, row, &env))),
        };
        Evaluation { condition, output: Some(output) }
    }
}

/// The object a select list builds over `row`.
fn build(items: &[SelectItem], row: &Value, env: &Env<'_>) -> Object {
    let mut out = Object::with_capacity(items.len());
    for item in items {
        match item {
            SelectItem::Star => {
                if let Value::Object(o) = row {
                    for (k, v) in o {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
            SelectItem::Expr { expr, key } => {
                let v = eval(expr, row, env);
                if !v.is_undefined() {
                    insert_path(&mut out, key, v);
                }
            }
        }
    }
    out
}

fn insert_path(obj: &mut Object, path: &[String], v: Value) {
    match path {
        [] => {}
        [last] => {
            obj.insert(last.clone(), v);
        }
        [first, rest @ ..] => {
            let slot = obj.get_or_insert_with(first, || Value::Object(Object::new()));
            if !matches!(slot, Value::Object(_)) {
                *slot = Value::Object(Object::new());
            }
            if let Value::Object(inner) = slot {
                insert_path(inner, rest, v);
            }
        }
    }
}

/// Evaluates `e` with `row` as the current document.
pub fn eval(e: &Expr, row: &Value, env: &Env<'_>) -> Value {
    match e {
        Expr::Lit(v) => v.clone(),
        Expr::Star => match env.input.document(env.version) {
            Some(doc) => doc.clone(),
            None => Value::Binary(env.input.payload.to_vec()),
        },
        Expr::Attr(name) => match row {
            Value::Object(o) => o.get(name).cloned().unwrap_or_default(),
            _ => Value::Undefined,
        },
        Expr::Member(base, name) => member(base, name, row, env),
        Expr::Index(base, idx) => {
            let i = eval(idx, row, env);
            element(eval(base, row, env), &i)
        }
        Expr::Call { def, args } => {
            let values: Vec<Value> = args
                .iter()
                .enumerate()
                .map(|(i, a)| match a {
                    // encode(*, 'base64') encodes the payload's bytes exactly as they arrived.
                    Expr::Star if i == 0 && def.name == "encode" => Value::Binary(env.input.payload.to_vec()),
                    a => eval(a, row, env),
                })
                .collect();
            (def.imp)(env, values)
        }
        Expr::Neg(inner) => match arith_num(&eval(inner, row, env)) {
            Some(Num::Int(i)) => i.checked_neg().map_or(Value::Decimal(-(i as f64)), Value::Int),
            Some(Num::Dec(d)) => Value::Decimal(-d),
            None => Value::Undefined,
        },
        Expr::Not(inner) => eval(inner, row, env).to_bool().map_or(Value::Undefined, |b| Value::Bool(!b)),
        Expr::Binary(op, l, r) => binary(*op, l, r, row, env),
        Expr::Case { operand, whens, otherwise } => {
            let subject = match operand {
                Some(o) => {
                    let v = eval(o, row, env);
                    if v.is_undefined() {
                        return Value::Undefined;
                    }
                    Some(v)
                }
                None => None,
            };
            for (w, then) in whens {
                let hit = match &subject {
                    Some(s) => equals(s, &eval(w, row, env)) == Some(true),
                    None => eval(w, row, env).to_bool() == Some(true),
                };
                if hit {
                    return eval(then, row, env);
                }
            }
            otherwise.as_ref().map_or(Value::Undefined, |o| eval(o, row, env))
        }
        Expr::Cast(inner, ty) => cast(eval(inner, row, env), *ty),
        Expr::Object(members) => {
            let mut o = Object::new();
            for (k, v) in members {
                let v = eval(v, row, env);
                if !v.is_undefined() {
                    o.insert(k.clone(), v);
                }
            }
            Value::Object(o)
        }
        Expr::Array(items) => Value::Array(items.iter().map(|i| eval(i, row, env)).collect()),
        Expr::Sub(q) => sub_query(q, row, env),
    }
}

/// `base.name`, borrowing the payload for plain paths instead of copying whole objects.
fn member(base: &Expr, name: &str, row: &Value, env: &Env<'_>) -> Value {
    if let Some(v) = borrow_path(base, row) {
        return match v {
            Value::Object(o) => o.get(name).cloned().unwrap_or_default(),
            _ => Value::Undefined,
        };
    }
    match eval(base, row, env) {
        Value::Object(mut o) => o.remove(name).unwrap_or_default(),
        _ => Value::Undefined,
    }
}

/// The value a path of attributes and members names, without copying it.
fn borrow_path<'v>(e: &Expr, row: &'v Value) -> Option<&'v Value> {
    match e {
        Expr::Attr(name) => match row {
            Value::Object(o) => o.get(name.as_str()),
            _ => None,
        },
        Expr::Member(base, name) => match borrow_path(base, row)? {
            Value::Object(o) => o.get(name.as_str()),
            _ => None,
        },
        _ => None,
    }
}

fn sub_query(q: &SubQuery, row: &Value, env: &Env<'_>) -> Value {
    let Value::Array(items) = eval(&q.from, row, env) else { return Value::Undefined };
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        if let Some(c) = &q.condition
            && eval(c, item, env).to_bool() != Some(true)
        {
            continue;
        }
        let v = match &q.select {
            Select::Value(e) => eval(e, item, env),
            Select::Items(items) if matches!(items.as_slice(), [SelectItem::Star]) => item.clone(),
            Select::Items(sel) => Value::Object(build(sel, item, env)),
        };
        if !v.is_undefined() {
            out.push(v);
        }
    }
    Value::Array(out)
}

/// Whether `e` is a plain path of names (`a`, `a.b.c`).
fn is_path(e: &Expr) -> bool {
    match e {
        Expr::Attr(_) => true,
        Expr::Member(base, _) => is_path(base),
        _ => false,
    }
}

/// Evaluates `e`, borrowing literals and payload values instead of copying them (operands of
/// comparisons and arithmetic are only read).
fn eval_ref<'a>(e: &'a Expr, row: &'a Value, env: &Env<'_>) -> Cow<'a, Value> {
    match e {
        Expr::Lit(v) => Cow::Borrowed(v),
        e if is_path(e) => borrow_path(e, row).map_or(Cow::Owned(Value::Undefined), Cow::Borrowed),
        e => Cow::Owned(eval(e, row, env)),
    }
}

fn binary(op: BinOp, l: &Expr, r: &Expr, row: &Value, env: &Env<'_>) -> Value {
    let lv = eval_ref(l, row, env);
    let rv = eval_ref(r, row, env);
    match op {
        BinOp::And | BinOp::Or => match (lv.to_bool(), rv.to_bool()) {
            (Some(a), Some(b)) => Value::Bool(if op == BinOp::And { a && b } else { a || b }),
            _ => Value::Undefined,
        },
        BinOp::Eq => equals(&lv, &rv).map_or(Value::Undefined, Value::Bool),
        BinOp::Ne => equals(&lv, &rv).map_or(Value::Undefined, |b| Value::Bool(!b)),
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => compare(op, &lv, &rv),
        _ => arith(op, &lv, &rv),
    }
}

/// AWS's `=`: `None` (Undefined) when either side is Undefined; numbers compare by value, arrays
/// element by element, objects by their members; different types are not equal.
pub fn equals(l: &Value, r: &Value) -> Option<bool> {
    Some(match (l, r) {
        (Value::Undefined, _) | (_, Value::Undefined) => return None,
        (Value::Int(a), Value::Int(b)) => a == b,
        (Value::Int(_) | Value::Decimal(_), Value::Int(_) | Value::Decimal(_)) => {
            l.to_decimal() == r.to_decimal()
        }
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Null, Value::Null) => true,
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| equals(x, y) == Some(true))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| equals(v, w) == Some(true)))
        }
        (Value::Binary(a), Value::Binary(b)) => a == b,
        _ => false,
    })
}

fn compare(op: BinOp, l: &Value, r: &Value) -> Value {
    let ord = match (l.to_num(), r.to_num()) {
        (Some(Num::Int(a)), Some(Num::Int(b))) => a.partial_cmp(&b),
        (Some(a), Some(b)) => a.f64().partial_cmp(&b.f64()),
        _ => return Value::Undefined,
    };
    let Some(ord) = ord else { return Value::Undefined };
    use std::cmp::Ordering::*;
    Value::Bool(match op {
        BinOp::Lt => ord == Less,
        BinOp::Le => ord != Greater,
        BinOp::Gt => ord == Greater,
        _ => ord != Less,
    })
}

/// `+ - * / %` with AWS's rules: `+` concatenates when either side is a string; Int with Int
/// stays Int (so `/` divides whole numbers), any Decimal makes Decimal; numeric strings count as
/// numbers for `- * / %`; anything else is Undefined.
pub fn arith(op: BinOp, l: &Value, r: &Value) -> Value {
    if op == BinOp::Add && (matches!(l, Value::String(_)) || matches!(r, Value::String(_))) {
        return match (l.to_text(), r.to_text()) {
            (Some(a), Some(b)) => Value::String(a + &b),
            _ => Value::Undefined,
        };
    }
    if op == BinOp::Add && !(is_number(l) && is_number(r)) {
        return Value::Undefined;
    }
    let (Some(a), Some(b)) = (arith_num(l), arith_num(r)) else { return Value::Undefined };
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => {
            let exact = match op {
                BinOp::Add => x.checked_add(y),
                BinOp::Sub => x.checked_sub(y),
                BinOp::Mul => x.checked_mul(y),
                BinOp::Div if y == 0 => return Value::Undefined,
                BinOp::Div => x.checked_div(y),
                BinOp::Rem if y == 0 => return Value::Undefined,
                BinOp::Rem => x.checked_rem(y),
                _ => return Value::Undefined,
            };
            match exact {
                Some(v) => Value::Int(v),
                None => decimal_op(op, x as f64, y as f64),
            }
        }
        (a, b) => decimal_op(op, a.f64(), b.f64()),
    }
}

/// An operand of `- * / %`: numbers as they are, a numeric string as a Decimal (AWS's tables).
fn arith_num(v: &Value) -> Option<Num> {
    match v {
        Value::String(_) => v.to_decimal().map(Num::Dec),
        other => other.to_num(),
    }
}

fn is_number(v: &Value) -> bool {
    matches!(v, Value::Int(_) | Value::Decimal(_))
}

fn decimal_op(op: BinOp, x: f64, y: f64) -> Value {
    let v = match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => x / y,
        BinOp::Rem => x % y,
        _ => return Value::Undefined,
    };
    if v.is_finite() { Value::Decimal(v) } else { Value::Undefined }
}

/// `cast(v AS type)`.
pub fn cast(v: Value, ty: CastType) -> Value {
    match ty {
        CastType::String => match v {
            Value::String(_) => v,
            other => other.to_text().map_or(Value::Undefined, Value::String),
        },
        CastType::Int => match v {
            Value::Bool(b) => Value::Int(i64::from(b)),
            Value::Int(_) => v,
            Value::Decimal(d) => f64_to_i64(d.floor()).map_or(Value::Undefined, Value::Int),
            Value::String(_) => v.to_int().map_or(Value::Undefined, Value::Int),
            _ => Value::Undefined,
        },
        CastType::Decimal => match v {
            Value::Bool(b) => Value::Decimal(if b { 1.0 } else { 0.0 }),
            other => other.to_decimal().map_or(Value::Undefined, Value::Decimal),
        },
        CastType::Bool => match v {
            Value::Bool(_) => v,
            Value::Int(i) => Value::Bool(i != 0),
            Value::Decimal(d) => Value::Bool(d != 0.0),
            Value::String(_) => v.to_bool().map_or(Value::Undefined, Value::Bool),
            _ => Value::Undefined,
        },
    }
}
