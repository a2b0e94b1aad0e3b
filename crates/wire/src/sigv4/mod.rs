//! AWS Signature Version 4 at the edge: which service and region a request was signed for, from
//! the `Authorization` header or, for presigned URLs, the `X-Amz-Credential` parameter; and, when
//! the user configured access keys (`--verify-signatures`), whether the signature is right.
//!
//! AWS IoT's three HTTP services share paths (`/things/{name}` is both DescribeThing and, under
//! `/shadow`, a data-plane call), so the credential scope's service name is what tells them apart.
//!
//! Verification follows AWS's rules for every service but S3: the canonical URI is the path as
//! sent, dot segments and empty segments removed, then percent-encoded again; query parameters are
//! decoded, re-encoded with only the unreserved characters left bare, and sorted; the listed
//! headers are lower-cased, trimmed and their inner runs of spaces collapsed; the payload hash is
//! `x-amz-content-sha256` when the client sent it (it must match the body), else the body's
//! SHA-256. A presigned URL may also have been signed over `UNSIGNED-PAYLOAD` or without its
//! `X-Amz-Security-Token` (the CRT's MQTT-over-WebSocket signing leaves the token out): those
//! forms are accepted too. Requests must be within 15 minutes of this machine's clock.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac as _};
use http::HeaderMap;
use sha2::{Digest as _, Sha256};
use thingbox_model::Timestamp;

/// The services this endpoint serves, by SigV4 signing name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `iot`: the control plane (registry, certificates, policies, rules, jobs management).
    Iot,
    /// `iotdata`: the data plane (shadows, publish, retained messages).
    IotData,
    /// `iot-jobs-data`: the jobs data plane for devices.
    IotJobsData,
}

impl Service {
    /// The signing name.
    pub const fn signing_name(self) -> &'static str {
        match self {
            Self::Iot => "iot",
            Self::IotData => "iotdata",
            Self::IotJobsData => "iot-jobs-data",
        }
    }

    fn from_signing_name(name: &str) -> Option<Self> {
        match name {
            "iot" | "execute-api" => Some(Self::Iot),
            "iotdata" | "iot-data" | "iotdevicegateway" => Some(Self::IotData),
            "iot-jobs-data" => Some(Self::IotJobsData),
            _ => None,
        }
    }
}

/// The credential scope of a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    /// Region, e.g. `us-east-1`.
    pub region: String,
    /// Signing name, e.g. `iot`.
    pub service: String,
}

impl CredentialScope {
    /// The service, if it is one of ours.
    pub fn known_service(&self) -> Option<Service> {
        Service::from_signing_name(&self.service)
    }
}

/// Parses `AKID/20261123/us-east-1/iot/aws4_request`.
fn parse_credential(credential: &str) -> Option<CredentialScope> {
    let mut parts = credential.split('/');
    let _key = parts.next()?;
    let _date = parts.next()?;
    let region = parts.next()?;
    let service = parts.next()?;
    (parts.next()? == "aws4_request" && !region.is_empty() && !service.is_empty())
        .then(|| CredentialScope { region: region.to_owned(), service: service.to_owned() })
}

/// The credential scope of a request, if it is signed with SigV4.
pub fn scope(headers: &HeaderMap, query: Option<&str>) -> Option<CredentialScope> {
    if let Some(auth) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256")
    {
        let credential = rest.split(',').map(str::trim).find_map(|p| p.strip_prefix("Credential="))?;
        return parse_credential(credential);
    }
    let query = query?;
    let value = query.split('&').find_map(|kv| kv.strip_prefix("X-Amz-Credential="))?;
    parse_credential(&percent_decode(value))
}

/// The access key of a presigned (query-signed) URL, as `wss://…/mqtt` carries it; or what is
/// missing from it, for the 403 that refuses the WebSocket. The signature is not checked here
/// ([`verify`] does, when access keys are configured).
pub fn presigned_access_key(query: Option<&str>) -> Result<String, String> {
    const NEEDED: [&str; 4] = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature"];
    let params: Vec<(&str, String)> = query
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k, percent_decode(v)))
        .collect();
    let get = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str());
    let missing: Vec<&str> = NEEDED.into_iter().filter(|n| get(n).is_none_or(str::is_empty)).collect();
    if !missing.is_empty() {
        return Err(format!(
            "MQTT over WebSocket needs a SigV4-signed URL; missing {} (the Device SDK's \
             websockets_with_default_aws_signing signs it)",
            missing.join(", ")
        ));
    }
    if get("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256") {
        return Err("X-Amz-Algorithm must be AWS4-HMAC-SHA256".into());
    }
    let credential = get("X-Amz-Credential").unwrap_or_default();
    let Some(scope) = parse_credential(credential) else {
        return Err(format!(
            "X-Amz-Credential '{credential}' is not ACCESS_KEY/DATE/REGION/iotdevicegateway/aws4_request"
        ));
    };
    if scope.service != "iotdevicegateway" {
        return Err(format!(
            "the URL is signed for service '{}'; sign it for iotdevicegateway",
            scope.service
        ));
    }
    Ok(credential.split('/').next().unwrap_or_default().to_owned())
}

