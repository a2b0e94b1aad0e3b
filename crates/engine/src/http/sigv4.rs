//! Reading (not verifying) AWS Signature Version 4: which service and region a request was signed
//! for, from the `Authorization` header or, for presigned URLs, the `X-Amz-Credential` parameter.
//!
//! AWS IoT's three HTTP services share paths (`/things/{name}` is both DescribeThing and, under
//! `/shadow`, a data-plane call), so the credential scope's service name is what tells them apart.

use axum::http::HeaderMap;

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
    if let Some(auth) = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256")
    {
        let credential = rest.split(',').map(str::trim).find_map(|p| p.strip_prefix("Credential="))?;
        return parse_credential(credential);
    }
    let query = query?;
    let value = query.split('&').find_map(|kv| kv.strip_prefix("X-Amz-Credential="))?;
    parse_credential(&percent_decode(value))
}

fn percent_decode(s: &str) -> String {
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
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn reads_the_authorization_header() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/eu-west-1/iotdata/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=abc",
            ),
        );
        let s = scope(&h, None).unwrap();
        assert_eq!(s.region, "eu-west-1");
        assert_eq!(s.known_service(), Some(Service::IotData));
    }

    #[test]
    fn reads_presigned_query() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261123%2Fus-west-2%2Fiot-jobs-data%2Faws4_request&X-Amz-Signature=x";
        let s = scope(&HeaderMap::new(), Some(q)).unwrap();
        assert_eq!(s.region, "us-west-2");
        assert_eq!(s.known_service(), Some(Service::IotJobsData));
    }

    #[test]
    fn unsigned_or_malformed_is_none() {
        assert!(scope(&HeaderMap::new(), None).is_none());
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=AKID/x"));
        assert!(scope(&h, None).is_none());
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer abc"));
        assert!(scope(&h, None).is_none());
        assert_eq!(CredentialScope { region: "r".into(), service: "s3".into() }.known_service(), None);
    }
}
