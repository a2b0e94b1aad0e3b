//! Jobs: the dashboard (every job with a live progress bar of its executions by status), a create
//! form whose rollout, timeout and abort settings are explained in words, a job's page (progress,
//! rollout rate, document, every attempt of every execution with its status details and times;
//! cancel, force-cancel, delete), and the OTA files job documents link to. Jobs are created,
//! canceled and deleted through the AWS API itself; the counts come from `/console/api/jobs`.

use leptos::prelude::*;
use serde_json::{Value, json};
use thingbox_api::jobs::{ConsoleExecution, ConsoleJob, ConsoleJobDetail, JobProcessDetails, OtaFile};
use wasm_bindgen::JsCast;

use crate::api::{self, ApiError, act, enc, load, names};
use crate::live::Live;
use crate::widgets::{ConfirmButton, Copy, ErrorBox, date, loaded};

/// The statuses a progress bar shows, in order, with their colours (CSS classes).
const SEGMENTS: [(&str, &str); 8] = [
    ("SUCCEEDED", "succeeded"),
    ("FAILED", "failed"),
    ("REJECTED", "rejected"),
    ("TIMED_OUT", "timed-out"),
    ("CANCELED", "canceled"),
    ("REMOVED", "removed"),
    ("IN_PROGRESS", "in-progress"),
    ("QUEUED", "queued"),
];

fn counts(d: &JobProcessDetails) -> [i64; 8] {
    [
        d.number_of_succeeded_things,
        d.number_of_failed_things,
        d.number_of_rejected_things,
        d.number_of_timed_out_things,
        d.number_of_canceled_things,
        d.number_of_removed_things,
        d.number_of_in_progress_things,
        d.number_of_queued_things,
    ]
}

/// Percent of a job's things whose execution has ended.
pub fn done_percent(job: &ConsoleJob) -> i64 {
    let c = counts(&job.job.job_process_details);
    let total: i64 = c.iter().sum::<i64>() + job.waiting;
    if total == 0 {
        return 100;
    }
    let ended: i64 = c[..6].iter().sum();
    ended * 100 / total
}

#[component]
fn Progress(job: ConsoleJob) -> impl IntoView {
    let c = counts(&job.job.job_process_details);
    let total = (c.iter().sum::<i64>() + job.waiting).max(1) as f64;
    let title = SEGMENTS
        .iter()
        .zip(c)
        .filter(|(_, n)| *n > 0)
        .map(|((name, _), n)| format!("{n} {name}"))
        .chain((job.waiting > 0).then(|| format!("{} waiting for the rollout", job.waiting)))
        .collect::<Vec<_>>()
        .join(", ");
    let pct = done_percent(&job);
    view! {
        <div class="progress" title=title.clone() data-percent=pct>
            {SEGMENTS.iter().zip(c).filter(|(_, n)| *n > 0).map(|((_, class), n)| view! {
                <span class=format!("seg {class}") style=format!("width:{:.2}%", n as f64 * 100.0 / total)></span>
            }).collect_view()}
        </div>
        <div class="muted small">{format!("{pct}% done")}{(!title.is_empty()).then(|| format!(" · {title}"))}</div>
    }
}

/// The jobs page.
#[component]
pub fn Jobs() -> impl IntoView {
    let live = expect_context::<Live>();
    let list = load(move || {
        live.jobs.get();
        async move {
            let v = api::get("/console/api/jobs").await?;
            Ok(serde_json::from_value::<Vec<ConsoleJob>>(v).unwrap_or_default())
        }
    });
    let creating = RwSignal::new(false);
    view! {
        <div class="spread">
            <h1>"Jobs"</h1>
            <button class="primary" id="new-job" on:click=move |_| creating.update(|c| *c = !*c)>"Create job"</button>
        </div>
        <Show when=move || creating.get()><CreateJob/></Show>
        {loaded(list, |jobs: Vec<ConsoleJob>| {
            if jobs.is_empty() {
                return view! { <div class="empty">"No jobs yet. Create one here or with "<code>"aws iot create-job"</code>"; devices take it over MQTT ("<code>"$aws/things/<thing>/jobs/start-next"</code>") or with "<code>"aws iot-jobs-data"</code>"."</div> }.into_any();
            }
            view! { <table id="jobs"><thead><tr><th>"Job"</th><th>"Status"</th><th>"Targets"</th><th style="width:40%">"Progress"</th><th>"Created"</th></tr></thead><tbody>
                {jobs.into_iter().rev().map(|j| { let id = j.job.job_id.clone(); view! {
                    <tr data-job=id.clone()>
                        <td><a href=format!("#/jobs/{id}")>{id.clone()}</a><div class="muted small">{j.job.description.clone().unwrap_or_default()}</div></td>
                        <td><span class=format!("badge {}", j.job.status)>{j.job.status.clone()}</span><div class="muted small">{j.job.target_selection.clone()}</div></td>
                        <td class="small">{j.job.targets.iter().map(|t| t.rsplit(':').next().unwrap_or(t).to_owned()).collect::<Vec<_>>().join(", ")}</td>
                        <td><Progress job=j.clone()/></td>
                        <td class="small">{date(&json!(j.job.created_at))}</td>
                    </tr>
                } }).collect_view()}
            </tbody></table> }.into_any()
        })}
        <h2>"Files for OTA"</h2>
        <Files/>
    }
}