/// Why a request's signature was not accepted, as AWS words it (the variant names the error type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// `MissingAuthenticationTokenException`: the request is not signed.
    Missing(String),
    /// `UnrecognizedClientException`: the access key is not one of the configured keys.
    UnknownKey(String),
    /// `InvalidSignatureException`: wrong, expired or malformed signature.
    Invalid(String),
}

/// What the verifier needs of a request.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// `GET`, `POST`…
    pub method: &'a str,
    /// The path as sent (still percent-encoded).
    pub path: &'a str,
    /// The query string as sent, without `?`.
    pub query: Option<&'a str>,
    /// The request's headers.
    pub headers: &'a HeaderMap,
    /// The body's SHA-256, lower-case hex.
    pub body_sha256: &'a str,
}

/// How far a request's time may be from the clock, as on AWS.
const MAX_SKEW_MS: i64 = 15 * 60 * 1000;
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Checks `req`'s SigV4 signature (header or presigned) against `keys` (access key id → secret
/// access key); the access key id when it is right.
pub fn verify(
    req: SignedRequest<'_>,
    keys: &BTreeMap<String, String>,
    now: Timestamp,
) -> Result<String, SignatureError> {
    let auth = req.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match auth {
        Some(a) if a.starts_with("AWS4-HMAC-SHA256") => verify_header(req, a, keys, now),
        Some(_) => Err(SignatureError::Invalid(
            "the Authorization header is not AWS Signature Version 4 (AWS4-HMAC-SHA256)".into(),
        )),
        None if req.query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("X-Amz-Signature="))) => {
            verify_presigned(req, keys, now)
        }
        None => Err(SignatureError::Missing(
            "Missing Authentication Token: this Thingbox verifies signatures (--verify-signatures); sign the \
             request with SigV4 and one of its access keys (the AWS CLI and SDKs do, given credentials)"
                .into(),
        )),
    }
}

/// The parts of a `Credential=` value.
struct Credential<'a> {
    key: &'a str,
    date: &'a str,
    /// `DATE/REGION/SERVICE/aws4_request`
    scope: &'a str,
    region: &'a str,
    service: &'a str,
}

fn split_credential(c: &str) -> Result<Credential<'_>, SignatureError> {
    let bad = || {
        SignatureError::Invalid(format!(
            "Credential should be ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request, not '{c}'"
        ))
    };
    let (key, scope) = c.split_once('/').ok_or_else(bad)?;
    let parts: Vec<&str> = scope.split('/').collect();
    if parts.len() != 4 || parts[3] != "aws4_request" || parts.iter().any(|p| p.is_empty()) {
        return Err(bad());
    }
    Ok(Credential { key, date: parts[0], scope, region: parts[1], service: parts[2] })
}

fn verify_header(
    req: SignedRequest<'_>,
    auth: &str,
    keys: &BTreeMap<String, String>,
    now: Timestamp,
) -> Result<String, SignatureError> {
    let rest = auth.trim_start_matches("AWS4-HMAC-SHA256").trim();
    let field = |name: &str| {
        rest.split(',').map(str::trim).find_map(|p| p.strip_prefix(name)).filter(|v| !v.is_empty())
    };
    let (Some(credential), Some(signed), Some(signature)) =
        (field("Credential="), field("SignedHeaders="), field("Signature="))
    else {
        return Err(SignatureError::Invalid(format!(
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters \
             (got '{auth}')"
        )));
    };
    let cred = split_credential(credential)?;
    let secret = secret_of(keys, cred.key)?;
    let Some(amz_date) = req.headers.get("x-amz-date").and_then(|v| v.to_str().ok()) else {
        return Err(SignatureError::Invalid(
            "Authorization header requires existence of a 'X-Amz-Date' header".into(),
        ));
    };
    let at = check_date(amz_date, cred.date)?;
    check_skew(amz_date, at, now)?;
    let payload = match header_str(req.headers, "x-amz-content-sha256") {
        Some(h) if h == UNSIGNED_PAYLOAD => h.to_owned(),
        Some(h) if !h.eq_ignore_ascii_case(req.body_sha256) => {
            return Err(SignatureError::Invalid(format!(
                "The provided 'x-amz-content-sha256' header ({h}) does not match what was computed \
                 ({})",
                req.body_sha256
            )));
        }
        _ => req.body_sha256.to_owned(),
    };
    let query = canonical_query(req.query, &[]);
    let canonical = canonical_request(req, &query, signed, &payload)?;
    check_signature(secret, &cred, amz_date, &[canonical], signature)?;
    Ok(cred.key.to_owned())
}

