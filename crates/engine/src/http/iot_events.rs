//! Service `iot`, event configurations: DescribeEventConfigurations and UpdateEventConfigurations
//! switch the `$aws/events/…` messages (jobs, job executions, …) on and off.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use thingbox_api::iot::{DescribeEventConfigurationsResponse, EventSwitch, UpdateEventConfigurationsRequest};
use thingbox_model::event_config::EventType;

use super::AppState;
use super::error::ApiError;
use super::extract::AwsJson;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/event-configurations", get(describe).patch(update))
}

async fn describe(State(s): State<AppState>) -> Json<DescribeEventConfigurationsResponse> {
    let c = s.switches.get();
    Json(DescribeEventConfigurationsResponse {
        event_configurations: EventType::ALL
            .into_iter()
            .map(|t| (t.as_str().to_owned(), EventSwitch { enabled: Some(c.is_enabled(t)) }))
            .collect(),
        creation_date: c.created.map(|t| t.epoch_seconds()),
        last_modified_date: c.modified.map(|t| t.epoch_seconds()),
    })
}

async fn update(
    State(s): State<AppState>,
    AwsJson(req): AwsJson<UpdateEventConfigurationsRequest>,
) -> Result<Json<serde_json::Map<String, serde_json::Value>>, ApiError> {
    let changes = req.event_configurations.into_iter().map(|(k, v)| (k, v.enabled)).collect();
    s.switches.update(&changes, s.now()).await?;
    Ok(Json(serde_json::Map::new()))
}
