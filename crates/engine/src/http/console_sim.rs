//! The simulator for the console: `GET /console/api/sim` (scenarios, a page of devices, the
//! examples), `POST /console/api/sim/scenarios` (start one from its YAML or JSON text),
//! `DELETE /console/api/sim/scenarios/{name}` (stop it), `POST /console/api/sim/quick` ("add 10
//! lamps"), `GET /console/api/sim/devices/{name}` (a device and its log) and
//! `POST /console/api/sim/devices/{name}/fault`, `…/stop` and `…/start` (a device off until
//! started, or on now). The simulator makes and drives its fleets through
//! this same router, admitted by the console token, as a script using the AWS API would.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode};
use axum::routing::{delete, get, post};
use serde_json::Value;
use thingbox_api::sim::{DeviceDetail, QuickAdd, SimState, StartScenario};
use thingbox_model::scenario::FaultChange;
use tower::ServiceExt as _;

use super::AppState;
use super::error::ApiError;
use super::extract::{AwsJson, Params};
use crate::Error;
use crate::sim::api::{Api, ApiCall, ApiReply, error_type, scope_header};

/// The routes (mounted behind the console token).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/api/sim", get(state))
        .route("/console/api/sim/scenarios", post(start))
        .route("/console/api/sim/scenarios/{name}", delete(stop))
        .route("/console/api/sim/quick", post(quick))
        .route("/console/api/sim/devices/{name}", get(device))
        .route("/console/api/sim/devices/{name}/fault", post(fault))
        .route("/console/api/sim/devices/{name}/stop", post(stop_device))
        .route("/console/api/sim/devices/{name}/start", post(start_device))
}

/// The AWS API through this engine's own router.
pub fn in_process(s: &AppState) -> Api {
    let app = super::app(s.clone());
    let (token, region) = (s.console_token.clone(), s.default_region.clone());
    Api::new(std::sync::Arc::new(move |call: ApiCall| {
        let (app, token, region) = (app.clone(), token.clone(), region.clone());
        Box::pin(async move {
            let mut req = Request::builder()
                .method(call.method)
                .uri(&call.path)
                .header("host", "localhost")
                .header("authorization", scope_header(call.service, &region))
                .header(thingbox_api::console::TOKEN_HEADER, token);
            for (k, v) in call.headers {
                req = req.header(k, v);
            }
            let body = match (call.bytes, call.body) {
                (Some(bytes), _) => {
                    req = req.header("content-type", "application/octet-stream");
                    Body::from(bytes)
                }
                (None, Some(json)) => {
                    req = req.header("content-type", "application/json");
                    Body::from(json.to_string())
                }
                (None, None) => Body::empty(),
            };
            let req = req.body(body).map_err(|e| e.to_string())?;
            let res = match app.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let status = res.status().as_u16();
            let error_type = error_type(res.headers());
            let bytes = axum::body::to_bytes(res.into_body(), 16 << 20).await.map_err(|e| e.to_string())?;
            Ok(ApiReply { status, error_type, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) })
        })
    }))
}

async fn state(State(s): State<AppState>, q: Params) -> Result<Json<SimState>, ApiError> {
    let offset = q.int("offset", 0, i64::MAX)?.unwrap_or(0) as usize;
    let limit = q.int("limit", 0, 10_000)?.unwrap_or(500) as usize;
    Ok(Json(s.sim.state(q.str("scenario"), offset, limit)))
}

async fn start(
    State(s): State<AppState>,
    AwsJson(req): AwsJson<StartScenario>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = s.sim.start(&req.text, Some(in_process(&s)))?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({"name": name}))))
}

async fn stop(State(s): State<AppState>, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    s.sim.stop(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn quick(
    State(s): State<AppState>,
    AwsJson(req): AwsJson<QuickAdd>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = s.sim.quick_add(&req.example, req.count, Some(in_process(&s)))?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({"name": name}))))
}

async fn device(State(s): State<AppState>, Path(name): Path<String>) -> Result<Json<DeviceDetail>, ApiError> {
    Ok(Json(s.sim.device(&name)?))
}

async fn fault(
    State(s): State<AppState>,
    Path(name): Path<String>,
    AwsJson(change): AwsJson<FaultChange>,
) -> Result<Json<DeviceDetail>, ApiError> {
    s.sim.fault(&name, &change, Some(&in_process(&s))).await.map_err(Error::from)?;
    Ok(Json(s.sim.device(&name)?))
}

async fn stop_device(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<DeviceDetail>, ApiError> {
    s.sim.stop_device(&name)?;
    Ok(Json(s.sim.device(&name)?))
}

async fn start_device(
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<DeviceDetail>, ApiError> {
    s.sim.start_device(&name)?;
    Ok(Json(s.sim.device(&name)?))
}
