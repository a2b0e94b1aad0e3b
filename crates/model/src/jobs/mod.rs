//! AWS IoT Jobs: jobs, their executions on things, job templates, and the execution state machine.
//!
//! [`Jobs`] is the whole state. Every operation decides under the caller's lock and returns
//! [`Effects`]: the durable changes (`JobChange`) and, for every thing whose pending executions it
//! touched, what the list looked like before — from which [`Jobs::notifications`] derives the
//! `notify` and `notify-next` messages AWS sends (only when the pending set, or its head, changed).
//!
//! - [`config`]: CreateJob's members and their checks; document parameter and presigned-URL
//!   substitution.
//! - `control`: the control plane's operations (jobs, executions, templates, tags).
//! - [`device`]: what devices call (GetPendingJobExecutions, StartNextPendingJobExecution,
//!   DescribeJobExecution, UpdateJobExecution) and the MQTT documents.
//! - [`timers`]: what happens with time: rollout pacing, in-progress and step timeouts, retries,
//!   abort criteria, completion, and continuous jobs following their groups.
//! - [`schedule`]: scheduled jobs (`schedulingConfig`): SCHEDULED until the start, the end
//!   behaviour at the end.
//! - `effects`: what a decision produced — durable changes, touched pending lists, job events.
//!
//! Time is passed in (`now`); a job "minute" for timeouts is [`Jobs::minute_ms`] (60,000 unless a
//! test shortens it).

pub mod config;
mod control;
pub mod device;
mod effects;
pub mod schedule;
pub mod timers;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

pub use self::config::{JobSpec, TargetSelection};
use self::effects::PendingItem;
pub use self::effects::{Effects, JobChange, JobEvent, JobOperation};
use crate::Timestamp;
use crate::names::ValidationError;
use crate::tags::Tags;

/// A job's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Executions are being created and run.
    InProgress,
    /// Canceled (by CancelJob or its abort criteria).
    Canceled,
    /// A SNAPSHOT job whose every execution ended.
    Completed,
    /// Being deleted.
    DeletionInProgress,
    /// Waiting for its scheduled start.
    Scheduled,
}

impl JobStatus {
    /// AWS's word.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "IN_PROGRESS",
            Self::Canceled => "CANCELED",
            Self::Completed => "COMPLETED",
            Self::DeletionInProgress => "DELETION_IN_PROGRESS",
            Self::Scheduled => "SCHEDULED",
        }
    }

    /// Parses AWS's word.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::InProgress, Self::Canceled, Self::Completed, Self::DeletionInProgress, Self::Scheduled]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A job execution's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecStatus {
    /// Waiting for the device.
    Queued,
    /// The device is working on it.
    InProgress,
    /// Done (device).
    Succeeded,
    /// Failed (device); may be retried.
    Failed,
    /// The timer ran out; may be retried.
    TimedOut,
    /// The device refused it.
    Rejected,
    /// The thing left the job's target group.
    Removed,
    /// Canceled by the job's owner or its abort criteria.
    Canceled,
}

impl ExecStatus {
    /// Every status, in AWS's order.
    pub const ALL: [Self; 8] = [
        Self::Queued,
        Self::InProgress,
        Self::Succeeded,
        Self::Failed,
        Self::TimedOut,
        Self::Rejected,
        Self::Removed,
        Self::Canceled,
    ];

    /// AWS's word.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::InProgress => "IN_PROGRESS",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::TimedOut => "TIMED_OUT",
            Self::Rejected => "REJECTED",
            Self::Removed => "REMOVED",
            Self::Canceled => "CANCELED",
        }
    }

    /// Parses AWS's word.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether the execution has ended.
    pub const fn is_terminal(self) -> bool {
        !matches!(self, Self::Queued | Self::InProgress)
    }
}

/// Why a jobs operation was refused. The HTTP layer and the MQTT replies map these to AWS's codes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobsError {
    /// `InvalidRequestException` / `InvalidRequest`.
    #[error("{0}")]
    InvalidRequest(String),
    /// `ResourceNotFoundException` / `ResourceNotFound`.
    #[error("{0}")]
    NotFound(String),
    /// `ResourceAlreadyExistsException`.
    #[error("{message}")]
    AlreadyExists {
        /// What a person reads.
        message: String,
        /// The existing resource's id.
        id: String,
        /// Its ARN.
        arn: String,
    },
    /// `InvalidStateTransitionException` / `InvalidStateTransition`.
    #[error("{message}")]
    InvalidStateTransition {
        /// What a person reads.
        message: String,
        /// The execution's state, when an execution refused.
        state: Option<ExecState>,
    },
    /// `VersionConflictException` / `VersionMismatch`.
    #[error("{message}")]
    VersionConflict {
        /// What a person reads.
        message: String,
        /// The execution's state.
        state: Option<ExecState>,
    },
    /// `TerminalStateException` / `TerminalStateReached`.
    #[error("{0}")]
    TerminalState(String),
    /// `LimitExceededException`.
    #[error("{0}")]
    LimitExceeded(String),
}

