//! Issuing, parsing and chain checks.

use super::*;

fn ca() -> (tempfile::TempDir, LocalCa) {
    let dir = tempfile::tempdir().unwrap();
    let ca = LocalCa::open(dir.path(), &["localhost".into()], time::OffsetDateTime::now_utc()).unwrap();
    (dir, ca)
}

fn root_der(ca: &LocalCa) -> Vec<u8> {
    parse_cert_pem("root", ca.root_pem()).unwrap().der
}

#[test]
fn new_key_certificates_chain_to_the_root() {
    let (_d, ca) = ca();
    let issued = issue_with_new_key_until(&ca, time::OffsetDateTime::now_utc(), None).unwrap();
    assert!(issued.private_key_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(issued.public_key_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    let parsed = parse_cert_pem("certificatePem", &issued.cert_pem).unwrap();
    assert_eq!(parsed.facts.id, cert_id(&parsed.der));
    assert_eq!(parsed.facts.id.len(), 64);
    assert_eq!(parsed.common_name.as_deref(), Some("AWS IoT Certificate"));
    assert!(!parsed.is_ca);
    assert!(signed_by(&parsed.der, &root_der(&ca)));
    // Another CA did not sign it.
    let (_d2, other) = self::ca();
    assert!(!signed_by(&parsed.der, &root_der(&other)));
    // PEM re-encoding is stable.
    assert_eq!(parse_cert_pem("x", &parsed.facts.pem).unwrap().facts.id, parsed.facts.id);
}

#[test]
fn csr_certificates_keep_the_subject() {
    let (_d, ca) = ca();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, "sensor-7");
    params.distinguished_name.push(DnType::OrganizationName, "Acme");
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();
    let pem = issue_from_csr(&ca, &csr, time::OffsetDateTime::now_utc()).unwrap();
    let parsed = parse_cert_pem("certificatePem", &pem).unwrap();
    assert_eq!(parsed.common_name.as_deref(), Some("sensor-7"));
    assert!(parsed.facts.subject.contains("O=Acme"), "{}", parsed.facts.subject);
    assert!(signed_by(&parsed.der, &root_der(&ca)));
    // The same CSR again gives a distinct certificate.
    let again = issue_from_csr(&ca, &csr, time::OffsetDateTime::now_utc()).unwrap();
    assert_ne!(parse_cert_pem("x", &again).unwrap().facts.id, parsed.facts.id);
}

#[test]
fn garbage_is_a_validation_error() {
    let (_d, ca) = ca();
    for bad in ["", "hello", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"] {
        assert!(
            matches!(parse_cert_pem("certificatePem", bad), Err(RegistryError::CertificateValidation(_))),
            "{bad}"
        );
        assert!(matches!(
            issue_from_csr(&ca, bad, time::OffsetDateTime::now_utc()),
            Err(RegistryError::CertificateValidation(_))
        ));
    }
    let key = rcgen::KeyPair::generate().unwrap();
    let pem = key.serialize_pem();
    let err = parse_cert_pem("certificatePem", &pem).unwrap_err();
    assert!(err.to_string().contains("PRIVATE KEY"), "{err}");
}
