//! AWS IoT SQL's functions: one table naming each function, its arity, the SQL version that
//! introduced it and its implementation. Arguments of the wrong type give Undefined, as on AWS;
//! a wrong number of arguments or an unknown name is refused when the rule is parsed.

mod math;
mod meta;
mod text;

pub(crate) use meta::element;

use crate::ast::SqlVersion;
use crate::eval::Env;
use crate::value::Value;

/// How many arguments a function takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// Exactly n.
    Exactly(usize),
    /// From lo to hi.
    Between(usize, usize),
    /// lo or more.
    AtLeast(usize),
}

impl Arity {
    /// "2 arguments", "1 to 3 arguments", …
    pub fn describe(self) -> String {
        let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
        match self {
            Arity::Exactly(n) => format!("{n} {}", plural(n)),
            Arity::Between(lo, hi) => format!("{lo} to {hi} arguments"),
            Arity::AtLeast(lo) => format!("{lo} or more arguments"),
        }
    }
}

/// An implementation: the evaluation environment and the evaluated arguments.
pub type Imp = fn(&Env<'_>, Vec<Value>) -> Value;

/// One function.
pub struct FnDef {
    /// Its name as AWS documents it (matched case-insensitively).
    pub name: &'static str,
    /// Arguments it takes.
    pub arity: Arity,
    /// The first SQL version that has it.
    pub since: SqlVersion,
    /// Whether it reaches outside the message (shadows, tables, secrets, lambdas): not allowed in
    /// an errorAction's templates.
    pub external: bool,
    /// What it does.
    pub imp: Imp,
}

impl std::fmt::Debug for FnDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}()", self.name)
    }
}

use Arity::{AtLeast, Between, Exactly};
use SqlVersion::{V2015_10_08 as V15, V2016_03_23 as V16};

const fn f(name: &'static str, arity: Arity, since: SqlVersion, imp: Imp) -> FnDef {
    FnDef { name, arity, since, external: false, imp }
}

const fn ext(name: &'static str, arity: Arity, imp: Imp) -> FnDef {
    FnDef { name, arity, since: V16, external: true, imp }
}

