//! The jobs service: AWS IoT Jobs over the `iot` control plane, the `iot-jobs-data` HTTP data plane
//! and the device MQTT topics (`$aws/things/{thing}/jobs/…`).
//!
//! `thingbox_model::jobs` decides everything; [`JobsService::write`] applies a decision like the
//! registry does (decide under the lock, queue the changes, answer once committed) and then
//! publishes the `notify` / `notify-next` messages the decision produced. [`mqtt`] serves the
//! device topics through an internal client, answering the requesting client alone
//! ([`Broker::reply_to`]), in a decide-then-publish pipeline like the shadow service's.
//! [`JobsService::run`] owns time and membership: it ticks the model (rollouts, timeouts) and
//! lets CONTINUOUS jobs follow their groups when the registry's memberships change.
//! [`files`] serves OTA files through expiring links.

pub mod files;
pub mod mqtt;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use thingbox_api::console::{ConsoleEvent, ResourceKind};
use thingbox_model::Timestamp;
use thingbox_model::arn::{Arn, ResourceType};
use thingbox_model::event_config::EventType;
use thingbox_model::jobs::{Effects, Jobs, JobsError};
use thingbox_model::quotas::Quota;
use tokio::sync::watch;

use crate::Error;
use crate::broker::{Broker, Message, now_ms};
use crate::event_config::EventSwitches;
use crate::events::Bus;
use crate::registry::RegistryService;
use crate::storage::{Db, Write};

/// Jobs settings.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// How long a job "minute" is for in-progress and step timeouts, in milliseconds (60,000;
    /// tests shorten it).
    pub minute_ms: i64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self { minute_ms: 60_000 }
    }
}

/// The jobs service.
#[derive(Debug)]
pub struct JobsService {
    state: RwLock<Jobs>,
    db: Db,
    broker: Arc<Broker>,
    registry: Arc<RegistryService>,
    /// OTA files and their links.
    pub files: files::Files,
    console: Bus<ConsoleEvent>,
    /// Whether job events are published.
    switches: Arc<EventSwitches>,
    /// Jobs changed since the console was last told (told at most four times a second).
    dirty: Mutex<BTreeSet<String>>,
    config: JobsConfig,
}

/// What a decision produced once it is durable: messages to publish.
#[derive(Debug, Default)]
pub(crate) struct Announce {
    notes: Vec<(String, Value)>,
    jobs: BTreeSet<String>,
}

fn now() -> Timestamp {
    Timestamp::from_millis(now_ms())
}

impl JobsService {
    /// Loads every job, execution and template.
    pub async fn load(
        db: Db,
        broker: Arc<Broker>,
        registry: Arc<RegistryService>,
        files: files::Files,
        switches: Arc<EventSwitches>,
        config: JobsConfig,
    ) -> Result<Arc<Self>, crate::storage::StorageError> {
        let (jobs, execs, templates) = crate::storage::jobs::load(db.pool()).await?;
        let state = Jobs::load(jobs, execs, templates, now(), config.minute_ms);
        Ok(Arc::new(Self {
            state: RwLock::new(state),
            db,
            console: broker.console.clone(),
            broker,
            registry,
            files,
            switches,
            dirty: Mutex::new(BTreeSet::new()),
            config,
        }))
    }

    /// Runs a read against the jobs.
    pub fn read<R>(&self, f: impl FnOnce(&Jobs) -> Result<R, JobsError>) -> Result<R, JobsError> {
        f(&self.state.read())
    }

