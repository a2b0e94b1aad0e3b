//! The console's own API under `/console/api/` (JSON, not an AWS API). For now: shadow history.
//! The console issue puts a per-data-dir token in front of everything under `/console/`.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::Params;
use crate::Error;
use crate::shadow::HistoryEntry;

/// The console routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/api/shadows/{thing}/history", get(history))
        .route("/console/api/shadows/{thing}/versions/{a}/{b}", get(two_versions))
}

fn entry_json(e: &HistoryEntry) -> Value {
    json!({
        "thing": e.thing, "shadow": e.name, "version": e.version, "kind": e.kind,
        "writer": e.writer, "timestamp": e.ts,
        "document": if e.shadow.deleted { Value::Null } else { e.shadow.get_document(None) },
    })
}

/// `GET /console/api/shadows/{thing}/history?name=&limit=`: the newest changes, newest first.
async fn history(
    State(s): State<AppState>,
    Path(thing): Path<String>,
    q: Params,
) -> Result<Json<Value>, ApiError> {
    let limit = q.int("limit", 1, 1000)?.unwrap_or(100);
    let entries = s.shadows.history(&thing, q.str("name").unwrap_or(""), limit).await.map_err(Error::from)?;
    Ok(Json(json!({ "changes": entries.iter().map(entry_json).collect::<Vec<_>>() })))
}

/// `GET /console/api/shadows/{thing}/versions/{a}/{b}?name=`: two versions, for a diff.
async fn two_versions(
    State(s): State<AppState>,
    Path((thing, a, b)): Path<(String, i64, i64)>,
    q: Params,
) -> Result<Json<Value>, ApiError> {
    let name = q.str("name").unwrap_or("");
    let found = s.shadows.versions(&thing, name, &[a, b]).await.map_err(Error::from)?;
    let pick = |v: i64| found.iter().find(|e| e.version == v).map(entry_json).unwrap_or(Value::Null);
    let (from, to) = (pick(a), pick(b));
    if from.is_null() || to.is_null() {
        let missing = if from.is_null() { a } else { b };
        return Err(Error::from(thingbox_model::registry::RegistryError::NotFound(format!(
            "Version {missing} of that shadow is not in its history"
        )))
        .into());
    }
    Ok(Json(json!({ "from": from, "to": to })))
}
