//! MQTT topic names and filters as AWS IoT treats them: validation against AWS's limits, matching
//! with AWS's rules, and the reserved `$aws/...` topics as a closed enum.
//!
//! AWS's rules that differ from plain MQTT 3.1.1: `#` does not match its parent level
//! (`a/#` matches `a/` and `a/b` but not `a`), and a filter whose first level is a wildcard never
//! matches a topic that starts with `$`.

/// Longest topic name or filter, in bytes.
pub const MAX_TOPIC_BYTES: usize = 256;
/// Largest payload of one message, in bytes (AWS IoT's 128 KB).
pub const MAX_PAYLOAD_BYTES: usize = 128 * 1024;
/// Most levels (7 slashes), not counting a `$aws/rules/<rule>/` or `$share/<group>/` prefix.
pub const MAX_TOPIC_LEVELS: usize = 8;

/// Why a topic name or filter is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Empty.
    #[error("the topic is empty")]
    Empty,
    /// Over 256 bytes.
    #[error("the topic '{0}…' is longer than {MAX_TOPIC_BYTES} bytes")]
    TooLong(String),
    /// Over 8 levels.
    #[error("the topic '{0}' has {1} levels; AWS IoT allows at most {MAX_TOPIC_LEVELS} (7 slashes)")]
    TooDeep(String, usize),
    /// A wildcard in a topic name.
    #[error("the topic name '{0}' contains a wildcard (+ or #); wildcards are only allowed in subscriptions")]
    WildcardInName(String),
    /// A misplaced wildcard in a filter.
    #[error(
        "the topic filter '{0}' is malformed: + and # must stand alone in their level, and # must be last"
    )]
    BadWildcard(String),
    /// A NUL character.
    #[error("the topic '{0}' contains a NUL character")]
    Nul(String),
}

fn significant_levels(topic: &str) -> usize {
    let mut rest = topic;
    if let Some(r) = topic.strip_prefix("$aws/rules/") {
        rest = r.split_once('/').map_or("", |(_, after)| after);
    } else if let Some(r) = topic.strip_prefix("$share/") {
        rest = r.split_once('/').map_or("", |(_, after)| after);
    }
    rest.split('/').count()
}

fn check_common(topic: &str) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    if topic.len() > MAX_TOPIC_BYTES {
        let mut cut = 40;
        while !topic.is_char_boundary(cut) {
            cut -= 1;
        }
        return Err(TopicError::TooLong(topic[..cut].to_owned()));
    }
    if topic.contains('\0') {
        return Err(TopicError::Nul(topic.replace('\0', "\\0")));
    }
    let levels = significant_levels(topic);
    if levels > MAX_TOPIC_LEVELS {
        return Err(TopicError::TooDeep(topic.to_owned(), levels));
    }
    Ok(())
}

/// Checks a topic name a client publishes to.
pub fn check_name(topic: &str) -> Result<(), TopicError> {
    check_common(topic)?;
    if topic.contains(['+', '#']) {
        return Err(TopicError::WildcardInName(topic.to_owned()));
    }
    Ok(())
}

/// Checks a topic filter a client subscribes to.
pub fn check_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter)?;
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        let bad = (level.contains('+') && *level != "+")
            || (level.contains('#') && (*level != "#" || i != levels.len() - 1));
        if bad {
            return Err(TopicError::BadWildcard(filter.to_owned()));
        }
    }
    Ok(())
}

/// Whether `filter` has a wildcard.
pub fn has_wildcard(filter: &str) -> bool {
    filter.contains(['+', '#'])
}

/// Whether `filter` matches `topic`, with AWS IoT's rules (see the module doc).
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), Some(_)) => return true,
            (Some("#"), None) => return false,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Why `filter` does not match `topic`, for a person (`None`: it matches). Agrees with
/// [`matches`] on every input (a test checks it).
pub fn why_no_match(filter: &str, topic: &str) -> Option<String> {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return Some(format!(
            "'{filter}' starts with a wildcard, and on AWS IoT a filter starting with + or # never \
             matches a topic starting with $ (subscribe to '{}' or a filter that names it)",
            topic
        ));
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    let mut level = 0;
    loop {
        level += 1;
        match (f.next(), t.next()) {
            (Some("#"), Some(_)) | (None, None) => return None,
            (Some("#"), None) => {
                return Some(format!(
                    "'{filter}' ends in /#, which on AWS IoT does not match its parent level: '{topic}' \
                     has no level {level}"
                ));
            }
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => {
                return Some(format!("level {level} differs: the filter has '{a}', the topic '{b}'"));
            }
            (Some(_), None) => {
                return Some(format!("the topic has {} levels; the filter needs more", level - 1));
            }
            (None, Some(_)) => {
                return Some(format!(
                    "the filter has {} levels and the topic more; only a final # matches deeper levels",
                    level - 1
                ));
            }
        }
    }
}

