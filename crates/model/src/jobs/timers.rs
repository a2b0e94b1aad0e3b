//! What happens to jobs with time and membership: rollout pacing, in-progress and step timeouts,
//! retries, abort criteria, completion, and CONTINUOUS jobs following their target groups.
//!
//! Rollout: without `jobExecutionsRolloutConfig` every target is queued at once. With it, a token
//! bucket paces creation at the current rate (`maximumPerMinute`, or the exponential rate —
//! `baseRatePerMinute` multiplied by `incrementFactor` each time `rateIncreaseCriteria` is met,
//! never above `maximumPerMinute`): the first execution at once, the next as credit accrues, with
//! at most one second's worth banked. A [`Jobs::rollout_ceiling`] (strict-AWS mode) caps every
//! rollout, configured or not, at that many a minute.

use std::collections::BTreeSet;

use super::config::{FailureType, TargetSelection};
use super::{Effects, ExecStatus, Execution, JobOperation, JobStatus, Jobs, end};
use crate::Timestamp;

impl Jobs {
    /// Everything due at `now`: expired timers (→ TIMED_OUT, then a retry if allowed) and rollout
    /// credit (→ new QUEUED executions).
    pub fn tick(&mut self, now: Timestamp) -> Effects {
        let mut fx = Effects::default();
        self.run_schedules(&mut fx, now);
        let expired: Vec<Execution> = self
            .execs
            .values()
            .flat_map(|m| m.values())
            .filter_map(|a| a.last())
            .filter(|e| e.status == ExecStatus::InProgress && e.deadline().is_some_and(|d| d <= now))
            .cloned()
            .collect();
        for mut e in expired {
            let job = e.job_id.clone();
            end(&mut e, ExecStatus::TimedOut, now);
            self.finished(&mut fx, e, now);
            self.settle(&mut fx, &job, now);
        }
        let rolling: Vec<String> = self
            .jobs
            .values()
            .filter(|j| j.status == JobStatus::InProgress && !j.rollout.waiting.is_empty())
            .map(|j| j.id.clone())
            .collect();
        for id in rolling {
            self.release(&mut fx, &id, now);
            self.settle(&mut fx, &id, now);
        }
        fx
    }

    /// Whether [`tick`](Self::tick) has anything to do now or later (a timer runs or a rollout
    /// waits).
    pub fn has_timers(&self) -> bool {
        self.jobs.values().any(|j| j.status == JobStatus::InProgress && !j.rollout.waiting.is_empty())
            || self.counts.values().any(|c| c.of(ExecStatus::InProgress) > 0)
            || self.has_schedules()
    }

    /// The executions-per-minute a job's rollout allows now (`None`: unlimited).
    pub fn rollout_rate(&self, id: &str) -> Option<f64> {
        let job = self.jobs.get(id)?;
        let configured = job.spec.job_executions_rollout_config.as_ref().and_then(|cfg| {
            let max = cfg.maximum_per_minute.map(|m| m as f64);
            let exp = cfg.exponential_rate.as_ref().map(|e| {
                e.base_rate_per_minute as f64 * e.increment_factor.powi(job.rollout.increases as i32)
            });
            min_rate(exp, max)
        });
        min_rate(configured, self.rollout_ceiling)
    }

    /// Whether the ceiling, not the job's own configuration, sets its pace now.
    pub fn rollout_capped(&self, id: &str) -> bool {
        let Some(ceiling) = self.rollout_ceiling else { return false };
        let Some(job) = self.jobs.get(id) else { return false };
        !job.rollout.waiting.is_empty() && self.rollout_rate(id) == Some(ceiling)
    }

    /// Queues as many waiting things as the rollout's credit allows.
    pub(super) fn release(&mut self, fx: &mut Effects, id: &str, now: Timestamp) {
        let rate = self.rollout_rate(id);
        let succeeded = self.counts(id).of(ExecStatus::Succeeded);
        let Some(job) = self.jobs.get_mut(id) else { return };
        if job.status != JobStatus::InProgress {
            return;
        }
        let mut allowed = match rate {
            None => job.rollout.waiting.len(),
            Some(rate) => {
                let elapsed = (now.millis() - job.rollout.last_ms).max(0) as f64;
                let cap = (rate / 60.0).max(1.0);
                job.rollout.credit = (job.rollout.credit + rate * elapsed / 60_000.0).min(cap);
                job.rollout.last_ms = now.millis();
                job.rollout.credit.floor() as usize
            }
        };
        let mut released = Vec::new();
        while allowed > 0 {
            let Some(thing) = job.rollout.waiting.pop_front() else { break };
            released.push(thing);
            allowed -= 1;
        }
        if rate.is_some() {
            job.rollout.credit -= released.len() as f64;
        }
        job.rollout.notified += released.len() as i64;
        // The exponential rate grows each time its criteria are met.
        if let Some(e) =
            job.spec.job_executions_rollout_config.as_ref().and_then(|c| c.exponential_rate.as_ref())
        {
            let c = &e.rate_increase_criteria;
            let (n0, s0) = job.rollout.at_increase;
            let by_notified = c.number_of_notified_things.is_some_and(|n| job.rollout.notified - n0 >= n);
            let by_succeeded = c.number_of_succeeded_things.is_some_and(|n| succeeded - s0 >= n);
            if by_notified || by_succeeded {
                job.rollout.increases += 1;
                job.rollout.at_increase = (job.rollout.notified, succeeded);
            }
        }
        for thing in released {
            let number = self.current(&thing, id).map_or(1, |e| e.number + 1);
            self.queue(fx, id, &thing, number, 0, now);
        }
    }

