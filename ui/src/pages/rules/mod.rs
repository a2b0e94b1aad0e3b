//! Rules: every topic rule with live counters and a sparkline of the last minute, enable/disable in
//! place; one rule's page shows what it did with each recent message — the input, what WHERE said,
//! the output, and every action's result with its error — which AWS's console cannot show.
//! Rules are made and changed through the AWS API ([`editor`]), like any AWS client would.

pub mod dryrun;
pub mod editor;
pub mod sql;

use leptos::prelude::*;
use serde_json::Value;
use thingbox_api::rules::{
    ActionResult, Firing, Outcome, PayloadView, RuleDetail as Detail, RuleStats, RuleSummary,
};

use crate::api::{self, ApiError, act, enc, load};
use crate::live::Live;
use crate::widgets::{ConfirmButton, ErrorBox, loaded};

/// A sparkline of firings per second.
#[component]
pub fn Sparkline(series: Vec<u32>) -> impl IntoView {
    let max = series.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = series.len().max(2) as f64 - 1.0;
    let points: String = series
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", i as f64 * 120.0 / n, 22.0 - *v as f64 / max * 20.0))
        .collect::<Vec<_>>()
        .join(" ");
    let total: u32 = series.iter().sum();
    view! {
        <svg class="spark" viewBox="0 0 120 24" preserveAspectRatio="none">
            <title>{format!("{total} firings in the last minute")}</title>
            <polyline points=points/>
        </svg>
    }
}

/// The live counters of `name` (from the event stream), else `fallback`.
fn live_stats(live: Live, name: &str, fallback: &RuleStats) -> RuleStats {
    live.rule_stats.with(|v| v.iter().find(|s| s.name == name).cloned()).unwrap_or_else(|| fallback.clone())
}

fn toggle(err: RwSignal<Option<ApiError>>, name: String, enable: bool) {
    let url = format!("/rules/{}/{}", enc(&name), if enable { "enable" } else { "disable" });
    act(err, async move { api::call("POST", &url, None).await }, |_| {});
}

/// The rules page.
#[component]
pub fn Rules() -> impl IntoView {
    let live = expect_context::<Live>();
    let err = RwSignal::new(None::<ApiError>);
    let list = load(move || {
        live.rules.get();
        async move { api::get("/console/api/rules").await }
    });
    view! {
        <div class="spread">
            <h1>"Rules"</h1>
            <a href="#/rules/new"><button class="primary" id="new-rule">"Create rule"</button></a>
        </div>
        <ErrorBox err=err/>
        <p class="muted" id="rules-engine">{move || {
            let e = live.rule_engine.get();
            format!("Rules engine: {} messages received, {} dropped (queue full), {} republish chains stopped (loops), {} Basic Ingest messages for no enabled rule.",
                e.received, e.dropped, e.loops_stopped, e.ingest_unknown)
        }}</p>
        {loaded(list, move |v: Value| {
            let rules: Vec<RuleSummary> = v.get("rules").cloned().and_then(|r| serde_json::from_value(r).ok()).unwrap_or_default();
            if rules.is_empty() {
                return view! { <div class="empty">"No rules yet. A rule runs SQL over the messages on a topic and sends the result somewhere: another topic, an HTTP endpoint, a local table, a file. Create one here or with "<code>"aws iot create-topic-rule"</code>"."</div> }.into_any();
            }
            view! {
                <table id="rules"><thead><tr>
                    <th>"Rule"</th><th>"Topic"</th><th>"Actions"</th><th>"Fired / evaluated"</th><th>"Actions ok / failed"</th><th>"Last minute"</th><th>"Last error"</th><th></th>
                </tr></thead><tbody>
                {rules.into_iter().map(|r| {
                    let name = r.name.clone();
                    let fallback = r.stats.clone();
                    let (n1, n2, n3) = (name.clone(), name.clone(), name.clone());
                    let f1 = fallback.clone();
                    let f2 = fallback.clone();
                    let f3 = fallback.clone();
                    let disabled = r.disabled;
                    view! {
                        <tr data-rule=name.clone() class:muted=disabled>
                            <td><a href=format!("#/rules/{name}")>{name.clone()}</a>{disabled.then(|| view! { " "<span class="badge warn">"disabled"</span> })}</td>
                            <td class="mono">{r.topic_pattern.clone().unwrap_or_else(|| "(Basic Ingest only)".into())}</td>
                            <td>{r.actions.join(", ")}{r.error_action.clone().map(|e| format!(" (on error: {e})"))}</td>
                            <td class="fired">{move || { let s = live_stats(live, &n1, &f1); format!("{} / {}", s.matched, s.evaluated) }}</td>
                            <td class="outcomes">{move || { let s = live_stats(live, &n2, &f2);
                                view! { <span class="ok-count">{s.actions_ok}</span>" / "<span class:bad-count={s.actions_failed > 0}>{s.actions_failed}</span> } }}</td>
                            <td>{move || view! { <Sparkline series=live_stats(live, &n3, &f3).per_second/> }}</td>
                            <td class="last-error">{
                                let n = name.clone();
                                let f = fallback.clone();
                                move || live_stats(live, &n, &f).last_error.unwrap_or_default()
                            }</td>
                            <td>{
                                let n = name.clone();
                                view! { <button class="toggle" on:click=move |_| toggle(err, n.clone(), disabled)>{if disabled { "Enable" } else { "Disable" }}</button> }
                            }</td>
                        </tr>
                    }
                }).collect_view()}
                </tbody></table>
            }.into_any()
        })}
        <LocalTables err=err/>
    }
}

