//! The message-flow tracer's wire types (`/console/api/traces…`): a message's trace — every step
//! it took through the engine and why — its summary for searches, armed trace sessions, and the
//! answer to "why did client X not get topic T?".

use serde::{Deserialize, Serialize};

use crate::console::Explanation;
use crate::rules::{ActionResult, PayloadView};

/// A traced message: where it came from and every step it took, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    /// What the search lists.
    #[serde(flatten)]
    pub summary: TraceSummary,
    /// The payload (cut for the console).
    pub payload: PayloadView,
    /// The steps, oldest first.
    pub steps: Vec<TraceStep>,
}

/// A traced message in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceSummary {
    /// The trace's number (increasing; traces do not survive a restart).
    pub id: u64,
    /// The topic viewer's number of the message, once the viewer numbered it (a message refused
    /// before routing never gets one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<u64>,
    /// The trace of the message this one was published because of (a rule's republish, a shadow
    /// service's reply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<u64>,
    /// Whether an armed trace session asked for it (otherwise it was sampled).
    pub armed: bool,
    /// When the message arrived (ms since the epoch).
    pub timestamp: i64,
    /// Topic name.
    pub topic: String,
    /// QoS it was published with.
    pub qos: u8,
    /// Published with RETAIN.
    pub retain: bool,
    /// The publisher's client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The publisher's principal (certificate id, `thingbox:rules`, …).
    pub principal: String,
    /// What became of it, in a few words (`delivered to 2`, `publish denied`, …).
    pub outcome: String,
    /// Whether something went wrong on its way (a denial, a drop, a failed action, a rejection).
    pub problem: bool,
}

/// One step, with when it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceStep {
    /// When (ms since the epoch).
    pub at: i64,
    /// What happened.
    #[serde(flatten)]
    pub step: Step,
}

