//! The parser: tokens to a [`Query`], by recursive descent with SQL's usual precedence (lowest
//! first): `OR`, `AND`, `NOT`, comparisons, `+ -`, `* / %`, unary `-`, `.`/`[]`, primaries.
//!
//! Keywords and function names are case-insensitive; attribute names are not. What the chosen
//! `awsIotSqlVersion` does not have (object and array literals, nested queries, the functions
//! marked 2016-03-23) is refused with a message that names the version that has it.

use crate::ast::*;
use crate::error::{Span, SqlError};
use crate::functions::{self, Arity};
use crate::lexer::{Tok, Token, lex};
use crate::value::Value;

const RESERVED: [&str; 14] = [
    "SELECT", "FROM", "WHERE", "AS", "AND", "OR", "WHEN", "THEN", "ELSE", "END", "CASE", "NOT", "TRUE",
    "FALSE",
];

/// Parses a whole statement.
pub fn parse_query(text: &str, version: SqlVersion) -> Result<Query, SqlError> {
    let mut p = Parser { text, toks: lex(text)?, pos: 0, version, depth: 0 };
    if p.peek_kw("SELECT").is_none() {
        return Err(p.err_here("a rule's SQL starts with SELECT"));
    }
    let q = p.query()?;
    if !matches!(p.peek().tok, Tok::Eof) {
        let t = p.peek().clone();
        return Err(p.err(t.span, format!("unexpected {} after the end of the statement", t.tok.describe())));
    }
    Ok(q)
}

/// Parses one expression (a substitution template's `${…}` body).
pub fn parse_expr(text: &str, version: SqlVersion) -> Result<Expr, SqlError> {
    let mut p = Parser { text, toks: lex(text)?, pos: 0, version, depth: 0 };
    if matches!(p.peek().tok, Tok::Eof) {
        return Err(p.err_here("the expression is empty"));
    }
    let e = p.expr()?;
    if !matches!(p.peek().tok, Tok::Eof) {
        let t = p.peek().clone();
        return Err(p.err(t.span, format!("unexpected {} after the expression", t.tok.describe())));
    }
    Ok(e)
}

/// Deepest nesting of parentheses, calls and unary operators (bounds the parser's recursion).
const MAX_DEPTH: usize = 48;
/// Deepest expression tree, operator chains included (bounds the evaluator's recursion).
const MAX_TREE: usize = 256;

