//! Service `iot`, jobs: CreateJob, DescribeJob, GetJobDocument, ListJobs, UpdateJob, CancelJob,
//! DeleteJob, AssociateTargetsWithJob, the execution listings, DescribeJobExecution,
//! CancelJobExecution, DeleteJobExecution and job templates. Targets are resolved against the
//! registry here (groups expanded through their descendants); `thingbox_model::jobs` decides the
//! rest.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use thingbox_api::jobs::{
    DescribeExecutionResponse, DescribeJobResponse, DescribeJobTemplateResponse, ExecutionForJob,
    ExecutionForThing, JobRef, JobTemplateSummary, ListExecutionsForJobResponse,
    ListExecutionsForThingResponse, ListJobTemplatesResponse, ListJobsResponse,
};
use thingbox_model::arn::{Arn, ResourceType};
use thingbox_model::jobs::config::{self, CreateJobRequest, JobUpdate, TagWire, check_job_id};
use thingbox_model::jobs::{ExecStatus, JobSpec, JobStatus, JobsError, TargetSelection};

use super::AppState;
use super::error::ApiError;
use super::extract::{Ctx, Name, Params};
use crate::Error;
use crate::jobs::wire;

type Reply<T> = Result<Json<T>, ApiError>;

/// The routes of the jobs control plane.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/jobs", get(list_jobs))
        .route("/jobs/{jobId}", put(create_job).get(describe_job).patch(update_job).delete(delete_job))
        .route("/jobs/{jobId}/job-document", get(get_job_document))
        .route("/jobs/{jobId}/cancel", put(cancel_job))
        .route("/jobs/{jobId}/targets", post(associate_targets))
        .route("/jobs/{jobId}/things", get(list_executions_for_job))
        .route("/things/{thingName}/jobs", get(list_executions_for_thing))
        .route("/things/{thingName}/jobs/{jobId}", get(describe_execution))
        .route("/things/{thingName}/jobs/{jobId}/cancel", put(cancel_execution))
        .route("/things/{thingName}/jobs/{jobId}/executionNumber/{executionNumber}", delete(delete_execution))
        .route("/job-templates", get(list_templates))
        .route(
            "/job-templates/{jobTemplateId}",
            put(create_template).get(describe_template).delete(delete_template),
        )
}

fn tags(list: Vec<TagWire>) -> Vec<(String, String)> {
    list.into_iter().map(|t| (t.key, t.value)).collect()
}

/// Fills what a job does not say from its template and substitutes the document's parameters.
fn apply_template(s: &AppState, spec: &mut JobSpec) -> Result<(), Error> {
    let Some(arn) = spec.job_template_arn.clone() else { return Ok(()) };
    let parsed = Arn::parse(&arn).map_err(|e| Error::InvalidRequest(format!("jobTemplateArn: {e}")))?;
    if parsed.kind != ResourceType::JobTemplate {
        return Err(Error::InvalidRequest(format!("jobTemplateArn '{arn}' is not a job template ARN")));
    }
    let t = s.jobs.read(|j| j.template(&parsed.id).cloned())?;
    let mut from = t.spec;
    if spec.document.is_none() && spec.document_source.is_none() {
        spec.document = from.document.take();
        spec.document_source = from.document_source.take();
    }
    spec.inherit_settings(from);
    Ok(())
}

/// Reads a `documentSource` from the data dir when the job has no inline document.
fn load_document(s: &AppState, spec: &mut JobSpec) -> Result<(), Error> {
    if spec.document.is_some() && spec.document_source.is_some() && spec.job_template_arn.is_none() {
        return Err(Error::InvalidRequest("Give either document or documentSource, not both".into()));
    }
    if spec.document.is_none()
        && let Some(src) = &spec.document_source
    {
        spec.document = Some(s.jobs.files.read_document(src).map_err(Error::InvalidRequest)?);
    }
    if let Some(doc) = &spec.document
        && (spec.job_template_arn.is_some() || !spec.document_parameters.is_empty())
    {
        spec.document = Some(config::substitute_parameters(doc, &spec.document_parameters)?);
    }
    Ok(())
}

