//! TLS for device connections: rustls with our own client-certificate verifier. A client
//! certificate is accepted only if it is registered and ACTIVE, and (unless it was registered
//! without a CA) chains to Thingbox's root or to a registered ACTIVE CA.
//!
//! Two configurations share the server certificate: [`server_config`] (mutual TLS, MQTT) and
//! [`https_config`] (no client certificate, `http/1.1`: the AWS APIs and `wss://…/mqtt` on the
//! multiplexed port, see [`super::alpn`]).

use std::sync::Arc;

use parking_lot::Mutex;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error as TlsError, RootCertStore,
    SignatureScheme,
};
use thingbox_model::registry::{CaStatus, CertMode, CertStatus};

use crate::ca::{CaError, LocalCa};
use crate::certs;
use crate::provisioning::claims::Claims;
use crate::provisioning::jitr::AutoRegistration;
use crate::registry::RegistryService;

/// ALPN protocols accepted for MQTT (the AWS Device SDK sends `x-amzn-mqtt-ca` on 443).
pub const MQTT_ALPN: [&[u8]; 2] = [b"x-amzn-mqtt-ca", b"mqtt"];
/// ALPN protocols accepted for HTTPS (axum serves HTTP/1.1).
const HTTPS_ALPN: [&[u8]; 1] = [b"http/1.1"];

fn pem_der(path: &std::path::Path, what: &str) -> Result<Vec<u8>, CaError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| CaError::Io { path: path.to_owned(), source })?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(text.as_bytes())
        .map_err(|e| CaError::Invalid { path: path.to_owned(), detail: format!("{what}: {e}") })?;
    Ok(pem.contents)
}

/// The server certificate chain (server certificate, then root) and its key.
struct ServerIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    root: CertificateDer<'static>,
    path: std::path::PathBuf,
}

impl ServerIdentity {
    fn load(ca: &LocalCa) -> Result<Self, CaError> {
        let (cert_path, key_path) = ca.server_paths();
        let cert = CertificateDer::from(pem_der(&cert_path, "server certificate")?);
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pem_der(&key_path, "server key")?));
        let root = CertificateDer::from(pem_der(&ca.root_path(), "root certificate")?);
        Ok(Self { chain: vec![cert, root.clone()], key, root, path: cert_path })
    }

    fn invalid(&self) -> impl Fn(TlsError) -> CaError + '_ {
        |e| CaError::Invalid { path: self.path.clone(), detail: e.to_string() }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls server configuration for device connections (mutual TLS, MQTT).
