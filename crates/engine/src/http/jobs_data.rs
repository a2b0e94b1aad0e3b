//! Service `iot-jobs-data`, the devices' HTTP API for jobs: GetPendingJobExecutions,
//! StartNextPendingJobExecution, DescribeJobExecution and UpdateJobExecution. The same decisions
//! as the MQTT topics (`jobs::mqtt`), answered with this service's error types; the job document
//! is a string here, and no notifications go over HTTP (the MQTT ones are still published).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use thingbox_model::jobs::Jobs;
use thingbox_model::jobs::device::parse_request;

use super::AppState;
use super::error::ApiError;
use super::extract::{Name, Params};
use crate::Error;

type Reply = Result<Json<Value>, ApiError>;

/// The routes of `iot-jobs-data`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/things/{thingName}/jobs", get(get_pending))
        .route("/things/{thingName}/jobs/{jobId}", get(describe).put(start_next).post(update))
}

/// A refusal in this service's words.
fn data(e: impl Into<Error>) -> ApiError {
    match e.into() {
        Error::Jobs(j) => ApiError(Error::JobsData(j)),
        other => ApiError(other),
    }
}

async fn get_pending(State(s): State<AppState>, Name(thing): Name) -> Reply {
    let v = s.jobs.with_state(|j| {
        let (running, queued) = j.pending(&thing);
        json!({
            "inProgressJobs": running.iter().map(|e| Jobs::summary_json(e)).collect::<Vec<_>>(),
            "queuedJobs": queued.iter().map(|e| Jobs::summary_json(e)).collect::<Vec<_>>(),
        })
    });
    Ok(Json(v))
}

async fn describe(State(s): State<AppState>, Path((thing, job)): Path<(String, String)>, q: Params) -> Reply {
    let number = q.int("executionNumber", 1, i64::MAX).map_err(data)?;
    let include = q.bool("includeJobDocument").map_err(data)?.unwrap_or(true);
    let now = s.now();
    let v = s
        .jobs
        .with_state(|j| {
            let e = j.describe_for_device(&thing, &job, number)?;
            let mut m = Map::new();
            if let Some(e) = e {
                let presign = s.jobs.presigner(now);
                m.insert("execution".into(), j.execution_json(e, include, true, now, &presign));
            }
            Ok::<_, thingbox_model::jobs::JobsError>(Value::Object(m))
        })
        .map_err(data)?;
    Ok(Json(v))
}

async fn start_next(
    State(s): State<AppState>,
    Path((thing, job)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    if job != "$next" {
        return Err(data(Error::InvalidRequest(format!(
            "PUT /things/{thing}/jobs/{job}: StartNextPendingJobExecution is PUT /things/{thing}/jobs/$next"
        ))));
    }
    let req = parse_request(&body).map_err(data)?;
    let now = s.now();
    let jobs = s.jobs.clone();
    let v = s
        .jobs
        .write(|j| {
            let (e, fx) = j.start_next(&thing, &req, now)?;
            let mut m = Map::new();
            if let Some(e) = e {
                let presign = jobs.presigner(now);
                m.insert("execution".into(), j.execution_json(&e, true, true, now, &presign));
            }
            Ok((Value::Object(m), fx))
        })
        .await
        .map_err(data)?;
    Ok(Json(v))
}

async fn update(State(s): State<AppState>, Path((thing, job)): Path<(String, String)>, body: Bytes) -> Reply {
    let req = parse_request(&body).map_err(data)?;
    let now = s.now();
    let jobs = s.jobs.clone();
    let v = s
        .jobs
        .write(|j| {
            let (e, fx) = j.update_execution(&thing, &job, &req, now)?;
            let mut m = Map::new();
            if req.include_job_execution_state == Some(true) {
                m.insert("executionState".into(), Jobs::state_json(&e.state()));
            }
            if req.include_job_document == Some(true) {
                let presign = jobs.presigner(now);
                if let Some(doc) = j.document_for_device(&job, &presign) {
                    m.insert("jobDocument".into(), json!(doc));
                }
            }
            Ok((Value::Object(m), fx))
        })
        .await
        .map_err(data)?;
    Ok(Json(v))
}
