//! X.509 work behind the certificate API: parsing PEM into the facts the registry keeps
//! (certificate id = lowercase hex SHA-256 of the DER), issuing device certificates from the local
//! CA (with a fresh RSA-2048 key, or for a CSR), and checking which CA signed a certificate.
//!
//! Every failure is a [`RegistryError::CertificateValidation`] whose message says what was wrong.

use rcgen::{
    CertificateParams, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, KeyUsagePurpose,
    SerialNumber, SubjectPublicKeyInfo,
};
use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
use rsa::pkcs8::EncodePublicKey;
use sha2::{Digest, Sha256};
use thingbox_model::Timestamp;
use thingbox_model::registry::{CertFacts, RegistryError};
use x509_parser::certificate::X509Certificate;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::pem::parse_x509_pem;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use crate::ca::LocalCa;

fn invalid(msg: impl Into<String>) -> RegistryError {
    RegistryError::CertificateValidation(msg.into())
}

/// A certificate in both encodings.
#[derive(Debug, Clone)]
pub struct ParsedCert {
    /// DER bytes.
    pub der: Vec<u8>,
    /// What the registry keeps.
    pub facts: CertFacts,
    /// Whether basic constraints say CA:TRUE.
    pub is_ca: bool,
    /// The subject's common name, if any.
    pub common_name: Option<String>,
}

/// The certificate id of DER bytes: lowercase hex SHA-256.
pub fn cert_id(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

fn to_ts(t: x509_parser::time::ASN1Time) -> Timestamp {
    Timestamp::from_millis(t.timestamp() * 1000)
}

/// Parses one PEM certificate (`field` names the request member in messages).
pub fn parse_cert_pem(field: &str, pem: &str) -> Result<ParsedCert, RegistryError> {
    let (_, block) = parse_x509_pem(pem.trim().as_bytes())
        .map_err(|e| invalid(format!("{field} is not a PEM certificate: {e}")))?;
    if block.label != "CERTIFICATE" {
        return Err(invalid(format!("{field} holds a PEM '{}' block, not a CERTIFICATE", block.label)));
    }
    let der = block.contents;
    let (_, cert) = X509Certificate::from_der(&der)
        .map_err(|e| invalid(format!("{field} is not a valid X.509 certificate: {e}")))?;
    let common_name =
        cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_owned);
    let facts = CertFacts {
        id: cert_id(&der),
        pem: to_pem(&der),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: to_ts(cert.validity().not_before),
        not_after: to_ts(cert.validity().not_after),
    };
    let is_ca = cert.is_ca();
    Ok(ParsedCert { der, facts, is_ca, common_name })
}

/// The serial number of a DER certificate, as hex (`None` if it does not parse).
pub fn serial_hex(der: &[u8]) -> Option<String> {
    X509Certificate::from_der(der).ok().map(|(_, c)| c.raw_serial_as_string().replace(':', ""))
}

/// Re-encodes DER as PEM (64-column base64, `\n` line ends, trailing newline).
pub fn to_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Whether `cert_der` carries a valid signature by the key of `issuer_der`.
pub fn signed_by(cert_der: &[u8], issuer_der: &[u8]) -> bool {
    let (Ok((_, cert)), Ok((_, issuer))) =
        (X509Certificate::from_der(cert_der), X509Certificate::from_der(issuer_der))
    else {
        return false;
    };
    cert.issuer() == issuer.subject() && cert.verify_signature(Some(issuer.public_key())).is_ok()
}

/// Who signed the certificate `der`: Thingbox's root (`None`) or one of the registered CA
/// certificates `cas` (id, PEM), only the one whose PEM is `ca_pem` when given (`ca_field` names
/// that field in errors). RegisterCertificate and RegisterThing with a PEM.
pub fn find_issuer(
    root_pem: &str,
    cas: &[(String, String)],
    der: &[u8],
    ca_pem: Option<&str>,
    ca_field: &str,
) -> Result<Option<String>, RegistryError> {
    let root = parse_cert_pem("root", root_pem)?;
    if signed_by(der, &root.der) {
        return Ok(None);
    }
    let wanted = ca_pem.map(|p| parse_cert_pem(ca_field, p)).transpose()?.map(|c| c.facts.id);
    if let Some(w) = &wanted
        && !cas.iter().any(|(id, _)| id == w)
    {
        return Err(RegistryError::CertificateValidation(format!(
            "{ca_field} is not a registered CA certificate (id {w}); register it with RegisterCACertificate"
        )));
    }
    for (id, pem) in cas.iter().filter(|(id, _)| wanted.as_ref().is_none_or(|w| w == id)) {
        if parse_cert_pem("ca", pem).is_ok_and(|ca| signed_by(der, &ca.der)) {
            return Ok(Some(id.clone()));
        }
    }
    Err(RegistryError::CertificateValidation(
        "The certificate is not signed by Thingbox's root or a registered CA certificate; register its CA \
         with RegisterCACertificate first, or register the certificate with RegisterCertificateWithoutCA"
            .into(),
    ))
}

fn device_params(subject: DistinguishedName, now: time::OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - time::Duration::minutes(5);
    // AWS-issued device certificates are valid until the end of 2049.
    params.not_after = rcgen::date_time_ymd(2049, 12, 31) + time::Duration::seconds(86_399);
    let mut serial = uuid::Uuid::new_v4().into_bytes().to_vec();
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params
}

