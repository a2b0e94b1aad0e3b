//! Message flow: the tracer's page. Search the traced messages (by client, topic filter, time, only
//! the ones where something went wrong), arm a trace session for a client or a topic, ask "why did
//! client X not get topic T?", and read one message's trace — every step it took and why: the
//! publisher, each policy decision with its statement and variables, retain, each subscriber and
//! what became of the message for it, each rule with WHERE, output and actions, the shadow or jobs
//! service's answer, and the messages it caused.

use leptos::prelude::*;
use thingbox_api::console::Explanation;
use thingbox_api::rules::{ActionResult, Outcome};
use thingbox_api::trace::{Queueing, Step, Trace, TraceList, TraceStep, WhyNot};

use crate::api::{self, ApiError, act, enc, load};
use crate::go;
use crate::widgets::{ErrorBox, loaded};

fn clock(ms: i64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    format!("{:02}:{:02}:{:02}.{:03}", d.get_hours(), d.get_minutes(), d.get_seconds(), d.get_milliseconds())
}

/// The list page; `client` pre-fills the client filter (from a thing's page).
#[component]
pub fn Traces(#[prop(optional)] client: Option<String>) -> impl IntoView {
    let client = RwSignal::new(client.unwrap_or_default());
    let topic = RwSignal::new(String::new());
    let minutes = RwSignal::new(String::from("60"));
    let problems = RwSignal::new(false);
    let refresh = RwSignal::new(0u64);
    let list = load(move || {
        refresh.get();
        let mut q = vec![format!("minutes={}", enc(&minutes.get_untracked()))];
        let c = client.get_untracked();
        if !c.trim().is_empty() {
            q.push(format!("client={}", enc(c.trim())));
        }
        let t = topic.get_untracked();
        if !t.trim().is_empty() {
            q.push(format!("topic={}", enc(t.trim())));
        }
        if problems.get_untracked() {
            q.push("problems=true".into());
        }
        let path = format!("/console/api/traces?{}", q.join("&"));
        async move { api::get_as::<TraceList>(&path).await }
    });
    let search = move |e: leptos::ev::SubmitEvent| {
        e.prevent_default();
        refresh.update(|n| *n += 1);
    };
    view! {
        <div class="spread"><h1>"Message flow"</h1>
            <button id="traces-refresh" on:click=move |_| refresh.update(|n| *n += 1)>"Refresh"</button>
        </div>
        <p class="muted">"Every step a message took — who published it, which policy statement allowed or denied it, which subscribers got it and which did not, which rules fired and what their actions did — for a sample of the traffic and every message of an armed trace session."</p>
        <div class="split">
            <ArmPanel refresh=refresh/>
            <WhyNotPanel/>
        </div>
        <form class="row" id="trace-search" on:submit=search style="margin:12px 0">
            <input id="trace-client" placeholder="Client id" prop:value=move || client.get() on:input=move |e| client.set(event_target_value(&e))/>
            <input id="trace-topic" placeholder="Topic filter, e.g. lamp/#" prop:value=move || topic.get() on:input=move |e| topic.set(event_target_value(&e))/>
            <label class="row small">"last "<input id="trace-minutes" style="width:60px" prop:value=move || minutes.get() on:input=move |e| minutes.set(event_target_value(&e))/>" min"</label>
            <label class="row small"><input type="checkbox" id="trace-problems" prop:checked=move || problems.get() on:change=move |e| problems.set(event_target_checked(&e))/>"only problems"</label>
            <button type="submit" id="trace-search-go">"Search"</button>
        </form>
        {loaded(list, move |l: TraceList| {
            let sampling = l.sampling.clone();
            view! {
                <p class="muted small" id="trace-sampling">{format!("{} · {} held", sampling, l.held)}</p>
                {if l.traces.is_empty() {
                    view! { <div class="empty" id="traces-empty">"No traced message matches. Publish something, or arm a trace session above to trace every message of a client or topic."</div> }.into_any()
                } else {
                    view! {
                        <table id="traces"><thead><tr><th>"#"</th><th>"Time"</th><th>"Topic"</th><th>"Client"</th><th>"What happened"</th></tr></thead><tbody>
                            {l.traces.into_iter().map(|t| {
                                let id = t.id;
                                view! {
                                    <tr class="trace-row" data-id=id.to_string() style="cursor:pointer" on:click=move |_| go(&format!("trace/{id}"))>
                                        <td>{id}{t.armed.then(|| view! { <span class="badge" title="armed session">" A"</span> })}</td>
                                        <td class="mono">{clock(t.timestamp)}</td>
                                        <td class="mono">{t.topic}</td>
                                        <td class="mono">{t.client_id.unwrap_or_else(|| t.principal.clone())}</td>
                                        <td><span class=if t.problem { "badge bad" } else { "badge ok" }>{t.outcome}</span></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody></table>
                    }.into_any()
                }}
            }
        })}
    }
}

#[component]
fn ArmPanel(refresh: RwSignal<u64>) -> impl IntoView {
    let client = RwSignal::new(String::new());
    let topic = RwSignal::new(String::new());
    let minutes = RwSignal::new(String::from("10"));
    let err: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let armed = load(move || {
        refresh.get();
        async move { api::get_as::<TraceList>("/console/api/traces?limit=1").await.map(|l| l.armed) }
    });
    let submit = move |e: leptos::ev::SubmitEvent| {
        e.prevent_default();
        let mut body =
            serde_json::json!({ "minutes": minutes.get_untracked().trim().parse::<u32>().unwrap_or(0) });
        if !client.get_untracked().trim().is_empty() {
            body["clientId"] = client.get_untracked().trim().into();
        }
        if !topic.get_untracked().trim().is_empty() {
            body["topic"] = topic.get_untracked().trim().into();
        }
        act(err, api::call("POST", "/console/api/traces/arm", Some(body)), move |_| {
            refresh.update(|n| *n += 1)
        });
    };
    view! {
        <div class="card">
            <h2 style="margin-top:0">"Arm a trace session"</h2>
            <form class="form" id="arm-form" on:submit=submit>
                <input id="arm-client" placeholder="Client id" prop:value=move || client.get() on:input=move |e| client.set(event_target_value(&e))/>
                <input id="arm-topic" placeholder="or a topic filter" prop:value=move || topic.get() on:input=move |e| topic.set(event_target_value(&e))/>
                <label class="row small">"for "<input id="arm-minutes" style="width:60px" prop:value=move || minutes.get() on:input=move |e| minutes.set(event_target_value(&e))/>" minutes"</label>
                <button type="submit" id="arm-go">"Trace every message"</button>
            </form>
            <ErrorBox err=err/>
            {loaded(armed, move |armed: Vec<thingbox_api::trace::Armed>| {
                view! {
                    <ul id="armed" class="small">
                        {armed.into_iter().map(|a| {
                            let id = a.id;
                            let what = match (&a.client_id, &a.topic) {
                                (Some(c), Some(t)) => format!("client {c} on {t}"),
                                (Some(c), None) => format!("client {c}"),
                                (None, Some(t)) => format!("topic {t}"),
                                (None, None) => "everything".into(),
                            };
                            let skipped = (a.skipped > 0).then(|| format!(" ({} more over its cap of 2,000 a second, not traced)", a.skipped));
                            view! { <li>{format!("{what} — {} traced", a.traced)}{skipped}{format!(", until {}", clock(a.until))}" "
                                <button class="disarm" on:click=move |_| {
                                    let path = format!("/console/api/traces/arm/{id}");
                                    act(err, async move { api::call("DELETE", &path, None).await }, move |_| refresh.update(|n| *n += 1));
                                }>"Stop"</button></li> }
                        }).collect_view()}
                    </ul>
                }
            })}
        </div>
    }
}

#[component]
fn WhyNotPanel() -> impl IntoView {
    let client = RwSignal::new(String::new());
    let topic = RwSignal::new(String::new());
    let err: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let answer: RwSignal<Option<WhyNot>> = RwSignal::new(None);
    let submit = move |e: leptos::ev::SubmitEvent| {
        e.prevent_default();
        let path = format!(
            "/console/api/traces/why-not?client={}&topic={}",
            enc(client.get_untracked().trim()),
            enc(topic.get_untracked().trim())
        );
        act(err, async move { api::get(&path).await }, move |v| answer.set(serde_json::from_value(v).ok()));
    };
    view! {
        <div class="card">
            <h2 style="margin-top:0">"Why did a client not get a topic?"</h2>
            <form class="form" id="why-form" on:submit=submit>
                <input id="why-client" placeholder="Client id" prop:value=move || client.get() on:input=move |e| client.set(event_target_value(&e))/>
                <input id="why-topic" placeholder="Topic, e.g. $aws/things/lamp/shadow/update/delta" prop:value=move || topic.get() on:input=move |e| topic.set(event_target_value(&e))/>
                <button type="submit" id="why-go">"Ask"</button>
            </form>
            <ErrorBox err=err/>
            {move || answer.get().map(|w| view! {
                <div id="why-answer">
                    <p><span class=if w.would_receive { "badge ok" } else { "badge bad" }>{if w.would_receive { "would receive" } else { "would not receive" }}</span>" "<span id="why-verdict">{w.verdict.clone()}</span></p>
                    <ul class="small">
                        {w.findings.iter().map(|f| view! {
                            <li class="why-finding" data-ok=f.ok.to_string()>
                                <span class=if f.ok { "ALLOWED" } else { "IMPLICIT_DENY" }>{if f.ok { "✓ " } else { "✗ " }}</span>
                                <b>{f.check.clone()}</b>": "{f.detail.clone()}
                            </li>
                        }).collect_view()}
                    </ul>
                    {w.last_message.as_ref().map(|m| {
                        let id = m.trace;
                        view! { <a href=format!("#/trace/{id}") id="why-last">{format!("Open trace {id}")}</a> }
                    })}
                </div>
            })}
        </div>
    }
}

/// One trace: `id`, or the topic viewer's message number when `by_message`.
#[component]
pub fn TraceDetail(id: String, #[prop(optional)] by_message: bool) -> impl IntoView {
    let path = if by_message {
        format!("/console/api/traces/by-message/{}", enc(&id))
    } else {
        format!("/console/api/traces/{}", enc(&id))
    };
    let refresh = RwSignal::new(0u64);
    let t = load(move || {
        refresh.get();
        let p = path.clone();
        async move { api::get_as::<Trace>(&p).await }
    });
    view! {
        <div class="spread"><h1>"Message trace"</h1>
            <div class="row">
                <button id="trace-refresh" on:click=move |_| refresh.update(|n| *n += 1)>"Refresh"</button>
                <a href="#/trace">"All traces"</a>
            </div>
        </div>
        {loaded(t, move |t: Trace| {
            let s = &t.summary;
            view! {
                <div class="kv" id="trace-facts">
                    <div>"Trace"</div><div>{s.id}{s.parent.map(|p| view! { " · caused by " <a href=format!("#/trace/{p}")>{format!("trace {p}")}</a> })}</div>
                    <div>"Topic"</div><div class="mono">{s.topic.clone()}</div>
                    <div>"Time"</div><div>{clock(s.timestamp)}</div>
                    <div>"QoS / retain"</div><div>{format!("{} / {}", s.qos, if s.retain { "yes" } else { "no" })}</div>
                    <div>"Client"</div><div class="mono">{s.client_id.clone().unwrap_or_else(|| "—".into())}</div>
                    <div>"Outcome"</div><div><span id="trace-outcome" class=if s.problem { "badge bad" } else { "badge ok" }>{s.outcome.clone()}</span></div>
                    <div>"Payload"</div><div><pre class="mono" style="margin:0;white-space:pre-wrap">{t.payload.text.clone()}{t.payload.truncated.then_some(" …")}</pre></div>
                </div>
                <h2>"Steps"</h2>
                <ol id="trace-steps" class="trace-steps">
                    {t.steps.iter().map(|st| view! { <StepView s=st.clone() start=s.timestamp/> }).collect_view()}
                </ol>
            }
        })}
    }
}

fn outcome_class(o: Outcome) -> &'static str {
    if o == Outcome::Failed { "badge bad" } else { "badge ok" }
}

fn action_line(a: &ActionResult) -> impl IntoView + use<> {
    let what = format!("{} → {}", a.kind, a.target);
    let note = a.error.clone().or_else(|| a.detail.clone()).unwrap_or_default();
    let outcome = format!("{:?}", a.outcome).to_lowercase();
    view! { <li class="trace-action"><span class=outcome_class(a.outcome)>{outcome}</span>" "<span class="mono">{what}</span>" "{note}{format!(" ({:.1} ms)", a.millis)}</li> }
}

fn explanation_view(e: &Explanation, note: Option<String>) -> impl IntoView + use<> {
    let refs = |v: &[thingbox_api::console::StatementRef]| {
        v.iter()
            .map(|r| {
                let sid = r.sid.as_ref().map(|s| format!(" \"{s}\"")).unwrap_or_default();
                format!("{} v{} statement {}{sid}", r.policy, r.version, r.index + 1)
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let allowed = (!e.allowed_by.is_empty()).then(|| format!("allowed by {}", refs(&e.allowed_by)));
    let denied = (!e.denied_by.is_empty()).then(|| format!("denied by {}", refs(&e.denied_by)));
    let none = (e.allowed_by.is_empty() && e.denied_by.is_empty() && note.is_none()).then(|| {
        let names = e.policies.iter().map(|(n, v)| format!("{n} v{v}")).collect::<Vec<_>>().join(", ");
        format!(
            "no statement of {} matches",
            if names.is_empty() { "any policy (none attached)".into() } else { names }
        )
    });
    let bindings = e
        .bindings
        .iter()
        .map(|b| format!("{} = {}", b.variable, b.value.clone().unwrap_or_else(|| "(unresolved)".into())))
        .collect::<Vec<_>>()
        .join(" · ");
    view! {
        <span class=e.decision.clone()>{e.decision.clone()}</span>" "
        <span class="mono small">{e.resource.clone()}</span>
        <div class="small">{allowed}{denied}{none}{note.map(|n| format!(" — {n}"))}</div>
        {(!bindings.is_empty()).then(|| view! { <div class="small muted">{bindings}</div> })}
    }
}

#[component]
fn StepView(s: TraceStep, start: i64) -> impl IntoView {
    let at = format!("+{} ms", (s.at - start).max(0));
    let (title, body): (String, AnyView) = match s.step {
        Step::Published { identity, principal, things, protocol, peer } => (
            "Published".into(),
            view! { <div>{format!("by {identity} {principal}")}{(!things.is_empty()).then(|| format!(" (thing {})", things.join(", ")))}
                {format!(" over {protocol}")}{peer.map(|p| format!(" from {p}"))}</div> }.into_any(),
        ),
        Step::Policy { action, subscriber, explanation, note } => (
            match subscriber {
                Some(c) => format!("{action} for subscriber {c}"),
                None => action,
            },
            explanation_view(&explanation, note).into_any(),
        ),
        Step::Refused { reason, answer } => (
            "Refused".into(),
            view! { <div><span class="badge bad">{reason}</span>" — the publisher got: "{answer}</div> }.into_any(),
        ),
        Step::Retained { action } => ("Retained".into(), view! { <div>{format!("retained message {action}")}</div> }.into_any()),
        Step::Ingest { rule, found } => (
            "Basic Ingest".into(),
            view! { <div>{if found { format!("to rule {rule} only") } else { format!("no enabled rule named {rule}: the message went nowhere") }}</div> }.into_any(),
        ),
        Step::NoSubscribers => ("No subscribers".into(), view! { <div class="muted">"no subscription matched the topic"</div> }.into_any()),
        Step::Subscriber { client_id, filters, qos, outcome, service } => {
            let (class, what) = match outcome {
                Queueing::Queued => ("badge ok", "queued for its connection".to_owned()),
                Queueing::QueuedOffline => ("badge warn", "queued for its persistent session (offline)".to_owned()),
                Queueing::DroppedQueueFull => ("badge bad", "dropped: its queue was full".to_owned()),
                Queueing::DroppedOfflineQos0 => ("badge bad", "dropped: QoS 0 while offline".to_owned()),
                Queueing::NoLocal => ("badge", "skipped: no-local".to_owned()),
            };
            (
                format!("Subscriber {client_id}{}", if service { " (Thingbox service)" } else { "" }),
                view! { <div><span class=class>{what}</span>{format!(" at QoS {qos}")}{(!filters.is_empty()).then(|| format!(" — filter {}", filters.join(", ")))}</div> }.into_any(),
            )
        }
        Step::MoreSubscribers { count } => ("More".into(), view! { <div class="muted">{format!("{count} more steps not kept")}</div> }.into_any()),
        Step::Delivered { client_id, qos, packet_id, dup } => (
            format!("Sent to {client_id}"),
            view! { <div>{format!("at QoS {qos}")}{packet_id.map(|p| format!(", packet id {p}"))}{dup.then_some(" (DUP, after a reconnect)")}</div> }.into_any(),
        ),
        Step::Acknowledged { client_id, packet_id } => (
            format!("Acknowledged by {client_id}"),
            view! { <div>{format!("PUBACK for packet id {packet_id}")}</div> }.into_any(),
        ),
        Step::Rule { rule, condition, output, queued, actions, error_action, dropped } => (
            format!("Rule {rule}"),
            view! { <div>
                <span class=if condition == "true" { "badge ok" } else { "badge" }>{format!("WHERE {condition}")}</span>
                {output.map(|o| view! { <pre class="mono small" style="margin:4px 0;white-space:pre-wrap">{o.text}</pre> })}
                {queued.then(|| view! { <div class="small muted">"actions queued for the rule's worker"</div> })}
                {dropped.map(|d| view! { <div class="badge bad">{d}</div> })}
                <ul>{actions.iter().map(action_line).collect_view()}</ul>
                {error_action.map(|a| view! { <div class="small">"errorAction:"</div><ul>{action_line(&a)}</ul> })}
            </div> }.into_any(),
        ),
        Step::RuleActions { rule, actions, error_action } => (
            format!("Rule {rule}: actions"),
            view! { <div>
                <ul>{actions.iter().map(action_line).collect_view()}</ul>
                {error_action.map(|a| view! { <div class="small">"errorAction:"</div><ul>{action_line(&a)}</ul> })}
            </div> }.into_any(),
        ),
        Step::RuleLoopStopped { hops } => (
            "Rule loop stopped".into(),
            view! { <div class="badge bad">{format!("{hops} republishes from a client: the rules engine does not evaluate it")}</div> }.into_any(),
        ),
        Step::Caused { by, topic, trace } => (
            "Caused".into(),
            view! { <div>{format!("{by} published ")}<span class="mono">{topic}</span>" — "<a class="caused" href=format!("#/trace/{trace}")>{format!("trace {trace}")}</a></div> }.into_any(),
        ),
        Step::Shadow { thing, shadow, operation, accepted, version, code, message } => (
            format!("Shadow {thing}{}", shadow.map(|s| format!(" / {s}")).unwrap_or_default()),
            view! { <div>{if accepted {
                view! { <span class="badge ok">{format!("{operation} accepted{}", version.map(|v| format!(", version {v}")).unwrap_or_default())}</span> }.into_any()
            } else {
                view! { <span class="badge bad">{format!("{operation} rejected {}: {}", code.unwrap_or(0), message.unwrap_or_default())}</span> }.into_any()
            }}</div> }.into_any(),
        ),
        Step::Job { thing, operation, accepted, status, error } => (
            format!("Jobs for {thing}"),
            view! { <div><span class=if accepted { "badge ok" } else { "badge bad" }>{format!("{operation} {}", if accepted { "accepted" } else { "rejected" })}</span>
                {status.map(|s| format!(" — execution {s}"))}{error.map(|e| format!(" — {e}"))}</div> }.into_any(),
        ),
    };
    view! {
        <li class="trace-step">
            <div class="row"><b class="step-title">{title}</b><span class="muted small">{at}</span></div>
            {body}
        </li>
    }
}
