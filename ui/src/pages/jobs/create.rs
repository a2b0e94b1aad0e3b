//! The create-job form: targets picked from the registry's things and groups, the document typed,
//! read from a file or taken from a job template (whose `${aws:iot:parameter:…}` placeholders get
//! a field each), and rollout, timeout and abort settings explained in words. The job is made
//! with CreateJob itself, so the console and the AWS CLI make the same jobs.

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde_json::{Value, json};
use thingbox_api::jobs::DescribeJobTemplateResponse;
use thingbox_model::jobs::config::parameter_names;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::api::{self, ApiError, act, enc, names};
use crate::live::Live;
use crate::widgets::ErrorBox;

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

/// The ids of the job templates, for the picker.
fn template_ids() -> api::Loaded<Vec<String>> {
    let live = expect_context::<Live>();
    names(live.jobs, "/job-templates?maxResults=250", "jobTemplates", "jobTemplateId")
}

/// The text of the file an `<input type=file>` event picked.
async fn picked_text(e: leptos::ev::Event) -> Result<String, ApiError> {
    let failed = |what: &str| ApiError { kind: "File".into(), message: what.to_owned(), status: 0 };
    let input = e
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        .ok_or_else(|| failed("no file input"))?;
    let file = input.files().and_then(|f| f.get(0)).ok_or_else(|| failed("no file picked"))?;
    let text = JsFuture::from(file.text()).await.map_err(|_| failed("the file could not be read"))?;
    text.as_string().ok_or_else(|| failed("the file is not text"))
}

