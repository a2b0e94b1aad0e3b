//! The device side of jobs: GetPendingJobExecutions, StartNextPendingJobExecution,
//! DescribeJobExecution and UpdateJobExecution (the same decisions over MQTT and HTTP), the
//! documents devices receive, and the `notify` / `notify-next` messages.
//!
//! Times in device documents are whole epoch seconds (the Device SDK parses them with
//! `datetime.fromtimestamp`). Over MQTT `jobDocument` is a JSON object; over HTTP a string.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::config::{self, MAX_TIMEOUT_MINUTES};
use super::{
    Effects, ExecState, ExecStatus, Execution, JobStatus, Jobs, JobsError, PendingItem, exec_not_found,
};
use crate::Timestamp;
use crate::paging::check_range;

/// A device request's members (MQTT payload or HTTP body; all optional on the wire).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceRequest {
    /// UpdateJobExecution: the new status.
    pub status: Option<String>,
    /// New status details (replace the old ones).
    pub status_details: Option<BTreeMap<String, String>>,
    /// Optimistic locking.
    pub expected_version: Option<i64>,
    /// Which attempt.
    pub execution_number: Option<i64>,
    /// UpdateJobExecution: include `executionState` in the reply.
    #[serde(default)]
    pub include_job_execution_state: Option<bool>,
    /// Include the job document (DescribeJobExecution: default true; Update: default false).
    #[serde(default)]
    pub include_job_document: Option<bool>,
    /// A new step timer.
    pub step_timeout_in_minutes: Option<i64>,
    /// Echoed in the reply.
    pub client_token: Option<String>,
}

/// The `clientToken` of a payload that may not parse, for a rejected reply.
pub fn client_token_of(payload: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(payload).ok()?.get("clientToken")?.as_str().map(str::to_owned)
}

/// Reads a device request; an empty payload is an empty request.
pub fn parse_request(payload: &[u8]) -> Result<DeviceRequest, JobsError> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(DeviceRequest::default());
    }
    let v: Value = serde_json::from_slice(payload)
        .map_err(|e| JobsError::InvalidRequest(format!("The payload is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(JobsError::InvalidRequest("The payload must be a JSON object".into()));
    }
    serde_json::from_value(v).map_err(|e| JobsError::InvalidRequest(format!("The request is not valid: {e}")))
}

/// Makes a device's link to the file an S3 URL names, valid for the given seconds (the engine's
/// signed OTA links).
pub type Presign<'a> = dyn Fn(&str, i64) -> String + 'a;

fn secs(t: Timestamp) -> i64 {
    t.millis().div_euclid(1000)
}

/// The members of a `JobExecutionSummary`, which a `JobExecution` has too.
fn summary_fields(e: &Execution) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("jobId".into(), json!(e.job_id));
    m.insert("queuedAt".into(), json!(secs(e.queued_at)));
    if let Some(s) = e.started_at {
        m.insert("startedAt".into(), json!(secs(s)));
    }
    m.insert("lastUpdatedAt".into(), json!(secs(e.last_updated_at)));
    m.insert("versionNumber".into(), json!(e.version));
    m.insert("executionNumber".into(), json!(e.number));
    m
}

fn check_step(step: Option<i64>) -> Result<(), JobsError> {
    if let Some(s) = step {
        check_range("stepTimeoutInMinutes", s, 1, MAX_TIMEOUT_MINUTES)?;
    }
    Ok(())
}

impl Jobs {
    /// GetPendingJobExecutions: (IN_PROGRESS, QUEUED), each oldest first.
    pub fn pending(&self, thing: &str) -> (Vec<&Execution>, Vec<&Execution>) {
        let mut all: Vec<&Execution> =
            self.executions_of_thing(thing).into_iter().filter(|e| !e.status.is_terminal()).collect();
        all.sort_by(|a, b| (a.queued_at, &a.job_id).cmp(&(b.queued_at, &b.job_id)));
        all.into_iter().partition(|e| e.status == ExecStatus::InProgress)
    }

    fn head(&self, thing: &str) -> Option<&Execution> {
        let item = self.pending_of(thing).into_iter().next()?;
        self.current(thing, &item.job)
    }

    fn timers_for_start(&self, e: &mut Execution, now: Timestamp) {
        if let Some(m) = self
            .jobs
            .get(&e.job_id)
            .and_then(|j| j.spec.timeout_config.as_ref())
            .and_then(|t| t.in_progress_timeout_in_minutes)
        {
            e.timeout_at = Some(Timestamp::from_millis(now.millis() + m * self.minute_ms));
        }
    }