/// The local tables the dynamoDB actions write: items, key, a look inside, export, drop.
#[component]
fn LocalTables(err: RwSignal<Option<ApiError>>) -> impl IntoView {
    let live = expect_context::<Live>();
    let bump = RwSignal::new(0u32);
    let tables = load(move || {
        bump.get();
        // Counters move when actions run: refetch with them, at most once a second.
        live.rule_engine.with(|e| e.received);
        async move { api::get("/console/api/rule-tables").await }
    });
    let open = RwSignal::new(None::<String>);
    let items = load(move || {
        let name = open.get();
        bump.get();
        async move {
            match name {
                Some(n) => api::get(&format!("/console/api/rule-tables/{}?limit=100", enc(&n))).await,
                None => Ok(Value::Null),
            }
        }
    });
    let export = move |name: String| {
        let url = format!("/console/api/rule-tables/{}/export", enc(&name));
        act(
            err,
            async move { api::download("GET", &url, None, "table.jsonl").await.map(|_| Value::Null) },
            |_| {},
        );
    };
    view! {
        <h2>"Local tables"</h2>
        <p class="muted">"What dynamoDB and dynamoDBv2 actions write, and what get_dynamodb() reads."</p>
        {loaded(tables, move |v: Value| {
            let list: Vec<thingbox_api::rules::TableInfo> = serde_json::from_value(v).unwrap_or_default();
            if list.is_empty() {
                return view! { <p class="muted" id="no-tables">"No tables yet."</p> }.into_any();
            }
            view! {
                <table id="rule-tables"><thead><tr><th>"Table"</th><th>"Items"</th><th>"Key"</th><th></th></tr></thead><tbody>
                {list.into_iter().map(|t| {
                    let (n1, n2, n3) = (t.name.clone(), t.name.clone(), t.name.clone());
                    view! { <tr data-table=t.name.clone()>
                        <td class="mono">{t.name.clone()}</td><td>{t.items}</td><td class="mono">{t.key.join(", ")}</td>
                        <td class="row">
                            <button class="view-table" on:click=move |_| open.set(Some(n1.clone()))>"View"</button>
                            <button class="export-table" on:click=move |_| export(n2.clone())>"Export"</button>
                            <ConfirmButton label="Drop" question=format!("Drop the local table {n3} and all its items?") on_confirm={
                                let n = n3.clone();
                                move || {
                                    let url = format!("/console/api/rule-tables/{}", enc(&n));
                                    act(err, async move { api::call("DELETE", &url, None).await }, move |_| { open.set(None); bump.update(|b| *b += 1); });
                                }
                            }/>
                        </td>
                    </tr> }
                }).collect_view()}
                </tbody></table>
            }.into_any()
        })}
        {move || open.get().map(|name| view! {
            <h2>{format!("Items of {name}")}</h2>
            {loaded(items, |v: Value| {
                let rows = v.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
                let more = v.get("next").is_some_and(|n| !n.is_null());
                view! {
                    <pre id="table-items" class="small">{rows.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("\n")}</pre>
                    {more.then(|| view! { <p class="muted">"The first 100 items; export for all."</p> })}
                }
            })}
        })}
    }
}

fn payload_text(p: &PayloadView) -> String {
    let text = if p.base64 { format!("(binary, base64) {}", p.text) } else { p.text.clone() };
    let pretty = thingbox_sql::parse_payload(text.as_bytes(), thingbox_sql::SqlVersion::V2015_10_08)
        .map(|v| v.pretty_json())
        .unwrap_or(text);
    if p.truncated { format!("{pretty}\n… ({} bytes in all)", p.size) } else { pretty }
}

