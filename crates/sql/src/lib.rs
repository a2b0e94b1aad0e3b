//! AWS IoT SQL: the language of topic rules, with no IO and no clock, so the engine, the
//! console's dry run (in the browser, as wasm) and the tests share one evaluator.
//!
//! [`parse`] turns `SELECT … FROM '…' WHERE …` into a [`Query`] for one `awsIotSqlVersion`
//! ([`lexer`] → [`parser`] → [`ast`]); errors name their line and column ([`SqlError`]).
//! [`Query::evaluate`] runs it over one message ([`Input`]) and asks a [`Host`] for time,
//! randomness and the resources external functions read. [`Template`] renders the `${…}`
//! substitution templates of action fields. AWS's semantics — Undefined, conversions, operator
//! tables — live in [`value`] and [`eval`]; the function library in [`functions`].

pub mod ast;
mod error;
pub mod eval;
pub mod functions;
mod json;
pub mod lexer;
mod object;
pub mod parser;
mod template;
mod time;
pub mod value;

pub use ast::{Query, SqlVersion};
pub use error::{Span, SqlError};
pub use eval::{Evaluation, Host, Input, Output, Properties};
pub use template::Template;
pub use value::Value;

/// Parses a statement for `version`.
pub fn parse(sql: &str, version: SqlVersion) -> Result<Query, SqlError> {
    parser::parse_query(sql, version)
}

/// Parses a JSON payload the way rules see it (`None` when it is not JSON).
pub fn parse_payload(bytes: &[u8], version: SqlVersion) -> Option<Value> {
    json::parse(bytes, version.modern())
}

impl Query {
    /// FROM's topic filter.
    pub fn topic_filter(&self) -> Option<&str> {
        self.from.as_ref().map(|f| f.topic.as_str())
    }

    /// Whether the select list has `*`.
    pub fn uses_select_star(&self) -> bool {
        matches!(&self.select, ast::Select::Items(items) if items.iter().any(|i| matches!(i, ast::SelectItem::Star)))
    }
}

/// A host with a fixed clock and seeded randomness: for tests and the console's dry run.
#[derive(Debug)]
pub struct FixedHost {
    /// What `timestamp()` returns.
    pub now_ms: i64,
    state: std::cell::Cell<u64>,
}

impl FixedHost {
    /// A host whose clock reads `now_ms` and whose random numbers start from `seed`.
    pub fn new(now_ms: i64, seed: u64) -> Self {
        Self { now_ms, state: std::cell::Cell::new(seed | 1) }
    }

    fn next(&self) -> u64 {
        // xorshift64*
        let mut x = self.state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

impl Host for FixedHost {
    fn now_ms(&self) -> i64 {
        self.now_ms
    }

    fn uuid(&self) -> String {
        let (a, b) = (self.next(), self.next());
        let bytes: Vec<u8> = a.to_be_bytes().into_iter().chain(b.to_be_bytes()).collect();
        let h = hex::encode(bytes);
        format!("{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
    }

    fn random(&self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