struct Parser<'a> {
    text: &'a str,
    toks: Vec<Token>,
    pos: usize,
    version: SqlVersion,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn peek_at(&self, n: usize) -> &Token {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn err(&self, span: Span, msg: impl Into<String>) -> SqlError {
        SqlError::at(self.text, span, msg)
    }

    fn err_here(&self, msg: impl Into<String>) -> SqlError {
        self.err(self.peek().span, msg)
    }

    fn expected(&self, what: &str) -> SqlError {
        let t = self.peek();
        self.err(t.span, format!("expected {what}, found {}", t.tok.describe()))
    }

    /// The span of the next token if it is keyword `kw`.
    fn peek_kw(&self, kw: &str) -> Option<Span> {
        match &self.peek().tok {
            Tok::Ident(s) if s.eq_ignore_ascii_case(kw) => Some(self.peek().span),
            _ => None,
        }
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek_kw(kw).is_some() {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<Span, SqlError> {
        match self.peek_kw(kw) {
            Some(s) => {
                self.bump();
                Ok(s)
            }
            None => Err(self.expected(kw)),
        }
    }

    fn eat_sym(&mut self, sym: &'static str) -> bool {
        if self.peek().tok == Tok::Sym(sym) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, sym: &'static str) -> Result<Span, SqlError> {
        if self.peek().tok == Tok::Sym(sym) {
            Ok(self.bump().span)
        } else {
            Err(self.expected(&format!("'{sym}'")))
        }
    }

    fn needs_modern(&self, span: Span, what: &str) -> Result<(), SqlError> {
        if self.version.modern() {
            Ok(())
        } else {
            Err(self.err(
                span,
                format!(
                    "{what} need awsIotSqlVersion 2016-03-23 or later (this rule uses {})",
                    self.version.as_str()
                ),
            ))
        }
    }

    /// `SELECT … [FROM '…'] [WHERE …]`: the statement itself.
    fn query(&mut self) -> Result<Query, SqlError> {
        self.expect_kw("SELECT")?;
        let select = self.select_list()?;
        let mut from = None;
        if self.eat_kw("FROM") {
            let t = self.bump();
            match t.tok {
                Tok::Single(topic) => from = Some(From { topic, span: t.span }),
                Tok::Double(_) => {
                    return Err(self.err(
                        t.span,
                        "FROM takes the topic filter in single quotes, e.g. FROM 'sensors/+/data'",
                    ));
                }
                other => {
                    return Err(self.err(
                        t.span,
                        format!(
                            "expected the topic filter in single quotes after FROM, found {}",
                            other.describe()
                        ),
                    ));
                }
            }
        } else if !matches!(self.peek().tok, Tok::Eof) && self.peek_kw("WHERE").is_none() {
            let what = if matches!(select, Select::Items(_)) { "',' or FROM" } else { "FROM" };
            return Err(self.expected(what));
        }
        let condition = if self.eat_kw("WHERE") { Some(self.expr()?) } else { None };
        Ok(Query { version: self.version, select, from, condition })
    }

    /// `SELECT … FROM expr [WHERE …]` inside parentheses: a nested query over an array.
    fn sub_query(&mut self) -> Result<SubQuery, SqlError> {
        self.expect_kw("SELECT")?;
        let select = self.select_list()?;
        if !self.eat_kw("FROM") {
            return Err(self.expected("FROM (a nested query iterates over an array: FROM attribute)"));
        }
        let from = self.expr()?;
        let condition = if self.eat_kw("WHERE") { Some(self.expr()?) } else { None };
        Ok(SubQuery { select, from, condition })
    }

    fn select_list(&mut self) -> Result<Select, SqlError> {
        // `SELECT VALUE expr`, unless `value` is an attribute (`SELECT value FROM …`).
        if self.peek_kw("VALUE").is_some() {
            let next = &self.peek_at(1).tok;
            let is_attr = matches!(next, Tok::Sym(",") | Tok::Sym("."))
                || matches!(next, Tok::Ident(s) if ["FROM", "AS", "WHERE"].iter().any(|k| s.eq_ignore_ascii_case(k)));
            if !is_attr {
                self.bump();
                return Ok(Select::Value(self.expr()?));
            }
        }
        let mut items = Vec::new();
        loop {
            if self.peek().tok == Tok::Sym("*") {
                self.bump();
                items.push(SelectItem::Star);
            } else {
                let expr = self.expr()?;
                let key = if self.eat_kw("AS") {
                    self.alias()?
                } else {
                    match expr.default_key() {
                        Some(k) => vec![k],
                        None => vec![format!("_{}", items.len() + 1)],
                    }
                };
                items.push(SelectItem::Expr { expr, key });
            }
            if !self.eat_sym(",") {
                break;
            }
        }
        Ok(Select::Items(items))
    }

    /// An alias: a name, a quoted string, or a dotted path of names.
    fn alias(&mut self) -> Result<Vec<String>, SqlError> {
        let t = self.bump();
        let first = match t.tok {
            Tok::Ident(s) if RESERVED.iter().any(|k| s.eq_ignore_ascii_case(k)) => {
                return Err(self.err(
                    t.span,
                    format!("expected a name after AS, found the keyword {}", s.to_ascii_uppercase()),
                ));
            }
            Tok::Ident(s) => s,
            Tok::Single(s) | Tok::Double(s) if !s.is_empty() => return Ok(vec![s]),
            other => {
                return Err(self.err(t.span, format!("expected a name after AS, found {}", other.describe())));
            }
        };
        let mut path = vec![first];
        while self.eat_sym(".") {
            match self.bump() {
                Token { tok: Tok::Ident(s), .. } => path.push(s),
                t => {
                    return Err(
                        self.err(t.span, format!("expected a name after '.', found {}", t.tok.describe()))
                    );
                }
            }
        }
        Ok(path)
    }

    fn enter(&mut self) -> Result<(), SqlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_here(format!("the expression is nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(())
    }

    /// One more operator in a chain (`a OR b OR …`, `a.b.c…`): the tree grows a level.
    fn grow(&mut self, levels: &mut usize) -> Result<(), SqlError> {
        *levels += 1;
        if self.depth * 8 + *levels > MAX_TREE {
            return Err(self.err_here(format!(
                "the expression is too deep (more than {MAX_TREE} levels of operators); split it up"
            )));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, SqlError> {
        self.enter()?;
        let e = self.or();
        self.depth -= 1;
        e
    }

    fn or(&mut self) -> Result<Expr, SqlError> {
        let mut l = self.and()?;
        let mut levels = 0;
        while self.eat_kw("OR") {
            self.grow(&mut levels)?;
            let r = self.and()?;
            l = Expr::Binary(BinOp::Or, Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, SqlError> {
        let mut l = self.not()?;
        let mut levels = 0;
        while self.eat_kw("AND") {
            self.grow(&mut levels)?;
            let r = self.not()?;
            l = Expr::Binary(BinOp::And, Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn not(&mut self) -> Result<Expr, SqlError> {
        if self.eat_kw("NOT") {
            self.enter()?;
            let e = self.not();
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, SqlError> {
        let l = self.additive()?;
        let op = match self.peek().tok {
            Tok::Sym("=") => BinOp::Eq,
            Tok::Sym("<>") | Tok::Sym("!=") => BinOp::Ne,
            Tok::Sym("<") => BinOp::Lt,
            Tok::Sym("<=") => BinOp::Le,
            Tok::Sym(">") => BinOp::Gt,
            Tok::Sym(">=") => BinOp::Ge,
            _ => return Ok(l),
        };
        self.bump();
        let r = self.additive()?;
        Ok(Expr::Binary(op, Box::new(l), Box::new(r)))
    }

    fn additive(&mut self) -> Result<Expr, SqlError> {
        let mut l = self.multiplicative()?;
        let mut levels = 0;
        loop {
            let op = match self.peek().tok {
                Tok::Sym("+") => BinOp::Add,
                Tok::Sym("-") => BinOp::Sub,
                _ => return Ok(l),
            };
            self.grow(&mut levels)?;
            self.bump();
            let r = self.multiplicative()?;
            l = Expr::Binary(op, Box::new(l), Box::new(r));
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, SqlError> {
        let mut l = self.unary()?;
        let mut levels = 0;
        loop {
            let op = match self.peek().tok {
                Tok::Sym("*") => BinOp::Mul,
                Tok::Sym("/") => BinOp::Div,
                Tok::Sym("%") => BinOp::Rem,
                _ => return Ok(l),
            };
            self.grow(&mut levels)?;
            self.bump();
            let r = self.unary()?;
            l = Expr::Binary(op, Box::new(l), Box::new(r));
        }
    }

    fn unary(&mut self) -> Result<Expr, SqlError> {
        if self.eat_sym("-") {
            self.enter()?;
            let e = self.unary();
            self.depth -= 1;
            return Ok(match e? {
                Expr::Lit(Value::Int(i)) => Expr::Lit(Value::Int(-i)),
                Expr::Lit(Value::Decimal(d)) => Expr::Lit(Value::Decimal(-d)),
                e => Expr::Neg(Box::new(e)),
            });
        }
        if self.eat_sym("+") {
            return self.unary();
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, SqlError> {
        let mut e = self.primary()?;
        let mut levels = 0;
        loop {
            if matches!(self.peek().tok, Tok::Sym(".") | Tok::Sym("[")) {
                self.grow(&mut levels)?;
            }
            if self.eat_sym(".") {
                let t = self.bump();
                match t.tok {
                    Tok::Ident(name) => e = Expr::Member(Box::new(e), name),
                    Tok::Int(_) => {
                        return Err(self.err(
                            t.span,
                            "a member name cannot start with a digit; use get(obj, \"0\") or get(array, 0)",
                        ));
                    }
                    other => {
                        return Err(self
                            .err(t.span, format!("expected a name after '.', found {}", other.describe())));
                    }
                }
            } else if self.peek().tok == Tok::Sym("[") {
                self.bump();
                let idx = self.expr()?;
                self.expect_sym("]")?;
                e = Expr::Index(Box::new(e), Box::new(idx));
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, SqlError> {
        let t = self.bump();
        match t.tok {
            Tok::Int(i) => Ok(Expr::Lit(Value::Int(i))),
            Tok::Decimal(d) => Ok(Expr::Lit(Value::decimal(d, self.version.modern()))),
            Tok::Single(s) | Tok::Double(s) => Ok(Expr::Lit(Value::String(s))),
            Tok::Sym("*") => Ok(Expr::Star),
            Tok::Sym("(") => {
                if self.peek_kw("SELECT").is_some() {
                    self.needs_modern(self.peek().span, "nested queries")?;
                    self.enter()?;
                    let q = self.sub_query();
                    self.depth -= 1;
                    let q = q?;
                    self.expect_sym(")")?;
                    return Ok(Expr::Sub(Box::new(q)));
                }
                let e = self.expr()?;
                self.expect_sym(")")?;
                Ok(e)
            }
            Tok::Sym("{") => {
                self.needs_modern(t.span, "object literals")?;
                let mut members = Vec::new();
                if !self.eat_sym("}") {
                    loop {
                        let k = self.bump();
                        let key = match k.tok {
                            Tok::Single(s) | Tok::Double(s) | Tok::Ident(s) => s,
                            other => {
                                return Err(self.err(
                                    k.span,
                                    format!("expected a key in quotes, found {}", other.describe()),
                                ));
                            }
                        };
                        self.expect_sym(":")?;
                        members.push((key, self.expr()?));
                        if self.eat_sym("}") {
                            break;
                        }
                        if !self.eat_sym(",") {
                            return Err(self.expected("',' or '}'"));
                        }
                    }
                }
                Ok(Expr::Object(members))
            }
            Tok::Sym("[") => {
                self.needs_modern(t.span, "array literals")?;
                let mut items = Vec::new();
                if !self.eat_sym("]") {
                    loop {
                        items.push(self.expr()?);
                        if self.eat_sym("]") {
                            break;
                        }
                        if !self.eat_sym(",") {
                            return Err(self.expected("',' or ']'"));
                        }
                    }
                }
                Ok(Expr::Array(items))
            }
            Tok::Ident(name) => self.named(name, t.span),
            Tok::Eof => Err(self.err(t.span, "the statement ends where a value was expected")),
            other => Err(self.err(t.span, format!("expected a value, found {}", other.describe()))),
        }
    }

    /// A name: a keyword literal, CASE, a call, or an attribute.
    fn named(&mut self, name: String, span: Span) -> Result<Expr, SqlError> {
        let upper = name.to_ascii_uppercase();
        match upper.as_str() {
            "TRUE" => return Ok(Expr::Lit(Value::Bool(true))),
            "FALSE" => return Ok(Expr::Lit(Value::Bool(false))),
            "NULL" => return Ok(Expr::Lit(Value::Null)),
            "CASE" => return self.case(),
            _ => {}
        }
        if self.peek().tok == Tok::Sym("(") {
            if upper == "CAST" {
                return self.cast();
            }
            return self.call(&name, span);
        }
        if RESERVED.contains(&upper.as_str()) {
            return Err(self.err(span, format!("expected a value, found the keyword {upper}")));
        }
        Ok(Expr::Attr(name))
    }

    fn case(&mut self) -> Result<Expr, SqlError> {
        let operand = if self.peek_kw("WHEN").is_some() { None } else { Some(Box::new(self.expr()?)) };
        let mut whens = Vec::new();
        while self.eat_kw("WHEN") {
            let w = self.expr()?;
            self.expect_kw("THEN")?;
            whens.push((w, self.expr()?));
        }
        if whens.is_empty() {
            return Err(self.expected("WHEN"));
        }
        let otherwise = if self.eat_kw("ELSE") { Some(Box::new(self.expr()?)) } else { None };
        self.expect_kw("END")?;
        Ok(Expr::Case { operand, whens, otherwise })
    }

    fn cast(&mut self) -> Result<Expr, SqlError> {
        self.expect_sym("(")?;
        let e = self.expr()?;
        self.expect_kw("AS")?;
        let t = self.bump();
        let Tok::Ident(ty) = &t.tok else {
            return Err(self.err(t.span, format!("expected a type after AS, found {}", t.tok.describe())));
        };
        let ty = match ty.to_ascii_lowercase().as_str() {
            "string" | "nvarchar" | "text" | "ntext" | "varchar" => CastType::String,
            "int" | "integer" => CastType::Int,
            "double" => CastType::Decimal,
            "decimal" => {
                self.needs_modern(t.span, "cast to Decimal and Bool/Boolean")?;
                CastType::Decimal
            }
            "bool" | "boolean" => {
                self.needs_modern(t.span, "cast to Decimal and Bool/Boolean")?;
                CastType::Bool
            }
            other => {
                return Err(self.err(
                    t.span,
                    format!(
                        "unknown type '{other}' in cast; use String, Int, Integer, Double, Decimal, Bool or Boolean"
                    ),
                ));
            }
        };
        self.expect_sym(")")?;
        Ok(Expr::Cast(Box::new(e), ty))
    }

    fn call(&mut self, name: &str, span: Span) -> Result<Expr, SqlError> {
        let Some(def) = functions::lookup(name) else {
            let hint = functions::suggest(name).map(|s| format!("; did you mean {s}()?")).unwrap_or_default();
            return Err(self.err(span, format!("unknown function '{name}'{hint}")));
        };
        if def.since.modern() && !self.version.modern() {
            return Err(self.err(
                span,
                format!(
                    "the function {}() needs awsIotSqlVersion 2016-03-23 or later (this rule uses {})",
                    def.name,
                    self.version.as_str()
                ),
            ));
        }
        self.expect_sym("(")?;
        let mut args = Vec::new();
        if !self.eat_sym(")") {
            loop {
                args.push(self.expr()?);
                if self.eat_sym(")") {
                    break;
                }
                if !self.eat_sym(",") {
                    return Err(self.expected("',' or ')'"));
                }
            }
        }
        let n = args.len();
        let ok = match def.arity {
            Arity::Exactly(k) => n == k,
            Arity::Between(lo, hi) => (lo..=hi).contains(&n),
            Arity::AtLeast(lo) => n >= lo,
        };
        if !ok {
            return Err(self.err(span, format!("{}() takes {}, not {n}", def.name, def.arity.describe())));
        }
        Ok(Expr::Call { def, args })
    }
}