fn outcome_badge(r: &ActionResult) -> impl IntoView + use<> {
    let (class, word) = match r.outcome {
        Outcome::Ok => ("badge ok", "ok"),
        Outcome::Failed => ("badge bad", "failed"),
        Outcome::Recorded => ("badge warn", "recorded"),
    };
    view! { <span class=class title=r.error.clone().or(r.detail.clone()).unwrap_or_default()>{format!("{} {word}", r.kind)}</span> }
}

/// The p99 bucket's upper bound, as people read it.
fn p99(micros: f64) -> String {
    if micros == 0.0 {
        "—".into()
    } else if micros < 1000.0 {
        format!("≤ {} µs", micros.ceil())
    } else {
        format!("≤ {:.1} ms", micros / 1000.0)
    }
}

fn time_of(ms: i64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    format!("{:02}:{:02}:{:02}.{:03}", d.get_hours(), d.get_minutes(), d.get_seconds(), d.get_milliseconds())
}

#[component]
fn ActionRow(r: ActionResult) -> impl IntoView {
    view! {
        <tr class="action-result" data-outcome=format!("{:?}", r.outcome).to_lowercase()>
            <td>{r.index.map(|i| format!("#{}", i + 1)).unwrap_or_else(|| "errorAction".into())}</td>
            <td>{outcome_badge(&r)}</td>
            <td class="mono">{r.target.clone()}</td>
            <td>{r.error.clone().map(|e| view! { <span class="invalid">{e}</span> })}{r.detail.clone().map(|d| view! { <span class="muted">{d}</span> })}</td>
            <td class="muted">{format!("{:.1} ms", r.millis)}</td>
        </tr>
    }
}

/// One firing, expandable.
#[component]
fn FiringRow(f: Firing) -> impl IntoView {
    let open = RwSignal::new(false);
    let summary = f.actions.iter().map(outcome_badge).collect_view();
    let failed = f.actions.iter().any(|a| a.outcome == Outcome::Failed) || f.dropped.is_some();
    let f = StoredValue::new(f);
    view! {
        <tr class="firing" class:failed=failed on:click=move |_| open.update(|o| *o = !*o)>
            <td class="mono">{f.with_value(|f| time_of(f.timestamp))}</td>
            <td class="mono">{f.with_value(|f| f.topic.clone())}</td>
            <td>{f.with_value(|f| f.client_id.clone().unwrap_or_else(|| "—".into()))}</td>
            <td><span class=f.with_value(|f| if f.condition == "true" { "badge ok" } else { "badge" })>{f.with_value(|f| format!("WHERE {}", f.condition))}</span></td>
            <td class="row">{summary}{f.with_value(|f| f.dropped.clone()).map(|d| view! { <span class="badge bad" title=d>"dropped"</span> })}</td>
        </tr>
        <Show when=move || open.get()>
            <tr class="firing-detail"><td colspan="5">
                <div class="split">
                    <div><div class="label muted">"Input"</div><pre class="input">{f.with_value(|f| payload_text(&f.input))}</pre></div>
                    <div><div class="label muted">"Output"</div><pre class="output">{f.with_value(|f| f.output.as_ref().map(payload_text).unwrap_or_else(|| "(WHERE was not true: no output, no actions)".into()))}</pre></div>
                </div>
                {f.with_value(|f| f.dropped.clone()).map(|d| view! { <div class="error">{d}</div> })}
                {f.with_value(|f| (!f.actions.is_empty() || f.error_action.is_some()).then(|| {
                    let rows: Vec<ActionResult> = f.actions.iter().cloned().chain(f.error_action.clone()).collect();
                    view! { <table class="actions"><tbody>{rows.into_iter().map(|r| view! { <ActionRow r=r/> }).collect_view()}</tbody></table> }
                }))}
            </td></tr>
        </Show>
    }
}

