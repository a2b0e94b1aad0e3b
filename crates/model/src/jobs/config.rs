//! What a job is asked to be: CreateJob's and CreateJobTemplate's members, read from the request
//! body with AWS's member names and checked against botocore's ranges, each refusal naming the
//! member, the value and the rule.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::JobsError;
use crate::names::{StringRule, ValidationError};
use crate::paging::check_range;

/// Largest job document (bytes).
pub const MAX_DOCUMENT: usize = 32_768;
/// Most targets one job may have.
pub const MAX_TARGETS: usize = 100;
/// How long a presigned link lives when `presignedUrlConfig.expiresInSec` says nothing.
pub const DEFAULT_LINK_SECS: i64 = 3600;
/// Longest `inProgressTimeoutInMinutes` / `stepTimeoutInMinutes` (7 days).
pub const MAX_TIMEOUT_MINUTES: i64 = 10_080;

fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-')
}

fn not_control(c: char) -> bool {
    !c.is_control()
}

fn reason_char(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
}

/// Job and job template ids: 1–64 of `[a-zA-Z0-9_-]`.
pub const JOB_ID: StringRule = StringRule { min: 1, max: 64, pattern: "[a-zA-Z0-9_-]+", allowed: id_char };
/// Descriptions and comments: up to 2028 characters, none a control character.
pub const DESCRIPTION: StringRule =
    StringRule { min: 0, max: 2028, pattern: "[^\\p{C}]+", allowed: not_control };
/// `reasonCode`: up to 128 of `[\p{Upper}\p{Digit}_]`.
pub const REASON_CODE: StringRule =
    StringRule { min: 0, max: 128, pattern: "[\\p{Upper}\\p{Digit}_]+", allowed: reason_char };

/// SNAPSHOT (the targets' things when the job is created) or CONTINUOUS (things that join a target
/// group later get the job too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TargetSelection {
    /// The default.
    #[default]
    Snapshot,
    /// Never completes by itself.
    Continuous,
}

impl TargetSelection {
    /// AWS's word.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Snapshot => "SNAPSHOT",
            Self::Continuous => "CONTINUOUS",
        }
    }
}

/// `jobExecutionsRolloutConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutConfig {
    /// Most executions created (notified) per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_per_minute: Option<i64>,
    /// A rate that grows as the rollout succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exponential_rate: Option<ExponentialRate>,
}

/// `exponentialRate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExponentialRate {
    /// The starting rate, per minute.
    pub base_rate_per_minute: i64,
    /// The rate is multiplied by this each time the criteria are met.
    pub increment_factor: f64,
    /// When the rate grows.
    pub rate_increase_criteria: RateIncreaseCriteria,
}

/// `rateIncreaseCriteria`: after this many more notified or succeeded things.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateIncreaseCriteria {
    /// Notified things.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_notified_things: Option<i64>,
    /// Succeeded things.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_succeeded_things: Option<i64>,
}

/// Which failures a criterion counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureType {
    /// FAILED executions.
    Failed,
    /// REJECTED executions.
    Rejected,
    /// TIMED_OUT executions.
    TimedOut,
    /// All three.
    All,
}

impl FailureType {
    /// AWS's word.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "FAILED",
            Self::Rejected => "REJECTED",
            Self::TimedOut => "TIMED_OUT",
            Self::All => "ALL",
        }
    }
}

/// `abortConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AbortConfig {
    /// Any one criterion met cancels the job.
    pub criteria_list: Vec<AbortCriteria>,
}

/// One abort criterion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AbortCriteria {
    /// What counts as a failure.
    pub failure_type: FailureType,
    /// Always `CANCEL`.
    pub action: String,
    /// The share of executed things, in percent, at which the job is canceled.
    pub threshold_percentage: f64,
    /// Executed things before the criterion applies.
    pub min_number_of_executed_things: i64,
}

/// `timeoutConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeoutConfig {
    /// Minutes an execution may stay IN_PROGRESS before it is TIMED_OUT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress_timeout_in_minutes: Option<i64>,
}

