//! AWS IoT Jobs: jobs, their executions on things, job templates, and the execution state machine.
//!
//! [`Jobs`] is the whole state. Every operation decides under the caller's lock and returns
//! [`Effects`]: the durable changes (`JobChange`) and, for every thing whose pending executions it
//! touched, what the list looked like before — from which [`Jobs::notifications`] derives the
//! `notify` and `notify-next` messages AWS sends (only when the pending set, or its head, changed).
//!
//! - [`config`]: CreateJob's members and their checks; document parameter and presigned-URL
//!   substitution.
//! - [`device`]: what devices call (GetPendingJobExecutions, StartNextPendingJobExecution,
//!   DescribeJobExecution, UpdateJobExecution) and the MQTT documents.
//! - [`timers`]: what happens with time: rollout pacing, in-progress and step timeouts, retries,
//!   abort criteria, completion, and continuous jobs following their groups.
//!
//! Time is passed in (`now`); a job "minute" for timeouts is [`Jobs::minute_ms`] (60,000 unless a
//! test shortens it).

pub mod config;
pub mod device;
pub mod timers;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

pub use self::config::{JobSpec, TargetSelection};
use crate::Timestamp;
use crate::names::ValidationError;
use crate::tags::{self, Tags};

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

/// A durable change.
#[derive(Debug, Clone, PartialEq)]
pub enum JobChange {
    /// Store a job.
    PutJob(Box<Job>),
    /// Remove a job and all its executions.
    DeleteJob(String),
    /// Store an execution.
    PutExecution(Box<Execution>),
    /// Remove one execution.
    DeleteExecution {
        /// Job.
        job: String,
        /// Thing.
        thing: String,
        /// Execution number.
        number: i64,
    },
    /// Store a template.
    PutTemplate(Box<JobTemplate>),
    /// Remove a template.
    DeleteTemplate(String),
}

/// One pending execution, as the pending list orders it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingItem {
    job: String,
    number: i64,
    in_progress: bool,
}

/// What an operation changed: durable changes, and the pending lists it touched (before).
#[derive(Debug, Default)]
pub struct Effects {
    /// Changes to make durable, in order.
    pub changes: Vec<JobChange>,
    before: BTreeMap<String, Vec<PendingItem>>,
    /// Jobs whose counts or status changed (for the console).
    pub jobs: BTreeSet<String>,
}

impl Effects {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The things whose pending executions may have changed.
    pub fn things(&self) -> impl Iterator<Item = &str> {
        self.before.keys().map(String::as_str)
    }
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
}

