//! Who may use the HTTP edge, decided before any service sees a request. Thingbox runs beside the
//! user's browser, so a web page must not be able to drive it:
//!
//! 1. **Host** (DNS rebinding): a request must address this server by a name it answers to — an IP
//!    address, `localhost` (or `*.localhost`), the endpoint host, or a name the user allowed
//!    (`--allow-host`). A page on `evil.example` whose DNS was rebound to 127.0.0.1 sends
//!    `Host: evil.example` and is refused, console files included.
//! 2. **Origin** (cross-site requests): a browser request from another origin — `Origin` not this
//!    server's own (`scheme://` + its `Host`) nor allowed (`--allow-origin`), or, without `Origin`,
//!    `Sec-Fetch-Site: cross-site`/`same-site` — is refused, so a page can neither send "simple"
//!    requests that change the registry nor open `ws://…/mqtt`. The console's files are exempt
//!    (opening the console from a link is a cross-site navigation, and they hold no data).
//!    Programs (the AWS CLI, SDKs, devices) send neither header and are unaffected.
//! 3. **Signatures** (`--verify-signatures`): every AWS API request must be SigV4-signed with one
//!    of the configured access keys ([`thingbox_wire::sigv4::verify`]). The console's own requests carry
//!    the console token instead; the console API always needs that token; OTA download links carry
//!    their own signature.
//!
//! Each refusal is an AWS-shaped 403 whose message says what was refused and which setting allows it.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use sha2::{Digest as _, Sha256};

use super::AppState;
use super::error::{AwsErrorType, aws_message};
use thingbox_wire::sigv4::{self, SignatureError, SignedRequest};

/// Who may call, as configured.
#[derive(Debug, Clone, Default)]
pub struct AccessConfig {
    /// Host names requests may address besides IP addresses, `localhost` and the endpoint host;
    /// `*` allows any (turns the rebinding check off).
    pub allowed_hosts: Vec<String>,
    /// Web origins (`scheme://host[:port]`) whose pages may call, besides the console's own; `*`
    /// allows any.
    pub allowed_origins: Vec<String>,
    /// Access key id → secret access key. When set, AWS API requests must be signed with one.
    pub credentials: Option<BTreeMap<String, String>>,
}

/// Refuses a request whose `Host` is not a name this server answers to.
pub fn check_host(config: &AccessConfig, endpoint_host: &str, req: &Request) -> Result<(), Response> {
    let host = match req.headers().get(header::HOST) {
        Some(h) => String::from_utf8_lossy(h.as_bytes()).into_owned(),
        // HTTP/2 carries the authority in the URI; a request with neither is not from a browser.
        None => match req.uri().authority() {
            Some(a) => a.as_str().to_owned(),
            None => return Ok(()),
        },
    };
    let name = host_name(&host);
    let allowed = name.parse::<std::net::IpAddr>().is_ok()
        || name == "localhost"
        || name.ends_with(".localhost")
        || name.eq_ignore_ascii_case(endpoint_host.trim_end_matches('.'))
        || config
            .allowed_hosts
            .iter()
            .any(|h| h == "*" || h.trim_end_matches('.').eq_ignore_ascii_case(&name));
    if allowed {
        return Ok(());
    }
    Err(aws_message(
        AwsErrorType::Forbidden,
        format!(
            "Thingbox does not answer to the host name '{name}' (the request's Host header): it answers to \
             IP addresses, localhost and its endpoint host '{endpoint_host}'. This protects it from web pages \
             that rebind their DNS name to this machine; to reach it by this name, start it with \
             --allow-host {name}"
        ),
    ))
}

/// The host name of a `Host` value, lower-cased, without port or trailing dot (IPv6 literals keep
/// no brackets).
fn host_name(host: &str) -> String {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map_or(host, |(name, _)| name)
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Refuses a browser request sent by a page of another origin.
pub fn check_origin(config: &AccessConfig, headers: &HeaderMap) -> Result<(), Response> {
    let text = |name| headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let refused = if let Some(origin) = text(header::ORIGIN) {
        let origin = origin.trim_end_matches('/').to_owned();
        let own = match (origin.split_once("://"), text(header::HOST)) {
            (Some((_, authority)), Some(host)) => authority.eq_ignore_ascii_case(&host),
            _ => false,
        };
        let allowed = config
            .allowed_origins
            .iter()
            .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(&origin));
        (!own && !allowed).then(|| format!("a page of the web origin '{origin}'"))
    } else {
        match text(axum::http::HeaderName::from_static("sec-fetch-site")).as_deref() {
            Some(site @ ("cross-site" | "same-site")) => {
                Some(format!("a page of another web origin ({site})"))
            }
            _ => None,
        }
    };
    match refused {
        None => Ok(()),
        Some(who) => Err(aws_message(
            AwsErrorType::Forbidden,
            format!(
                "Thingbox refused a request from {who}: web pages may call it only from its own console, so \
                 that a site you visit cannot read or change your devices. To let a web app of yours call it, \
                 start Thingbox with --allow-origin <its origin, e.g. http://localhost:3000>"
            ),
        )),
    }
}

