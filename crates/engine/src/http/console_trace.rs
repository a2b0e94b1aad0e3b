//! The message-flow tracer's console API: search the traces, read one (by its number or by the
//! topic viewer's message number), arm and disarm trace sessions, and ask why a client did not get
//! a topic. Wire types in `thingbox_api::trace`; the tracer itself is `crate::trace`.

use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use thingbox_api::trace::{ArmRequest, Armed, Step, Trace, TraceList, WhyNot};

use super::AppState;
use super::error::ApiError;
use super::extract::{AwsJson, Params};
use crate::Error;
use crate::broker::now_ms;
use crate::trace::{MAX_ARM_MINUTES, Query};

/// The routes (mounted behind the console token).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/api/traces", get(list))
        .route("/console/api/traces/why-not", get(why_not))
        .route("/console/api/traces/arm", post(arm))
        .route("/console/api/traces/arm/{id}", delete(disarm))
        .route("/console/api/traces/by-message/{id}", get(by_message))
        .route("/console/api/traces/{id}", get(one))
}

fn check_filter(name: &str, f: &str) -> Result<(), Error> {
    thingbox_model::topic::check_filter(f)
        .map_err(|e| Error::InvalidRequest(format!("{name} '{f}' is not a valid topic filter: {e}")))
}

fn topic_filter(q: &Params, name: &str) -> Result<Option<String>, Error> {
    let Some(f) = q.str(name).filter(|f| !f.is_empty()) else { return Ok(None) };
    check_filter(name, f)?;
    Ok(Some(f.to_owned()))
}

/// `GET /console/api/traces?client=&topic=&minutes=&problems=&armed=&limit=`: the newest traces
/// that match (`topic` is a filter), newest first, with the armed sessions.
async fn list(State(s): State<AppState>, q: Params) -> Result<Json<TraceList>, ApiError> {
    let now = now_ms();
    let query = Query {
        client_id: q.str("client").filter(|c| !c.is_empty()).map(str::to_owned),
        topic: topic_filter(&q, "topic")?,
        since: q.int("minutes", 1, 10_000)?.map(|m| now - m * 60_000),
        problems: q.bool("problems")?.unwrap_or(false),
        armed: q.bool("armed")?,
        limit: q.int("limit", 1, 1000)?.unwrap_or(200) as usize,
    };
    let tracer = &s.broker.tracer;
    Ok(Json(TraceList {
        traces: tracer.list(&query),
        armed: tracer.armed(now),
        sampling: tracer.sampling(),
        held: tracer.held(),
    }))
}

fn not_kept(what: String) -> Error {
    Error::NotFound(format!(
        "{what}: the tracer keeps the newest traces in memory only (a sample of the traffic, plus every \
         message of an armed trace session), and none since the last restart"
    ))
}

/// A trace as the console reads it, with the things attached to a certificate publisher now.
fn complete(s: &AppState, t: &crate::trace::Trace) -> Trace {
    let mut w = t.to_wire();
    for step in &mut w.steps {
        if let Step::Published { identity, principal, things, .. } = &mut step.step
            && identity == "certificate"
        {
            *things = s
                .registry
                .read(|r| Ok(r.things_of_certificate(principal).map(str::to_owned).collect()))
                .unwrap_or_default();
        }
    }
    w
}

fn id_of(raw: &str) -> Result<u64, Error> {
    raw.parse().map_err(|_| Error::InvalidRequest(format!("'{raw}' is not a trace number")))
}

/// `GET /console/api/traces/{id}`.
async fn one(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Trace>, ApiError> {
    let id = id_of(&id)?;
    let t = s.broker.tracer.get(id).ok_or_else(|| not_kept(format!("No trace {id}")))?;
    Ok(Json(complete(&s, &t)))
}

/// `GET /console/api/traces/by-message/{id}`: the trace of the topic viewer's message `id`.
async fn by_message(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<Trace>, ApiError> {
    let id = id_of(&id)?;
    let t = s.broker.tracer.by_message(id).ok_or_else(|| not_kept(format!("Message {id} has no trace")))?;
    Ok(Json(complete(&s, &t)))
}

/// `POST /console/api/traces/arm`: trace every message of a client, or on a topic filter, for a
/// while.
async fn arm(State(s): State<AppState>, AwsJson(req): AwsJson<ArmRequest>) -> Result<Json<Armed>, ApiError> {
    let client_id = req.client_id.filter(|c| !c.is_empty());
    let topic = req.topic.filter(|t| !t.is_empty());
    if client_id.is_none() && topic.is_none() {
        return Err(Error::InvalidRequest("give clientId, topic (a topic filter), or both".into()).into());
    }
    if let Some(f) = &topic {
        check_filter("topic", f)?;
    }
    let minutes = req.minutes.unwrap_or(10);
    if !(1..=MAX_ARM_MINUTES).contains(&minutes) {
        return Err(Error::InvalidRequest(format!(
            "minutes must be between 1 and {MAX_ARM_MINUTES}, not {minutes}"
        ))
        .into());
    }
    let armed = s.broker.tracer.arm(client_id, topic, minutes, now_ms()).ok_or_else(|| {
        Error::InvalidRequest("20 trace sessions are armed already; disarm one first".into())
    })?;
    Ok(Json(armed))
}

/// `DELETE /console/api/traces/arm/{id}`.
async fn disarm(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = id_of(&id)?;
    if !s.broker.tracer.disarm(id) {
        return Err(Error::NotFound(format!("No armed trace session {id}")).into());
    }
    Ok(Json(serde_json::json!({})))
}

/// `GET /console/api/traces/why-not?client=…&topic=…`.
async fn why_not(State(s): State<AppState>, q: Params) -> Result<Json<WhyNot>, ApiError> {
    let client = q.str("client").filter(|c| !c.is_empty());
    let topic = q.str("topic").filter(|t| !t.is_empty());
    let (Some(client), Some(topic)) = (client, topic) else {
        return Err(Error::InvalidRequest("give client (a client id) and topic (a topic name)".into()).into());
    };
    thingbox_model::topic::check_name(topic)
        .map_err(|e| Error::InvalidRequest(format!("topic '{topic}' is not a valid topic name: {e}")))?;
    Ok(Json(crate::trace::why_not::why_not(&s.broker, &s.authorizer, &s.broker.tracer, client, topic)))
}
