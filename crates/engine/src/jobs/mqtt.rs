//! The device MQTT API of jobs: `$aws/things/{thing}/jobs/get`, `/start-next`, `/{jobId}/get` and
//! `/{jobId}/update`, answered on the request topic plus `/accepted` or `/rejected` to the
//! requesting client alone (whether or not it subscribed; nobody else sees a reply). A topic under
//! `jobs/` that names no operation is answered `InvalidTopic`.
//!
//! Requests flow through two stages like the shadow service's: one task decides (under the jobs
//! lock) and queues the write; another waits until it is durable, then sends the reply and the
//! `notify` / `notify-next` messages, in decision order.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use thingbox_api::trace::Step;
use thingbox_model::Timestamp;
use thingbox_model::jobs::device::{DeviceRequest, client_token_of, parse_request};
use thingbox_model::jobs::{Jobs, JobsError};
use thingbox_model::topic::{Reserved, reserved};
use tokio::sync::{mpsc, watch};

use super::{Announce, JobsService, now};
use crate::broker::{InternalClient, Message, Principal};
use crate::storage::Pending;

/// The device operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op<'a> {
    GetPending,
    StartNext,
    Describe(&'a str),
    Update(&'a str),
}

/// What a topic under `jobs/` asks for: `Ok(None)` for topics the service itself publishes or
/// replies on, `Err(())` for a topic that names no operation.
fn op_of(rest: &str) -> Result<Option<Op<'_>>, ()> {
    match rest {
        "get" => return Ok(Some(Op::GetPending)),
        "start-next" => return Ok(Some(Op::StartNext)),
        "notify" | "notify-next" => return Ok(None),
        _ => {}
    }
    if rest.ends_with("/accepted") || rest.ends_with("/rejected") || rest.contains("notify-namespace-") {
        return Ok(None);
    }
    match rest.split_once('/') {
        Some((job, "get")) if !job.is_empty() => Ok(Some(Op::Describe(job))),
        Some((job, "update")) if !job.is_empty() => Ok(Some(Op::Update(job))),
        _ => Err(()),
    }
}

/// A decided request on its way out.
struct Decided {
    client: String,
    topic: String,
    reply: Value,
    pending: Pending,
    announce: Announce,
}

/// The jobs service's answer as a trace step.
fn job_step(thing: &str, op: &str, accepted: bool, reply: &Value) -> Step {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let status =
        text(reply.pointer("/execution/status")).or_else(|| text(reply.pointer("/executionState/status")));
    let error = (!accepted).then(|| {
        format!(
            "{}: {}",
            text(reply.get("code")).unwrap_or_default(),
            text(reply.get("message")).unwrap_or_default()
        )
    });
    Step::Job { thing: thing.to_owned(), operation: op.to_owned(), accepted, status, error }
}

fn with_token(mut m: Map<String, Value>, token: Option<&str>, now: Timestamp) -> Value {
    m.insert("timestamp".into(), json!(now.millis().div_euclid(1000)));
    if let Some(t) = token {
        m.insert("clientToken".into(), json!(t));
    }
    Value::Object(m)
}

impl JobsService {
    /// Decides one device request: the reply (accepted or rejected) and what to write.
    fn decide_device(
        &self,
        thing: &str,
        op: Op<'_>,
        payload: &[u8],
        now: Timestamp,
    ) -> (bool, Value, Pending, Announce) {
        let token = client_token_of(payload);
        let token = token.as_deref();
        let rejected = |e: &JobsError| e.rejected_json(token, now);
        if !payload.iter().all(u8::is_ascii_whitespace) && serde_json::from_slice::<Value>(payload).is_err() {
            let doc = json!({"code": "InvalidJson", "message": "The payload is not valid JSON",
                             "timestamp": now.millis().div_euclid(1000)});
            return (false, doc, Pending::done(), Announce::default());
        }
        let req = match parse_request(payload) {
            Ok(r) => r,
            Err(e) => return (false, rejected(&e), Pending::done(), Announce::default()),
        };
        let result = match op {
            Op::GetPending => {
                Ok((self.pending_reply(thing, token, now), Pending::done(), Announce::default()))
            }
            Op::Describe(job) => self
                .describe_reply(thing, job, &req, token, now)
                .map(|v| (v, Pending::done(), Announce::default())),
            Op::StartNext => self.decide(now, |j| {
                let (e, fx) = j.start_next(thing, &req, now)?;
                let mut m = Map::new();
                if let Some(e) = e {
                    let presign = self.presigner(now);
                    m.insert("execution".into(), j.execution_json(&e, true, false, now, &presign));
                }
                Ok((with_token(m, token, now), fx))
            }),
            Op::Update(job) => self.decide(now, |j| {
                let (e, fx) = j.update_execution(thing, job, &req, now)?;
                let mut m = Map::new();
                if req.include_job_execution_state == Some(true) {
                    m.insert("executionState".into(), Jobs::state_json(&e.state()));
                }
                if req.include_job_document == Some(true) {
                    let presign = self.presigner(now);
                    if let Some(doc) = j.document_for_device(job, &presign) {
                        m.insert(
                            "jobDocument".into(),
                            serde_json::from_str(&doc).unwrap_or(Value::String(doc)),
                        );
                    }
                }
                Ok((with_token(m, token, now), fx))
            }),
        };
        match result {
            Ok((v, pending, announce)) => (true, v, pending, announce),
            Err(e) => (false, rejected(&e), Pending::done(), Announce::default()),
        }
    }

