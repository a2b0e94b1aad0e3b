//! The device registry as a state machine: things, thing types, static thing groups, memberships
//! and their tags, with every rule AWS IoT applies to them.
//!
//! Each mutating operation validates everything first and then either changes nothing and returns a
//! [`RegistryError`], or applies itself and returns the [`Change`]s to persist, in order. The engine
//! holds one [`Registry`] in memory for reads and writes those changes to storage before it answers.

mod certs;
mod policies;
mod types;

use std::collections::{BTreeMap, BTreeSet};

pub use certs::{
    CaCertificate, CaRegistration, CaStatus, CertFacts, CertMode, CertStatus, Certificate,
    ThingPrincipalType, cert_id_of_principal,
};
pub use policies::{
    IotPolicy, MAX_POLICIES_PER_CERT, MAX_POLICIES_PER_GROUP, MAX_POLICY_VERSIONS, POLICY_NAME,
    PolicyVersion, Target,
};
pub use types::{Attributes, Change, PropagatingAttribute, Thing, ThingGroup, ThingType};

use crate::Timestamp;
use crate::arn::{ResourceType, Scope};
use crate::names::{self, ValidationError};
use crate::paging::{self, Page, TokenError};
use crate::tags::{self, TagError, Tags};

/// Why a registry operation was refused. Each variant maps to one AWS error type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// `InvalidRequestException`.
    #[error("{0}")]
    InvalidRequest(String),
    /// `ResourceNotFoundException`.
    #[error("{0}")]
    NotFound(String),
    /// `ResourceAlreadyExistsException`, naming the existing resource.
    #[error("{message}")]
    AlreadyExists {
        /// What a person reads.
        message: String,
        /// The existing resource's ARN, in the caller's scope.
        arn: String,
        /// The existing resource's id.
        id: String,
    },
    /// `VersionConflictException`.
    #[error("{0}")]
    VersionConflict(String),
    /// `CertificateStateException` (406): the operation is not allowed in the certificate's state.
    #[error("{0}")]
    CertificateState(String),
    /// `CertificateValidationException` (400): the certificate is malformed or does not verify.
    #[error("{0}")]
    CertificateValidation(String),
    /// `RegistrationCodeValidationException` (400).
    #[error("{0}")]
    RegistrationCodeValidation(String),
    /// `DeleteConflictException` (409): something still depends on the resource.
    #[error("{0}")]
    DeleteConflict(String),
    /// `LimitExceededException` (410).
    #[error("{0}")]
    LimitExceeded(String),
    /// `MalformedPolicyException` (400).
    #[error("{0}")]
    MalformedPolicy(String),
    /// `VersionsLimitExceededException` (409).
    #[error("{0}")]
    VersionsLimitExceeded(String),
}

impl From<ValidationError> for RegistryError {
    fn from(e: ValidationError) -> Self {
        Self::InvalidRequest(e.to_string())
    }
}

impl From<TokenError> for RegistryError {
    fn from(e: TokenError) -> Self {
        Self::InvalidRequest(e.to_string())
    }
}

impl From<TagError> for RegistryError {
    fn from(e: TagError) -> Self {
        Self::InvalidRequest(e.to_string())
    }
}

type Result<T> = std::result::Result<T, RegistryError>;

/// An attribute payload as requests carry it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributePayload {
    /// The attributes given (`None` when the payload had no `attributes` member).
    pub attributes: Option<Attributes>,
    /// Upsert instead of replace; an empty value then removes the attribute.
    pub merge: bool,
}

/// What UpdateThing asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThingUpdate {
    /// A new thing type.
    pub type_name: Option<String>,
    /// Detach the thing type.
    pub remove_type: bool,
    /// New attributes.
    pub attributes: Option<AttributePayload>,
    /// Refuse unless the thing is at this version.
    pub expected_version: Option<i64>,
}

/// Filters for ListThings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThingFilter {
    /// Only things with this attribute.
    pub attribute_name: Option<String>,
    /// … whose value equals (or starts with, see `prefix`) this.
    pub attribute_value: Option<String>,
    /// Match `attribute_value` as a prefix.
    pub prefix: bool,
    /// Only things of this type.
    pub type_name: Option<String>,
}

/// Properties of a thing type as CreateThingType / UpdateThingType carry them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThingTypeProps {
    /// Description.
    pub description: Option<String>,
    /// Searchable attribute names.
    pub searchable_attributes: Option<Vec<String>>,
    /// MQTT 5 propagating attributes.
    pub propagating_attributes: Option<Vec<PropagatingAttribute>>,
}

/// Properties of a thing group as CreateThingGroup / UpdateThingGroup carry them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThingGroupProps {
    /// Description.
    pub description: Option<String>,
    /// Attributes.
    pub attributes: Option<AttributePayload>,
}

