//! Payload and topic templates of simulated devices: text with `${…}` variables, and JSON where an
//! object naming one generator (`{"randomWalk": {…}}`) stands for a value that changes with each
//! message. Rendering is pure: the device passes its variables, the time and its own random
//! generator, and keeps each generator's state in a [`GenState`] slot.

use serde_json::{Map, Value};

/// The variables a template may name.
pub const VARIABLES: [&str; 4] = ["thing", "index", "fleet", "scenario"];

/// What a device fills the variables with.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    /// The thing's name (also its MQTT client id).
    pub thing: &'a str,
    /// Its number in its fleet, from 1.
    pub index: usize,
    /// The fleet's name.
    pub fleet: &'a str,
    /// The scenario's name.
    pub scenario: &'a str,
}

impl Vars<'_> {
    fn get(&self, name: &str) -> String {
        match name {
            "thing" => self.thing.to_owned(),
            "index" => self.index.to_string(),
            "fleet" => self.fleet.to_owned(),
            _ => self.scenario.to_owned(),
        }
    }
}

/// Text with `${variable}` pieces.
#[derive(Debug, Clone, PartialEq)]
pub struct Text(Vec<Piece>);

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Lit(String),
    Var(String),
}

impl Text {
    /// Parses `s`; an unknown or unclosed variable is an error naming it.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = s;
        while let Some(at) = rest.find("${") {
            if at > 0 {
                pieces.push(Piece::Lit(rest[..at].to_owned()));
            }
            let after = &rest[at + 2..];
            let end = after.find('}').ok_or_else(|| format!("'{s}': '${{' is not closed by '}}'"))?;
            let name = &after[..end];
            if name.starts_with("aws:") {
                // AWS's own placeholders (a job document's presigned URL) are left for AWS.
                pieces.push(Piece::Lit(rest[at..at + 3 + end].to_owned()));
                rest = &after[end + 1..];
                continue;
            }
            if !VARIABLES.contains(&name) {
                return Err(format!(
                    "'{s}': unknown variable '${{{name}}}' (there are ${{{}}})",
                    VARIABLES.join("}, ${")
                ));
            }
            pieces.push(Piece::Var(name.to_owned()));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Lit(rest.to_owned()));
        }
        Ok(Self(pieces))
    }

    /// The text with `vars` filled in.
    pub fn render(&self, vars: &Vars<'_>) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Var(v) => out.push_str(&vars.get(v)),
            }
        }
        out
    }

    /// The text with every variable replaced by `x` (to check the shape of a topic template).
    pub fn sample(&self) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Var(_) => out.push('x'),
            }
        }
        out
    }

    fn is_plain(&self) -> bool {
        self.0.iter().all(|p| matches!(p, Piece::Lit(_)))
    }
}

/// A value generator.
#[derive(Debug, Clone, PartialEq)]
pub enum Generator {
    /// Starts at `start`, moves by at most `step` each message, stays within `min..=max`.
    RandomWalk { start: f64, step: f64, min: f64, max: f64 },
    /// `offset + amplitude · sin(2π t / period)`.
    Sine { amplitude: f64, period_ms: i64, offset: f64 },
    /// `start`, `start + step`, …
    Counter { start: f64, step: f64 },
    /// One of `values`: at random, or in turn when `cycle`.
    Enum { values: Vec<Value>, cycle: bool },
    /// Uniformly random in `min..max`.
    Uniform { min: f64, max: f64 },
    /// The device's clock: epoch milliseconds, seconds, or ISO 8601.
    Timestamp(TimeUnit),
}

/// How a timestamp is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Epoch milliseconds.
    Millis,
    /// Epoch seconds.
    Seconds,
    /// `2026-12-06T12:00:00.000Z`.
    Iso,
}

/// The generator names, as a scenario writes them.
pub const GENERATORS: [&str; 7] =
    ["randomWalk", "sine", "counter", "enum", "uniform", "timestamp", "constant"];

/// A JSON template.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// A value without generators or variables.
    Literal(Value),
    /// A string with variables.
    Text(Text),
    /// An object some of whose members change.
    Object(Vec<(String, Template)>),
    /// An array some of whose items change.
    Array(Vec<Template>),
    /// A generator and its state slot.
    Gen(Generator, usize),
}

