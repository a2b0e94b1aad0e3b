//! Overview: endpoints, counts, who is connected right now, the message rate, recent lifecycle
//! events.

use leptos::prelude::*;
use serde_json::Value;
use thingbox_api::console::Overview as OverviewData;

use crate::api::{self, load};
use crate::live::{Live, SAMPLES};
use crate::widgets::{Copy, date, loaded, s};

/// Strict-AWS mode: the switch, each quota with how often it was exceeded, and the newest notices.
#[component]
fn QuotaPanel() -> impl IntoView {
    let tick = crate::widgets::ticker(std::time::Duration::from_secs(5));
    let changed = RwSignal::new(0u64);
    let err = RwSignal::new(None::<api::ApiError>);
    let state = load(move || {
        tick.get();
        changed.get();
        async move { api::get_as::<thingbox_api::quotas::QuotaState>("/console/api/quotas").await }
    });
    let set = move |strict: bool| {
        api::act(
            err,
            async move {
                api::call("PUT", "/console/api/quotas", Some(serde_json::json!({ "strict": strict }))).await
            },
            move |_| changed.update(|n| *n += 1),
        );
    };
    view! {
        <h2>"AWS quotas"</h2>
        <crate::widgets::ErrorBox err=err/>
        {loaded(state, move |q: thingbox_api::quotas::QuotaState| view! {
            <div class="row">
                <label class="row"><input type="checkbox" id="strict-mode" prop:checked=q.strict
                    on:change=move |e| set(event_target_checked(&e))/>
                    <b>"Strict-AWS mode"</b></label>
                <span class="muted small">{if q.strict { "exceeded quotas are refused, as AWS refuses them" } else { "exceeded quotas are only reported: this would be throttled on AWS" }}</span>
            </div>
            <table id="quotas"><thead><tr><th>"Quota"</th><th>"Limit"</th><th>"Exceeded"</th></tr></thead><tbody>
                {q.quotas.iter().map(|x| view! { <tr data-quota=x.quota.clone()><td>{x.aws_name.clone()}</td><td>{x.limit.clone()}</td><td>{x.exceeded}</td></tr> }).collect_view()}
            </tbody></table>
            <ul id="quota-notices" class="small">
                {q.notices.iter().take(8).map(|n| view! { <li class=if n.refused { "IMPLICIT_DENY" } else { "warn" }>{n.text.clone()}</li> }).collect_view()}
            </ul>
        })}
    }
}

/// What the traffic would be billed as on AWS IoT Core, and what it would cost: the last 30 days,
/// messages per day drawn, the metrics priced, the things that use the most.
#[component]
fn UsagePanel() -> impl IntoView {
    let tick = crate::widgets::ticker(std::time::Duration::from_secs(10));
    let report = load(move || {
        tick.get();
        async move { api::get_as::<thingbox_api::usage::UsageReport>("/console/api/usage?days=30").await }
    });
    view! {
        <h2>"Usage and cost on AWS"</h2>
        {loaded(report, |u: thingbox_api::usage::UsageReport| {
            let e = u.estimate.clone();
            let peak = u.days.iter().map(|d| d.metrics.get("messages").copied().unwrap_or(0)).max().unwrap_or(0).max(1);
            let bars = u.days.iter().enumerate().map(|(i, d)| {
                let n = d.metrics.get("messages").copied().unwrap_or(0);
                let h = (n as f64 / peak as f64 * 60.0).max(1.0);
                view! { <rect x=(i * 14).to_string() y=(64.0 - h).to_string() width="10" height=h.to_string() fill="var(--accent)">
                    <title>{format!("{}: {n} messages", d.day)}</title></rect> }
            }).collect_view();
            let mut things = u.things.clone();
            things.sort_by_key(|t| std::cmp::Reverse(t.metrics.get("messages").copied().unwrap_or(0)));
            view! {
                <p class="muted small">{format!("The last 30 days in AWS IoT Core's billing units, priced as {} in {} ({} prices of {}, {}). Edit a copy of the table as prices.json in the data dir to change them; `thingbox usage` prints the same.", "AWS IoT Core", e.region, e.currency, e.date, e.source)}</p>
                <div class="split">
                    <table id="usage"><thead><tr><th>"Metric"</th><th>"Units"</th><th>"Cost"</th></tr></thead><tbody>
                        {e.lines.iter().map(|l| view! { <tr data-metric=l.metric.clone()><td>{l.metric.clone()}</td><td>{l.units}</td><td>{format!("{:.6} {}", l.cost, e.currency)}</td></tr> }).collect_view()}
                        <tr><td><b>"Total"</b></td><td></td><td id="usage-total"><b>{format!("{:.6} {}", e.total, e.currency)}</b></td></tr>
                    </tbody></table>
                    <div>
                        <div class="small muted">"Messages per day"</div>
                        <svg id="usage-days" width="420" height="66" role="img">{bars}</svg>
                        <div class="small muted" style="margin-top:8px">"Most messages"</div>
                        <ul class="small">{things.into_iter().take(5).map(|t| {
                            let name = if t.thing.is_empty() { "(no thing: HTTP, API, rules)".to_owned() } else { t.thing.clone() };
                            view! { <li>{format!("{name}: {} messages", t.metrics.get("messages").copied().unwrap_or(0))}</li> }
                        }).collect_view()}</ul>
                    </div>
                </div>
            }
        })}
    }
}

