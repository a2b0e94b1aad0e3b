//! Jobs on the wire: the control plane's responses (service `iot`: DescribeJob, ListJobs, the
//! execution listings, job templates) with AWS's member names, and the console's job overview.
//! Control-plane times are epoch seconds with a fraction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thingbox_model::jobs::config::{AbortConfig, RetryConfig, RolloutConfig, TimeoutConfig};

/// `jobProcessDetails`: executions per status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobProcessDetails {
    /// Always empty (Thingbox creates executions as it goes).
    #[serde(default)]
    pub processing_targets: Vec<String>,
    /// CANCELED.
    pub number_of_canceled_things: i64,
    /// SUCCEEDED.
    pub number_of_succeeded_things: i64,
    /// FAILED.
    pub number_of_failed_things: i64,
    /// REJECTED.
    pub number_of_rejected_things: i64,
    /// QUEUED.
    pub number_of_queued_things: i64,
    /// IN_PROGRESS.
    pub number_of_in_progress_things: i64,
    /// REMOVED.
    pub number_of_removed_things: i64,
    /// TIMED_OUT.
    pub number_of_timed_out_things: i64,
}

/// DescribeJob's `job`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobWire {
    /// ARN.
    pub job_arn: String,
    /// Id.
    pub job_id: String,
    /// SNAPSHOT or CONTINUOUS.
    pub target_selection: String,
    /// IN_PROGRESS, CANCELED, COMPLETED, DELETION_IN_PROGRESS, SCHEDULED.
    pub status: String,
    /// Whether it was force-canceled.
    pub force_canceled: bool,
    /// CancelJob's reason code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// CancelJob's comment, or why the abort criteria canceled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Thing and thing group ARNs.
    pub targets: Vec<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// As given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presigned_url_config: Option<serde_json::Value>,
    /// Rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_executions_rollout_config: Option<RolloutConfig>,
    /// Abort criteria.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_config: Option<AbortConfig>,
    /// Created (epoch seconds).
    pub created_at: f64,
    /// Last changed.
    pub last_updated_at: f64,
    /// Completed or canceled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<f64>,
    /// Executions per status.
    pub job_process_details: JobProcessDetails,
    /// Timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_config: Option<TimeoutConfig>,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_id: Option<String>,
    /// Template it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_template_arn: Option<String>,
    /// Retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_executions_retry_config: Option<RetryConfig>,
    /// Parameters substituted into the template's document.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub document_parameters: BTreeMap<String, String>,
    /// Always false.
    pub is_concurrent: bool,
    /// As given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling_config: Option<serde_json::Value>,
    /// As given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_package_versions: Vec<String>,
}

/// DescribeJob.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeJobResponse {
    /// Where the document came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_source: Option<String>,
    /// The job.
    pub job: JobWire,
}

/// One ListJobs item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSummary {
    /// ARN.
    pub job_arn: String,
    /// Id.
    pub job_id: String,
    /// SNAPSHOT or CONTINUOUS.
    pub target_selection: String,
    /// Status.
    pub status: String,
    /// Created.
    pub created_at: f64,
    /// Last changed.
    pub last_updated_at: f64,
    /// Completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<f64>,
    /// Always false.
    pub is_concurrent: bool,
}

/// ListJobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListJobsResponse {
    /// Jobs.
    pub jobs: Vec<JobSummary>,
    /// Next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `jobExecutionSummary` in the control plane's listings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionSummaryWire {
    /// Status.
    pub status: String,
    /// Queued.
    pub queued_at: f64,
    /// Started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<f64>,
    /// Last changed.
    pub last_updated_at: f64,
    /// Execution number.
    pub execution_number: i64,
    /// Retry attempt.
    pub retry_attempt: i64,
}

/// One ListJobExecutionsForJob item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionForJob {
    /// The thing.
    pub thing_arn: String,
    /// Its execution.
    pub job_execution_summary: ExecutionSummaryWire,
}