/// Each generator's state (walk position, counter, turn), by slot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenState(Vec<Option<f64>>);

/// A small, seedable random generator (splitmix64): simulated fleets are reproducible.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..1`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }
}

fn num(v: &Value, what: &str, key: &str) -> Result<f64, String> {
    v.as_f64().ok_or_else(|| format!("{what}: '{key}' must be a number, not {v}"))
}

fn field(o: &Map<String, Value>, what: &str, key: &str, default: Option<f64>) -> Result<f64, String> {
    match (o.get(key), default) {
        (Some(v), _) => num(v, what, key),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(format!("{what}: '{key}' is required")),
    }
}

fn only(o: &Map<String, Value>, what: &str, keys: &[&str]) -> Result<(), String> {
    match o.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(format!("{what}: unknown field '{k}' (it takes {})", keys.join(", "))),
        None => Ok(()),
    }
}

fn generator(name: &str, spec: &Value) -> Result<Option<Generator>, String> {
    let empty = Map::new();
    let o = spec.as_object().unwrap_or(&empty);
    let g = match name {
        "randomWalk" => {
            only(o, name, &["start", "step", "min", "max"])?;
            let (min, max) = (field(o, name, "min", Some(f64::MIN))?, field(o, name, "max", Some(f64::MAX))?);
            if min > max {
                return Err(format!("'randomWalk': min {min} is above max {max}"));
            }
            let start = field(o, name, "start", Some(if min > f64::MIN { min } else { 0.0 }))?;
            Generator::RandomWalk { start, step: field(o, name, "step", Some(1.0))?, min, max }
        }
        "sine" => {
            only(o, name, &["amplitude", "period", "offset"])?;
            let period = o.get("period").map(super::parse_duration).transpose()?.unwrap_or(60_000);
            if period <= 0 {
                return Err("'sine': the period must be positive".into());
            }
            Generator::Sine {
                amplitude: field(o, name, "amplitude", Some(1.0))?,
                period_ms: period,
                offset: field(o, name, "offset", Some(0.0))?,
            }
        }
        "counter" => {
            only(o, name, &["start", "step"])?;
            Generator::Counter {
                start: field(o, name, "start", Some(0.0))?,
                step: field(o, name, "step", Some(1.0))?,
            }
        }
        "enum" => {
            let (values, cycle) = match spec {
                Value::Array(a) => (a.clone(), false),
                Value::Object(o) => {
                    only(o, name, &["values", "cycle"])?;
                    let values = o.get("values").and_then(Value::as_array).cloned().unwrap_or_default();
                    (values, o.get("cycle").and_then(Value::as_bool).unwrap_or(false))
                }
                _ => (Vec::new(), false),
            };
            if values.is_empty() {
                return Err("'enum': give a non-empty list of values (enum: [a, b])".into());
            }
            Generator::Enum { values, cycle }
        }
        "uniform" => {
            only(o, name, &["min", "max"])?;
            let (min, max) = (field(o, name, "min", Some(0.0))?, field(o, name, "max", Some(1.0))?);
            if min > max {
                return Err(format!("'uniform': min {min} is above max {max}"));
            }
            Generator::Uniform { min, max }
        }
        "timestamp" => Generator::Timestamp(match spec.as_str().unwrap_or("ms") {
            "ms" => TimeUnit::Millis,
            "s" => TimeUnit::Seconds,
            "iso" => TimeUnit::Iso,
            other => return Err(format!("timestamp: '{other}' is not ms, s or iso")),
        }),
        _ => return Ok(None),
    };
    Ok(Some(g))
}