async fn create_job(State(s): State<AppState>, ctx: Ctx, Name(id): Name, body: Bytes) -> Reply<JobRef> {
    check_job_id("jobId", &id)?;
    let req: CreateJobRequest = config::parse_body(&body)?;
    let mut spec = req.spec;
    apply_template(&s, &mut spec)?;
    load_document(&s, &mut spec)?;
    let arn = ctx.scope.arn(ResourceType::Job, &id);
    if s.jobs.read(|j| Ok(j.job(&id).is_ok()))? {
        return Err(JobsError::AlreadyExists { message: format!("Job {id} already exists"), id, arn }.into());
    }
    let things = s.jobs.resolve_targets(&spec.targets, true)?;
    let description = spec.description.clone();
    let tags = tags(req.tags);
    let now = s.now();
    let created = arn.clone();
    s.jobs.change(|j| j.create_job(&id, spec, things, &tags, created, now)).await?;
    Ok(Json(JobRef { job_arn: arn, job_id: id, description }))
}

async fn describe_job(State(s): State<AppState>, Name(id): Name) -> Reply<DescribeJobResponse> {
    let r = s.jobs.read(|j| {
        let job = j.job(&id)?;
        Ok(DescribeJobResponse {
            document_source: job.spec.document_source.clone(),
            job: wire::job(job, j.counts(&id)),
        })
    })?;
    Ok(Json(r))
}

async fn get_job_document(State(s): State<AppState>, Name(id): Name) -> Reply<Value> {
    let doc = s.jobs.read(|j| Ok(j.job(&id)?.spec.document.clone().unwrap_or_default()))?;
    Ok(Json(json!({ "document": doc })))
}

async fn list_jobs(State(s): State<AppState>, q: Params) -> Reply<ListJobsResponse> {
    let max = q.int("maxResults", 1, 250)?.unwrap_or(50) as usize;
    let status = match q.str("status") {
        Some(v) => Some(JobStatus::parse(v).ok_or_else(|| {
            Error::InvalidRequest(format!(
                "status '{v}' is not one of IN_PROGRESS, CANCELED, COMPLETED, DELETION_IN_PROGRESS, SCHEDULED"
            ))
        })?),
        None => None,
    };
    let selection = match q.str("targetSelection") {
        Some("SNAPSHOT") => Some(TargetSelection::Snapshot),
        Some("CONTINUOUS") => Some(TargetSelection::Continuous),
        Some(v) => {
            return Err(Error::InvalidRequest(format!(
                "targetSelection '{v}' is not SNAPSHOT or CONTINUOUS"
            ))
            .into());
        }
        None => None,
    };
    let group = q.str("thingGroupName").map(|g| format!(":thinggroup/{g}"));
    let items = s.jobs.read(|j| {
        Ok(j.all()
            .filter(|job| status.is_none_or(|st| job.status == st))
            .filter(|job| selection.is_none_or(|t| job.spec.target_selection == t))
            .filter(|job| {
                group.as_ref().is_none_or(|g| job.spec.targets.iter().any(|t| t.ends_with(g.as_str())))
            })
            .map(wire::summary)
            .collect::<Vec<_>>())
    })?;
    let page = q.page(items, max, |i| i.job_id.clone())?;
    Ok(Json(ListJobsResponse { jobs: page.items, next_token: page.next_token }))
}

