//! Policy enforcement inputs: the effective policies of a caller (certificate + the thing its
//! client id names) and the policy-variable context (`iot:ClientId`, `iot:Connection.Thing.*`,
//! `iot:Certificate.*`, `aws:SourceIp`, `iot:ConnectAttributes`). The decisions themselves are made
//! by `thingbox_model::policy`. Used by TestAuthorization and by the gateway's authorizer.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use thingbox_model::policy::{self, Action, Context, Decision, Policy, PolicyRef, Request};
use thingbox_model::registry::{IotPolicy, Registry};
use x509_parser::prelude::FromDer;

use crate::broker::Principal;
use crate::gateway::{Authorizer, Caller};
use crate::registry::RegistryService;

/// A policy version in force, parsed.
#[derive(Debug, Clone)]
pub struct Effective {
    /// Name.
    pub name: String,
    /// Default version id.
    pub version: String,
    /// Parsed document.
    pub policy: Policy,
}

/// Parses the default versions of `policies` (documents were validated when stored).
pub fn parsed(policies: &[&IotPolicy]) -> Vec<Effective> {
    policies
        .iter()
        .filter_map(|p| {
            policy::parse(&p.default().document).ok().map(|policy| Effective {
                name: p.name.clone(),
                version: p.default_version.to_string(),
                policy,
            })
        })
        .collect()
}

fn dn_attr_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CommonName",
        "2.5.4.10" => "Organization",
        "2.5.4.11" => "OrganizationalUnit",
        "2.5.4.6" => "Country",
        "2.5.4.8" => "State",
        "2.5.4.5" => "SerialNumber",
        "2.5.4.12" => "Title",
        "2.5.4.4" => "Surname",
        "2.5.4.42" => "GivenName",
        "2.5.4.43" => "Initials",
        "2.5.4.65" => "Pseudonym",
        "2.5.4.44" => "GenerationQualifier",
        "2.5.4.46" => "DistinguishedNameQualifier",
        _ => return None,
    })
}

fn add_dn(ctx: &mut Context, prefix: &str, name: &x509_parser::x509::X509Name<'_>) {
    let mut by_attr: HashMap<&'static str, Vec<String>> = HashMap::new();
    for attr in name.iter_attributes() {
        if let (Some(n), Ok(v)) = (dn_attr_name(&attr.attr_type().to_id_string()), attr.as_str()) {
            by_attr.entry(n).or_default().push(v.to_owned());
        }
    }
    for (attr, values) in by_attr {
        ctx.set(format!("{prefix}.{attr}"), values[0].clone());
        for (i, v) in values.iter().enumerate().skip(1) {
            ctx.set(format!("{prefix}.{attr}.{i}"), v.clone());
        }
        ctx.set_all(format!("{prefix}.{attr}.List"), values);
    }
}

/// The policy-variable context of a caller.
pub fn context(
    r: &Registry,
    cert_id: Option<&str>,
    client_id: Option<&str>,
    source_ip: Option<&str>,
    connect_attributes: &[&str],
) -> Context {
    let mut ctx = Context::new();
    if let Some(c) = client_id {
        ctx.set("iot:ClientId", c);
        if let Ok(thing) = r.thing(c) {
            ctx.set("iot:Connection.Thing.ThingName", thing.name.clone());
            if let Some(t) = &thing.type_name {
                ctx.set("iot:Connection.Thing.ThingTypeName", t.clone());
            }
            for (k, v) in &thing.attributes {
                ctx.set(format!("iot:Connection.Thing.Attributes[{k}]"), v.clone());
            }
            let attached = cert_id.is_some_and(|id| r.things_of_certificate(id).any(|t| t == thing.name));
            ctx.set("iot:Connection.Thing.IsAttached", attached.to_string());
        }
    }
    if let Some(ip) = source_ip {
        ctx.set("aws:SourceIp", ip);
    }
    ctx.set_all("iot:ConnectAttributes", connect_attributes.iter().map(|s| (*s).to_owned()).collect());
    if let Some(id) = cert_id
        && let Ok(cert) = r.certificate(id)
        && let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(cert.facts.pem.as_bytes())
        && let Ok((_, x)) = x509_parser::certificate::X509Certificate::from_der(&pem.contents)
    {
        add_dn(&mut ctx, "iot:Certificate.Subject", x.subject());
        add_dn(&mut ctx, "iot:Certificate.Issuer", x.issuer());
        ctx.set("iot:Certificate.SerialNumber", x.raw_serial_as_string().replace(':', ""));
    }
    ctx
}

