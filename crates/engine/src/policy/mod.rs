//! Policy enforcement inputs: the effective policies of a caller (certificate + the thing its
//! client id names) and the policy-variable context (`iot:ClientId`, `iot:Connection.Thing.*`,
//! `iot:Certificate.*`, `aws:SourceIp`, `iot:ConnectAttributes`). The decisions themselves are made
//! by `thingbox_model::policy`. Used by TestAuthorization and by the gateway's authorizer.

use std::collections::HashMap;
use std::sync::Arc;

use thingbox_api::console::Explanation;
use thingbox_model::policy::{self, Action, Context, Decision, DecisionKind, Policy, PolicyRef, Request};
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
        let keys = ctx
            .keys()
            .filter(|k| k.starts_with("iot:Certificate.") && !k.ends_with(".List"))
            .map(str::to_owned)
            .collect();
        ctx.set_all("iot:Certificate.AvailableKeys", keys);
    }
    ctx
}

/// A decision as the console shows it.
pub fn explanation(d: Decision, resource: String, policies: Vec<(String, String)>) -> Explanation {
    let statement = |r: policy::StatementRef| thingbox_api::console::StatementRef {
        policy: r.policy,
        version: r.version,
        index: r.index,
        sid: r.sid,
    };
    Explanation {
        decision: d.kind.as_str().to_owned(),
        resource,
        policies,
        allowed_by: d.allowed_by.into_iter().map(statement).collect(),
        denied_by: d.denied_by.into_iter().map(statement).collect(),
        bindings: d
            .bindings
            .into_iter()
            .map(|b| thingbox_api::console::Binding { variable: b.variable, value: b.value })
            .collect(),
    }
}

/// An allowing decision that no policy made (a caller policies do not apply to), with why.
pub fn not_checked(resource: String, why: &str) -> (Explanation, Option<String>) {
    let e = Explanation {
        decision: DecisionKind::Allowed.as_str().to_owned(),
        resource,
        policies: Vec::new(),
        allowed_by: Vec::new(),
        denied_by: Vec::new(),
        bindings: Vec::new(),
    };
    (e, Some(why.to_owned()))
}

/// The evaluator's view of parsed policies.
fn refs(policies: &[Effective]) -> Vec<PolicyRef<'_>> {
    policies.iter().map(|p| PolicyRef { name: &p.name, version: &p.version, policy: &p.policy }).collect()
}

/// Evaluates one request against parsed policies.
pub fn decide(policies: &[Effective], action: Action, resource: &str, ctx: &Context) -> Decision {
    policy::evaluate(&refs(policies), &Request { action, resource }, ctx)
}

/// One connection's policies, compiled against its context; valid while the registry's
/// generation is `generation`.
#[derive(Debug)]
pub struct CallerPolicies {
    generation: u64,
    compiled: policy::Compiled,
    /// The parsed policies and context, kept once a traced message needed an explanation (the
    /// explaining evaluator needs them; reading and parsing them again per message would cost
    /// more than the evaluation).
    explaining: Option<Arc<(Vec<Effective>, Context)>>,
}

