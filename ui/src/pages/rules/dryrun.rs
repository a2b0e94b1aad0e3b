//! The dry run: the draft rule over recent messages from the history (those on its FROM topic)
//! or over a payload typed here, evaluated in the browser by the engine's own evaluator. For each
//! message: what WHERE said, the output, and where each action would go (templates resolved).
//! Nothing is published or stored. External functions (`get_thing_shadow`, `get_dynamodb`) read
//! nothing here.

use leptos::prelude::*;
use serde_json::Value;
use thingbox_sql::{FixedHost, Input, Output, SqlVersion, Template};

use super::editor::ActionDraft;
use crate::api::{self, ApiError, act, enc};
use crate::widgets::ErrorBox;

/// A message to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// Publisher's client id.
    pub client_id: Option<String>,
    /// When it was published.
    pub timestamp: i64,
}

impl Sample {
    /// Runs `f` with this message as the evaluator's input and a fixed host (the message's time).
    pub fn with_input<R>(&self, f: impl FnOnce(&Input<'_>, &FixedHost) -> R) -> R {
        let mut input = Input::new(&self.topic, &self.payload);
        input.client_id = self.client_id.as_deref();
        input.account = "000000000000";
        let host = FixedHost::new(self.timestamp, 7);
        f(&input, &host)
    }
}

/// One message's result.
#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    sample: Sample,
    condition: String,
    output: Option<String>,
    targets: Vec<String>,
}

fn text_of(payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(t) => thingbox_sql::parse_payload(t.as_bytes(), SqlVersion::V2015_10_08)
            .map(|v| v.pretty_json())
            .unwrap_or_else(|| t.to_owned()),
        Err(_) => format!("({} bytes of binary)", payload.len()),
    }
}

