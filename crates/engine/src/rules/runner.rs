//! Running rules on live traffic, off the router's hot path.
//!
//! The rules engine is an internal client of the router, subscribed to the FROM filter of every
//! enabled rule (and the receiver of Basic Ingest messages). Its queue is bounded: when the
//! engine falls behind, the router drops messages *for the rules engine* (counted) and never waits.
//! One task, [`RulesService::run`], takes messages in batches, parses each payload once, evaluates
//! every matching rule, renders the actions' templates against the incoming message and hands the
//! firing to the rule's own worker through a bounded queue (full: the firing is dropped and counted).
//! A rule's worker carries out its actions one firing at a time — so a rule's actions see messages
//! in order — with the actions of one firing running concurrently, then the errorAction if any
//! failed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;
use thingbox_api::rules::{ActionResult, Firing, Outcome, PayloadView};
use thingbox_api::trace::Step;
use thingbox_model::usage::{MESSAGE_UNIT, Metric, units};
use thingbox_sql::{Host, Input, Properties};
use tokio::sync::{mpsc, watch};

use super::actions::{self, ActionCtx, Payload};
use super::compiled::CompiledRule;
use super::{Active, RulesService};
use crate::broker::{INGEST_PREFIX, Message, now_ms};

/// Longest chain of rule republishes followed: a message that many republishes away from a
/// client's publish is not evaluated again, so a rule that republishes into its own FROM stops.
pub const MAX_RULE_HOPS: u8 = 8;

/// Payload bytes (input and output) one rule's worker queue may hold, beside its count limit.
const MAX_RULE_QUEUE_BYTES: usize = 16 * 1024 * 1024;

/// Bytes of a payload kept in a firing for the console.
const VIEW_LIMIT: usize = 4096;

/// One firing on its way to the rule's worker.
#[derive(Debug)]
pub struct Job {
    msg: Arc<Message>,
    payload: Payload,
    condition: String,
    /// Each action's members, templates resolved.
    resolved: Vec<serde_json::Value>,
    /// The errorAction's members, templates resolved.
    resolved_error: Option<serde_json::Value>,
    at: i64,
}

/// What `timestamp()`, `newuuid()`, `get_thing_shadow()` and `get_dynamodb()` read.
struct EngineHost<'a> {
    service: &'a RulesService,
    now: i64,
}

impl Host for EngineHost<'_> {
    fn now_ms(&self) -> i64 {
        self.now
    }
    fn uuid(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }
    fn random(&self) -> f64 {
        (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
    }
    fn thing_shadow(&self, thing: &str, shadow: Option<&str>) -> Option<serde_json::Value> {
        self.service.shadows.document(thing, shadow.unwrap_or(""))
    }
    fn dynamodb_get(
        &self,
        table: &str,
        key: &[(String, thingbox_sql::Value)],
    ) -> Option<thingbox_sql::Value> {
        self.service.ctx.tables.get(table, key)
    }
}

/// A payload as the console shows it.
pub fn view(bytes: &[u8]) -> PayloadView {
    crate::trace::payload_view(bytes, VIEW_LIMIT)
}

fn describe(v: &thingbox_sql::Value) -> String {
    match v {
        thingbox_sql::Value::Undefined => "undefined".into(),
        other => other.json_text(),
    }
}

