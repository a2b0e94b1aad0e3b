//! The lexer: SQL text to tokens, each with the byte range it came from, so that every parse error
//! can name its line and column.

use crate::error::{Span, SqlError};

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A name: a keyword, a function or an attribute (keywords are recognised by the parser,
    /// case-insensitively).
    Ident(String),
    /// A single-quoted string.
    Single(String),
    /// A double-quoted string.
    Double(String),
    /// A whole number.
    Int(i64),
    /// A number with a fraction or exponent (or too big for an Int), with its text.
    Decimal(f64),
    /// Punctuation and operators.
    Sym(&'static str),
    /// The end of the text.
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Single(s) => format!("the string '{s}'"),
            Tok::Double(s) => format!("the string \"{s}\""),
            Tok::Int(i) => format!("the number {i}"),
            Tok::Decimal(d) => format!("the number {d}"),
            Tok::Sym(s) => format!("'{s}'"),
            Tok::Eof => "the end of the statement".into(),
        }
    }
}

/// A token and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Its byte range in the text.
    pub span: Span,
}

const SYMBOLS: [&str; 19] =
    ["<>", "!=", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "%", "(", ")", ",", ".", "[", "]", ":"];

/// Splits `text` into tokens, ending with [`Tok::Eof`].
pub fn lex(text: &str) -> Result<Vec<Token>, SqlError> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Token { tok: Tok::Ident(text[start..i].to_owned()), span: Span::new(start, i) });
            continue;
        }
        // `.5` is a number, but not right after a name or a bracket (`a.0` is a member access).
        let after_value =
            i > 0 && (b[i - 1].is_ascii_alphanumeric() || matches!(b[i - 1], b'_' | b')' | b']'));
        if c.is_ascii_digit() || (c == b'.' && !after_value && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let (tok, end) = number(text, i)?;
            out.push(Token { tok, span: Span::new(start, end) });
            i = end;
            continue;
        }
        if c == b'\'' || c == b'"' {
            let (s, end) = string(text, i)?;
            let tok = if c == b'\'' { Tok::Single(s) } else { Tok::Double(s) };
            out.push(Token { tok, span: Span::new(start, end) });
            i = end;
            continue;
        }
        if c == b'{' || c == b'}' {
            let sym = if c == b'{' { "{" } else { "}" };
            out.push(Token { tok: Tok::Sym(sym), span: Span::new(i, i + 1) });
            i += 1;
            continue;
        }
        if let Some(sym) = SYMBOLS.iter().find(|s| text[i..].starts_with(**s)) {
            out.push(Token { tok: Tok::Sym(sym), span: Span::new(i, i + sym.len()) });
            i += sym.len();
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or('?');
        return Err(SqlError::at(
            text,
            Span::new(i, i + ch.len_utf8()),
            format!("unexpected character '{ch}'"),
        ));
    }
    out.push(Token { tok: Tok::Eof, span: Span::new(b.len(), b.len()) });
    Ok(out)
}

fn number(text: &str, start: usize) -> Result<(Tok, usize), SqlError> {
    let b = text.as_bytes();
    let mut i = start;
    let mut whole = true;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        whole = false;
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'-' || b[j] == b'+') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            whole = false;
            i = j;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    if i < b.len() && (b[i].is_ascii_alphabetic() || b[i] == b'_') {
        let mut end = i;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        return Err(SqlError::at(
            text,
            Span::new(start, end),
            format!(
                "'{}' is not a number or a name (names cannot start with a digit; use get(obj, \"{}\"))",
                &text[start..end],
                &text[start..end]
            ),
        ));
    }
    let s = &text[start..i];
    if whole && let Ok(n) = s.parse::<i64>() {
        return Ok((Tok::Int(n), i));
    }
    match s.parse::<f64>() {
        Ok(d) if d.is_finite() => Ok((Tok::Decimal(d), i)),
        _ => Err(SqlError::at(text, Span::new(start, i), format!("the number {s} is out of range"))),
    }
}

fn string(text: &str, start: usize) -> Result<(String, usize), SqlError> {
    let quote = text.as_bytes()[start] as char;
    let mut out = String::new();
    let mut chars = text[start + 1..].char_indices().peekable();
    while let Some((off, c)) = chars.next() {
        let at = start + 1 + off;
        if c == quote {
            // A doubled quote is one quote character.
            if chars.peek().is_some_and(|(_, n)| *n == quote) {
                chars.next();
                out.push(quote);
                continue;
            }
            return Ok((out, at + 1));
        }
        if c == '\\' {
            // \n \t \r, escaped quotes and backslashes; any other escape (\d, \w, \. in a regular
            // expression) is kept as written.
            let Some((_, e)) = chars.next() else { break };
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '\\' | '\'' | '"' => out.push(e),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
            continue;
        }
        out.push(c);
    }
    Err(SqlError::at(
        text,
        Span::new(start, text.len()),
        format!("the string starting here has no closing {quote}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens() {
        assert_eq!(
            toks("SELECT a.b, 'x''y' <> 1.5e2 FROM 't/#'"),
            vec![
                Tok::Ident("SELECT".into()),
                Tok::Ident("a".into()),
                Tok::Sym("."),
                Tok::Ident("b".into()),
                Tok::Sym(","),
                Tok::Single("x'y".into()),
                Tok::Sym("<>"),
                Tok::Decimal(150.0),
                Tok::Ident("FROM".into()),
                Tok::Single("t/#".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks(r#""a\"b" 12 .5"#),
            vec![Tok::Double("a\"b".into()), Tok::Int(12), Tok::Decimal(0.5), Tok::Eof]
        );
    }

    #[test]
    fn errors_name_the_place() {
        let e = lex("SELECT a FROM 'x").unwrap_err();
        assert_eq!(e.to_string(), "line 1, column 15: the string starting here has no closing '");
        let e = lex("SELECT\n  a ; b").unwrap_err();
        assert_eq!((e.line, e.column), (2, 5));
        assert!(lex("SELECT 2abc FROM 'x'").unwrap_err().message.contains("get(obj"));
    }
}
