//! Export to AWS and import back: `GET /console/api/export?format=cloudformation|terraform` (JSON
//! with the files and the report, or `&download=zip`), and `POST /console/api/import` with a
//! CloudFormation template, whose resources are made through this engine's own AWS API — the same
//! checks and errors an AWS client gets. The translation itself is `thingbox_model::export`.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{Value, json};
use thingbox_model::export::{Inventory, Report, cloudformation, import, terraform};
use tower::ServiceExt as _;

use super::AppState;
use super::error::ApiError;
use super::extract::Params;
use crate::Error;

/// The routes (mounted behind the console token).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/api/export", get(export))
        .route("/console/api/import", post(import_template))
}

/// One exported file: its name and text.
type File = (&'static str, String);

/// The export's files and report, in `format`.
pub fn files(s: &AppState, format: &str) -> Result<(Vec<File>, Report), Error> {
    let rules = s.rules.read(|r| Ok(r.all().cloned().collect::<Vec<_>>()))?;
    let job_templates =
        s.jobs.read(|j| Ok(j.templates().cloned().collect::<Vec<_>>())).map_err(Error::Jobs)?;
    let provisioning = s.provisioning.read(|t| Ok(t.iter().cloned().collect::<Vec<_>>()))?;
    let lambdas: Vec<String> = s.rules.lambdas().keys().cloned().collect();
    s.registry.read(|registry| {
        let inv = Inventory {
            registry,
            rules: &rules,
            job_templates: &job_templates,
            provisioning: &provisioning,
            local_lambdas: &lambdas,
            account: &s.account,
            region: &s.default_region,
        };
        Ok(match format {
            "terraform" => {
                let (tf, report) = terraform::export(&inv);
                (vec![("main.tf", tf), ("REPORT.md", report.markdown("Terraform"))], report)
            }
            _ => {
                let (t, report) = cloudformation::export(&inv);
                let text = serde_json::to_string_pretty(&t).unwrap_or_default();
                (vec![("template.json", text), ("REPORT.md", report.markdown("CloudFormation"))], report)
            }
        })
    })
}

/// `GET /console/api/export?format=cloudformation|terraform[&download=zip]`.
async fn export(State(s): State<AppState>, q: Params) -> Result<Response, ApiError> {
    let format = q.str("format").unwrap_or("cloudformation");
    if !matches!(format, "cloudformation" | "terraform") {
        return Err(Error::InvalidRequest(format!(
            "format must be cloudformation or terraform, not '{format}'"
        ))
        .into());
    }
    let (files, report) = files(&s, format)?;
    if q.str("download") == Some("zip") {
        let with_modes: Vec<(&str, String, u32)> = files.into_iter().map(|(n, t)| (n, t, 0o644)).collect();
        let name = format!("thingbox-{format}");
        return super::console::zip_download(&name, &name, &with_modes, None);
    }
    let files: Vec<Value> =
        files.into_iter().map(|(name, text)| json!({"name": name, "text": text})).collect();
    Ok(Json(json!({"format": format, "files": files, "report": report.notes})).into_response())
}

/// `POST /console/api/import` with a CloudFormation template: makes its resources in order through
/// the AWS API; stops at the first refusal, which it returns (AWS's error type, the resource named).
async fn import_template(State(s): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let template: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::InvalidRequest(format!("the template is not JSON: {e}")))?;
    let calls = import::plan(&template, &s.account, &s.default_region)
        .map_err(|e| Error::InvalidRequest(format!("the template cannot be imported: {e}")))?;
    let app = super::app(s.clone());
    let mut made: Vec<Value> = Vec::new();
    for c in &calls {
        let mut req = Request::builder()
            .method(Method::from_bytes(c.method.as_bytes()).unwrap_or(Method::POST))
            .uri(&c.path)
            .header("host", "localhost")
            .header("content-type", "application/json")
            .header(thingbox_api::console::TOKEN_HEADER, &s.console_token);
        if let Some(t) = &c.tagging {
            req = req.header("x-amz-tagging", t);
        }
        let req = req
            .body(Body::from(c.body.to_string()))
            .map_err(|e| Error::InvalidRequest(format!("resource {}: {e}", c.resource)))?;
        let res = match app.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        if !res.status().is_success() {
            return Ok(refused(res, c, &made).await);
        }
        made.push(json!({"resource": c.resource, "call": format!("{} {}", c.method, c.path)}));
    }
    Ok(Json(json!({"made": made})).into_response())
}

/// The refusal of call `c`, its message naming the resource and what was made before it.
async fn refused(res: Response, c: &import::Call, made: &[Value]) -> Response {
    let (mut parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let message = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    let before = if made.is_empty() {
        "nothing was made before it".to_owned()
    } else {
        format!(
            "made before it: {}",
            made.iter().filter_map(|m| m["resource"].as_str()).collect::<Vec<_>>().join(", ")
        )
    };
    let text = json!({"message": format!("resource {} ({} {}): {message} ({before})", c.resource, c.method, c.path)})
        .to_string();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    if let Ok(v) = HeaderValue::from_str("application/json") {
        parts.headers.insert(axum::http::header::CONTENT_TYPE, v);
    }
    Response::from_parts(parts, Body::from(text))
}