/// Export to AWS: the CloudFormation template or the Terraform configuration, with the report of
/// what to do by hand, as a zip.
#[component]
fn ExportPanel() -> impl IntoView {
    let err = RwSignal::new(None::<api::ApiError>);
    let get = move |format: &'static str| {
        leptos::task::spawn_local(async move {
            let path = format!("/console/api/export?format={format}&download=zip");
            let r = api::download("GET", &path, None, &format!("thingbox-{format}.zip")).await;
            let _ = err.try_set(r.err());
        });
    };
    view! {
        <h2>"Export to AWS"</h2>
        <p class="muted">"Things, types, groups, policies, topic rules, job and provisioning templates as infrastructure code for your AWS account, with REPORT.md listing what to do by hand (certificates: never private keys). Or "<code>"thingbox export --format cloudformation|terraform"</code>"."</p>
        <div class="row">
            <button id="export-cloudformation" on:click=move |_| get("cloudformation")>"CloudFormation"</button>
            <button id="export-terraform" on:click=move |_| get("terraform")>"Terraform"</button>
        </div>
        <crate::widgets::ErrorBox err=err/>
    }
}

fn event_row(topic: String, payload: Value) -> impl IntoView {
    let kind = s(&payload, "eventType");
    let detail = match kind.as_str() {
        "disconnected" => s(&payload, "disconnectReason"),
        "subscribed" | "unsubscribed" => payload.get("topics").map(|t| t.to_string()).unwrap_or_default(),
        _ => s(&payload, "ipAddress"),
    };
    view! {
        <tr>
            <td>{date(payload.get("timestamp").unwrap_or(&Value::Null))}</td>
            <td><span class="badge">{kind}</span></td>
            <td class="mono">{s(&payload, "clientId")}</td>
            <td class="muted mono">{detail}</td>
            <td class="muted mono" title=topic.clone()>{s(&payload, "principalIdentifier").chars().take(16).collect::<String>()}</td>
        </tr>
    }
}

