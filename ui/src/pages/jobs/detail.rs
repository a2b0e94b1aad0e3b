//! One job's page: its progress, the rollout and abort settings drawn against where the job
//! stands (how many things are notified at what rate; each abort criterion's failure share beside
//! its threshold), the document, and every attempt of every execution with its status details and
//! times; cancel, force-cancel and delete go through the AWS API.

use leptos::prelude::*;
use serde_json::json;
use thingbox_api::jobs::{ConsoleExecution, ConsoleJob, ConsoleJobDetail};
use thingbox_model::jobs::config::FailureType;

use super::{Progress, counts};
use crate::api::{self, ApiError, act, enc, load};
use crate::live::Live;
use crate::widgets::{ConfirmButton, ErrorBox, date, loaded};

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
                <Thresholds job=d.job.clone()/>
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

/// The rollout and the abort criteria, drawn: how far the rollout has got and at what rate, and
/// for each criterion the failure share now beside the share that cancels the job.
#[component]
fn Thresholds(job: ConsoleJob) -> impl IntoView {
    let j = &job.job;
    let [succeeded, failed, rejected, timed_out, canceled, removed, in_progress, queued] =
        counts(&j.job_process_details);
    let notified = succeeded + failed + rejected + timed_out + canceled + removed + in_progress + queued;
    let total = (notified + job.waiting).max(1);
    let rollout = j.job_executions_rollout_config.as_ref();
    let rule =
        match (rollout.and_then(|r| r.exponential_rate.as_ref()), rollout.and_then(|r| r.maximum_per_minute))
        {
            (Some(e), max) => {
                let after = match (
                    e.rate_increase_criteria.number_of_notified_things,
                    e.rate_increase_criteria.number_of_succeeded_things,
                ) {
                    (Some(n), _) => format!("every {n} more notified things"),
                    (None, Some(n)) => format!("every {n} more succeeded things"),
                    (None, None) => "never".to_owned(),
                };
                format!(
                    "Starts at {} things a minute and grows ×{} {after}{}.",
                    e.base_rate_per_minute,
                    e.increment_factor,
                    max.map(|m| format!(", up to {m} a minute")).unwrap_or_default()
                )
            }
            (None, Some(m)) => format!("At most {m} things a minute."),
            (None, None) => "Every thing is notified at once.".to_owned(),
        };
    let now = job.rate_per_minute.map(|r| format!(" Now: {r:.0} a minute.")).unwrap_or_default();
    let executed = succeeded + failed + rejected + timed_out;
    let criteria = j.abort_config.as_ref().map(|a| a.criteria_list.clone()).unwrap_or_default();
    view! {
        <div class="card" id="job-thresholds">
            <h3>"Rollout"</h3>
            <div class="meter" data-notified=notified data-total=total>
                <span class="fill" style=format!("width:{:.2}%", notified as f64 * 100.0 / total as f64)></span>
            </div>
            <div class="small">{format!("{notified} of {total} things notified{}. {rule}{now}", if job.waiting > 0 { format!(", {} waiting", job.waiting) } else { String::new() })}</div>
            <h3>"Abort criteria"</h3>
            {if criteria.is_empty() {
                view! { <div class="small muted">"None: the job runs to the end whatever fails."</div> }.into_any()
            } else {
                criteria.into_iter().map(|c| {
                    let bad = match c.failure_type {
                        FailureType::Failed => failed,
                        FailureType::Rejected => rejected,
                        FailureType::TimedOut => timed_out,
                        FailureType::All => failed + rejected + timed_out,
                    };
                    let share = if executed > 0 { bad as f64 * 100.0 / executed as f64 } else { 0.0 };
                    let armed = executed >= c.min_number_of_executed_things;
                    let what = match c.failure_type {
                        FailureType::All => "FAILED, REJECTED or TIMED_OUT".to_owned(),
                        other => other.as_str().to_owned(),
                    };
                    let state = if armed {
                        format!("now {bad} of {executed} executed ({share:.1}%)")
                    } else {
                        format!("not yet armed: {executed} of {} executed", c.min_number_of_executed_things)
                    };
                    view! {
                        <div class="criterion" data-failure-type=c.failure_type.as_str() data-share=format!("{share:.1}") data-threshold=c.threshold_percentage>
                            <div class="meter danger">
                                <span class="fill" style=format!("width:{:.2}%", share.min(100.0))></span>
                                <span class="mark" style=format!("left:{:.2}%", c.threshold_percentage.min(100.0)) title="threshold"></span>
                            </div>
                            <div class="small">{format!("Cancels the job when {}% or more of executed things are {what}, once {} have executed — {state}.", c.threshold_percentage, c.min_number_of_executed_things)}</div>
                        </div>
                    }
                }).collect_view().into_any()
            }}
        </div>
    }
}
