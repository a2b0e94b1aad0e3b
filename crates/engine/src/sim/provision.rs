//! Making a simulated fleet through the AWS API, as a user's script would: the fleet's policy,
//! thing type and groups once; per device the thing, its group memberships, a P-256 key made here
//! with a certificate from `CreateCertificateFromCsr`, the policy and the thing attached to it.
//! Keys and certificates are kept (0600) under the simulator's key folder and used again while
//! the certificate stays ACTIVE, so running a scenario twice does not pile up certificates.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use thingbox_model::scenario::Fleet;

use super::api::{Api, ApiError};

/// A device's identity.
#[derive(Debug)]
pub struct Identity {
    /// Its certificate's id.
    pub certificate_id: String,
    /// Its TLS set-up.
    pub tls: Arc<rustls::ClientConfig>,
}

/// The policy a fleet gets when its scenario names none: connect as the thing's own client id,
/// publish, subscribe and receive anything.
pub fn default_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}"},
            {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive", "iot:Subscribe"], "Resource": "*"}
        ]
    })
}

/// The fleet's policy name.
pub fn policy_name(scenario: &str, fleet: &str) -> String {
    format!("thingbox-sim-{scenario}-{fleet}")
}

fn named(what: String) -> impl FnOnce(ApiError) -> String {
    move |e| format!("{what}: {e}")
}

/// Makes what a fleet's devices share.
pub async fn fleet(api: &Api, scenario: &str, fleet: &Fleet) -> Result<(), String> {
    let policy = policy_name(scenario, &fleet.name);
    let document = fleet.policy.clone().unwrap_or_else(default_policy);
    api.ensure_policy(&policy, &document).await.map_err(named(format!("policy {policy}")))?;
    if let Some(t) = &fleet.thing_type {
        api.ensure_thing_type(t).await.map_err(named(format!("thing type {t}")))?;
    }
    for g in &fleet.groups {
        api.ensure_group(g).await.map_err(named(format!("thing group {g}")))?;
    }
    Ok(())
}

/// Where a device's key and certificate are kept.
fn saved(keys: &Path, scenario: &str, thing: &str) -> PathBuf {
    keys.join(scenario).join(format!("{thing}.json"))
}

/// Makes one device: its thing, memberships and identity.
pub async fn device(
    api: &Api,
    scenario: &str,
    fleet: &Fleet,
    thing: &str,
    keys: Option<&Path>,
    roots: &rustls::RootCertStore,
) -> Result<Identity, String> {
    let attributes = json!(fleet.attributes);
    api.ensure_thing(thing, fleet.thing_type.as_deref(), &attributes)
        .await
        .map_err(named(format!("thing {thing}")))?;
    for g in &fleet.groups {
        api.add_to_group(thing, g).await.map_err(named(format!("adding {thing} to {g}")))?;
    }
    let (id, arn, cert_pem, key_pem) = match reuse(api, keys, scenario, thing).await {
        Some(found) => found,
        None => {
            let key = rcgen::KeyPair::generate().map_err(|e| format!("key for {thing}: {e}"))?;
            let mut params =
                rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
            params.distinguished_name.push(rcgen::DnType::CommonName, thing);
            let csr = params
                .serialize_request(&key)
                .and_then(|c| c.pem())
                .map_err(|e| format!("CSR for {thing}: {e}"))?;
            let (id, arn, pem) =
                api.certificate_from_csr(&csr).await.map_err(named(format!("certificate for {thing}")))?;
            let key_pem = key.serialize_pem();
            if let Some(dir) = keys {
                let path = saved(dir, scenario, thing);
                let record = json!({"certificateId": id, "certificateArn": arn, "certificatePem": pem, "keyPem": key_pem});
                if let Some(parent) = path.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                if let Err(e) = crate::ca::write_secret(&path, &record.to_string()) {
                    tracing::warn!(error = %e, path = %path.display(), "the simulated device's key was not kept");
                }
            }
            (id, arn, pem, key_pem)
        }
    };
    let policy = policy_name(scenario, &fleet.name);
    api.attach(thing, &policy, &arn).await.map_err(named(format!("attaching {thing}'s certificate")))?;
    let tls = client_config(roots, &cert_pem, &key_pem).map_err(|e| format!("TLS for {thing}: {e}"))?;
    Ok(Identity { certificate_id: id, tls })
}

/// A kept identity whose certificate is still ACTIVE.
async fn reuse(
    api: &Api,
    keys: Option<&Path>,
    scenario: &str,
    thing: &str,
) -> Option<(String, String, String, String)> {
    let text = std::fs::read_to_string(saved(keys?, scenario, thing)).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let id = s("certificateId")?;
    match api.certificate_status(&id).await {
        Ok(Some((status, arn))) if status == "ACTIVE" => Some((id, arn, s("certificatePem")?, s("keyPem")?)),
        _ => None,
    }
}

/// The CA certificates in a PEM file, as TLS roots.
pub fn roots(ca_pem: &[u8]) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.map_err(|e| format!("the CA file: {e}"))?).map_err(|e| format!("the CA file: {e}"))?;
    }
    if roots.is_empty() {
        return Err("the CA file holds no certificate".into());
    }
    Ok(roots)
}

/// A TLS client set-up presenting `cert_pem` (with its chain) and `key_pem`.
pub fn client_config(
    roots: &rustls::RootCertStore,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| format!("key: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots.clone())
        .with_client_auth_cert(chain, key)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}
