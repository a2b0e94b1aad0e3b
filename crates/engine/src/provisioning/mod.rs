//! Provisioning: templates (service `iot`), fleet provisioning over MQTT ([`mqtt`]), provisioning
//! claims ([`claims`]), RegisterThing, and the pre-provisioning hook ([`hook`]).
//!
//! A device with a claim certificate asks for a certificate (`CreateKeysAndCertificate` or
//! `CreateCertificateFromCsr`): it is issued by the local CA and registered `PENDING_ACTIVATION`,
//! and the device gets an ownership token for it (random, 256 bits, in memory, one hour). With the
//! token it asks a template to provision it (`RegisterThing`): the hook runs, the template is
//! evaluated and carried out on the registry all or nothing, and the token is spent. A sweeper
//! deletes certificates whose token expired unused, if nothing was attached to them meanwhile.
//!
//! Just-in-time registration and provisioning of certificates from auto-registering CAs: [`jitr`].
//!
//! Architecture Invariant: the service owns its rows (`storage::provisioning`) and changes the
//! registry only through `RegistryService::write`, one write per RegisterThing.

pub mod claims;
mod hook;
pub mod jitr;
pub mod mqtt;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde_json::{Value, json};
use thingbox_model::Timestamp;
use thingbox_model::arn::{ResourceType, Scope};
use thingbox_model::provisioning::apply::{ApplyError, Provisioned, Provisioning, provision};
use thingbox_model::provisioning::template::{CERTIFICATE_ID, CertificateSource, Plan};
use thingbox_model::provisioning::{ProvisioningError, TemplateChange, TemplateType, Templates};
use thingbox_model::registry::{CertStatus, Registry};

use self::claims::{Claim, Claims};
use crate::Error;
use crate::ca::LocalCa;
use crate::certs;
use crate::registry::RegistryService;
use crate::rules::actions::LambdaTarget;
use crate::storage::{Db, StorageError, Write};

/// Provisioning settings.
#[derive(Debug, Clone)]
pub struct ProvisioningConfig {
    /// How long an ownership token lasts (AWS: one hour).
    pub token_ttl_ms: i64,
    /// How long a provisioning claim lasts (AWS: five minutes).
    pub claim_ttl_ms: i64,
    /// How often expired tokens and claims are swept.
    pub sweep_every: std::time::Duration,
}

impl Default for ProvisioningConfig {
    fn default() -> Self {
        Self {
            token_ttl_ms: 3_600_000,
            claim_ttl_ms: 300_000,
            sweep_every: std::time::Duration::from_secs(10),
        }
    }
}

/// A refused device request: the `statusCode`, `errorCode` and `errorMessage` of `/rejected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// HTTP-like status.
    pub status: u16,
    /// Stable code.
    pub code: &'static str,
    /// What a person reads.
    pub message: String,
}

impl Rejection {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    /// The `/rejected` payload.
    pub fn to_json(&self) -> Value {
        json!({"statusCode": self.status, "errorCode": self.code, "errorMessage": self.message})
    }
}

fn internal(e: impl std::fmt::Display) -> Rejection {
    Rejection::new(500, "InternalFailure", e.to_string())
}

#[derive(Debug, Clone)]
struct Token {
    cert_id: String,
    expires: Timestamp,
}

/// The provisioning service.
#[derive(Debug)]
pub struct ProvisioningService {
    templates: RwLock<Templates>,
    db: Db,
    registry: Arc<RegistryService>,
    broker: Arc<crate::broker::Broker>,
    ca: Arc<LocalCa>,
    scope: Scope,
    tokens: Mutex<HashMap<String, Token>>,
    /// Live provisioning claims (read by the TLS verifier and the authorizer).
    pub claims: Arc<Claims>,
    lambdas: BTreeMap<String, LambdaTarget>,
    http: reqwest::Client,
    config: ProvisioningConfig,
}

/// What a fleet-provisioning certificate request returns.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate id.
    pub certificate_id: String,
    /// The certificate.
    pub certificate_pem: String,
    /// The private key, when Thingbox made the key pair.
    pub private_key: Option<String>,
    /// The ownership token.
    pub token: String,
}

