//! What a jobs decision produced: the durable changes, the pending lists it touched (from which
//! `notify` / `notify-next` are derived), and the job events AWS publishes on `$aws/events/job/…`
//! and `$aws/events/jobExecution/…` when they are enabled.

use std::collections::{BTreeMap, BTreeSet};

use super::{Counts, ExecStatus, Execution, Job, JobTemplate};

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
pub(super) struct PendingItem {
    pub(super) job: String,
    pub(super) number: i64,
    pub(super) in_progress: bool,
}

/// What happened to a job, as `$aws/events/job/{jobId}/{operation}` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOperation {
    /// A SNAPSHOT job's every execution ended.
    Completed,
    /// CancelJob (or the abort criteria) began.
    CancellationInProgress,
    /// CancelJob finished.
    Canceled,
    /// DeleteJob began.
    DeletionInProgress,
    /// DeleteJob finished.
    Deleted,
}

impl JobOperation {
    /// The topic's last level and the payload's `operation`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::CancellationInProgress => "cancellation_in_progress",
            Self::Canceled => "canceled",
            Self::DeletionInProgress => "deletion_in_progress",
            Self::Deleted => "deleted",
        }
    }

    /// The payload's `status`.
    pub const fn status(self) -> &'static str {
        match self {
            Self::Completed => "COMPLETED",
            Self::CancellationInProgress => "CANCELLATION_IN_PROGRESS",
            Self::Canceled => "CANCELED",
            Self::DeletionInProgress => "DELETION_IN_PROGRESS",
            Self::Deleted => "DELETED",
        }
    }

    /// Whether the payload carries `jobProcessDetails` (the operations that end a job's run).
    pub const fn has_counts(self) -> bool {
        matches!(self, Self::Completed | Self::Canceled)
    }
}

/// A job event, with what its payload reports as of the moment it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// `$aws/events/job/{jobId}/{operation}`.
    Job {
        /// What happened.
        operation: JobOperation,
        /// The job as it was then.
        job: Box<Job>,
        /// Its execution counts then.
        counts: Counts,
    },
    /// `$aws/events/jobExecution/{jobId}/{operation}`: an execution reached a terminal status, or
    /// was deleted (`deleted`; `status` is then the status it had).
    Execution {
        /// The execution as it was then.
        execution: Box<Execution>,
        /// Its job's ARN (the thing's ARN is made in the same account and region).
        job_arn: String,
        /// Whether it was deleted (rather than having just ended).
        deleted: bool,
    },
}

impl JobEvent {
    /// The event's topic.
    pub fn topic(&self) -> String {
        match self {
            Self::Job { operation, job, .. } => format!("$aws/events/job/{}/{}", job.id, operation.as_str()),
            Self::Execution { execution, .. } => {
                format!("$aws/events/jobExecution/{}/{}", execution.job_id, self.operation())
            }
        }
    }

    /// The payload's `operation`.
    pub fn operation(&self) -> &'static str {
        match self {
            Self::Job { operation, .. } => operation.as_str(),
            Self::Execution { deleted: true, .. } => "deleted",
            Self::Execution { execution, .. } => match execution.status {
                ExecStatus::Succeeded => "succeeded",
                ExecStatus::Failed => "failed",
                ExecStatus::TimedOut => "timed_out",
                ExecStatus::Rejected => "rejected",
                ExecStatus::Removed => "removed",
                ExecStatus::Canceled => "canceled",
                // Only terminal executions make events; a forced delete of a pending one is `deleted`.
                ExecStatus::Queued | ExecStatus::InProgress => "deleted",
            },
        }
    }

    /// Whether this is a job (rather than an execution) event.
    pub const fn is_job(&self) -> bool {
        matches!(self, Self::Job { .. })
    }
}

/// What an operation changed: durable changes, the pending lists it touched (before), the jobs
/// whose counts or status changed, and the job events it made.
#[derive(Debug, Default)]
pub struct Effects {
    /// Changes to make durable, in order.
    pub changes: Vec<JobChange>,
    pub(super) before: BTreeMap<String, Vec<PendingItem>>,
    /// Jobs whose counts or status changed (for the console).
    pub jobs: BTreeSet<String>,
    /// Job and job-execution events, in the order they happened.
    pub events: Vec<JobEvent>,
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
