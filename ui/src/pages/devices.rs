//! Simulated devices: start a scenario (an example or your own YAML), add ten lamps in a click,
//! watch each scenario's devices connect, send, take desired state and jobs, and inject faults —
//! a device's page shows its state, its log and the fault controls.

use leptos::prelude::*;
use serde_json::{Value, json};
use thingbox_api::sim::{DeviceDetail, DeviceInfo, ScenarioInfo, SimState};

use crate::api::{self, load};
use crate::widgets::{ErrorBox, loaded};

fn status_class(d: &DeviceInfo) -> &'static str {
    match d.status {
        thingbox_api::sim::DeviceStatus::Online => "ALLOW",
        thingbox_api::sim::DeviceStatus::Retrying => "IMPLICIT_DENY",
        _ => "muted",
    }
}

fn status_text(d: &DeviceInfo) -> String {
    serde_json::to_value(d.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn faults_text(d: &DeviceInfo) -> String {
    let f = &d.faults;
    let mut out = Vec::new();
    if f.drop > 0.0 {
        out.push(format!("drop {:.0}%", f.drop * 100.0));
    }
    if f.delay_ms > 0 {
        out.push(format!("delay {} ms", f.delay_ms));
    }
    if f.clock_skew_ms != 0 {
        out.push(format!("clock {:+} ms", f.clock_skew_ms));
    }
    if f.oversize > 0.0 {
        out.push(format!("oversize {:.0}%", f.oversize * 100.0));
    }
    if f.revoked {
        out.push("certificate revoked".into());
    }
    out.join(", ")
}

#[component]
fn ScenarioRow(
    sc: ScenarioInfo,
    err: RwSignal<Option<api::ApiError>>,
    changed: RwSignal<u64>,
) -> impl IntoView {
    let name = sc.name.clone();
    let running = matches!(
        sc.phase,
        thingbox_api::sim::ScenarioPhase::Provisioning | thingbox_api::sim::ScenarioPhase::Running
    );
    let stop = move |_| {
        let name = name.clone();
        api::act(
            err,
            async move {
                api::call("DELETE", &format!("/console/api/sim/scenarios/{}", api::enc(&name)), None).await
            },
            move |_| changed.update(|n| *n += 1),
        );
    };
    let phase =
        serde_json::to_value(sc.phase).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let last = sc.log.last().map(|l| l.text.clone()).unwrap_or_default();
    view! {
        <tr data-scenario=sc.name.clone()>
            <td><b>{sc.name.clone()}</b><div class="muted small">{sc.description.clone()}</div></td>
            <td class="phase">{phase}</td>
            <td class="online">{format!("{}/{}", sc.online, sc.devices)}</td>
            <td>{format!("{}/{}", sc.steps_done, sc.steps)}</td>
            <td>{format!("{} / {}", sc.sent, sc.received)}</td>
            <td class="small">{last}</td>
            <td>{running.then(|| view! { <button class="stop-scenario" on:click=stop>"Stop"</button> })}</td>
        </tr>
    }
}

/// The simulator page.
#[component]
pub fn Devices() -> impl IntoView {
    let tick = crate::widgets::ticker(std::time::Duration::from_secs(2));
    let changed = RwSignal::new(0u64);
    let err = RwSignal::new(None::<api::ApiError>);
    let text = RwSignal::new(String::new());
    let state = load(move || {
        tick.get();
        changed.get();
        async move { api::get_as::<SimState>("/console/api/sim?limit=500").await }
    });
    let start = move |_| {
        let body = json!({ "text": text.get_untracked() });
        api::act(
            err,
            async move { api::call("POST", "/console/api/sim/scenarios", Some(body)).await },
            move |_| changed.update(|n| *n += 1),
        );
    };
    let quick = move |example: &'static str, count: usize| {
        api::act(
            err,
            async move {
                api::call("POST", "/console/api/sim/quick", Some(json!({"example": example, "count": count})))
                    .await
            },
            move |_| changed.update(|n| *n += 1),
        );
    };
    view! {
        <h1>"Simulated devices"</h1>
        <p class="muted">"Real MQTT clients with their own certificates, connecting through mutual TLS like any device: policies, lifecycle events, the topic viewer, rules, shadows and jobs see them as devices. `thingbox simulate FILE` runs the same scenarios from a terminal."</p>
        <div class="row">
            <button id="add-lamps" class="primary" on:click=move |_| quick("smart-lamps", 10)>"Add 10 lamps"</button>
            <button id="add-sensors" on:click=move |_| quick("ota-rollout", 10)>"Add 10 sensors"</button>
        </div>
        <ErrorBox err=err/>
        {loaded(state, move |st: SimState| {
            let examples = st.examples.clone();
            view! {
                <h2>"Scenarios"</h2>
                <table id="scenarios"><thead><tr><th>"Scenario"</th><th>"Phase"</th><th>"Online"</th><th>"Steps"</th><th>"Sent / received"</th><th>"Latest"</th><th></th></tr></thead><tbody>
                    {st.scenarios.iter().cloned().map(|sc| view! { <ScenarioRow sc=sc err=err changed=changed/> }).collect_view()}
                </tbody></table>
                {st.scenarios.is_empty().then(|| view! { <p class="muted">"No scenario yet: add lamps above, or start one below."</p> })}
                <h2>{format!("Devices ({})", st.total_devices)}</h2>
                <table id="sim-devices"><thead><tr><th>"Device"</th><th>"Scenario"</th><th>"Status"</th><th>"Sent"</th><th>"Received"</th><th>"Dropped"</th><th>"Job"</th><th>"Faults"</th><th>"Last error"</th></tr></thead><tbody>
                    {st.devices.iter().map(|d| view! {
                        <tr data-device=d.name.clone()>
                            <td><a href=format!("#/devices/{}", d.name)>{d.name.clone()}</a></td>
                            <td>{d.scenario.clone()}</td>
                            <td class=status_class(d)>{status_text(d)}</td>
                            <td>{d.sent}</td><td>{d.received}</td><td>{d.dropped}</td>
                            <td>{d.job.clone().unwrap_or_default()}</td>
                            <td class="small">{faults_text(d)}</td>
                            <td class="small">{d.last_error.clone().unwrap_or_default()}</td>
                        </tr>
                    }).collect_view()}
                </tbody></table>
                <h2>"Start a scenario"</h2>
                <div class="row">
                    {examples.iter().map(|e| {
                        let t = e.text.clone();
                        view! { <button class="example" title=e.description.clone() on:click=move |_| text.set(t.clone())>{e.name.clone()}</button> }
                    }).collect_view()}
                </div>
            }
        })}
        <textarea id="scenario-text" rows="16" style="width:100%;font-family:monospace"
            placeholder="name: my-fleet\ndevices:\n  - name: lamp\n    count: 5\n    telemetry:\n      - {topic: 'lamps/${thing}/t', every: 5s, payload: {on: true}}"
            prop:value=move || text.get() on:input=move |e| text.set(event_target_value(&e))></textarea>
        <div class="row"><button id="start-scenario" class="primary" on:click=start>"Start"</button>
            <span class="muted small">"YAML or JSON; the schema is in docs/simulator.md. A problem is reported with its line."</span></div>
    }
}

/// One simulated device: its state, its log, and the fault controls.
#[component]
pub fn DeviceDetailPage(name: String) -> impl IntoView {
    let tick = crate::widgets::ticker(std::time::Duration::from_secs(2));
    let changed = RwSignal::new(0u64);
    let err = RwSignal::new(None::<api::ApiError>);
    let n = name.clone();
    let detail = load(move || {
        tick.get();
        changed.get();
        let n = n.clone();
        async move { api::get_as::<DeviceDetail>(&format!("/console/api/sim/devices/{}", api::enc(&n))).await }
    });
    let n = StoredValue::new(name.clone());
    let fault = move |change: Value| {
        api::act(
            err,
            async move {
                api::call(
                    "POST",
                    &format!("/console/api/sim/devices/{}/fault", api::enc(&n.get_value())),
                    Some(change),
                )
                .await
            },
            move |_| changed.update(|x| *x += 1),
        );
    };
    let drop_pct = RwSignal::new("50".to_owned());
    let delay = RwSignal::new("2s".to_owned());
    let offline = RwSignal::new("10s".to_owned());
    view! {
        <p><a href="#/devices">"← Simulated devices"</a></p>
        <h1>{name.clone()}</h1>
        <div class="row">
            <a href=format!("#/things/{name}")>"Thing"</a>
            <a href=format!("#/shadows/{name}")>"Shadow"</a>
            <a href=format!("#/trace/client/{name}")>"Message flow"</a>
        </div>
        <ErrorBox err=err/>
        {loaded(detail, |d: DeviceDetail| {
            let dev = d.device.clone();
            view! {
                <table id="device-state"><tbody>
                    <tr><th>"Status"</th><td id="device-status" class=status_class(&dev)>{status_text(&dev)}</td></tr>
                    <tr><th>"Scenario"</th><td>{dev.scenario.clone()}" · fleet "{dev.fleet.clone()}</td></tr>
                    <tr><th>"Sent / received / dropped"</th><td>{format!("{} / {} / {}", dev.sent, dev.received, dev.dropped)}</td></tr>
                    <tr><th>"Job"</th><td>{dev.job.clone().unwrap_or_else(|| "—".into())}</td></tr>
                    <tr><th>"Reported"</th><td><code>{dev.reported.as_ref().map(|v| v.to_string()).unwrap_or_default()}</code></td></tr>
                    <tr><th>"Certificate"</th><td>{dev.certificate_id.clone().map(|c| view! { <a href=format!("#/certificates/{c}")>{c[..12.min(c.len())].to_owned()}"…"</a> })}</td></tr>
                    <tr><th>"Faults"</th><td id="device-faults">{faults_text(&dev)}</td></tr>
                    <tr><th>"Last error"</th><td>{dev.last_error.clone().unwrap_or_default()}</td></tr>
                </tbody></table>
                <h2>"Log"</h2>
                <ul id="device-log" class="small">
                    {d.log.iter().rev().map(|l| view! { <li>{crate::widgets::date(&json!(l.at as f64 / 1000.0))}" "{l.text.clone()}</li> }).collect_view()}
                </ul>
            }
        })}
        <div class="row">
            <button id="stop-device" on:click=move |_| {
                api::act(err, async move { api::call("POST", &format!("/console/api/sim/devices/{}/stop", api::enc(&n.get_value())), None).await },
                    move |_| changed.update(|x| *x += 1));
            }>"Stop device"</button>
            <button id="start-device" on:click=move |_| {
                api::act(err, async move { api::call("POST", &format!("/console/api/sim/devices/{}/start", api::enc(&n.get_value())), None).await },
                    move |_| changed.update(|x| *x += 1));
            }>"Start device"</button>
        </div>
        <h2>"Inject a fault"</h2>
        <div class="row">
            <label>"Drop "<input id="fault-drop" size="4" prop:value=move || drop_pct.get() on:input=move |e| drop_pct.set(event_target_value(&e))/>"%"</label>
            <button id="apply-drop" on:click=move |_| {
                let pct: f64 = drop_pct.get_untracked().trim().parse().unwrap_or(-1.0);
                fault(json!({"drop": pct / 100.0}));
            }>"Drop messages"</button>
            <label>"Delay "<input id="fault-delay" size="5" prop:value=move || delay.get() on:input=move |e| delay.set(event_target_value(&e))/></label>
            <button id="apply-delay" on:click=move |_| fault(json!({"delay": delay.get_untracked()}))>"Delay messages"</button>
        </div>
        <div class="row">
            <label>"Offline for "<input id="fault-offline" size="5" prop:value=move || offline.get() on:input=move |e| offline.set(event_target_value(&e))/></label>
            <button id="apply-disconnect" on:click=move |_| fault(json!({"disconnect": offline.get_untracked()}))>"Disconnect"</button>
            <button id="apply-oversize" on:click=move |_| fault(json!({"oversize": 1.0}))>"Send oversize messages"</button>
            <button id="apply-revoke" on:click=move |_| fault(json!({"revokeCertificate": true}))>"Revoke its certificate"</button>
            <button id="clear-faults" on:click=move |_| fault(json!({"clear": true}))>"Clear faults"</button>
        </div>
    }
}
