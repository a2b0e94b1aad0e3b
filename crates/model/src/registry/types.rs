//! The registry's records: things, thing types and thing groups as Thingbox stores them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::certs::{CaCertificate, Certificate, ThingPrincipalType};
use super::policies::{IotPolicy, Target};
use crate::Timestamp;
use crate::tags::Tags;

/// Attribute name → value.
pub type Attributes = BTreeMap<String, String>;

/// A thing in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Thing {
    /// The thing's name (its key).
    pub name: String,
    /// The opaque id AWS calls `thingId` (a UUID).
    pub id: String,
    /// The thing type, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// Attributes.
    #[serde(default)]
    pub attributes: Attributes,
    /// Starts at 1; +1 on every update.
    pub version: i64,
    /// The billing group, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_group: Option<String>,
    /// When the thing was created.
    pub created: Timestamp,
}

/// One MQTT 5 user property a thing type propagates from thing or connection attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropagatingAttribute {
    /// The user property key set on messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_property_key: Option<String>,
    /// The thing attribute whose value is propagated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_attribute: Option<String>,
    /// The connection attribute whose value is propagated (`iot:ClientId`, `iot:Thing.ThingName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_attribute: Option<String>,
}

/// A thing type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingType {
    /// The type's name (its key).
    pub name: String,
    /// The opaque `thingTypeId`.
    pub id: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Attribute names declared searchable.
    #[serde(default)]
    pub searchable_attributes: Vec<String>,
    /// MQTT 5 propagating attributes, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagating_attributes: Option<Vec<PropagatingAttribute>>,
    /// Whether the type is deprecated (no new things may use it).
    #[serde(default)]
    pub deprecated: bool,
    /// When it was last deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecation_date: Option<Timestamp>,
    /// When it was created.
    pub created: Timestamp,
    /// Tags.
    #[serde(default)]
    pub tags: Tags,
}

/// A static thing group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingGroup {
    /// The group's name (its key).
    pub name: String,
    /// The opaque `thingGroupId`.
    pub id: String,
    /// The parent group, fixed at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Attributes.
    #[serde(default)]
    pub attributes: Attributes,
    /// Starts at 1; +1 on every update.
    pub version: i64,
    /// When it was created.
    pub created: Timestamp,
    /// Tags.
    #[serde(default)]
    pub tags: Tags,
}

/// One change to persist, produced by every successful mutating operation, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Insert or replace a thing.
    PutThing(Thing),
    /// Remove a thing (its memberships are removed by their own changes).
    DeleteThing(String),
    /// Insert or replace a thing type.
    PutThingType(ThingType),
    /// Remove a thing type.
    DeleteThingType(String),
    /// Insert or replace a thing group.
    PutThingGroup(ThingGroup),
    /// Remove a thing group.
    DeleteThingGroup(String),
    /// Add `thing` to `group`.
    AddMember {
        /// Group name.
        group: String,
        /// Thing name.
        thing: String,
    },
    /// Remove `thing` from `group`.
    RemoveMember {
        /// Group name.
        group: String,
        /// Thing name.
        thing: String,
    },
    /// Insert or replace a device certificate.
    PutCertificate(Certificate),
    /// Remove a device certificate (by id).
    DeleteCertificate(String),
    /// Insert or replace a CA certificate.
    PutCaCertificate(CaCertificate),
    /// Remove a CA certificate (by id).
    DeleteCaCertificate(String),
    /// Attach a principal (certificate ARN) to a thing.
    AttachPrincipal {
        /// Thing name.
        thing: String,
        /// Principal ARN.
        principal: String,
        /// Exclusive or not.
        kind: ThingPrincipalType,
    },
    /// Detach a principal from a thing.
    DetachPrincipal {
        /// Thing name.
        thing: String,
        /// Principal ARN.
        principal: String,
    },
    /// Insert or replace a policy (with all its versions).
    PutPolicy(IotPolicy),
    /// Remove a policy.
    DeletePolicy(String),
    /// Attach a policy to a target.
    AttachPolicy {
        /// Policy name.
        policy: String,
        /// Target.
        target: Target,
    },
    /// Detach a policy from a target.
    DetachPolicy {
        /// Policy name.
        policy: String,
        /// Target.
        target: Target,
    },
}
