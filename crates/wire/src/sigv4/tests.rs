//! SigV4: scopes read from headers and presigned URLs, AWS's test vectors, what the AWS signer signs, and
//! the refusals with their reasons.

use super::*;
use http::HeaderValue;

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

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn keys() -> BTreeMap<String, String> {
    BTreeMap::from([("AKIDEXAMPLE".to_owned(), SECRET.to_owned())])
}

fn at(basic: &str) -> Timestamp {
    check_date(basic, &basic[..8]).unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
    }
    h
}

fn empty_sha() -> String {
    hex::encode(Sha256::digest(b""))
}

/// AWS's published SigV4 test suite: get-vanilla and get-vanilla-query-order-key-case.
#[test]
fn aws_test_vectors() {
    let now = at("20150830T123600Z");
    let body = empty_sha();
    for (query, signature) in [
        (None, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        (
            Some("Param2=value2&Param1=value1"),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
    ] {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={signature}"
        );
        let h = headers(&[
            ("host", "example.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
            ("authorization", &auth),
        ]);
        let req = SignedRequest { method: "GET", path: "/", query, headers: &h, body_sha256: &body };
        assert_eq!(verify(req, &keys(), now), Ok("AKIDEXAMPLE".to_owned()), "{query:?}");
        // One byte of the method, path, query or a signed header changed: refused.
        let other = SignedRequest { method: "POST", ..req };
        assert!(
            matches!(verify(other, &keys(), now), Err(SignatureError::Invalid(m)) if m.contains("Canonical String"))
        );
        let other = SignedRequest { path: "/x", ..req };
        assert!(verify(other, &keys(), now).is_err());
        let other = SignedRequest { query: Some("Param2=value2"), ..req };
        assert!(verify(other, &keys(), now).is_err());
        let mut h2 = h.clone();
        h2.insert("host", HeaderValue::from_static("evil.example.com"));
        assert!(verify(SignedRequest { headers: &h2, ..req }, &keys(), now).is_err());
        // Unsigned headers may change.
        let mut h3 = h.clone();
        h3.insert("user-agent", HeaderValue::from_static("anything"));
        assert!(verify(SignedRequest { headers: &h3, ..req }, &keys(), now).is_ok());
    }
}

/// Signed by the AWS SDK for Rust's signer (what the SDKs and, by the same rules, botocore do):
/// a POST with a body and an encoded path, and a presigned WebSocket URL.
#[test]
fn accepts_what_the_aws_signer_signs() {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
    let signed_at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_000_000);
    let now = Timestamp::from_millis(1_796_000_000_000 + 60_000);
    let identity = aws_credential_types::Credentials::new("AKIDEXAMPLE", SECRET, None, None, "test").into();
    let sign_with = |location, service: &str, method: &str, url: &str, body: &[u8]| {
        let mut settings = SigningSettings::default();
        settings.signature_location = location;
        settings.expires_in = Some(std::time::Duration::from_secs(300));
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name(service)
            .time(signed_at)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let request = SignableRequest::new(
            method,
            url,
            [("host", "localhost:4580"), ("content-type", "application/json")].into_iter(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(request, &params).unwrap().into_parts();
        let mut h = headers(&[("host", "localhost:4580"), ("content-type", "application/json")]);
        for (k, v) in instructions.headers() {
            h.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        let params: Vec<String> =
            instructions.params().iter().map(|(k, v)| format!("{k}={}", uri_encode(v.as_bytes()))).collect();
        (h, params)
    };
    let body = br#"{"attributePayload":{"attributes":{"a":"b c"}}}"#;
    let sha = hex::encode(Sha256::digest(body));
    let (h, _) = sign_with(
        SignatureLocation::Headers,
        "iot",
        "POST",
        "http://localhost:4580/things/my%3Athing?b=2&a=x%20y",
        body,
    );
    let req = SignedRequest {
        method: "POST",
        path: "/things/my%3Athing",
        query: Some("b=2&a=x%20y"),
        headers: &h,
        body_sha256: &sha,
    };
    assert_eq!(verify(req, &keys(), now), Ok("AKIDEXAMPLE".to_owned()));
    let tampered = hex::encode(Sha256::digest(b"{}"));
    assert!(
        verify(SignedRequest { body_sha256: &tampered, ..req }, &keys(), now).is_err(),
        "the body is signed"
    );
    // The same request 20 minutes later: expired, with AWS's words.
    let later = Timestamp::from_millis(1_796_000_000_000 + 20 * 60_000);
    assert!(
        matches!(verify(req, &keys(), later), Err(SignatureError::Invalid(m)) if m.starts_with("Signature expired"))
    );
    // Another secret: the signature does not match; an unknown key: UnrecognizedClient.
    let other = BTreeMap::from([("AKIDEXAMPLE".to_owned(), "other".to_owned())]);
    assert!(matches!(verify(req, &other, now), Err(SignatureError::Invalid(_))));
    let none = BTreeMap::from([("AKIDOTHER".to_owned(), SECRET.to_owned())]);
    assert!(
        matches!(verify(req, &none, now), Err(SignatureError::UnknownKey(m)) if m.contains("AKIDEXAMPLE"))
    );

    let (h, params) = sign_with(
        SignatureLocation::QueryParams,
        "iotdevicegateway",
        "GET",
        "http://localhost:4580/mqtt",
        b"",
    );
    let query = params.join("&");
    let get = SignedRequest {
        method: "GET",
        path: "/mqtt",
        query: Some(&query),
        headers: &h,
        body_sha256: &empty_sha(),
    };
    assert_eq!(verify(get, &keys(), now), Ok("AKIDEXAMPLE".to_owned()));
    // A session token appended after signing (as the CRT does for WebSockets) is accepted.
    let with_token = format!("{query}&X-Amz-Security-Token=abc%2Fdef");
    assert!(verify(SignedRequest { query: Some(&with_token), ..get }, &keys(), now).is_ok());
    let wrong_path = SignedRequest { path: "/mqtt2", ..get };
    assert!(verify(wrong_path, &keys(), now).is_err());
}

#[test]
fn unsigned_and_malformed_are_refused_with_the_reason() {
    let now = at("20150830T123600Z");
    let body = empty_sha();
    let h = headers(&[("host", "h")]);
    let req = SignedRequest { method: "GET", path: "/things", query: None, headers: &h, body_sha256: &body };
    assert!(matches!(verify(req, &keys(), now), Err(SignatureError::Missing(_))));
    let cases = [
        ("Bearer x", "not AWS Signature Version 4"),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iot/aws4_request",
            "requires 'Credential'",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/x, SignedHeaders=host, Signature=00",
            "Credential should be",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iot/aws4_request, SignedHeaders=host, Signature=00",
            "X-Amz-Date",
        ),
    ];
    for (auth, why) in cases {
        let h = headers(&[("host", "h"), ("authorization", auth)]);
        let err = verify(SignedRequest { headers: &h, ..req }, &keys(), now).unwrap_err();
        assert!(matches!(&err, SignatureError::Invalid(m) if m.contains(why)), "{auth}: {err:?}");
    }
    let h = headers(&[
        ("host", "h"),
        ("x-amz-date", "20150831T000000Z"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iot/aws4_request, SignedHeaders=x-amz-date, Signature=00",
        ),
    ]);
    let err = verify(SignedRequest { headers: &h, ..req }, &keys(), at("20150831T000000Z")).unwrap_err();
    assert!(matches!(&err, SignatureError::Invalid(m) if m.contains("Date in Credential scope")), "{err:?}");
}

/// A presigned date of 16 bytes that is not ASCII (found by review): refused, not a panic.
#[test]
fn a_non_ascii_presigned_date_is_refused() {
    let h = headers(&[("host", "h")]);
    let body = empty_sha();
    let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261205%2Fus-east-1%2Fiotdevicegateway%2Faws4_request&X-Amz-Date=202%C3%A9123T120000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00";
    let req = SignedRequest { method: "GET", path: "/mqtt", query: Some(q), headers: &h, body_sha256: &body };
    let err = verify(req, &keys(), at("20261205T120000Z")).unwrap_err();
    assert!(matches!(&err, SignatureError::Invalid(m) if m.contains("YYYYMMDDTHHMMSSZ")), "{err:?}");
}

#[test]
fn canonical_forms() {
    assert_eq!(canonical_uri(""), "/");
    assert_eq!(canonical_uri("/a/./b/../c//d/"), "/a/c/d/");
    assert_eq!(canonical_uri("/things/my%3Athing"), "/things/my%253Athing");
    assert_eq!(canonical_query(Some("b=2&a=x%20y&c&a=1"), &[]), "a=1&a=x%20y&b=2&c=");
    assert_eq!(canonical_query(Some("X-Amz-Signature=1&k=a%2Fb"), &["X-Amz-Signature"]), "k=a%2Fb");
    assert_eq!(basic_format(1_440_938_160_000), "20150830T123600Z");
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
