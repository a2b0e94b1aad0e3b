//! Jobs: the dashboard (every job with a live progress bar of its executions by status), the create
//! form (`create`), a job's page (`detail`), and the OTA files job documents link to. Jobs are
//! created, canceled and deleted through the AWS API itself; the counts come from
//! `/console/api/jobs`.

mod create;
mod detail;

use leptos::prelude::*;
use serde_json::json;
use thingbox_api::jobs::{ConsoleJob, JobProcessDetails, OtaFile};
use wasm_bindgen::JsCast;

use self::create::CreateJob;
pub use self::detail::JobDetail;
use crate::api::{self, ApiError, act, enc, load};
use crate::live::Live;
use crate::widgets::{Copy, ErrorBox, date, loaded};

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

/// A job's executions per status, in `SEGMENTS` order.
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
