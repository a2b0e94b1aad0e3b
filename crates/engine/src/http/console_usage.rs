//! Metering and the cost estimate: `GET /console/api/usage?days=N` — usage per day, per thing and
//! in total, in AWS's billing units, priced with the data dir's `prices.json` or the built-in table.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use thingbox_api::usage::UsageReport;
use thingbox_model::usage::Prices;

use super::AppState;
use super::error::ApiError;
use super::extract::Params;
use crate::Error;

/// The file in the data dir that replaces the built-in price table.
pub const PRICES_FILE: &str = "prices.json";

/// The routes (mounted behind the console token).
pub fn routes() -> Router<AppState> {
    Router::new().route("/console/api/usage", get(usage))
}

/// The price table in force and where it came from.
pub fn prices(s: &AppState) -> Result<(Prices, String), Error> {
    let path = s.data_dir.join(PRICES_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Prices::parse(&text)
            .map(|p| (p, path.display().to_string()))
            .map_err(|e| Error::InvalidRequest(format!("{}: {e}", path.display()))),
        Err(_) => Ok((Prices::built_in(), "built in".to_owned())),
    }
}

/// `GET /console/api/usage?days=N` (default 30, at most 366).
async fn usage(State(s): State<AppState>, q: Params) -> Result<Json<UsageReport>, ApiError> {
    let days = q.int("days", 1, 366)?.unwrap_or(30) as u32;
    let (prices, source) = prices(&s)?;
    Ok(Json(s.broker.meter.report(crate::broker::now_ms(), days, &prices, source)))
}