impl From<ValidationError> for JobsError {
    fn from(e: ValidationError) -> Self {
        Self::InvalidRequest(e.to_string())
    }
}

impl From<crate::tags::TagError> for JobsError {
    fn from(e: crate::tags::TagError) -> Self {
        Self::InvalidRequest(e.to_string())
    }
}

/// An execution's state as a refused update reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecState {
    /// Status.
    pub status: ExecStatus,
    /// Status details.
    pub status_details: BTreeMap<String, String>,
    /// Version.
    pub version: i64,
}

/// A job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Id.
    pub id: String,
    /// ARN.
    pub arn: String,
    /// What it was created with (and UpdateJob changed).
    pub spec: JobSpec,
    /// Status.
    pub status: JobStatus,
    /// Whether CancelJob was forced.
    #[serde(default)]
    pub force_canceled: bool,
    /// CancelJob's reason code.
    #[serde(default)]
    pub reason_code: Option<String>,
    /// CancelJob's (or the abort criteria's) comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub last_updated_at: Timestamp,
    /// Completed or canceled.
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
    /// Tags.
    #[serde(default)]
    pub tags: Tags,
    /// The things a SNAPSHOT job targets (its groups expanded when it was created), in rollout
    /// order; for a CONTINUOUS job the groups are followed instead.
    #[serde(default)]
    pub things: Vec<String>,
    /// Rollout progress (rebuilt after a restart).
    #[serde(skip)]
    pub rollout: Rollout,
}

/// Where a job's rollout stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rollout {
    /// Things whose execution has not been created yet.
    pub waiting: VecDeque<String>,
    /// Executions that may be created now.
    pub credit: f64,
    /// When the credit was last topped up.
    pub last_ms: i64,
    /// Executions created by this rollout.
    pub notified: i64,
    /// How many times the exponential rate has grown.
    pub increases: u32,
    /// `notified` and succeeded counts when the rate last grew.
    pub at_increase: (i64, i64),
}

/// One execution of a job on a thing (`number` grows with each retry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// Job id.
    pub job_id: String,
    /// Thing name.
    pub thing: String,
    /// `executionNumber`, from 1.
    pub number: i64,
    /// Status.
    pub status: ExecStatus,
    /// What the device said about its progress.
    #[serde(default)]
    pub status_details: BTreeMap<String, String>,
    /// Queued.
    pub queued_at: Timestamp,
    /// Started (entered IN_PROGRESS).
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    /// Last changed.
    pub last_updated_at: Timestamp,
    /// `versionNumber`, from 1.
    pub version: i64,
    /// Whether it was canceled while IN_PROGRESS.
    #[serde(default)]
    pub force_canceled: bool,
    /// Which retry this is (0 for the first attempt).
    #[serde(default)]
    pub retry_attempt: i64,
    /// When the in-progress timer expires.
    #[serde(default)]
    pub timeout_at: Option<Timestamp>,
    /// When the step timer expires.
    #[serde(default)]
    pub step_timeout_at: Option<Timestamp>,
}

impl Execution {
    /// Status, details and version, as a refusal reports them.
    pub fn state(&self) -> ExecState {
        ExecState { status: self.status, status_details: self.status_details.clone(), version: self.version }
    }

