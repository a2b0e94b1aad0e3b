//! The console's view of shadows: the fleet's list (every classic and named shadow with its
//! version, last writer and pending delta), one thing's shadows with their documents, a shadow's
//! history (every kept version, newest first) and two versions for a diff. Shadows themselves are
//! read and changed through the AWS API (iot-data), like any client's.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use thingbox_api::shadows::{ShadowHistory, ShadowSummary, ShadowVersion};
use thingbox_model::registry::RegistryError;
use thingbox_model::shadow::diff;

use super::AppState;
use super::error::ApiError;
use super::extract::Params;
use crate::Error;
use crate::shadow::HistoryEntry;

/// The routes (mounted behind the console token).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/api/shadows", get(list))
        .route("/console/api/shadows/{thing}", get(shadows_of))
        .route("/console/api/shadows/{thing}/history", get(history))
        .route("/console/api/shadows/{thing}/versions/{a}/{b}", get(two_versions))
}

/// `GET /console/api/shadows`: every shadow of every thing, by thing then name.
async fn list(State(s): State<AppState>) -> Json<Vec<ShadowSummary>> {
    Json(s.shadows.summaries())
}

/// `GET /console/api/shadows/{thing}`: every shadow of a thing, classic first, with documents.
async fn shadows_of(State(s): State<AppState>, Path(thing): Path<String>) -> Result<Json<Value>, ApiError> {
    let mut names = vec![String::new()];
    names.extend(s.shadows.named(&thing));
    let mut out = Vec::new();
    for name in names {
        if let Ok(doc) = s.shadows.get(&thing, &name).await {
            out.push(json!({ "name": name, "document": doc }));
        }
    }
    Ok(Json(json!({ "shadows": out })))
}

fn version_of(e: &HistoryEntry, with_document: bool) -> ShadowVersion {
    ShadowVersion {
        thing: e.thing.clone(),
        shadow: e.name.clone(),
        version: e.version,
        kind: e.kind.to_owned(),
        writer: e.writer.clone(),
        timestamp: e.ts,
        document: (with_document && !e.shadow.deleted).then(|| e.shadow.get_document(None)),
        state: e.shadow.clone(),
    }
}

/// `GET /console/api/shadows/{thing}/history?name=&limit=&format=&documents=`: the newest changes,
/// newest first; `format=jsonl` downloads them as JSON lines; `documents=false` leaves out each
/// version's GetThingShadow document (the kept `state` has it all).
async fn history(
    State(s): State<AppState>,
    Path(thing): Path<String>,
    q: Params,
) -> Result<Response, ApiError> {
    let limit = q.int("limit", 1, 1000)?.unwrap_or(100);
    let name = q.str("name").unwrap_or("");
    let entries = s.shadows.history(&thing, name, limit).await.map_err(Error::from)?;
    // The console's page reads `state`; `documents=false` leaves out what it would not read.
    let documents = q.str("documents") != Some("false");
    let changes: Vec<ShadowVersion> = entries.iter().map(|e| version_of(e, documents)).collect();
    match q.str("format") {
        None | Some("json") => {
            let rejected = s.shadows.rejections(&thing, name, limit as usize);
            Ok(Json(ShadowHistory { changes, rejected }).into_response())
        }
        Some("jsonl") => {
            let mut body = String::new();
            for c in &changes {
                body.push_str(&serde_json::to_string(c).expect("a shadow version serializes"));
                body.push('\n');
            }
            let file = format!("{thing}-{}-history.jsonl", if name.is_empty() { "classic" } else { name });
            Ok((
                [
                    (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
                    (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
                ],
                body,
            )
                .into_response())
        }
        Some(other) => {
            Err(Error::InvalidRequest(format!("format '{other}' is not one of json, jsonl")).into())
        }
    }
}

/// `GET /console/api/shadows/{thing}/versions/{a}/{b}?name=`: two versions, for a diff.
async fn two_versions(
    State(s): State<AppState>,
    Path((thing, a, b)): Path<(String, i64, i64)>,
    q: Params,
) -> Result<Json<Value>, ApiError> {
    let name = q.str("name").unwrap_or("");
    let found = s.shadows.versions(&thing, name, &[a, b]).await.map_err(Error::from)?;
    let pick = |v: i64| {
        found.iter().find(|e| e.version == v).map(|e| version_of(e, true)).ok_or_else(|| {
            Error::from(RegistryError::NotFound(format!("Version {v} of that shadow is not in its history")))
        })
    };
    let (from, to) = (pick(a)?, pick(b)?);
    let changes = diff::diff(&diff::state_leaves(&from.state), &diff::state_leaves(&to.state));
    Ok(Json(json!({ "from": from, "to": to, "changes": changes })))
}
