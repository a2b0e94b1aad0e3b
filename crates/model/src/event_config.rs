//! Which AWS IoT event messages are published (`UpdateEventConfigurations`,
//! `DescribeEventConfigurations`). Lifecycle events (`$aws/events/presence/…`,
//! `$aws/events/subscriptions/…`) are always on, as in AWS; the types here start disabled.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// An event type that can be switched on and off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    /// `$aws/events/thing/…`.
    Thing,
    /// `$aws/events/thingGroup/…`.
    ThingGroup,
    /// `$aws/events/thingType/…`.
    ThingType,
    /// `$aws/events/thingGroupMembership/…`.
    ThingGroupMembership,
    /// `$aws/events/thingGroupHierarchy/…`.
    ThingGroupHierarchy,
    /// `$aws/events/thingTypeAssociation/…`.
    ThingTypeAssociation,
    /// `$aws/events/job/…`.
    Job,
    /// `$aws/events/jobExecution/…`.
    JobExecution,
    /// `$aws/events/policy/…`.
    Policy,
    /// `$aws/events/certificate/…`.
    Certificate,
    /// `$aws/events/caCertificate/…`.
    CaCertificate,
}

impl EventType {
    /// Every type, in AWS's order of DescribeEventConfigurations.
    pub const ALL: [Self; 11] = [
        Self::CaCertificate,
        Self::Certificate,
        Self::Job,
        Self::JobExecution,
        Self::Policy,
        Self::Thing,
        Self::ThingGroup,
        Self::ThingGroupHierarchy,
        Self::ThingGroupMembership,
        Self::ThingType,
        Self::ThingTypeAssociation,
    ];

    /// AWS's word.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Thing => "THING",
            Self::ThingGroup => "THING_GROUP",
            Self::ThingType => "THING_TYPE",
            Self::ThingGroupMembership => "THING_GROUP_MEMBERSHIP",
            Self::ThingGroupHierarchy => "THING_GROUP_HIERARCHY",
            Self::ThingTypeAssociation => "THING_TYPE_ASSOCIATION",
            Self::Job => "JOB",
            Self::JobExecution => "JOB_EXECUTION",
            Self::Policy => "POLICY",
            Self::Certificate => "CERTIFICATE",
            Self::CaCertificate => "CA_CERTIFICATE",
        }
    }

    /// Parses AWS's word.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// The switches, with when they were first and last changed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EventConfigurations {
    /// Enabled types (absent: disabled).
    pub enabled: BTreeMap<EventType, bool>,
    /// First changed.
    pub created: Option<Timestamp>,
    /// Last changed.
    pub modified: Option<Timestamp>,
}

/// Why an update was refused (`InvalidRequestException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EventConfigError(pub String);

impl EventConfigurations {
    /// Whether `t` is published.
    pub fn is_enabled(&self, t: EventType) -> bool {
        self.enabled.get(&t).copied().unwrap_or(false)
    }

    /// Applies UpdateEventConfigurations' `eventConfigurations` (type word → `Enabled`), all or
    /// nothing.
    pub fn update(
        &mut self,
        changes: &BTreeMap<String, Option<bool>>,
        now: Timestamp,
    ) -> Result<(), EventConfigError> {
        let mut parsed = Vec::with_capacity(changes.len());
        for (word, enabled) in changes {
            let t = EventType::parse(word).ok_or_else(|| {
                EventConfigError(format!(
                    "'{word}' is not an event type; expected one of {}",
                    EventType::ALL.map(EventType::as_str).join(", ")
                ))
            })?;
            if let Some(on) = enabled {
                parsed.push((t, *on));
            }
        }
        self.enabled.extend(parsed);
        self.created.get_or_insert(now);
        self.modified = Some(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_are_all_or_nothing() {
        let mut c = EventConfigurations::default();
        assert!(!c.is_enabled(EventType::Job));
        let ok = BTreeMap::from([("JOB".to_owned(), Some(true)), ("THING".to_owned(), None)]);
        c.update(&ok, Timestamp(5)).unwrap();
        assert!(c.is_enabled(EventType::Job));
        assert!(!c.is_enabled(EventType::Thing));
        assert_eq!((c.created, c.modified), (Some(Timestamp(5)), Some(Timestamp(5))));
        let bad = BTreeMap::from([("JOB".to_owned(), Some(false)), ("JOBS".to_owned(), Some(true))]);
        let err = c.update(&bad, Timestamp(9)).unwrap_err();
        assert!(err.0.contains("'JOBS' is not an event type"), "{err}");
        assert!(c.is_enabled(EventType::Job), "a refused update changed nothing");
        assert_eq!(c.modified, Some(Timestamp(5)));
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
    }
}
