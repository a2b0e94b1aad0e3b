//! Provisioning: templates (fleet provisioning and JITP, with versions), the template language
//! ([`template`]) and carrying a template out on the registry ([`apply`]).
//!
//! [`Templates`] decides every control-plane operation (CreateProvisioningTemplate …
//! DeleteProvisioningTemplateVersion) and returns the [`TemplateChange`]s to store; like the
//! registry, a refused operation changes nothing.

pub mod apply;
pub mod template;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::arn::{ResourceType, Scope};
use crate::paging::{Page, decode_token, page};
use crate::tags::Tags;

pub use self::template::Template;

/// Most versions a template keeps.
pub const MAX_VERSIONS: usize = 5;

/// Why a provisioning operation was refused; each maps to one AWS error type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvisioningError {
    /// `InvalidRequestException`.
    #[error("{0}")]
    InvalidRequest(String),
    /// `ResourceNotFoundException`.
    #[error("{0}")]
    NotFound(String),
    /// `ResourceAlreadyExistsException`.
    #[error("{message}")]
    AlreadyExists {
        /// What a person reads.
        message: String,
        /// The template's ARN.
        arn: String,
        /// The template's name.
        id: String,
    },
    /// `VersionsLimitExceededException`.
    #[error("{0}")]
    VersionsLimitExceeded(String),
    /// `DeleteConflictException`.
    #[error("{0}")]
    DeleteConflict(String),
}

type Result<T> = std::result::Result<T, ProvisioningError>;

/// `FLEET_PROVISIONING` or `JITP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum TemplateType {
    /// Fleet provisioning (the default).
    #[default]
    #[serde(rename = "FLEET_PROVISIONING")]
    FleetProvisioning,
    /// Just-in-time provisioning.
    #[serde(rename = "JITP")]
    Jitp,
}

impl TemplateType {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FleetProvisioning => "FLEET_PROVISIONING",
            Self::Jitp => "JITP",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "FLEET_PROVISIONING" => Ok(Self::FleetProvisioning),
            "JITP" => Ok(Self::Jitp),
            _ => Err(ProvisioningError::InvalidRequest(format!(
                "type must be FLEET_PROVISIONING or JITP, not {s}"
            ))),
        }
    }
}

/// A pre-provisioning hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    /// The Lambda function's ARN (mapped to a local URL or command by `--lambda`).
    pub target_arn: String,
    /// `2020-04-01`.
    pub payload_version: String,
}

/// One version of a template's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateVersion {
    /// 1, 2, …
    pub id: i64,
    /// The body, as given.
    pub body: String,
    /// When it was made.
    pub created: Timestamp,
}

/// A provisioning template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningTemplate {
    /// Its name.
    pub name: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether devices may use it.
    pub enabled: bool,
    /// `provisioningRoleArn` (kept; Thingbox has no IAM).
    pub role_arn: String,
    /// The pre-provisioning hook.
    #[serde(default)]
    pub hook: Option<Hook>,
    /// Fleet provisioning or JITP.
    pub kind: TemplateType,
    /// Created.
    pub created: Timestamp,
    /// Last changed.
    pub modified: Timestamp,
    /// The version devices get.
    pub default_version: i64,
    /// The id the next version gets.
    pub next_version: i64,
    /// The versions.
    pub versions: BTreeMap<i64, TemplateVersion>,
    /// Tags.
    #[serde(default)]
    pub tags: Tags,
}

impl ProvisioningTemplate {
    /// The default version's body.
    pub fn body(&self) -> &str {
        self.versions.get(&self.default_version).map_or("", |v| v.body.as_str())
    }
}

/// A durable change to the set of templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateChange {
    /// Store (create or replace) a template.
    Put(Box<ProvisioningTemplate>),
    /// Remove a template.
    Delete(String),
}

/// CreateProvisioningTemplate's request, checked.
#[derive(Debug, Clone, Default)]
pub struct NewTemplate {
    /// `templateName`.
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// `templateBody`.
    pub body: String,
    /// `enabled`.
    pub enabled: bool,
    /// `provisioningRoleArn`.
    pub role_arn: String,
    /// `preProvisioningHook`.
    pub hook: Option<Hook>,
    /// `type`.
    pub kind: TemplateType,
    /// `tags`.
    pub tags: Vec<(String, String)>,
}

/// UpdateProvisioningTemplate's request.
#[derive(Debug, Clone, Default)]
pub struct TemplateUpdate {
    /// `description`.
    pub description: Option<String>,
    /// `enabled`.
    pub enabled: Option<bool>,
    /// `defaultVersionId`.
    pub default_version: Option<i64>,
    /// `provisioningRoleArn`.
    pub role_arn: Option<String>,
    /// `preProvisioningHook`.
    pub hook: Option<Hook>,
    /// `removePreProvisioningHook`.
    pub remove_hook: bool,
}