/// The reserved topics Thingbox's own services answer on or publish to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved<'a> {
    /// `$aws/things/{thing}/shadow[/name/{shadow}]/{rest}`
    Shadow {
        /// Thing name.
        thing: &'a str,
        /// Named shadow, if any.
        shadow: Option<&'a str>,
        /// The operation path after `shadow/` (or `shadow/name/{n}/`), e.g. `update` or `get/accepted`.
        op: &'a str,
    },
    /// `$aws/things/{thing}/jobs/{rest}`
    Jobs {
        /// Thing name.
        thing: &'a str,
        /// The path after `jobs/`.
        op: &'a str,
    },
    /// `$aws/certificates/create…` and `$aws/provisioning-templates/…` (fleet provisioning; the
    /// path after `$aws/`).
    Provisioning(&'a str),
    /// `$aws/events/...` (published by the broker, not by clients).
    Event(&'a str),
    /// `$aws/rules/{rule}/...` (basic ingest).
    Rule {
        /// Rule name.
        rule: &'a str,
        /// The topic after the prefix.
        topic: &'a str,
    },
    /// Any other `$aws/...` topic.
    OtherAws(&'a str),
    /// Any other topic starting with `$`.
    OtherDollar(&'a str),
}

/// Whether a client (over MQTT or HTTP) may publish to `topic`: ordinary topics, and the shadow,
/// jobs, fleet-provisioning and basic-ingest reserved topics (never retained); no other `$` topic.
pub fn client_may_publish(topic: &str, retain: bool) -> bool {
    match reserved(topic) {
        None => true,
        Some(
            Reserved::Shadow { .. }
            | Reserved::Jobs { .. }
            | Reserved::Rule { .. }
            | Reserved::Provisioning(_),
        ) => !retain,
        Some(_) => false,
    }
}

/// Classifies a topic that starts with `$`; `None` for ordinary topics.
pub fn reserved(topic: &str) -> Option<Reserved<'_>> {
    if !topic.starts_with('$') {
        return None;
    }
    let Some(rest) = topic.strip_prefix("$aws/") else { return Some(Reserved::OtherDollar(topic)) };
    if let Some(r) = rest.strip_prefix("things/")
        && let Some((thing, after)) = r.split_once('/')
    {
        if let Some(op) = after.strip_prefix("shadow/") {
            if let Some(named) = op.strip_prefix("name/")
                && let Some((shadow, op)) = named.split_once('/')
            {
                return Some(Reserved::Shadow { thing, shadow: Some(shadow), op });
            }
            return Some(Reserved::Shadow { thing, shadow: None, op });
        }
        if let Some(op) = after.strip_prefix("jobs/") {
            return Some(Reserved::Jobs { thing, op });
        }
    }
    if rest.starts_with("certificates/create") || rest.starts_with("provisioning-templates/") {
        return Some(Reserved::Provisioning(rest));
    }
    if let Some(e) = rest.strip_prefix("events/") {
        return Some(Reserved::Event(e));
    }
    if let Some(r) = rest.strip_prefix("rules/") {
        let (rule, topic) = r.split_once('/').unwrap_or((r, ""));
        return Some(Reserved::Rule { rule, topic });
    }
    Some(Reserved::OtherAws(topic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_matching_rules() {
        let cases = [
            ("a/b", "a/b", true),
            ("a/+", "a/b", true),
            ("a/+", "a/b/c", false),
            ("a/#", "a/b/c", true),
            ("a/#", "a/", true),
            ("a/#", "a", false), // AWS: # does not match the parent level
            ("#", "a", true),
            ("#", "$aws/things/x/shadow/update", false),
            ("+/things/#", "$aws/things/x", false),
            ("$aws/things/+/shadow/#", "$aws/things/lamp/shadow/update/accepted", true),
            ("$aws/#", "$aws/events/presence/connected/c", true),
            ("a/+/c", "a//c", true),
            ("A/b", "a/b", false),
            ("a/b", "a/b/", false),
        ];
        for (f, t, want) in cases {
            assert_eq!(matches(f, t), want, "{f} vs {t}");
            assert_eq!(why_no_match(f, t).is_none(), want, "{f} vs {t}: {:?}", why_no_match(f, t));
        }
    }

    /// The explanation agrees with the matcher on every pair of a small alphabet of filters and
    /// topics, and names the reason AWS users trip on.
    #[test]
    fn why_no_match_agrees_with_matches() {
        let levels = ["a", "b", "+", "#", "$aws", ""];
        let mut filters = vec![];
        for x in levels {
            filters.push(x.to_owned());
            for y in levels {
                filters.push(format!("{x}/{y}"));
                for z in levels {
                    filters.push(format!("{x}/{y}/{z}"));
                }
            }
        }
        let topics: Vec<String> = filters.iter().filter(|f| !f.contains(['+', '#'])).cloned().collect();
        for f in filters.iter().filter(|f| check_filter(f).is_ok()) {
            for t in &topics {
                assert_eq!(why_no_match(f, t).is_none(), matches(f, t), "{f} vs {t}");
            }
        }
        assert!(why_no_match("#", "$aws/things/x/shadow/update").unwrap().contains("starting with $"));
        assert!(why_no_match("a/#", "a").unwrap().contains("parent level"));
        assert!(why_no_match("a/b", "a/c").unwrap().contains("level 2 differs"));
    }

    #[test]
    fn validation() {
        assert!(check_name("a/b/c").is_ok());
        assert!(matches!(check_name(""), Err(TopicError::Empty)));
        assert!(matches!(check_name("a/+"), Err(TopicError::WildcardInName(_))));
        assert!(matches!(check_name(&"x".repeat(257)), Err(TopicError::TooLong(_))));
        assert!(check_name("1/2/3/4/5/6/7/8").is_ok());
        assert!(matches!(check_name("1/2/3/4/5/6/7/8/9"), Err(TopicError::TooDeep(_, 9))));
        assert!(check_name("$aws/rules/r1/1/2/3/4/5/6/7/8").is_ok());
        assert!(check_filter("a/+/#").is_ok());
        assert!(check_filter("#").is_ok());
        assert!(matches!(check_filter("a/#/b"), Err(TopicError::BadWildcard(_))));
        assert!(matches!(check_filter("a/b+"), Err(TopicError::BadWildcard(_))));
        assert!(matches!(check_filter("a#"), Err(TopicError::BadWildcard(_))));
    }

    #[test]
    fn what_clients_may_publish() {
        assert!(client_may_publish("a/b", true));
        assert!(client_may_publish("$aws/things/t/shadow/update", false));
        assert!(!client_may_publish("$aws/things/t/shadow/update", true));
        assert!(client_may_publish("$aws/rules/r/x", false));
        assert!(client_may_publish("$aws/certificates/create/json", false));
        assert!(client_may_publish("$aws/provisioning-templates/t/provision/json", false));
        assert!(!client_may_publish("$aws/certificates/create/json", true));
        assert!(!client_may_publish("$aws/events/presence/connected/c", false));
        assert!(!client_may_publish("$SYS/x", false));
    }

    #[test]
    fn reserved_topics() {
        assert_eq!(reserved("a/b"), None);
        assert_eq!(
            reserved("$aws/things/lamp/shadow/update"),
            Some(Reserved::Shadow { thing: "lamp", shadow: None, op: "update" })
        );
        assert_eq!(
            reserved("$aws/things/lamp/shadow/name/cfg/get/accepted"),
            Some(Reserved::Shadow { thing: "lamp", shadow: Some("cfg"), op: "get/accepted" })
        );
        assert_eq!(
            reserved("$aws/things/lamp/jobs/notify"),
            Some(Reserved::Jobs { thing: "lamp", op: "notify" })
        );
        assert_eq!(
            reserved("$aws/events/presence/connected/c"),
            Some(Reserved::Event("presence/connected/c"))
        );
        assert_eq!(reserved("$aws/rules/r/a/b"), Some(Reserved::Rule { rule: "r", topic: "a/b" }));
        assert_eq!(reserved("$SYS/x"), Some(Reserved::OtherDollar("$SYS/x")));
    }
}