#[component]
fn RateChart() -> impl IntoView {
    let live = expect_context::<Live>();
    let points = move || {
        let stats = live.stats.get();
        let max = stats.iter().map(|s| s.published_per_sec).fold(1.0_f64, f64::max);
        let offset = SAMPLES.saturating_sub(stats.len());
        stats
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let x = (offset + i) as f64 * (600.0 / (SAMPLES - 1) as f64);
                let y = 76.0 - (s.published_per_sec / max) * 70.0;
                format!("{x:.1},{y:.1}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let now = move || live.stats.with(|s| s.last().map(|s| s.published_per_sec).unwrap_or(0.0));
    view! {
        <div class="card">
            <div class="spread"><span class="label">"Messages per second"</span>
                <b id="rate">{move || format!("{:.0}", now())}</b></div>
            <svg class="chart" viewBox="0 0 600 80" preserveAspectRatio="none"><polyline points=points/></svg>
        </div>
    }
}

/// The overview page.
#[component]
pub fn Overview() -> impl IntoView {
    let live = expect_context::<Live>();
    let data = load(move || {
        live.things.get();
        live.certs.get();
        live.policies.get();
        live.types.get();
        live.groups.get();
        async move {
            let v = api::get("/console/api/overview").await?;
            serde_json::from_value::<OverviewData>(v).map_err(|e| api::ApiError {
                kind: "BadResponse".into(),
                message: e.to_string(),
                status: 200,
            })
        }
    });
    let conns = load(move || {
        live.connections.get();
        async move { api::get("/console/api/connections").await }
    });
    view! {
        <h1>"Overview"</h1>
        {loaded(data, move |o: OverviewData| {
            let ep = o.endpoints.clone();
            let counts = [
                ("Things", o.things, "things"),
                ("Certificates", o.certificates, "certificates"),
                ("Policies", o.policies, "policies"),
                ("Thing types", o.thing_types, "types"),
                ("Thing groups", o.thing_groups, "types"),
            ];
            let recent = o.recent_events.clone();
            view! {
                <div class="grid" id="counts">
                    {counts.into_iter().map(|(label, n, to)| view! {
                        <a class="card" href=format!("#/{to}") style="color:inherit">
                            <div class="label">{label}</div><div class="big" data-count=to>{n}</div>
                        </a>
                    }).collect_view()}
                    <div class="card"><div class="label">"Connected now"</div>
                        <div class="big" id="connected-count">{move || live.stats.with(|s| s.last().map(|s| s.connections)).unwrap_or(o.stats.connections)}</div></div>
                </div>
                <h2>"Endpoints"</h2>
                <div class="card kv" id="endpoints">
                    <div>"AWS API (--endpoint-url)"</div><div><Copy text=ep.api.clone()/></div>
                    <div>"MQTT over mutual TLS"</div><div><Copy text=ep.mqtt_tls.clone().unwrap_or_else(|| "off".into())/></div>
                    <div>"MQTT (plain)"</div><div><Copy text=ep.mqtt.clone().unwrap_or_else(|| "off".into())/></div>
                    <div>"MQTT over WebSocket"</div><div><Copy text=format!("{}/mqtt", ep.api.replacen("http", "ws", 1))/></div>
                    <div>"TLS port (as AWS's 443)"</div><div id="https-endpoint">{match (ep.https.clone(), ep.https_unavailable.clone()) {
                        (Some(hp), _) => view! {
                            <Copy text=hp.clone()/>
                            <div class="muted">"MQTT with ALPN x-amzn-mqtt-ca (the Device SDK's default), https:// API, "<code>{format!("wss://{hp}/mqtt")}</code></div>
                        }.into_any(),
                        (None, Some(why)) => view! { <span class="warn">"not served: "{why}</span> }.into_any(),
                        (None, None) => view! { <span class="muted">"off"</span> }.into_any(),
                    }}</div>
                    <div>"Root CA"</div><div><Copy text=ep.root_ca.clone()/></div>
                    <div>"Account / region"</div><div><code>{ep.account.clone()}" / "{ep.region.clone()}</code></div>
                    <div>"Data dir"</div><div><Copy text=o.data_dir.clone()/></div>
                    <div>"Try"</div><div><Copy text=format!("aws --endpoint-url {} iot list-things", ep.api)/></div>
                </div>
                <h2>"Recent lifecycle events"</h2>
                {move || {
                    let mut rows: Vec<(String, Value)> = live.lifecycle.get();
                    let known = rows.len();
                    for e in &recent {
                        if rows.len() >= 20 { break; }
                        if known == 0 || !rows.iter().any(|(_, p)| p == &e.payload) {
                            rows.push((e.topic.clone(), e.payload.clone()));
                        }
                    }
                    rows.truncate(20);
                    if rows.is_empty() {
                        view! { <div class="empty">"No device has connected yet. Create a certificate for a thing and connect with the bundle's snippets."</div> }.into_any()
                    } else {
                        view! {
                            <table id="lifecycle"><thead><tr><th>"When"</th><th>"Event"</th><th>"Client id"</th><th>"Detail"</th><th>"Principal"</th></tr></thead>
                            <tbody>{rows.into_iter().map(|(t, p)| event_row(t, p)).collect_view()}</tbody></table>
                        }.into_any()
                    }
                }}
            }
        })}
        <h2>"Traffic"</h2>
        <RateChart/>
        <QuotaPanel/>
        <UsagePanel/>
        <ExportPanel/>
        <h2>"Connected devices"</h2>
        {loaded(conns, |v: Value| {
            let list = v.get("connections").and_then(Value::as_array).cloned().unwrap_or_default();
            if list.is_empty() {
                view! { <div class="empty">"No device is connected right now."</div> }.into_any()
            } else {
                view! {
                    <table id="connections"><thead><tr><th>"Client id"</th><th>"Principal"</th><th>"Things"</th></tr></thead>
                    <tbody>{list.into_iter().map(|c| {
                        let things: Vec<String> = c.get("things").and_then(Value::as_array).map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect()).unwrap_or_default();
                        view! { <tr>
                            <td class="mono"><span class="dot on"></span>{s(&c, "clientId")}</td>
                            <td class="mono muted">{s(&c, "principal")}</td>
                            <td>{things.into_iter().map(|t| view! { <a href=format!("#/things/{t}")>{t.clone()}</a>" " }).collect_view()}</td>
                        </tr> }
                    }).collect_view()}</tbody></table>
                }.into_any()
            }
        })}
    }
}
