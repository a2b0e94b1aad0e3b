//! Resource tags: validation and the per-resource tag map, as `TagResource` and friends use them.

use std::collections::BTreeMap;

use crate::names::{StringRule, ValidationError};

/// Tags one resource may carry (AWS's `TagMap` limit).
pub const MAX_TAGS: usize = 50;

fn tag_key_char(c: char) -> bool {
    // `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`
    c.is_alphanumeric() || c == ' ' || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
}

fn any_char(_: char) -> bool {
    true
}

/// Tag keys: 1–128 letters, numbers, spaces and `_.:/=+-@`.
pub const TAG_KEY: StringRule =
    StringRule { min: 1, max: 128, pattern: "^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$", allowed: tag_key_char };

/// Tag values: 0–256 characters.
pub const TAG_VALUE: StringRule = StringRule { min: 0, max: 256, pattern: ".*", allowed: any_char };

/// The tags of one resource, sorted by key.
pub type Tags = BTreeMap<String, String>;

/// Why a tag change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// A key or value broke its rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A key used the reserved `aws:` prefix.
    #[error("Tag keys starting with 'aws:' are reserved for AWS use: '{0}'")]
    Reserved(String),
    /// The resource would carry more than [`MAX_TAGS`] tags.
    #[error("A resource can have at most {MAX_TAGS} tags; this request would leave it with {0}")]
    TooMany(usize),
}

/// Checks one tag.
pub fn check_tag(key: &str, value: &str) -> Result<(), TagError> {
    TAG_KEY.check("tags.member.Key", key)?;
    TAG_VALUE.check("tags.member.Value", value)?;
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(TagError::Reserved(key.to_owned()));
    }
    Ok(())
}

/// Returns `existing` with `new` applied (a repeated key takes the new value), after checking every
/// tag and the count. `existing` is not touched when the result is an error.
pub fn merged(existing: &Tags, new: &[(String, String)]) -> Result<Tags, TagError> {
    let mut out = existing.clone();
    for (k, v) in new {
        check_tag(k, v)?;
        out.insert(k.clone(), v.clone());
    }
    if out.len() > MAX_TAGS {
        return Err(TagError::TooMany(out.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn merges_and_checks() {
        let base = merged(&Tags::new(), &[t("env", "dev"), t("owner", "ana")]).unwrap();
        let next = merged(&base, &[t("env", "prod")]).unwrap();
        assert_eq!(next["env"], "prod");
        assert_eq!(next.len(), 2);
        assert!(matches!(merged(&base, &[t("aws:x", "1")]), Err(TagError::Reserved(_))));
        assert!(matches!(merged(&base, &[t("", "1")]), Err(TagError::Invalid(_))));
        assert!(matches!(merged(&base, &[t("a{b", "1")]), Err(TagError::Invalid(_))));
        let many: Vec<_> = (0..51).map(|i| t(&format!("k{i}"), "v")).collect();
        assert!(matches!(merged(&Tags::new(), &many), Err(TagError::TooMany(51))));
    }
}
