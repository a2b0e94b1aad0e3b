//! Certificates, CA certificates and thing principals: the records and AWS's rules for them.
//!
//! X.509 parsing, signature checks and signing happen in the engine; this module receives parsed
//! facts ([`CertFacts`]) and decides: duplicates, status transitions, what may be deleted, which
//! thing a certificate is attached to.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Change, Registry, RegistryError, Result, not_found};
use crate::Timestamp;
use crate::arn::{ResourceType, Scope};
use crate::paging::{self, Page};

/// A device certificate's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CertStatus {
    /// May connect.
    Active,
    /// May not connect; may be activated again.
    Inactive,
    /// May never connect again.
    Revoked,
    /// Being transferred to another account (not reachable in Thingbox).
    PendingTransfer,
    /// Deprecated registration state.
    RegisterInactive,
    /// Auto-registered, waiting for activation.
    PendingActivation,
}

impl CertStatus {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Inactive => "INACTIVE",
            Self::Revoked => "REVOKED",
            Self::PendingTransfer => "PENDING_TRANSFER",
            Self::RegisterInactive => "REGISTER_INACTIVE",
            Self::PendingActivation => "PENDING_ACTIVATION",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ACTIVE" => Self::Active,
            "INACTIVE" => Self::Inactive,
            "REVOKED" => Self::Revoked,
            "PENDING_TRANSFER" => Self::PendingTransfer,
            "REGISTER_INACTIVE" => Self::RegisterInactive,
            "PENDING_ACTIVATION" => Self::PendingActivation,
            _ => return None,
        })
    }
}

/// `DEFAULT` (the CA is registered with the account) or `SNI_ONLY` (registered without a CA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CertMode {
    /// Chains to a registered CA (or Thingbox's own).
    Default,
    /// Registered without a CA.
    SniOnly,
}

impl CertMode {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Default => "DEFAULT",
            Self::SniOnly => "SNI_ONLY",
        }
    }
}

/// What the engine learned from parsing and checking a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertFacts {
    /// Lowercase hex SHA-256 of the DER: the certificate id.
    pub id: String,
    /// The PEM, as stored and returned.
    pub pem: String,
    /// Subject DN, for people.
    pub subject: String,
    /// Issuer DN, for people.
    pub issuer: String,
    /// Validity start.
    pub not_before: Timestamp,
    /// Validity end.
    pub not_after: Timestamp,
}

/// A device certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    /// Parsed facts (id, PEM, names, validity).
    #[serde(flatten)]
    pub facts: CertFacts,
    /// The registered CA that issued it; `None` for Thingbox's own root and SNI_ONLY certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_id: Option<String>,
    /// Status.
    pub status: CertStatus,
    /// Mode.
    pub mode: CertMode,
    /// Created.
    pub created: Timestamp,
    /// Last status change.
    pub last_modified: Timestamp,
    /// +1 on every change.
    pub customer_version: i64,
    /// Changes on every change.
    pub generation_id: String,
}

/// A CA certificate's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CaStatus {
    /// Certificates it signed may be registered and connect.
    Active,
    /// They may not.
    Inactive,
}

impl CaStatus {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Inactive => "INACTIVE",
        }
    }
}

/// A registered CA certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaCertificate {
    /// Parsed facts.
    #[serde(flatten)]
    pub facts: CertFacts,
    /// Status.
    pub status: CaStatus,
    /// Whether certificates it signed register themselves on first connect.
    pub auto_registration: bool,
    /// Mode.
    pub mode: CertMode,
    /// Created.
    pub created: Timestamp,
    /// Last change.
    pub last_modified: Timestamp,
    /// +1 on every change.
    pub customer_version: i64,
    /// Changes on every change.
    pub generation_id: String,
    /// Registration config, kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_config: Option<serde_json::Value>,
}

/// How a principal is attached to a thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ThingPrincipalType {
    /// The principal may be attached to this thing only.
    ExclusiveThing,
    /// The principal may be attached to several things.
    NonExclusiveThing,
}

/// How RegisterCACertificate registers a CA.
#[derive(Debug, Clone, PartialEq)]
pub struct CaRegistration {
    /// `setAsActive`.
    pub active: bool,
    /// `allowAutoRegistration`.
    pub auto_registration: bool,
    /// `certificateMode`.
    pub mode: CertMode,
    /// `registrationConfig`, kept as given.
    pub registration_config: Option<serde_json::Value>,
}

/// Most CA certificates with the same subject.
pub const MAX_CAS_PER_SUBJECT: usize = 10;

