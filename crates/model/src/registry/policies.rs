//! IoT policies in the registry: named documents with up to five versions, one of them the
//! default, attached to certificates and thing groups; and the effective policies of a connection.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Change, Registry, RegistryError, Result, not_found};
use crate::Timestamp;
use crate::arn::{Arn, ResourceType, Scope};
use crate::names::{StringRule, ValidationError};
use crate::paging::{self, Page};
use crate::policy;
use crate::tags::{self, Tags};

/// Versions one policy may have.
pub const MAX_POLICY_VERSIONS: usize = 5;
/// Policies one certificate may have attached.
pub const MAX_POLICIES_PER_CERT: usize = 10;
/// Policies one thing group may have attached.
pub const MAX_POLICIES_PER_GROUP: usize = 2;

fn policy_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

/// Policy names: 1–128 of `[\w+=,.@-]`.
pub const POLICY_NAME: StringRule =
    StringRule { min: 1, max: 128, pattern: "[\\w+=,.@-]+", allowed: policy_name_char };

/// One version of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyVersion {
    /// The version id (1, 2, …; never reused).
    pub id: u32,
    /// The document, as given.
    pub document: String,
    /// Created.
    pub created: Timestamp,
}

/// A policy with its versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IotPolicy {
    /// Name.
    pub name: String,
    /// Versions by id.
    pub versions: BTreeMap<u32, PolicyVersion>,
    /// The version in force.
    pub default_version: u32,
    /// The next version id.
    pub next_version: u32,
    /// Created.
    pub created: Timestamp,
    /// Last change.
    pub last_modified: Timestamp,
    /// Tags.
    #[serde(default)]
    pub tags: Tags,
}

impl IotPolicy {
    /// The default version.
    pub fn default(&self) -> &PolicyVersion {
        &self.versions[&self.default_version]
    }
}

/// A policy target: a certificate (by id) or a thing group (by name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "id")]
pub enum Target {
    /// A certificate id.
    Cert(String),
    /// A thing group name.
    ThingGroup(String),
}

impl Target {
    /// Parses a target ARN (`…:cert/<id>` or `…:thinggroup/<name>`).
    pub fn parse(arn: &str) -> Result<Self> {
        let parsed = Arn::parse(arn).map_err(|e| RegistryError::InvalidRequest(e.to_string()))?;
        match parsed.kind {
            ResourceType::Cert => Ok(Self::Cert(parsed.id.to_ascii_lowercase())),
            ResourceType::ThingGroup => Ok(Self::ThingGroup(parsed.id)),
            _ => Err(RegistryError::InvalidRequest(format!(
                "'{arn}' cannot have policies attached: targets are certificate and thing group ARNs"
            ))),
        }
    }

    /// The target's ARN in `scope`.
    pub fn arn(&self, scope: &Scope) -> String {
        match self {
            Self::Cert(id) => scope.arn(ResourceType::Cert, id),
            Self::ThingGroup(name) => scope.arn(ResourceType::ThingGroup, name),
        }
    }
}

/// Policy state inside [`Registry`].
#[derive(Debug, Clone, Default)]
pub struct PolicyState {
    pub(super) policies: BTreeMap<String, IotPolicy>,
    pub(super) targets: BTreeMap<Target, BTreeSet<String>>,
    /// Bumped on every change that can alter a decision (policies, attachments, things, groups).
    pub(super) generation: u64,
}

fn check_document(doc: &str) -> Result<()> {
    policy::parse(doc).map(drop).map_err(|e| RegistryError::MalformedPolicy(e.0))
}

fn check_name(name: &str) -> Result<()> {
    POLICY_NAME.check("policyName", name).map_err(|e: ValidationError| e.into())
}

fn parse_version(v: &str) -> Result<u32> {
    v.parse::<u32>().map_err(|_| {
        RegistryError::InvalidRequest(format!(
            "'{v}' is not a policy version id (versions are numbered 1, 2, …)"
        ))
    })
}

impl Registry {
    /// A counter that changes whenever an authorization decision might: callers cache compiled
    /// policies per connection and refresh when it moves.
    pub fn policy_generation(&self) -> u64 {
        self.policies.generation
    }

    /// The policy named `name`.
    pub fn policy(&self, name: &str) -> Result<&IotPolicy> {
        check_name(name)?;
        self.policies.policies.get(name).ok_or_else(|| not_found("Policy", name))
    }