thread_local! {
    static RESOURCE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The name the plain listener's built-in permissive policy goes by in logs and documentation.
pub const PLAIN_ALLOW_ALL: &str = "thingbox-plain-allow-all";

/// The gateway's authorizer: certificate callers are held to their IoT policies; plain-listener
/// callers to the built-in permissive policy [`PLAIN_ALLOW_ALL`] unless named policies are
/// configured for them; WebSocket and HTTP-publish callers are allowed everything (compat.md).
#[derive(Debug)]
pub struct PolicyAuthorizer {
    registry: Arc<RegistryService>,
    /// `arn:aws:iot:<region>:<account>:`
    arn_prefix: String,
    /// Policies (by name) plain-listener callers are held to; empty = [`PLAIN_ALLOW_ALL`].
    plain_policies: Vec<String>,
    /// Where decisions are published when someone listens.
    events: crate::events::Events,
    /// Provisioning claims: certificates outside the registry, allowed only their template's
    /// fleet-provisioning topics.
    claims: Arc<crate::provisioning::claims::Claims>,
}

impl PolicyAuthorizer {
    /// An authorizer over `registry`; resource ARNs are rendered in `region`/`account`.
    pub fn new(
        registry: Arc<RegistryService>,
        region: String,
        account: String,
        plain_policies: Vec<String>,
        events: crate::events::Events,
        claims: Arc<crate::provisioning::claims::Claims>,
    ) -> Self {
        Self {
            registry,
            arn_prefix: format!("arn:aws:iot:{region}:{account}:"),
            plain_policies,
            events,
            claims,
        }
    }

    /// The decision for a provisioning claim certificate, if `who` holds one: connect as any
    /// client id, and only its template's fleet-provisioning topics.
    fn claim_decision(&self, who: &Caller, action: Action, name: &str) -> Option<bool> {
        let Principal::Certificate(cert) = &who.principal else { return None };
        if self.claims.is_empty() {
            return None;
        }
        let template = self.claims.template_of(cert, crate::provisioning::now())?;
        Some(match action {
            Action::Connect => true,
            _ => thingbox_model::provisioning::claim_allows(&template, name),
        })
    }

    /// The policies of a caller: a certificate's effective policies, or the plain listener's
    /// configured ones (missing names are skipped and logged).
    fn policies_of(&self, r: &Registry, cert: Option<&str>, who: &Caller) -> Vec<Effective> {
        match cert {
            Some(cert) => {
                let thing = r.thing(&who.client_id).ok().map(|t| t.name.clone());
                parsed(&r.effective_policies(Some(cert), thing.as_deref()))
            }
            None => {
                let found: Vec<&IotPolicy> = self
                    .plain_policies
                    .iter()
                    .filter_map(|n| match r.policy(n) {
                        Ok(p) => Some(p),
                        Err(_) => {
                            tracing::warn!(
                                policy = n,
                                "plain-listener policy does not exist; it allows nothing"
                            );
                            None
                        }
                    })
                    .collect();
                parsed(&found)
            }
        }
    }

    /// A caller's policies and variable context, read from the registry in one go.
    fn inputs(&self, cert: Option<&str>, who: &Caller) -> (Vec<Effective>, Context) {
        let ip = who.ip.to_string();
        self.registry
            .read(|r| {
                let ctx = context(r, cert, Some(&who.client_id), Some(&ip), &who.connect_attributes);
                Ok((self.policies_of(r, cert, who), ctx))
            })
            .unwrap_or_default()
    }

    fn compile(&self, cert: Option<&str>, who: &Caller, generation: u64) -> CallerPolicies {
        let (policies, ctx) = self.inputs(cert, who);
        CallerPolicies { generation, compiled: policy::compile(&refs(&policies), &ctx), explaining: None }
    }

    /// The explained decision for a caller, as the gateway would make it (the console's "test
    /// authorization" panel): `cert` is the certificate id (`None`: a plain-listener client).
    /// `draft` replaces (or adds) one policy document by name, to try it before saving it.
    /// Returns the decision, the resource ARN and the policies evaluated.
    pub fn explain_for(
        &self,
        cert: Option<&str>,
        client_id: &str,
        ip: std::net::IpAddr,
        action: Action,
        name: &str,
        draft: Option<(String, Policy)>,
    ) -> (Decision, String, Vec<(String, String)>) {
        let resource = self.resource(action, name);
        let principal = match cert {
            Some(c) => Principal::Certificate(c.to_owned()),
            None => Principal::Plain("plain".into()),
        };
        let who = Caller {
            principal,
            client_id: client_id.to_owned(),
            ip,
            connect_attributes: Vec::new(),
            cache: Default::default(),
        };
        if cert.is_none() && self.plain_policies.is_empty() && draft.is_none() {
            let d = Decision {
                kind: DecisionKind::Allowed,
                allowed_by: vec![policy::StatementRef {
                    policy: PLAIN_ALLOW_ALL.into(),
                    version: "1".into(),
                    index: 0,
                    sid: None,
                }],
                denied_by: Vec::new(),
                bindings: Vec::new(),
            };
            return (d, resource, vec![(PLAIN_ALLOW_ALL.into(), "1".into())]);
        }
        let (mut policies, ctx) = self.inputs(cert, &who);
        if let Some((name, policy)) = draft {
            policies.retain(|p| p.name != name);
            policies.push(Effective { name, version: "draft".into(), policy });
        }
        let d = decide(&policies, action, &resource, &ctx);
        let names = policies.iter().map(|p| (p.name.clone(), p.version.clone())).collect();
        (d, resource, names)
    }

    /// The explained decision (the slow, allocating evaluator: only for logs and listeners).
    fn explain(&self, cert: Option<&str>, who: &Caller, action: Action, resource: &str) -> Decision {
        let (policies, ctx) = self.inputs(cert, who);
        decide(&policies, action, resource, &ctx)
    }

    fn resource(&self, action: Action, name: &str) -> String {
        let kind = match action {
            Action::Connect => "client",
            Action::Subscribe => "topicfilter",
            _ => "topic",
        };
        format!("{}{kind}/{name}", self.arn_prefix)
    }

    /// The explained decision for a live caller, made exactly as [`Authorizer`]'s checks make it
    /// (the message-flow tracer and "why not" show it).
    pub fn explain_caller(&self, who: &Caller, action: Action, name: &str) -> (Explanation, Option<String>) {
        let resource = self.resource(action, name);
        if let Some(allowed) = self.claim_decision(who, action, name) {
            let (mut e, _) = not_checked(resource, "");
            if !allowed {
                e.decision = DecisionKind::ImplicitDeny.as_str().to_owned();
            }
            return (
                e,
                Some(
                    "a provisioning claim certificate: only its template's fleet-provisioning topics".into(),
                ),
            );
        }
        let cert = match &who.principal {
            Principal::Certificate(cert) => Some(cert.as_str()),
            Principal::Plain(_) if !self.plain_policies.is_empty() => None,
            Principal::Plain(_) => {
                let (mut e, _) = not_checked(resource, "");
                e.allowed_by.push(thingbox_api::console::StatementRef {
                    policy: PLAIN_ALLOW_ALL.into(),
                    version: "1".into(),
                    index: 0,
                    sid: None,
                });
                e.policies.push((PLAIN_ALLOW_ALL.into(), "1".into()));
                return (e, Some("the plain listener's built-in permissive policy".into()));
            }
            Principal::Iam(_) => {
                return not_checked(
                    resource,
                    "an IAM caller (SigV4 WebSocket): IoT policies do not apply to it (docs/compat.md)",
                );
            }
            Principal::Http | Principal::Service(_) => {
                return not_checked(resource, "not a device: IoT policies do not apply");
            }
        };
        let generation = self.registry.generation();
        let inputs = {
            let mut cache = who.cache.0.lock();
            match cache.as_mut() {
                Some(c) if c.generation == generation => {
                    c.explaining.get_or_insert_with(|| Arc::new(self.inputs(cert, who))).clone()
                }
                _ => Arc::new(self.inputs(cert, who)),
            }
        };
        let (policies, ctx) = &*inputs;
        let d = decide(policies, action, &resource, ctx);
        let names = policies.iter().map(|p| (p.name.clone(), p.version.clone())).collect();
        (explanation(d, resource, names), None)
    }

    fn check(&self, who: &Caller, action: Action, kind: &str, name: &str) -> bool {
        if let Some(allowed) = self.claim_decision(who, action, name) {
            return allowed;
        }
        let cert = match &who.principal {
            Principal::Certificate(cert) => Some(cert.as_str()),
            Principal::Plain(_) if !self.plain_policies.is_empty() => None,
            _ => return true,
        };
        let generation = self.registry.generation();
        let mut cache = who.cache.0.lock();
        if cache.as_ref().is_none_or(|c| c.generation != generation) {
            *cache = Some(self.compile(cert, who, generation));
        }
        let Some(entry) = cache.as_ref() else { return false };
        let allowed = RESOURCE.with(|buf| {
            let mut buf = buf.borrow_mut();
            buf.clear();
            buf.push_str(&self.arn_prefix);
            buf.push_str(kind);
            buf.push('/');
            buf.push_str(name);
            entry.compiled.decide(action, &buf) == DecisionKind::Allowed
        });
        drop(cache);
        let log = !allowed && tracing::enabled!(tracing::Level::DEBUG);
        if log || self.events.auth.has_listeners() {
            let resource = format!("{}{kind}/{name}", self.arn_prefix);
            let d = self.explain(cert, who, action, &resource);
            if log {
                tracing::debug!(
                    client = who.client_id,
                    action = action.as_str(),
                    resource,
                    decision = d.kind.as_str(),
                    denied_by = ?d.denied_by,
                    missing = ?d.missing(),
                    "denied by policy"
                );
            }
            self.events.auth.emit(crate::events::Event::Authorization(crate::events::AuthDecision {
                principal: who.principal.identifier(),
                client_id: who.client_id.clone(),
                action: action.as_str(),
                resource,
                decision: if allowed { "ALLOWED" } else { d.kind.as_str() },
                allowed_by: d.allowed_by,
                denied_by: d.denied_by,
                bindings: d.bindings,
                timestamp_ms: crate::broker::now_ms(),
            }));
        }
        allowed
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
    fn explain(&self, who: &Caller, action: Action, name: &str) -> (Explanation, Option<String>) {
        self.explain_caller(who, action, name)
    }
    fn thing_of(&self, who: &Caller) -> Option<String> {
        self.registry.read(|r| Ok(r.thing(&who.client_id).ok().map(|t| t.name.clone()))).ok().flatten()
    }
}
