//! Math functions. Trigonometry and logarithms work on doubles and give Undefined where the
//! result is not a real number; rounding functions return Int.

use super::take;
use crate::ast::BinOp;
use crate::eval::{Env, arith};
use crate::value::{Num, Value, f64_to_i64};

fn num(v: &Value) -> Option<Num> {
    v.to_num()
}

fn real(d: f64) -> Value {
    if d.is_finite() { Value::Decimal(d) } else { Value::Undefined }
}

fn unary(args: &[Value], op: fn(f64) -> f64) -> Value {
    match args[0].to_decimal() {
        Some(d) => real(op(d)),
        None => Value::Undefined,
    }
}

pub fn abs(_: &Env<'_>, args: Vec<Value>) -> Value {
    match &args[0] {
        Value::Int(i) => i.checked_abs().map_or(Value::Decimal((*i as f64).abs()), Value::Int),
        Value::Decimal(d) => Value::Decimal(d.abs()),
        Value::String(_) => args[0].to_decimal().map_or(Value::Undefined, |d| Value::Decimal(d.abs())),
        _ => Value::Undefined,
    }
}

pub fn acos(_: &Env<'_>, a: Vec<Value>) -> Value {
    unary(&a, f64::acos)
}
pub fn asin(_: &Env<'_>, a: Vec<Value>) -> Value {
    unary(&a, f64::asin)
}
pub fn atan(_: &Env<'_>, a: Vec<Value>) -> Value {
    unary(&a, f64::atan)
}
pub fn cos(_: &Env<'_>, a: Vec<Value>) -> Value {
    unary(&a, f64::cos)
}
pub fn cosh(_: &Env<'_>, a: Vec<Value>) -> Value {
    unary(&a, f64::cosh)
}
pub fn sin(_: &Env<'_>, a: Vec<Value>) -> Value {
    unary(&a, f64::sin)
}
pub fn sinh(_: &Env<'_>, a: Vec<Value>) -> Value {
    unary(&a, f64::sinh)
}
pub fn tan(_: &Env<'_>, a: Vec<Value>) -> Value {
    unary(&a, f64::tan)
}
pub fn tanh(_: &Env<'_>, a: Vec<Value>) -> Value {
    unary(&a, f64::tanh)
}
pub fn exp(_: &Env<'_>, a: Vec<Value>) -> Value {
    unary(&a, f64::exp)
}
pub fn ln(_: &Env<'_>, a: Vec<Value>) -> Value {
    unary(&a, f64::ln)
}
pub fn log(_: &Env<'_>, a: Vec<Value>) -> Value {
    unary(&a, f64::log10)
}
pub fn sqrt(_: &Env<'_>, a: Vec<Value>) -> Value {
    unary(&a, f64::sqrt)
}

pub fn atan2(_: &Env<'_>, a: Vec<Value>) -> Value {
    match (a[0].to_decimal(), a[1].to_decimal()) {
        (Some(y), Some(x)) => real(y.atan2(x)),
        _ => Value::Undefined,
    }
}

pub fn power(_: &Env<'_>, a: Vec<Value>) -> Value {
    match (a[0].to_decimal(), a[1].to_decimal()) {
        (Some(b), Some(e)) => real(b.powf(e)),
        _ => Value::Undefined,
    }
}

fn to_int_with(v: &Value, op: fn(f64) -> f64) -> Value {
    match num(v) {
        Some(Num::Int(i)) => Value::Int(i),
        Some(Num::Dec(d)) => f64_to_i64(op(d)).map_or(Value::Undefined, Value::Int),
        None => Value::Undefined,
    }
}

pub fn ceil(_: &Env<'_>, a: Vec<Value>) -> Value {
    to_int_with(&a[0], f64::ceil)
}
pub fn floor(_: &Env<'_>, a: Vec<Value>) -> Value {
    to_int_with(&a[0], f64::floor)
}
/// Half away from zero: `round(1.5) = 2`, `round(-1.5) = -2`.
pub fn round(_: &Env<'_>, a: Vec<Value>) -> Value {
    to_int_with(&a[0], f64::round)
}

pub fn sign(_: &Env<'_>, a: Vec<Value>) -> Value {
    match num(&a[0]) {
        Some(Num::Int(i)) => Value::Int(i.signum()),
        Some(Num::Dec(d)) if d > 0.0 => Value::Int(1),
        Some(Num::Dec(d)) if d < 0.0 => Value::Int(-1),
        Some(Num::Dec(_)) => Value::Int(0),
        None => Value::Undefined,
    }
}

pub fn modulo(_: &Env<'_>, a: Vec<Value>) -> Value {
    arith(BinOp::Rem, &a[0], &a[1])
}

/// `trunc(x, n)`: x cut (toward zero) to n decimal places, n clamped to 0..=34.
pub fn trunc(_: &Env<'_>, a: Vec<Value>) -> Value {
    let Some(n) = a[1].to_decimal() else { return Value::Undefined };
    let places = n.floor().clamp(0.0, 34.0) as i32;
    match num(&a[0]) {
        Some(Num::Int(i)) => Value::Int(i),
        Some(Num::Dec(d)) => {
            // Through the decimal text, so 2.888 cuts to 2.88 (not 2.8799999…).
            let text = format!("{d:.40}");
            let cut = match text.find('.') {
                Some(dot) if places == 0 => text[..dot].to_owned(),
                Some(dot) => text[..(dot + 1 + places as usize).min(text.len())].to_owned(),
                None => text,
            };
            let v: f64 = cut.parse().unwrap_or(d);
            let v = if v == 0.0 { 0.0 } else { v };
            Value::decimal(v, true)
        }
        None => Value::Undefined,
    }
}

fn ints(a: &[Value]) -> Option<(i64, i64)> {
    let i = |v: &Value| match num(v)? {
        Num::Int(i) => Some(i),
        Num::Dec(d) => f64_to_i64(d.floor()),
    };
    Some((i(&a[0])?, i(&a[1])?))
}

pub fn bitand(_: &Env<'_>, a: Vec<Value>) -> Value {
    ints(&a).map_or(Value::Undefined, |(x, y)| Value::Int(x & y))
}
pub fn bitor(_: &Env<'_>, a: Vec<Value>) -> Value {
    ints(&a).map_or(Value::Undefined, |(x, y)| Value::Int(x | y))
}
pub fn bitxor(_: &Env<'_>, a: Vec<Value>) -> Value {
    ints(&a).map_or(Value::Undefined, |(x, y)| Value::Int(x ^ y))
}
pub fn bitnot(_: &Env<'_>, a: Vec<Value>) -> Value {
    match num(&a[0]) {
        Some(Num::Int(i)) => Value::Int(!i),
        Some(Num::Dec(d)) => f64_to_i64(d.floor()).map_or(Value::Undefined, |i| Value::Int(!i)),
        None => Value::Undefined,
    }
}

/// `nanvl(a, b)`: `a`, unless it is Undefined, Null or NaN.
pub fn nanvl(_: &Env<'_>, mut a: Vec<Value>) -> Value {
    let first = take(&mut a, 0);
    match first {
        Value::Undefined | Value::Null => take(&mut a, 1),
        Value::Decimal(d) if d.is_nan() => take(&mut a, 1),
        Value::String(ref s) if s == "NaN" => take(&mut a, 1),
        other => other,
    }
}
