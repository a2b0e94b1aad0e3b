//! The expired-certificate fault, made the way a user would make one on AWS: the simulator
//! registers a CA of its own once (RegisterCACertificate with a verification certificate whose
//! common name is the registration code), issues the device a certificate that expires shortly,
//! registers it (RegisterCertificate — an already expired one would be refused, as AWS refuses it)
//! and attaches the fleet's policy and the thing to it. The device switches to it and reconnects
//! once it has expired, so the broker's refusal is the one a real device would meet.

use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::api::{Api, Service};
use super::provision;

/// The simulator's own CA, registered once.
#[derive(Debug)]
struct OwnCa {
    pem: String,
    key: KeyPair,
}

/// Issues short-lived device certificates under the simulator's own CA.
#[derive(Debug)]
pub struct Certifier {
    ca: Mutex<Option<Arc<OwnCa>>>,
    roots: Option<rustls::RootCertStore>,
}

fn named(what: &'static str) -> impl Fn(rcgen::Error) -> String {
    move |e| format!("{what}: {e}")
}

impl Certifier {
    /// A certifier for devices that trust `ca_pem` (the broker's CA).
    pub fn new(ca_pem: Option<&[u8]>) -> Self {
        Self { ca: Mutex::new(None), roots: ca_pem.and_then(|p| provision::roots(p).ok()) }
    }

    async fn ca(&self, api: &Api) -> Result<Arc<OwnCa>, String> {
        let mut slot = self.ca.lock().await;
        if let Some(ca) = slot.as_ref() {
            return Ok(ca.clone());
        }
        let key = KeyPair::generate().map_err(named("the simulator's CA key"))?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(named("the simulator's CA"))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        params.distinguished_name.push(DnType::CommonName, "Thingbox simulator CA");
        let ca_cert = params.self_signed(&key).map_err(named("the simulator's CA"))?;
        let code = api
            .call(Service::Iot, "GET", "/registrationcode".into(), None)
            .await
            .map_err(|e| format!("GetRegistrationCode: {e}"))?;
        let code = code.get("registrationCode").and_then(Value::as_str).unwrap_or_default().to_owned();
        let vkey = KeyPair::generate().map_err(named("the verification key"))?;
        let mut vparams =
            CertificateParams::new(Vec::<String>::new()).map_err(named("the verification certificate"))?;
        vparams.distinguished_name.push(DnType::CommonName, code);
        let issuer = Issuer::from_ca_cert_pem(&ca_cert.pem(), &key).map_err(named("the simulator's CA"))?;
        let verification =
            vparams.signed_by(&vkey, &issuer).map_err(named("the verification certificate"))?;
        let body = json!({"caCertificate": ca_cert.pem(), "verificationCertificate": verification.pem()});
        api.call(Service::Iot, "POST", "/cacertificate?setAsActive=true".into(), Some(body))
            .await
            .map_err(|e| format!("RegisterCACertificate: {e}"))?;
        let ca = Arc::new(OwnCa { pem: ca_cert.pem(), key });
        *slot = Some(ca.clone());
        Ok(ca)
    }

    /// A certificate for `thing` valid for `lifetime` from now, registered ACTIVE with `policy`
    /// and the thing attached: its id and the device's TLS with it.
    pub async fn short_lived(
        &self,
        api: &Api,
        thing: &str,
        policy: &str,
        lifetime: Duration,
    ) -> Result<(String, Arc<rustls::ClientConfig>), String> {
        let roots = self.roots.as_ref().ok_or("the broker's CA is not known here")?;
        let ca = self.ca(api).await?;
        let key = KeyPair::generate().map_err(named("the device key"))?;
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(named("the device certificate"))?;
        params.distinguished_name.push(DnType::CommonName, thing);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::minutes(1);
        params.not_after = now + time::Duration::milliseconds(lifetime.as_millis() as i64);
        let issuer = Issuer::from_ca_cert_pem(&ca.pem, &ca.key).map_err(named("the simulator's CA"))?;
        let cert = params.signed_by(&key, &issuer).map_err(named("the device certificate"))?;
        let body = json!({"certificatePem": cert.pem(), "caCertificatePem": ca.pem});
        let made = api
            .call(Service::Iot, "POST", "/certificate/register?setAsActive=true".into(), Some(body))
            .await
            .map_err(|e| format!("RegisterCertificate: {e}"))?;
        let get = |k: &str| made.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        let (id, arn) = (get("certificateId"), get("certificateArn"));
        api.attach(thing, policy, &arn).await.map_err(|e| format!("attaching the certificate: {e}"))?;
        let tls = provision::client_config(roots, &cert.pem(), &key.serialize_pem())?;
        Ok((id, tls))
    }
}
