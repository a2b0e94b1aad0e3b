//! The model's jobs and executions in the control plane's wire shapes (`thingbox_api::jobs`).

use thingbox_api::jobs::{
    ConsoleExecution, DescribeJobTemplateResponse, ExecutionSummaryWire, ExecutionWire, JobProcessDetails,
    JobSummary, JobWire, StatusDetailsWire,
};
use thingbox_model::Timestamp;
use thingbox_model::arn::{Arn, ResourceType, Scope};
use thingbox_model::jobs::{Counts, ExecStatus, Execution, Job, JobEvent, JobOperation, JobTemplate};

fn secs(t: Timestamp) -> f64 {
    t.epoch_seconds()
}

/// `jobProcessDetails` from the counts.
pub fn process_details(c: Counts) -> JobProcessDetails {
    JobProcessDetails {
        processing_targets: Vec::new(),
        number_of_canceled_things: c.of(ExecStatus::Canceled),
        number_of_succeeded_things: c.of(ExecStatus::Succeeded),
        number_of_failed_things: c.of(ExecStatus::Failed),
        number_of_rejected_things: c.of(ExecStatus::Rejected),
        number_of_queued_things: c.of(ExecStatus::Queued),
        number_of_in_progress_things: c.of(ExecStatus::InProgress),
        number_of_removed_things: c.of(ExecStatus::Removed),
        number_of_timed_out_things: c.of(ExecStatus::TimedOut),
    }
}

/// DescribeJob's `job`.
pub fn job(j: &Job, counts: Counts) -> JobWire {
    let s = &j.spec;
    JobWire {
        job_arn: j.arn.clone(),
        job_id: j.id.clone(),
        target_selection: s.target_selection.as_str().to_owned(),
        status: j.status.as_str().to_owned(),
        force_canceled: j.force_canceled,
        reason_code: j.reason_code.clone(),
        comment: j.comment.clone(),
        targets: s.targets.clone(),
        description: s.description.clone(),
        presigned_url_config: s.presigned_url_config.clone(),
        job_executions_rollout_config: s.job_executions_rollout_config.clone(),
        abort_config: s.abort_config.clone(),
        created_at: secs(j.created_at),
        last_updated_at: secs(j.last_updated_at),
        completed_at: j.completed_at.map(secs),
        job_process_details: process_details(counts),
        timeout_config: s.timeout_config.clone(),
        namespace_id: s.namespace_id.clone(),
        job_template_arn: s.job_template_arn.clone(),
        job_executions_retry_config: s.job_executions_retry_config.clone(),
        document_parameters: s.document_parameters.clone(),
        is_concurrent: false,
        scheduling_config: s.scheduling_config.as_ref().and_then(|c| serde_json::to_value(c).ok()),
        destination_package_versions: s.destination_package_versions.clone(),
    }
}

/// One ListJobs item.
pub fn summary(j: &Job) -> JobSummary {
    JobSummary {
        job_arn: j.arn.clone(),
        job_id: j.id.clone(),
        target_selection: j.spec.target_selection.as_str().to_owned(),
        status: j.status.as_str().to_owned(),
        created_at: secs(j.created_at),
        last_updated_at: secs(j.last_updated_at),
        completed_at: j.completed_at.map(secs),
        is_concurrent: false,
    }
}

/// `jobExecutionSummary`.
pub fn execution_summary(e: &Execution) -> ExecutionSummaryWire {
    ExecutionSummaryWire {
        status: e.status.as_str().to_owned(),
        queued_at: secs(e.queued_at),
        started_at: e.started_at.map(secs),
        last_updated_at: secs(e.last_updated_at),
        execution_number: e.number,
        retry_attempt: e.retry_attempt,
    }
}

/// DescribeJobExecution's (control plane) `execution`.
pub fn execution(e: &Execution, thing_arn: String, now: Timestamp) -> ExecutionWire {
    ExecutionWire {
        job_id: e.job_id.clone(),
        status: e.status.as_str().to_owned(),
        force_canceled: e.force_canceled,
        status_details: StatusDetailsWire { details_map: e.status_details.clone() },
        thing_arn,
        queued_at: secs(e.queued_at),
        started_at: e.started_at.map(secs),
        last_updated_at: secs(e.last_updated_at),
        execution_number: e.number,
        version_number: e.version,
        approximate_seconds_before_timed_out: e
            .deadline()
            .map(|d| ((d.millis() - now.millis()) / 1000).max(0)),
    }
}