impl Template {
    /// Parses a JSON template; generators get consecutive state slots from `slots`.
    pub fn parse(v: &Value, slots: &mut usize) -> Result<Self, String> {
        let t = match v {
            Value::String(s) => {
                let text = Text::parse(s)?;
                if text.is_plain() { Self::Literal(v.clone()) } else { Self::Text(text) }
            }
            Value::Object(o)
                if o.len() == 1 && GENERATORS.contains(&o.keys().next().map_or("", String::as_str)) =>
            {
                let (name, spec) = o.iter().next().expect("one member");
                if name == "constant" {
                    return Ok(Self::Literal(spec.clone()));
                }
                let g = generator(name, spec)?.expect("a generator name");
                *slots += 1;
                Self::Gen(g, *slots - 1)
            }
            Value::Object(o) => {
                let members = o
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), Self::parse(v, slots)?)))
                    .collect::<Result<Vec<_>, String>>()?;
                if members.iter().all(|(_, t)| matches!(t, Self::Literal(_))) {
                    Self::Literal(Value::Object(
                        members.into_iter().map(|(k, t)| (k, t.into_literal())).collect(),
                    ))
                } else {
                    Self::Object(members)
                }
            }
            Value::Array(a) => {
                let items = a.iter().map(|v| Self::parse(v, slots)).collect::<Result<Vec<_>, String>>()?;
                if items.iter().all(|t| matches!(t, Self::Literal(_))) {
                    Self::Literal(Value::Array(items.into_iter().map(Self::into_literal).collect()))
                } else {
                    Self::Array(items)
                }
            }
            _ => Self::Literal(v.clone()),
        };
        Ok(t)
    }

    fn into_literal(self) -> Value {
        match self {
            Self::Literal(v) => v,
            _ => Value::Null,
        }
    }

    /// The value for one message at `now_ms` on the device's clock.
    pub fn render(&self, vars: &Vars<'_>, now_ms: i64, state: &mut GenState, rng: &mut Rng) -> Value {
        match self {
            Self::Literal(v) => v.clone(),
            Self::Text(t) => Value::String(t.render(vars)),
            Self::Object(members) => Value::Object(
                members.iter().map(|(k, t)| (k.clone(), t.render(vars, now_ms, state, rng))).collect(),
            ),
            Self::Array(items) => {
                Value::Array(items.iter().map(|t| t.render(vars, now_ms, state, rng)).collect())
            }
            Self::Gen(g, slot) => {
                if state.0.len() <= *slot {
                    state.0.resize(*slot + 1, None);
                }
                g.next(&mut state.0[*slot], now_ms, rng)
            }
        }
    }
}

fn number(x: f64) -> Value {
    // Whole numbers stay integers; others keep three decimals, as a sensor would report them.
    if x.fract() == 0.0 && x.abs() < 9e15 {
        Value::from(x as i64)
    } else {
        serde_json::Number::from_f64((x * 1000.0).round() / 1000.0).map_or(Value::Null, Value::Number)
    }
}

impl Generator {
    fn next(&self, state: &mut Option<f64>, now_ms: i64, rng: &mut Rng) -> Value {
        match self {
            Self::RandomWalk { start, step, min, max } => {
                let x = match *state {
                    None => *start,
                    Some(x) => (x + (rng.unit() * 2.0 - 1.0) * step).clamp(*min, *max),
                };
                *state = Some(x);
                number(x)
            }
            Self::Sine { amplitude, period_ms, offset } => {
                let phase = (now_ms.rem_euclid(*period_ms)) as f64 / *period_ms as f64;
                number(offset + amplitude * (phase * std::f64::consts::TAU).sin())
            }
            Self::Counter { start, step } => {
                let x = state.map_or(*start, |x| x + step);
                *state = Some(x);
                number(x)
            }
            Self::Enum { values, cycle } => {
                let i = if *cycle {
                    let i = state.map_or(0.0, |i| i + 1.0);
                    *state = Some(i);
                    i as usize % values.len()
                } else {
                    (rng.next_u64() % values.len() as u64) as usize
                };
                values[i].clone()
            }
            Self::Uniform { min, max } => number(min + rng.unit() * (max - min)),
            Self::Timestamp(TimeUnit::Millis) => Value::from(now_ms),
            Self::Timestamp(TimeUnit::Seconds) => Value::from(now_ms.div_euclid(1000)),
            Self::Timestamp(TimeUnit::Iso) => {
                Value::String(crate::Timestamp::from_millis(now_ms).to_rfc3339_millis())
            }
        }
    }
}