    fn pending_reply(&self, thing: &str, token: Option<&str>, now: Timestamp) -> Value {
        self.with_state(|j| {
            let (running, queued) = j.pending(thing);
            let mut m = Map::new();
            m.insert("inProgressJobs".into(), running.iter().map(|e| Jobs::summary_json(e)).collect());
            m.insert("queuedJobs".into(), queued.iter().map(|e| Jobs::summary_json(e)).collect());
            with_token(m, token, now)
        })
    }

    fn describe_reply(
        &self,
        thing: &str,
        job: &str,
        req: &DeviceRequest,
        token: Option<&str>,
        now: Timestamp,
    ) -> Result<Value, JobsError> {
        self.with_state(|j| {
            let e = j.describe_for_device(thing, job, req.execution_number)?;
            let mut m = Map::new();
            if let Some(e) = e {
                let presign = self.presigner(now);
                let doc = req.include_job_document.unwrap_or(true);
                m.insert("execution".into(), j.execution_json(e, doc, false, now, &presign));
            }
            Ok(with_token(m, token, now))
        })
    }

    /// Serves the device topics until `stop`.
    pub async fn serve_mqtt(self: Arc<Self>, client: InternalClient, mut stop: watch::Receiver<bool>) {
        client.subscribe("$aws/things/+/jobs/#");
        let (tx, mut rx) = mpsc::channel::<Decided>(4096);
        let publisher = {
            let me = self.clone();
            tokio::spawn(async move {
                while let Some(d) = rx.recv().await {
                    match d.pending.wait().await {
                        Ok(()) => {
                            // The reply first, then what the change means for the thing's pending list.
                            me.send_reply(&d.client, d.topic, &d.reply);
                            me.announce(d.announce);
                        }
                        Err(e) => {
                            me.reload(&e).await;
                            let mut m = Map::new();
                            m.insert("code".into(), json!("InternalError"));
                            m.insert("message".into(), json!(e.refusal()));
                            let token = d.reply.get("clientToken").and_then(Value::as_str);
                            let reply = with_token(m, token, now());
                            me.send_reply(&d.client, d.topic.replacen("/accepted", "/rejected", 1), &reply);
                        }
                    }
                }
            })
        };
        loop {
            let msg = tokio::select! {
                m = client.recv() => m,
                _ = stop.wait_for(|s| *s) => break,
            };
            if matches!(msg.principal, Principal::Service(_)) {
                continue;
            }
            let Some(Reserved::Jobs { thing, op: rest }) = reserved(&msg.topic) else { continue };
            // A request published over HTTP has nobody to answer.
            let Some(client_id) = msg.client_id.clone() else { continue };
            let now = now();
            let (accepted, reply) = match op_of(rest) {
                Ok(None) => continue,
                Err(()) => {
                    let token = client_token_of(&msg.payload);
                    let mut m = Map::new();
                    m.insert("code".into(), json!("InvalidTopic"));
                    m.insert(
                        "message".into(),
                        json!(format!("The topic '{}' names no jobs operation", msg.topic)),
                    );
                    (false, (with_token(m, token.as_deref(), now), Pending::done(), Announce::default()))
                }
                Ok(Some(op)) => {
                    let (ok, v, p, a) = self.decide_device(thing, op, &msg.payload, now);
                    (ok, (v, p, a))
                }
            };
            let suffix = if accepted { "accepted" } else { "rejected" };
            let (reply, pending, announce) = reply;
            if let Some(t) = &msg.trace {
                t.step(job_step(thing, rest, accepted, &reply));
            }
            let d = Decided {
                client: client_id,
                topic: format!("{}/{suffix}", msg.topic),
                reply,
                pending,
                announce,
            };
            if tx.send(d).await.is_err() {
                break;
            }
        }
        drop(tx);
        let _ = publisher.await;
    }

    fn send_reply(&self, client: &str, topic: String, reply: &Value) {
        self.broker.reply_to(client, Message::from_service("jobs", topic, reply.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics() {
        assert_eq!(op_of("get"), Ok(Some(Op::GetPending)));
        assert_eq!(op_of("start-next"), Ok(Some(Op::StartNext)));
        assert_eq!(op_of("j1/get"), Ok(Some(Op::Describe("j1"))));
        assert_eq!(op_of("$next/get"), Ok(Some(Op::Describe("$next"))));
        assert_eq!(op_of("j1/update"), Ok(Some(Op::Update("j1"))));
        assert_eq!(op_of("j1/update/accepted"), Ok(None));
        assert_eq!(op_of("notify-next"), Ok(None));
        assert_eq!(op_of("j1/nope"), Err(()));
        assert_eq!(op_of("bogus"), Err(()));
    }
}