    /// The earlier of the two timers.
    pub fn deadline(&self) -> Option<Timestamp> {
        match (self.timeout_at, self.step_timeout_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A job template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobTemplate {
    /// Id.
    pub id: String,
    /// ARN.
    pub arn: String,
    /// The settings jobs made from it start with (no targets).
    pub spec: JobSpec,
    /// Created.
    pub created_at: Timestamp,
    /// Tags.
    #[serde(default)]
    pub tags: Tags,
}

/// Per-job execution counts by status (latest attempt per thing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts(pub [i64; 8]);

impl Counts {
    /// How many executions have `status`.
    pub fn of(&self, status: ExecStatus) -> i64 {
        self.0[status as usize]
    }

    fn add(&mut self, status: ExecStatus, n: i64) {
        self.0[status as usize] += n;
    }

    /// Executions that ran to an end the device or the timer chose.
    pub fn executed(&self) -> i64 {
        self.of(ExecStatus::Succeeded)
            + self.of(ExecStatus::Failed)
            + self.of(ExecStatus::Rejected)
            + self.of(ExecStatus::TimedOut)
    }

    /// QUEUED plus IN_PROGRESS.
    pub fn pending(&self) -> i64 {
        self.of(ExecStatus::Queued) + self.of(ExecStatus::InProgress)
    }

    /// Every execution.
    pub fn total(&self) -> i64 {
        self.0.iter().sum()
    }
}

/// Every job, execution and template.
#[derive(Debug, Clone)]
pub struct Jobs {
    jobs: BTreeMap<String, Job>,
    /// thing → job → attempts (oldest first; the last is the current one).
    execs: HashMap<String, BTreeMap<String, Vec<Execution>>>,
    counts: HashMap<String, Counts>,
    templates: BTreeMap<String, JobTemplate>,
    /// How long a job "minute" is for timeouts, in milliseconds.
    pub minute_ms: i64,
    /// The most executions a rollout creates per minute whatever its configuration (strict-AWS
    /// mode: AWS's own pace, [`crate::quotas::Quota::JobRolloutRate`]); `None`: as configured.
    pub rollout_ceiling: Option<f64>,
}

impl Default for Jobs {
    fn default() -> Self {
        Self {
            jobs: BTreeMap::new(),
            execs: HashMap::new(),
            counts: HashMap::new(),
            templates: BTreeMap::new(),
            minute_ms: 60_000,
            rollout_ceiling: None,
        }
    }
}

fn job_not_found(id: &str) -> JobsError {
    JobsError::NotFound(format!("Job {id} does not exist"))
}

fn exec_not_found(job: &str, thing: &str) -> JobsError {
    JobsError::NotFound(format!("Job execution of job {job} on thing {thing} does not exist"))
}

impl Jobs {
    /// The state holding what storage loaded; rollouts resume where they were (the things of a
    /// SNAPSHOT job that have no execution yet wait again).
    pub fn load(
        jobs: Vec<Job>,
        executions: Vec<Execution>,
        templates: Vec<JobTemplate>,
        now: Timestamp,
        minute_ms: i64,
    ) -> Self {
        let mut me = Self { minute_ms: minute_ms.max(1), ..Self::default() };
        for j in jobs {
            me.counts.insert(j.id.clone(), Counts::default());
            me.jobs.insert(j.id.clone(), j);
        }
        let mut execs = executions;
        execs.sort_by(|a, b| (&a.thing, &a.job_id, a.number).cmp(&(&b.thing, &b.job_id, b.number)));
        for e in execs {
            if !me.jobs.contains_key(&e.job_id) {
                continue;
            }
            let attempts = me.execs.entry(e.thing.clone()).or_default().entry(e.job_id.clone()).or_default();
            if let Some(prev) = attempts.last() {
                me.counts.entry(e.job_id.clone()).or_default().add(prev.status, -1);
            }
            me.counts.entry(e.job_id.clone()).or_default().add(e.status, 1);
            attempts.push(e);
        }
        for t in templates {
            me.templates.insert(t.id.clone(), t);
        }
        let ids: Vec<String> = me.jobs.keys().cloned().collect();
        for id in ids {
            let waiting: VecDeque<String> = {
                let job = &me.jobs[&id];
                if !matches!(job.status, JobStatus::InProgress | JobStatus::Scheduled) {
                    continue;
                }
                job.things.iter().filter(|t| me.current(t, &id).is_none()).cloned().collect()
            };
            let job = me.jobs.get_mut(&id).expect("listed");
            job.rollout = Rollout { waiting, credit: 1.0, last_ms: now.millis(), ..Rollout::default() };
        }
        me
    }

    /// One job.
    pub fn job(&self, id: &str) -> Result<&Job, JobsError> {
        self.jobs.get(id).ok_or_else(|| job_not_found(id))
    }

    /// Every job, by id.
    pub fn all(&self) -> impl Iterator<Item = &Job> {
        self.jobs.values()
    }

    /// A job's execution counts.
    pub fn counts(&self, id: &str) -> Counts {
        self.counts.get(id).copied().unwrap_or_default()
    }

    /// The current execution of `job` on `thing`.
    pub fn current(&self, thing: &str, job: &str) -> Option<&Execution> {
        self.execs.get(thing)?.get(job)?.last()
    }

    /// One execution: the current one, or attempt `number`.
    pub fn execution(&self, job: &str, thing: &str, number: Option<i64>) -> Result<&Execution, JobsError> {
        let attempts =
            self.execs.get(thing).and_then(|m| m.get(job)).ok_or_else(|| exec_not_found(job, thing))?;
        match number {
            None => attempts.last().ok_or_else(|| exec_not_found(job, thing)),
            Some(n) => attempts.iter().find(|e| e.number == n).ok_or_else(|| {
                JobsError::NotFound(format!("Job execution {n} of job {job} on thing {thing} does not exist"))
            }),
        }
    }

    /// The current executions of a job, by thing.
    pub fn executions_of_job(&self, job: &str) -> Vec<&Execution> {
        let mut out: Vec<&Execution> =
            self.execs.values().filter_map(|m| m.get(job)).filter_map(|a| a.last()).collect();
        out.sort_by(|a, b| a.thing.cmp(&b.thing));
        out
    }

    /// Every attempt of a job's executions on every thing (for its timeline).
    pub fn attempts_of_job(&self, job: &str) -> Vec<&Execution> {
        let mut out: Vec<&Execution> = self.execs.values().filter_map(|m| m.get(job)).flatten().collect();
        out.sort_by(|a, b| (&a.thing, a.number).cmp(&(&b.thing, b.number)));
        out
    }

    /// The current executions on a thing, by job id.
    pub fn executions_of_thing(&self, thing: &str) -> Vec<&Execution> {
        self.execs.get(thing).map(|m| m.values().filter_map(|a| a.last()).collect()).unwrap_or_default()
    }

    /// One template.
    pub fn template(&self, id: &str) -> Result<&JobTemplate, JobsError> {
        self.templates.get(id).ok_or_else(|| JobsError::NotFound(format!("Job template {id} does not exist")))
    }

    /// Every template, by id.
    pub fn templates(&self) -> impl Iterator<Item = &JobTemplate> {
        self.templates.values()
    }

    // ------------------------------------------------------------ bookkeeping

    fn pending_of(&self, thing: &str) -> Vec<PendingItem> {
        let mut items: Vec<(bool, Timestamp, &Execution)> = self
            .execs
            .get(thing)
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|a| a.last())
            .filter(|e| !e.status.is_terminal())
            .map(|e| (e.status != ExecStatus::InProgress, e.queued_at, e))
            .collect();
        items.sort_by(|a, b| (a.0, a.1, &a.2.job_id).cmp(&(b.0, b.1, &b.2.job_id)));
        items
            .into_iter()
            .map(|(_, _, e)| PendingItem {
                job: e.job_id.clone(),
                number: e.number,
                in_progress: e.status == ExecStatus::InProgress,
            })
            .collect()
    }

    /// Remembers `thing`'s pending list before this operation's first change to it.
    fn touch(&self, fx: &mut Effects, thing: &str) {
        if !fx.before.contains_key(thing) {
            fx.before.insert(thing.to_owned(), self.pending_of(thing));
        }
    }

    /// Stores an execution (a new attempt when its number is new), keeping the counts.
    fn put_exec(&mut self, fx: &mut Effects, e: Execution) {
        self.touch(fx, &e.thing);
        let counts = self.counts.entry(e.job_id.clone()).or_default();
        let attempts = self.execs.entry(e.thing.clone()).or_default().entry(e.job_id.clone()).or_default();
        match attempts.last_mut() {
            Some(last) if last.number == e.number => {
                if !last.status.is_terminal() && e.status.is_terminal() {
                    let job_arn = self.jobs.get(&e.job_id).map(|j| j.arn.clone()).unwrap_or_default();
                    fx.events.push(JobEvent::Execution {
                        execution: Box::new(e.clone()),
                        job_arn,
                        deleted: false,
                    });
                }
                counts.add(last.status, -1);
                *last = e.clone();
            }
            Some(last) => {
                counts.add(last.status, -1);
                attempts.push(e.clone());
            }
            None => attempts.push(e.clone()),
        }
        counts.add(e.status, 1);
        fx.jobs.insert(e.job_id.clone());
        fx.changes.push(JobChange::PutExecution(Box::new(e)));
    }

    /// Records a job event with the job and its counts as they are now.
    fn job_event(&self, fx: &mut Effects, id: &str, operation: JobOperation) {
        if let Some(job) = self.jobs.get(id) {
            fx.events.push(JobEvent::Job { operation, job: Box::new(job.clone()), counts: self.counts(id) });
        }
    }

    fn put_job(&mut self, fx: &mut Effects, job: Job) {
        fx.jobs.insert(job.id.clone());
        fx.changes.push(JobChange::PutJob(Box::new(job.clone())));
        self.jobs.insert(job.id.clone(), job);
    }

    /// A new QUEUED execution (attempt `number`) of `job` on `thing`.
    fn queue(&mut self, fx: &mut Effects, job: &str, thing: &str, number: i64, retry: i64, now: Timestamp) {
        self.put_exec(
            fx,
            Execution {
                job_id: job.to_owned(),
                thing: thing.to_owned(),
                number,
                status: ExecStatus::Queued,
                status_details: BTreeMap::new(),
                queued_at: now,
                started_at: None,
                last_updated_at: now,
                version: 1,
                force_canceled: false,
                retry_attempt: retry,
                timeout_at: None,
                step_timeout_at: None,
            },
        );
    }
}

/// Ends an execution: status, version, timers.
fn end(e: &mut Execution, status: ExecStatus, now: Timestamp) {
    e.status = status;
    e.version += 1;
    e.last_updated_at = now;
    e.timeout_at = None;
    e.step_timeout_at = None;
}