fn verify_presigned(
    req: SignedRequest<'_>,
    keys: &BTreeMap<String, String>,
    now: Timestamp,
) -> Result<String, SignatureError> {
    let params: Vec<(String, String)> = req
        .query
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode_strict(k), percent_decode_strict(v))
        })
        .collect();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let (Some(algorithm), Some(credential), Some(amz_date), Some(signed), Some(signature)) = (
        get("X-Amz-Algorithm"),
        get("X-Amz-Credential"),
        get("X-Amz-Date"),
        get("X-Amz-SignedHeaders"),
        get("X-Amz-Signature"),
    ) else {
        return Err(SignatureError::Invalid(
            "a presigned URL needs X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders and \
             X-Amz-Signature"
                .into(),
        ));
    };
    if algorithm != "AWS4-HMAC-SHA256" {
        return Err(SignatureError::Invalid("X-Amz-Algorithm must be AWS4-HMAC-SHA256".into()));
    }
    let cred = split_credential(credential)?;
    let secret = secret_of(keys, cred.key)?;
    let at = check_date(amz_date, cred.date)?;
    if at.millis() > now.millis() + MAX_SKEW_MS {
        return Err(SignatureError::Invalid(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            basic_format(now.millis() + MAX_SKEW_MS),
            basic_format(now.millis())
        )));
    }
    let expires: i64 = match get("X-Amz-Expires") {
        None => 604_800,
        Some(e) => e.parse().ok().filter(|e| (1..=604_800).contains(e)).ok_or_else(|| {
            SignatureError::Invalid(format!("X-Amz-Expires must be between 1 and 604800 seconds (got '{e}')"))
        })?,
    };
    if now.millis() > at.millis() + expires * 1000 {
        return Err(SignatureError::Invalid(format!(
            "Signature expired: the URL was signed at {amz_date} for {expires} seconds; it is now {}",
            basic_format(now.millis())
        )));
    }
    let mut candidates = Vec::new();
    for skip in [&["X-Amz-Signature"][..], &["X-Amz-Signature", "X-Amz-Security-Token"]] {
        let query = canonical_query(req.query, skip);
        for payload in [req.body_sha256, UNSIGNED_PAYLOAD] {
            candidates.push(canonical_request(req, &query, signed, payload)?);
        }
    }
    check_signature(secret, &cred, amz_date, &candidates, signature)?;
    Ok(cred.key.to_owned())
}

fn secret_of<'k>(keys: &'k BTreeMap<String, String>, key: &str) -> Result<&'k str, SignatureError> {
    keys.get(key).map(String::as_str).ok_or_else(|| {
        SignatureError::UnknownKey(format!(
            "The security token included in the request is invalid: access key '{key}' is not one of this \
             Thingbox's keys ([access.credentials] in thingbox.toml)"
        ))
    })
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Parses `YYYYMMDDTHHMMSSZ` and checks that the credential's date is its day.
fn check_date(amz_date: &str, credential_date: &str) -> Result<Timestamp, SignatureError> {
    let b = amz_date.as_bytes();
    // ASCII first: a presigned URL's date is percent-decoded and could slice inside a character.
    let parsed = (amz_date.is_ascii() && b.len() == 16 && b[8] == b'T' && b[15] == b'Z')
        .then(|| {
            let s = |r: std::ops::Range<usize>| &amz_date[r];
            thingbox_model::time::parse_utc_minute(&format!(
                "{}-{}-{}T{}:{}:{}",
                s(0..4),
                s(4..6),
                s(6..8),
                s(9..11),
                s(11..13),
                s(13..15)
            ))
        })
        .flatten();
    let at = parsed.ok_or_else(|| {
        SignatureError::Invalid(format!("X-Amz-Date '{amz_date}' is not in the form YYYYMMDDTHHMMSSZ"))
    })?;
    if !amz_date.starts_with(credential_date) || credential_date.len() != 8 {
        return Err(SignatureError::Invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
             '{credential_date}' != '{}'",
            &amz_date[..8]
        )));
    }
    Ok(at)
}