/// Whether the AWS API's signature rules apply to `req`: not to the console API (it has its token),
/// the OTA download links (their own signature), or requests that carry the console token.
fn needs_signature(state: &AppState, req: &Request) -> bool {
    let path = req.uri().path();
    if path.starts_with("/console/") || path.starts_with("/ota/") {
        return false;
    }
    !super::console::token_of(req).is_some_and(|t| super::console::same(&t, &state.console_token))
}

/// With `--verify-signatures`: checks `req`'s signature (reading its body to hash it) and gives the
/// request back, or the AWS error that refuses it.
pub async fn check_signature(state: &AppState, req: Request) -> Result<Request, Response> {
    let Some(keys) = &state.access.credentials else {
        return Ok(req);
    };
    if !needs_signature(state, &req) {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, super::extract::MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return Err(aws_message(
                AwsErrorType::RequestEntityTooLarge,
                format!("The request body is larger than {} bytes", super::extract::MAX_BODY),
            ));
        }
    };
    let sha = hex::encode(Sha256::digest(&bytes));
    let signed = SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body_sha256: &sha,
    };
    match sigv4::verify(signed, keys, state.now()) {
        Ok(_) => Ok(Request::from_parts(parts, Body::from(bytes))),
        Err(e) => {
            let (kind, message) = match e {
                SignatureError::Missing(m) => (AwsErrorType::MissingAuthenticationToken, m),
                SignatureError::UnknownKey(m) => (AwsErrorType::UnrecognizedClient, m),
                SignatureError::Invalid(m) => (AwsErrorType::InvalidSignature, m),
            };
            tracing::debug!(path = parts.uri.path(), %message, "request refused: signature");
            Err(aws_message(kind, message))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn request(host: Option<&str>) -> Request {
        let mut b = Request::builder().uri("/things");
        if let Some(h) = host {
            b = b.header("host", h);
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn hosts() {
        let none = AccessConfig::default();
        for ok in [
            None,
            Some("localhost"),
            Some("localhost:4580"),
            Some("LOCALHOST.:4580"),
            Some("console.localhost:4580"),
            Some("127.0.0.1:4580"),
            Some("192.168.1.20"),
            Some("[::1]:4580"),
            Some("iot.example.test:443"),
        ] {
            assert!(check_host(&none, "iot.example.test", &request(ok)).is_ok(), "{ok:?}");
        }
        for bad in ["evil.example:4580", "localhost.evil.example", "127.0.0.1.nip.io:4580", "[::1"] {
            let res = check_host(&none, "iot.example.test", &request(Some(bad))).unwrap_err();
            assert_eq!(res.status(), 403, "{bad}");
        }
        let some = AccessConfig { allowed_hosts: vec!["thingbox.lan".into()], ..AccessConfig::default() };
        assert!(check_host(&some, "localhost", &request(Some("ThingBox.lan:4580"))).is_ok());
        assert!(check_host(&some, "localhost", &request(Some("other.lan"))).is_err());
        let any = AccessConfig { allowed_hosts: vec!["*".into()], ..AccessConfig::default() };
        assert!(check_host(&any, "localhost", &request(Some("evil.example"))).is_ok());
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origins() {
        let none = AccessConfig::default();
        let ok = [
            headers(&[("host", "127.0.0.1:4580")]),
            headers(&[("host", "127.0.0.1:4580"), ("origin", "http://127.0.0.1:4580")]),
            headers(&[("host", "localhost"), ("origin", "https://localhost")]),
            headers(&[("host", "127.0.0.1:4580"), ("sec-fetch-site", "same-origin")]),
            headers(&[("host", "127.0.0.1:4580"), ("sec-fetch-site", "none")]),
        ];
        for h in &ok {
            assert!(check_origin(&none, h).is_ok(), "{h:?}");
        }
        let refused = [
            headers(&[("host", "127.0.0.1:4580"), ("origin", "http://evil.example")]),
            headers(&[("host", "127.0.0.1:4580"), ("origin", "http://localhost:4580")]),
            headers(&[("host", "127.0.0.1:4580"), ("origin", "http://127.0.0.1:3000")]),
            headers(&[("host", "127.0.0.1:4580"), ("origin", "null")]),
            headers(&[("origin", "http://127.0.0.1:4580")]),
            headers(&[("host", "127.0.0.1:4580"), ("sec-fetch-site", "cross-site")]),
            headers(&[("host", "127.0.0.1:4580"), ("sec-fetch-site", "same-site")]),
        ];
        for h in &refused {
            assert_eq!(check_origin(&none, h).unwrap_err().status(), 403, "{h:?}");
        }
        let app = AccessConfig {
            allowed_origins: vec!["http://127.0.0.1:3000/".into()],
            ..AccessConfig::default()
        };
        assert!(check_origin(&app, &refused[2]).is_ok());
        assert!(check_origin(&app, &refused[0]).is_err());
    }
}