/// What happened at one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Step {
    /// The publisher, as the gateway (or the HTTP API, or a service) saw it.
    Published {
        /// Who authenticated: `certificate`, `plain listener`, `IAM (WebSocket)`, `iot-data
        /// Publish`, `console`, `service`.
        identity: String,
        /// The certificate id, IAM key or plain identity.
        principal: String,
        /// The things attached to the certificate, when it is one.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        things: Vec<String>,
        /// `MQTT 3.1.1`, `MQTT 5`, `HTTP`, `internal`.
        protocol: String,
        /// The peer address, for a network client.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
    },
    /// A policy decision on this message (publish, retain, or a subscriber's receive).
    Policy {
        /// `iot:Publish`, `iot:RetainPublish` or `iot:Receive`.
        action: String,
        /// For `iot:Receive`: the subscriber.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subscriber: Option<String>,
        /// The decision, its statements and variable bindings.
        explanation: Explanation,
        /// Why no policy was evaluated (a listener without policies), if so.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// The message went no further, and why (publish denied, invalid topic, too large).
    Refused {
        /// What a person reads.
        reason: String,
        /// What the publisher was told (`disconnected`, `PUBACK 0x87 Not authorized`, …).
        answer: String,
    },
    /// RETAIN handling.
    Retained {
        /// `stored` (replacing any previous) or `cleared` (an empty payload).
        action: String,
    },
    /// A Basic Ingest message (`$aws/rules/<rule>/…`): it goes to that rule only.
    Ingest {
        /// The rule named by the topic.
        rule: String,
        /// Whether the rule exists and is enabled.
        found: bool,
    },
    /// No subscription matched the topic.
    NoSubscribers,
    /// A matching subscription and what the router did with the message for it.
    Subscriber {
        /// The subscriber's client id.
        client_id: String,
        /// Its filters that match the topic.
        filters: Vec<String>,
        /// The QoS it gets: the lower of the publish and the subscription.
        qos: u8,
        /// What became of it.
        outcome: Queueing,
        /// Whether it is one of Thingbox's own services (shadow, rules, jobs, provisioning).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        service: bool,
    },
    /// More subscribers than a trace records one by one.
    MoreSubscribers {
        /// How many more.
        count: usize,
    },
    /// The subscriber's connection sent it.
    Delivered {
        /// The subscriber's client id.
        client_id: String,
        /// QoS sent at.
        qos: u8,
        /// The packet id (QoS 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        packet_id: Option<u16>,
        /// Sent again after a reconnect (DUP).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        dup: bool,
    },
    /// The subscriber acknowledged it (PUBACK).
    Acknowledged {
        /// The subscriber's client id.
        client_id: String,
        /// The packet id.
        packet_id: u16,
    },
    /// A rule whose FROM matched.
    Rule {
        /// Rule name.
        rule: String,
        /// What WHERE evaluated to (`true`, `false`, `undefined`…).
        condition: String,
        /// The SELECT's output, when WHERE was true.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<PayloadView>,
        /// Whether its actions were queued for the rule's worker (their results follow in a
        /// `ruleActions` step).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        queued: bool,
        /// Results of actions carried out at once (republishes).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        actions: Vec<ActionResult>,
        /// The errorAction's result, when an action failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_action: Option<ActionResult>,
        /// Why the actions did not run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dropped: Option<String>,
    },
    /// A rule's worker carried out its actions for this message.
    RuleActions {
        /// Rule name.
        rule: String,
        /// Each action's result.
        actions: Vec<ActionResult>,
        /// The errorAction's result, when an action failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_action: Option<ActionResult>,
    },
    /// The rules engine did not evaluate it: it is too many republishes away from a client.
    RuleLoopStopped {
        /// Republishes that led to it.
        hops: u8,
    },
    /// A message published because of this one (a republish, a shadow reply), with its own trace.
    Caused {
        /// Who published it (`rule <name>`, `shadow service`).
        by: String,
        /// Its topic.
        topic: String,
        /// Its trace.
        trace: u64,
    },
    /// The shadow service's answer.
    Shadow {
        /// Thing name.
        thing: String,
        /// Named shadow, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shadow: Option<String>,
        /// `update`, `get` or `delete`.
        operation: String,
        /// Whether it was accepted.
        accepted: bool,
        /// The shadow's version after it (accepted updates and deletes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<u64>,
        /// The rejection's code (400, 404, 409, 413, 429…).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<u16>,
        /// The rejection's message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// The jobs service's answer to a device's request.
    Job {
        /// Thing name.
        thing: String,
        /// The request (`get`, `start-next`, `<jobId>/update`, …).
        operation: String,
        /// Whether it was accepted.
        accepted: bool,
        /// The job execution's status after it, when it changed one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
        /// The rejection's code and message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// What the router did with a message for one subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Queueing {
    /// Queued for the live connection (a `delivered` step follows when it is sent).
    Queued,
    /// Queued for a persistent session without a connection (stored; sent when it reconnects).
    QueuedOffline,
    /// Dropped: the session's queue was full.
    DroppedQueueFull,
    /// Dropped: QoS 0 to a session without a connection.
    DroppedOfflineQos0,
    /// Skipped: the subscriber published it and subscribed with MQTT 5 no-local.
    NoLocal,
}

/// Trace everything a client publishes, or everything on topics matching a filter, for a while.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArmRequest {
    /// The publisher's client id.
    #[serde(default)]
    pub client_id: Option<String>,
    /// A topic filter.
    #[serde(default)]
    pub topic: Option<String>,
    /// For how long (default 10, at most 1,440).
    #[serde(default)]
    pub minutes: Option<u32>,
}

/// An armed trace session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Armed {
    /// Its number (to disarm it).
    pub id: u64,
    /// The client id it traces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The topic filter it traces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// When it ends (ms since the epoch).
    pub until: i64,
    /// Messages traced so far.
    pub traced: u64,
    /// Messages it matched beyond its per-second cap, counted but not traced.
    #[serde(default)]
    pub skipped: u64,
}

/// `GET /console/api/traces`: the newest traces that match, newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceList {
    /// The traces.
    pub traces: Vec<TraceSummary>,
    /// Armed sessions.
    pub armed: Vec<Armed>,
    /// How the tracer samples, for a person.
    pub sampling: String,
    /// Traces held now.
    pub held: usize,
}

/// `GET /console/api/traces/why-not?client=…&topic=…`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WhyNot {
    /// The client asked about.
    pub client_id: String,
    /// The topic asked about.
    pub topic: String,
    /// Whether, as things stand, a message on the topic would reach the client.
    pub would_receive: bool,
    /// The answer in one sentence.
    pub verdict: String,
    /// Each fact checked, in order.
    pub findings: Vec<Finding>,
    /// The newest traced message on the topic, and what became of it for this client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message: Option<LastMessage>,
}

/// One fact the "why not" answer checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// `session`, `subscription`, `policy`, `publisher`.
    pub check: String,
    /// Whether this check passed.
    pub ok: bool,
    /// What a person reads.
    pub detail: String,
    /// The policy decision, for a policy check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
}

/// The newest traced message on a topic, seen from one client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastMessage {
    /// Its trace.
    pub trace: u64,
    /// When it was published.
    pub timestamp: i64,
    /// What became of it for the client.
    pub for_client: String,
}