/// One rule: its SQL and actions, live counters, and what it did with recent messages.
#[component]
pub fn RuleDetail(name: String) -> impl IntoView {
    let live = expect_context::<Live>();
    let err = RwSignal::new(None::<ApiError>);
    let n = StoredValue::new(name.clone());
    // Refetch when this rule's counters move (the stream sends them once a second).
    let moved = Memo::new(move |_| {
        live.rule_stats.with(|v| {
            v.iter()
                .find(|s| n.with_value(|n| s.name == *n))
                .map(|s| (s.evaluated, s.actions_ok + s.actions_failed, s.dropped))
        })
    });
    let detail = load(move || {
        moved.get();
        live.rules.get();
        let url = format!("/console/api/rules/{}", enc(&n.get_value()));
        async move {
            let v = api::get(&url).await?;
            serde_json::from_value::<Detail>(v).map_err(|e| ApiError {
                kind: "BadResponse".into(),
                message: e.to_string(),
                status: 200,
            })
        }
    });
    let rule = load(move || {
        live.rules.get();
        let url = format!("/rules/{}", enc(&n.get_value()));
        async move { api::get(&url).await }
    });
    let delete = move || {
        let url = format!("/rules/{}", enc(&n.get_value()));
        act(err, async move { api::call("DELETE", &url, None).await }, |_| crate::go("rules"));
    };
    view! {
        <div class="spread">
            <h1><a href="#/rules">"Rules"</a>" / "{name.clone()}</h1>
            <div class="row">
                <a href=format!("#/rules/{name}/edit")><button id="edit-rule">"Edit"</button></a>
                {move || detail.get().and_then(Result::ok).map(|d| {
                    let disabled = d.summary.disabled;
                    view! { <button id="toggle-rule" on:click=move |_| toggle(err, n.get_value(), disabled)>{if disabled { "Enable" } else { "Disable" }}</button> }
                })}
                <ConfirmButton label="Delete rule" question=format!("Delete rule {name}? Its actions stop at once.") on_confirm=delete/>
            </div>
        </div>
        <ErrorBox err=err/>
        {loaded(rule, |v: Value| {
            let r = v.get("rule").cloned().unwrap_or_default();
            let sql_text = crate::widgets::s(&r, "sql");
            let actions = r.get("actions").and_then(Value::as_array).cloned().unwrap_or_default();
            view! {
                <div class="card" id="rule-summary">
                    <sql::SqlView sql=sql_text/>
                    <div class="kv">
                        <div>"SQL version"</div><div>{crate::widgets::s(&r, "awsIotSqlVersion")}</div>
                        <div>"Description"</div><div>{crate::widgets::s(&r, "description")}</div>
                        <div>"ARN"</div><div class="mono">{crate::widgets::s(&v, "ruleArn")}</div>
                        {actions.into_iter().enumerate().map(|(i, a)| view! {
                            <div>{format!("Action #{}", i + 1)}</div><div class="mono">{a.to_string()}</div>
                        }).collect_view()}
                        {r.get("errorAction").map(|e| view! { <div>"errorAction"</div><div class="mono">{e.to_string()}</div> })}
                    </div>
                </div>
            }
        })}
        {loaded(detail, move |d: Detail| {
            let s = live_stats(live, &d.summary.name, &d.summary.stats);
            let firings = d.firings.clone();
            let filtered = d.filtered.clone();
            view! {
                <div class="grid" id="rule-stats" style="margin-top:12px">
                    <div class="card"><div class="label">"Evaluated"</div><div class="big">{s.evaluated}</div></div>
                    <div class="card"><div class="label">"Fired (WHERE true)"</div><div class="big" id="stat-matched">{s.matched}</div></div>
                    <div class="card"><div class="label">"WHERE not true"</div><div class="big">{s.filtered}</div></div>
                    <div class="card"><div class="label">"Actions ok / failed"</div><div class="big" id="stat-actions">{format!("{} / {}", s.actions_ok, s.actions_failed)}</div></div>
                    <div class="card"><div class="label">"errorAction runs"</div><div class="big">{s.error_actions}</div></div>
                    <div class="card"><div class="label">"p99 SQL time"</div><div class="big">{p99(s.eval_p99_micros)}</div></div>
                </div>
                {s.last_error.clone().map(|e| view! { <div class="error" id="rule-last-error"><b>"Last error: "</b>{e}</div> })}
                <h2>"Recent firings"</h2>
                {if firings.is_empty() {
                    view! { <div class="empty">"Nothing yet: no message on this rule's topic has met its WHERE. Try a dry run from the editor."</div> }.into_any()
                } else {
                    view! { <table id="firings"><thead><tr><th>"Time"</th><th>"Topic"</th><th>"Client"</th><th>"WHERE"</th><th>"Actions"</th></tr></thead><tbody>
                        {firings.into_iter().map(|f| view! { <FiringRow f=f/> }).collect_view()}
                    </tbody></table> }.into_any()
                }}
                <h2>"Messages on its topic that WHERE turned away"</h2>
                {if filtered.is_empty() {
                    view! { <p class="muted">"None recently."</p> }.into_any()
                } else {
                    view! { <table id="filtered"><thead><tr><th>"Time"</th><th>"Topic"</th><th>"Client"</th><th>"WHERE"</th><th></th></tr></thead><tbody>
                        {filtered.into_iter().map(|f| view! { <FiringRow f=f/> }).collect_view()}
                    </tbody></table> }.into_any()
                }}
            }
        })}
    }
}
