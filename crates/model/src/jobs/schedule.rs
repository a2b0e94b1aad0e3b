//! Scheduled jobs (`schedulingConfig`): a job whose `startTime` lies ahead is `SCHEDULED` and
//! creates no execution until then; at `endTime` its `endBehavior` applies — `STOP_ROLLOUT` (no
//! further executions are created; those created run on), `CANCEL` or `FORCE_CANCEL` (as CancelJob).
//!
//! Times are UTC `YYYY-MM-DDTHH:MM` as AWS writes them (seconds and a trailing `Z` are accepted
//! too). AWS's minimum distances — start at least 30 minutes ahead, end at least 30 minutes after
//! the start — are counted in job minutes ([`Jobs::minute_ms`]), so tests can shorten them like
//! timeouts; the maxima (start within a year, end within two years of the start) are real time.
//! `maintenanceWindows` are kept and shown, not acted on (see docs/compat.md).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Effects, JobStatus, Jobs, JobsError};
use crate::Timestamp;
use crate::names::ValidationError;
use crate::time::parse_utc_minute;

const DAY_MS: i64 = 86_400_000;

/// What happens at a scheduled job's `endTime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EndBehavior {
    /// No further executions are created; those created run on.
    #[default]
    StopRollout,
    /// CancelJob.
    Cancel,
    /// CancelJob with force.
    ForceCancel,
}

/// `schedulingConfig`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulingConfig {
    /// When the rollout begins (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// When the rollout ends (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// What happens at `endTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_behavior: Option<EndBehavior>,
    /// Kept and shown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance_windows: Vec<Value>,
}

/// A schedule's times, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Start.
    pub start: Option<Timestamp>,
    /// End.
    pub end: Option<Timestamp>,
    /// At the end.
    pub end_behavior: EndBehavior,
}

fn time(member: &str, s: &Option<String>) -> Result<Option<Timestamp>, ValidationError> {
    s.as_deref()
        .map(|t| {
            parse_utc_minute(t).ok_or_else(|| {
                ValidationError::new(member, t, "Member must be a UTC date and time like 2026-12-24T18:00")
            })
        })
        .transpose()
}

impl SchedulingConfig {
    /// The parsed times (as stored: already checked).
    pub fn schedule(&self) -> Schedule {
        Schedule {
            start: time("", &self.start_time).ok().flatten(),
            end: time("", &self.end_time).ok().flatten(),
            end_behavior: self.end_behavior.unwrap_or_default(),
        }
    }

    /// CreateJob's checks, as of `now` with job minutes of `minute_ms`.
    pub fn check(&self, now: Timestamp, minute_ms: i64) -> Result<Schedule, JobsError> {
        let start = time("schedulingConfig.startTime", &self.start_time)?;
        let end = time("schedulingConfig.endTime", &self.end_time)?;
        let half_hour = 30 * minute_ms;
        if let Some(s) = start {
            if s.millis() < now.millis() + half_hour {
                return Err(JobsError::InvalidRequest(format!(
                    "schedulingConfig.startTime {} must be at least 30 minutes from now",
                    self.start_time.as_deref().unwrap_or_default()
                )));
            }
            if s.millis() > now.millis() + 366 * DAY_MS {
                return Err(JobsError::InvalidRequest(format!(
                    "schedulingConfig.startTime {} must be within a year from now",
                    self.start_time.as_deref().unwrap_or_default()
                )));
            }
        }
        if let Some(e) = end {
            let from = start.unwrap_or(now);
            if e.millis() < from.millis() + half_hour {
                return Err(JobsError::InvalidRequest(format!(
                    "schedulingConfig.endTime {} must be at least 30 minutes after the {}",
                    self.end_time.as_deref().unwrap_or_default(),
                    if start.is_some() { "startTime" } else { "current time" }
                )));
            }
            if e.millis() > from.millis() + 2 * 366 * DAY_MS {
                return Err(JobsError::InvalidRequest(format!(
                    "schedulingConfig.endTime {} must be within two years of the start",
                    self.end_time.as_deref().unwrap_or_default()
                )));
            }
        } else if self.end_behavior.is_some() {
            return Err(JobsError::InvalidRequest(
                "schedulingConfig.endBehavior needs an endTime to act at".into(),
            ));
        }
        Ok(Schedule { start, end, end_behavior: self.end_behavior.unwrap_or_default() })
    }
}

impl Jobs {
    /// A job's schedule, when it has one.
    pub fn schedule_of(&self, id: &str) -> Option<Schedule> {
        self.jobs.get(id)?.spec.scheduling_config.as_ref().map(SchedulingConfig::schedule)
    }

    /// Whether a job's rollout window has closed (its `endTime` passed).
    pub(super) fn rollout_closed(&self, id: &str, now: Timestamp) -> bool {
        self.schedule_of(id).and_then(|s| s.end).is_some_and(|e| e <= now)
    }

    /// Whether some schedule still has to act.
    pub(super) fn has_schedules(&self) -> bool {
        self.jobs.values().any(|j| {
            j.spec.scheduling_config.is_some()
                && matches!(j.status, JobStatus::Scheduled | JobStatus::InProgress)
        })
    }

    /// Starts the scheduled jobs whose start time came, and applies the end behaviour of those whose
    /// end time came.
    pub(super) fn run_schedules(&mut self, fx: &mut Effects, now: Timestamp) {
        let due: Vec<(String, JobStatus, Schedule)> = self
            .jobs
            .values()
            .filter(|j| matches!(j.status, JobStatus::Scheduled | JobStatus::InProgress))
            .filter_map(|j| Some((j.id.clone(), j.status, j.spec.scheduling_config.as_ref()?.schedule())))
            .collect();
        for (id, status, s) in due {
            if status == JobStatus::Scheduled && s.start.is_none_or(|t| t <= now) {
                let mut job = self.jobs[&id].clone();
                job.status = JobStatus::InProgress;
                job.last_updated_at = now;
                job.rollout.credit = 1.0;
                job.rollout.last_ms = now.millis();
                self.put_job(fx, job);
                self.release(fx, &id, now);
            }
            if s.end.is_none_or(|t| t > now) || self.jobs[&id].status != JobStatus::InProgress {
                continue;
            }
            let comment =
                || Some("Canceled at the end of the job's schedule (schedulingConfig.endTime)".to_owned());
            match s.end_behavior {
                // Acted on once: nothing waits any more (every later tick finds it so).
                EndBehavior::StopRollout if self.jobs[&id].rollout.waiting.is_empty() => continue,
                EndBehavior::StopRollout => {
                    if let Some(job) = self.jobs.get_mut(&id) {
                        job.rollout.waiting.clear();
                    }
                }
                EndBehavior::Cancel => self.cancel(fx, &id, false, None, comment(), now),
                EndBehavior::ForceCancel => self.cancel(fx, &id, true, None, comment(), now),
            }
            self.settle(fx, &id, now);
        }
    }
}
