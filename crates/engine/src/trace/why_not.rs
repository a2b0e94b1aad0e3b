//! "Why did client X not get topic T?": the router's session and subscription table, AWS's
//! matching rules, the client's iot:Receive decision and the newest traced message on the topic,
//! checked in the order a message meets them.

use thingbox_api::trace::{Finding, LastMessage, WhyNot};
use thingbox_model::policy::Action;

use super::Tracer;
use crate::broker::{Broker, Principal, SessionFacts};
use crate::gateway::Caller;
use crate::policy::PolicyAuthorizer;

fn finding(check: &str, ok: bool, detail: String) -> Finding {
    Finding { check: check.into(), ok, detail, explanation: None }
}

/// The answer for `client_id` and `topic`.
pub fn why_not(
    broker: &Broker,
    auth: &PolicyAuthorizer,
    tracer: &Tracer,
    client_id: &str,
    topic: &str,
) -> WhyNot {
    let mut findings = Vec::new();
    let session = broker.session_facts(client_id);
    let mut receives = check_session(client_id, session.as_ref(), &mut findings);
    if let Some(s) = &session {
        receives &= check_subscriptions(s, topic, &mut findings);
        receives &= check_receive(auth, s, client_id, topic, &mut findings);
        receives &= check_queue(s, &mut findings);
        if s.dropped > 0 {
            let detail = format!(
                "its session has dropped {} deliveries so far (its queue holds at most {}, now {}; \
                 QoS 0 messages are dropped while it has no connection)",
                s.dropped, s.max_queued, s.queued
            );
            findings.push(finding("queue", false, detail));
        }
    }
    let last_message = tracer.newest_on(topic).map(|t| LastMessage {
        trace: t.id,
        timestamp: t.timestamp(),
        for_client: t.for_client(client_id).unwrap_or_else(|| {
            format!("it was not routed to {client_id} (no subscription of its matched when it was published)")
        }),
    });
    match &last_message {
        Some(m) => findings.push(finding(
            "publisher",
            true,
            format!("the newest traced message on the topic (trace {}): {}", m.trace, m.for_client),
        )),
        None => findings.push(finding(
            "publisher",
            false,
            "no message on this topic is among the traces: nobody published to it lately, or it was \
             not sampled (arm a trace session for the topic to catch the next one)"
                .into(),
        )),
    }
    let verdict = if receives {
        format!("{client_id} would receive a message published to '{topic}' now")
    } else {
        let first = findings.iter().find(|f| !f.ok).map_or_else(String::new, |f| f.detail.clone());
        format!("{client_id} would not receive '{topic}': {first}")
    };
    WhyNot {
        client_id: client_id.into(),
        topic: topic.into(),
        would_receive: receives,
        verdict,
        findings,
        last_message,
    }
}

fn check_session(client_id: &str, s: Option<&SessionFacts>, out: &mut Vec<Finding>) -> bool {
    let Some(s) = s else {
        out.push(finding(
            "session",
            false,
            format!(
                "{client_id} has no session: it is not connected, and no persistent session of it is \
                 waiting (a clean session ends with its connection; a persistent one at its expiry)"
            ),
        ));
        return false;
    };
    let detail = match (s.connected, s.persistent, s.expires_in) {
        (true, false, _) => format!("{client_id} is connected (clean session)"),
        (true, true, _) => format!("{client_id} is connected (persistent session)"),
        (false, _, Some(left)) => format!(
            "{client_id} is offline; its persistent session waits {} s more and queues QoS 1 messages \
             for it meanwhile (QoS 0 messages are dropped while it is offline)",
            left.as_secs()
        ),
        (false, _, None) => format!("{client_id} is offline"),
    };
    out.push(finding("session", true, detail));
    true
}

fn check_subscriptions(s: &SessionFacts, topic: &str, out: &mut Vec<Finding>) -> bool {
    if s.subscriptions.is_empty() {
        out.push(finding("subscription", false, "it holds no subscriptions".into()));
        return false;
    }
    let mut any = false;
    for (filter, opts) in &s.subscriptions {
        match thingbox_model::topic::why_no_match(filter, topic) {
            // Without a connection only QoS 1 is kept for it: a QoS 0 subscription gets nothing.
            None if !s.connected && opts.qos == 0 => out.push(finding(
                "subscription",
                false,
                format!(
                    "'{filter}' matches, at QoS 0: while it is offline its session keeps QoS 1 messages only, \
                     so these are dropped until it reconnects"
                ),
            )),
            None => {
                any = true;
                out.push(finding("subscription", true, format!("'{filter}' matches (QoS {})", opts.qos)));
            }
            Some(why) => {
                out.push(finding("subscription", false, format!("'{filter}' does not match: {why}")));
            }
        }
    }
    if any {
        // The non-matching ones are noise once one matches.
        out.retain(|f| f.check != "subscription" || f.ok);
    }
    any
}

fn check_queue(s: &SessionFacts, out: &mut Vec<Finding>) -> bool {
    if s.queued < s.max_queued {
        return true;
    }
    out.push(finding(
        "queue",
        false,
        format!(
            "its session's queue is full ({} deliveries waiting, the most it holds): a new message is \
             dropped for it until it catches up",
            s.queued
        ),
    ));
    false
}

fn check_receive(
    auth: &PolicyAuthorizer,
    s: &SessionFacts,
    client_id: &str,
    topic: &str,
    out: &mut Vec<Finding>,
) -> bool {
    let Some(principal) = s.principal.clone() else {
        out.push(finding(
            "policy",
            true,
            "iot:Receive cannot be told yet: the session came back from storage and no connection has \
             said who it is since; it is checked when the client reconnects"
                .into(),
        ));
        return true;
    };
    if matches!(principal, Principal::Service(_)) {
        return true;
    }
    // The live connection's attributes as far as the session knows them (a will is not kept).
    let connect_attributes = if s.persistent { vec!["PersistentConnect"] } else { Vec::new() };
    let caller = Caller {
        principal,
        client_id: client_id.to_owned(),
        ip: s.peer_ip.unwrap_or(std::net::IpAddr::from([127, 0, 0, 1])),
        connect_attributes,
        cache: Default::default(),
    };
    let (explanation, note) = auth.explain_caller(&caller, Action::Receive, topic);
    let ok = explanation.decision == "ALLOWED";
    let by = |refs: &[thingbox_api::console::StatementRef]| {
        refs.iter()
            .map(|r| match &r.sid {
                Some(sid) => format!("{} v{} statement {} ({sid})", r.policy, r.version, r.index + 1),
                None => format!("{} v{} statement {}", r.policy, r.version, r.index + 1),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let detail = match (ok, &note) {
        (true, Some(n)) => format!("iot:Receive is allowed: {n}"),
        (true, None) => format!("iot:Receive is allowed by {}", by(&explanation.allowed_by)),
        (false, _) if !explanation.denied_by.is_empty() => {
            format!("iot:Receive is denied by {}", by(&explanation.denied_by))
        }
        (false, _) => format!(
            "iot:Receive is denied: no Allow statement of its policies ({}) matches {}",
            explanation.policies.iter().map(|(n, v)| format!("{n} v{v}")).collect::<Vec<_>>().join(", "),
            explanation.resource
        ),
    };
    out.push(Finding { check: "policy".into(), ok, detail, explanation: Some(explanation) });
    ok
}