/// Every function Thingbox knows.
pub static FUNCTIONS: &[FnDef] = &[
    // Message metadata.
    f("topic", Between(0, 1), V15, meta::topic),
    f("clientid", Exactly(0), V15, meta::clientid),
    f("principal", Exactly(0), V15, meta::principal),
    f("timestamp", Exactly(0), V15, meta::timestamp),
    f("accountid", Exactly(0), V15, meta::accountid),
    f("sql_version", Exactly(0), V15, meta::sql_version),
    f("traceid", Exactly(0), V15, meta::traceid),
    f("newuuid", Exactly(0), V15, meta::newuuid),
    f("rand", Exactly(0), V15, meta::rand),
    f("sourceip", Exactly(0), V16, meta::sourceip),
    f("get_mqtt_property", Exactly(1), V16, meta::get_mqtt_property),
    f("get_user_properties", Exactly(1), V16, meta::get_user_properties),
    // Math.
    f("abs", Exactly(1), V15, math::abs),
    f("acos", Exactly(1), V15, math::acos),
    f("asin", Exactly(1), V15, math::asin),
    f("atan", Exactly(1), V15, math::atan),
    f("atan2", Exactly(2), V15, math::atan2),
    f("cos", Exactly(1), V15, math::cos),
    f("cosh", Exactly(1), V15, math::cosh),
    f("sin", Exactly(1), V15, math::sin),
    f("sinh", Exactly(1), V15, math::sinh),
    f("tan", Exactly(1), V15, math::tan),
    f("tanh", Exactly(1), V15, math::tanh),
    f("exp", Exactly(1), V15, math::exp),
    f("ln", Exactly(1), V15, math::ln),
    f("log", Exactly(1), V15, math::log),
    f("sqrt", Exactly(1), V15, math::sqrt),
    f("power", Exactly(2), V15, math::power),
    f("ceil", Exactly(1), V15, math::ceil),
    f("floor", Exactly(1), V15, math::floor),
    f("round", Exactly(1), V15, math::round),
    f("sign", Exactly(1), V15, math::sign),
    f("mod", Exactly(2), V15, math::modulo),
    f("remainder", Exactly(2), V15, math::modulo),
    f("trunc", Exactly(2), V15, math::trunc),
    f("bitand", Exactly(2), V15, math::bitand),
    f("bitor", Exactly(2), V15, math::bitor),
    f("bitxor", Exactly(2), V15, math::bitxor),
    f("bitnot", Exactly(1), V15, math::bitnot),
    f("nanvl", Exactly(2), V15, math::nanvl),
    // Strings.
    f("concat", AtLeast(0), V15, text::concat),
    f("lower", Exactly(1), V15, text::lower),
    f("upper", Exactly(1), V15, text::upper),
    f("length", Exactly(1), V16, text::length),
    f("numbytes", Exactly(1), V16, text::numbytes),
    f("indexof", Exactly(2), V16, text::indexof),
    f("substring", Between(2, 3), V15, text::substring),
    f("trim", Exactly(1), V15, text::trim),
    f("ltrim", Exactly(1), V15, text::ltrim),
    f("rtrim", Exactly(1), V15, text::rtrim),
    f("lpad", Exactly(2), V15, text::lpad),
    f("rpad", Exactly(2), V15, text::rpad),
    f("startswith", Exactly(2), V15, text::startswith),
    f("endswith", Exactly(2), V15, text::endswith),
    f("replace", Exactly(3), V15, text::replace),
    f("regexp_matches", Exactly(2), V15, text::regexp_matches),
    f("regexp_replace", Exactly(3), V15, text::regexp_replace),
    f("regexp_substr", Exactly(2), V15, text::regexp_substr),
    f("chr", Exactly(1), V15, text::chr),
    f("md2", Exactly(1), V15, text::md2),
    f("md5", Exactly(1), V15, text::md5),
    f("sha1", Exactly(1), V15, text::sha1),
    f("sha224", Exactly(1), V15, text::sha224),
    f("sha256", Exactly(1), V15, text::sha256),
    f("sha384", Exactly(1), V15, text::sha384),
    f("sha512", Exactly(1), V15, text::sha512),
    f("encode", Exactly(2), V16, text::encode),
    f("decode", Exactly(2), V16, text::decode),
    // Collections and types.
    f("get", Exactly(2), V15, meta::get),
    f("isNull", Exactly(1), V15, meta::is_null),
    f("isUndefined", Exactly(1), V16, meta::is_undefined),
    f("transform", Exactly(3), V16, meta::transform),
    // Time.
    f("parse_time", Between(2, 3), V16, meta::parse_time),
    f("time_to_epoch", Exactly(2), V16, meta::time_to_epoch),
    // Outside the message: served by the host (the engine), Undefined where it has no answer.
    ext("get_thing_shadow", Between(2, 3), meta::get_thing_shadow),
    ext("get_dynamodb", Between(4, 6), meta::get_dynamodb),
    ext("get_secret", Between(3, 4), meta::external),
    ext("aws_lambda", Exactly(2), meta::external),
    ext("machinelearning_predict", Exactly(3), meta::external),
];

/// The function called `name` (any case).
pub fn lookup(name: &str) -> Option<&'static FnDef> {
    FUNCTIONS.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

/// The known function closest to a misspelt `name`, if one is close.
pub fn suggest(name: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    FUNCTIONS
        .iter()
        .map(|d| (edit_distance(&name, d.name), d.name))
        .filter(|(d, _)| *d <= if name.len() <= 4 { 1 } else { 2 })
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The first argument, taken out of the list.
fn take(args: &mut [Value], i: usize) -> Value {
    args.get_mut(i).map(std::mem::take).unwrap_or_default()
}