impl Default for Jobs {
    fn default() -> Self {
        Self {
            jobs: BTreeMap::new(),
            execs: HashMap::new(),
            counts: HashMap::new(),
            templates: BTreeMap::new(),
            minute_ms: 60_000,
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
                if job.status != JobStatus::InProgress {
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

    // ------------------------------------------------------------ control plane

    /// CreateJob. `things` are the targets' things (groups expanded by the caller, who knows the
    /// registry); they are queued as the rollout allows, the first at once.
    pub fn create_job(
        &mut self,
        id: &str,
        spec: JobSpec,
        things: Vec<String>,
        new_tags: &[(String, String)],
        arn: String,
        now: Timestamp,
    ) -> Result<Effects, JobsError> {
        config::check_job_id("jobId", id)?;
        if let Some(j) = self.jobs.get(id) {
            let message = if j.status == JobStatus::DeletionInProgress {
                format!("Job {id} is being deleted; its id can be used again once the deletion completes")
            } else {
                format!("Job {id} already exists")
            };
            return Err(JobsError::AlreadyExists { message, id: id.to_owned(), arn });
        }
        check_spec(&spec)?;
        let tags =
            tags::merged(&Tags::new(), new_tags).map_err(|e| JobsError::InvalidRequest(e.to_string()))?;
        let mut seen = BTreeSet::new();
        let things: Vec<String> = things.into_iter().filter(|t| seen.insert(t.clone())).collect();
        let job = Job {
            id: id.to_owned(),
            arn,
            status: JobStatus::InProgress,
            force_canceled: false,
            reason_code: None,
            comment: None,
            created_at: now,
            last_updated_at: now,
            completed_at: None,
            tags,
            things: if spec.target_selection == TargetSelection::Snapshot {
                things.clone()
            } else {
                Vec::new()
            },
            rollout: Rollout {
                waiting: things.into(),
                credit: 1.0,
                last_ms: now.millis(),
                ..Rollout::default()
            },
            spec,
        };
        let mut fx = Effects::default();
        self.counts.insert(id.to_owned(), Counts::default());
        self.put_job(&mut fx, job);
        self.release(&mut fx, id, now);
        self.settle(&mut fx, id, now);
        Ok(fx)
    }

    /// UpdateJob: description, presigned URL settings, rollout, abort, timeout and retry settings.
    pub fn update_job(
        &mut self,
        id: &str,
        update: config::JobUpdate,
        now: Timestamp,
    ) -> Result<Effects, JobsError> {
        let mut job = self.job(id)?.clone();
        if job.status == JobStatus::DeletionInProgress {
            return Err(JobsError::InvalidStateTransition {
                message: format!("Job {id} is being deleted and cannot be updated"),
                state: None,
            });
        }
        let s = &mut job.spec;
        if let Some(d) = update.description {
            s.description = Some(d);
        }
        if let Some(p) = update.presigned_url_config {
            s.presigned_url_config = Some(p);
        }
        if let Some(r) = update.job_executions_rollout_config {
            s.job_executions_rollout_config = Some(r);
        }
        if let Some(a) = update.abort_config {
            s.abort_config = Some(a);
        }
        if let Some(t) = update.timeout_config {
            s.timeout_config = Some(t);
        }
        if let Some(r) = update.job_executions_retry_config {
            s.job_executions_retry_config = Some(r);
        }
        config::check_settings(&job.spec)?;
        let mut fx = Effects::default();
        if job != self.jobs[id] {
            job.last_updated_at = now;
            self.put_job(&mut fx, job);
        }
        Ok(fx)
    }

    /// CancelJob: QUEUED executions are canceled, and IN_PROGRESS ones too with `force`.
    pub fn cancel_job(
        &mut self,
        id: &str,
        force: bool,
        reason_code: Option<String>,
        comment: Option<String>,
        now: Timestamp,
    ) -> Result<Effects, JobsError> {
        if let Some(r) = &reason_code {
            config::REASON_CODE.check("reasonCode", r)?;
        }
        if let Some(c) = &comment {
            config::DESCRIPTION.check("comment", c)?;
        }
        let job = self.job(id)?;
        match job.status {
            JobStatus::Completed => {
                return Err(JobsError::InvalidStateTransition {
                    message: format!("Job {id} has completed and cannot be canceled"),
                    state: None,
                });
            }
            JobStatus::DeletionInProgress => {
                return Err(JobsError::InvalidStateTransition {
                    message: format!("Job {id} is being deleted and cannot be canceled"),
                    state: None,
                });
            }
            JobStatus::Canceled if !force || job.force_canceled => return Ok(Effects::default()),
            _ => {}
        }
        let mut fx = Effects::default();
        self.cancel(&mut fx, id, force, reason_code, comment, now);
        Ok(fx)
    }

    fn cancel(
        &mut self,
        fx: &mut Effects,
        id: &str,
        force: bool,
        reason_code: Option<String>,
        comment: Option<String>,
        now: Timestamp,
    ) {
        let Some(mut job) = self.jobs.get(id).cloned() else { return };
        job.status = JobStatus::Canceled;
        job.force_canceled |= force;
        if reason_code.is_some() {
            job.reason_code = reason_code;
        }
        if comment.is_some() {
            job.comment = comment;
        }
        job.last_updated_at = now;
        job.completed_at.get_or_insert(now);
        job.rollout.waiting.clear();
        self.put_job(fx, job);
        let cancel: Vec<Execution> = self
            .executions_of_job(id)
            .into_iter()
            .filter(|e| e.status == ExecStatus::Queued || (force && e.status == ExecStatus::InProgress))
            .cloned()
            .collect();
        for mut e in cancel {
            e.force_canceled = e.status == ExecStatus::InProgress;
            end(&mut e, ExecStatus::Canceled, now);
            self.put_exec(fx, e);
        }
    }

    /// DeleteJob: only a COMPLETED or CANCELED job unless `force`; its executions go with it.
    pub fn delete_job(&mut self, id: &str, force: bool) -> Result<Effects, JobsError> {
        let job = self.job(id)?;
        if !force && !matches!(job.status, JobStatus::Completed | JobStatus::Canceled) {
            return Err(JobsError::InvalidStateTransition {
                message: format!(
                    "Job {id} is {}; only a COMPLETED or CANCELED job can be deleted unless force is true",
                    job.status.as_str()
                ),
                state: None,
            });
        }
        if !force && self.counts(id).of(ExecStatus::InProgress) > 0 {
            return Err(JobsError::InvalidStateTransition {
                message: format!("Job {id} still has IN_PROGRESS executions; delete it with force"),
                state: None,
            });
        }
        let mut fx = Effects::default();
        let things: Vec<String> =
            self.execs.iter().filter(|(_, m)| m.contains_key(id)).map(|(t, _)| t.clone()).collect();
        for t in &things {
            self.touch(&mut fx, t);
            if let Some(m) = self.execs.get_mut(t) {
                m.remove(id);
                if m.is_empty() {
                    self.execs.remove(t);
                }
            }
        }
        self.jobs.remove(id);
        self.counts.remove(id);
        fx.jobs.insert(id.to_owned());
        fx.changes.push(JobChange::DeleteJob(id.to_owned()));
        Ok(fx)
    }

    /// AssociateTargetsWithJob: more targets for a CONTINUOUS job in progress; `things` are the
    /// new targets' things.
    pub fn associate_targets(
        &mut self,
        id: &str,
        targets: Vec<String>,
        things: Vec<String>,
        comment: Option<String>,
        now: Timestamp,
    ) -> Result<Effects, JobsError> {
        let mut job = self.job(id)?.clone();
        if job.spec.target_selection != TargetSelection::Continuous {
            return Err(JobsError::InvalidRequest(format!(
                "Job {id} is a SNAPSHOT job; targets can be added only to CONTINUOUS jobs"
            )));
        }
        if job.status != JobStatus::InProgress {
            return Err(JobsError::InvalidStateTransition {
                message: format!(
                    "Job {id} is {}; targets can be added only while it is IN_PROGRESS",
                    job.status.as_str()
                ),
                state: None,
            });
        }
        if let Some(c) = &comment {
            config::DESCRIPTION.check("comment", c)?;
        }
        for t in targets {
            if !job.spec.targets.contains(&t) {
                job.spec.targets.push(t);
            }
        }
        if job.spec.targets.len() > config::MAX_TARGETS {
            return Err(JobsError::LimitExceeded(format!(
                "Job {id} would have {} targets; a job can have at most {}",
                job.spec.targets.len(),
                config::MAX_TARGETS
            )));
        }
        if comment.is_some() {
            job.comment = comment;
        }
        job.last_updated_at = now;
        let mut fx = Effects::default();
        self.put_job(&mut fx, job);
        self.follow(&mut fx, id, things, false, now);
        Ok(fx)
    }

    /// CancelJobExecution: a QUEUED execution, or an IN_PROGRESS one with `force`.
    pub fn cancel_execution(
        &mut self,
        job: &str,
        thing: &str,
        force: bool,
        expected_version: Option<i64>,
        details: Option<BTreeMap<String, String>>,
        now: Timestamp,
    ) -> Result<Effects, JobsError> {
        self.job(job)?;
        let mut e = self.execution(job, thing, None)?.clone();
        if let Some(d) = &details {
            config::check_status_details(d)?;
        }
        if e.status.is_terminal() {
            return Err(JobsError::InvalidStateTransition {
                message: format!("The job execution is already {} and cannot be canceled", e.status.as_str()),
                state: Some(e.state()),
            });
        }
        if let Some(v) = expected_version
            && v != e.version
        {
            return Err(JobsError::VersionConflict {
                message: format!("The job execution's version is {}, not the expected {v}", e.version),
                state: Some(e.state()),
            });
        }
        if e.status == ExecStatus::InProgress && !force {
            return Err(JobsError::InvalidStateTransition {
                message: "The job execution is IN_PROGRESS; cancel it with force=true".into(),
                state: Some(e.state()),
            });
        }
        if let Some(d) = details {
            e.status_details = d;
        }
        e.force_canceled = e.status == ExecStatus::InProgress;
        end(&mut e, ExecStatus::Canceled, now);
        let mut fx = Effects::default();
        self.put_exec(&mut fx, e);
        self.settle(&mut fx, job, now);
        Ok(fx)
    }

    /// DeleteJobExecution: a terminal execution, or any with `force`.
    pub fn delete_execution(
        &mut self,
        job: &str,
        thing: &str,
        number: i64,
        force: bool,
        now: Timestamp,
    ) -> Result<Effects, JobsError> {
        let e = self.execution(job, thing, Some(number))?.clone();
        if !e.status.is_terminal() && !force {
            return Err(JobsError::InvalidStateTransition {
                message: format!(
                    "The job execution is {}; only a terminal execution can be deleted unless force is true",
                    e.status.as_str()
                ),
                state: Some(e.state()),
            });
        }
        let mut fx = Effects::default();
        self.touch(&mut fx, thing);
        let map = self.execs.get_mut(thing).expect("found above");
        let attempts = map.get_mut(job).expect("found above");
        let was_current = attempts.last().is_some_and(|l| l.number == number);
        attempts.retain(|a| a.number != number);
        let counts = self.counts.entry(job.to_owned()).or_default();
        if was_current {
            counts.add(e.status, -1);
            if let Some(prev) = attempts.last() {
                counts.add(prev.status, 1);
            }
        }
        if attempts.is_empty() {
            map.remove(job);
            if map.is_empty() {
                self.execs.remove(thing);
            }
        }
        fx.jobs.insert(job.to_owned());
        fx.changes.push(JobChange::DeleteExecution { job: job.to_owned(), thing: thing.to_owned(), number });
        self.settle(&mut fx, job, now);
        Ok(fx)
    }

    /// CreateJobTemplate.
    pub fn create_template(
        &mut self,
        id: &str,
        spec: JobSpec,
        new_tags: &[(String, String)],
        arn: String,
        now: Timestamp,
    ) -> Result<Effects, JobsError> {
        config::check_job_id("jobTemplateId", id)?;
        if self.templates.contains_key(id) {
            return Err(JobsError::AlreadyExists {
                message: format!("Job template {id} already exists"),
                id: id.to_owned(),
                arn,
            });
        }
        match (&spec.document, &spec.document_source) {
            (None, None) => {
                return Err(JobsError::InvalidRequest(
                    "A job template needs a document, a documentSource or a jobArn".into(),
                ));
            }
            (Some(d), _) => config::check_document(d)?,
            _ => {}
        }
        config::check_settings(&spec)?;
        let tags =
            tags::merged(&Tags::new(), new_tags).map_err(|e| JobsError::InvalidRequest(e.to_string()))?;
        let t = JobTemplate { id: id.to_owned(), arn, spec, created_at: now, tags };
        self.templates.insert(id.to_owned(), t.clone());
        Ok(Effects { changes: vec![JobChange::PutTemplate(Box::new(t))], ..Effects::default() })
    }

    /// DeleteJobTemplate.
    pub fn delete_template(&mut self, id: &str) -> Result<Effects, JobsError> {
        self.template(id)?;
        self.templates.remove(id);
        Ok(Effects { changes: vec![JobChange::DeleteTemplate(id.to_owned())], ..Effects::default() })
    }

    /// TagResource on a job or template.
    pub fn tag(&mut self, id: &str, new: &[(String, String)]) -> Result<Effects, JobsError> {
        let mut fx = Effects::default();
        if let Some(j) = self.jobs.get(id) {
            let mut j = j.clone();
            j.tags = tags::merged(&j.tags, new).map_err(|e| JobsError::InvalidRequest(e.to_string()))?;
            self.put_job(&mut fx, j);
            return Ok(fx);
        }
        let mut t = self.template(id)?.clone();
        t.tags = tags::merged(&t.tags, new).map_err(|e| JobsError::InvalidRequest(e.to_string()))?;
        self.templates.insert(id.to_owned(), t.clone());
        fx.changes.push(JobChange::PutTemplate(Box::new(t)));
        Ok(fx)
    }

    /// UntagResource on a job or template.
    pub fn untag(&mut self, id: &str, keys: &[String]) -> Result<Effects, JobsError> {
        let mut fx = Effects::default();
        if let Some(j) = self.jobs.get(id) {
            let mut j = j.clone();
            j.tags.retain(|k, _| !keys.contains(k));
            self.put_job(&mut fx, j);
            return Ok(fx);
        }
        let mut t = self.template(id)?.clone();
        t.tags.retain(|k, _| !keys.contains(k));
        self.templates.insert(id.to_owned(), t.clone());
        fx.changes.push(JobChange::PutTemplate(Box::new(t)));
        Ok(fx)
    }
}

/// Checks a job's settings at creation: a document (a template's or its own), targets, ranges.
fn check_spec(spec: &JobSpec) -> Result<(), JobsError> {
    if spec.targets.is_empty() {
        return Err(ValidationError::new(
            "targets",
            "[]",
            "Member must have length greater than or equal to 1",
        )
        .into());
    }
    if spec.targets.len() > config::MAX_TARGETS {
        return Err(JobsError::LimitExceeded(format!(
            "A job can have at most {} targets; this one has {}",
            config::MAX_TARGETS,
            spec.targets.len()
        )));
    }
    match &spec.document {
        Some(d) => config::check_document(d)?,
        None => return Err(JobsError::InvalidRequest("A job needs a document or a documentSource".into())),
    }
    config::check_settings(spec)
}

/// Ends an execution: status, version, timers.
fn end(e: &mut Execution, status: ExecStatus, now: Timestamp) {
    e.status = status;
    e.version += 1;
    e.last_updated_at = now;
    e.timeout_at = None;
    e.step_timeout_at = None;
}