    /// Signs device links to OTA files as of `now` (the model says for how long).
    pub(crate) fn presigner(&self, now: Timestamp) -> impl Fn(&str, i64) -> String + '_ {
        move |url, ttl| self.files.presign(url, now.millis(), ttl)
    }

    /// Decides with `f` under the lock and queues its changes; returns the pending write and what
    /// to publish once it is durable.
    pub(crate) fn decide<R>(
        &self,
        now: Timestamp,
        f: impl FnOnce(&mut Jobs) -> Result<(R, Effects), JobsError>,
    ) -> Result<(R, crate::storage::Pending, Announce), JobsError> {
        let mut state = self.state.write();
        let strict = self.broker.quotas.strict();
        state.rollout_ceiling = strict.then_some(Quota::JobRolloutRate.limit() as f64);
        let (out, fx) = f(&mut state)?;
        let mut notes = state.notifications(&fx, now, &self.presigner(now));
        if !fx.events.is_empty() {
            let (jobs_on, executions_on) =
                (self.switches.is_enabled(EventType::Job), self.switches.is_enabled(EventType::JobExecution));
            notes.extend(
                fx.events
                    .iter()
                    .filter(|e| if e.is_job() { jobs_on } else { executions_on })
                    .map(|e| wire::event(e, now)),
            );
        }
        // A job execution made is a remote action on AWS's bill, and a step of its job's rollout.
        let mut rolled_out: BTreeMap<&str, u64> = BTreeMap::new();
        for c in &fx.changes {
            if let thingbox_model::jobs::JobChange::PutExecution(e) = c
                && e.version == 1
                && e.status == thingbox_model::jobs::ExecStatus::Queued
            {
                self.broker.meter.add(Some(&e.thing), thingbox_model::usage::Metric::JobExecutions, 1);
                *rolled_out.entry(&e.job_id).or_default() += 1;
            }
        }
        self.check_rollouts(&state, &fx.jobs, rolled_out, strict, now);
        let pending = self.db.writer().submit(fx.changes.into_iter().map(Write::Job).collect());
        Ok((out, pending, Announce { notes, jobs: fx.jobs }))
    }

    /// AWS's rollout rate: strict, the model paced the jobs (reported when it slowed one down);
    /// lenient, a job that rolled out more in a minute is reported as AWS would have paced it.
    fn check_rollouts(
        &self,
        state: &Jobs,
        jobs: &BTreeSet<String>,
        rolled_out: BTreeMap<&str, u64>,
        strict: bool,
        now: Timestamp,
    ) {
        let quotas = &self.broker.quotas;
        if strict {
            for job in jobs.iter().filter(|j| state.rollout_capped(j)) {
                quotas.paced(Quota::JobRolloutRate, job, now.millis());
            }
        } else {
            for (job, n) in rolled_out {
                if quotas.rollout_over(job, n, now.millis()) {
                    quotas.exceeded(Quota::JobRolloutRate, job, now.millis());
                }
            }
        }
    }

    /// Runs a mutating operation: decides under the lock, queues its changes, waits until they are
    /// committed, then publishes its notifications. A refused operation changed nothing.
    pub async fn write<R>(
        &self,
        f: impl FnOnce(&mut Jobs) -> Result<(R, Effects), JobsError>,
    ) -> Result<R, Error> {
        let (out, pending, announce) = self.decide(now(), f)?;
        if let Err(e) = pending.wait().await {
            self.reload(&e).await;
            return Err(e.into());
        }
        self.announce(announce);
        Ok(out)
    }

    /// Like [`write`](Self::write) for operations that return only effects.
    pub async fn change(&self, f: impl FnOnce(&mut Jobs) -> Result<Effects, JobsError>) -> Result<(), Error> {
        self.write(|j| f(j).map(|fx| ((), fx))).await
    }

    /// Memory ran ahead of the disk: take the disk's word again.
    pub(crate) async fn reload(&self, e: &crate::storage::StorageError) {
        tracing::error!(error = %e, "jobs write failed; reloading the jobs from the database");
        match crate::storage::jobs::load(self.db.pool()).await {
            Ok((jobs, execs, templates)) => {
                *self.state.write() = Jobs::load(jobs, execs, templates, now(), self.config.minute_ms);
            }
            Err(reload) => tracing::error!(error = %reload, "reloading the jobs failed"),
        }
    }

    /// Publishes a durable decision's notifications and marks its jobs for the console.
    pub(crate) fn announce(&self, a: Announce) {
        for (topic, payload) in a.notes {
            self.broker.route(Arc::new(Message::from_service("jobs", topic, payload.to_string())));
        }
        if !a.jobs.is_empty() && self.console.has_listeners() {
            self.dirty.lock().extend(a.jobs);
        }
    }

    /// The things the targets (thing and thing group ARNs) hold now, groups expanded through their
    /// descendants. A target that does not exist is `ResourceNotFoundException` when `strict`, and
    /// skipped otherwise (a continuous job whose group was deleted).
    pub fn resolve_targets(&self, targets: &[String], strict: bool) -> Result<Vec<String>, Error> {
        let mut things = Vec::new();
        let mut seen = BTreeSet::new();
        self.registry.read(|r| {
            for t in targets {
                let arn = Arn::parse(t).map_err(|e| {
                    thingbox_model::registry::RegistryError::InvalidRequest(format!(
                        "Target '{t}' is not a thing or thing group ARN: {e}"
                    ))
                })?;
                let found = match arn.kind {
                    ResourceType::Thing => r.thing(&arn.id).map(|_| vec![arn.id.clone()]),
                    ResourceType::ThingGroup => r.things_in_group_tree(&arn.id),
                    _ => {
                        return Err(thingbox_model::registry::RegistryError::InvalidRequest(format!(
                            "Target '{t}' is not a thing or thing group ARN"
                        )));
                    }
                };
                match found {
                    Ok(list) => things.extend(list.into_iter().filter(|n| seen.insert(n.clone()))),
                    Err(e) if strict => return Err(e),
                    Err(_) => {}
                }
            }
            Ok(())
        })?;
        Ok(things)
    }

    /// Owns time and membership until `stop`: ticks rollouts and timers, follows group changes for
    /// CONTINUOUS jobs, and tells the console which jobs changed.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut members = self.registry.membership();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let follow = tokio::select! {
                _ = tick.tick() => false,
                r = members.changed() => r.is_ok(),
                _ = stop.wait_for(|s| *s) => return,
            };
            if follow {
                self.follow().await;
            }
            if self.state.read().has_timers() {
                let _ = self.write(|j| Ok(((), j.tick(now())))).await;
            }
            let dirty = std::mem::take(&mut *self.dirty.lock());
            if self.console.has_listeners() {
                let state = self.state.read();
                for name in dirty {
                    let deleted = state.job(&name).is_err();
                    self.console.emit(ConsoleEvent::Registry { kind: ResourceKind::Job, name, deleted });
                }
            }
        }
    }

    /// Lets every CONTINUOUS job catch up with its groups' membership.
    async fn follow(&self) {
        use thingbox_model::jobs::{JobStatus, TargetSelection};
        let targets: Vec<(String, Vec<String>)> = self
            .state
            .read()
            .all()
            .filter(|j| {
                matches!(j.status, JobStatus::InProgress | JobStatus::Scheduled)
                    && j.spec.target_selection == TargetSelection::Continuous
            })
            .map(|j| (j.id.clone(), j.spec.targets.clone()))
            .collect();
        if targets.is_empty() {
            return;
        }
        let members: std::collections::HashMap<String, Vec<String>> = targets
            .into_iter()
            .map(|(id, t)| (id, self.resolve_targets(&t, false).unwrap_or_default()))
            .collect();
        let _ = self
            .write(|j| {
                let mut fx = Effects::default();
                let ids: Vec<String> = members.keys().cloned().collect();
                for id in ids {
                    j.follow(&mut fx, &id, members[&id].clone(), true, now());
                }
                Ok(((), fx))
            })
            .await;
    }

    /// The console's view of one job.
    pub fn console_job(
        &self,
        jobs: &Jobs,
        job: &thingbox_model::jobs::Job,
    ) -> thingbox_api::jobs::ConsoleJob {
        thingbox_api::jobs::ConsoleJob {
            job: wire::job(job, jobs.counts(&job.id)),
            waiting: job.rollout.waiting.len() as i64,
            rate_per_minute: jobs.rollout_rate(&job.id),
            document: job.spec.document.clone(),
        }
    }

    /// Runs `f` with the current state (for the HTTP data plane's replies).
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&Jobs) -> R) -> R {
        f(&self.state.read())
    }
}
