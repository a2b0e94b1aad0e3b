//! Files devices download during a job (OTA images): kept under the data dir's `s3/<bucket>/<key>`
//! — where rules' `s3` actions write too — and handed to devices as expiring, signed Thingbox URLs
//! in place of a job document's `${aws:iot:s3-presigned-url:<S3 URL>}` placeholders. A
//! `documentSource` S3 URL reads the job document from the same place.

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thingbox_model::names::encode_segment;

use crate::rules::actions::local::{bucket_ok, object_path};

/// The OTA files and their links.
#[derive(Debug, Clone)]
pub struct Files {
    dir: PathBuf,
    base_url: String,
    secret: Vec<u8>,
}

/// Bucket and key of an S3 URL in any of its forms (`https://s3.amazonaws.com/b/k`,
/// `https://b.s3.amazonaws.com/k`, regional hosts, `s3://b/k`).
pub fn parse_s3_url(url: &str) -> Option<(String, String)> {
    if let Some(rest) = url.strip_prefix("s3://") {
        let (b, k) = rest.split_once('/')?;
        return Some((b.to_owned(), k.to_owned()));
    }
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    let path = path.split(['?', '#']).next().unwrap_or(path);
    if host == "s3.amazonaws.com"
        || (host.starts_with("s3.") || host.starts_with("s3-")) && host.ends_with(".amazonaws.com")
    {
        let (b, k) = path.split_once('/')?;
        return Some((b.to_owned(), k.to_owned()));
    }
    let bucket = host.split_once(".s3.").or_else(|| host.split_once(".s3-")).map(|(b, _)| b)?;
    Some((bucket.to_owned(), path.to_owned()))
}

impl Files {
    /// Files under `data_dir/s3`, links on `base_url` (the API's), signed with `secret`.
    pub fn new(data_dir: &Path, base_url: String, secret: &str) -> Self {
        Self { dir: data_dir.join("s3"), base_url, secret: secret.as_bytes().to_vec() }
    }

    /// The file of `bucket`/`key`, if the names are acceptable.
    pub fn path(&self, bucket: &str, key: &str) -> Result<PathBuf, String> {
        if !bucket_ok(bucket) {
            return Err(format!("'{bucket}' is not a valid bucket name"));
        }
        object_path(&self.dir.join(bucket), key)
    }

    /// The MAC over what a link grants: this file until `expires`.
    fn mac(&self, bucket: &str, key: &str, expires: i64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key");
        mac.update(format!("{bucket}\n{key}\n{expires}").as_bytes());
        mac
    }

    /// A link to the file an S3 URL names, valid for `ttl_secs` from `now_ms`; the URL unchanged
    /// when it names no file Thingbox can serve.
    pub fn presign(&self, s3_url: &str, now_ms: i64, ttl_secs: i64) -> String {
        let Some((bucket, key)) = parse_s3_url(s3_url) else { return s3_url.to_owned() };
        if self.path(&bucket, &key).is_err() {
            return s3_url.to_owned();
        }
        let expires = now_ms / 1000 + ttl_secs;
        let sig = hex::encode(self.mac(&bucket, &key, expires).finalize().into_bytes());
        let key_path: Vec<String> = key.split('/').map(encode_segment).collect();
        format!(
            "{}/ota/{}/{}?expires={expires}&signature={sig}",
            self.base_url,
            encode_segment(&bucket),
            key_path.join("/")
        )
    }

    /// Checks a link's signature and expiry; the file's path when both hold.
    pub fn verify(
        &self,
        bucket: &str,
        key: &str,
        expires: i64,
        signature: &str,
        now_ms: i64,
    ) -> Result<PathBuf, String> {
        let path = self.path(bucket, key)?;
        let given = hex::decode(signature).map_err(|_| "the signature is not valid".to_owned())?;
        self.mac(bucket, key, expires)
            .verify_slice(&given)
            .map_err(|_| "the signature does not match this file".to_owned())?;
        if now_ms / 1000 > expires {
            return Err("the link has expired; ask for the job document again for a fresh one".into());
        }
        Ok(path)
    }