    /// CreatePolicy.
    pub fn create_policy(
        &mut self,
        scope: &Scope,
        name: &str,
        document: &str,
        tags: &[(String, String)],
        now: Timestamp,
    ) -> Result<(IotPolicy, Vec<Change>)> {
        check_name(name)?;
        check_document(document)?;
        let tags = tags::merged(&Tags::new(), tags)?;
        if self.policies.policies.contains_key(name) {
            return Err(RegistryError::AlreadyExists {
                message: format!("Policy {name} already exists"),
                arn: scope.arn(ResourceType::Policy, name),
                id: name.to_owned(),
            });
        }
        let p = IotPolicy {
            name: name.to_owned(),
            versions: BTreeMap::from([(
                1,
                PolicyVersion { id: 1, document: document.to_owned(), created: now },
            )]),
            default_version: 1,
            next_version: 2,
            created: now,
            last_modified: now,
            tags,
        };
        let changes = self.commit(vec![Change::PutPolicy(p.clone())]);
        Ok((p, changes))
    }

    /// ListPolicies, by name.
    pub fn list_policies(
        &self,
        ascending: bool,
        marker: Option<&str>,
        size: usize,
    ) -> Result<Page<&IotPolicy>> {
        let start = marker.map(paging::decode_token).transpose()?;
        let mut all: Vec<&IotPolicy> = self.policies.policies.values().collect();
        if !ascending {
            all.reverse();
        }
        let skip = match &start {
            Some(s) => all.iter().position(|p| &p.name == s).map_or(all.len(), |i| i + 1),
            None => 0,
        };
        Ok(paging::page(all.into_iter().skip(skip), size, |p| p.name.clone()))
    }

    /// Targets a policy is attached to.
    pub fn policy_targets(&self, name: &str) -> Result<Vec<&Target>> {
        self.policy(name)?;
        Ok(self.policies.targets.iter().filter(|(_, ps)| ps.contains(name)).map(|(t, _)| t).collect())
    }

    /// DeletePolicy: refused while attached or while it has versions besides the default.
    pub fn delete_policy(&mut self, scope: &Scope, name: &str) -> Result<Vec<Change>> {
        let p = self.policy(name)?;
        if let Some(t) = self.policy_targets(name)?.first() {
            return Err(RegistryError::DeleteConflict(format!(
                "Policy {name} is attached to {}; detach it first (DetachPolicy)",
                t.arn(scope)
            )));
        }
        if p.versions.len() > 1 {
            return Err(RegistryError::DeleteConflict(format!(
                "Policy {name} has {} versions; delete every version except the default (DeletePolicyVersion) first",
                p.versions.len()
            )));
        }
        Ok(self.commit(vec![Change::DeletePolicy(name.to_owned())]))
    }

    /// CreatePolicyVersion.
    pub fn create_policy_version(
        &mut self,
        name: &str,
        document: &str,
        set_default: bool,
        now: Timestamp,
    ) -> Result<(PolicyVersion, Vec<Change>)> {
        let current = self.policy(name)?;
        check_document(document)?;
        if current.versions.len() >= MAX_POLICY_VERSIONS {
            return Err(RegistryError::VersionsLimitExceeded(format!(
                "The policy {name} already has the maximum number of versions ({MAX_POLICY_VERSIONS}); delete one first"
            )));
        }
        let mut p = current.clone();
        let v = PolicyVersion { id: p.next_version, document: document.to_owned(), created: now };
        p.versions.insert(v.id, v.clone());
        p.next_version += 1;
        if set_default {
            p.default_version = v.id;
        }
        p.last_modified = now;
        Ok((v, self.commit(vec![Change::PutPolicy(p)])))
    }

    /// One version of a policy.
    pub fn policy_version(&self, name: &str, version: &str) -> Result<(&IotPolicy, &PolicyVersion)> {
        let p = self.policy(name)?;
        let id = parse_version(version)?;
        let v =
            p.versions.get(&id).ok_or_else(|| not_found("Policy version", &format!("{name}/{version}")))?;
        Ok((p, v))
    }

    /// SetDefaultPolicyVersion.
    pub fn set_default_policy_version(
        &mut self,
        name: &str,
        version: &str,
        now: Timestamp,
    ) -> Result<Vec<Change>> {
        let (p, v) = self.policy_version(name, version)?;
        let p = IotPolicy { default_version: v.id, last_modified: now, ..p.clone() };
        Ok(self.commit(vec![Change::PutPolicy(p)]))
    }