/// `jobExecutionsRetryConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryConfig {
    /// Retries per failure type.
    pub criteria_list: Vec<RetryCriteria>,
}

/// One retry criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryCriteria {
    /// FAILED, TIMED_OUT or ALL (REJECTED is never retried).
    pub failure_type: FailureType,
    /// 0–10.
    pub number_of_retries: i64,
}

/// What CreateJob accepted (after a template's defaults were applied) — the job's settings as
/// DescribeJob shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    /// Thing and thing group ARNs.
    #[serde(default)]
    pub targets: Vec<String>,
    /// The job document (JSON text), after parameter substitution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    /// Where the document was read from, if it came from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_source: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// SNAPSHOT or CONTINUOUS.
    #[serde(default)]
    pub target_selection: TargetSelection,
    /// Kept and shown; Thingbox serves `${aws:iot:s3-presigned-url:…}` files itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presigned_url_config: Option<Value>,
    /// Rollout rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_executions_rollout_config: Option<RolloutConfig>,
    /// When the job cancels itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_config: Option<AbortConfig>,
    /// In-progress timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_config: Option<TimeoutConfig>,
    /// Retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_executions_retry_config: Option<RetryConfig>,
    /// The values substituted into a template's document.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub document_parameters: BTreeMap<String, String>,
    /// The template the job was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_template_arn: Option<String>,
    /// Kept and shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_id: Option<String>,
    /// When the rollout starts and ends ([`super::schedule`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling_config: Option<super::schedule::SchedulingConfig>,
    /// Kept and shown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_package_versions: Vec<String>,
}

impl JobSpec {
    /// Takes each setting this spec leaves unset — description, presigned URLs, rollout, abort,
    /// timeout, retries — from `from` (a job template, or the job a template is made from).
    pub fn inherit_settings(&mut self, from: JobSpec) {
        self.description = self.description.take().or(from.description);
        self.presigned_url_config = self.presigned_url_config.take().or(from.presigned_url_config);
        self.job_executions_rollout_config =
            self.job_executions_rollout_config.take().or(from.job_executions_rollout_config);
        self.abort_config = self.abort_config.take().or(from.abort_config);
        self.timeout_config = self.timeout_config.take().or(from.timeout_config);
        self.job_executions_retry_config =
            self.job_executions_retry_config.take().or(from.job_executions_retry_config);
    }
}

/// CreateJob's body as it arrives.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateJobRequest {
    /// The settings (targets, document, …).
    #[serde(flatten)]
    pub spec: JobSpec,
    /// `[{"Key","Value"}]`.
    #[serde(default)]
    pub tags: Vec<TagWire>,
}

/// A tag as the jobs API sends it.
#[derive(Debug, Clone, Deserialize)]
pub struct TagWire {
    /// Key.
    #[serde(rename = "Key")]
    pub key: String,
    /// Value.
    #[serde(rename = "Value", default)]
    pub value: String,
}

/// UpdateJob's body: only these members may change.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobUpdate {
    /// New description.
    pub description: Option<String>,
    /// New presigned URL settings.
    pub presigned_url_config: Option<Value>,
    /// New rollout.
    pub job_executions_rollout_config: Option<RolloutConfig>,
    /// New abort criteria.
    pub abort_config: Option<AbortConfig>,
    /// New timeout (for executions that start after the update).
    pub timeout_config: Option<TimeoutConfig>,
    /// New retries.
    pub job_executions_retry_config: Option<RetryConfig>,
}

/// Reads a JSON body as `T`, naming the member serde could not read.
pub fn parse_body<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> Result<T, JobsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        JobsError::InvalidRequest(format!("The request body is not valid JSON for this operation: {e}"))
    })
}

fn v(field: &str, value: impl std::fmt::Display, constraint: &str) -> JobsError {
    ValidationError::new(field, value, constraint).into()
}

/// Checks a job or job template id.
pub fn check_job_id(field: &str, id: &str) -> Result<(), JobsError> {
    Ok(JOB_ID.check(field, id)?)
}

