//! Just-in-time registration and provisioning. The TLS verifier meets an unknown client
//! certificate signed by a registered ACTIVE CA whose auto-registration is ENABLE: it refuses that
//! handshake (as AWS does) and hands the certificate here. Thingbox registers it
//! `PENDING_ACTIVATION` and then, when the CA has a `registrationConfig` (a JITP template by name or
//! an inline `templateBody`), provisions it with that template (thing, policies, ACTIVE) so the
//! device's retry connects; without one (JITR) it publishes
//! `$aws/events/certificates/registered/<caCertificateId>` for a rule or a person to act on — again
//! on every attempt while the certificate stays pending.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use thingbox_model::Timestamp;
use thingbox_model::provisioning::TemplateType;
use thingbox_model::registry::CertStatus;
use tokio::sync::{mpsc, watch};

use super::{ProvisioningService, now, pseudo_parameters};
use crate::broker::Message;
use crate::certs;

/// A certificate the TLS verifier saw, from a CA that registers its certificates.
#[derive(Debug, Clone)]
pub struct AutoRegistration {
    /// The client certificate (DER).
    pub der: Vec<u8>,
    /// The registered CA that signed it.
    pub ca_id: String,
}

/// How many unknown certificates may wait (more are refused without registering; the device
/// retries).
pub const QUEUE: usize = 1024;

impl ProvisioningService {
    /// The JITP template body a CA's `registrationConfig` names, if any.
    fn jitp_body(&self, config: Option<&Value>) -> Result<Option<String>, String> {
        let Some(config) = config else { return Ok(None) };
        if let Some(body) = config.get("templateBody").and_then(Value::as_str).filter(|b| !b.is_empty()) {
            return Ok(Some(body.to_owned()));
        }
        let Some(name) = config.get("templateName").and_then(Value::as_str) else { return Ok(None) };
        let templates = self.templates.read();
        let t = templates.get(name).map_err(|e| e.to_string())?;
        if t.kind != TemplateType::Jitp {
            return Err(format!("the CA's template {name} is a FLEET_PROVISIONING template, not a JITP one"));
        }
        Ok(Some(t.body().to_owned()))
    }

    /// Registers (and with a JITP template, provisions) one certificate.
    pub async fn auto_register(&self, reg: AutoRegistration, now: Timestamp) {
        let pem = certs::to_pem(&reg.der);
        let parsed = match certs::parse_cert_pem("certificate", &pem) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "an auto-registering certificate could not be parsed");
                return;
            }
        };
        let id = parsed.facts.id.clone();
        let scope = self.scope.clone();
        let ca_id = reg.ca_id.clone();
        let registered = self
            .registry
            .write(|r| {
                let config = r.ca_certificate(&ca_id)?.registration_config.clone();
                if let Ok(existing) = r.certificate(&id) {
                    return Ok(((config, existing.status), Vec::new()));
                }
                let (_, changes) =
                    r.add_pending_certificate(&scope, parsed.facts, Some(ca_id.clone()), now)?;
                Ok(((config, CertStatus::PendingActivation), changes))
            })
            .await;
        let (config, status) = match registered {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, ca = reg.ca_id, "just-in-time registration failed");
                return;
            }
        };
        if status != CertStatus::PendingActivation {
            return;
        }
        match self.jitp_body(config.as_ref()) {
            Ok(Some(body)) => {
                let plan = thingbox_model::provisioning::Template::parse(&body)
                    .and_then(|t| t.evaluate(&BTreeMap::new(), &pseudo_parameters(&id, &pem)))
                    .and_then(|plan| plan.require_certificate_id().map(|()| plan));
                let outcome = match plan {
                    Ok(plan) => self.apply(&plan, &id, now).await.map(drop).map_err(|r| r.message),
                    Err(why) => Err(why),
                };
                match outcome {
                    Ok(()) => tracing::info!(certificate = id, ca = reg.ca_id, "provisioned just in time"),
                    Err(why) => tracing::warn!(
                        certificate = id,
                        ca = reg.ca_id,
                        why,
                        "just-in-time provisioning failed"
                    ),
                }
            }
            Ok(None) => self.registered_event(&id, &reg.ca_id, now),
            Err(why) => {
                tracing::warn!(certificate = id, ca = reg.ca_id, why, "just-in-time provisioning failed")
            }
        }
    }

    fn registered_event(&self, id: &str, ca_id: &str, now: Timestamp) {
        let payload = json!({
            "certificateId": id,
            "caCertificateId": ca_id,
            "timestamp": now.0,
            "certificateStatus": "PENDING_ACTIVATION",
            "awsAccountId": self.scope.account,
            "certificateRegistrationTimestamp": null,
        });
        let topic = format!("$aws/events/certificates/registered/{ca_id}");
        self.broker.publish_now(Message::from_service("provisioning", topic, payload.to_string()));
    }

    /// Handles what the TLS verifier hands over, until `stop`.
    pub async fn serve_auto_registrations(
        self: Arc<Self>,
        mut from_tls: mpsc::Receiver<AutoRegistration>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let reg = tokio::select! {
                r = from_tls.recv() => match r { Some(r) => r, None => return },
                _ = stop.wait_for(|s| *s) => return,
            };
            self.auto_register(reg, now()).await;
        }
    }
}