/// Certificate-related registry state, kept inside [`Registry`].
#[derive(Debug, Clone, Default)]
pub struct CertState {
    pub(super) certs: BTreeMap<String, Certificate>,
    pub(super) cas: BTreeMap<String, CaCertificate>,
    /// thing → principal ARN → attachment type.
    pub(super) thing_principals: BTreeMap<String, BTreeMap<String, ThingPrincipalType>>,
    /// principal id (certificate id) → things.
    pub(super) principal_things: BTreeMap<String, BTreeSet<String>>,
}

/// The certificate id in a certificate ARN (`arn:aws:iot:r:a:cert/<id>`), or `None`.
pub fn cert_id_of_principal(principal: &str) -> Option<&str> {
    let (_, id) = principal.rsplit_once(":cert/")?;
    (!id.is_empty()).then_some(id)
}

fn check_cert_id(field: &str, id: &str) -> Result<()> {
    let hex = id.strip_prefix("0x").unwrap_or(id);
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RegistryError::InvalidRequest(format!(
            "1 validation error detected: Value '{id}' at '{field}' failed to satisfy constraint: Member must \
             have length 64 and satisfy regular expression pattern: (0x)?[a-fA-F0-9]+"
        )));
    }
    Ok(())
}

/// One page of certificates in ListCertificates' order (creation time, then id; newest first unless
/// `ascending`), after the record `marker` names.
fn page_by_creation<'a, T>(
    mut all: Vec<&'a T>,
    facts: impl Fn(&T) -> &CertFacts,
    created: impl Fn(&T) -> Timestamp,
    ascending: bool,
    marker: Option<&str>,
    size: usize,
) -> Result<Page<&'a T>> {
    let start = marker.map(paging::decode_token).transpose()?;
    all.sort_by(|a, b| (created(a), &facts(a).id).cmp(&(created(b), &facts(b).id)));
    if !ascending {
        all.reverse();
    }
    let key = |c: &&T| format!("{:020}:{}", created(c).millis(), facts(c).id);
    let skip = match &start {
        Some(s) => all.iter().position(|c| &key(c) == s).map_or(all.len(), |p| p + 1),
        None => 0,
    };
    Ok(paging::page(all.into_iter().skip(skip), size, key))
}

fn new_generation(now: Timestamp, version: i64) -> String {
    format!("{:x}-{version}", now.millis())
}

impl Registry {
    // ------------------------------------------------------------------ device certificates

    /// The certificate with `id`.
    pub fn certificate(&self, id: &str) -> Result<&Certificate> {
        check_cert_id("certificateId", id)?;
        self.certs.certs.get(&id.to_ascii_lowercase()).ok_or_else(|| not_found("Certificate", id))
    }

    /// The registered CA that issued a certificate, if it is one we know by id.
    pub fn ca_certificate(&self, id: &str) -> Result<&CaCertificate> {
        check_cert_id("caCertificateId", id)?;
        self.certs.cas.get(&id.to_ascii_lowercase()).ok_or_else(|| not_found("CA certificate", id))
    }

    /// Every registered CA (for the engine's TLS verifier).
    pub fn ca_certificates(&self) -> impl Iterator<Item = &CaCertificate> {
        self.certs.cas.values()
    }

    /// Adds a new device certificate (CreateKeysAndCertificate, CreateCertificateFromCsr,
    /// RegisterCertificate, RegisterCertificateWithoutCA). `ca_id` names the registered CA that
    /// signed it, already verified by the caller.
    pub fn add_certificate(
        &mut self,
        scope: &Scope,
        facts: CertFacts,
        status: CertStatus,
        ca_id: Option<String>,
        mode: CertMode,
        now: Timestamp,
    ) -> Result<(Certificate, Vec<Change>)> {
        if !matches!(status, CertStatus::Active | CertStatus::Inactive | CertStatus::Revoked) {
            return Err(RegistryError::InvalidRequest(format!(
                "A certificate can be registered as ACTIVE, INACTIVE or REVOKED, not {}",
                status.as_str()
            )));
        }
        self.insert_certificate(scope, facts, status, ca_id, mode, now)
    }

    /// Adds a certificate issued to a device that is provisioning itself (fleet provisioning's
    /// CreateKeysAndCertificate / CreateCertificateFromCsr) or auto-registered by its CA (JITR):
    /// `PENDING_ACTIVATION` until a template or a person activates it.
    pub fn add_pending_certificate(
        &mut self,
        scope: &Scope,
        facts: CertFacts,
        ca_id: Option<String>,
        now: Timestamp,
    ) -> Result<(Certificate, Vec<Change>)> {
        self.insert_certificate(scope, facts, CertStatus::PendingActivation, ca_id, CertMode::Default, now)
    }