    /// StartNextPendingJobExecution: the head of the pending list, moved to IN_PROGRESS if it was
    /// QUEUED (an IN_PROGRESS head is returned unchanged); `None` when nothing is pending.
    pub fn start_next(
        &mut self,
        thing: &str,
        req: &DeviceRequest,
        now: Timestamp,
    ) -> Result<(Option<Execution>, Effects), JobsError> {
        if let Some(d) = &req.status_details {
            config::check_status_details(d)?;
        }
        check_step(req.step_timeout_in_minutes)?;
        let mut fx = Effects::default();
        let Some(head) = self.head(thing) else { return Ok((None, fx)) };
        if head.status == ExecStatus::InProgress {
            return Ok((Some(head.clone()), fx));
        }
        let mut e = head.clone();
        e.status = ExecStatus::InProgress;
        e.started_at = Some(now);
        e.last_updated_at = now;
        e.version += 1;
        if let Some(d) = &req.status_details {
            e.status_details = d.clone();
        }
        self.timers_for_start(&mut e, now);
        if let Some(m) = req.step_timeout_in_minutes {
            e.step_timeout_at = Some(Timestamp::from_millis(now.millis() + m * self.minute_ms));
        }
        self.put_exec(&mut fx, e.clone());
        Ok((Some(e), fx))
    }

    /// DescribeJobExecution from a device: `job` may be `$next` (then `None` when nothing is
    /// pending). A terminal execution is `TerminalStateReached`, as AWS answers devices.
    pub fn describe_for_device(
        &self,
        thing: &str,
        job: &str,
        number: Option<i64>,
    ) -> Result<Option<&Execution>, JobsError> {
        if job == "$next" {
            return Ok(self.head(thing));
        }
        let e = self.execution(job, thing, number)?;
        if e.status.is_terminal() {
            return Err(JobsError::TerminalState(format!(
                "Job execution of job {job} on thing {thing} is in the terminal state {}",
                e.status.as_str()
            )));
        }
        Ok(Some(e))
    }

    /// UpdateJobExecution from a device.
    pub fn update_execution(
        &mut self,
        thing: &str,
        job: &str,
        req: &DeviceRequest,
        now: Timestamp,
    ) -> Result<(Execution, Effects), JobsError> {
        let status = req.status.as_deref().ok_or_else(|| {
            JobsError::InvalidRequest("status is required: IN_PROGRESS, SUCCEEDED, FAILED or REJECTED".into())
        })?;
        let to = ExecStatus::parse(status)
            .filter(|s| {
                matches!(s, ExecStatus::InProgress | ExecStatus::Succeeded | ExecStatus::Failed | ExecStatus::Rejected)
            })
            .ok_or_else(|| {
                JobsError::InvalidRequest(format!(
                    "status '{status}' cannot be set by a device; use IN_PROGRESS, SUCCEEDED, FAILED or REJECTED"
                ))
            })?;
        if let Some(d) = &req.status_details {
            config::check_status_details(d)?;
        }
        check_step(req.step_timeout_in_minutes)?;
        let current =
            self.execution(job, thing, req.execution_number).map_err(|_| exec_not_found(job, thing))?;
        if current.status.is_terminal() {
            return Err(JobsError::InvalidStateTransition {
                message: format!(
                    "Job execution of job {job} on thing {thing} is {} and cannot be moved to {status}",
                    current.status.as_str()
                ),
                state: Some(current.state()),
            });
        }
        if req.execution_number.is_some_and(|n| self.current(thing, job).is_some_and(|c| c.number != n)) {
            return Err(JobsError::InvalidStateTransition {
                message: "Only the newest attempt of a job execution can be updated".into(),
                state: Some(current.state()),
            });
        }
        if let Some(v) = req.expected_version
            && v != current.version
        {
            return Err(JobsError::VersionConflict {
                message: format!("The job execution's version is {}, not the expected {v}", current.version),
                state: Some(current.state()),
            });
        }
        let mut e = current.clone();
        let mut fx = Effects::default();
        e.version += 1;
        e.last_updated_at = now;
        if let Some(d) = &req.status_details {
            e.status_details = d.clone();
        }
        if to == ExecStatus::InProgress {
            if e.status == ExecStatus::Queued {
                e.started_at = Some(now);
                self.timers_for_start(&mut e, now);
            }
            e.status = to;
            if let Some(m) = req.step_timeout_in_minutes {
                e.step_timeout_at = Some(Timestamp::from_millis(now.millis() + m * self.minute_ms));
            }
            self.put_exec(&mut fx, e.clone());
        } else {
            e.status = to;
            e.timeout_at = None;
            e.step_timeout_at = None;
            self.finished(&mut fx, e.clone(), now);
            self.settle(&mut fx, job, now);
        }
        Ok((e, fx))
    }

    // ------------------------------------------------------------ documents

    /// A job's document as a device gets it, presigned URLs replaced by links valid for the job's
    /// `presignedUrlConfig.expiresInSec` (`None` if the job is gone).
    pub fn document_for_device(&self, job: &str, presign: &Presign<'_>) -> Option<String> {
        let spec = &self.jobs.get(job)?.spec;
        let ttl = spec
            .presigned_url_config
            .as_ref()
            .and_then(|p| p.get("expiresInSec"))
            .and_then(Value::as_i64)
            .unwrap_or(config::DEFAULT_LINK_SECS);
        Some(config::substitute_presigned(spec.document.as_deref()?, &|url| presign(url, ttl)))
    }