fn run_one(
    sample: &Sample,
    query: &thingbox_sql::Query,
    actions: &[ActionDraft],
    version: SqlVersion,
) -> Outcome {
    sample.with_input(|input, host| {
        let ev = query.evaluate(input, host);
        let condition = match &ev.condition {
            thingbox_sql::Value::Undefined => "undefined".to_owned(),
            v => v.json_text(),
        };
        let output = ev.output.as_ref().map(|o| match o {
            Output::Json(v) => v.pretty_json(),
            Output::Binary(b) => format!("({} bytes of binary)", b.len()),
            Output::Empty => "(empty payload)".into(),
        });
        let targets = if ev.output.is_some() {
            actions
                .iter()
                .map(|a| {
                    let json = a.to_json().unwrap_or(Value::Null);
                    let body = json.get(&a.kind).cloned().unwrap_or(Value::Null);
                    let main = [
                        "topic",
                        "url",
                        "functionArn",
                        "tableName",
                        "key",
                        "queueUrl",
                        "targetArn",
                        "streamName",
                    ]
                    .iter()
                    .find_map(|k| body.get(*k).and_then(Value::as_str).map(str::to_owned))
                    .or_else(|| {
                        body.get("putItem")
                            .and_then(|p| p.get("tableName"))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .unwrap_or_default();
                    let resolved =
                        Template::parse(&main, version).map(|t| t.render(input, host)).unwrap_or(main);
                    format!("{} → {resolved}", a.kind)
                })
                .collect()
        } else {
            Vec::new()
        };
        Outcome { sample: sample.clone(), condition, output, targets }
    })
}

/// The dry-run panel.
#[component]
pub fn DryRun(
    sql: RwSignal<String>,
    version: RwSignal<SqlVersion>,
    actions: RwSignal<Vec<(u32, RwSignal<ActionDraft>)>>,
    sample: RwSignal<Option<Sample>>,
) -> impl IntoView {
    let err = RwSignal::new(None::<ApiError>);
    let source = RwSignal::new("history".to_owned());
    let count = RwSignal::new("20".to_owned());
    let topic = RwSignal::new("sensors/lamp-1/data".to_owned());
    let pasted = RwSignal::new("{\"temperature\": 35}".to_owned());
    let results = RwSignal::new(None::<Result<Vec<Outcome>, String>>);
    let evaluate = move |samples: Vec<Sample>| {
        sample.set(samples.first().cloned());
        let v = version.get_untracked();
        let drafts: Vec<ActionDraft> =
            actions.get_untracked().iter().map(|(_, d)| d.get_untracked()).collect();
        results.set(Some(match thingbox_sql::parse(&sql.get_untracked(), v) {
            Ok(q) => Ok(samples.iter().map(|s| run_one(s, &q, &drafts, v)).collect()),
            Err(e) => Err(format!("The SQL does not parse: {e}")),
        }));
    };
    let run = move |_| {
        if source.get_untracked() == "paste" {
            evaluate(vec![Sample {
                topic: topic.get_untracked(),
                payload: pasted.get_untracked().into_bytes(),
                client_id: Some("dry-run".into()),
                timestamp: js_sys::Date::now() as i64,
            }]);
            return;
        }
        let filter = thingbox_sql::parse(&sql.get_untracked(), version.get_untracked())
            .ok()
            .and_then(|q| q.topic_filter().map(str::to_owned));
        let limit = count.get_untracked().trim().parse::<u32>().unwrap_or(20).clamp(1, 500);
        let url = match &filter {
            Some(f) => format!("/console/api/history?limit={limit}&filter={}", enc(f)),
            None => format!("/console/api/history?limit={limit}"),
        };
        act(err, async move { api::get(&url).await }, move |v| {
            let samples = v
                .get("messages")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|m| {
                    let payload = match (
                        m.get("payload").and_then(Value::as_str),
                        m.get("payloadBase64").and_then(Value::as_str),
                    ) {
                        (Some(t), _) => t.as_bytes().to_vec(),
                        (None, Some(_)) => return None,
                        (None, None) => Vec::new(),
                    };
                    Some(Sample {
                        topic: crate::widgets::s(m, "topic"),
                        payload,
                        client_id: m.get("clientId").and_then(Value::as_str).map(str::to_owned),
                        timestamp: m.get("timestamp").and_then(Value::as_i64).unwrap_or(0),
                    })
                })
                .collect();
            evaluate(samples);
        });
    };
    view! {
        <div class="card" id="dry-run">
            <div class="row">
                <label><input type="radio" name="dry-source" prop:checked=move || source.get() == "history" on:change=move |_| source.set("history".into())/>" the last "</label>
                <input id="dry-count" style="width:60px" prop:value=move || count.get() on:input=move |e| count.set(event_target_value(&e))/>
                <span>" messages on its topic, from the history"</span>
            </div>
            <div class="row" style="margin-top:6px">
                <label><input type="radio" name="dry-source" id="dry-paste" prop:checked=move || source.get() == "paste" on:change=move |_| source.set("paste".into())/>" this message:"</label>
            </div>
            <Show when=move || source.get() == "paste">
                <div class="form" style="margin-top:6px">
                    <label for="dry-topic">"Topic"</label>
                    <input id="dry-topic" prop:value=move || topic.get() on:input=move |e| topic.set(event_target_value(&e))/>
                    <label for="dry-payload">"Payload"</label>
                    <textarea id="dry-payload" class="short" prop:value=move || pasted.get() on:input=move |e| pasted.set(event_target_value(&e))></textarea>
                </div>
            </Show>
            <div class="row" style="margin-top:8px">
                <button class="primary" id="dry-run-go" on:click=run>"Run"</button>
                <span class="muted">"Evaluated here; nothing is published. get_thing_shadow() and get_dynamodb() read nothing in a dry run."</span>
            </div>
            <ErrorBox err=err/>
            {move || results.get().map(|r| match r {
                Err(e) => view! { <div class="error">{e}</div> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p class="muted" id="dry-empty">"No messages on this topic in the history yet: publish some, or paste one."</p> }.into_any(),
                Ok(list) => {
                    let fired = list.iter().filter(|o| o.output.is_some()).count();
                    view! {
                        <p id="dry-summary">{format!("{fired} of {} messages fire the rule.", list.len())}</p>
                        <table id="dry-results"><thead><tr><th>"Message"</th><th>"WHERE"</th><th>"Output and actions"</th></tr></thead><tbody>
                        {list.into_iter().map(|o| view! {
                            <tr class="dry-row" class:fired=o.output.is_some()>
                                <td><div class="mono">{o.sample.topic.clone()}</div><pre class="small">{text_of(&o.sample.payload)}</pre></td>
                                <td><span class=if o.condition == "true" { "badge ok" } else { "badge" }>{o.condition.clone()}</span></td>
                                <td>{o.output.clone().map(|out| view! { <pre class="small dry-output">{out}</pre> })}
                                    {o.targets.into_iter().map(|t| view! { <div class="mono dry-target">{t}</div> }).collect_view()}</td>
                            </tr>
                        }).collect_view()}
                        </tbody></table>
                    }.into_any()
                }
            })}
        </div>
    }
}