    fn insert_certificate(
        &mut self,
        scope: &Scope,
        facts: CertFacts,
        status: CertStatus,
        ca_id: Option<String>,
        mode: CertMode,
        now: Timestamp,
    ) -> Result<(Certificate, Vec<Change>)> {
        if let Some(existing) = self.certs.certs.get(&facts.id) {
            return Err(RegistryError::AlreadyExists {
                message: format!(
                    "The certificate is already registered (certificateId {})",
                    existing.facts.id
                ),
                arn: scope.arn(ResourceType::Cert, &existing.facts.id),
                id: existing.facts.id.clone(),
            });
        }
        if let Some(ca) = &ca_id {
            let ca = self.ca_certificate(ca)?;
            if ca.status != CaStatus::Active {
                return Err(RegistryError::CertificateState(format!(
                    "The CA certificate {} that issued this certificate is INACTIVE; activate it first",
                    ca.facts.id
                )));
            }
        }
        let cert = Certificate {
            facts,
            ca_id,
            status,
            mode,
            created: now,
            last_modified: now,
            customer_version: 1,
            generation_id: new_generation(now, 1),
        };
        let change = Change::PutCertificate(cert.clone());
        Ok((cert, self.commit(vec![change])))
    }

    /// UpdateCertificate: ACTIVE, INACTIVE or REVOKED. A revoked certificate stays revoked.
    pub fn update_certificate_status(
        &mut self,
        id: &str,
        status: CertStatus,
        now: Timestamp,
    ) -> Result<Vec<Change>> {
        let current = self.certificate(id)?;
        match status {
            CertStatus::Active | CertStatus::Inactive | CertStatus::Revoked => {}
            other => {
                return Err(RegistryError::InvalidRequest(format!(
                    "newStatus {} cannot be set by UpdateCertificate; use ACTIVE, INACTIVE or REVOKED",
                    other.as_str()
                )));
            }
        }
        if current.status == CertStatus::Revoked && status != CertStatus::Revoked {
            return Err(RegistryError::CertificateState(format!(
                "Certificate {} is REVOKED; a revoked certificate cannot be made {}",
                current.facts.id,
                status.as_str()
            )));
        }
        if status == CertStatus::Active
            && let Some(ca) = &current.ca_id
            && self.certs.cas.get(ca).is_some_and(|c| c.status != CaStatus::Active)
        {
            return Err(RegistryError::CertificateState(format!(
                "The CA certificate {ca} that issued certificate {} is INACTIVE; activate the CA first",
                current.facts.id
            )));
        }
        if current.status == status {
            return Ok(Vec::new());
        }
        let version = current.customer_version + 1;
        let cert = Certificate {
            status,
            last_modified: now,
            customer_version: version,
            generation_id: new_generation(now, version),
            ..current.clone()
        };
        Ok(self.commit(vec![Change::PutCertificate(cert)]))
    }

