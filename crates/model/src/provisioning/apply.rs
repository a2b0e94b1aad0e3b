//! Carrying out a [`Plan`] on the registry, in JITP's documented order: the thing (created, or
//! updated as its `OverrideSettings` say), the policies (a `PolicyDocument` becomes a policy named by
//! its hash), policies attached to the certificate, the certificate attached to the thing, and the
//! certificate's status last. All of it or nothing: a refusal at any step leaves the registry as
//! it was.

use std::collections::BTreeMap;

use super::template::{Override, Plan, PolicyPlan, ThingPlan};
use crate::Timestamp;
use crate::arn::{ResourceType, Scope};
use crate::registry::{
    AttributePayload, CertStatus, Change, NewResource, Registry, RegistryError, Target, ThingPrincipalType,
    ThingUpdate,
};

/// Why a plan could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// An `OverrideSettings` of `FAIL` met an existing resource that differs.
    #[error("{0}")]
    Conflict(String),
    /// The registry refused a step (a missing thing type, group or policy, a limit…).
    #[error("{0}")]
    Registry(#[from] RegistryError),
}

/// What was provisioned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Provisioned {
    /// The thing's name, when the template has a thing.
    pub thing_name: Option<String>,
    /// ARNs by logical resource name (RegisterThing's `resourceArns`).
    pub resource_arns: BTreeMap<String, String>,
}

/// What [`provision`] needs besides the plan.
#[derive(Debug)]
pub struct Provisioning<'a> {
    /// Region and account.
    pub scope: &'a Scope,
    /// The device's certificate: what the template's certificate resource must name.
    pub certificate_id: &'a str,
    /// The id a new thing gets.
    pub thing_id: String,
    /// Now.
    pub now: Timestamp,
    /// The name a policy made from a `PolicyDocument` gets (a hash of the document).
    pub policy_name: fn(&str) -> String,
}

/// Carries out `plan` for the certificate in `p`, all or nothing.
pub fn provision(
    r: &mut Registry,
    plan: &Plan,
    p: &Provisioning<'_>,
) -> Result<(Provisioned, Vec<Change>), ApplyError> {
    let before = r.clone();
    let out = steps(r, plan, p);
    if out.is_err() {
        *r = before;
    }
    out
}

fn steps(
    r: &mut Registry,
    plan: &Plan,
    p: &Provisioning<'_>,
) -> Result<(Provisioned, Vec<Change>), ApplyError> {
    let mut changes = Vec::new();
    let mut out = Provisioned::default();
    if let Some((logical, id, _)) = &plan.certificate {
        if id != p.certificate_id {
            return Err(ApplyError::Registry(RegistryError::InvalidRequest(format!(
                "The template's certificate resource {logical} names certificate {id}, not the device's {}",
                p.certificate_id
            ))));
        }
        r.certificate(id)?;
        out.resource_arns.insert(logical.clone(), p.scope.arn(ResourceType::Cert, id));
    }
    if let Some((logical, thing)) = &plan.thing {
        changes.extend(thing_step(r, thing, p)?);
        out.thing_name = Some(thing.name.clone());
        out.resource_arns.insert(logical.clone(), p.scope.arn(ResourceType::Thing, &thing.name));
    }
    let target = Target::Cert(p.certificate_id.to_owned());
    for (logical, policy) in &plan.policies {
        let name = match policy {
            PolicyPlan::Named(name) => {
                r.policy(name)?;
                name.clone()
            }
            PolicyPlan::Document(doc) => {
                let name = (p.policy_name)(doc);
                if r.policy(&name).is_err() {
                    let (_, c) = r.create_policy(p.scope, &name, doc, &[], p.now)?;
                    changes.extend(c);
                }
                out.resource_arns.insert(logical.clone(), p.scope.arn(ResourceType::Policy, &name));
                name
            }
        };
        changes.extend(r.attach_policy(&name, &target)?);
    }
    if let Some(thing) = &out.thing_name {
        let principal = p.scope.arn(ResourceType::Cert, p.certificate_id);
        let attached = r.thing_principals(thing)?.iter().any(|(pr, _)| pr.ends_with(p.certificate_id));
        if !attached {
            changes.extend(r.attach_thing_principal(
                thing,
                &principal,
                ThingPrincipalType::NonExclusiveThing,
            )?);
        }
    }
    if let Some((_, id, active)) = &plan.certificate {
        let status = if *active { CertStatus::Active } else { CertStatus::Inactive };
        changes.extend(r.update_certificate_status(id, status, p.now)?);
    }
    Ok((out, changes))
}

fn conflict(thing: &str, what: &str) -> ApplyError {
    ApplyError::Conflict(format!(
        "Thing {thing} already exists with different {what}, and the template's OverrideSettings say FAIL"
    ))
}

fn thing_step(r: &mut Registry, t: &ThingPlan, p: &Provisioning<'_>) -> Result<Vec<Change>, ApplyError> {
    let mut changes = Vec::new();
    let Ok(existing) = r.thing(&t.name) else {
        let payload = t.attributes.clone().map(|a| AttributePayload { attributes: Some(a), merge: false });
        let new = NewResource { scope: p.scope, id: p.thing_id.clone(), now: p.now };
        let (_, c) = r.create_thing(
            new,
            &t.name,
            t.type_name.as_deref(),
            payload.as_ref(),
            t.billing_group.as_deref(),
        )?;
        changes.extend(c);
        if let Some(groups) = &t.groups {
            changes.extend(r.update_groups_for_thing(&t.name, groups, &[])?);
        }
        return Ok(changes);
    };
    let existing = existing.clone();
    let mut update = ThingUpdate::default();
    if let Some(attrs) = &t.attributes {
        let differs = match t.on_attributes {
            Override::Merge => attrs.iter().any(|(k, v)| existing.attributes.get(k) != Some(v)),
            _ => existing.attributes != *attrs,
        };
        match t.on_attributes {
            _ if !differs => {}
            Override::DoNothing => {}
            Override::Fail => return Err(conflict(&t.name, "attributes")),
            Override::Replace => {
                update.attributes = Some(AttributePayload { attributes: Some(attrs.clone()), merge: false });
            }
            Override::Merge => {
                update.attributes = Some(AttributePayload { attributes: Some(attrs.clone()), merge: true });
            }
        }
    }
    if let Some(ty) = &t.type_name
        && existing.type_name.as_ref() != Some(ty)
    {
        match t.on_type {
            Override::DoNothing | Override::Merge => {}
            Override::Fail => return Err(conflict(&t.name, "thing type")),
            Override::Replace => update.type_name = Some(ty.clone()),
        }
    }
    if update.attributes.is_some() || update.type_name.is_some() {
        changes.extend(r.update_thing(&t.name, &update)?);
    }
    if let Some(groups) = &t.groups {
        let current: Vec<String> = r.direct_groups(&t.name).map(str::to_owned).collect();
        let add: Vec<String> = groups.iter().filter(|g| !current.contains(g)).cloned().collect();
        let remove: Vec<String> = current.iter().filter(|g| !groups.contains(g)).cloned().collect();
        match t.on_groups {
            _ if add.is_empty() && remove.is_empty() => {}
            Override::DoNothing => {}
            Override::Fail => return Err(conflict(&t.name, "thing groups")),
            Override::Merge => changes.extend(r.update_groups_for_thing(&t.name, &add, &[])?),
            Override::Replace => changes.extend(r.update_groups_for_thing(&t.name, &add, &remove)?),
        }
    }
    Ok(changes)
}