/// Evaluates one request against parsed policies.
pub fn decide(policies: &[Effective], action: Action, resource: &str, ctx: &Context) -> Decision {
    let refs: Vec<PolicyRef<'_>> = policies
        .iter()
        .map(|p| PolicyRef { name: &p.name, version: &p.version, policy: &p.policy })
        .collect();
    policy::evaluate(&refs, &Request { action, resource }, ctx)
}

/// What one connection's checks need, rebuilt when the registry's policy generation moves.
#[derive(Debug)]
struct Compiled {
    generation: u64,
    policies: Vec<Effective>,
    ctx: Context,
}

/// The gateway's authorizer: certificate callers are held to their IoT policies; callers of the
/// plain listener, WebSocket and HTTP publish are allowed everything (documented in compat.md).
#[derive(Debug)]
pub struct PolicyAuthorizer {
    registry: Arc<RegistryService>,
    region: String,
    account: String,
    cache: Mutex<HashMap<(String, String), Arc<Compiled>>>,
}

impl PolicyAuthorizer {
    /// An authorizer over `registry`; resource ARNs are rendered in `region`/`account`.
    pub fn new(registry: Arc<RegistryService>, region: String, account: String) -> Self {
        Self { registry, region, account, cache: Mutex::new(HashMap::new()) }
    }

    fn compiled(&self, cert: &str, who: &Caller) -> Arc<Compiled> {
        let key = (cert.to_owned(), who.client_id.clone());
        let generation = self.registry.read(|r| Ok(r.policy_generation())).unwrap_or(0);
        if let Some(c) = self.cache.lock().get(&key)
            && c.generation == generation
        {
            return c.clone();
        }
        let ip = who.ip.to_string();
        let compiled = self
            .registry
            .read(|r| {
                let thing = r.thing(&who.client_id).ok().map(|t| t.name.clone());
                let policies = parsed(&r.effective_policies(Some(cert), thing.as_deref()));
                let ctx = context(r, Some(cert), Some(&who.client_id), Some(&ip), &who.connect_attributes);
                Ok(Arc::new(Compiled { generation: r.policy_generation(), policies, ctx }))
            })
            .unwrap_or_else(|_| Arc::new(Compiled { generation, policies: Vec::new(), ctx: Context::new() }));
        let mut cache = self.cache.lock();
        if cache.len() > 100_000 {
            cache.clear();
        }
        cache.insert(key, compiled.clone());
        compiled
    }

    fn check(&self, who: &Caller, action: Action, kind: &str, name: &str) -> bool {
        let Principal::Certificate(cert) = &who.principal else { return true };
        let c = self.compiled(cert, who);
        let resource = format!("arn:aws:iot:{}:{}:{kind}/{name}", self.region, self.account);
        let d = decide(&c.policies, action, &resource, &c.ctx);
        if !d.allowed() {
            tracing::debug!(
                client = who.client_id,
                action = action.as_str(),
                resource,
                decision = d.kind.as_str(),
                missing = ?d.missing(),
                "denied by policy"
            );
        }
        d.allowed()
    }

    /// Forgets cached decisions of a connection that ended.
    pub fn forget(&self, cert: &str, client_id: &str) {
        self.cache.lock().remove(&(cert.to_owned(), client_id.to_owned()));
    }
}

impl Authorizer for PolicyAuthorizer {
    fn connect(&self, who: &Caller) -> bool {
        self.check(who, Action::Connect, "client", &who.client_id)
    }
    fn publish(&self, who: &Caller, topic: &str) -> bool {
        self.check(who, Action::Publish, "topic", topic)
    }
    fn retain(&self, who: &Caller, topic: &str) -> bool {
        self.check(who, Action::RetainPublish, "topic", topic)
    }
    fn subscribe(&self, who: &Caller, filter: &str) -> bool {
        self.check(who, Action::Subscribe, "topicfilter", filter)
    }
    fn receive(&self, who: &Caller, topic: &str) -> bool {
        self.check(who, Action::Receive, "topic", topic)
    }
    fn disconnected(&self, who: &Caller) {
        if let Principal::Certificate(cert) = &who.principal {
            self.forget(cert, &who.client_id);
        }
    }
}
