//! The console's static files (the built `ui/`: `index.html`, the wasm module and its JS glue),
//! served at `/` on the API port to unsigned `GET`s. The files are compiled into the binary that
//! hosts the engine (see `crates/console-assets`); the engine only serves what it is given.

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One file of the console.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its path below `/`, without the leading slash (`index.html`, `ui_bg.wasm`).
    pub path: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

/// What `/` shows when the binary was built without the console.
const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>Thingbox</title>\
<body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\"><h1>Thingbox</h1>\
<p>The AWS IoT APIs are served here, but this binary was built without the console.</p>\
<p>Build it with <code>scripts/build-ui</code> and then rebuild the server \
(<code>scripts/run</code> does both).</p>";

/// The response for `req` if it asks for a console file, else `None` (the request goes on to the
/// AWS APIs).
pub fn serve(assets: &'static [Asset], req: &Request<Body>) -> Option<Response> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return None;
    }
    let path = req.uri().path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    if assets.is_empty() && path == "index.html" {
        return Some(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], NOT_BUILT).into_response());
    }
    let asset = assets.iter().find(|a| a.path == path)?;
    let mut res = Response::new(Body::from(asset.body));
    *res.status_mut() = StatusCode::OK;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    // index.html names the other files; it must never be cached across builds. The others are
    // small and local: revalidate each time too (no build hashes in their names).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    Some(res)
}
