//! Outgrowing the desk: what Thingbox holds, written as infrastructure code for AWS — a
//! CloudFormation template ([`cloudformation`]) or a Terraform configuration ([`terraform`]) — and
//! a template read back into AWS API calls ([`import`]).
//!
//! Exported: thing types, things with their attributes, thing groups (parents first), policies
//! (their default versions), topic rules with their actions, job templates and provisioning
//! templates; ARNs of the local account become the deploying account's and region's. Never
//! exported: private keys. What AWS or the target language cannot take as it is — certificates,
//! attachments CloudFormation has no resource for, a Lambda function Thingbox ran as a local
//! command — is listed in the [`Report`] with what to do instead, never dropped silently.

pub mod cloudformation;
pub mod import;
pub mod terraform;
pub mod text;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::jobs::JobTemplate;
use crate::provisioning::ProvisioningTemplate;
use crate::registry::Registry;
use crate::rules::TopicRule;

/// Everything an export reads.
#[derive(Debug, Clone, Copy)]
pub struct Inventory<'a> {
    /// The registry.
    pub registry: &'a Registry,
    /// Topic rules.
    pub rules: &'a [TopicRule],
    /// Job templates.
    pub job_templates: &'a [JobTemplate],
    /// Provisioning templates.
    pub provisioning: &'a [ProvisioningTemplate],
    /// Lambda functions (name or ARN) Thingbox runs locally (`--lambda`).
    pub local_lambdas: &'a [String],
    /// The local account id.
    pub account: &'a str,
    /// The local region.
    pub region: &'a str,
}

/// How serious a report line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// Not exported: do it by hand (the line says how).
    NotExported,
    /// Exported, but needs something on AWS first (the line says what).
    Check,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    /// How serious.
    pub severity: Severity,
    /// What it is about (`certificate 3f2a…`, `rule r1`, …).
    pub subject: String,
    /// What to do.
    pub text: String,
}

/// What an export did not (or could not) carry over.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The lines, in resource order.
    pub notes: Vec<Note>,
}

impl Report {
    fn not_exported(&mut self, subject: impl Into<String>, text: impl Into<String>) {
        self.notes.push(Note { severity: Severity::NotExported, subject: subject.into(), text: text.into() });
    }

    fn check(&mut self, subject: impl Into<String>, text: impl Into<String>) {
        self.notes.push(Note { severity: Severity::Check, subject: subject.into(), text: text.into() });
    }

    /// The report as Markdown.
    pub fn markdown(&self, format: &str) -> String {
        let mut s = format!(
            "# What the {format} export did not carry over\n\nPrivate keys are never exported. \
             Each line below says what to do on AWS.\n\n"
        );
        if self.notes.is_empty() {
            s.push_str("Nothing: everything was exported.\n");
        }
        for (title, sev) in
            [("Not exported", Severity::NotExported), ("Check before deploying", Severity::Check)]
        {
            let lines: Vec<&Note> = self.notes.iter().filter(|n| n.severity == sev).collect();
            if lines.is_empty() {
                continue;
            }
            s.push_str(&format!("## {title}\n\n"));
            for n in lines {
                s.push_str(&format!("- **{}**: {}\n", n.subject, n.text));
            }
            s.push('\n');
        }
        s
    }
}

/// Names unique within one output, made of what a target language allows.
#[derive(Debug, Default)]
struct Names(BTreeSet<String>);

impl Names {
    /// `prefix` + the name's letters and digits (CloudFormation logical ids: `[A-Za-z0-9]+`),
    /// or snake case for Terraform; a counter when two names collide.
    fn unique(&mut self, prefix: &str, name: &str, snake: bool) -> String {
        let mut base = String::from(prefix);
        let mut upper = !snake;
        for c in name.chars() {
            if c.is_ascii_alphanumeric() {
                if snake {
                    base.push(c.to_ascii_lowercase());
                } else if upper {
                    base.push(c.to_ascii_uppercase());
                } else {
                    base.push(c);
                }
                upper = false;
            } else if snake {
                if !base.ends_with('_') {
                    base.push('_');
                }
            } else {
                upper = true;
            }
        }
        let base = if snake { base.trim_end_matches('_').to_owned() } else { base };
        let mut candidate = base.clone();
        let mut n = 2;
        while !self.0.insert(candidate.clone()) {
            candidate = format!("{base}{}{n}", if snake { "_" } else { "" });
            n += 1;
        }
        candidate
    }
}

/// Thing groups ordered parents first.
fn groups_parents_first(r: &Registry) -> Vec<&crate::registry::ThingGroup> {
    let mut out: Vec<&crate::registry::ThingGroup> = Vec::new();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let all: Vec<_> = r.thing_groups().collect();
    while out.len() < all.len() {
        let before = out.len();
        for g in &all {
            if !placed.contains(g.name.as_str()) && g.parent.as_deref().is_none_or(|p| placed.contains(p)) {
                placed.insert(&g.name);
                out.push(g);
            }
        }
        if out.len() == before {
            // A parent outside the registry (cannot happen; keep the rest rather than loop).
            out.extend(all.iter().filter(|g| !placed.contains(g.name.as_str())));
            break;
        }
    }
    out
}

/// The certificate and attachment lines every format reports (neither CloudFormation nor
/// Terraform can recreate a certificate without its private key living on AWS).
fn report_certificates(inv: &Inventory<'_>, report: &mut Report) {
    let r = inv.registry;
    for c in r.certificates() {
        let id = &c.facts.id;
        let short = &id[..id.len().min(12)];
        let things: Vec<&str> = r.things_of_certificate(id).collect();
        let target = crate::registry::Target::Cert(id.clone());
        let policies: Vec<String> =
            r.attached_policies(&target).unwrap_or_default().iter().map(|p| p.name.clone()).collect();
        let mut text = String::from(
            "certificates are not exported (their private keys stay on the desk). Either make a new one on \
             AWS (`aws iot create-keys-and-certificate --set-as-active`) and put it on the device, or \
             register Thingbox's root CA (`aws iot register-ca-certificate`) and this certificate \
             (`aws iot register-certificate`) so the device keeps its key",
        );
        if !things.is_empty() {
            text.push_str(&format!("; then attach it to {}", things.join(", ")));
            text.push_str(" (`aws iot attach-thing-principal`)");
        }
        if !policies.is_empty() {
            text.push_str(&format!("; and attach policy {} (`aws iot attach-policy`)", policies.join(", ")));
        }
        report.not_exported(format!("certificate {short}… ({:?})", c.status), text);
    }
    for p in r.policies() {
        let targets = r.policy_targets(&p.name).unwrap_or_default();
        for t in targets {
            if let crate::registry::Target::ThingGroup(g) = t {
                report.not_exported(
                    format!("policy {} on thing group {g}", p.name),
                    format!(
                        "attach it after deploying: `aws iot attach-policy --policy-name {} --target \
                         arn:aws:iot:<region>:<account>:thinggroup/{g}`",
                        p.name
                    ),
                );
            }
        }
    }
}

/// The Lambda functions a rule action or provisioning hook names that Thingbox ran locally.
fn report_local_lambda(inv: &Inventory<'_>, subject: &str, function_arn: &str, report: &mut Report) {
    let local = inv
        .local_lambdas
        .iter()
        .any(|f| f == function_arn || function_arn.ends_with(&format!(":function:{f}")));
    let why = if local { "Thingbox ran it as a local command or URL (--lambda); " } else { "" };
    report.check(
        subject.to_owned(),
        format!("{why}the Lambda function {function_arn} must exist on AWS (and allow AWS IoT to invoke it) before this is used"),
    );
}

#[cfg(test)]
mod tests;