/// What the form's settings mean, in words.
fn explain(rate: &str, timeout: &str, abort: &str, continuous: bool) -> Vec<String> {
    let mut out = Vec::new();
    out.push(if continuous {
        "Continuous: things that join a target group later get the job too; it never completes by itself."
            .to_owned()
    } else {
        "Snapshot: the targets' things now get the job; it completes when every execution has ended."
            .to_owned()
    });
    out.push(match rate.trim().parse::<i64>() {
        Ok(n) if n > 0 => format!(
            "Rollout: at most {n} thing(s) a minute are notified (one every {:.1} s).",
            60.0 / n as f64
        ),
        _ => "Rollout: every thing is notified at once.".to_owned(),
    });
    if let Ok(m) = timeout.trim().parse::<i64>() {
        out.push(format!(
            "Timeout: an execution still IN_PROGRESS {m} minute(s) after it started becomes TIMED_OUT."
        ));
    }
    if let Ok(p) = abort.trim().parse::<f64>() {
        out.push(format!(
            "Abort: once 2 or more things have finished, if {p}% or more of them FAILED, REJECTED or TIMED_OUT, the job is canceled (queued executions are canceled; running ones finish)."
        ));
    }
    out
}

#[component]
fn CreateJob() -> impl IntoView {
    let live = expect_context::<Live>();
    let err = RwSignal::new(None::<ApiError>);
    let things = names(live.things, "/things?maxResults=250", "things", "thingArn");
    let groups = names(live.groups, "/thing-groups?maxResults=250", "thingGroups", "groupArn");
    let id = RwSignal::new(format!("job-{}", (js_sys::Math::random() * 1e6) as u32));
    let chosen_things = RwSignal::new(Vec::<String>::new());
    let chosen_groups = RwSignal::new(Vec::<String>::new());
    let doc = RwSignal::new("{\n  \"operation\": \"reboot\"\n}".to_owned());
    let continuous = RwSignal::new(false);
    let rate = RwSignal::new(String::new());
    let timeout = RwSignal::new(String::new());
    let abort = RwSignal::new(String::new());
    let doc_ok = move || {
        serde_json::from_str::<serde_json::Map<String, Value>>(&doc.get())
            .map(drop)
            .map_err(|e| e.to_string())
    };
    let selected = |e: &leptos::ev::Event| -> Vec<String> {
        let Some(sel) = e.target().and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok()) else {
            return vec![];
        };
        let opts = sel.selected_options();
        (0..opts.length()).filter_map(|i| opts.item(i)).filter_map(|o| o.get_attribute("value")).collect()
    };
    let create = move |_| {
        // The pickers hold the ARNs the registry listed.
        let mut targets = chosen_things.get_untracked();
        targets.extend(chosen_groups.get_untracked());
        let mut body = json!({
            "targets": targets, "document": doc.get_untracked(),
            "targetSelection": if continuous.get_untracked() { "CONTINUOUS" } else { "SNAPSHOT" },
        });
        if let Ok(n) = rate.get_untracked().trim().parse::<i64>() {
            body["jobExecutionsRolloutConfig"] = json!({ "maximumPerMinute": n });
        }
        if let Ok(m) = timeout.get_untracked().trim().parse::<i64>() {
            body["timeoutConfig"] = json!({ "inProgressTimeoutInMinutes": m });
        }
        if let Ok(p) = abort.get_untracked().trim().parse::<f64>() {
            body["abortConfig"] = json!({ "criteriaList": [{ "failureType": "ALL", "action": "CANCEL", "thresholdPercentage": p, "minNumberOfExecutedThings": 2 }] });
        }
        let job = id.get_untracked().trim().to_owned();
        act(
            err,
            async move { api::call("PUT", &format!("/jobs/{}", enc(&job)), Some(body)).await },
            move |v| {
                crate::go(&format!("jobs/{}", v.get("jobId").and_then(Value::as_str).unwrap_or_default()));
            },
        );
    };
    let options = |l: api::Loaded<Vec<String>>| {
        move || {
            l.get()
                .and_then(Result::ok)
                .unwrap_or_default()
                .into_iter()
                .map(|arn| {
                    let name = arn.rsplit('/').next().unwrap_or(&arn).to_owned();
                    view! { <option value=arn>{name}</option> }
                })
                .collect_view()
        }
    };
    view! {
        <div class="card" id="create-job" style="margin-bottom:14px">
            <ErrorBox err=err/>
            <div class="form">
                <label for="job-id">"Job id"</label>
                <input id="job-id" prop:value=move || id.get() on:input=move |e| id.set(event_target_value(&e))/>
                <label for="job-things">"Things"</label>
                <select id="job-things" multiple size="5" on:change=move |e| chosen_things.set(selected(&e))>{options(things)}</select>
                <label for="job-groups">"Thing groups"</label>
                <select id="job-groups" multiple size="4" on:change=move |e| chosen_groups.set(selected(&e))>{options(groups)}</select>
                <label for="job-doc">"Job document (JSON)"</label>
                <div>
                    <textarea id="job-doc" rows="6" spellcheck="false" prop:value=move || doc.get() on:input=move |e| doc.set(event_target_value(&e))></textarea>
                    <div>{move || match doc_ok() { Ok(()) => view! { <span class="valid">"✓ a JSON object"</span> }.into_any(), Err(e) => view! { <span class="invalid">"✗ "{e}</span> }.into_any() }}</div>
                </div>
                <label for="job-continuous">"Continuous"</label>
                <input type="checkbox" id="job-continuous" prop:checked=move || continuous.get() on:change=move |e| continuous.set(event_target_checked(&e))/>
                <label for="job-rate">"Max things / minute"</label>
                <input id="job-rate" placeholder="all at once" prop:value=move || rate.get() on:input=move |e| rate.set(event_target_value(&e))/>
                <label for="job-timeout">"In-progress timeout (minutes)"</label>
                <input id="job-timeout" placeholder="none" prop:value=move || timeout.get() on:input=move |e| timeout.set(event_target_value(&e))/>
                <label for="job-abort">"Abort at failure %"</label>
                <input id="job-abort" placeholder="never" prop:value=move || abort.get() on:input=move |e| abort.set(event_target_value(&e))/>
            </div>
            <ul id="job-explained" class="small">{move || explain(&rate.get(), &timeout.get(), &abort.get(), continuous.get()).into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}</ul>
            <button class="primary" id="create-job-go" disabled=move || doc_ok().is_err() || (chosen_things.get().is_empty() && chosen_groups.get().is_empty()) on:click=create>"Create"</button>
        </div>
    }
}