/// Checks a job document: JSON (an object), at most 32 KB.
pub fn check_document(doc: &str) -> Result<(), JobsError> {
    if doc.len() > MAX_DOCUMENT {
        return Err(JobsError::InvalidRequest(format!(
            "The job document is {} bytes; the limit is {MAX_DOCUMENT} bytes (32 KB)",
            doc.len()
        )));
    }
    match serde_json::from_str::<Value>(doc) {
        Ok(Value::Object(_)) => Ok(()),
        Ok(_) => Err(JobsError::InvalidRequest("The job document must be a JSON object".into())),
        Err(e) => Err(JobsError::InvalidRequest(format!("The job document is not valid JSON: {e}"))),
    }
}

/// Checks the settings a job and a template share.
pub fn check_settings(spec: &JobSpec) -> Result<(), JobsError> {
    if let Some(d) = &spec.description {
        DESCRIPTION.check("description", d)?;
    }
    if let Some(r) = &spec.job_executions_rollout_config {
        check_rollout(r)?;
    }
    if let Some(a) = &spec.abort_config {
        check_abort(a)?;
    }
    if let Some(t) = &spec.timeout_config {
        check_timeout(t)?;
    }
    if let Some(r) = &spec.job_executions_retry_config {
        check_retry(r)?;
    }
    if let Some(p) = &spec.presigned_url_config
        && let Some(e) = p.get("expiresInSec")
    {
        let secs =
            e.as_i64().ok_or_else(|| v("presignedUrlConfig.expiresInSec", e, "Member must be a number"))?;
        check_range("presignedUrlConfig.expiresInSec", secs, 60, 3600)?;
    }
    Ok(())
}

/// Checks a rollout configuration.
pub fn check_rollout(r: &RolloutConfig) -> Result<(), JobsError> {
    if let Some(m) = r.maximum_per_minute {
        check_range("jobExecutionsRolloutConfig.maximumPerMinute", m, 1, 1000)?;
    }
    if let Some(e) = &r.exponential_rate {
        check_range(
            "jobExecutionsRolloutConfig.exponentialRate.baseRatePerMinute",
            e.base_rate_per_minute,
            1,
            1000,
        )?;
        if !(1.1..=5.0).contains(&e.increment_factor) {
            return Err(v(
                "jobExecutionsRolloutConfig.exponentialRate.incrementFactor",
                e.increment_factor,
                "Member must be between 1.1 and 5.0",
            ));
        }
        let c = &e.rate_increase_criteria;
        if c.number_of_notified_things.is_none() && c.number_of_succeeded_things.is_none() {
            return Err(JobsError::InvalidRequest(
                "rateIncreaseCriteria needs numberOfNotifiedThings or numberOfSucceededThings".into(),
            ));
        }
        for (f, n) in [
            ("numberOfNotifiedThings", c.number_of_notified_things),
            ("numberOfSucceededThings", c.number_of_succeeded_things),
        ] {
            if let Some(n) = n {
                check_range(
                    &format!("jobExecutionsRolloutConfig.exponentialRate.rateIncreaseCriteria.{f}"),
                    n,
                    1,
                    i64::MAX,
                )?;
            }
        }
    }
    Ok(())
}

fn check_abort(a: &AbortConfig) -> Result<(), JobsError> {
    if a.criteria_list.is_empty() {
        return Err(v(
            "abortConfig.criteriaList",
            "[]",
            "Member must have length greater than or equal to 1",
        ));
    }
    for c in &a.criteria_list {
        if c.action != "CANCEL" {
            return Err(v(
                "abortConfig.criteriaList.member.action",
                &c.action,
                "Member must satisfy enum value set: [CANCEL]",
            ));
        }
        if !(0.0..=100.0).contains(&c.threshold_percentage) {
            return Err(v(
                "abortConfig.criteriaList.member.thresholdPercentage",
                c.threshold_percentage,
                "Member must have value less than or equal to 100",
            ));
        }
        check_range(
            "abortConfig.criteriaList.member.minNumberOfExecutedThings",
            c.min_number_of_executed_things,
            1,
            i64::MAX,
        )?;
    }
    Ok(())
}