/// Every template, by name.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    all: BTreeMap<String, ProvisioningTemplate>,
}

fn check_name(name: &str) -> Result<()> {
    let ok = (1..=36).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ProvisioningError::InvalidRequest(format!(
            "templateName '{name}' is invalid: 1 to 36 characters of letters, digits, _ and -"
        )))
    }
}

fn check_role(arn: &str) -> Result<()> {
    if (20..=2048).contains(&arn.len()) && arn.starts_with("arn:") {
        Ok(())
    } else {
        Err(ProvisioningError::InvalidRequest(format!(
            "provisioningRoleArn '{arn}' is not a role ARN (arn:aws:iam::<account>:role/<name>, 20 to 2048 characters)"
        )))
    }
}

fn check_hook(hook: &Hook, kind: TemplateType) -> Result<()> {
    if kind != TemplateType::FleetProvisioning {
        return Err(ProvisioningError::InvalidRequest(
            "preProvisioningHook is only for FLEET_PROVISIONING templates".into(),
        ));
    }
    if hook.target_arn.is_empty() || hook.target_arn.len() > 2048 {
        return Err(ProvisioningError::InvalidRequest(
            "preProvisioningHook.targetArn must be a Lambda function ARN of 1 to 2048 characters".into(),
        ));
    }
    if hook.payload_version != "2020-04-01" {
        return Err(ProvisioningError::InvalidRequest(format!(
            "preProvisioningHook.payloadVersion must be 2020-04-01, not {}",
            hook.payload_version
        )));
    }
    Ok(())
}

fn check_body(body: &str) -> Result<()> {
    Template::parse(body).map(drop).map_err(ProvisioningError::InvalidRequest)
}

fn check_description(d: &str) -> Result<()> {
    if d.chars().count() > 500 || d.chars().any(char::is_control) {
        return Err(ProvisioningError::InvalidRequest(
            "description must be at most 500 characters, without control characters".into(),
        ));
    }
    Ok(())
}

/// Whether a provisioning claim for `template` may publish to, receive on or subscribe to
/// `topic_or_filter`: the fleet-provisioning topics of that template and the certificate
/// requests, with their `accepted` / `rejected` replies; nothing else.
pub fn claim_allows(template: &str, topic_or_filter: &str) -> bool {
    let provision = format!("$aws/provisioning-templates/{template}/provision/");
    let Some(rest) = topic_or_filter
        .strip_prefix("$aws/certificates/create/")
        .or_else(|| topic_or_filter.strip_prefix("$aws/certificates/create-from-csr/"))
        .or_else(|| topic_or_filter.strip_prefix(provision.as_str()))
    else {
        return false;
    };
    let (format, reply) = rest.split_once('/').unwrap_or((rest, ""));
    matches!(format, "json" | "cbor" | "+") && matches!(reply, "" | "accepted" | "rejected" | "+")
}

impl Templates {
    /// Rebuilds the set from stored templates.
    pub fn from_stored(all: impl IntoIterator<Item = ProvisioningTemplate>) -> Self {
        Self { all: all.into_iter().map(|t| (t.name.clone(), t)).collect() }
    }

    /// A template by name.
    pub fn get(&self, name: &str) -> Result<&ProvisioningTemplate> {
        self.all.get(name).ok_or_else(|| {
            ProvisioningError::NotFound(format!("The provisioning template {name} does not exist"))
        })
    }

    /// Every template, by name.
    pub fn iter(&self) -> impl Iterator<Item = &ProvisioningTemplate> {
        self.all.values()
    }

    fn put(&mut self, t: ProvisioningTemplate) -> Vec<TemplateChange> {
        self.all.insert(t.name.clone(), t.clone());
        vec![TemplateChange::Put(Box::new(t))]
    }