/// What every create operation needs from its caller besides the request: the scope ARNs are
/// rendered in, the id a new resource gets, and the time.
#[derive(Debug, Clone)]
pub struct NewResource<'a> {
    /// Region and account.
    pub scope: &'a Scope,
    /// The id for the resource if it is created (unused when the call is idempotent).
    pub id: String,
    /// Now.
    pub now: Timestamp,
}

/// The registry: every thing, thing type, thing group and membership.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    things: BTreeMap<String, Thing>,
    types: BTreeMap<String, ThingType>,
    groups: BTreeMap<String, ThingGroup>,
    /// thing → the groups it is a direct member of.
    memberships: BTreeMap<String, BTreeSet<String>>,
    /// group → its direct member things.
    members: BTreeMap<String, BTreeSet<String>>,
    /// Certificates, CA certificates and thing principals.
    certs: certs::CertState,
    /// Policies and their attachments.
    policies: policies::PolicyState,
}

fn not_found(kind: &str, name: &str) -> RegistryError {
    RegistryError::NotFound(format!("{kind} {name} does not exist"))
}

fn check_attributes(field: &str, attrs: &Attributes) -> Result<()> {
    for (k, v) in attrs {
        names::check_attribute(field, k, v)?;
    }
    Ok(())
}

/// Applies a payload to `current`: replace (dropping empty values) or merge (empty value removes).
fn apply_payload(current: &Attributes, payload: &AttributePayload) -> Attributes {
    let Some(given) = &payload.attributes else { return current.clone() };
    let mut out = if payload.merge { current.clone() } else { Attributes::new() };
    for (k, v) in given {
        if v.is_empty() {
            out.remove(k);
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

fn check_version(kind: &str, name: &str, expected: Option<i64>, actual: i64) -> Result<()> {
    match expected {
        Some(e) if e != actual => Err(RegistryError::VersionConflict(format!(
            "The version of {kind} {name} is {actual}, not the expected version {e}"
        ))),
        _ => Ok(()),
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a registry from stored records (as loaded at start-up): replays them as changes.
    pub fn from_changes(changes: impl IntoIterator<Item = Change>) -> Self {
        let mut r = Self::new();
        for c in changes {
            r.apply(&c);
        }
        r
    }

    /// Replays persisted changes (used by tests and by recovery).
    pub fn apply(&mut self, change: &Change) {
        self.policies.generation += 1;
        match change {
            Change::PutThing(t) => {
                self.things.insert(t.name.clone(), t.clone());
            }
            Change::DeleteThing(n) => {
                self.things.remove(n);
            }
            Change::PutThingType(t) => {
                self.types.insert(t.name.clone(), t.clone());
            }
            Change::DeleteThingType(n) => {
                self.types.remove(n);
            }
            Change::PutThingGroup(g) => {
                self.groups.insert(g.name.clone(), g.clone());
            }
            Change::DeleteThingGroup(n) => {
                self.groups.remove(n);
            }
            Change::AddMember { group, thing } => self.link(group, thing),
            Change::RemoveMember { group, thing } => self.unlink(group, thing),
            Change::PutCertificate(_)
            | Change::DeleteCertificate(_)
            | Change::PutCaCertificate(_)
            | Change::DeleteCaCertificate(_)
            | Change::AttachPrincipal { .. }
            | Change::DetachPrincipal { .. } => self.apply_cert_change(change),
            Change::PutPolicy(_)
            | Change::DeletePolicy(_)
            | Change::AttachPolicy { .. }
            | Change::DetachPolicy { .. } => self.apply_policy_change(change),
        }
    }

    fn link(&mut self, group: &str, thing: &str) {
        self.memberships.entry(thing.to_owned()).or_default().insert(group.to_owned());
        self.members.entry(group.to_owned()).or_default().insert(thing.to_owned());
    }

    fn unlink(&mut self, group: &str, thing: &str) {
        if let Some(set) = self.memberships.get_mut(thing) {
            set.remove(group);
            if set.is_empty() {
                self.memberships.remove(thing);
            }
        }
        if let Some(set) = self.members.get_mut(group) {
            set.remove(thing);
            if set.is_empty() {
                self.members.remove(group);
            }
        }
    }

    /// Applies `changes` to `self` and hands them back, so operations end in one expression.
    fn commit(&mut self, changes: Vec<Change>) -> Vec<Change> {
        for c in &changes {
            self.apply(c);
        }
        changes
    }

    /// Every thing, by name.
    pub fn things(&self) -> impl Iterator<Item = &Thing> {
        self.things.values()
    }

    /// Every thing type, by name.
    pub fn thing_types(&self) -> impl Iterator<Item = &ThingType> {
        self.types.values()
    }

    /// Every thing group, by name.
    pub fn thing_groups(&self) -> impl Iterator<Item = &ThingGroup> {
        self.groups.values()
    }

    /// Every policy, by name.
    pub fn policies(&self) -> impl Iterator<Item = &IotPolicy> {
        self.policies.policies.values()
    }

    /// Every certificate, by id.
    pub fn certificates(&self) -> impl Iterator<Item = &Certificate> {
        self.certs.certs.values()
    }

    /// Number of things.
    pub fn thing_count(&self) -> usize {
        self.things.len()
    }

    /// Number of thing types.
    pub fn thing_type_count(&self) -> usize {
        self.types.len()
    }

    /// Number of thing groups.
    pub fn thing_group_count(&self) -> usize {
        self.groups.len()
    }

    /// Number of device certificates.
    pub fn certificate_count(&self) -> usize {
        self.certs.certs.len()
    }

    /// Number of policies.
    pub fn policy_count(&self) -> usize {
        self.policies.policies.len()
    }

    // ---------------------------------------------------------------- things

    fn check_thing_type_usable(&self, type_name: &str) -> Result<()> {
        names::check_resource_name("thingTypeName", type_name)?;
        let ty = self.types.get(type_name).ok_or_else(|| not_found("Thing type", type_name))?;
        if ty.deprecated {
            return Err(RegistryError::InvalidRequest(format!(
                "Thing type {type_name} is deprecated: no thing can be given a deprecated type \
                 (undo the deprecation with DeprecateThingType undoDeprecate=true)"
            )));
        }
        Ok(())
    }

    fn check_attribute_count(name: &str, attrs: &Attributes, typed: bool) -> Result<()> {
        let max = if typed { names::MAX_ATTRIBUTES_TYPED } else { names::MAX_ATTRIBUTES_UNTYPED };
        if attrs.len() > max {
            return Err(RegistryError::InvalidRequest(format!(
                "Thing {name} would have {} attributes; a thing can have at most {} attributes without a \
                 thing type and {} with one",
                attrs.len(),
                names::MAX_ATTRIBUTES_UNTYPED,
                names::MAX_ATTRIBUTES_TYPED
            )));
        }
        Ok(())
    }

    /// CreateThing. Idempotent for the same configuration; `new_id` is used only for a new thing.
    pub fn create_thing(
        &mut self,
        new: NewResource<'_>,
        name: &str,
        type_name: Option<&str>,
        attributes: Option<&AttributePayload>,
        billing_group: Option<&str>,
    ) -> Result<(Thing, Vec<Change>)> {
        names::check_resource_name("thingName", name)?;
        let attrs = match attributes {
            Some(p) => {
                if let Some(a) = &p.attributes {
                    check_attributes("attributePayload.attributes", a)?;
                }
                apply_payload(&Attributes::new(), p)
            }
            None => Attributes::new(),
        };
        if let Some(bg) = billing_group {
            names::check_resource_name("billingGroupName", bg)?;
        }
        if let Some(existing) = self.things.get(name) {
            let same = existing.type_name.as_deref() == type_name
                && existing.attributes == attrs
                && existing.billing_group.as_deref() == billing_group;
            if same {
                return Ok((existing.clone(), Vec::new()));
            }
            return Err(RegistryError::AlreadyExists {
                message: format!("Thing {name} already exists in account with different attributes"),
                arn: new.scope.arn(ResourceType::Thing, name),
                id: existing.id.clone(),
            });
        }
        if let Some(t) = type_name {
            self.check_thing_type_usable(t)?;
        }
        if let Some(bg) = billing_group {
            return Err(not_found("Billing group", bg));
        }
        Self::check_attribute_count(name, &attrs, type_name.is_some())?;
        let thing = Thing {
            name: name.to_owned(),
            id: new.id,
            type_name: type_name.map(str::to_owned),
            attributes: attrs,
            version: 1,
            billing_group: None,
            created: new.now,
        };
        let changes = self.commit(vec![Change::PutThing(thing.clone())]);
        Ok((thing, changes))
    }

    /// DescribeThing.
    pub fn thing(&self, name: &str) -> Result<&Thing> {
        names::check_resource_name("thingName", name)?;
        self.things.get(name).ok_or_else(|| not_found("Thing", name))
    }

    /// UpdateThing.
    pub fn update_thing(&mut self, name: &str, update: &ThingUpdate) -> Result<Vec<Change>> {
        let current = self.thing(name)?;
        if update.remove_type && update.type_name.is_some() {
            return Err(RegistryError::InvalidRequest(
                "Cannot give thingTypeName and set removeThingType in the same request".into(),
            ));
        }
        if let Some(p) = &update.attributes
            && let Some(a) = &p.attributes
        {
            check_attributes("attributePayload.attributes", a)?;
        }
        check_version("thing", name, update.expected_version, current.version)?;
        let type_name = if update.remove_type {
            None
        } else if let Some(t) = &update.type_name {
            if current.type_name.as_deref() != Some(t.as_str()) {
                self.check_thing_type_usable(t)?;
            }
            Some(t.clone())
        } else {
            current.type_name.clone()
        };
        let attributes = match &update.attributes {
            Some(p) => apply_payload(&current.attributes, p),
            None => current.attributes.clone(),
        };
        Self::check_attribute_count(name, &attributes, type_name.is_some())?;
        let thing = Thing { type_name, attributes, version: current.version + 1, ..current.clone() };
        Ok(self.commit(vec![Change::PutThing(thing)]))
    }

    /// DeleteThing. Deleting a thing that does not exist succeeds and changes nothing.
    pub fn delete_thing(&mut self, name: &str, expected_version: Option<i64>) -> Result<Vec<Change>> {
        names::check_resource_name("thingName", name)?;
        let Some(current) = self.things.get(name) else { return Ok(Vec::new()) };
        check_version("thing", name, expected_version, current.version)?;
        if self.certs.thing_principals.get(name).is_some_and(|p| !p.is_empty()) {
            return Err(RegistryError::InvalidRequest(format!(
                "Cannot delete. Thing {name} is still attached to one or more principals"
            )));
        }
        let mut changes: Vec<Change> = self
            .memberships
            .get(name)
            .into_iter()
            .flatten()
            .map(|g| Change::RemoveMember { group: g.clone(), thing: name.to_owned() })
            .collect();
        changes.push(Change::DeleteThing(name.to_owned()));
        Ok(self.commit(changes))
    }

    /// The console's thing search: things whose name contains `text` (case-insensitive), in name
    /// order, `limit` of them from `offset`, and how many match in all.
    pub fn search_things(&self, text: &str, offset: usize, limit: usize) -> (usize, Vec<&Thing>) {
        let needle = text.to_lowercase();
        let mut total = 0;
        let mut page = Vec::new();
        for t in self.things.values() {
            if needle.is_empty() || t.name.to_lowercase().contains(&needle) {
                if total >= offset && page.len() < limit {
                    page.push(t);
                }
                total += 1;
            }
        }
        (total, page)
    }

    /// ListThings: one page in name order after `token`.
    pub fn list_things(&self, filter: &ThingFilter, token: Option<&str>, max: usize) -> Result<Page<&Thing>> {
        if filter.attribute_value.is_some() && filter.attribute_name.is_none() {
            return Err(RegistryError::InvalidRequest(
                "attributeValue was given without attributeName: name the attribute to filter on".into(),
            ));
        }
        if let Some(n) = &filter.attribute_name {
            names::ATTRIBUTE_NAME.check("attributeName", n)?;
        }
        if let Some(t) = &filter.type_name {
            names::check_resource_name("thingTypeName", t)?;
        }
        let start = token.map(paging::decode_token).transpose()?;
        let matches = |t: &&Thing| {
            if let Some(ty) = &filter.type_name
                && t.type_name.as_ref() != Some(ty)
            {
                return false;
            }
            if let Some(n) = &filter.attribute_name {
                let Some(v) = t.attributes.get(n) else { return false };
                if let Some(want) = &filter.attribute_value {
                    return if filter.prefix { v.starts_with(want.as_str()) } else { v == want };
                }
            }
            true
        };
        let iter = after(&self.things, start.as_deref()).map(|(_, t)| t).filter(matches);
        Ok(paging::page(iter, max, |t| t.name.clone()))
    }

    // ---------------------------------------------------------------- thing types

    fn check_type_props(props: &ThingTypeProps) -> Result<()> {
        if let Some(d) = &props.description {
            names::DESCRIPTION.check("thingTypeProperties.thingTypeDescription", d)?;
        }
        if let Some(s) = &props.searchable_attributes {
            for a in s {
                names::ATTRIBUTE_NAME.check("thingTypeProperties.searchableAttributes.member", a)?;
            }
            if s.len() > names::MAX_SEARCHABLE_ATTRIBUTES {
                return Err(RegistryError::InvalidRequest(format!(
                    "A thing type can have at most {} searchable attributes; {} were given",
                    names::MAX_SEARCHABLE_ATTRIBUTES,
                    s.len()
                )));
            }
        }
        Ok(())
    }

    /// CreateThingType. Idempotent for the same properties.
    pub fn create_thing_type(
        &mut self,
        new: NewResource<'_>,
        name: &str,
        props: &ThingTypeProps,
        tags: &[(String, String)],
    ) -> Result<(ThingType, Vec<Change>)> {
        names::check_resource_name("thingTypeName", name)?;
        Self::check_type_props(props)?;
        let tags = tags::merged(&Tags::new(), tags)?;
        let searchable = props.searchable_attributes.clone().unwrap_or_default();
        if let Some(existing) = self.types.get(name) {
            let same = existing.description == props.description
                && existing.searchable_attributes == searchable
                && existing.propagating_attributes == props.propagating_attributes;
            if same {
                return Ok((existing.clone(), Vec::new()));
            }
            return Err(RegistryError::AlreadyExists {
                message: format!("Thing type {name} already exists in account with different properties"),
                arn: new.scope.arn(ResourceType::ThingType, name),
                id: existing.id.clone(),
            });
        }
        let ty = ThingType {
            name: name.to_owned(),
            id: new.id,
            description: props.description.clone(),
            searchable_attributes: searchable,
            propagating_attributes: props.propagating_attributes.clone(),
            deprecated: false,
            deprecation_date: None,
            created: new.now,
            tags,
        };
        let changes = self.commit(vec![Change::PutThingType(ty.clone())]);
        Ok((ty, changes))
    }

    /// DescribeThingType.
    pub fn thing_type(&self, name: &str) -> Result<&ThingType> {
        names::check_resource_name("thingTypeName", name)?;
        self.types.get(name).ok_or_else(|| not_found("Thing type", name))
    }

    /// ListThingTypes (optionally only the type named `name`).
    pub fn list_thing_types(
        &self,
        name: Option<&str>,
        token: Option<&str>,
        max: usize,
    ) -> Result<Page<&ThingType>> {
        if let Some(n) = name {
            names::check_resource_name("thingTypeName", n)?;
        }
        let start = token.map(paging::decode_token).transpose()?;
        let iter =
            after(&self.types, start.as_deref()).map(|(_, t)| t).filter(|t| name.is_none_or(|n| t.name == n));
        Ok(paging::page(iter, max, |t| t.name.clone()))
    }

    /// UpdateThingType: only the MQTT 5 configuration can change; description and searchable
    /// attributes are fixed at creation, as on AWS.
    pub fn update_thing_type(&mut self, name: &str, props: &ThingTypeProps) -> Result<Vec<Change>> {
        let current = self.thing_type(name)?;
        Self::check_type_props(props)?;
        if props.description.as_ref().is_some_and(|d| current.description.as_ref() != Some(d))
            || props.searchable_attributes.as_ref().is_some_and(|s| &current.searchable_attributes != s)
        {
            return Err(RegistryError::InvalidRequest(format!(
                "Only thingTypeProperties.mqtt5Configuration of thing type {name} can be updated; its \
                 description and searchable attributes are fixed at creation"
            )));
        }
        let ty =
            ThingType { propagating_attributes: props.propagating_attributes.clone(), ..current.clone() };
        Ok(self.commit(vec![Change::PutThingType(ty)]))
    }

    /// DeprecateThingType, or undo it.
    pub fn deprecate_thing_type(&mut self, name: &str, undo: bool, now: Timestamp) -> Result<Vec<Change>> {
        let current = self.thing_type(name)?;
        let ty = if undo {
            ThingType { deprecated: false, deprecation_date: None, ..current.clone() }
        } else {
            ThingType { deprecated: true, deprecation_date: Some(now), ..current.clone() }
        };
        Ok(self.commit(vec![Change::PutThingType(ty)]))
    }

    /// DeleteThingType: only deprecated types with no things.
    pub fn delete_thing_type(&mut self, name: &str) -> Result<Vec<Change>> {
        let current = self.thing_type(name)?;
        if !current.deprecated {
            return Err(RegistryError::InvalidRequest(format!(
                "Thing type {name} must be deprecated (DeprecateThingType) before it can be deleted"
            )));
        }
        let users = self.things.values().filter(|t| t.type_name.as_deref() == Some(name)).count();
        if users > 0 {
            return Err(RegistryError::InvalidRequest(format!(
                "Thing type {name} cannot be deleted: {users} thing(s) still use it; remove the type from \
                 them first (UpdateThing removeThingType=true)"
            )));
        }
        Ok(self.commit(vec![Change::DeleteThingType(name.to_owned())]))
    }

    // ---------------------------------------------------------------- thing groups

    fn check_group_props(props: &ThingGroupProps) -> Result<()> {
        if let Some(d) = &props.description {
            names::DESCRIPTION.check("thingGroupProperties.thingGroupDescription", d)?;
        }
        if let Some(p) = &props.attributes
            && let Some(a) = &p.attributes
        {
            check_attributes("thingGroupProperties.attributePayload.attributes", a)?;
        }
        Ok(())
    }

    fn check_group_attribute_count(name: &str, attrs: &Attributes) -> Result<()> {
        if attrs.len() > names::MAX_GROUP_ATTRIBUTES {
            return Err(RegistryError::InvalidRequest(format!(
                "Thing group {name} would have {} attributes; a thing group can have at most {}",
                attrs.len(),
                names::MAX_GROUP_ATTRIBUTES
            )));
        }
        Ok(())
    }

    /// The chain of ancestors of `group`, root first (not including `group`).
    pub fn ancestors(&self, group: &str) -> Vec<&ThingGroup> {
        let mut chain = Vec::new();
        let mut cur = self.groups.get(group).and_then(|g| g.parent.as_deref());
        while let Some(p) = cur {
            let Some(g) = self.groups.get(p) else { break };
            chain.push(g);
            cur = g.parent.as_deref();
        }
        chain.reverse();
        chain
    }

    fn root_of<'a>(&'a self, group: &'a str) -> &'a str {
        self.ancestors(group).first().map_or(group, |g| g.name.as_str())
    }

    fn children(&self, group: &str) -> impl Iterator<Item = &ThingGroup> {
        self.groups.values().filter(move |g| g.parent.as_deref() == Some(group))
    }

    fn descendants(&self, group: &str) -> BTreeSet<&str> {
        let mut out = BTreeSet::new();
        let mut stack = vec![group];
        while let Some(g) = stack.pop() {
            for c in self.children(g) {
                if out.insert(c.name.as_str()) {
                    stack.push(c.name.as_str());
                }
            }
        }
        out
    }

    /// CreateThingGroup. Idempotent for the same parent and properties.
    pub fn create_thing_group(
        &mut self,
        new: NewResource<'_>,
        name: &str,
        parent: Option<&str>,
        props: &ThingGroupProps,
        tags: &[(String, String)],
    ) -> Result<(ThingGroup, Vec<Change>)> {
        names::check_resource_name("thingGroupName", name)?;
        if let Some(p) = parent {
            names::check_resource_name("parentGroupName", p)?;
        }
        Self::check_group_props(props)?;
        let tags = tags::merged(&Tags::new(), tags)?;
        let attributes =
            props.attributes.as_ref().map(|p| apply_payload(&Attributes::new(), p)).unwrap_or_default();
        Self::check_group_attribute_count(name, &attributes)?;
        if let Some(existing) = self.groups.get(name) {
            let same = existing.parent.as_deref() == parent
                && existing.description == props.description
                && existing.attributes == attributes;
            if same {
                return Ok((existing.clone(), Vec::new()));
            }
            return Err(RegistryError::AlreadyExists {
                message: format!("Thing group {name} already exists in account with different properties"),
                arn: new.scope.arn(ResourceType::ThingGroup, name),
                id: existing.id.clone(),
            });
        }
        if let Some(p) = parent {
            if !self.groups.contains_key(p) {
                return Err(RegistryError::InvalidRequest(format!("Parent thing group {p} does not exist")));
            }
            let depth = self.ancestors(p).len() + 2;
            if depth > names::MAX_GROUP_DEPTH {
                return Err(RegistryError::InvalidRequest(format!(
                    "Thing group {name} would be at depth {depth} under {p}; a thing group hierarchy can be at \
                     most {} levels deep",
                    names::MAX_GROUP_DEPTH
                )));
            }
            if self.children(p).count() >= names::MAX_GROUP_CHILDREN {
                return Err(RegistryError::InvalidRequest(format!(
                    "Thing group {p} already has {} child groups, the most a group can have",
                    names::MAX_GROUP_CHILDREN
                )));
            }
        }
        let group = ThingGroup {
            name: name.to_owned(),
            id: new.id,
            parent: parent.map(str::to_owned),
            description: props.description.clone(),
            attributes,
            version: 1,
            created: new.now,
            tags,
        };
        let changes = self.commit(vec![Change::PutThingGroup(group.clone())]);
        Ok((group, changes))
    }

    /// DescribeThingGroup.
    pub fn thing_group(&self, name: &str) -> Result<&ThingGroup> {
        names::check_resource_name("thingGroupName", name)?;
        self.groups.get(name).ok_or_else(|| not_found("Thing group", name))
    }

    /// UpdateThingGroup: returns the new version and the changes.
    pub fn update_thing_group(
        &mut self,
        name: &str,
        props: &ThingGroupProps,
        expected_version: Option<i64>,
    ) -> Result<(i64, Vec<Change>)> {
        let current = self.thing_group(name)?;
        Self::check_group_props(props)?;
        check_version("thing group", name, expected_version, current.version)?;
        let attributes = match &props.attributes {
            Some(p) => apply_payload(&current.attributes, p),
            None => current.attributes.clone(),
        };
        Self::check_group_attribute_count(name, &attributes)?;
        let group = ThingGroup {
            description: props.description.clone().or_else(|| current.description.clone()),
            attributes,
            version: current.version + 1,
            ..current.clone()
        };
        let version = group.version;
        Ok((version, self.commit(vec![Change::PutThingGroup(group)])))
    }

    /// DeleteThingGroup. Deleting a group that does not exist succeeds and changes nothing.
    pub fn delete_thing_group(&mut self, name: &str, expected_version: Option<i64>) -> Result<Vec<Change>> {
        names::check_resource_name("thingGroupName", name)?;
        let Some(current) = self.groups.get(name) else { return Ok(Vec::new()) };
        check_version("thing group", name, expected_version, current.version)?;
        if let Some(child) = self.children(name).next() {
            return Err(RegistryError::InvalidRequest(format!(
                "Cannot delete thing group {name} while it has child groups (e.g. {}); delete them first",
                child.name
            )));
        }
        let mut changes: Vec<Change> = self
            .members
            .get(name)
            .into_iter()
            .flatten()
            .map(|t| Change::RemoveMember { group: name.to_owned(), thing: t.clone() })
            .collect();
        changes.extend(self.detach_all(&Target::ThingGroup(name.to_owned())));
        changes.push(Change::DeleteThingGroup(name.to_owned()));
        Ok(self.commit(changes))
    }

    /// ListThingGroups. Without `parent`, every group; with it, its children (all descendants when
    /// `recursive`).
    pub fn list_thing_groups(
        &self,
        parent: Option<&str>,
        name_prefix: Option<&str>,
        recursive: bool,
        token: Option<&str>,
        max: usize,
    ) -> Result<Page<&ThingGroup>> {
        if let Some(p) = name_prefix {
            names::check_resource_name("namePrefixFilter", p)?;
        }
        let scope: Option<BTreeSet<&str>> = match parent {
            Some(p) => {
                self.thing_group(p)?;
                Some(if recursive {
                    self.descendants(p)
                } else {
                    self.children(p).map(|g| g.name.as_str()).collect()
                })
            }
            None => None,
        };
        let start = token.map(paging::decode_token).transpose()?;
        let iter = after(&self.groups, start.as_deref()).map(|(_, g)| g).filter(|g| {
            scope.as_ref().is_none_or(|s| s.contains(g.name.as_str()))
                && name_prefix.is_none_or(|p| g.name.starts_with(p))
        });
        Ok(paging::page(iter, max, |g| g.name.clone()))
    }

    /// Checks that `thing` may join `group` given it is in `current` groups.
    fn check_can_join(&self, thing: &str, group: &str, current: &BTreeSet<String>) -> Result<()> {
        if current.contains(group) {
            return Ok(());
        }
        if current.len() >= names::MAX_GROUPS_PER_THING {
            return Err(RegistryError::InvalidRequest(format!(
                "Thing {thing} is already in {} thing groups, the most a thing can belong to",
                names::MAX_GROUPS_PER_THING
            )));
        }
        let root = self.root_of(group);
        if let Some(other) = current.iter().find(|g| self.root_of(g) == root) {
            return Err(RegistryError::InvalidRequest(format!(
                "Thing {thing} is already in thing group {other}, which is in the same hierarchy (root {root}) \
                 as {group}; a thing can belong to only one group of a hierarchy"
            )));
        }
        Ok(())
    }

    /// AddThingToThingGroup. Adding a member again changes nothing.
    pub fn add_thing_to_group(&mut self, group: &str, thing: &str) -> Result<Vec<Change>> {
        self.thing_group(group)?;
        self.thing(thing)?;
        let current = self.memberships.get(thing).cloned().unwrap_or_default();
        if current.contains(group) {
            return Ok(Vec::new());
        }
        self.check_can_join(thing, group, &current)?;
        Ok(self.commit(vec![Change::AddMember { group: group.to_owned(), thing: thing.to_owned() }]))
    }

    /// RemoveThingFromThingGroup. Removing a non-member changes nothing.
    pub fn remove_thing_from_group(&mut self, group: &str, thing: &str) -> Result<Vec<Change>> {
        self.thing_group(group)?;
        self.thing(thing)?;
        if !self.memberships.get(thing).is_some_and(|s| s.contains(group)) {
            return Ok(Vec::new());
        }
        Ok(self.commit(vec![Change::RemoveMember { group: group.to_owned(), thing: thing.to_owned() }]))
    }

    /// The groups `thing` is a direct member of, by name.
    pub fn direct_groups(&self, thing: &str) -> impl Iterator<Item = &str> {
        self.memberships.get(thing).into_iter().flatten().map(String::as_str)
    }

    /// UpdateThingGroupsForThing: all additions and removals, or none.
    pub fn update_groups_for_thing(
        &mut self,
        thing: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<Vec<Change>> {
        self.thing(thing)?;
        let mut set = self.memberships.get(thing).cloned().unwrap_or_default();
        let mut changes = Vec::new();
        for g in remove {
            self.thing_group(g)?;
            if set.remove(g) {
                changes.push(Change::RemoveMember { group: g.clone(), thing: thing.to_owned() });
            }
        }
        for g in add {
            self.thing_group(g)?;
            if !set.contains(g) {
                self.check_can_join(thing, g, &set)?;
                set.insert(g.clone());
                changes.push(Change::AddMember { group: g.clone(), thing: thing.to_owned() });
            }
        }
        Ok(self.commit(changes))
    }

    /// The things in `group` and its descendants (a job's target group), sorted.
    pub fn things_in_group_tree(&self, group: &str) -> Result<Vec<String>> {
        self.thing_group(group)?;
        let mut groups = self.descendants(group);
        groups.insert(group);
        let things: BTreeSet<&str> =
            groups.iter().filter_map(|g| self.members.get(*g)).flatten().map(String::as_str).collect();
        Ok(things.into_iter().map(str::to_owned).collect())
    }

    /// ListThingsInThingGroup (with descendants' things when `recursive`).
    pub fn list_things_in_group(
        &self,
        group: &str,
        recursive: bool,
        token: Option<&str>,
        max: usize,
    ) -> Result<Page<&str>> {
        self.thing_group(group)?;
        let mut groups = BTreeSet::from([group]);
        if recursive {
            groups.extend(self.descendants(group));
        }
        let things: BTreeSet<&str> =
            groups.iter().filter_map(|g| self.members.get(*g)).flatten().map(String::as_str).collect();
        let start = token.map(paging::decode_token).transpose()?;
        let iter = things.into_iter().filter(|t| start.as_deref().is_none_or(|s| *t > s));
        Ok(paging::page(iter, max, |t| (*t).to_owned()))
    }

    /// ListThingGroupsForThing: the groups the thing is a direct member of.
    pub fn list_groups_for_thing(
        &self,
        thing: &str,
        token: Option<&str>,
        max: usize,
    ) -> Result<Page<&ThingGroup>> {
        self.thing(thing)?;
        let start = token.map(paging::decode_token).transpose()?;
        let iter = self
            .memberships
            .get(thing)
            .into_iter()
            .flatten()
            .filter(|g| start.as_deref().is_none_or(|s| g.as_str() > s))
            .filter_map(|g| self.groups.get(g));
        Ok(paging::page(iter, max, |g| g.name.clone()))
    }

    // ---------------------------------------------------------------- tags

    /// The tags of the thing type or thing group named by (`kind`, `name`).
    pub fn tags(&self, kind: ResourceType, name: &str) -> Result<&Tags> {
        match kind {
            ResourceType::ThingType => Ok(&self.thing_type(name)?.tags),
            ResourceType::ThingGroup => Ok(&self.thing_group(name)?.tags),
            other => Err(RegistryError::InvalidRequest(format!(
                "Resources of type '{}' cannot be tagged",
                other.as_str()
            ))),
        }
    }

    /// TagResource on a thing type or thing group.
    pub fn tag(&mut self, kind: ResourceType, name: &str, new: &[(String, String)]) -> Result<Vec<Change>> {
        let tags = tags::merged(self.tags(kind, name)?, new)?;
        self.retag(kind, name, tags)
    }

    /// UntagResource on a thing type or thing group.
    pub fn untag(&mut self, kind: ResourceType, name: &str, keys: &[String]) -> Result<Vec<Change>> {
        let mut tags = self.tags(kind, name)?.clone();
        for k in keys {
            tags::TAG_KEY.check("tagKeys.member", k)?;
            tags.remove(k);
        }
        self.retag(kind, name, tags)
    }

    fn retag(&mut self, kind: ResourceType, name: &str, tags: Tags) -> Result<Vec<Change>> {
        let change = match kind {
            ResourceType::ThingType => {
                Change::PutThingType(ThingType { tags, ..self.thing_type(name)?.clone() })
            }
            _ => Change::PutThingGroup(ThingGroup { tags, ..self.thing_group(name)?.clone() }),
        };
        Ok(self.commit(vec![change]))
    }
}

/// Entries of `map` strictly after `start` (all of them when `start` is `None`).
fn after<'a, V>(
    map: &'a BTreeMap<String, V>,
    start: Option<&str>,
) -> Box<dyn Iterator<Item = (&'a String, &'a V)> + 'a> {
    use std::ops::Bound;
    match start {
        Some(s) => Box::new(map.range::<str, _>((Bound::Excluded(s), Bound::Unbounded))),
        None => Box::new(map.iter()),
    }
}

#[cfg(test)]
mod tests;
