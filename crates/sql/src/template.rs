//! Substitution templates: `${expression}` inside an action's string fields, evaluated against
//! the **incoming** message (not the rule's output), e.g. `${topic()}/republish` or
//! `${replace(topic(), '/', '-')}-${timestamp()}`.

use crate::ast::{Expr, SqlVersion};
use crate::error::{Span, SqlError};
use crate::eval::{Env, Host, Input, eval};
use crate::functions::FnDef;
use crate::value::Value;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
    version: SqlVersion,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Expr(Expr),
}

impl Template {
    /// Parses `text`; errors name the line and column within it.
    pub fn parse(text: &str, version: SqlVersion) -> Result<Template, SqlError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut i = 0;
        while i < text.len() {
            let rest = &text[i..];
            if rest.starts_with("${") {
                let body_start = i + 2;
                let Some(len) = closing_brace(&text[body_start..]) else {
                    return Err(SqlError::at(
                        text,
                        Span::new(i, text.len()),
                        "the template's ${ has no closing }",
                    ));
                };
                let body = &text[body_start..body_start + len];
                let expr = crate::parser::parse_expr(body, version).map_err(|e| {
                    let span = Span::new(e.span.start + body_start, e.span.end + body_start);
                    SqlError::at(text, span, e.message)
                })?;
                if !lit.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut lit)));
                }
                parts.push(Part::Expr(expr));
                i = body_start + len + 1;
            } else {
                let c = rest.chars().next().unwrap_or_default();
                lit.push(c);
                i += c.len_utf8().max(1);
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Text(lit));
        }
        Ok(Template { parts, version })
    }

    /// Whether it has no `${…}` (renders to itself).
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// The external functions (`get_thing_shadow`, …) it calls; errorAction templates may not.
    pub fn external_functions(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for p in &self.parts {
            if let Part::Expr(e) = p {
                collect_external(e, &mut out);
            }
        }
        out
    }

    /// Renders against one message: strings as they are, Undefined as nothing, other values as
    /// JSON.
    pub fn render(&self, input: &Input<'_>, host: &dyn Host) -> String {
        let env = Env { input, host, version: self.version };
        let undefined = Value::Undefined;
        let row = input.document(self.version).unwrap_or(&undefined);
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Expr(e) => match eval(e, row, &env) {
                    Value::String(s) => out.push_str(&s),
                    Value::Undefined | Value::Binary(_) => {}
                    v => v.write_json(&mut out),
                },
            }
        }
        out
    }
}

/// The length of a `${…}` body: up to the `}` that closes it, skipping quoted strings and nested
/// braces (object literals).
fn closing_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '{') => depth += 1,
            (None, '}') if depth == 0 => return Some(i),
            (None, '}') => depth -= 1,
            _ => {}
        }
    }
    None
}

fn collect_external(e: &Expr, out: &mut Vec<&'static str>) {
    match e {
        Expr::Call { def, args } => {
            let def: &'static FnDef = def;
            if def.external {
                out.push(def.name);
            }
            for a in args {
                collect_external(a, out);
            }
        }
        Expr::Member(b, _) | Expr::Neg(b) | Expr::Not(b) | Expr::Cast(b, _) => collect_external(b, out),
        Expr::Index(a, b) | Expr::Binary(_, a, b) => {
            collect_external(a, out);
            collect_external(b, out);
        }
        Expr::Case { operand, whens, otherwise } => {
            for o in operand.iter().chain(otherwise.iter()) {
                collect_external(o, out);
            }
            for (w, t) in whens {
                collect_external(w, out);
                collect_external(t, out);
            }
        }
        Expr::Object(m) => m.iter().for_each(|(_, v)| collect_external(v, out)),
        Expr::Array(items) => items.iter().for_each(|i| collect_external(i, out)),
        Expr::Sub(q) => {
            collect_external(&q.from, out);
            if let Some(c) = &q.condition {
                collect_external(c, out);
            }
            match &q.select {
                crate::ast::Select::Value(e) => collect_external(e, out),
                crate::ast::Select::Items(items) => {
                    for i in items {
                        if let crate::ast::SelectItem::Expr { expr, .. } = i {
                            collect_external(expr, out);
                        }
                    }
                }
            }
        }
        Expr::Lit(_) | Expr::Star | Expr::Attr(_) => {}
    }
}
