//! Mutated AWS API requests through the real HTTP edge: calls of the three services (registry,
//! policies, rules, jobs, provisioning templates, shadows, publish, jobs data) with their paths,
//! query strings, JSON bodies, SigV4 scopes and headers mutated by a seeded generator, sent as raw
//! HTTP/1.1 to a live engine. Every answer the API gives (it carries `x-amzn-RequestId`) must be a
//! success or an AWS-shaped error — `x-amzn-ErrorType` and a JSON body with a non-empty
//! `message` — and never a 500; no task may panic; the engine must stop cleanly afterwards.
//! Malformed HTTP that the HTTP layer refuses before the API sees it may get a bare 4xx.
//!
//! `THINGBOX_FUZZ_CASES` (default 2,000) and `THINGBOX_FUZZ_SEED` (default 1), as in
//! `mqtt_stream_fuzz.rs`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;
use common::Rng;

/// (service, method, path, body) of real calls.
const CALLS: &[(&str, &str, &str, &str)] = &[
    (
        "iot",
        "POST",
        "/things/fz-thing",
        r#"{"attributePayload":{"attributes":{"a":"b"}},"thingTypeName":"fz-type"}"#,
    ),
    (
        "iot",
        "PATCH",
        "/things/fz-thing",
        r#"{"expectedVersion":1,"attributePayload":{"attributes":{"c":"d"},"merge":true}}"#,
    ),
    ("iot", "GET", "/things?maxResults=10&attributeName=a&attributeValue=b&nextToken=x", ""),
    ("iot", "DELETE", "/things/fz-thing?expectedVersion=1", ""),
    ("iot", "POST", "/thing-types/fz-type", r#"{"thingTypeProperties":{"searchableAttributes":["a"]}}"#),
    (
        "iot",
        "POST",
        "/thing-groups/fz-group",
        r#"{"parentGroupName":"p","thingGroupProperties":{"thingGroupDescription":"d"}}"#,
    ),
    (
        "iot",
        "PUT",
        "/thing-groups/addThingToThingGroup",
        r#"{"thingGroupName":"fz-group","thingName":"fz-thing"}"#,
    ),
    (
        "iot",
        "POST",
        "/policies/fz-policy",
        r#"{"policyDocument":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"*\"}]}"}"#,
    ),
    (
        "iot",
        "PUT",
        "/target-policies/fz-policy",
        r#"{"target":"arn:aws:iot:us-east-1:000000000000:thinggroup/fz-group"}"#,
    ),
    (
        "iot",
        "POST",
        "/rules/fz_rule",
        r#"{"sql":"SELECT * FROM 'a/+'","actions":[{"republish":{"topic":"b/${topic(2)}","roleArn":"arn:aws:iam::000000000000:role/r"}}]}"#,
    ),
    ("iot", "GET", "/rules?topic=a&ruleDisabled=false", ""),
    (
        "iot",
        "PUT",
        "/jobs/fz-job",
        r#"{"targets":["arn:aws:iot:us-east-1:000000000000:thing/fz-thing"],"document":"{\"a\":1}","targetSelection":"SNAPSHOT"}"#,
    ),
    ("iot", "POST", "/jobs/fz-job/cancel?force=true", r#"{"reasonCode":"r","comment":"c"}"#),
    (
        "iot",
        "POST",
        "/provisioning-templates",
        r#"{"templateName":"fz-t","templateBody":"{\"Resources\":{}}","provisioningRoleArn":"arn:aws:iam::000000000000:role/r","enabled":true}"#,
    ),
    ("iot", "POST", "/keys-and-certificate?setAsActive=false", ""),
    (
        "iot",
        "POST",
        "/test-authorization?clientId=c",
        r#"{"principal":"p","authInfos":[{"actionType":"PUBLISH","resources":["arn:aws:iot:us-east-1:000000000000:topic/a"]}]}"#,
    ),
    (
        "iotdata",
        "POST",
        "/things/fz-thing/shadow?name=fz",
        r#"{"state":{"desired":{"a":1,"b":{"c":[1,2]}}},"clientToken":"t","version":1}"#,
    ),
    ("iotdata", "GET", "/things/fz-thing/shadow", ""),
    ("iotdata", "POST", "/topics/a%2Fb?qos=1&retain=true", r#"{"x":1}"#),
    ("iotdata", "GET", "/retainedMessage?maxResults=5", ""),
    ("iot-jobs-data", "GET", "/things/fz-thing/jobs", ""),
    (
        "iot-jobs-data",
        "PUT",
        "/things/fz-thing/jobs/$next",
        r#"{"statusDetails":{"a":"b"},"stepTimeoutInMinutes":5}"#,
    ),
    (
        "iot-jobs-data",
        "POST",
        "/things/fz-thing/jobs/fz-job",
        r#"{"status":"IN_PROGRESS","expectedVersion":1,"statusDetails":{"p":"1"}}"#,
    ),
];

const ODD: &[&str] = &[
    "%00",
    "%FF",
    "%2F",
    "..",
    "%2E%2E",
    "$",
    "'",
    "\"",
    "{",
    "}",
    "[",
    "]",
    "\\u0000",
    "-1",
    "0",
    "1e999",
    "99999999999999999999",
    "null",
    "true",
    "\u{1F600}",
    "%C3%28",
    "a%20b",
    "*",
    "#",
    "+",
    "=",
    "&",
    ";",
];
const VALUES: &[&str] =
    &["null", "true", "1", "-1", "1.5e308", "\"\"", "\"x\"", "[]", "{}", "[[[[[[[[]]]]]]]]"];

fn mutate_text(rng: &mut Rng, s: &str, odd: bool) -> String {
    let mut s = s.to_owned();
    for _ in 0..1 + rng.below(3) {
        let chars: Vec<char> = s.chars().collect();
        let i = rng.below(chars.len() + 1);
        let (head, tail): (String, String) = (chars[..i].iter().collect(), chars[i..].iter().collect());
        s = match rng.below(5) {
            0 => format!("{head}{}{tail}", if odd { rng.pick(ODD) } else { "x" }),
            1 => format!("{head}{}", tail.chars().skip(1 + rng.below(8)).collect::<String>()),
            2 => format!("{head}{}{tail}", tail.chars().take(1 + rng.below(16)).collect::<String>()),
            3 => head,
            _ => format!("{head}{}", "A".repeat(rng.below(300))),
        };
    }
    s
}

/// Replaces one JSON value of `body` by another type, or mutates its text.
fn mutate_body(rng: &mut Rng, body: &str) -> String {
    if rng.below(2) == 0
        && let Ok(mut v) = serde_json::from_str::<serde_json::Value>(body)
    {
        fn walk(v: &mut serde_json::Value, rng: &mut Rng, depth: usize) {
            let replacement: serde_json::Value =
                serde_json::from_str(VALUES[rng.below(VALUES.len())]).unwrap_or(serde_json::Value::Null);
            match v {
                serde_json::Value::Object(m) if !m.is_empty() && depth < 6 => {
                    let key = m.keys().nth(rng.below(m.len())).cloned().unwrap_or_default();
                    if rng.below(4) == 0 {
                        m.insert(key, replacement);
                    } else if let Some(child) = m.get_mut(&key) {
                        walk(child, rng, depth + 1);
                    }
                }
                serde_json::Value::Array(a) if !a.is_empty() && depth < 6 => {
                    let i = rng.below(a.len());
                    walk(&mut a[i], rng, depth + 1);
                }
                serde_json::Value::String(s) if rng.below(2) == 0 => *s = mutate_text(rng, s, true),
                other => *other = replacement,
            }
        }
        walk(&mut v, rng, 0);
        return v.to_string();
    }
    mutate_text(rng, body, true)
}

fn request(rng: &mut Rng, addr: &str) -> (String, Vec<u8>) {
    let (service, method, path, body) = CALLS[rng.below(CALLS.len())];
    let mut method = method.to_owned();
    let mut path = path.to_owned();
    let mut body = body.to_owned();
    let mut scope = service.to_owned();
    let mut extra = String::new();
    for _ in 0..1 + rng.below(2) {
        match rng.below(7) {
            0 | 1 => body = mutate_body(rng, &body),
            2 => {
                // Keep the path a valid request target most of the time: percent-encode what is odd.
                let p = mutate_text(rng, &path, true);
                path = p
                    .chars()
                    .map(|c| {
                        if c.is_ascii_graphic() { c.to_string() } else { format!("%{:02X}", c as u32 & 0xFF) }
                    })
                    .collect();
                if !path.starts_with('/') {
                    path.insert(0, '/');
                }
            }
            3 => method = rng.pick(&["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS"]).to_owned(),
            4 => {
                scope = rng
                    .pick(&["iot", "iotdata", "iot-jobs-data", "s3", "", "iotdevicegateway", "x/y"])
                    .to_owned()
            }
            5 => {
                extra = format!(
                    "{}: {}\r\n",
                    rng.pick(&[
                        "content-type",
                        "x-amz-date",
                        "x-amz-content-sha256",
                        "x-amzn-principal",
                        "origin",
                        "expect"
                    ]),
                    rng.pick(&[
                        "application/json",
                        "text/plain",
                        "garbage",
                        "20260101T000000Z",
                        "",
                        "*",
                        "100-continue"
                    ])
                )
            }
            _ => {}
        }
    }
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDFZ/20260101/us-east-1/{scope}/aws4_request, SignedHeaders=host, Signature=0\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    (format!("{method} {path} [{scope}] {body}"), bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_api_calls_get_aws_shaped_answers() {
    let panicked = common::panics();
    let (cases, seed) = common::params(2000);
    let engine = common::Running::start(false).await;
    let handle = &engine.handle;
    let addr = handle.endpoints().api.trim_start_matches("http://").to_owned();

    let mut rng = Rng::seeded(seed);
    let mut failures = Vec::new();
    for case in 0..cases {
        let (what, bytes) = request(&mut rng, &addr);
        let mut s = TcpStream::connect(&addr).await.unwrap();
        let _ = s.write_all(&bytes).await;
        let mut raw = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw)).await;
        if read.is_err() {
            failures.push(format!("case {case}: no answer within 10 s: {what}"));
            continue;
        }
        let whole = String::from_utf8_lossy(&raw);
        let mut text: &str = &whole;
        // Skip interim answers (`100 Continue` to an `Expect: 100-continue`).
        while text.starts_with("HTTP/1.1 1")
            && let Some((_, rest)) = text.split_once("\r\n\r\n")
        {
            text = rest;
        }
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue; // closed without an answer: refused at the HTTP layer
        };
        let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let lower = head.to_ascii_lowercase();
        if !lower.contains("x-amzn-requestid") {
            if !(400..500).contains(&status) {
                failures.push(format!("case {case}: {status} from the HTTP layer: {what}"));
            }
            continue;
        }
        if status >= 500 {
            failures.push(format!("case {case}: {status} {body}: {what}"));
        } else if status >= 400 {
            let message = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
                .unwrap_or_default();
            // A HEAD answer has no body; its headers still name the error.
            if !lower.contains("x-amzn-errortype") || (message.is_empty() && !what.starts_with("HEAD ")) {
                failures.push(format!("case {case}: {status} not AWS-shaped ({body}): {what}"));
            }
        }
    }
    assert!(failures.is_empty(), "seed {seed}: {} bad answers:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(common::panics(), panicked, "a task panicked (seed {seed})");
    engine.stop().await;
}
