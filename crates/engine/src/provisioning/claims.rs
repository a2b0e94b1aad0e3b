//! Provisioning claims made by CreateProvisioningClaim: certificates signed by the local root that
//! live five minutes, are not in the registry (ListCertificates does not show them) and may only
//! ask for their template's fleet-provisioning topics. The TLS verifier and the authorizer read
//! this set; the provisioning service fills it.

use std::collections::HashMap;

use parking_lot::RwLock;
use thingbox_model::Timestamp;

/// One claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The template it may provision with.
    pub template: String,
    /// When it stops working.
    pub expires: Timestamp,
}

/// Every live claim, by certificate id.
#[derive(Debug, Default)]
pub struct Claims(RwLock<HashMap<String, Claim>>);

impl Claims {
    /// Adds a claim.
    pub fn add(&self, cert_id: String, claim: Claim) {
        self.0.write().insert(cert_id, claim);
    }

    /// The template of a live claim certificate.
    pub fn template_of(&self, cert_id: &str, now: Timestamp) -> Option<String> {
        self.0.read().get(cert_id).filter(|c| c.expires > now).map(|c| c.template.clone())
    }

    /// Forgets expired claims.
    pub fn sweep(&self, now: Timestamp) {
        self.0.write().retain(|_, c| c.expires > now);
    }

    /// Whether there are none (the authorizer's fast path).
    pub fn is_empty(&self) -> bool {
        self.0.read().is_empty()
    }
}
