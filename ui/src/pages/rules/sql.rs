//! The SQL editor: a textarea over a highlighted copy of its text, tokenized by the engine's own
//! lexer (`thingbox_sql`, compiled into this wasm), with the parser's error underlined where it
//! is and named below — as you type.

use leptos::prelude::*;
use thingbox_sql::lexer::{Tok, lex};
use thingbox_sql::{SqlError, SqlVersion};

const KEYWORDS: [&str; 15] = [
    "SELECT", "FROM", "WHERE", "AS", "AND", "OR", "NOT", "CASE", "WHEN", "THEN", "ELSE", "END", "VALUE",
    "TRUE", "FALSE",
];

/// One piece of highlighted text: its CSS class (`""` for plain) and text.
pub type Piece = (&'static str, String);

/// Splits `text` into highlighted pieces; the bytes in `error` get the `err` class as well.
pub fn highlight(text: &str, error: Option<(usize, usize)>) -> Vec<Piece> {
    let mut classes: Vec<&'static str> = vec![""; text.len()];
    if let Ok(tokens) = lex(text) {
        for (i, t) in tokens.iter().enumerate() {
            let class = match &t.tok {
                Tok::Ident(s)
                    if KEYWORDS.iter().any(|k| s.eq_ignore_ascii_case(k))
                        || s.eq_ignore_ascii_case("null") =>
                {
                    "kw"
                }
                Tok::Ident(_) if tokens.get(i + 1).is_some_and(|n| n.tok == Tok::Sym("(")) => "fn",
                Tok::Ident(_) => "id",
                Tok::Single(_) | Tok::Double(_) => "str",
                Tok::Int(_) | Tok::Decimal(_) => "num",
                Tok::Sym(_) => "op",
                Tok::Eof => continue,
            };
            for c in classes.iter_mut().take(t.span.end.min(text.len())).skip(t.span.start) {
                *c = class;
            }
        }
    }
    let in_error = |i: usize| error.is_some_and(|(s, e)| i >= s && (i < e || (s == e && i == s)));
    let mut out: Vec<Piece> = Vec::new();
    let mut start = 0;
    let class_at = |i: usize| -> &'static str {
        match (classes[i], in_error(i)) {
            (c, false) => c,
            ("kw", true) => "kw err",
            ("fn", true) => "fn err",
            ("str", true) => "str err",
            ("num", true) => "num err",
            ("op", true) => "op err",
            ("id", true) => "id err",
            (_, true) => "err",
        }
    };
    for i in 1..=text.len() {
        let boundary = i == text.len() || (text.is_char_boundary(i) && class_at(i) != class_at(start));
        if boundary && i > start && text.is_char_boundary(i) {
            out.push((class_at(start), text[start..i].to_owned()));
            start = i;
        }
    }
    // An error at the very end (a missing value): a visible marker to underline.
    if let Some((s, _)) = error
        && s >= text.len()
    {
        out.push(("err", " ".into()));
    }
    out
}

/// The parse verdict for `sql`.
pub fn check(sql: &str, version: SqlVersion) -> Result<thingbox_sql::Query, SqlError> {
    thingbox_sql::parse(sql, version)
}

/// The editor. `error` is the current error's byte range, if any.
#[component]
pub fn SqlEditor(sql: RwSignal<String>, version: RwSignal<SqlVersion>) -> impl IntoView {
    let verdict = Memo::new(move |_| check(&sql.get(), version.get()).map(|_| ()));
    let pieces = move || {
        let text = sql.get();
        let err = verdict.get().err().map(|e| (e.span.start, e.span.end));
        highlight(&text, err)
    };
    let rows = move || sql.with(|s| s.lines().count().max(3) + 1);
    view! {
        <div class="sql-editor">
            <pre class="sql-hl" aria-hidden="true">{move || pieces().into_iter().map(|(c, t)| view! { <span class=c>{t}</span> }).collect_view()}"\n"</pre>
            <textarea id="rule-sql" spellcheck="false" rows=rows prop:value=move || sql.get()
                on:input=move |e| sql.set(event_target_value(&e))></textarea>
        </div>
        <div id="sql-validation">{move || match verdict.get() {
            Ok(()) => view! { <span class="valid">"✓ valid SQL ("{move || version.get().as_str()}")"</span> }.into_any(),
            Err(e) => view! { <span class="invalid">"✗ "{e.to_string()}</span> }.into_any(),
        }}</div>
    }
}

/// Read-only highlighted SQL.
#[component]
pub fn SqlView(sql: String) -> impl IntoView {
    view! { <pre class="sql-hl static">{highlight(&sql, None).into_iter().map(|(c, t)| view! { <span class=c>{t}</span> }).collect_view()}</pre> }
}

/// Replaces the FROM clause's topic filter (or adds one before WHERE / at the end).
pub fn with_from(sql: &str, filter: &str) -> String {
    let quoted = format!("'{}'", filter.replace('\'', "''"));
    if let Ok(tokens) = lex(sql) {
        for (i, t) in tokens.iter().enumerate() {
            if matches!(&t.tok, Tok::Ident(s) if s.eq_ignore_ascii_case("FROM"))
                && let Some(next) = tokens.get(i + 1)
                && matches!(next.tok, Tok::Single(_))
            {
                return format!("{}{}{}", &sql[..next.span.start], quoted, &sql[next.span.end..]);
            }
        }
        if let Some(w) =
            tokens.iter().find(|t| matches!(&t.tok, Tok::Ident(s) if s.eq_ignore_ascii_case("WHERE")))
        {
            return format!("{}FROM {} {}", &sql[..w.span.start], quoted, &sql[w.span.start..]);
        }
    }
    format!("{} FROM {quoted}", sql.trim_end())
}
