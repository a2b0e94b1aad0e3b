//! The console's view of the rules engine: every rule with its counters, one rule's recent
//! firings (input → WHERE → output → each action's result), the local tables the dynamoDB actions
//! write, and the Lambda mappings. Rules themselves are created and changed through the AWS API.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use thingbox_api::rules::{RuleDetail, TableInfo, TablePage};

use super::AppState;
use super::error::ApiError;
use super::extract::Params;
use crate::Error;
use crate::rules::LambdaTarget;

/// The routes (mounted behind the console token).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/api/rules", get(list))
        .route("/console/api/rules/{name}", get(detail))
        .route("/console/api/rule-tables", get(tables))
        .route("/console/api/rule-tables/{name}", get(table).delete(drop_table))
        .route("/console/api/rule-tables/{name}/export", get(export))
        .route("/console/api/rule-lambdas", get(lambdas))
}

async fn list(State(s): State<AppState>) -> Json<Value> {
    Json(json!({ "rules": s.rules.summaries(), "engine": s.rules.engine_stats() }))
}

async fn detail(State(s): State<AppState>, Path(name): Path<String>) -> Result<Json<RuleDetail>, ApiError> {
    s.rules
        .detail(&name)
        .map(Json)
        .map_err(|_| ApiError(Error::NotFound(format!("The rule '{name}' does not exist"))))
}

async fn tables(State(s): State<AppState>) -> Json<Vec<TableInfo>> {
    Json(s.rules.tables().list())
}

fn not_found(name: &str) -> ApiError {
    ApiError(Error::NotFound(format!(
        "The local table '{name}' does not exist (no dynamoDB action has written it)"
    )))
}

async fn table(
    State(s): State<AppState>,
    Path(name): Path<String>,
    q: Params,
) -> Result<Json<TablePage>, ApiError> {
    let offset = q.int("offset", 0, i64::MAX)?.unwrap_or(0) as usize;
    let limit = q.int("limit", 1, 1000)?.unwrap_or(100) as usize;
    s.rules.tables().page(&name, offset, limit).map(Json).ok_or_else(|| not_found(&name))
}

/// Drops a table and its items, once durable.
async fn drop_table(State(s): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let pending = s.rules.tables().drop_table(&name).ok_or_else(|| not_found(&name))?;
    pending.wait().await.map_err(|e| ApiError(e.into()))?;
    Ok(Json(json!({ "dropped": name })))
}

/// Every item of a table as JSON lines, as a download.
async fn export(State(s): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let mut out = String::new();
    let mut offset = 0;
    loop {
        let page = s.rules.tables().page(&name, offset, 1000).ok_or_else(|| not_found(&name))?;
        for item in &page.items {
            out.push_str(&item.to_string());
            out.push('\n');
        }
        match page.next {
            Some(n) => offset = n,
            None => break,
        }
    }
    let file = format!("attachment; filename=\"{}.jsonl\"", name.replace(['"', '\\', '/'], "_"));
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .header(header::CONTENT_DISPOSITION, file)
        .body(Body::from(out))
        .map_err(|e| ApiError(Error::InvalidRequest(e.to_string())))
}

async fn lambdas(State(s): State<AppState>) -> Json<Value> {
    let list: Vec<Value> = s
        .rules
        .lambdas()
        .iter()
        .map(|(name, t)| match t {
            LambdaTarget::Url(u) => json!({"function": name, "url": u}),
            LambdaTarget::Command(c) => json!({"function": name, "command": c}),
        })
        .collect();
    Json(json!({ "lambdas": list }))
}
