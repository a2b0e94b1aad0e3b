//! The syntax tree of an AWS IoT SQL statement.

use crate::error::Span;
use crate::functions::FnDef;
use crate::value::Value;

/// `awsIotSqlVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum SqlVersion {
    /// `2015-10-08`, the default when a rule names none.
    #[default]
    V2015_10_08,
    /// `2016-03-23`, the console's default.
    V2016_03_23,
    /// `beta`: the newest features; Thingbox treats it as 2016-03-23.
    Beta,
}

impl SqlVersion {
    /// Every version, oldest first.
    pub const ALL: [SqlVersion; 3] = [SqlVersion::V2015_10_08, SqlVersion::V2016_03_23, SqlVersion::Beta];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SqlVersion::V2015_10_08 => "2015-10-08",
            SqlVersion::V2016_03_23 => "2016-03-23",
            SqlVersion::Beta => "beta",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<SqlVersion> {
        SqlVersion::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the 2016-03-23 features (literals, nested queries, whole decimals as Int, …) apply.
    pub fn modern(self) -> bool {
        self >= SqlVersion::V2016_03_23
    }
}

/// A whole statement: `SELECT … [FROM '…'] [WHERE …]`.
#[derive(Debug, Clone)]
pub struct Query {
    /// The version it was parsed for.
    pub version: SqlVersion,
    /// What it selects.
    pub select: Select,
    /// The topic filter of FROM, if any (rules invoked only through Basic Ingest need none).
    pub from: Option<From>,
    /// The WHERE condition.
    pub condition: Option<Expr>,
}

/// FROM's topic filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The filter, unquoted.
    pub topic: String,
    /// Where the quoted filter is.
    pub span: Span,
}

/// The select list.
#[derive(Debug, Clone)]
pub enum Select {
    /// `SELECT VALUE expr`: the bare value.
    Value(Expr),
    /// `SELECT item, …`: an object.
    Items(Vec<SelectItem>),
}

/// One item of the select list.
#[derive(Debug, Clone)]
pub enum SelectItem {
    /// `*`: the payload's members.
    Star,
    /// `expr [AS key]`.
    Expr {
        /// The value.
        expr: Expr,
        /// The output key as a path (`AS a.b` nests).
        key: Vec<String>,
    },
}

/// A nested query over an array: `(SELECT … FROM expr [WHERE …])`.
#[derive(Debug, Clone)]
pub struct SubQuery {
    /// What each element becomes.
    pub select: Select,
    /// The array iterated over.
    pub from: Expr,
    /// Which elements are kept.
    pub condition: Option<Expr>,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `OR`
    Or,
    /// `AND`
    And,
    /// `=`
    Eq,
    /// `<>` or `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

/// `cast` target types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastType {
    /// String, Nvarchar, Text, Ntext, varchar.
    String,
    /// Int, Integer.
    Int,
    /// Double (and Decimal).
    Decimal,
    /// Bool, Boolean.
    Bool,
}

/// An expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A literal.
    Lit(Value),
    /// `*` as a value (the payload), e.g. in `encode(*, 'base64')`.
    Star,
    /// A top-level attribute of the current document.
    Attr(String),
    /// `expr.name`.
    Member(Box<Expr>, String),
    /// `expr[index]`.
    Index(Box<Expr>, Box<Expr>),
    /// A function call.
    Call {
        /// The function.
        def: &'static FnDef,
        /// Its arguments.
        args: Vec<Expr>,
    },
    /// `-expr`.
    Neg(Box<Expr>),
    /// `NOT expr`.
    Not(Box<Expr>),
    /// `l op r`.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `CASE [operand] WHEN … THEN … [ELSE …] END`.
    Case {
        /// `CASE v WHEN t …` compares `v` with each `t`; without it each `WHEN` is a condition.
        operand: Option<Box<Expr>>,
        /// `(WHEN, THEN)` pairs in order.
        whens: Vec<(Expr, Expr)>,
        /// `ELSE`.
        otherwise: Option<Box<Expr>>,
    },
    /// `cast(expr AS type)`.
    Cast(Box<Expr>, CastType),
    /// `{'key': expr, …}`.
    Object(Vec<(String, Expr)>),
    /// `[expr, …]`.
    Array(Vec<Expr>),
    /// `(SELECT … FROM expr …)`.
    Sub(Box<SubQuery>),
}

impl Expr {
    /// The output key an unaliased select item gets: an attribute's (last) name, a function's
    /// name; `None` for anything else (the caller numbers it).
    pub fn default_key(&self) -> Option<String> {
        match self {
            Expr::Attr(n) | Expr::Member(_, n) => Some(n.clone()),
            Expr::Call { def, .. } => Some(def.name.to_owned()),
            Expr::Cast(e, _) => e.default_key(),
            _ => None,
        }
    }
}
