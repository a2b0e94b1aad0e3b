//! AWS Signature Version 4 at the API's edge: the input is a request (method, path, query — `-` for
//! none — then `name: value` headers up to an empty line, then the body), from which the credential
//! scope, a presigned URL's access key and the signature check are read as the HTTP edge reads
//! them, on the date of AWS's SigV4 test suite with its example key (so signed seeds reach the
//! canonical request and the HMACs).
#![no_main]

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest as _, Sha256};
use thingbox_model::Timestamp;
use thingbox_wire::sigv4::{self, SignedRequest};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let method = lines.next().unwrap_or("GET");
    let path = lines.next().unwrap_or("/");
    let query = lines.next().filter(|q| *q != "-");
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        if let (Ok(n), Ok(v)) =
            (HeaderName::from_bytes(name.trim().as_bytes()), HeaderValue::from_str(value.trim()))
        {
            headers.append(n, v);
        }
    }
    if let Some(scope) = sigv4::scope(&headers, query) {
        let _ = scope.known_service();
    }
    let _ = sigv4::presigned_access_key(query);
    let keys =
        BTreeMap::from([("AKIDEXAMPLE".to_owned(), "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned())]);
    let body_sha256 = hex::encode(Sha256::digest(body.as_bytes()));
    let req = SignedRequest { method, path, query, headers: &headers, body_sha256: &body_sha256 };
    // 2015-08-30T12:36:00Z, the date of AWS's test suite.
    if let Ok(key) = sigv4::verify(req, &keys, Timestamp::from_millis(1_440_938_160_000)) {
        assert_eq!(key, "AKIDEXAMPLE");
    }
});
