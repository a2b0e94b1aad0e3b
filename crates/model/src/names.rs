//! AWS IoT's naming rules and limits for registry names, attributes and descriptions.
//!
//! Every check produces a [`ValidationError`] whose text is the one AWS's request validation uses
//! (`1 validation error detected: Value 'x' at 'thingName' failed to satisfy constraint: …`), so a
//! person sees which field was wrong, what the value was and which rule it broke.

use std::fmt;

/// One broken constraint on one request field, rendered the way AWS renders it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
)]
pub struct ValidationError {
    /// The request member, as it appears on the wire (`thingName`, `attributePayload.attributes`).
    pub field: String,
    /// The offending value, shortened when it is very long.
    pub value: String,
    /// The rule, e.g. `Member must have length less than or equal to 128`.
    pub constraint: String,
}

impl ValidationError {
    /// Builds an error for `field` holding `value` that broke `constraint`.
    pub fn new(field: impl Into<String>, value: impl fmt::Display, constraint: impl Into<String>) -> Self {
        let mut value = value.to_string();
        if value.chars().count() > 200 {
            value = value.chars().take(200).collect::<String>() + "…";
        }
        Self { field: field.into(), value, constraint: constraint.into() }
    }
}

/// A string rule: length bounds (in characters) and an allowed-character class named by its regex.
#[derive(Debug, Clone, Copy)]
pub struct StringRule {
    /// Minimum length in characters.
    pub min: usize,
    /// Maximum length in characters.
    pub max: usize,
    /// The pattern AWS publishes for the member (shown in messages).
    pub pattern: &'static str,
    /// Whether one character is allowed by the pattern.
    pub allowed: fn(char) -> bool,
}

impl StringRule {
    /// Checks `value` as the request member `field`.
    pub fn check(&self, field: &str, value: &str) -> Result<(), ValidationError> {
        let len = value.chars().count();
        if len < self.min {
            return Err(ValidationError::new(
                field,
                value,
                format!("Member must have length greater than or equal to {}", self.min),
            ));
        }
        if len > self.max {
            return Err(ValidationError::new(
                field,
                value,
                format!("Member must have length less than or equal to {}", self.max),
            ));
        }
        if !value.chars().all(self.allowed) {
            return Err(ValidationError::new(
                field,
                value,
                format!("Member must satisfy regular expression pattern: {}", self.pattern),
            ));
        }
        Ok(())
    }
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-')
}

fn attribute_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ',' | '@' | '/' | ':' | '#' | '-')
}

fn attribute_value_char(c: char) -> bool {
    attribute_name_char(c) || matches!(c, '=' | '[' | ']')
}

fn graph_or_space(c: char) -> bool {
    // `[\p{Graph}\x20]*`: any visible character or a plain space.
    c == ' ' || !(c.is_control() || c.is_whitespace())
}

/// Thing, thing type, thing group and billing group names: 1–128 of `[a-zA-Z0-9:_-]`.
pub const RESOURCE_NAME: StringRule =
    StringRule { min: 1, max: 128, pattern: "[a-zA-Z0-9:_-]+", allowed: name_char };

/// Attribute names: 1–128 of `[a-zA-Z0-9_.,@/:#-]`.
pub const ATTRIBUTE_NAME: StringRule =
    StringRule { min: 1, max: 128, pattern: "[a-zA-Z0-9_.,@/:#-]+", allowed: attribute_name_char };

/// Attribute values: 0–800 of `[a-zA-Z0-9_.,@/:#=\[\]-]` (empty removes the attribute on merge).
pub const ATTRIBUTE_VALUE: StringRule =
    StringRule { min: 0, max: 800, pattern: "[a-zA-Z0-9_.,@/:#=\\[\\]-]*", allowed: attribute_value_char };

/// Thing type and thing group descriptions: up to 2028 visible characters or spaces.
pub const DESCRIPTION: StringRule =
    StringRule { min: 0, max: 2028, pattern: "[\\p{Graph}\\x20]*", allowed: graph_or_space };

/// Attributes a thing may have without a thing type.
pub const MAX_ATTRIBUTES_UNTYPED: usize = 3;
/// Attributes a thing may have with a thing type.
pub const MAX_ATTRIBUTES_TYPED: usize = 50;
/// Searchable attributes a thing type may declare.
pub const MAX_SEARCHABLE_ATTRIBUTES: usize = 3;
/// Attributes a thing group may have.
pub const MAX_GROUP_ATTRIBUTES: usize = 50;
/// Static thing groups one thing may belong to.
pub const MAX_GROUPS_PER_THING: usize = 10;
/// Depth of a thing group hierarchy (a root group is at depth 1).
pub const MAX_GROUP_DEPTH: usize = 7;
/// Direct children of one thing group.
pub const MAX_GROUP_CHILDREN: usize = 100;

/// Checks a thing, thing type, thing group or billing group name held in `field`.
pub fn check_resource_name(field: &str, value: &str) -> Result<(), ValidationError> {
    RESOURCE_NAME.check(field, value)
}

/// Checks one attribute name and value held under `field` (e.g. `attributePayload.attributes`).
pub fn check_attribute(field: &str, name: &str, value: &str) -> Result<(), ValidationError> {
    ATTRIBUTE_NAME.check(&format!("{field}.key"), name)?;
    ATTRIBUTE_VALUE.check(&format!("{field}.{name}"), value)
}

/// Percent-encodes one URL path segment (RFC 3986's unreserved characters stay as they are): a
/// name put in a REST path, or an OTA file's key.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names() {
        assert!(check_resource_name("thingName", "lamp-1").is_ok());
        assert!(check_resource_name("thingName", "a:b_c-D9").is_ok());
        assert!(check_resource_name("thingName", &"x".repeat(128)).is_ok());
        let too_long = check_resource_name("thingName", &"x".repeat(129)).unwrap_err();
        assert_eq!(too_long.constraint, "Member must have length less than or equal to 128");
        let empty = check_resource_name("thingName", "").unwrap_err();
        assert_eq!(empty.constraint, "Member must have length greater than or equal to 1");
        let bad = check_resource_name("thingName", "lamp 1").unwrap_err();
        assert_eq!(
            bad.to_string(),
            "1 validation error detected: Value 'lamp 1' at 'thingName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [a-zA-Z0-9:_-]+"
        );
        assert!(check_resource_name("thingName", "lämp").is_err());
        assert!(check_resource_name("thingName", "a/b").is_err());
    }

    #[test]
    fn attributes() {
        assert!(check_attribute("attributes", "serial.no", "A-12=[x]").is_ok());
        assert!(check_attribute("attributes", "color", "").is_ok());
        assert!(check_attribute("attributes", "", "x").is_err());
        assert!(check_attribute("attributes", "color", "red blue").is_err());
        assert!(check_attribute("attributes", "color", &"r".repeat(801)).is_err());
        assert!(check_attribute("attributes", &"k".repeat(129), "x").is_err());
    }

    #[test]
    fn descriptions_allow_visible_text_and_spaces() {
        assert!(DESCRIPTION.check("d", "A lamp, in the hall (2nd floor) — ünïcode ok").is_ok());
        assert!(DESCRIPTION.check("d", "tab\there").is_err());
        assert!(DESCRIPTION.check("d", &"d".repeat(2029)).is_err());
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let e = check_resource_name("thingName", &"y".repeat(1000)).unwrap_err();
        assert!(e.value.chars().count() <= 201);
    }

    #[test]
    fn encodes_path_segments() {
        assert_eq!(encode_segment("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(encode_segment("a/b c%é"), "a%2Fb%20c%25%C3%A9");
    }
}