/// One job.
#[component]
pub fn JobDetail(id: String) -> impl IntoView {
    let live = expect_context::<Live>();
    let err = RwSignal::new(None::<ApiError>);
    let path = format!("/console/api/jobs/{}", enc(&id));
    let detail = load(move || {
        live.jobs.get();
        let path = path.clone();
        async move {
            let v = api::get(&path).await?;
            serde_json::from_value::<ConsoleJobDetail>(v).map_err(|e| ApiError {
                kind: "BadResponse".into(),
                message: e.to_string(),
                status: 200,
            })
        }
    });
    let id = StoredValue::new(id);
    let cancel = move |force: bool| {
        let job = id.get_value();
        act(
            err,
            async move {
                api::call("PUT", &format!("/jobs/{}/cancel?force={force}", enc(&job)), Some(json!({}))).await
            },
            |_| {},
        );
    };
    let delete = move || {
        let job = id.get_value();
        act(
            err,
            async move { api::call("DELETE", &format!("/jobs/{}?force=true", enc(&job)), None).await },
            |_| crate::go("jobs"),
        );
    };
    view! {
        <div class="spread">
            <h1><a href="#/jobs">"Jobs"</a>" / "{id.get_value()}</h1>
            <div class="row">
                <button id="cancel-job" on:click=move |_| cancel(false)>"Cancel"</button>
                <ConfirmButton label="Force cancel" id="force-cancel-job" question="Cancel the job, including executions devices are working on? Devices can no longer update them.".into() on_confirm=move || cancel(true)/>
                <ConfirmButton label="Delete" id="delete-job" question="Delete the job and every execution of it?".into() on_confirm=delete/>
            </div>
        </div>
        <ErrorBox err=err/>
        {loaded(detail, |d: ConsoleJobDetail| {
            let j = d.job.job.clone();
            let rate = match d.job.rate_per_minute { Some(r) => format!("{r:.0} things a minute"), None => "all at once".into() };
            view! {
                <div class="card" id="job-summary">
                    <div class="row"><span id="job-status" class=format!("badge {}", j.status)>{j.status.clone()}</span>
                        <span class="muted">{j.target_selection.clone()}" · rollout "{rate}{(d.job.waiting > 0).then(|| format!(" · {} waiting", d.job.waiting))}</span></div>
                    <Progress job=d.job.clone()/>
                    {j.comment.clone().map(|c| view! { <p>{c}</p> })}
                    <p class="small muted">"Targets: "{j.targets.join(", ")}</p>
                    <pre class="mono small">{d.job.document.clone().unwrap_or_default()}</pre>
                </div>
                <h2>"Executions"</h2>
                <table id="executions"><thead><tr><th>"Thing"</th><th>"#"</th><th>"Status"</th><th>"Details"</th><th>"Queued → started → last update"</th><th>"Version"</th></tr></thead><tbody>
                    {d.executions.into_iter().map(|e: ConsoleExecution| view! {
                        <tr data-thing=e.thing.clone() data-status=e.status.clone()>
                            <td><a href=format!("#/things/{}", e.thing)>{e.thing.clone()}</a></td>
                            <td>{e.execution_number}{(e.retry_attempt > 0).then(|| format!(" (retry {})", e.retry_attempt))}</td>
                            <td><span class=format!("badge {}", e.status)>{e.status.clone()}</span>{e.force_canceled.then_some(" forced")}</td>
                            <td class="mono small">{e.status_details.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")}</td>
                            <td class="small">{date(&json!(e.queued_at))}" → "{e.started_at.map(|t| date(&json!(t))).unwrap_or_else(|| "–".into())}" → "{date(&json!(e.last_updated_at))}
                                {e.times_out_at.map(|t| view! { <div class="muted">"times out "{date(&json!(t))}</div> })}</td>
                            <td>{e.version_number}</td>
                        </tr>
                    }).collect_view()}
                </tbody></table>
            }.into_any()
        })}
    }
}

/// The OTA files: list, upload, delete.
#[component]
fn Files() -> impl IntoView {
    let changed = RwSignal::new(0u64);
    let err = RwSignal::new(None::<ApiError>);
    let files = load(move || {
        changed.get();
        async move {
            Ok(serde_json::from_value::<Vec<OtaFile>>(api::get("/console/api/ota-files").await?)
                .unwrap_or_default())
        }
    });
    let bucket = RwSignal::new("firmware".to_owned());
    let upload = move |e: leptos::ev::Event| {
        let Some(input) = e.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) else {
            return;
        };
        let Some(file) = input.files().and_then(|f| f.get(0)) else { return };
        let path = format!("/console/api/ota-files/{}/{}", enc(&bucket.get_untracked()), enc(&file.name()));
        act(err, async move { api::upload(&path, &file).await }, move |_| changed.update(|n| *n += 1));
    };
    view! {
        <div class="card" id="ota-files">
            <ErrorBox err=err/>
            <div class="row"><label for="ota-bucket">"Bucket"</label>
                <input id="ota-bucket" prop:value=move || bucket.get() on:input=move |e| bucket.set(event_target_value(&e))/>
                <input type="file" id="ota-upload" on:change=upload/></div>
            <p class="small muted">"Devices download these through links Thingbox signs when it hands out a job document: put the placeholder in the document."</p>
            {loaded(files, move |list: Vec<OtaFile>| view! {
                <table><thead><tr><th>"File"</th><th>"Size"</th><th>"Placeholder for a job document"</th><th></th></tr></thead><tbody>
                    {list.into_iter().map(|f| { let (b, k) = (f.bucket.clone(), f.key.clone()); view! {
                        <tr data-file=format!("{}/{}", f.bucket, f.key)><td class="mono">{format!("s3://{}/{}", f.bucket, f.key)}</td><td>{f.size}</td>
                            <td><Copy text=f.placeholder.clone()/></td>
                            <td><button class="danger" on:click=move |_| {
                                let path = format!("/console/api/ota-files/{}/{}", enc(&b), k.split('/').map(enc).collect::<Vec<_>>().join("/"));
                                act(err, async move { api::call("DELETE", &path, None).await }, move |_| changed.update(|n| *n += 1));
                            }>"Delete"</button></td></tr>
                    } }).collect_view()}
                </tbody></table>
            })}
        </div>
    }
}