/// ListJobExecutionsForJob.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListExecutionsForJobResponse {
    /// Executions.
    pub execution_summaries: Vec<ExecutionForJob>,
    /// Next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// One ListJobExecutionsForThing item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionForThing {
    /// The job.
    pub job_id: String,
    /// Its execution.
    pub job_execution_summary: ExecutionSummaryWire,
}

/// ListJobExecutionsForThing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListExecutionsForThingResponse {
    /// Executions.
    pub execution_summaries: Vec<ExecutionForThing>,
    /// Next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `statusDetails` in the control plane: wrapped in `detailsMap`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetailsWire {
    /// The pairs.
    pub details_map: BTreeMap<String, String>,
}

/// DescribeJobExecution's (control plane) `execution`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionWire {
    /// Job.
    pub job_id: String,
    /// Status.
    pub status: String,
    /// Whether it was canceled while IN_PROGRESS.
    pub force_canceled: bool,
    /// What the device said.
    pub status_details: StatusDetailsWire,
    /// The thing.
    pub thing_arn: String,
    /// Queued.
    pub queued_at: f64,
    /// Started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<f64>,
    /// Last changed.
    pub last_updated_at: f64,
    /// Execution number.
    pub execution_number: i64,
    /// Version.
    pub version_number: i64,
    /// Seconds left before a timer ends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate_seconds_before_timed_out: Option<i64>,
}

/// DescribeJobExecution (control plane).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DescribeExecutionResponse {
    /// The execution.
    pub execution: ExecutionWire,
}

/// CreateJob, CancelJob, AssociateTargetsWithJob.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRef {
    /// ARN.
    pub job_arn: String,
    /// Id.
    pub job_id: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// DescribeJobTemplate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeJobTemplateResponse {
    /// ARN.
    pub job_template_arn: String,
    /// Id.
    pub job_template_id: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Document source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_source: Option<String>,
    /// Document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    /// Created.
    pub created_at: f64,
    /// As given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presigned_url_config: Option<serde_json::Value>,
    /// Rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_executions_rollout_config: Option<RolloutConfig>,
    /// Abort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_config: Option<AbortConfig>,
    /// Timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_config: Option<TimeoutConfig>,
    /// Retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_executions_retry_config: Option<RetryConfig>,
}

/// One ListJobTemplates item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTemplateSummary {
    /// ARN.
    pub job_template_arn: String,
    /// Id.
    pub job_template_id: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Created.
    pub created_at: f64,
}

/// ListJobTemplates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListJobTemplatesResponse {
    /// Templates.
    pub job_templates: Vec<JobTemplateSummary>,
    /// Next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// The console's job overview: every job with its counts and rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleJob {
    /// The job as DescribeJob shows it.
    pub job: JobWire,
    /// Things still waiting for the rollout to reach them.
    pub waiting: i64,
    /// The rollout's current rate per minute (none: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_minute: Option<f64>,
    /// The job document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
}

/// One attempt of an execution, for the console's job detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleExecution {
    /// Thing.
    pub thing: String,
    /// Execution number.
    pub execution_number: i64,
    /// Status.
    pub status: String,
    /// Status details.
    pub status_details: BTreeMap<String, String>,
    /// Queued (epoch ms).
    pub queued_at: i64,
    /// Started (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    /// Last changed (epoch ms).
    pub last_updated_at: i64,
    /// Version.
    pub version_number: i64,
    /// Retry attempt.
    pub retry_attempt: i64,
    /// When a timer ends it (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times_out_at: Option<i64>,
    /// Whether it was canceled while IN_PROGRESS.
    pub force_canceled: bool,
}

/// The console's job detail: the job and every attempt of every execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleJobDetail {
    /// The job.
    pub job: ConsoleJob,
    /// Every attempt, by thing then number.
    pub executions: Vec<ConsoleExecution>,
}

/// A file devices can download through a job document's presigned URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtaFile {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// What to write in a job document.
    pub placeholder: String,
}