impl RulesService {
    /// Runs rules on the rules thread until `stop`, then lets every rule's worker finish what it
    /// holds (for up to five seconds) and ends the thread.
    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) {
        let me = self.clone();
        if let Err(e) = self.rt.spawn(async move { me.run_here(stop).await }).await {
            tracing::error!(error = %e, "the rules engine stopped unexpectedly");
        }
        if let Some(tx) = self.thread_stop.lock().take() {
            let _ = tx.send(());
        }
        let thread = self.thread.lock().take();
        if let Some(t) = thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }

    async fn run_here(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut batch = Vec::new();
        let mut republished = Vec::new();
        loop {
            tokio::select! {
                _ = self.client.recv_many(&mut batch) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            let active = self.active.read().clone();
            let now = now_ms();
            for msg in batch.drain(..) {
                self.process(&active, msg, now, &mut republished);
            }
            // The inline republishes of the whole batch, in order, taking the router's locks once.
            if !republished.is_empty() {
                self.ctx.broker.publish_batch(std::mem::take(&mut republished));
            }
            // Let the rules' workers and the router's other clients run between batches.
            tokio::task::consume_budget().await;
        }
        *self.active.write() = Arc::new(Active::default());
        let mut workers = std::mem::take(&mut *self.workers.lock());
        let drained = tokio::time::timeout(Duration::from_secs(5), async {
            while workers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("rule actions still running at shutdown were stopped");
            workers.shutdown().await;
        }
    }

    fn process(&self, active: &Active, msg: Arc<Message>, now: i64, out: &mut Vec<Message>) {
        self.engine.received.fetch_add(1, Ordering::Relaxed);
        if msg.rule_hops >= MAX_RULE_HOPS {
            self.engine.loops_stopped.fetch_add(1, Ordering::Relaxed);
            if let Some(t) = &msg.trace {
                t.step(Step::RuleLoopStopped { hops: msg.rule_hops });
            }
            return;
        }
        let (ingest, topic) = match msg.topic.strip_prefix(INGEST_PREFIX) {
            Some(rest) => {
                let (rule, t) = rest.split_once('/').unwrap_or((rest, ""));
                (Some(rule), t)
            }
            None => (None, msg.topic.as_str()),
        };
        let principal = msg.principal.identifier();
        let p = &msg.properties;
        let mut input = Input::new(topic, &msg.payload);
        input.client_id = msg.client_id.as_deref();
        input.principal = Some(&principal);
        input.account = &self.account;
        input.properties = Properties {
            format_indicator: p.payload_format_indicator,
            content_type: p.content_type.as_deref(),
            response_topic: p.response_topic.as_deref(),
            correlation_data: p.correlation_data.as_deref(),
            user_properties: &p.user_properties,
        };
        let host = EngineHost { service: self, now };
        if let (Some(t), Some(rule)) = (&msg.trace, ingest) {
            let found = active.by_name.contains_key(rule);
            t.step(Step::Ingest { rule: rule.to_owned(), found });
        }
        match ingest {
            Some(name) => match active.by_name.get(name) {
                Some(i) => self.evaluate(&active.rules[*i], &msg, &input, &host, out),
                None => {
                    self.engine.ingest_unknown.fetch_add(1, Ordering::Relaxed);
                }
            },
            None => {
                for rule in &active.rules {
                    if rule
                        .compiled
                        .filter
                        .as_deref()
                        .is_some_and(|f| thingbox_model::topic::matches(f, topic))
                    {
                        self.evaluate(rule, &msg, &input, &host, out);
                    }
                }
            }
        }
    }

    fn evaluate(
        &self,
        rule: &super::ActiveRule,
        msg: &Arc<Message>,
        input: &Input<'_>,
        host: &EngineHost<'_>,
        out: &mut Vec<Message>,
    ) {
        let compiled = &rule.compiled;
        let counters = &compiled.counters;
        // Every 8th evaluation is timed (reading the clock would cost as much as a small rule).
        let timed = counters.evaluated.load(Ordering::Relaxed) & 7 == 0;
        let started = timed.then(Instant::now);
        let eval = compiled.query.evaluate(input, host);
        counters.evaluation(started.map(|s| s.elapsed().as_nanos() as u64));
        let Some(output) = eval.output else {
            if let Some(t) = &msg.trace {
                t.step(rule_step(&compiled.name, describe(&eval.condition), None));
            }
            counters.filtered.fetch_add(1, Ordering::Relaxed);
            if counters.wants_filtered_sample() {
                counters.keep_filtered(firing(msg, describe(&eval.condition), None, host.now));
            }
            return;
        };
        counters.fired(host.now);
        let payload = Payload { bytes: output.to_bytes().into(), json: output.is_json() };
        let meter = &self.ctx.broker.meter;
        meter.add(None, Metric::RulesTriggered, units(msg.topic.len() + msg.payload.len(), MESSAGE_UNIT));
        // Each action carried out is metered on what it sends (an errorAction's on AWS's message).
        let action_units = units(payload.bytes.len(), MESSAGE_UNIT);
        meter.add(None, Metric::ActionsExecuted, action_units * compiled.actions.len() as u64);
        if compiled.inline {
            let broker = &self.ctx.broker;
            republish_inline(compiled, msg, input, host, payload, &eval.condition, out, broker);
            return;
        }
        let traced_output = msg.trace.as_ref().map(|_| crate::trace::payload_view(&payload.bytes, 1024));
        let job = Job {
            msg: msg.clone(),
            condition: describe(&eval.condition),
            resolved: compiled.actions.iter().map(|a| a.resolve(input, host)).collect(),
            resolved_error: compiled.error_action.as_ref().map(|a| a.resolve(input, host)),
            payload,
            at: host.now,
        };
        let size = job.msg.payload.len() + job.payload.bytes.len();
        let over = compiled.queued_bytes.fetch_add(size, Ordering::Relaxed) + size > MAX_RULE_QUEUE_BYTES;
        let refused = if over {
            Some((
                job,
                format!(
                    "the rule's queue held over {} MB, so this firing's actions did not run",
                    MAX_RULE_QUEUE_BYTES >> 20
                ),
            ))
        } else {
            match rule.tx.try_send(job) {
                Ok(()) => None,
                Err(mpsc::error::TrySendError::Full(job)) => Some((
                    job,
                    format!(
                        "the rule's queue of {} firings was full, so this firing's actions did not run",
                        self.config.rule_queue
                    ),
                )),
                Err(mpsc::error::TrySendError::Closed(job)) => Some((
                    job,
                    "the rule's worker has stopped, so this firing's actions did not run".to_owned(),
                )),
            }
        };
        if let Some(t) = &msg.trace {
            let mut step = rule_step(&compiled.name, describe(&eval.condition), traced_output);
            if let Step::Rule { queued, dropped, .. } = &mut step {
                *queued = refused.is_none();
                *dropped = refused.as_ref().map(|(_, why)| why.clone());
            }
            t.step(step);
        }
        if let Some((job, why)) = refused {
            compiled.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            if counters.wants_firing(job.at, true) {
                let mut f = firing(&job.msg, job.condition, Some(&job.payload), job.at);
                f.dropped = Some(why);
                counters.keep_firing(f);
            }
        }
    }
}

/// A rule whose actions are all republishes: done here, in order, without a worker (a
/// republish only hands a message to the router).
#[allow(clippy::too_many_arguments)]
fn republish_inline(
    rule: &CompiledRule,
    msg: &Arc<Message>,
    input: &Input<'_>,
    host: &EngineHost<'_>,
    payload: Payload,
    condition: &thingbox_sql::Value,
    out: &mut Vec<Message>,
    broker: &crate::broker::Broker,
) {
    let (tracer, meter) = (&*broker.tracer, &*broker.meter);
    let counters = &rule.counters;
    // Checked and built here; routed with the rest of the batch's republishes.
    let mut send = |plan: &super::compiled::RepublishPlan, bytes: bytes::Bytes| {
        actions::republish_message(
            plan.topic(input, host),
            plan.qos,
            plan.properties.clone(),
            bytes,
            msg,
            host.now,
        )
        .map(|mut m| {
            m.follow(msg, tracer, || format!("rule {}", rule.name));
            let topic = m.topic.clone();
            out.push(m);
            topic
        })
    };
    let mut results: Vec<Republished> = Vec::with_capacity(rule.actions.len());
    for a in &rule.actions {
        let Some(plan) = &a.republish else { continue };
        results.push((send(plan, payload.bytes.clone()), 0.0, plan.qos));
    }
    let failures: Vec<(String, String, String)> = results
        .iter()
        .filter_map(|(r, _, _)| r.as_ref().err().map(|(t, e)| ("republish".to_owned(), t.clone(), e.clone())))
        .collect();
    counters.actions_ok.fetch_add((results.len() - failures.len()) as u64, Ordering::Relaxed);
    counters.actions_failed.fetch_add(failures.len() as u64, Ordering::Relaxed);
    let mut error_result = None;
    if !failures.is_empty()
        && let Some(plan) = rule.error_action.as_ref().and_then(|e| e.republish.as_ref())
    {
        counters.error_actions.fetch_add(1, Ordering::Relaxed);
        let message = error_message(&rule.name, msg, &failures).to_string();
        meter.add(None, Metric::ActionsExecuted, units(message.len(), MESSAGE_UNIT));
        error_result = Some((send(plan, message.into()), 0.0, plan.qos));
    }
    let traced = msg.trace.is_some();
    let keep = counters.wants_firing(host.now, !failures.is_empty());
    if !traced && !keep {
        return;
    }
    let result = |index: Option<usize>, (r, millis, qos): Republished| match r {
        Ok(target) => ActionResult {
            index,
            kind: "republish".into(),
            detail: Some(format!("published at QoS {qos}")),
            target,
            outcome: Outcome::Ok,
            error: None,
            millis,
        },
        Err((target, e)) => ActionResult {
            index,
            kind: "republish".into(),
            target,
            outcome: Outcome::Failed,
            error: Some(e),
            detail: None,
            millis,
        },
    };
    let mut f = firing(msg, describe(condition), Some(&payload), host.now);
    f.actions = results.into_iter().enumerate().map(|(i, r)| result(Some(i), r)).collect();
    f.error_action = error_result.map(|r| result(None, r));
    if let Some(t) = &msg.trace {
        t.step_at(
            host.now,
            Step::Rule {
                rule: rule.name.clone(),
                condition: f.condition.clone(),
                output: f.output.clone(),
                queued: false,
                actions: f.actions.clone(),
                error_action: f.error_action.clone(),
                dropped: None,
            },
        );
    }
    if keep {
        counters.keep_firing(f);
    }
}

/// A rule's step in a trace, before its actions ran.
fn rule_step(rule: &str, condition: String, output: Option<PayloadView>) -> Step {
    Step::Rule {
        rule: rule.to_owned(),
        condition,
        output,
        queued: false,
        actions: Vec::new(),
        error_action: None,
        dropped: None,
    }
}

fn firing(msg: &Message, condition: String, output: Option<&Payload>, at: i64) -> Firing {
    Firing {
        timestamp: at,
        topic: msg.topic.clone(),
        client_id: msg.client_id.clone(),
        input: view(&msg.payload),
        condition,
        output: output.map(|p| view(&p.bytes)),
        actions: Vec::new(),
        error_action: None,
        dropped: None,
    }
}

/// One inline republish: the topic (or it and the error), milliseconds, QoS.
type Republished = (Result<String, (String, String)>, f64, u8);

/// A rule's worker: carries out its firings one at a time until the rule goes away.
pub async fn worker(ctx: Arc<ActionCtx>, rule: Arc<CompiledRule>, mut rx: mpsc::Receiver<Job>) {
    while let Some(job) = rx.recv().await {
        rule.queued_bytes.fetch_sub(job.msg.payload.len() + job.payload.bytes.len(), Ordering::Relaxed);
        let runs = rule.actions.iter().zip(&job.resolved).enumerate().map(|(i, (a, body))| {
            actions::run(&ctx, a.kind, a.served, body, &job.payload, &job.msg, Some(i))
        });
        let results: Vec<ActionResult> = futures_util::future::join_all(runs).await;
        let counters = &rule.counters;
        let failed: Vec<(String, String, String)> = results
            .iter()
            .filter(|r| r.outcome == Outcome::Failed)
            .map(|r| (r.kind.clone(), r.target.clone(), r.error.clone().unwrap_or_else(|| "failed".into())))
            .collect();
        counters.actions_ok.fetch_add((results.len() - failed.len()) as u64, Ordering::Relaxed);
        counters.actions_failed.fetch_add(failed.len() as u64, Ordering::Relaxed);
        let mut error_result = None;
        if !failed.is_empty()
            && let (Some(ea), Some(body)) = (&rule.error_action, &job.resolved_error)
        {
            counters.error_actions.fetch_add(1, Ordering::Relaxed);
            let message = error_message(&rule.name, &job.msg, &failed);
            let payload = Payload { bytes: message.to_string().into(), json: true };
            ctx.broker.meter.add(None, Metric::ActionsExecuted, units(payload.bytes.len(), MESSAGE_UNIT));
            let r = actions::run(&ctx, ea.kind, ea.served, body, &payload, &job.msg, None).await;
            if r.outcome == Outcome::Failed {
                tracing::warn!(rule = %rule.name, error = ?r.error, "errorAction failed");
            }
            error_result = Some(r);
        }
        if let Some(t) = &job.msg.trace {
            t.step(Step::RuleActions {
                rule: rule.name.clone(),
                actions: results.clone(),
                error_action: error_result.clone(),
            });
        }
        if counters.wants_firing(job.at, !failed.is_empty()) {
            let mut f = firing(&job.msg, job.condition, Some(&job.payload), job.at);
            f.actions = results;
            f.error_action = error_result;
            counters.keep_firing(f);
        }
    }
}

/// The message an errorAction receives: AWS's shape, one entry per failed action.
fn error_message(rule: &str, msg: &Message, failed: &[(String, String, String)]) -> serde_json::Value {
    json!({
        "ruleName": rule,
        "topic": msg.topic,
        "cloudwatchTraceId": uuid::Uuid::new_v4().to_string(),
        "clientId": msg.client_id.as_deref().unwrap_or("n/a"),
        "base64OriginalPayload": base64::engine::general_purpose::STANDARD.encode(&msg.payload),
        "failures": failed.iter().map(|(kind, target, error)| json!({
            "failedAction": actions::failed_action_name(kind),
            // An s3 action's resource is its bucket (the console shows s3://bucket/key).
            "failedResource": match target.strip_prefix("s3://") {
                Some(rest) if kind == "s3" => rest.split('/').next().unwrap_or(rest),
                _ => target,
            },
            "errorMessage": error,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_views() {
        let v = view(b"{\"a\":1}");
        assert_eq!((v.text.as_str(), v.base64, v.truncated, v.size), ("{\"a\":1}", false, false, 7));
        let v = view(&[0xff, 0x00, 0x01]);
        assert!(v.base64);
        assert_eq!(v.text, "/wAB");
        let big = "é".repeat(3000);
        let v = view(big.as_bytes());
        assert!(v.truncated && !v.base64 && v.text.len() <= VIEW_LIMIT);
    }
}