/// What CreateKeysAndCertificate returns.
#[derive(Debug)]
pub struct IssuedWithKeys {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// The public key (SubjectPublicKeyInfo PEM).
    pub public_key_pem: String,
    /// The private key (PKCS#1 PEM, as AWS returns it). Never stored.
    pub private_key_pem: String,
}

/// Issues a certificate for a fresh RSA-2048 key pair, subject `CN=AWS IoT Certificate`, valid
/// until `not_after` when given (a provisioning claim lives five minutes).
pub fn issue_with_new_key_until(
    ca: &LocalCa,
    now: time::OffsetDateTime,
    not_after: Option<time::OffsetDateTime>,
) -> Result<IssuedWithKeys, RegistryError> {
    let internal = |e: &dyn std::fmt::Display| invalid(format!("issuing the certificate failed: {e}"));
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).map_err(|e| internal(&e))?;
    let public_der = key.to_public_key().to_public_key_der().map_err(|e| internal(&e))?;
    let public_key_pem = key.to_public_key().to_public_key_pem(LineEnding::LF).map_err(|e| internal(&e))?;
    let private_key_pem = key.to_pkcs1_pem(LineEnding::LF).map_err(|e| internal(&e))?.to_string();
    let spki = SubjectPublicKeyInfo::from_der(public_der.as_bytes()).map_err(|e| internal(&e))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "AWS IoT Certificate");
    let issuer = ca.issuer().map_err(|e| internal(&e))?;
    let mut params = device_params(dn, now);
    if let Some(end) = not_after {
        params.not_after = end;
    }
    let cert = params.signed_by(&spki, &issuer).map_err(|e| internal(&e))?;
    Ok(IssuedWithKeys { cert_pem: cert.pem(), public_key_pem, private_key_pem })
}

/// [`issue_with_new_key_until`] off the async runtime (an RSA key takes tens of milliseconds):
/// CreateKeysAndCertificate, the console's device bundles, fleet provisioning and claims.
pub async fn issue_with_new_key_off_runtime(
    ca: std::sync::Arc<LocalCa>,
    not_after: Option<time::OffsetDateTime>,
) -> Result<IssuedWithKeys, RegistryError> {
    tokio::task::spawn_blocking(move || {
        issue_with_new_key_until(&ca, time::OffsetDateTime::now_utc(), not_after)
    })
    .await
    .map_err(|e| invalid(format!("issuing the certificate failed: {e}")))?
}

/// Issues a certificate for a CSR: the signature must verify, the key must be RSA ≥ 2048 bits or
/// EC P-256/P-384/P-521; the subject is copied from the CSR.
pub fn issue_from_csr(
    ca: &LocalCa,
    csr_pem: &str,
    now: time::OffsetDateTime,
) -> Result<String, RegistryError> {
    let (_, block) = parse_x509_pem(csr_pem.trim().as_bytes())
        .map_err(|e| invalid(format!("certificateSigningRequest is not PEM: {e}")))?;
    let (_, csr) = X509CertificationRequest::from_der(&block.contents)
        .map_err(|e| invalid(format!("certificateSigningRequest is not a valid PKCS#10 request: {e}")))?;
    let info = &csr.certification_request_info;
    match info.subject_pki.parsed() {
        Ok(PublicKey::RSA(rsa)) if rsa.key_size() >= 2048 => {}
        Ok(PublicKey::RSA(rsa)) => {
            return Err(invalid(format!(
                "The CSR's RSA key has {} bits; at least 2048 are required",
                rsa.key_size()
            )));
        }
        Ok(PublicKey::EC(_)) => {
            let curve = info
                .subject_pki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            const CURVES: [&str; 3] = ["1.2.840.10045.3.1.7", "1.3.132.0.34", "1.3.132.0.35"];
            if !CURVES.contains(&curve.as_str()) {
                return Err(invalid("The CSR's EC key must be on P-256, P-384 or P-521"));
            }
        }
        _ => {
            return Err(invalid("The CSR's key must be RSA (2048 bits or more) or EC (P-256, P-384, P-521)"));
        }
    }
    csr.verify_signature()
        .map_err(|_| invalid("The signature of the certificate signing request does not verify"))?;
    let spki = SubjectPublicKeyInfo::from_der(info.subject_pki.raw)
        .map_err(|e| invalid(format!("The CSR's public key is not supported: {e}")))?;
    let mut dn = DistinguishedName::new();
    for attr in info.subject.iter_attributes() {
        let oid: Vec<u64> = attr.attr_type().iter().map(|i| i.collect()).unwrap_or_default();
        if let Ok(value) = attr.as_str() {
            dn.push(DnType::from_oid(&oid), DnValue::Utf8String(value.to_owned()));
        }
    }
    if dn.iter().next().is_none() {
        dn.push(DnType::CommonName, "AWS IoT Certificate");
    }
    let issuer = ca.issuer().map_err(|e| invalid(format!("issuing the certificate failed: {e}")))?;
    let cert = device_params(dn, now)
        .signed_by(&spki, &issuer)
        .map_err(|e| invalid(format!("issuing the certificate failed: {e}")))?;
    Ok(cert.pem())
}

#[cfg(test)]
mod tests;