    /// DeletePolicyVersion: never the default.
    pub fn delete_policy_version(
        &mut self,
        name: &str,
        version: &str,
        now: Timestamp,
    ) -> Result<Vec<Change>> {
        let (p, v) = self.policy_version(name, version)?;
        if v.id == p.default_version {
            return Err(RegistryError::DeleteConflict(format!(
                "Version {version} is the default version of policy {name}; make another version the default first"
            )));
        }
        let mut p = p.clone();
        p.versions.remove(&v.id);
        p.last_modified = now;
        Ok(self.commit(vec![Change::PutPolicy(p)]))
    }

    fn check_target_exists(&self, t: &Target) -> Result<()> {
        match t {
            Target::Cert(id) => self.certificate(id).map(drop),
            Target::ThingGroup(name) => self.thing_group(name).map(drop),
        }
    }

    /// AttachPolicy. Attaching again changes nothing.
    pub fn attach_policy(&mut self, name: &str, target: &Target) -> Result<Vec<Change>> {
        self.policy(name)?;
        self.check_target_exists(target)?;
        let attached = self.policies.targets.get(target);
        if attached.is_some_and(|s| s.contains(name)) {
            return Ok(Vec::new());
        }
        let count = attached.map_or(0, BTreeSet::len);
        let max = match target {
            Target::Cert(_) => MAX_POLICIES_PER_CERT,
            Target::ThingGroup(_) => MAX_POLICIES_PER_GROUP,
        };
        if count >= max {
            return Err(RegistryError::LimitExceeded(format!(
                "The target already has {count} policies attached, the most it can have ({max})"
            )));
        }
        Ok(self.commit(vec![Change::AttachPolicy { policy: name.to_owned(), target: target.clone() }]))
    }

    /// DetachPolicy. Detaching what is not attached changes nothing.
    pub fn detach_policy(&mut self, name: &str, target: &Target) -> Result<Vec<Change>> {
        self.policy(name)?;
        self.check_target_exists(target)?;
        if !self.policies.targets.get(target).is_some_and(|s| s.contains(name)) {
            return Ok(Vec::new());
        }
        Ok(self.commit(vec![Change::DetachPolicy { policy: name.to_owned(), target: target.clone() }]))
    }

    /// Policies attached directly to `target`.
    pub fn attached_policies(&self, target: &Target) -> Result<Vec<&IotPolicy>> {
        self.check_target_exists(target)?;
        Ok(self
            .policies
            .targets
            .get(target)
            .into_iter()
            .flatten()
            .filter_map(|n| self.policies.policies.get(n))
            .collect())
    }

    /// The policies in force for a certificate acting for `thing` (if any): those attached to the
    /// certificate, then those of every group the thing is in and of their ancestors.
    pub fn effective_policies(&self, cert_id: Option<&str>, thing: Option<&str>) -> Vec<&IotPolicy> {
        let mut targets = Vec::new();
        if let Some(id) = cert_id {
            targets.push(Target::Cert(id.to_ascii_lowercase()));
        }
        if let Some(thing) = thing {
            for g in self.memberships.get(thing).into_iter().flatten() {
                targets.push(Target::ThingGroup(g.clone()));
                targets.extend(self.ancestors(g).iter().rev().map(|a| Target::ThingGroup(a.name.clone())));
            }
        }
        let mut out: Vec<&IotPolicy> = Vec::new();
        for t in &targets {
            for n in self.policies.targets.get(t).into_iter().flatten() {
                if let Some(p) = self.policies.policies.get(n)
                    && !out.iter().any(|o| o.name == p.name)
                {
                    out.push(p);
                }
            }
        }
        out
    }

    /// Detaches every policy of a certificate (DeleteCertificate with forceDelete).
    pub(super) fn detach_all(&self, target: &Target) -> Vec<Change> {
        self.policies
            .targets
            .get(target)
            .into_iter()
            .flatten()
            .map(|p| Change::DetachPolicy { policy: p.clone(), target: target.clone() })
            .collect()
    }

    pub(super) fn apply_policy_change(&mut self, change: &Change) {
        match change {
            Change::PutPolicy(p) => {
                self.policies.policies.insert(p.name.clone(), p.clone());
            }
            Change::DeletePolicy(n) => {
                self.policies.policies.remove(n);
            }
            Change::AttachPolicy { policy, target } => {
                self.policies.targets.entry(target.clone()).or_default().insert(policy.clone());
            }
            Change::DetachPolicy { policy, target } => {
                if let Some(s) = self.policies.targets.get_mut(target) {
                    s.remove(policy);
                    if s.is_empty() {
                        self.policies.targets.remove(target);
                    }
                }
            }
            _ => {}
        }
    }
}
