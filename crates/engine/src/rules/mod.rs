//! The rules engine: topic rules (AWS's API, durable in SQLite), run on live traffic.
//!
//! - `thingbox_model::rules` decides what a rule is and which operations are allowed;
//!   [`RulesService::write`] applies them like the registry does (decide under the lock, queue the
//!   change, answer once it is committed) and, in the same critical section, recompiles the set of
//!   enabled rules ([`compiled`]) and adjusts the router subscriptions, so a rule created by a call
//!   that has returned sees the very next message.
//! - [`runner`] evaluates rules off the router's hot path and hands firings to one worker per rule.
//! - [`actions`] carries them out ([`forward`] sends the AWS services' ones with the AWS SDK when an
//!   endpoint is configured); [`tables`] holds what the dynamoDB actions write; [`stats`] keeps what
//!   the console shows about each rule.

pub mod actions;
pub mod compiled;
pub mod forward;
pub mod runner;
pub mod stats;
pub mod tables;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use thingbox_api::console::{ConsoleEvent, ResourceKind};
use thingbox_api::rules::{EngineRuleStats, RuleDetail, RuleStats, RuleSummary};
use thingbox_model::rules::{RuleChange, RuleError, Rules};
use tokio::sync::mpsc;

pub use self::actions::LambdaTarget;
use self::compiled::CompiledRule;
use self::stats::{Counters, EngineCounters};
use crate::Error;
use crate::broker::{Broker, InternalClient, now_ms};
use crate::events::Bus;
use crate::shadow::ShadowService;
use crate::storage::{Db, Write};

/// Rules engine settings.
#[derive(Debug, Clone)]
pub struct RulesConfig {
    /// Lambda function ARN (or bare function name) → where it runs locally.
    pub lambdas: BTreeMap<String, LambdaTarget>,
    /// Messages waiting for evaluation; past it the router drops messages for the rules engine.
    pub queue: usize,
    /// Firings waiting for one rule's actions; past it that rule's firings are dropped.
    pub rule_queue: usize,
    /// Items one local table may hold.
    pub max_table_items: usize,
    /// Where actions for AWS services Thingbox does not run are sent (none: recorded).
    pub forward: Option<forward::ForwardTarget>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            lambdas: BTreeMap::new(),
            queue: 10_000,
            rule_queue: 1_000,
            max_table_items: 100_000,
            forward: None,
        }
    }
}

/// An enabled rule and the queue to its worker.
#[derive(Debug)]
pub struct ActiveRule {
    /// The compiled rule.
    pub compiled: Arc<CompiledRule>,
    tx: mpsc::Sender<runner::Job>,
}

/// The enabled rules, as the runner sees them.
#[derive(Debug, Default)]
pub struct Active {
    rules: Vec<ActiveRule>,
    by_name: HashMap<String, usize>,
}

/// The rules engine.
#[derive(Debug)]
pub struct RulesService {
    state: RwLock<Rules>,
    active: RwLock<Arc<Active>>,
    counters: Mutex<HashMap<String, Arc<Counters>>>,
    engine: EngineCounters,
    db: Db,
    client: InternalClient,
    subscribed: Mutex<HashSet<String>>,
    ctx: Arc<actions::ActionCtx>,
    workers: Mutex<tokio::task::JoinSet<()>>,
    shadows: Arc<ShadowService>,
    console: Bus<ConsoleEvent>,
    account: String,
    config: RulesConfig,
    /// The rules engine's own runtime (one thread, `tb-rules`, at background priority):
    /// evaluation and actions never take time from the runtime that moves device traffic.
    rt: tokio::runtime::Handle,
    /// Ends the rules thread.
    thread_stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Starts the `tb-rules` thread with a single-threaded runtime, returning its handle.
fn rules_thread()
-> std::io::Result<(tokio::runtime::Handle, tokio::sync::oneshot::Sender<()>, std::thread::JoinHandle<()>)> {
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new().name("tb-rules".into()).spawn(move || {
        // An idle-priority thread: when the cores are busy the scheduler serves device traffic
        // first, and the rules engine's bounded queue absorbs (then drops and counts) what it
        // cannot keep up with (docs/benchmarks.md, "Rules").
        #[cfg(target_os = "linux")]
        crate::viewer::history::idle_priority_here();
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = handle_tx.send(Err(e));
                return;
            }
        };
        let _ = handle_tx.send(Ok(rt.handle().clone()));
        // Drive the runtime's tasks until told to stop; dropping it then ends whatever is left.
        rt.block_on(async move {
            let _ = stop_rx.await;
        });
    })?;
    let handle = handle_rx.recv().map_err(|_| std::io::Error::other("the rules thread ended at start"))??;
    Ok((handle, stop_tx, thread))
}

