//! The control plane's decisions (service `iot`): CreateJob, UpdateJob, CancelJob, DeleteJob,
//! AssociateTargetsWithJob, CancelJobExecution, DeleteJobExecution, job templates and tags.

use std::collections::{BTreeMap, BTreeSet};

use super::config::{self, TargetSelection};
use super::{
    Counts, Effects, ExecStatus, Execution, Job, JobChange, JobEvent, JobOperation, JobSpec, JobStatus,
    JobTemplate, Jobs, JobsError, Rollout, end,
};
use crate::Timestamp;
use crate::names::ValidationError;
use crate::tags::{self, Tags};

impl Jobs {
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
        let scheduled = match &spec.scheduling_config {
            Some(c) => c.check(now, self.minute_ms)?.start.is_some(),
            None => false,
        };
        let tags = tags::merged(&Tags::new(), new_tags)?;
        let mut seen = BTreeSet::new();
        let things: Vec<String> = things.into_iter().filter(|t| seen.insert(t.clone())).collect();
        let job = Job {
            id: id.to_owned(),
            arn,
            status: if scheduled { JobStatus::Scheduled } else { JobStatus::InProgress },
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

    pub(super) fn cancel(
        &mut self,
        fx: &mut Effects,
        id: &str,
        force: bool,
        reason_code: Option<String>,
        comment: Option<String>,
        now: Timestamp,
    ) {
        let Some(mut job) = self.jobs.get(id).cloned() else { return };
        let began = job.status != JobStatus::Canceled;
        if began {
            self.job_event(fx, id, JobOperation::CancellationInProgress);
        }
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
        if began {
            self.job_event(fx, id, JobOperation::Canceled);
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
        let job_arn = job.arn.clone();
        self.job_event(&mut fx, id, JobOperation::DeletionInProgress);
        let mut things: Vec<String> =
            self.execs.iter().filter(|(_, m)| m.contains_key(id)).map(|(t, _)| t.clone()).collect();
        // By name, so the executions' `deleted` events come in a stable order.
        things.sort_unstable();
        for t in &things {
            if let Some(e) = self.current(t, id) {
                fx.events.push(JobEvent::Execution {
                    execution: Box::new(e.clone()),
                    job_arn: job_arn.clone(),
                    deleted: true,
                });
            }
            self.touch(&mut fx, t);
            if let Some(m) = self.execs.get_mut(t) {
                m.remove(id);
                if m.is_empty() {
                    self.execs.remove(t);
                }
            }
        }
        self.job_event(&mut fx, id, JobOperation::Deleted);
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
        let job_arn = self.job(job)?.arn.clone();
        fx.events.push(JobEvent::Execution { execution: Box::new(e.clone()), job_arn, deleted: true });
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
        let tags = tags::merged(&Tags::new(), new_tags)?;
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
            j.tags = tags::merged(&j.tags, new)?;
            self.put_job(&mut fx, j);
            return Ok(fx);
        }
        let mut t = self.template(id)?.clone();
        t.tags = tags::merged(&t.tags, new)?;
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