    /// After an execution of `id` changed: cancels the job if an abort criterion is met, and
    /// completes a SNAPSHOT job whose executions have all ended.
    pub(super) fn settle(&mut self, fx: &mut Effects, id: &str, now: Timestamp) {
        let counts = self.counts(id);
        let Some(job) = self.jobs.get(id) else { return };
        if job.status != JobStatus::InProgress {
            return;
        }
        if let Some(abort) = &job.spec.abort_config {
            let executed = counts.executed();
            for c in &abort.criteria_list {
                if executed < c.min_number_of_executed_things || executed == 0 {
                    continue;
                }
                let failed = match c.failure_type {
                    FailureType::Failed => counts.of(ExecStatus::Failed),
                    FailureType::Rejected => counts.of(ExecStatus::Rejected),
                    FailureType::TimedOut => counts.of(ExecStatus::TimedOut),
                    FailureType::All => {
                        counts.of(ExecStatus::Failed)
                            + counts.of(ExecStatus::Rejected)
                            + counts.of(ExecStatus::TimedOut)
                    }
                };
                let share = failed as f64 * 100.0 / executed as f64;
                if share >= c.threshold_percentage {
                    let comment = format!(
                        "Canceled by the job's abort configuration: {failed} of {executed} executed things are {} \
                         ({share:.2}% ≥ {}%)",
                        c.failure_type.as_str(),
                        c.threshold_percentage
                    );
                    self.cancel(fx, id, false, None, Some(comment), now);
                    return;
                }
            }
        }
        let job = &self.jobs[id];
        if job.spec.target_selection == TargetSelection::Snapshot
            && job.rollout.waiting.is_empty()
            && counts.pending() == 0
        {
            let mut job = job.clone();
            job.status = JobStatus::Completed;
            job.completed_at = Some(now);
            job.last_updated_at = now;
            self.put_job(fx, job);
            self.job_event(fx, id, JobOperation::Completed);
        }
    }

    /// Stores an execution that just ended, and queues its retry when the job's retry settings
    /// allow one (FAILED and TIMED_OUT only).
    pub(super) fn finished(&mut self, fx: &mut Effects, e: Execution, now: Timestamp) {
        let retry = self.jobs.get(&e.job_id).and_then(|j| {
            if j.status != JobStatus::InProgress {
                return None;
            }
            let cfg = j.spec.job_executions_retry_config.as_ref()?;
            let allowed: i64 = cfg
                .criteria_list
                .iter()
                .filter(|c| match c.failure_type {
                    FailureType::All => matches!(e.status, ExecStatus::Failed | ExecStatus::TimedOut),
                    FailureType::Failed => e.status == ExecStatus::Failed,
                    FailureType::TimedOut => e.status == ExecStatus::TimedOut,
                    FailureType::Rejected => false,
                })
                .map(|c| c.number_of_retries)
                .max()?;
            (e.retry_attempt < allowed).then_some(e.retry_attempt + 1)
        });
        let (job, thing, number) = (e.job_id.clone(), e.thing.clone(), e.number);
        self.put_exec(fx, e);
        if let Some(attempt) = retry {
            self.queue(fx, &job, &thing, number + 1, attempt, now);
        }
    }

    /// A CONTINUOUS job's targets now hold `things`: new ones wait for the rollout, and (when
    /// `complete`, i.e. `things` is the whole membership) things that left have their pending
    /// execution REMOVED.
    pub fn follow(
        &mut self,
        fx: &mut Effects,
        id: &str,
        things: Vec<String>,
        complete: bool,
        now: Timestamp,
    ) {
        let closed = self.rollout_closed(id, now);
        let Some(job) = self.jobs.get(id) else { return };
        if !matches!(job.status, JobStatus::InProgress | JobStatus::Scheduled)
            || job.spec.target_selection != TargetSelection::Continuous
        {
            return;
        }
        let members: BTreeSet<String> = things.into_iter().collect();
        let waiting: BTreeSet<&String> = job.rollout.waiting.iter().collect();
        let new: Vec<String> = members
            .iter()
            .filter(|t| {
                !closed
                    && !waiting.contains(t)
                    && self.current(t, id).is_none_or(|e| e.status == ExecStatus::Removed)
            })
            .cloned()
            .collect();
        let mut gone = Vec::new();
        if complete {
            for (thing, m) in &self.execs {
                if let Some(e) = m.get(id).and_then(|a| a.last())
                    && !e.status.is_terminal()
                    && !members.contains(thing)
                {
                    gone.push(e.clone());
                }
            }
        }
        let job = self.jobs.get_mut(id).expect("checked");
        if complete {
            job.rollout.waiting.retain(|t| members.contains(t));
        }
        job.rollout.waiting.extend(new);
        for mut e in gone {
            end(&mut e, ExecStatus::Removed, now);
            self.put_exec(fx, e);
        }
        self.release(fx, id, now);
    }

    /// Runs [`follow`](Self::follow) for every CONTINUOUS job in progress, with `members` giving
    /// the things its targets hold now.
    pub fn follow_all(&mut self, now: Timestamp, members: impl Fn(&[String]) -> Vec<String>) -> Effects {
        let mut fx = Effects::default();
        let ids: Vec<(String, Vec<String>)> = self
            .jobs
            .values()
            .filter(|j| {
                matches!(j.status, JobStatus::InProgress | JobStatus::Scheduled)
                    && j.spec.target_selection == TargetSelection::Continuous
            })
            .map(|j| (j.id.clone(), j.spec.targets.clone()))
            .collect();
        for (id, targets) in ids {
            let things = members(&targets);
            self.follow(&mut fx, &id, things, true, now);
        }
        fx
    }
}

/// The lower of two rates, `None` being unlimited.
fn min_rate(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
