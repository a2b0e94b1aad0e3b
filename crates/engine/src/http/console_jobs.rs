//! The console's view of jobs: every job with its counts and rollout, one job with every attempt
//! of every execution, and the OTA files (`s3/<bucket>/<key>` in the data dir) a job document's
//! presigned URLs point at: list, upload, delete. Jobs themselves are created, canceled and deleted
//! through the AWS API. Also the file links devices download from (`/ota/…`, signed, no token).

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use thingbox_api::jobs::{ConsoleJob, ConsoleJobDetail, OtaFile};

use super::AppState;
use super::error::ApiError;
use super::extract::Params;
use crate::Error;
use crate::jobs::wire;

/// The routes (mounted behind the console token).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/api/jobs", get(list))
        .route("/console/api/jobs/{id}", get(detail))
        .route("/console/api/ota-files", get(files))
        .route(
            "/console/api/ota-files/{bucket}/{*key}",
            axum::routing::put(upload)
                .delete(remove)
                .layer(DefaultBodyLimit::max(super::extract::MAX_OTA_FILE)),
        )
}

/// The signed download links devices use (no console token: the signature is the permission).
pub fn downloads() -> Router<AppState> {
    Router::new().route("/ota/{bucket}/{*key}", get(download))
}

async fn list(State(s): State<AppState>) -> Json<Vec<ConsoleJob>> {
    let jobs = s.jobs.with_state(|j| j.all().map(|job| s.jobs.console_job(j, job)).collect());
    Json(jobs)
}

async fn detail(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ConsoleJobDetail>, ApiError> {
    let d = s.jobs.read(|j| {
        let job = j.job(&id)?;
        Ok(ConsoleJobDetail {
            job: s.jobs.console_job(j, job),
            executions: j.attempts_of_job(&id).into_iter().map(wire::console_execution).collect(),
        })
    })?;
    Ok(Json(d))
}

fn file_info(bucket: String, key: String, size: u64) -> OtaFile {
    let placeholder = format!("${{aws:iot:s3-presigned-url:https://s3.amazonaws.com/{bucket}/{key}}}");
    OtaFile { bucket, key, size, placeholder }
}

async fn files(State(s): State<AppState>) -> Json<Vec<OtaFile>> {
    let files = s.jobs.files.clone();
    let list = tokio::task::spawn_blocking(move || files.list()).await.unwrap_or_default();
    Json(list.into_iter().map(|(b, k, n)| file_info(b, k, n)).collect())
}

async fn upload(
    State(s): State<AppState>,
    Path((bucket, key)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<OtaFile>, ApiError> {
    let files = s.jobs.files.clone();
    let (b, k) = (bucket.clone(), key.clone());
    let size = body.len() as u64;
    tokio::task::spawn_blocking(move || files.put(&b, &k, &body))
        .await
        .map_err(|e| Error::InvalidRequest(e.to_string()))?
        .map_err(|e| Error::InvalidRequest(format!("The file could not be stored: {e}")))?;
    Ok(Json(file_info(bucket, key, size)))
}

async fn remove(
    State(s): State<AppState>,
    Path((bucket, key)): Path<(String, String)>,
) -> Result<(), ApiError> {
    s.jobs.files.delete(&bucket, &key).map_err(Error::NotFound)?;
    Ok(())
}

async fn download(
    State(s): State<AppState>,
    Path((bucket, key)): Path<(String, String)>,
    q: Params,
) -> Response {
    use super::error::{AwsErrorType, aws_message};
    let Some(expires) = q.str("expires").and_then(|e| e.parse::<i64>().ok()) else {
        return aws_message(
            AwsErrorType::Forbidden,
            "This link is not signed: use the URL from the job document",
        );
    };
    let sig = q.str("signature").unwrap_or_default();
    let path = match s.jobs.files.verify(&bucket, &key, expires, sig, crate::broker::now_ms()) {
        Ok(p) => p,
        Err(why) => return aws_message(AwsErrorType::Forbidden, why),
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        Err(_) => aws_message(
            AwsErrorType::ResourceNotFound,
            format!("There is no file s3://{bucket}/{key} any more"),
        ),
    }
}
