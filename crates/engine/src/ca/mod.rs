//! The local certificate authority: a root CA made once per data dir and kept, and the server
//! certificate the device gateway presents, re-issued when the names it must cover change.
//!
//! Files, all under `<data dir>/ca/`: `root-ca.pem`, `root-ca.key` (0600), `server.pem`,
//! `server.key` (0600) and `server-names.json` (the names the server certificate was issued for).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// Why the CA could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// Reading or writing a CA file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A stored CA file is not what it should be.
    #[error("{path} is unreadable ({detail}); move the ca/ folder aside to make a new local CA")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// Certificate generation failed.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The local CA of one data dir.
#[derive(Debug)]
pub struct LocalCa {
    dir: PathBuf,
    root_pem: String,
    root_key: KeyPair,
}

const ROOT_CERT: &str = "root-ca.pem";
const ROOT_KEY: &str = "root-ca.key";
const SERVER_CERT: &str = "server.pem";
const SERVER_KEY: &str = "server.key";
const SERVER_NAMES: &str = "server-names.json";

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CaError + '_ {
    move |source| CaError::Io { path: path.to_owned(), source }
}

/// Writes a secret (mode 0600 before any byte is written) atomically.
pub(crate) fn write_secret(path: &Path, contents: &str) -> Result<(), CaError> {
    write_file(path, contents, true)
}

/// Writes `contents` to `path` atomically; `secret` files get mode 0600 before any byte is written.
fn write_file(path: &Path, contents: &str, secret: bool) -> Result<(), CaError> {
    let tmp = path.with_extension("tmp");
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
    f.write_all(contents.as_bytes()).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

fn read(path: &Path) -> Result<Option<String>, CaError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

fn random_serial() -> SerialNumber {
    let mut bytes = uuid::Uuid::new_v4().into_bytes().to_vec();
    bytes[0] &= 0x7f; // positive
    SerialNumber::from_slice(&bytes)
}

impl LocalCa {
    /// Loads the CA in `<data_dir>/ca`, making a new root on first use, and makes sure the server
    /// certificate covers exactly `server_names` (DNS names or IP addresses) and is not near expiry.
    pub fn open(data_dir: &Path, server_names: &[String], now: OffsetDateTime) -> Result<Self, CaError> {
        let dir = data_dir.join("ca");
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let (cert_path, key_path) = (dir.join(ROOT_CERT), dir.join(ROOT_KEY));
        let ca = match (read(&cert_path)?, read(&key_path)?) {
            (Some(root_pem), Some(key_pem)) => {
                let root_key = KeyPair::from_pem(&key_pem)
                    .map_err(|e| CaError::Invalid { path: key_path.clone(), detail: e.to_string() })?;
                Issuer::from_ca_cert_pem(&root_pem, &root_key)
                    .map_err(|e| CaError::Invalid { path: cert_path.clone(), detail: e.to_string() })?;
                Self { dir, root_pem, root_key }
            }
            (None, None) => Self::create_root(dir, now)?,
            (Some(_), None) => {
                return Err(CaError::Invalid { path: key_path, detail: "the root CA key is missing".into() });
            }
            (None, Some(_)) => {
                return Err(CaError::Invalid {
                    path: cert_path,
                    detail: "the root CA certificate is missing".into(),
                });
            }
        };
        ca.ensure_server_cert(server_names, now)?;
        Ok(ca)
    }

    fn create_root(dir: PathBuf, now: OffsetDateTime) -> Result<Self, CaError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
        dn.push(DnType::OrganizationName, "Thingbox");
        dn.push(DnType::CommonName, format!("Thingbox Local Root CA {tag}"));
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(3650);
        params.serial_number = Some(random_serial());
        let cert = params.self_signed(&key)?;
        let root_pem = cert.pem();
        // Key first: a crash in between leaves a key without a certificate, which `open` reports.
        write_file(&dir.join(ROOT_KEY), &key.serialize_pem(), true)?;
        write_file(&dir.join(ROOT_CERT), &root_pem, false)?;
        tracing::info!(path = %dir.join(ROOT_CERT).display(), "created a new local root CA");
        Ok(Self { dir, root_pem, root_key: key })
    }

    fn ensure_server_cert(&self, names: &[String], now: OffsetDateTime) -> Result<(), CaError> {
        let names_path = self.dir.join(SERVER_NAMES);
        let wanted = serde_json::json!({ "names": names }).to_string();
        let current = read(&names_path)?;
        let cert_ok = read(&self.dir.join(SERVER_CERT))?
            .and_then(|pem| not_after(&pem))
            .is_some_and(|expiry| expiry > now + Duration::days(30));
        if current.as_deref() == Some(wanted.as_str()) && cert_ok && self.dir.join(SERVER_KEY).exists() {
            return Ok(());
        }
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.to_vec())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Thingbox");
        dn.push(DnType::CommonName, names.first().cloned().unwrap_or_else(|| "localhost".into()));
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(397);
        params.serial_number = Some(random_serial());
        let cert = params.signed_by(&key, &self.issuer()?)?;
        write_file(&self.dir.join(SERVER_KEY), &key.serialize_pem(), true)?;
        write_file(&self.dir.join(SERVER_CERT), &cert.pem(), false)?;
        write_file(&names_path, &wanted, false)?;
        tracing::info!(names = ?names, "issued the server certificate");
        Ok(())
    }

    /// The issuer that signs device and server certificates.
    pub fn issuer(&self) -> Result<Issuer<'_, &KeyPair>, CaError> {
        Issuer::from_ca_cert_pem(&self.root_pem, &self.root_key).map_err(CaError::Generate)
    }

    /// The root certificate, PEM.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// Where the root certificate is stored.
    pub fn root_path(&self) -> PathBuf {
        self.dir.join(ROOT_CERT)
    }

    /// Where the server certificate (PEM) and key are stored.
    pub fn server_paths(&self) -> (PathBuf, PathBuf) {
        (self.dir.join(SERVER_CERT), self.dir.join(SERVER_KEY))
    }
}

fn not_after(pem: &str) -> Option<OffsetDateTime> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    Some(cert.validity().not_after.to_datetime())
}

#[cfg(test)]
mod tests;