/// Checks a timeout configuration.
pub fn check_timeout(t: &TimeoutConfig) -> Result<(), JobsError> {
    if let Some(m) = t.in_progress_timeout_in_minutes {
        check_range("timeoutConfig.inProgressTimeoutInMinutes", m, 1, MAX_TIMEOUT_MINUTES)?;
    }
    Ok(())
}

fn check_retry(r: &RetryConfig) -> Result<(), JobsError> {
    if r.criteria_list.is_empty() || r.criteria_list.len() > 2 {
        return Err(v(
            "jobExecutionsRetryConfig.criteriaList",
            r.criteria_list.len(),
            "Member must have length between 1 and 2",
        ));
    }
    for c in &r.criteria_list {
        if c.failure_type == FailureType::Rejected {
            return Err(v(
                "jobExecutionsRetryConfig.criteriaList.member.failureType",
                "REJECTED",
                "Member must satisfy enum value set: [FAILED, TIMED_OUT, ALL]",
            ));
        }
        check_range(
            "jobExecutionsRetryConfig.criteriaList.member.numberOfRetries",
            c.number_of_retries,
            0,
            10,
        )?;
    }
    Ok(())
}

/// Checks a `statusDetails` map: at most 10 pairs, keys 1–128 of `[a-zA-Z0-9:_-]`, values 1–1024
/// characters without control characters.
pub fn check_status_details(details: &BTreeMap<String, String>) -> Result<(), JobsError> {
    if details.len() > 10 {
        return Err(JobsError::InvalidRequest(format!(
            "statusDetails has {} entries; at most 10 are allowed",
            details.len()
        )));
    }
    for (k, val) in details {
        let key_ok = !k.is_empty()
            && k.len() <= 128
            && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-'));
        if !key_ok {
            return Err(v("statusDetails", k, "Keys must be 1-128 characters of [a-zA-Z0-9:_-]"));
        }
        if val.is_empty() || val.chars().count() > 1024 || val.chars().any(char::is_control) {
            return Err(v(
                &format!("statusDetails.{k}"),
                val,
                "Values must be 1-1024 characters without control characters",
            ));
        }
    }
    Ok(())
}

/// Replaces every `<open>…}` placeholder in `doc` with what `value` makes of its inner text; an
/// unterminated placeholder is kept as written.
fn substitute<E>(
    doc: &str,
    open: &str,
    mut value: impl FnMut(&str) -> Result<String, E>,
) -> Result<String, E> {
    let mut out = String::with_capacity(doc.len());
    let mut rest = doc;
    while let Some(i) = rest.find(open) {
        out.push_str(&rest[..i]);
        let after = &rest[i + open.len()..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[i..]);
            return Ok(out);
        };
        out.push_str(&value(&after[..end])?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Replaces `${aws:iot:parameter:<name>}` in a template's document with `params`; a placeholder
/// without a value is an error naming it.
pub fn substitute_parameters(doc: &str, params: &BTreeMap<String, String>) -> Result<String, JobsError> {
    substitute(doc, "${aws:iot:parameter:", |name| {
        params.get(name).cloned().ok_or_else(|| {
            JobsError::InvalidRequest(format!(
                "The job document uses the parameter '{name}', but documentParameters has no value for it"
            ))
        })
    })
}

/// The names of a document's `${aws:iot:parameter:<name>}` placeholders, each once, in order.
pub fn parameter_names(doc: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let never: Result<String, std::convert::Infallible> = substitute(doc, "${aws:iot:parameter:", |name| {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
        Ok(String::new())
    });
    drop(never);
    names
}

/// Replaces each `${aws:iot:s3-presigned-url:<url>}` in a document with what `presign` makes of
/// the URL (Thingbox's own, expiring link to the file).
pub fn substitute_presigned(doc: &str, presign: &dyn Fn(&str) -> String) -> String {
    let never: Result<String, std::convert::Infallible> =
        substitute(doc, "${aws:iot:s3-presigned-url:", |url| Ok(presign(url)));
    match never {
        Ok(s) => s,
        Err(e) => match e {},
    }
}