pub fn server_config(
    ca: &LocalCa,
    registry: Arc<RegistryService>,
    claims: Arc<Claims>,
    auto_register: tokio::sync::mpsc::Sender<AutoRegistration>,
) -> Result<Arc<rustls::ServerConfig>, CaError> {
    let provider = provider();
    let id = ServerIdentity::load(ca)?;
    let verifier = Arc::new(DeviceVerifier {
        registry,
        claims,
        auto_register,
        root: id.root.clone(),
        provider: provider.clone(),
        cache: Mutex::new(None),
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(id.invalid())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(id.chain.clone(), id.key.clone_key())
        .map_err(id.invalid())?;
    // No session resumption: a resumed session skips the client certificate check, so a device
    // whose certificate was revoked or deactivated since would get back in. Every device
    // connection is a full handshake, checked against the registry as it is now.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config.alpn_protocols = MQTT_ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The rustls server configuration for HTTPS (no client certificate).
pub fn https_config(ca: &LocalCa) -> Result<Arc<rustls::ServerConfig>, CaError> {
    let id = ServerIdentity::load(ca)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(id.invalid())?
        .with_no_client_auth()
        .with_single_cert(id.chain.clone(), id.key.clone_key())
        .map_err(id.invalid())?;
    config.alpn_protocols = HTTPS_ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

type Cached = (Vec<String>, Arc<dyn ClientCertVerifier>);

#[derive(Debug)]
struct DeviceVerifier {
    registry: Arc<RegistryService>,
    /// Provisioning claims: not registered, signed by the root, valid minutes.
    claims: Arc<Claims>,
    /// Where certificates from auto-registering CAs go (JITR/JITP, `provisioning::jitr`).
    auto_register: tokio::sync::mpsc::Sender<AutoRegistration>,
    root: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
    /// The chain verifier for the current set of ACTIVE CAs, rebuilt when the set changes.
    cache: Mutex<Option<Cached>>,
}

fn rejected(why: &str) -> TlsError {
    tracing::debug!(why, "device certificate refused");
    TlsError::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
}

impl DeviceVerifier {
    fn hand_over(&self, cert: &CertificateDer<'_>, ca_id: &str) {
        let reg = AutoRegistration { der: cert.as_ref().to_vec(), ca_id: ca_id.to_owned() };
        if self.auto_register.try_send(reg).is_err() {
            tracing::warn!(
                "too many certificates waiting for just-in-time registration; this one retries later"
            );
        }
    }

    fn chain_verifier(&self, cas: Vec<(String, String)>) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
        let ids: Vec<String> = cas.iter().map(|(id, _)| id.clone()).collect();
        let mut cache = self.cache.lock();
        if let Some((cached_ids, v)) = cache.as_ref()
            && *cached_ids == ids
        {
            return Ok(v.clone());
        }
        let mut roots = RootCertStore::empty();
        roots.add(self.root.clone())?;
        for (_, pem) in &cas {
            if let Ok(parsed) = certs::parse_cert_pem("ca", pem) {
                let _ = roots.add(CertificateDer::from(parsed.der));
            }
        }
        let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
            .build()
            .map_err(|e| TlsError::General(e.to_string()))?;
        *cache = Some((ids, v.clone()));
        Ok(v)
    }
}

impl ClientCertVerifier for DeviceVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, TlsError> {
        let id = certs::cert_id(end_entity.as_ref());
        let found = self.registry.read(|r| {
            let cert = r.certificate(&id).ok().map(|c| (c.status, c.mode, c.ca_id.clone()));
            let validity = r.certificate(&id).ok().map(|c| (c.facts.not_before, c.facts.not_after));
            let cas: Vec<(String, String, bool)> = r
                .ca_certificates()
                .filter(|c| c.status == CaStatus::Active)
                .map(|c| (c.facts.id.clone(), c.facts.pem.clone(), c.auto_registration))
                .collect();
            Ok((cert, cas, validity))
        });
        let Ok((cert, cas, validity)) = found else { return Err(rejected("registry unavailable")) };
        let pairs = || cas.iter().map(|(id, pem, _)| (id.clone(), pem.clone())).collect::<Vec<_>>();
        match cert {
            None if self.claims.template_of(&id, crate::provisioning::now()).is_some() => {
                self.chain_verifier(Vec::new())?.verify_client_cert(end_entity, intermediates, now)
            }
            None => {
                // JITR/JITP: a valid certificate from a CA that registers its certificates is
                // registered now and refused this time, as on AWS.
                if !cas.iter().any(|(_, _, auto)| *auto) {
                    return Err(rejected("certificate not registered"));
                }
                self.chain_verifier(pairs())?.verify_client_cert(end_entity, intermediates, now)?;
                let issuer = cas.iter().filter(|(_, _, auto)| *auto).find(|(_, pem, _)| {
                    certs::parse_cert_pem("ca", pem)
                        .is_ok_and(|ca| certs::signed_by(end_entity.as_ref(), &ca.der))
                });
                match issuer {
                    Some((ca_id, _, _)) => {
                        self.hand_over(end_entity, ca_id);
                        Err(rejected("certificate registered just in time; it connects once it is ACTIVE"))
                    }
                    None => Err(rejected("certificate not registered")),
                }
            }
            Some((CertStatus::PendingActivation, _, Some(ca_id)))
                if cas.iter().any(|(id, _, auto)| *id == ca_id && *auto) =>
            {
                // Each attempt of a still-pending certificate announces it again.
                self.hand_over(end_entity, &ca_id);
                Err(rejected("certificate PENDING_ACTIVATION"))
            }
            Some((status, _, _)) if status != CertStatus::Active => Err(rejected("certificate not ACTIVE")),
            // No chain to verify, but the certificate's own validity still counts.
            Some((_, CertMode::SniOnly, _)) => match validity {
                Some((_, end)) if end.millis() < now.as_secs() as i64 * 1000 => {
                    Err(TlsError::InvalidCertificate(CertificateError::Expired))
                }
                Some((start, _)) if start.millis() > now.as_secs() as i64 * 1000 => {
                    Err(TlsError::InvalidCertificate(CertificateError::NotValidYet))
                }
                _ => Ok(ClientCertVerified::assertion()),
            },
            Some((_, CertMode::Default, _)) => {
                self.chain_verifier(pairs())?.verify_client_cert(end_entity, intermediates, now)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