impl RulesService {
    /// Loads the rules and local tables and subscribes to the enabled rules' topics.
    pub async fn load(
        db: Db,
        broker: Arc<Broker>,
        shadows: Arc<ShadowService>,
        data_dir: &Path,
        (account, region): (String, String),
        config: RulesConfig,
    ) -> Result<Arc<Self>, crate::StartError> {
        let rules = Rules::new(crate::storage::rules::load(db.pool()).await?);
        let tables = crate::storage::rules::load_tables(db.pool()).await?;
        let (rt, thread_stop, thread) = rules_thread()?;
        let client = broker.internal_client_bounded("rules", config.queue);
        broker.set_ingest(&client);
        let ctx = Arc::new(actions::ActionCtx {
            broker: broker.clone(),
            http: actions::http_client(),
            lambdas: config.lambdas.clone(),
            tables: Arc::new(tables::Tables::new(tables, db.writer(), config.max_table_items)),
            s3_dir: data_dir.join("s3"),
            outbox: data_dir.join("rules-outbox.jsonl"),
            forward: config.forward.clone().map(|t| forward::Forwarder::new(t, region, account.clone())),
        });
        let me = Arc::new(Self {
            state: RwLock::new(Rules::default()),
            active: RwLock::new(Arc::new(Active::default())),
            counters: Mutex::new(HashMap::new()),
            engine: EngineCounters::default(),
            db,
            client,
            subscribed: Mutex::new(HashSet::new()),
            ctx,
            workers: Mutex::new(tokio::task::JoinSet::new()),
            console: broker.console.clone(),
            shadows,
            account,
            config,
            rt,
            thread_stop: Mutex::new(Some(thread_stop)),
            thread: Mutex::new(Some(thread)),
        });
        {
            let mut state = me.state.write();
            *state = rules;
            me.activate(&state);
        }
        Ok(me)
    }

    /// Runs a read against the rules.
    pub fn read<R>(&self, f: impl FnOnce(&Rules) -> Result<R, RuleError>) -> Result<R, Error> {
        Ok(f(&self.state.read())?)
    }

    /// Runs a mutating operation: decides under the lock, queues its changes, re-activates the
    /// enabled rules, and returns once the changes are committed. A refused operation changed
    /// nothing.
    pub async fn write<R>(
        &self,
        f: impl FnOnce(&mut Rules) -> Result<(R, Vec<RuleChange>), RuleError>,
    ) -> Result<R, Error> {
        let (out, pending, names) = {
            let mut state = self.state.write();
            let (out, changes) = f(&mut state)?;
            let names: Vec<(String, bool)> = changes
                .iter()
                .map(|c| match c {
                    RuleChange::Put(r) => (r.name.clone(), false),
                    RuleChange::Delete(n) => (n.clone(), true),
                })
                .collect();
            let pending = self.db.writer().submit(changes.into_iter().map(Write::Rule).collect());
            if !names.is_empty() {
                self.activate(&state);
            }
            (out, pending, names)
        };
        if let Err(e) = pending.wait().await {
            tracing::error!(error = %e, "rule write failed; reloading the rules from the database");
            match crate::storage::rules::load(self.db.pool()).await {
                Ok(fresh) => {
                    let mut state = self.state.write();
                    *state = Rules::new(fresh);
                    self.activate(&state);
                }
                Err(reload) => tracing::error!(error = %reload, "reloading the rules failed"),
            }
            return Err(e.into());
        }
        if self.console.has_listeners() {
            for (name, deleted) in names {
                self.console.emit(ConsoleEvent::Registry { kind: ResourceKind::Rule, name, deleted });
            }
        }
        Ok(out)
    }

    /// Like [`write`](Self::write) for operations that only return changes.
    pub async fn change(
        &self,
        f: impl FnOnce(&mut Rules) -> Result<Vec<RuleChange>, RuleError>,
    ) -> Result<(), Error> {
        self.write(|r| f(r).map(|c| ((), c))).await
    }