    /// Every file, as (bucket, key, size).
    pub fn list(&self) -> Vec<(String, String, u64)> {
        let mut out = Vec::new();
        let Ok(buckets) = std::fs::read_dir(&self.dir) else { return out };
        for b in buckets.flatten() {
            let bucket = b.file_name().to_string_lossy().into_owned();
            let mut stack = vec![b.path()];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                for e in entries.flatten() {
                    let p = e.path();
                    match e.metadata() {
                        Ok(m) if m.is_dir() => stack.push(p),
                        Ok(m) => {
                            let name = e.file_name().to_string_lossy().into_owned();
                            if name.starts_with(".tb-") {
                                continue; // a write in progress
                            }
                            if let Ok(rel) = p.strip_prefix(b.path()) {
                                out.push((bucket.clone(), rel.to_string_lossy().into_owned(), m.len()));
                            }
                        }
                        Err(_) => {}
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// Stores a file (whole, through a temp file and a rename).
    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) -> Result<(), String> {
        let path = self.path(bucket, key)?;
        let dir = path.parent().ok_or("no parent dir")?;
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let tmp = dir.join(format!(".tb-upload-{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &path).map_err(|e| e.to_string())
    }

    /// Removes a file.
    pub fn delete(&self, bucket: &str, key: &str) -> Result<(), String> {
        let path = self.path(bucket, key)?;
        std::fs::remove_file(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("there is no file s3://{bucket}/{key}"),
            _ => e.to_string(),
        })
    }

    /// Reads the document a `documentSource` S3 URL names.
    pub fn read_document(&self, url: &str) -> Result<String, String> {
        let (bucket, key) = parse_s3_url(url).ok_or_else(|| {
            format!("documentSource '{url}' is not an S3 URL (https://s3.amazonaws.com/<bucket>/<key>)")
        })?;
        let path = self.path(&bucket, &key)?;
        std::fs::read_to_string(&path).map_err(|_| {
            format!(
                "documentSource {url}: Thingbox reads it from {}; put the job document there (the console's Jobs page \
                 uploads files) and try again",
                path.display()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls() {
        let cases = [
            ("https://s3.amazonaws.com/b/fw/v1.bin", Some(("b", "fw/v1.bin"))),
            ("https://b.s3.amazonaws.com/fw.bin", Some(("b", "fw.bin"))),
            ("https://s3.eu-west-1.amazonaws.com/b/k", Some(("b", "k"))),
            ("https://b.s3.eu-west-1.amazonaws.com/k?x=1", Some(("b", "k"))),
            ("s3://b/k", Some(("b", "k"))),
            ("https://example.com/b/k", None),
        ];
        for (url, want) in cases {
            let got = parse_s3_url(url);
            assert_eq!(got.as_ref().map(|(b, k)| (b.as_str(), k.as_str())), want, "{url}");
        }
    }

    #[test]
    fn links_are_signed_and_expire() {
        let f = Files::new(Path::new("/tmp/x"), "http://h".into(), "secret");
        let url = f.presign("https://s3.amazonaws.com/bucket/fw/a b.bin", 1_000_000, 60);
        assert!(url.starts_with("http://h/ota/bucket/fw/a%20b.bin?expires=1060&signature="), "{url}");
        let sig = url.rsplit_once("signature=").unwrap().1;
        assert!(f.verify("bucket", "fw/a b.bin", 1060, sig, 1_000_000).is_ok());
        assert!(f.verify("bucket", "fw/other.bin", 1060, sig, 1_000_000).is_err());
        assert!(f.verify("bucket", "fw/a b.bin", 1061, sig, 1_000_000).is_err());
        assert!(f.verify("bucket", "fw/a b.bin", 1060, sig, 1_061_000).is_err());
        assert_eq!(f.presign("https://example.com/x", 0, 60), "https://example.com/x");
    }
}
