//! HTTP to the engine, the only way the console reaches it: the AWS IoT API (unsigned requests
//! count as service `iot`, so the console changes the registry exactly as the AWS CLI would) and
//! the console API under `/console/api/` (with the token). Errors keep AWS's type and message.

use std::future::Future;

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

const TOKEN_KEY: &str = "thingbox.token";

/// An error as the engine reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The AWS error type (`x-amzn-ErrorType`), or a console-side kind.
    pub kind: String,
    /// What a person reads.
    pub message: String,
    /// The HTTP status (0: the request did not reach the engine).
    pub status: u16,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

fn js_err(what: &str, e: JsValue) -> ApiError {
    ApiError {
        kind: "NetworkError".into(),
        message: format!("{what}: {}", e.as_string().unwrap_or_else(|| format!("{e:?}"))),
        status: 0,
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The console token: taken from `?token=` on first load (and removed from the address bar), then
/// kept in this browser's local storage for this address.
pub fn token() -> String {
    storage().and_then(|s| s.get_item(TOKEN_KEY).ok().flatten()).unwrap_or_default()
}

/// Reads `?token=` from the address, stores it, and cleans the address.
pub fn adopt_token_from_url() {
    let Some(w) = web_sys::window() else { return };
    let search = w.location().search().unwrap_or_default();
    let found =
        search.trim_start_matches('?').split('&').find_map(|kv| kv.strip_prefix("token=")).map(str::to_owned);
    if let Some(t) = found {
        if let Some(s) = storage() {
            let _ = s.set_item(TOKEN_KEY, &t);
        }
        let hash = w.location().hash().unwrap_or_default();
        let path = w.location().pathname().unwrap_or_else(|_| "/".into());
        if let Ok(h) = w.history() {
            let _ = h.replace_state_with_url(&JsValue::NULL, "", Some(&format!("{path}{hash}")));
        }
    }
}

/// Percent-encodes one URL component.
pub fn enc(s: &str) -> String {
    js_sys::encode_uri_component(s).as_string().unwrap_or_default()
}

async fn fetch(method: &str, path: &str, body: Option<String>) -> Result<web_sys::Response, ApiError> {
    let json = body.is_some();
    fetch_body(method, path, body.map(|b| JsValue::from_str(&b)), json, None).await
}

/// A JSON call to another AWS IoT service on the same port (`iotdata`, `iot-jobs-data`): the
/// request carries a credential scope naming the service (Thingbox routes by it) and the console
/// token, so the service knows the console made it (the token stands in for the signature).
pub async fn call_service(
    service: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value, ApiError> {
    call_with(Some(service), method, path, body).await
}

/// The answer's body as text (empty when there is none).
async fn text_of(resp: &web_sys::Response) -> String {
    match resp.text() {
        Ok(p) => JsFuture::from(p).await.ok().and_then(|v| v.as_string()).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// An answer's JSON, or a `BadResponse` naming why it is not.
fn parse<T: serde::de::DeserializeOwned>(text: &str, status: u16) -> Result<T, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError {
        kind: "BadResponse".into(),
        message: e.to_string(),
        status,
    })
}

/// Uploads a file (a `Blob`) as the raw request body; the answer is parsed as JSON.
pub async fn upload(path: &str, file: &web_sys::Blob) -> Result<Value, ApiError> {
    let resp = fetch_body("PUT", path, Some(file.into()), false, None).await?;
    Ok(serde_json::from_str(&text_of(&resp).await).unwrap_or(Value::Null))
}

async fn fetch_body(
    method: &str,
    path: &str,
    body: Option<JsValue>,
    json: bool,
    service: Option<&str>,
) -> Result<web_sys::Response, ApiError> {
    let opts = web_sys::RequestInit::new();
    opts.set_method(method);
    if let Some(b) = &body {
        opts.set_body(b);
    }
    let req = web_sys::Request::new_with_str_and_init(path, &opts).map_err(|e| js_err("request", e))?;
    let headers = req.headers();
    if json {
        let _ = headers.set("content-type", "application/json");
    }
    // Every call carries the console token: the console API needs it, and for the AWS APIs it
    // stands in for a signature when Thingbox verifies them (--verify-signatures).
    let _ = headers.set(thingbox_api::console::TOKEN_HEADER, &token());
    if let Some(svc) = service {
        let scope = format!(
            "AWS4-HMAC-SHA256 Credential=thingbox-console/20260101/us-east-1/{svc}/aws4_request, SignedHeaders=host, Signature=0"
        );
        let _ = headers.set("authorization", &scope);
    }
    let window = web_sys::window().ok_or_else(|| js_err("window", JsValue::NULL))?;
    let resp = JsFuture::from(window.fetch_with_request(&req))
        .await
        .map_err(|e| js_err("Thingbox did not answer (is it still running?)", e))?;
    let resp: web_sys::Response = resp.dyn_into().map_err(|e| js_err("response", e))?;
    if resp.ok() {
        return Ok(resp);
    }
    let status = resp.status();
    let kind =
        resp.headers().get("x-amzn-ErrorType").ok().flatten().unwrap_or_else(|| format!("HTTP {status}"));
    let kind = kind.split(':').next().unwrap_or_default().to_owned();
    let text = text_of(&resp).await;
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or(text);
    Err(ApiError { kind, message, status })
}

/// A JSON call: `body` is sent as JSON; the answer is parsed (an empty answer is `{}`).
pub async fn call(method: &str, path: &str, body: Option<Value>) -> Result<Value, ApiError> {
    call_with(None, method, path, body).await
}

/// [`call`], to `service`'s API when given (see [`call_service`]).
async fn call_with(
    service: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value, ApiError> {
    let json = body.is_some();
    let resp =
        fetch_body(method, path, body.map(|b| JsValue::from_str(&b.to_string())), json, service).await?;
    let text = text_of(&resp).await;
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    parse(&text, resp.status())
}

/// GET shorthand.
pub async fn get(path: &str) -> Result<Value, ApiError> {
    call("GET", path, None).await
}

/// GET, parsed straight into `T` (no intermediate JSON value: for large answers).
pub async fn get_as<T: serde::de::DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    let resp = fetch("GET", path, None).await?;
    parse(&text_of(&resp).await, resp.status())
}

/// A call whose answer is a file: saved by the browser (or the desktop app) as `fallback_name`
/// unless the answer names one. Returns the answer's headers.
pub async fn download(
    method: &str,
    path: &str,
    body: Option<Value>,
    fallback_name: &str,
) -> Result<web_sys::Headers, ApiError> {
    let resp = fetch(method, path, body.map(|b| b.to_string())).await?;
    let headers = resp.headers();
    let name = headers
        .get("content-disposition")
        .ok()
        .flatten()
        .and_then(|d| d.split("filename=\"").nth(1).map(|s| s.trim_end_matches('"').to_owned()))
        .unwrap_or_else(|| fallback_name.to_owned());
    let blob =
        JsFuture::from(resp.blob().map_err(|e| js_err("blob", e))?).await.map_err(|e| js_err("blob", e))?;
    let blob: web_sys::Blob = blob.dyn_into().map_err(|e| js_err("blob", e))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|e| js_err("url", e))?;
    let document =
        web_sys::window().and_then(|w| w.document()).ok_or_else(|| js_err("document", JsValue::NULL))?;
    let a: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|e| js_err("a", e))?
        .dyn_into()
        .map_err(|_| js_err("a", JsValue::NULL))?;
    a.set_href(&url);
    a.set_download(&name);
    a.click();
    // Let the download start before the URL is released.
    set_timeout(move || drop(web_sys::Url::revoke_object_url(&url)), std::time::Duration::from_secs(30));
    Ok(headers)
}

/// The state of something loaded from the engine.
pub type Loaded<T> = RwSignal<Option<Result<T, ApiError>>>;

/// Loads with `f` now and again whenever a signal `f` reads changes (refetch on live events by
/// reading their counters in `f`). Answers arriving out of order are ignored.
pub fn load<T, F, Fut>(f: F) -> Loaded<T>
where
    T: Send + Sync + 'static,
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = Result<T, ApiError>> + 'static,
{
    let out: Loaded<T> = RwSignal::new(None);
    let seq = StoredValue::new(0u64);
    Effect::new(move |_| {
        let fut = f();
        let mine = seq.get_value() + 1;
        seq.set_value(mine);
        spawn_local(async move {
            let r = fut.await;
            // The page may have gone (navigation) while this was on its way.
            if seq.try_get_value() == Some(mine) {
                out.try_set(Some(r));
            }
        });
    });
    out
}

/// The names an AWS list call returns (`url`: the call; `list`: the array member; `key`: each
/// item's name member), for pickers; reloaded whenever `changed` moves.
pub fn names(
    changed: RwSignal<u64>,
    url: &'static str,
    list: &'static str,
    key: &'static str,
) -> Loaded<Vec<String>> {
    load(move || {
        changed.get();
        async move {
            let v = get(url).await?;
            let items = v.get(list).and_then(Value::as_array).cloned().unwrap_or_default();
            Ok(items.iter().filter_map(|i| i.get(key).and_then(Value::as_str).map(str::to_owned)).collect())
        }
    })
}

/// Runs an action, putting its error (or `None`) in `err` and running `done` on success.
pub fn act<Fut>(err: RwSignal<Option<ApiError>>, fut: Fut, done: impl FnOnce(Value) + 'static)
where
    Fut: Future<Output = Result<Value, ApiError>> + 'static,
{
    spawn_local(async move {
        let r = fut.await;
        // Whoever asked is gone (the page changed): nothing left to update.
        if err.is_disposed() {
            return;
        }
        match r {
            Ok(v) => {
                err.set(None);
                done(v);
            }
            Err(e) => err.set(Some(e)),
        }
    });
}