#[component]
pub fn CreateJob() -> impl IntoView {
    let live = expect_context::<Live>();
    let err = RwSignal::new(None::<ApiError>);
    let things = names(live.things, "/things?maxResults=250", "things", "thingArn");
    let groups = names(live.groups, "/thing-groups?maxResults=250", "thingGroups", "groupArn");
    let templates = template_ids();
    let id = RwSignal::new(format!("job-{}", (js_sys::Math::random() * 1e6) as u32));
    let chosen_things = RwSignal::new(Vec::<String>::new());
    let chosen_groups = RwSignal::new(Vec::<String>::new());
    let doc = RwSignal::new("{\n  \"operation\": \"reboot\"\n}".to_owned());
    // The template the job is made from: its ARN, and where its document lives when it has no
    // inline one (the job then takes it from there).
    let template = RwSignal::new(None::<(String, Option<String>)>);
    // The rate, timeout and abort fields as the template filled them: a field left so is not sent,
    // and the job inherits the template's setting whole (as CreateJob does).
    let inherited = RwSignal::new([String::new(), String::new(), String::new()]);
    let params = RwSignal::new(BTreeMap::<String, String>::new());
    let continuous = RwSignal::new(false);
    let rate = RwSignal::new(String::new());
    let timeout = RwSignal::new(String::new());
    let abort = RwSignal::new(String::new());
    let uses_template_source =
        move || doc.get().trim().is_empty() && template.get().is_some_and(|t| t.1.is_some());
    let doc_ok = move || {
        if uses_template_source() {
            return Ok(());
        }
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
    let pick_template = move |e: leptos::ev::Event| {
        let chosen = event_target_value(&e);
        if chosen.is_empty() {
            template.set(None);
            return;
        }
        act(err, async move { api::get(&format!("/job-templates/{}", enc(&chosen))).await }, move |v| {
            let Ok(t) = serde_json::from_value::<DescribeJobTemplateResponse>(v) else { return };
            doc.set(t.document.clone().unwrap_or_default());
            let per_minute = t.job_executions_rollout_config.as_ref().and_then(|r| r.maximum_per_minute);
            rate.set(per_minute.map(|n| n.to_string()).unwrap_or_default());
            let minutes = t.timeout_config.as_ref().and_then(|c| c.in_progress_timeout_in_minutes);
            timeout.set(minutes.map(|m| m.to_string()).unwrap_or_default());
            let first = t.abort_config.as_ref().and_then(|a| a.criteria_list.first());
            abort.set(first.map(|c| c.threshold_percentage.to_string()).unwrap_or_default());
            inherited.set([rate.get_untracked(), timeout.get_untracked(), abort.get_untracked()]);
            template.set(Some((t.job_template_arn, t.document_source)));
        });
    };
    let from_file = move |e: leptos::ev::Event| {
        act(err, async move { picked_text(e).await.map(Value::String) }, move |v| {
            doc.set(v.as_str().unwrap_or_default().to_owned());
        });
    };
    let create = move |_| {
        // The pickers hold the ARNs the registry listed.
        let mut targets = chosen_things.get_untracked();
        targets.extend(chosen_groups.get_untracked());
        let mut body = json!({
            "targets": targets,
            "targetSelection": if continuous.get_untracked() { "CONTINUOUS" } else { "SNAPSHOT" },
        });
        if !uses_template_source() {
            body["document"] = json!(doc.get_untracked());
        }
        if let Some((arn, _)) = template.get_untracked() {
            body["jobTemplateArn"] = json!(arn);
        }
        let wanted = parameter_names(&doc.get_untracked());
        let given = params.get_untracked();
        let values: BTreeMap<&String, &String> = given.iter().filter(|(k, _)| wanted.contains(k)).collect();
        if !values.is_empty() {
            body["documentParameters"] = json!(values);
        }
        let [rate0, timeout0, abort0] = if template.get_untracked().is_some() {
            inherited.get_untracked().map(Some)
        } else {
            [None, None, None]
        };
        let changed = |field: RwSignal<String>, from: Option<String>| {
            let v = field.get_untracked();
            (from.as_deref() != Some(v.as_str())).then_some(v)
        };
        if let Some(Ok(n)) = changed(rate, rate0).map(|v| v.trim().parse::<i64>()) {
            body["jobExecutionsRolloutConfig"] = json!({ "maximumPerMinute": n });
        }
        if let Some(Ok(m)) = changed(timeout, timeout0).map(|v| v.trim().parse::<i64>()) {
            body["timeoutConfig"] = json!({ "inProgressTimeoutInMinutes": m });
        }
        if let Some(Ok(p)) = changed(abort, abort0).map(|v| v.trim().parse::<f64>()) {
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
    let parameter_fields = move || {
        parameter_names(&doc.get())
            .into_iter()
            .map(|name| {
                let key = name.clone();
                let value = move || params.with(|p| p.get(&key).cloned().unwrap_or_default());
                let key = name.clone();
                view! {
                    <label>{format!("Parameter {name}")}</label>
                    <input data-param=name.clone() placeholder="value for the document" prop:value=value
                        on:input=move |e| params.update(|p| { p.insert(key.clone(), event_target_value(&e)); })/>
                }
            })
            .collect_view()
    };
    view! {
        <div class="card" id="create-job" style="margin-bottom:14px">
            <ErrorBox err=err/>
            <div class="form">
                <label for="job-id">"Job id"</label>
                <input id="job-id" prop:value=move || id.get() on:input=move |e| id.set(event_target_value(&e))/>
                <label for="job-template">"From template"</label>
                <select id="job-template" on:change=pick_template>
                    <option value="">"none"</option>
                    {options(templates)}
                </select>
                <label for="job-things">"Things"</label>
                <select id="job-things" multiple size="5" on:change=move |e| chosen_things.set(selected(&e))>{options(things)}</select>
                <label for="job-groups">"Thing groups"</label>
                <select id="job-groups" multiple size="4" on:change=move |e| chosen_groups.set(selected(&e))>{options(groups)}</select>
                <label for="job-doc">"Job document (JSON)"</label>
                <div>
                    <textarea id="job-doc" rows="6" spellcheck="false" prop:value=move || doc.get() on:input=move |e| doc.set(event_target_value(&e))></textarea>
                    <div class="row small"><span>"or from a file: "</span><input type="file" id="job-doc-file" accept=".json,application/json,text/plain" on:change=from_file/></div>
                    <div>{move || match doc_ok() {
                        Ok(()) if uses_template_source() => view! { <span class="valid">{move || format!("✓ the template's document ({})", template.get().and_then(|t| t.1).unwrap_or_default())}</span> }.into_any(),
                        Ok(()) => view! { <span class="valid">"✓ a JSON object"</span> }.into_any(),
                        Err(e) => view! { <span class="invalid">"✗ "{e}</span> }.into_any(),
                    }}</div>
                </div>
                {parameter_fields}
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
