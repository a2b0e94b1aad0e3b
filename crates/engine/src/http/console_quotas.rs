//! Strict-AWS mode for the console: `GET /console/api/quotas` (strict or lenient, each quota with
//! how often it was exceeded, the newest notices) and `PUT` with `{"strict": bool}` to switch.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use thingbox_api::quotas::{QuotaState, SetStrict};

use super::AppState;
use super::extract::AwsJson;

/// The routes (mounted behind the console token).
pub fn routes() -> Router<AppState> {
    Router::new().route("/console/api/quotas", get(state).put(set))
}

async fn state(State(s): State<AppState>) -> Json<QuotaState> {
    Json(s.broker.quotas.state())
}

async fn set(State(s): State<AppState>, AwsJson(req): AwsJson<SetStrict>) -> Json<QuotaState> {
    s.broker.quotas.set_strict(req.strict);
    tracing::info!(strict = req.strict, "strict-AWS mode switched from the console");
    Json(s.broker.quotas.state())
}