/// An attempt, for the console.
pub fn console_execution(e: &Execution) -> ConsoleExecution {
    ConsoleExecution {
        thing: e.thing.clone(),
        execution_number: e.number,
        status: e.status.as_str().to_owned(),
        status_details: e.status_details.clone(),
        queued_at: e.queued_at.millis(),
        started_at: e.started_at.map(Timestamp::millis),
        last_updated_at: e.last_updated_at.millis(),
        version_number: e.version,
        retry_attempt: e.retry_attempt,
        times_out_at: e.deadline().map(Timestamp::millis),
        force_canceled: e.force_canceled,
    }
}

/// DescribeJobTemplate.
pub fn template(t: &JobTemplate) -> DescribeJobTemplateResponse {
    let s = &t.spec;
    DescribeJobTemplateResponse {
        job_template_arn: t.arn.clone(),
        job_template_id: t.id.clone(),
        description: s.description.clone(),
        document_source: s.document_source.clone(),
        document: s.document.clone(),
        created_at: secs(t.created_at),
        presigned_url_config: s.presigned_url_config.clone(),
        job_executions_rollout_config: s.job_executions_rollout_config.clone(),
        abort_config: s.abort_config.clone(),
        timeout_config: s.timeout_config.clone(),
        job_executions_retry_config: s.job_executions_retry_config.clone(),
    }
}

/// A job event's topic and payload (`$aws/events/job/…`, `$aws/events/jobExecution/…`), as AWS's
/// jobs events documentation shows them: `timestamp` in seconds, the job's times in milliseconds.
pub fn event(ev: &JobEvent, now: Timestamp) -> (String, serde_json::Value) {
    use serde_json::{Map, Value, json};
    let mut p = Map::new();
    p.insert("eventType".into(), json!(if ev.is_job() { "JOB" } else { "JOB_EXECUTION" }));
    p.insert("eventId".into(), json!(uuid::Uuid::new_v4().to_string()));
    p.insert("timestamp".into(), json!(now.millis() / 1000));
    p.insert("operation".into(), json!(ev.operation()));
    match ev {
        JobEvent::Job { operation, job, counts } => {
            p.insert("jobId".into(), json!(job.id));
            p.insert("status".into(), json!(operation.status()));
            if job.force_canceled && *operation == JobOperation::Canceled {
                p.insert("forceCanceled".into(), json!(true));
            }
            p.insert("targetSelection".into(), json!(job.spec.target_selection.as_str()));
            p.insert("targets".into(), json!(job.spec.targets));
            if let Some(d) = &job.spec.description {
                p.insert("description".into(), json!(d));
            }
            if let Some(c) = job.completed_at.filter(|_| operation.has_counts()) {
                p.insert("completedAt".into(), json!(c.millis()));
            }
            p.insert("createdAt".into(), json!(job.created_at.millis()));
            p.insert("lastUpdatedAt".into(), json!(job.last_updated_at.millis()));
            if let Some(c) = &job.comment {
                p.insert("comment".into(), json!(c));
            }
            if operation.has_counts() {
                p.insert(
                    "jobProcessDetails".into(),
                    json!({
                        "numberOfCanceledThings": counts.of(ExecStatus::Canceled),
                        "numberOfRejectedThings": counts.of(ExecStatus::Rejected),
                        "numberOfFailedThings": counts.of(ExecStatus::Failed),
                        "numberOfRemovedThings": counts.of(ExecStatus::Removed),
                        "numberOfSucceededThings": counts.of(ExecStatus::Succeeded),
                        "numberOfTimedOutThings": counts.of(ExecStatus::TimedOut),
                    }),
                );
            }
        }
        JobEvent::Execution { execution: e, job_arn, .. } => {
            p.insert("jobId".into(), json!(e.job_id));
            let thing_arn = match Arn::parse(job_arn) {
                Ok(a) => Scope::new(a.region, a.account).arn(ResourceType::Thing, &e.thing),
                Err(_) => e.thing.clone(),
            };
            p.insert("thingArn".into(), json!(thing_arn));
            p.insert("status".into(), json!(e.status.as_str()));
            if !e.status_details.is_empty() {
                p.insert("statusDetails".into(), json!(e.status_details));
            }
        }
    }
    (ev.topic(), Value::Object(p))
}
