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

/// The access key of a presigned (query-signed) URL, as `wss://…/mqtt` carries it; or what is
/// missing from it, for the 403 that refuses the WebSocket. The signature is not verified
/// (Thingbox has no secret keys to check it against).
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
    fn presigned_websocket_urls() {
        let good = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDWS%2F20261205%2Fus-east-1%2Fiotdevicegateway%2Faws4_request&X-Amz-Date=20261205T120000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=ab12";
        assert_eq!(presigned_access_key(Some(good)).unwrap(), "AKIDWS");
        let cases: [(Option<&str>, &str); 5] = [
            (None, "missing X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Signature"),
            (
                Some(
                    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2Fd%2Fr%2Fiotdevicegateway%2Faws4_request&X-Amz-Date=d",
                ),
                "missing X-Amz-Signature",
            ),
            (
                Some("X-Amz-Algorithm=HMAC&X-Amz-Credential=c&X-Amz-Date=d&X-Amz-Signature=s"),
                "must be AWS4-HMAC-SHA256",
            ),
            (
                Some("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=nope&X-Amz-Date=d&X-Amz-Signature=s"),
                "is not ACCESS_KEY/",
            ),
            (
                Some(
                    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2Fd%2Fr%2Fiot%2Faws4_request&X-Amz-Date=d&X-Amz-Signature=s",
                ),
                "signed for service 'iot'",
            ),
        ];
        for (query, why) in cases {
            let err = presigned_access_key(query).unwrap_err();
            assert!(err.contains(why), "{query:?}: {err}");
        }
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