    /// DeleteCertificate: refused while ACTIVE, attached to a thing, or (unless `force`) with
    /// policies attached; `force` detaches them.
    pub fn delete_certificate(&mut self, scope: &Scope, id: &str, force: bool) -> Result<Vec<Change>> {
        let current = self.certificate(id)?;
        let id = current.facts.id.clone();
        if current.status == CertStatus::Active {
            return Err(RegistryError::CertificateState(format!(
                "Certificate {id} must be deactivated (not ACTIVE) before deletion"
            )));
        }
        if let Some(things) = self.certs.principal_things.get(&id).filter(|t| !t.is_empty()) {
            return Err(RegistryError::DeleteConflict(format!(
                "Things must be detached before deletion (arn: {}); attached to: {}",
                scope.arn(ResourceType::Cert, &id),
                things.iter().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let policies = self.detach_all(&super::Target::Cert(id.clone()));
        if !policies.is_empty() && !force {
            return Err(RegistryError::DeleteConflict(format!(
                "Certificate policies must be detached before deletion (arn: {}), or pass forceDelete",
                scope.arn(ResourceType::Cert, &id)
            )));
        }
        let mut changes = policies;
        changes.push(Change::DeleteCertificate(id));
        Ok(self.commit(changes))
    }

    /// ListCertificates / ListCertificatesByCA: by creation time (then id), ascending or not.
    pub fn list_certificates(
        &self,
        ca: Option<&str>,
        ascending: bool,
        marker: Option<&str>,
        page_size: usize,
    ) -> Result<Page<&Certificate>> {
        if let Some(ca) = ca {
            self.ca_certificate(ca)?;
        }
        let all: Vec<&Certificate> = self
            .certs
            .certs
            .values()
            .filter(|c| ca.is_none_or(|ca| c.ca_id.as_deref() == Some(ca.to_ascii_lowercase().as_str())))
            .collect();
        page_by_creation(all, |c| &c.facts, |c| c.created, ascending, marker, page_size)
    }

    // ------------------------------------------------------------------ CA certificates

    /// RegisterCACertificate. `facts` were parsed and the verification certificate (if any) checked
    /// by the caller.
    pub fn add_ca_certificate(
        &mut self,
        scope: &Scope,
        facts: CertFacts,
        how: CaRegistration,
        now: Timestamp,
    ) -> Result<(CaCertificate, Vec<Change>)> {
        if let Some(existing) = self.certs.cas.get(&facts.id) {
            return Err(RegistryError::AlreadyExists {
                message: format!(
                    "The CA certificate is already registered (certificateId {})",
                    existing.facts.id
                ),
                arn: scope.arn(ResourceType::CaCert, &existing.facts.id),
                id: existing.facts.id.clone(),
            });
        }
        let same_subject = self.certs.cas.values().filter(|c| c.facts.subject == facts.subject).count();
        if same_subject >= MAX_CAS_PER_SUBJECT {
            return Err(RegistryError::LimitExceeded(format!(
                "{MAX_CAS_PER_SUBJECT} CA certificates with the subject '{}' are already registered",
                facts.subject
            )));
        }
        let ca = CaCertificate {
            facts,
            status: if how.active { CaStatus::Active } else { CaStatus::Inactive },
            auto_registration: how.auto_registration,
            mode: how.mode,
            created: now,
            last_modified: now,
            customer_version: 1,
            generation_id: new_generation(now, 1),
            registration_config: how.registration_config,
        };
        let change = Change::PutCaCertificate(ca.clone());
        Ok((ca, self.commit(vec![change])))
    }

    /// UpdateCACertificate.
    pub fn update_ca_certificate(
        &mut self,
        id: &str,
        status: Option<CaStatus>,
        auto_registration: Option<bool>,
        registration_config: Option<Option<serde_json::Value>>,
        now: Timestamp,
    ) -> Result<Vec<Change>> {
        let current = self.ca_certificate(id)?;
        let version = current.customer_version + 1;
        let ca = CaCertificate {
            status: status.unwrap_or(current.status),
            auto_registration: auto_registration.unwrap_or(current.auto_registration),
            registration_config: registration_config.unwrap_or_else(|| current.registration_config.clone()),
            last_modified: now,
            customer_version: version,
            generation_id: new_generation(now, version),
            ..current.clone()
        };
        Ok(self.commit(vec![Change::PutCaCertificate(ca)]))
    }

    /// DeleteCACertificate: refused while ACTIVE or while certificates it issued are registered.
    pub fn delete_ca_certificate(&mut self, id: &str) -> Result<Vec<Change>> {
        let current = self.ca_certificate(id)?;
        let id = current.facts.id.clone();
        if current.status == CaStatus::Active {
            return Err(RegistryError::CertificateState(format!(
                "CA certificate {id} must be deactivated (INACTIVE) before deletion"
            )));
        }
        let issued = self.certs.certs.values().filter(|c| c.ca_id.as_deref() == Some(id.as_str())).count();
        if issued > 0 {
            return Err(RegistryError::DeleteConflict(format!(
                "CA certificate {id} still has {issued} registered certificate(s); delete them first"
            )));
        }
        Ok(self.commit(vec![Change::DeleteCaCertificate(id)]))
    }

    /// ListCACertificates, by creation time.
    pub fn list_ca_certificates(
        &self,
        ascending: bool,
        marker: Option<&str>,
        page_size: usize,
    ) -> Result<Page<&CaCertificate>> {
        let all: Vec<&CaCertificate> = self.certs.cas.values().collect();
        page_by_creation(all, |c| &c.facts, |c| c.created, ascending, marker, page_size)
    }

    // ------------------------------------------------------------------ thing principals

    /// The certificate id of a principal ARN that names a registered certificate.
    fn principal_cert(&self, principal: &str) -> Result<String> {
        let id = cert_id_of_principal(principal).ok_or_else(|| {
            RegistryError::InvalidRequest(format!(
                "Principal '{principal}' is not a certificate ARN (arn:aws:iot:<region>:<account>:cert/<certificateId>)"
            ))
        })?;
        Ok(self.certificate(id)?.facts.id.clone())
    }

    /// AttachThingPrincipal.
    pub fn attach_thing_principal(
        &mut self,
        thing: &str,
        principal: &str,
        kind: ThingPrincipalType,
    ) -> Result<Vec<Change>> {
        self.thing(thing)?;
        let cert = self.principal_cert(principal)?;
        let attached: Vec<&String> =
            self.certs.principal_things.get(&cert).into_iter().flatten().filter(|t| *t != thing).collect();
        let exclusive_elsewhere = attached.iter().find(|t| {
            self.certs
                .thing_principals
                .get(t.as_str())
                .and_then(|m| m.iter().find(|(p, _)| cert_id_of_principal(p) == Some(&cert)))
                .is_some_and(|(_, k)| *k == ThingPrincipalType::ExclusiveThing)
        });
        if let Some(other) = exclusive_elsewhere {
            return Err(RegistryError::InvalidRequest(format!(
                "Certificate {cert} is attached exclusively to thing {other}; detach it there first"
            )));
        }
        if kind == ThingPrincipalType::ExclusiveThing && !attached.is_empty() {
            return Err(RegistryError::InvalidRequest(format!(
                "Certificate {cert} is already attached to thing {}; an exclusive attachment needs it to be \
                 attached to no other thing",
                attached[0]
            )));
        }
        Ok(self.commit(vec![Change::AttachPrincipal {
            thing: thing.to_owned(),
            principal: principal.to_owned(),
            kind,
        }]))
    }

    /// DetachThingPrincipal. Detaching what is not attached changes nothing.
    pub fn detach_thing_principal(&mut self, thing: &str, principal: &str) -> Result<Vec<Change>> {
        self.thing(thing)?;
        let cert = self.principal_cert(principal)?;
        let attached = self
            .certs
            .thing_principals
            .get(thing)
            .and_then(|m| m.keys().find(|p| cert_id_of_principal(p) == Some(cert.as_str())).cloned());
        match attached {
            Some(p) => {
                Ok(self.commit(vec![Change::DetachPrincipal { thing: thing.to_owned(), principal: p }]))
            }
            None => Ok(Vec::new()),
        }
    }

    /// ListThingPrincipals(V2): the principals attached to a thing.
    pub fn thing_principals(&self, thing: &str) -> Result<Vec<(&str, ThingPrincipalType)>> {
        self.thing(thing)?;
        Ok(self
            .certs
            .thing_principals
            .get(thing)
            .into_iter()
            .flatten()
            .map(|(p, k)| (p.as_str(), *k))
            .collect())
    }

    /// ListPrincipalThings: the things a certificate is attached to.
    pub fn principal_things(&self, principal: &str) -> Result<Vec<&str>> {
        let cert = self.principal_cert(principal)?;
        Ok(self.certs.principal_things.get(&cert).into_iter().flatten().map(String::as_str).collect())
    }

    /// The things a certificate (by id) is attached to, for policy variables and the console.
    pub fn things_of_certificate(&self, cert_id: &str) -> impl Iterator<Item = &str> {
        self.certs.principal_things.get(cert_id).into_iter().flatten().map(String::as_str)
    }

    pub(super) fn apply_cert_change(&mut self, change: &Change) {
        match change {
            Change::PutCertificate(c) => {
                self.certs.certs.insert(c.facts.id.clone(), c.clone());
            }
            Change::DeleteCertificate(id) => {
                self.certs.certs.remove(id);
            }
            Change::PutCaCertificate(c) => {
                self.certs.cas.insert(c.facts.id.clone(), c.clone());
            }
            Change::DeleteCaCertificate(id) => {
                self.certs.cas.remove(id);
            }
            Change::AttachPrincipal { thing, principal, kind } => {
                self.certs
                    .thing_principals
                    .entry(thing.clone())
                    .or_default()
                    .insert(principal.clone(), *kind);
                if let Some(id) = cert_id_of_principal(principal) {
                    self.certs.principal_things.entry(id.to_owned()).or_default().insert(thing.clone());
                }
            }
            Change::DetachPrincipal { thing, principal } => {
                if let Some(m) = self.certs.thing_principals.get_mut(thing) {
                    m.remove(principal);
                    if m.is_empty() {
                        self.certs.thing_principals.remove(thing);
                    }
                }
                if let Some(id) = cert_id_of_principal(principal)
                    && let Some(s) = self.certs.principal_things.get_mut(id)
                {
                    s.remove(thing);
                    if s.is_empty() {
                        self.certs.principal_things.remove(id);
                    }
                }
            }
            _ => {}
        }
    }
}