    /// `JobExecutionSummary` as devices get it.
    pub fn summary_json(e: &Execution) -> Value {
        Value::Object(summary_fields(e))
    }

    /// `JobExecution` as devices get it (MQTT: the document as an object; HTTP: as a string, with
    /// `approximateSecondsBeforeTimedOut`).
    pub fn execution_json(
        &self,
        e: &Execution,
        include_doc: bool,
        http: bool,
        now: Timestamp,
        presign: &Presign<'_>,
    ) -> Value {
        // The summary's members, plus the thing, the document, the status and its details.
        let mut m = summary_fields(e);
        m.insert("thingName".into(), json!(e.thing));
        if include_doc && let Some(doc) = self.document_for_device(&e.job_id, presign) {
            let v = if http { json!(doc) } else { serde_json::from_str(&doc).unwrap_or(Value::String(doc)) };
            m.insert("jobDocument".into(), v);
        }
        m.insert("status".into(), json!(e.status.as_str()));
        if !e.status_details.is_empty() || !http {
            m.insert("statusDetails".into(), json!(e.status_details));
        }
        if http && let Some(d) = e.deadline() {
            m.insert(
                "approximateSecondsBeforeTimedOut".into(),
                json!(((d.millis() - now.millis()) / 1000).max(0)),
            );
        }
        Value::Object(m)
    }

    /// An execution's state as UpdateJobExecution's `executionState`.
    pub fn state_json(state: &ExecState) -> Value {
        json!({
            "status": state.status.as_str(),
            "statusDetails": state.status_details,
            "versionNumber": state.version,
        })
    }

    /// The `notify` and `notify-next` messages (topic, payload) for every thing whose pending list
    /// changed in `fx`: `notify` when an execution joined or left it, `notify-next` when its head
    /// changed.
    pub fn notifications(&self, fx: &Effects, now: Timestamp, presign: &Presign<'_>) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        let ts = secs(now);
        for (thing, before) in &fx.before {
            let after = self.pending_of(thing);
            let key = |v: &[PendingItem]| {
                let mut k: Vec<(String, i64)> = v.iter().map(|p| (p.job.clone(), p.number)).collect();
                k.sort();
                k
            };
            if key(before) != key(&after) {
                let (running, queued) = self.pending(thing);
                let mut jobs = Map::new();
                let mut left = 10usize;
                for (name, list) in [("IN_PROGRESS", running), ("QUEUED", queued)] {
                    let items: Vec<Value> = list.iter().take(left).map(|e| Self::summary_json(e)).collect();
                    left -= items.len();
                    if !items.is_empty() {
                        jobs.insert(name.into(), Value::Array(items));
                    }
                }
                out.push((
                    format!("$aws/things/{thing}/jobs/notify"),
                    json!({"timestamp": ts, "jobs": jobs}),
                ));
            }
            let head = |v: &[PendingItem]| v.first().map(|p| (p.job.clone(), p.number));
            if head(before) != head(&after) {
                let payload = match self.head(thing) {
                    Some(e) => {
                        json!({"timestamp": ts, "execution": self.execution_json(e, true, false, now, presign)})
                    }
                    None => json!({"timestamp": ts}),
                };
                out.push((format!("$aws/things/{thing}/jobs/notify-next"), payload));
            }
        }
        out
    }

    /// Whether a job still takes device updates (for the HTTP layer's messages).
    pub fn is_active(&self, job: &str) -> bool {
        self.jobs.get(job).is_some_and(|j| j.status == JobStatus::InProgress)
    }
}

impl JobsError {
    /// The code a device's rejected reply carries.
    pub fn device_code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::AlreadyExists { .. } | Self::LimitExceeded(_) => "InvalidRequest",
            Self::NotFound(_) => "ResourceNotFound",
            Self::InvalidStateTransition { .. } => "InvalidStateTransition",
            Self::VersionConflict { .. } => "VersionMismatch",
            Self::TerminalState(_) => "TerminalStateReached",
        }
    }

    /// The rejected reply a device gets on MQTT.
    pub fn rejected_json(&self, client_token: Option<&str>, now: Timestamp) -> Value {
        let mut m = Map::new();
        m.insert("code".into(), json!(self.device_code()));
        m.insert("message".into(), json!(self.to_string()));
        if let Some(t) = client_token {
            m.insert("clientToken".into(), json!(t));
        }
        m.insert("timestamp".into(), json!(secs(now)));
        if let Self::InvalidStateTransition { state: Some(s), .. }
        | Self::VersionConflict { state: Some(s), .. } = self
        {
            m.insert("executionState".into(), Jobs::state_json(s));
        }
        Value::Object(m)
    }
}
