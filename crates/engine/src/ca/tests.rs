//! The root is made once and kept; the server certificate follows the names it must cover.

use super::*;

fn names(extra: &[&str]) -> Vec<String> {
    let mut v = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    v.extend(extra.iter().map(|s| (*s).to_owned()));
    v
}

fn sans(pem: &str) -> Vec<String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    let cert = pem.parse_x509().unwrap();
    let ext = cert.subject_alternative_name().unwrap().unwrap();
    ext.value
        .general_names
        .iter()
        .map(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => (*d).to_owned(),
            x509_parser::extensions::GeneralName::IPAddress(b) => match b.len() {
                4 => std::net::IpAddr::from(<[u8; 4]>::try_from(*b).unwrap()).to_string(),
                _ => std::net::IpAddr::from(<[u8; 16]>::try_from(*b).unwrap()).to_string(),
            },
            other => other.to_string(),
        })
        .collect()
}

#[test]
fn root_is_kept_and_server_cert_follows_bind_address() {
    let dir = tempfile::tempdir().unwrap();
    let now = OffsetDateTime::now_utc();
    let ca = LocalCa::open(dir.path(), &names(&[]), now).unwrap();
    let root = ca.root_pem().to_owned();
    let (cert_path, key_path) = ca.server_paths();
    let first_server = fs::read_to_string(&cert_path).unwrap();
    let sans_first = sans(&first_server);
    assert_eq!(sans_first, ["localhost", "127.0.0.1", "::1"]);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in [dir.path().join("ca/root-ca.key"), key_path.clone()] {
            assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600, "{}", key.display());
        }
    }

    // Same names: nothing re-issued.
    let again = LocalCa::open(dir.path(), &names(&[]), now).unwrap();
    assert_eq!(again.root_pem(), root);
    assert_eq!(fs::read_to_string(&cert_path).unwrap(), first_server);

    // A new bind address: new server certificate, same root.
    let moved = LocalCa::open(dir.path(), &names(&["192.0.2.10"]), now).unwrap();
    assert_eq!(moved.root_pem(), root);
    let second = fs::read_to_string(&cert_path).unwrap();
    assert_ne!(second, first_server);
    assert!(sans(&second).contains(&"192.0.2.10".to_owned()));
}

#[test]
fn server_cert_near_expiry_is_reissued() {
    let dir = tempfile::tempdir().unwrap();
    let now = OffsetDateTime::now_utc();
    let ca = LocalCa::open(dir.path(), &names(&[]), now).unwrap();
    let before = fs::read_to_string(ca.server_paths().0).unwrap();
    LocalCa::open(dir.path(), &names(&[]), now + Duration::days(380)).unwrap();
    assert_ne!(fs::read_to_string(ca.server_paths().0).unwrap(), before);
}

#[test]
fn a_missing_key_is_reported_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let now = OffsetDateTime::now_utc();
    LocalCa::open(dir.path(), &names(&[]), now).unwrap();
    fs::remove_file(dir.path().join("ca/root-ca.key")).unwrap();
    let err = LocalCa::open(dir.path(), &names(&[]), now).unwrap_err();
    assert!(err.to_string().contains("key is missing"), "{err}");
    assert!(dir.path().join("ca/root-ca.pem").exists());
}