    /// Makes the enabled rules of `state` the ones that run: keeps the compiled form (and worker)
    /// of every unchanged rule, compiles new and changed ones, and subscribes the rules engine to
    /// exactly the enabled rules' topic filters.
    fn activate(&self, state: &Rules) {
        let old = self.active.read().clone();
        {
            // Workers of replaced or removed rules end once their queue is drained: reap them.
            let mut workers = self.workers.lock();
            while workers.try_join_next().is_some() {}
        }
        let mut counters = self.counters.lock();
        counters.retain(|name, _| state.get(name).is_ok());
        let mut next = Active::default();
        for rule in state.all().filter(|r| !r.payload.rule_disabled) {
            let reused =
                old.by_name.get(&rule.name).map(|i| &old.rules[*i]).filter(|a| a.compiled.source == *rule);
            let active = match reused {
                Some(a) => ActiveRule { compiled: a.compiled.clone(), tx: a.tx.clone() },
                None => {
                    let c = counters.entry(rule.name.clone()).or_default().clone();
                    let Some(compiled) = CompiledRule::new(rule, c) else {
                        tracing::error!(rule = %rule.name, "a stored rule's SQL no longer parses; it does not run");
                        continue;
                    };
                    let compiled = Arc::new(compiled);
                    let (tx, rx) = mpsc::channel(self.config.rule_queue);
                    self.workers
                        .lock()
                        .spawn_on(runner::worker(self.ctx.clone(), compiled.clone(), rx), &self.rt);
                    ActiveRule { compiled, tx }
                }
            };
            next.by_name.insert(rule.name.clone(), next.rules.len());
            next.rules.push(active);
        }
        let filters: HashSet<String> = next.rules.iter().filter_map(|r| r.compiled.filter.clone()).collect();
        let mut subscribed = self.subscribed.lock();
        for f in filters.difference(&subscribed) {
            self.client.subscribe_new_only(f);
        }
        for f in subscribed.difference(&filters) {
            self.client.unsubscribe(f);
        }
        *subscribed = filters;
        *self.active.write() = Arc::new(next);
    }

    fn counters_of(&self, name: &str) -> Arc<Counters> {
        self.counters.lock().entry(name.to_owned()).or_default().clone()
    }

    /// Every rule with its counters, sorted by name.
    pub fn summaries(&self) -> Vec<RuleSummary> {
        let now = now_ms();
        let state = self.state.read();
        state.all().map(|r| self.summary(r, now)).collect()
    }

    fn summary(&self, r: &thingbox_model::rules::TopicRule, now: i64) -> RuleSummary {
        let kind = |a: &serde_json::Value| {
            a.as_object()
                .and_then(|o| o.iter().find(|(_, v)| !v.is_null()).map(|(k, _)| k.clone()))
                .unwrap_or_default()
        };
        RuleSummary {
            name: r.name.clone(),
            sql: r.payload.sql.clone(),
            topic_pattern: r.topic_pattern(),
            disabled: r.payload.rule_disabled,
            sql_version: r.payload.version().as_str().to_owned(),
            actions: r.payload.actions.iter().map(kind).collect(),
            error_action: r.payload.error_action.as_ref().map(kind),
            stats: self.counters_of(&r.name).snapshot(&r.name, now),
        }
    }

    /// One rule with its counters and recent firings.
    pub fn detail(&self, name: &str) -> Result<RuleDetail, Error> {
        let now = now_ms();
        let summary = self.read(|s| s.get(name).map(|r| self.summary(r, now)))?;
        let (firings, filtered) = self.counters_of(name).recent();
        Ok(RuleDetail { summary, firings, filtered })
    }

    /// Every rule's counters (for the console's stream), or `None` when there are no rules.
    pub fn stats(&self) -> Option<(Vec<RuleStats>, EngineRuleStats)> {
        let now = now_ms();
        let names: Vec<String> = self.state.read().all().map(|r| r.name.clone()).collect();
        if names.is_empty() {
            return None;
        }
        let rules = names.iter().map(|n| self.counters_of(n).snapshot(n, now)).collect();
        Some((rules, self.engine_stats()))
    }

    /// Engine-wide counters.
    pub fn engine_stats(&self) -> EngineRuleStats {
        use std::sync::atomic::Ordering::Relaxed;
        EngineRuleStats {
            received: self.engine.received.load(Relaxed),
            dropped: self.client.dropped(),
            loops_stopped: self.engine.loops_stopped.load(Relaxed),
            ingest_unknown: self.engine.ingest_unknown.load(Relaxed),
        }
    }

    /// The local tables.
    pub fn tables(&self) -> &tables::Tables {
        &self.ctx.tables
    }

    /// The Lambda mappings.
    pub fn lambdas(&self) -> &BTreeMap<String, LambdaTarget> {
        &self.ctx.lambdas
    }
}
