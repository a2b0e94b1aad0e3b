//! The AWS APIs and the console API in process, through the engine's own router (its access
//! checks, SigV4 scope reading, path, query-string and JSON extraction, and every handler behind
//! them). The input is a request as text: `METHOD TARGET` on the first line, `name: value` header
//! lines, an empty line, the body; `{token}` in a header stands for the console token. An answer
//! of the API (it carries `x-amzn-RequestId`) must be a success or an AWS-shaped error (an
//! `x-amzn-ErrorType` header and a JSON `message`), never a 5xx; nothing may panic.
#![no_main]

mod engine;

/// Paths left out, as they cost far more than an input should: the console's that start simulated
/// fleets, replay or record traffic for minutes, or keep uploaded files; and every call that makes
/// an RSA key (CreateKeysAndCertificate, CreateProvisioningClaim, the console's bundles), 50 ms
/// each, which took nine tenths of the target's time.
const LEFT_OUT: [&str; 8] = [
    "/console/api/sim",
    "/console/api/replays",
    "/console/api/recordings",
    "/console/api/ota-files",
    "keys-and-certificate",
    "provisioning-claim",
    "claim-bundle",
    "/bundle",
];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let running = engine::get();
    let Some(req) = request(data, &running.token) else { return };
    let head = format!("{} {}", req.method(), req.uri());
    let res = engine::runtime().block_on(running.handle.call_api(req)).expect("the answer's body is read");
    let status = res.status().as_u16();
    let headers = res.headers();
    if !headers.contains_key("x-amzn-requestid") {
        assert!(status < 500, "{status} outside the API for {head}");
        return;
    }
    assert!(status < 500, "{status} for {head}: {}", String::from_utf8_lossy(res.body()));
    if status >= 400 {
        assert!(headers.contains_key("x-amzn-errortype"), "{status} without an error type for {head}");
        if head.starts_with("HEAD ") {
            return; // a HEAD answer has no body; its headers name the error
        }
        let message = serde_json::from_slice::<serde_json::Value>(res.body())
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_default();
        assert!(
            !message.is_empty(),
            "{status} without a message for {head}: {}",
            String::from_utf8_lossy(res.body())
        );
    }
});

fn request(data: &[u8], token: &str) -> Option<http::Request<Vec<u8>>> {
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(i) => (&data[..i], data[i + 2..].to_vec()),
        None => (data, Vec::new()),
    };
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split('\n');
    let (method, target) = lines.next()?.split_once(' ')?;
    let decoded = thingbox_wire::sigv4::percent_decode_strict(target).to_ascii_lowercase();
    if LEFT_OUT.iter().any(|p| decoded.contains(p)) {
        return None;
    }
    let mut req = http::Request::builder().method(method).uri(target);
    let mut host = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        host |= name.eq_ignore_ascii_case("host");
        req = req.header(name, value.trim_start().replace("{token}", token));
    }
    if !host {
        req = req.header("host", "127.0.0.1");
    }
    req.body(body).ok()
}