/// What CreateProvisioningClaim returns.
#[derive(Debug, Clone)]
pub struct ClaimIssued {
    /// The claim certificate's id.
    pub certificate_id: String,
    /// Its PEM.
    pub certificate_pem: String,
    /// Its public key.
    pub public_key: String,
    /// Its private key.
    pub private_key: String,
    /// When it stops working.
    pub expiration: Timestamp,
}

/// Now, as the domain sees it.
pub fn now() -> Timestamp {
    Timestamp(crate::broker::now_ms())
}

/// The name a template's `PolicyDocument` gets: 40 uppercase hex digits of its SHA-256, as AWS's
/// look (AWS documents no algorithm).
fn policy_name(document: &str) -> String {
    use sha2::Digest as _;
    hex::encode_upper(sha2::Sha256::digest(document.as_bytes()))[..40].to_owned()
}

/// The certificate pseudo-parameters of `pem`: its subject's fields and its id.
fn pseudo_parameters(cert_id: &str, pem: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::from([(CERTIFICATE_ID.to_owned(), cert_id.to_owned())]);
    let Ok((_, block)) = x509_parser::pem::parse_x509_pem(pem.as_bytes()) else { return out };
    let Ok(cert) = block.parse_x509() else { return out };
    let subject = cert.subject();
    let fields: [(&str, Vec<&x509_parser::x509::AttributeTypeAndValue<'_>>); 7] = [
        ("Country", subject.iter_country().collect()),
        ("Organization", subject.iter_organization().collect()),
        ("OrganizationalUnit", subject.iter_organizational_unit().collect()),
        ("StateName", subject.iter_state_or_province().collect()),
        ("CommonName", subject.iter_common_name().collect()),
        ("SerialNumber", subject.iter_by_oid(&x509_parser::oid_registry::OID_X509_SERIALNUMBER).collect()),
        (
            "DistinguishedNameQualifier",
            subject.iter_by_oid(&x509_parser::oid_registry::OID_X509_DN_QUALIFIER).collect(),
        ),
    ];
    for (name, values) in fields {
        if let Some(v) = values.first().and_then(|a| a.as_str().ok()) {
            out.insert(format!("AWS::IoT::Certificate::{name}"), v.to_owned());
        }
    }
    out
}

fn random_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

impl ProvisioningService {
    /// Loads the templates.
    pub async fn load(
        db: Db,
        registry: Arc<RegistryService>,
        broker: Arc<crate::broker::Broker>,
        ca: Arc<LocalCa>,
        scope: Scope,
        lambdas: BTreeMap<String, LambdaTarget>,
        config: ProvisioningConfig,
    ) -> Result<Arc<Self>, StorageError> {
        let stored = crate::storage::provisioning::load(db.pool()).await?;
        Ok(Arc::new(Self {
            templates: RwLock::new(Templates::from_stored(stored)),
            db,
            registry,
            broker,
            ca,
            scope,
            tokens: Mutex::new(HashMap::new()),
            claims: Arc::new(Claims::default()),
            lambdas,
            http: crate::rules::actions::http_client(),
            config,
        }))
    }

    /// Runs a read against the templates.
    pub fn read<R>(&self, f: impl FnOnce(&Templates) -> Result<R, ProvisioningError>) -> Result<R, Error> {
        Ok(f(&self.templates.read())?)
    }

    /// Runs a template operation: decides under the lock, returns once its change is durable.
    pub async fn write<R>(
        &self,
        f: impl FnOnce(&mut Templates) -> Result<(R, Vec<TemplateChange>), ProvisioningError>,
    ) -> Result<R, Error> {
        let (out, pending) = {
            let mut t = self.templates.write();
            let (out, changes) = f(&mut t)?;
            (out, self.db.writer().submit(changes.into_iter().map(Write::Template).collect()))
        };
        if let Err(e) = pending.wait().await {
            tracing::error!(error = %e, "template write failed; reloading the templates");
            if let Ok(stored) = crate::storage::provisioning::load(self.db.pool()).await {
                *self.templates.write() = Templates::from_stored(stored);
            }
            return Err(e.into());
        }
        Ok(out)
    }

    fn new_token(&self, cert_id: &str, now: Timestamp) -> String {
        let token = random_token();
        let t = Token { cert_id: cert_id.to_owned(), expires: Timestamp(now.0 + self.config.token_ttl_ms) };
        self.tokens.lock().insert(token.clone(), t);
        token
    }

    async fn register_pending(&self, pem: &str, now: Timestamp) -> Result<String, Rejection> {
        let parsed = certs::parse_cert_pem("certificatePem", pem).map_err(internal)?;
        let scope = self.scope.clone();
        let cert = self
            .registry
            .write(|r| r.add_pending_certificate(&scope, parsed.facts, None, now))
            .await
            .map_err(internal)?;
        Ok(cert.facts.id)
    }

    /// Fleet provisioning's CreateKeysAndCertificate: a new key pair and certificate,
    /// `PENDING_ACTIVATION`, and its ownership token.
    pub async fn create_keys_and_certificate(&self, now: Timestamp) -> Result<Issued, Rejection> {
        let issued = certs::issue_with_new_key_off_runtime(self.ca.clone(), None).await.map_err(internal)?;
        let id = self.register_pending(&issued.cert_pem, now).await?;
        let token = self.new_token(&id, now);
        Ok(Issued {
            certificate_id: id,
            certificate_pem: issued.cert_pem,
            private_key: Some(issued.private_key_pem),
            token,
        })
    }

    /// Fleet provisioning's CreateCertificateFromCsr.
    pub async fn create_certificate_from_csr(&self, csr: &str, now: Timestamp) -> Result<Issued, Rejection> {
        let pem = certs::issue_from_csr(&self.ca, csr, time::OffsetDateTime::now_utc())
            .map_err(|e| Rejection::new(400, "InvalidCertificateSigningRequest", e.to_string()))?;
        let id = self.register_pending(&pem, now).await?;
        let token = self.new_token(&id, now);
        Ok(Issued { certificate_id: id, certificate_pem: pem, private_key: None, token })
    }

    /// Fleet provisioning's RegisterThing: `(thingName, deviceConfiguration)`.
    pub async fn register_thing(
        &self,
        template_name: &str,
        token: &str,
        parameters: BTreeMap<String, String>,
        client_id: &str,
        claim_cert: Option<&str>,
        now: Timestamp,
    ) -> Result<(Option<String>, BTreeMap<String, String>), Rejection> {
        if token.is_empty() {
            return Err(Rejection::new(
                400,
                "InvalidCertificateOwnershipToken",
                "Certificate ownership token cannot be empty.",
            ));
        }
        let template = self.templates.read().get(template_name).cloned().map_err(|_| {
            Rejection::new(
                404,
                "ResourceNotFound",
                format!("The provisioning template {template_name} does not exist"),
            )
        })?;
        if !template.enabled {
            return Err(Rejection::new(
                404,
                "ResourceNotFound",
                format!("The provisioning template {template_name} is disabled"),
            ));
        }
        if template.kind != TemplateType::FleetProvisioning {
            return Err(Rejection::new(
                400,
                "InvalidTemplate",
                format!(
                    "The provisioning template {template_name} is a JITP template, not a fleet provisioning one"
                ),
            ));
        }
        let cert_id = match self.tokens.lock().get(token) {
            Some(t) if t.expires > now => t.cert_id.clone(),
            _ => {
                return Err(Rejection::new(
                    400,
                    "InvalidCertificateOwnershipToken",
                    "The certificate ownership token is not valid or has expired; ask for a new certificate",
                ));
            }
        };
        let pem = self.registry.read(|r| Ok(r.certificate(&cert_id)?.facts.pem.clone())).map_err(|_| {
            Rejection::new(400, "InvalidCertificateOwnershipToken", "The token's certificate was deleted")
        })?;
        let mut parameters = parameters;
        if let Some(h) = &template.hook {
            let input = json!({
                "claimCertificateId": claim_cert,
                "certificateId": cert_id,
                "certificatePem": pem,
                "templateArn": self.scope.arn(ResourceType::ProvisioningTemplate, template_name),
                "clientId": client_id,
                "parameters": parameters,
            });
            let overrides = hook::call(&self.lambdas, &self.http, &h.target_arn, &input)
                .await
                .map_err(|why| Rejection::new(403, "AccessDenied", why))?;
            parameters.extend(overrides);
        }
        let plan = thingbox_model::provisioning::Template::parse(template.body())
            .and_then(|t| t.evaluate(&parameters, &pseudo_parameters(&cert_id, &pem)))
            .and_then(|plan| plan.require_certificate_id().map(|()| plan))
            .map_err(|why| Rejection::new(400, "InvalidParameters", why))?;
        let provisioned = self.apply(&plan, &cert_id, now).await?;
        self.tokens.lock().remove(token);
        Ok((provisioned.thing_name, plan.device_configuration))
    }

    /// Carries out `plan` for `cert_id` on the registry, in one write.
    async fn apply(&self, plan: &Plan, cert_id: &str, now: Timestamp) -> Result<Provisioned, Rejection> {
        self.apply_with(plan, cert_id, None, now).await
    }

    /// Like [`apply`](Self::apply), first registering `new_cert` (its facts and CA) in the same
    /// write, so that a refused plan leaves no certificate behind either.
    async fn apply_with(
        &self,
        plan: &Plan,
        cert_id: &str,
        new_cert: Option<(thingbox_model::registry::CertFacts, Option<String>)>,
        now: Timestamp,
    ) -> Result<Provisioned, Rejection> {
        let p = Provisioning {
            scope: &self.scope,
            certificate_id: cert_id,
            thing_id: uuid::Uuid::new_v4().to_string(),
            now,
            policy_name,
        };
        let result = self
            .registry
            .write(|r: &mut Registry| {
                let before = new_cert.is_some().then(|| r.clone());
                let mut changes = Vec::new();
                if let Some((facts, ca)) = new_cert {
                    let status = CertStatus::Inactive;
                    match r.add_certificate(
                        &self.scope,
                        facts,
                        status,
                        ca,
                        thingbox_model::registry::CertMode::Default,
                        now,
                    ) {
                        Ok((_, c)) => changes = c,
                        Err(e) => return Ok((Err(ApplyError::Registry(e)), Vec::new())),
                    }
                }
                match provision(r, plan, &p) {
                    Ok((out, more)) => {
                        changes.extend(more);
                        Ok((Ok(out), changes))
                    }
                    Err(e) => {
                        if let Some(before) = before {
                            *r = before;
                        }
                        Ok((Err(e), Vec::new()))
                    }
                }
            })
            .await
            .map_err(internal)?;
        result.map_err(|e| match e {
            ApplyError::Conflict(m) => Rejection::new(409, "ResourceConflictsException", m),
            ApplyError::Registry(e) => Rejection::new(400, "ResourceRegistrationFailure", e.to_string()),
        })
    }

    /// RegisterThing over HTTP (single-thing provisioning with an inline template): the
    /// certificate resource names a registered certificate (`CertificateId`), brings one
    /// (`CertificatePem`, signed by Thingbox's root or a registered CA), or asks for one
    /// (`CertificateSigningRequest`, issued by the local CA); a new one is registered in the same
    /// write as the rest.
    pub async fn register_thing_inline(
        &self,
        body: &str,
        parameters: BTreeMap<String, String>,
        now: Timestamp,
    ) -> Result<(String, BTreeMap<String, String>), Error> {
        let invalid = |e: String| Error::InvalidRequest(format!("templateBody: {e}"));
        let template = thingbox_model::provisioning::Template::parse(body).map_err(invalid)?;
        // Which certificate: evaluate once without pseudo-parameters to find out.
        let probe = template.evaluate(&parameters, &BTreeMap::new()).map_err(invalid)?;
        let Some((_, given_id, _)) = probe.certificate.clone() else {
            return Err(Error::InvalidRequest(
                "templateBody needs an AWS::IoT::Certificate resource (CertificateId, CertificatePem or \
                 CertificateSigningRequest)"
                    .into(),
            ));
        };
        let (cert_id, pem, new_cert) = match probe.certificate_source {
            None => {
                let pem = self.registry.read(|r| Ok(r.certificate(&given_id)?.facts.pem.clone()))?;
                (given_id, pem, None)
            }
            Some(CertificateSource::Csr(csr)) => {
                let pem = certs::issue_from_csr(&self.ca, &csr, time::OffsetDateTime::now_utc())?;
                let parsed = certs::parse_cert_pem("CertificateSigningRequest", &pem)?;
                (parsed.facts.id.clone(), pem, Some((parsed.facts, None)))
            }
            Some(CertificateSource::Pem { pem, ca_pem }) => {
                let parsed = certs::parse_cert_pem("CertificatePem", &pem)?;
                let id = parsed.facts.id.clone();
                if self.registry.read(|r| Ok(r.certificate(&id).is_ok()))? {
                    (id, pem, None)
                } else {
                    let ca = certs::find_issuer(
                        self.ca.root_pem(),
                        &self.registry.ca_certificate_pems(),
                        &parsed.der,
                        ca_pem.as_deref(),
                        "CACertificatePem",
                    )?;
                    (id, pem, Some((parsed.facts, ca)))
                }
            }
        };
        let mut plan = template.evaluate(&parameters, &pseudo_parameters(&cert_id, &pem)).map_err(invalid)?;
        plan.certificate = plan.certificate.map(|(logical, _, active)| (logical, cert_id.clone(), active));
        let out = self
            .apply_with(&plan, &cert_id, new_cert, now)
            .await
            .map_err(|r| Error::InvalidRequest(r.message))?;
        Ok((pem, out.resource_arns))
    }

    /// CreateProvisioningClaim: a claim certificate for `template`, valid five minutes.
    pub async fn create_claim(&self, template: &str, now: Timestamp) -> Result<ClaimIssued, Error> {
        self.read(|t| t.get(template).map(drop))?;
        let expiration = Timestamp(now.0 + self.config.claim_ttl_ms);
        let end = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(expiration.0) * 1_000_000)
            .map_err(|e| Error::InvalidRequest(e.to_string()))?;
        let issued = certs::issue_with_new_key_off_runtime(self.ca.clone(), Some(end)).await?;
        let parsed = certs::parse_cert_pem("certificatePem", &issued.cert_pem)?;
        let id = parsed.facts.id;
        self.claims.add(id.clone(), Claim { template: template.to_owned(), expires: expiration });
        Ok(ClaimIssued {
            certificate_id: id,
            certificate_pem: issued.cert_pem,
            public_key: issued.public_key_pem,
            private_key: issued.private_key_pem,
            expiration,
        })
    }

    /// Deletes certificates whose ownership token expired unused (never activated, nothing
    /// attached), and forgets expired claims.
    pub async fn sweep(&self, now: Timestamp) {
        self.claims.sweep(now);
        let expired: Vec<String> = {
            let mut tokens = self.tokens.lock();
            let gone: Vec<String> =
                tokens.iter().filter(|(_, t)| t.expires <= now).map(|(k, _)| k.clone()).collect();
            gone.iter().filter_map(|k| tokens.remove(k)).map(|t| t.cert_id).collect()
        };
        for id in expired {
            let scope = self.scope.clone();
            let result = self
                .registry
                .write(|r| {
                    let untouched =
                        r.certificate(&id).is_ok_and(|c| c.status == CertStatus::PendingActivation)
                            && r.principal_things(&scope.arn(ResourceType::Cert, &id))
                                .is_ok_and(|t| t.is_empty());
                    if !untouched {
                        return Ok(((), Vec::new()));
                    }
                    match r.delete_certificate(&scope, &id, false) {
                        Ok(changes) => Ok(((), changes)),
                        // Policies were attached meanwhile: somebody cares about it; keep it.
                        Err(_) => Ok(((), Vec::new())),
                    }
                })
                .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, certificate = id, "deleting an unclaimed certificate failed");
            }
        }
    }

    /// Sweeps now and then until `stop`.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.config.sweep_every);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            self.sweep(now()).await;
        }
    }
}
