//! Pagination: opaque `nextToken`s and `maxResults` bounds, as AWS list operations use them.
//!
//! A token names the last key of the page it ends; the next page starts strictly after it. Tokens
//! are versioned base64 so that clients treat them as opaque and a tampered token is rejected with a
//! clear error instead of silently restarting the listing.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::names::ValidationError;

const PREFIX: &str = "tb1:";

/// Encodes the key a page ended on as a `nextToken`.
pub fn encode_token(last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{PREFIX}{last_key}"))
}

/// Why a `nextToken` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("The pagination token '{0}' is invalid: pass the nextToken of the previous response unchanged")]
pub struct TokenError(pub String);

/// Decodes a `nextToken` into the key the previous page ended on.
pub fn decode_token(token: &str) -> Result<String, TokenError> {
    let err = || TokenError(token.to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).map_err(|_| err())?;
    let text = String::from_utf8(bytes).map_err(|_| err())?;
    text.strip_prefix(PREFIX).map(str::to_owned).ok_or_else(err)
}

/// One page of a listing: the items and, when more remain, the token for the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items on this page, in listing order.
    pub items: Vec<T>,
    /// The token for the next page, if there is one.
    pub next_token: Option<String>,
}

/// Takes one page from `items` (already in key order, starting after the request's token) of at
/// most `max` items; `key` gives the key a token names.
pub fn page<T>(items: impl Iterator<Item = T>, max: usize, key: impl Fn(&T) -> String) -> Page<T> {
    let mut out = Vec::with_capacity(max.min(256));
    let mut items = items.peekable();
    while out.len() < max {
        match items.next() {
            Some(item) => out.push(item),
            None => break,
        }
    }
    let next_token =
        if items.peek().is_some() { out.last().map(|last| encode_token(&key(last))) } else { None };
    Page { items: out, next_token }
}

/// Checks an integer request member against inclusive bounds, with AWS's message.
pub fn check_range(field: &str, value: i64, min: i64, max: i64) -> Result<i64, ValidationError> {
    if value < min {
        return Err(ValidationError::new(
            field,
            value,
            format!("Member must have value greater than or equal to {min}"),
        ));
    }
    if value > max {
        return Err(ValidationError::new(
            field,
            value,
            format!("Member must have value less than or equal to {max}"),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for key in ["lamp-1", "", "a:b_c", "ü/ß#+"] {
            assert_eq!(decode_token(&encode_token(key)).unwrap(), key);
        }
    }

    #[test]
    fn tampered_tokens_are_refused() {
        assert!(decode_token("not a token").is_err());
        assert!(decode_token(&URL_SAFE_NO_PAD.encode("v0:lamp")).is_err());
        assert!(decode_token("").is_err());
        let err = decode_token("zzz").unwrap_err();
        assert!(err.to_string().contains("'zzz'"));
    }

    #[test]
    fn pages() {
        let p = page(1..=5, 2, |n| n.to_string());
        assert_eq!(p.items, vec![1, 2]);
        assert_eq!(decode_token(p.next_token.as_deref().unwrap()).unwrap(), "2");
        let last = page(4..=5, 2, |n| n.to_string());
        assert_eq!(last.items, vec![4, 5]);
        assert_eq!(last.next_token, None);
        let empty = page(std::iter::empty::<i32>(), 3, |n| n.to_string());
        assert!(empty.items.is_empty() && empty.next_token.is_none());
    }

    #[test]
    fn ranges() {
        assert_eq!(check_range("maxResults", 250, 1, 250).unwrap(), 250);
        assert_eq!(
            check_range("maxResults", 0, 1, 250).unwrap_err().constraint,
            "Member must have value greater than or equal to 1"
        );
        assert!(check_range("maxResults", 251, 1, 250).is_err());
    }
}