    /// CreateProvisioningTemplate: version 1, the default.
    pub fn create(
        &mut self,
        scope: &Scope,
        new: NewTemplate,
        now: Timestamp,
    ) -> Result<(ProvisioningTemplate, Vec<TemplateChange>)> {
        check_name(&new.name)?;
        if let Some(d) = &new.description {
            check_description(d)?;
        }
        check_role(&new.role_arn)?;
        if let Some(h) = &new.hook {
            check_hook(h, new.kind)?;
        }
        check_body(&new.body)?;
        let tags = crate::tags::merged(&Tags::new(), &new.tags)
            .map_err(|e| ProvisioningError::InvalidRequest(e.to_string()))?;
        if self.all.contains_key(&new.name) {
            return Err(ProvisioningError::AlreadyExists {
                message: format!("The provisioning template {} already exists", new.name),
                arn: scope.arn(ResourceType::ProvisioningTemplate, &new.name),
                id: new.name,
            });
        }
        let t = ProvisioningTemplate {
            name: new.name,
            description: new.description,
            enabled: new.enabled,
            role_arn: new.role_arn,
            hook: new.hook,
            kind: new.kind,
            created: now,
            modified: now,
            default_version: 1,
            next_version: 2,
            versions: BTreeMap::from([(1, TemplateVersion { id: 1, body: new.body, created: now })]),
            tags,
        };
        let changes = self.put(t.clone());
        Ok((t, changes))
    }

    /// ListProvisioningTemplates, by name.
    pub fn list(&self, token: Option<&str>, max: usize) -> Result<Page<&ProvisioningTemplate>> {
        let after = token
            .map(decode_token)
            .transpose()
            .map_err(|e| ProvisioningError::InvalidRequest(e.to_string()))?;
        let items = self.all.values().filter(|t| after.as_ref().is_none_or(|a| t.name > *a));
        Ok(page(items, max, |t| t.name.clone()))
    }

    /// UpdateProvisioningTemplate.
    pub fn update(&mut self, name: &str, u: TemplateUpdate, now: Timestamp) -> Result<Vec<TemplateChange>> {
        let mut t = self.get(name)?.clone();
        if let Some(d) = u.description {
            check_description(&d)?;
            t.description = Some(d);
        }
        if let Some(e) = u.enabled {
            t.enabled = e;
        }
        if let Some(v) = u.default_version {
            if !t.versions.contains_key(&v) {
                return Err(ProvisioningError::NotFound(format!(
                    "The provisioning template {name} has no version {v}"
                )));
            }
            t.default_version = v;
        }
        if let Some(r) = u.role_arn {
            check_role(&r)?;
            t.role_arn = r;
        }
        if u.remove_hook && u.hook.is_some() {
            return Err(ProvisioningError::InvalidRequest(
                "Give preProvisioningHook or removePreProvisioningHook, not both".into(),
            ));
        }
        if let Some(h) = u.hook {
            check_hook(&h, t.kind)?;
            t.hook = Some(h);
        }
        if u.remove_hook {
            t.hook = None;
        }
        t.modified = now;
        Ok(self.put(t))
    }

    /// DeleteProvisioningTemplate.
    pub fn delete(&mut self, name: &str) -> Result<Vec<TemplateChange>> {
        self.get(name)?;
        self.all.remove(name);
        Ok(vec![TemplateChange::Delete(name.to_owned())])
    }

    /// CreateProvisioningTemplateVersion.
    pub fn create_version(
        &mut self,
        name: &str,
        body: String,
        set_default: bool,
        now: Timestamp,
    ) -> Result<(ProvisioningTemplate, i64, Vec<TemplateChange>)> {
        let mut t = self.get(name)?.clone();
        check_body(&body)?;
        if t.versions.len() >= MAX_VERSIONS {
            return Err(ProvisioningError::VersionsLimitExceeded(format!(
                "The provisioning template {name} already has {MAX_VERSIONS} versions, the most it can have; \
                 delete one with DeleteProvisioningTemplateVersion"
            )));
        }
        let id = t.next_version;
        t.next_version += 1;
        t.versions.insert(id, TemplateVersion { id, body, created: now });
        if set_default {
            t.default_version = id;
        }
        t.modified = now;
        let changes = self.put(t.clone());
        Ok((t, id, changes))
    }

    /// A version of a template.
    pub fn version(&self, name: &str, id: i64) -> Result<(&ProvisioningTemplate, &TemplateVersion)> {
        let t = self.get(name)?;
        let v = t.versions.get(&id).ok_or_else(|| {
            ProvisioningError::NotFound(format!("The provisioning template {name} has no version {id}"))
        })?;
        Ok((t, v))
    }

    /// DeleteProvisioningTemplateVersion: never the default version.
    pub fn delete_version(&mut self, name: &str, id: i64) -> Result<Vec<TemplateChange>> {
        let (t, _) = self.version(name, id)?;
        if t.default_version == id {
            return Err(ProvisioningError::DeleteConflict(format!(
                "Version {id} is the default version of the provisioning template {name}; make another version \
                 the default first, or delete the template"
            )));
        }
        let mut t = t.clone();
        t.versions.remove(&id);
        Ok(self.put(t))
    }
}