async fn update_job(State(s): State<AppState>, Name(id): Name, body: Bytes) -> Result<Json<Value>, ApiError> {
    let update: JobUpdate = config::parse_body(&body)?;
    let now = s.now();
    s.jobs.change(|j| j.update_job(&id, update, now)).await?;
    Ok(Json(json!({})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelJobBody {
    reason_code: Option<String>,
    comment: Option<String>,
    force: Option<bool>,
}

async fn cancel_job(State(s): State<AppState>, Name(id): Name, q: Params, body: Bytes) -> Reply<JobRef> {
    let b: CancelJobBody = config::parse_body(&body)?;
    let force = q.bool("force")?.or(b.force).unwrap_or(false);
    let now = s.now();
    s.jobs.change(|j| j.cancel_job(&id, force, b.reason_code, b.comment, now)).await?;
    Ok(Json(job_ref(&s, &id)?))
}

/// The `{jobArn, jobId, description}` CancelJob and AssociateTargetsWithJob answer with.
fn job_ref(s: &AppState, id: &str) -> Result<JobRef, JobsError> {
    s.jobs.read(|j| {
        let job = j.job(id)?;
        Ok(JobRef {
            job_arn: job.arn.clone(),
            job_id: id.to_owned(),
            description: job.spec.description.clone(),
        })
    })
}

async fn delete_job(State(s): State<AppState>, Name(id): Name, q: Params) -> Result<(), ApiError> {
    let force = q.bool("force")?.unwrap_or(false);
    s.jobs.change(|j| j.delete_job(&id, force)).await?;
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetsBody {
    targets: Option<Vec<String>>,
    comment: Option<String>,
}

async fn associate_targets(State(s): State<AppState>, Name(id): Name, body: Bytes) -> Reply<JobRef> {
    let b: TargetsBody = config::parse_body(&body)?;
    let targets = super::extract::required(b.targets, "targets")?;
    let things = s.jobs.resolve_targets(&targets, true)?;
    let now = s.now();
    s.jobs.change(|j| j.associate_targets(&id, targets, things, b.comment, now)).await?;
    Ok(Json(job_ref(&s, &id)?))
}

fn status_filter(q: &Params) -> Result<Option<ExecStatus>, Error> {
    match q.str("status") {
        None => Ok(None),
        Some(v) => ExecStatus::parse(v).map(Some).ok_or_else(|| {
            Error::InvalidRequest(format!(
                "status '{v}' is not one of QUEUED, IN_PROGRESS, SUCCEEDED, FAILED, TIMED_OUT, REJECTED, REMOVED, CANCELED"
            ))
        }),
    }
}

async fn list_executions_for_job(
    State(s): State<AppState>,
    ctx: Ctx,
    Name(id): Name,
    q: Params,
) -> Reply<ListExecutionsForJobResponse> {
    let max = q.int("maxResults", 1, 250)?.unwrap_or(50) as usize;
    let status = status_filter(&q)?;
    let items = s.jobs.read(|j| {
        j.job(&id)?;
        Ok(j.executions_of_job(&id)
            .into_iter()
            .filter(|e| status.is_none_or(|st| e.status == st))
            .map(|e| (e.thing.clone(), wire::execution_summary(e)))
            .collect::<Vec<_>>())
    })?;
    let page = q.page(items, max, |(t, _)| t.clone())?;
    Ok(Json(ListExecutionsForJobResponse {
        execution_summaries: page
            .items
            .into_iter()
            .map(|(t, e)| ExecutionForJob {
                thing_arn: ctx.scope.arn(ResourceType::Thing, &t),
                job_execution_summary: e,
            })
            .collect(),
        next_token: page.next_token,
    }))
}

async fn list_executions_for_thing(
    State(s): State<AppState>,
    Name(thing): Name,
    q: Params,
) -> Reply<ListExecutionsForThingResponse> {
    let max = q.int("maxResults", 1, 250)?.unwrap_or(50) as usize;
    let status = status_filter(&q)?;
    let job = q.str("jobId");
    let mut items: Vec<ExecutionForThing> = s.jobs.read(|j| {
        Ok(j.executions_of_thing(&thing)
            .into_iter()
            .filter(|e| status.is_none_or(|st| e.status == st))
            .filter(|e| job.is_none_or(|id| e.job_id == id))
            .map(|e| ExecutionForThing {
                job_id: e.job_id.clone(),
                job_execution_summary: wire::execution_summary(e),
            })
            .collect())
    })?;
    items.sort_by(|a, b| a.job_id.cmp(&b.job_id));
    let page = q.page(items, max, |i| i.job_id.clone())?;
    Ok(Json(ListExecutionsForThingResponse { execution_summaries: page.items, next_token: page.next_token }))
}

async fn describe_execution(
    State(s): State<AppState>,
    ctx: Ctx,
    Path((thing, id)): Path<(String, String)>,
    q: Params,
) -> Reply<DescribeExecutionResponse> {
    let number = q.int("executionNumber", 1, i64::MAX)?;
    let now = s.now();
    let e = s.jobs.read(|j| {
        j.job(&id)?;
        j.execution(&id, &thing, number)
            .map(|e| wire::execution(e, ctx.scope.arn(ResourceType::Thing, &thing), now))
    })?;
    Ok(Json(DescribeExecutionResponse { execution: e }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelExecutionBody {
    expected_version: Option<i64>,
    status_details: Option<std::collections::BTreeMap<String, String>>,
    force: Option<bool>,
}

async fn cancel_execution(
    State(s): State<AppState>,
    Path((thing, id)): Path<(String, String)>,
    q: Params,
    body: Bytes,
) -> Result<(), ApiError> {
    let b: CancelExecutionBody = config::parse_body(&body)?;
    let force = q.bool("force")?.or(b.force).unwrap_or(false);
    let now = s.now();
    s.jobs
        .change(|j| j.cancel_execution(&id, &thing, force, b.expected_version, b.status_details, now))
        .await?;
    Ok(())
}

async fn delete_execution(
    State(s): State<AppState>,
    Path((thing, id, number)): Path<(String, String, String)>,
    q: Params,
) -> Result<(), ApiError> {
    let number: i64 = number.parse().map_err(|_| {
        Error::InvalidRequest(format!("executionNumber must be a whole number, not '{number}'"))
    })?;
    let force = q.bool("force")?.unwrap_or(false);
    let now = s.now();
    s.jobs.change(|j| j.delete_execution(&id, &thing, number, force, now)).await?;
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateTemplateBody {
    job_arn: Option<String>,
    #[serde(flatten)]
    spec: JobSpec,
    #[serde(default)]
    tags: Vec<TagWire>,
}

async fn create_template(State(s): State<AppState>, ctx: Ctx, Name(id): Name, body: Bytes) -> Reply<Value> {
    check_job_id("jobTemplateId", &id)?;
    let b: CreateTemplateBody = config::parse_body(&body)?;
    let mut spec = b.spec;
    if let Some(job_arn) = &b.job_arn {
        let parsed = Arn::parse(job_arn).map_err(|e| Error::InvalidRequest(format!("jobArn: {e}")))?;
        let job = s.jobs.read(|j| j.job(&parsed.id).cloned())?;
        let mut from = job.spec;
        spec.document = spec.document.take().or(from.document.take());
        spec.inherit_settings(from);
    } else if spec.document.is_none()
        && let Some(src) = &spec.document_source
    {
        spec.document = Some(s.jobs.files.read_document(src).map_err(Error::InvalidRequest)?);
    }
    spec.targets.clear();
    let arn = ctx.scope.arn(ResourceType::JobTemplate, &id);
    let tags = tags(b.tags);
    let now = s.now();
    let made = arn.clone();
    s.jobs.change(|j| j.create_template(&id, spec, &tags, made, now)).await?;
    Ok(Json(json!({ "jobTemplateArn": arn, "jobTemplateId": id })))
}

async fn describe_template(State(s): State<AppState>, Name(id): Name) -> Reply<DescribeJobTemplateResponse> {
    Ok(Json(s.jobs.read(|j| j.template(&id).map(wire::template))?))
}

async fn list_templates(State(s): State<AppState>, q: Params) -> Reply<ListJobTemplatesResponse> {
    let max = q.int("maxResults", 1, 250)?.unwrap_or(50) as usize;
    let items = s.jobs.read(|j| {
        Ok(j.templates()
            .map(|t| JobTemplateSummary {
                job_template_arn: t.arn.clone(),
                job_template_id: t.id.clone(),
                description: t.spec.description.clone(),
                created_at: t.created_at.epoch_seconds(),
            })
            .collect::<Vec<_>>())
    })?;
    let page = q.page(items, max, |t| t.job_template_id.clone())?;
    Ok(Json(ListJobTemplatesResponse { job_templates: page.items, next_token: page.next_token }))
}

async fn delete_template(State(s): State<AppState>, Name(id): Name) -> Result<(), ApiError> {
    s.jobs.change(|j| j.delete_template(&id)).await?;
    Ok(())
}