fn check_skew(amz_date: &str, at: Timestamp, now: Timestamp) -> Result<(), SignatureError> {
    let (t, n) = (at.millis(), now.millis());
    if t < n - MAX_SKEW_MS {
        return Err(SignatureError::Invalid(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
            basic_format(n - MAX_SKEW_MS),
            basic_format(n)
        )));
    }
    if t > n + MAX_SKEW_MS {
        return Err(SignatureError::Invalid(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
            basic_format(n + MAX_SKEW_MS),
            basic_format(n)
        )));
    }
    Ok(())
}

/// `YYYYMMDDTHHMMSSZ` for epoch milliseconds.
fn basic_format(ms: i64) -> String {
    Timestamp(ms).to_basic_iso()
}

/// Compares `signature` with the one each candidate canonical request gives.
fn check_signature(
    secret: &str,
    cred: &Credential<'_>,
    amz_date: &str,
    canonicals: &[String],
    signature: &str,
) -> Result<(), SignatureError> {
    let key = signing_key(secret, cred.date, cred.region, cred.service);
    let given = hex::decode(signature).unwrap_or_default();
    let mut first = None;
    for canonical in canonicals {
        let to_sign = string_to_sign(amz_date, cred.scope, canonical);
        // verify_slice compares in constant time.
        if hmac(&key, to_sign.as_bytes()).verify_slice(&given).is_ok() {
            return Ok(());
        }
        first.get_or_insert((canonical.clone(), to_sign));
    }
    let (canonical, to_sign) = first.unwrap_or_default();
    Err(SignatureError::Invalid(format!(
        "The request signature we calculated does not match the signature you provided. Check your AWS \
         Secret Access Key and signing method. The Canonical String for this request should have been \
         '{canonical}' The String-to-Sign should have been '{to_sign}'"
    )))
}

fn hmac(key: &[u8], data: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as hmac::Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac
}

/// The signing key: HMAC chain over the date, region, service and `aws4_request`.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in [date, region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes()).finalize().into_bytes().to_vec();
    }
    key
}

fn string_to_sign(amz_date: &str, scope: &str, canonical: &str) -> String {
    format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())))
}

fn canonical_request(
    req: SignedRequest<'_>,
    query: &str,
    signed_headers: &str,
    payload_hash: &str,
) -> Result<String, SignatureError> {
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"host") {
        return Err(SignatureError::Invalid(format!(
            "'Host' must be a signed header (SignedHeaders={signed_headers})"
        )));
    }
    let mut headers = String::new();
    for name in &names {
        let values: Vec<String> = req
            .headers
            .get_all(*name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&values.join(","));
        headers.push('\n');
    }
    Ok(format!(
        "{}\n{}\n{query}\n{headers}\n{signed_headers}\n{payload_hash}",
        req.method,
        canonical_uri(req.path)
    ))
}

/// The path without dot or empty segments, each byte but the unreserved ones and `/`
/// percent-encoded (so an encoded path is encoded twice, as AWS's signers do).
fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(&segments.iter().map(|s| uri_encode(s.as_bytes())).collect::<Vec<_>>().join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// Sorted, strictly re-encoded query parameters, leaving out those named in `skip`.
fn canonical_query(query: Option<&str>, skip: &[&str]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
        .filter(|(k, _)| !skip.iter().any(|s| s.as_bytes() == percent_decode_bytes(k, false)))
        .map(|(k, v)| {
            (uri_encode(&percent_decode_bytes(k, false)), uri_encode(&percent_decode_bytes(v, false)))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

fn uri_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-decoding; `+` becomes a space only for form-style values (`plus_is_space`): SigV4
/// encodes a space as `%20`, so canonicalization keeps `+` as it is.
fn percent_decode_bytes(s: &str, plus_is_space: bool) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or(""), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if plus_is_space && bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    out
}

/// Percent-decoding as a URI path is decoded (`+` stays `+`); invalid UTF-8 becomes U+FFFD.
pub fn percent_decode_strict(s: &str) -> String {
    String::from_utf8_lossy(&percent_decode_bytes(s, false)).into_owned()
}

fn percent_decode(s: &str) -> String {
    String::from_utf8_lossy(&percent_decode_bytes(s, true)).into_owned()
}

#[cfg(test)]
mod tests;
