//! The shadow editor: desired (or reported, "as the device") typed as JSON, checked as you type by
//! the shadow model itself — the same codes and texts the shadow service answers with (nesting
//! depth, 8 KB, nulls, arrays, versions) — with a preview of the resulting document and delta, then
//! sent through iot-data's UpdateThingShadow, so it behaves exactly like a client's update. With
//! "only if still version N" the update carries `version`, and a 409 is explained.

use leptos::prelude::*;
use serde_json::{Value, json};
use thingbox_api::shadows::ShadowVersion;
use thingbox_model::shadow;

use super::now_secs;
use crate::api::{self, ApiError, act, enc};
use crate::widgets::{ErrorBox, json as pretty};

/// The update the form describes, as JSON text, or why there is none.
fn payload(section: &str, text: &str, version: Option<i64>) -> Result<String, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("Not JSON yet: {e}"))?;
    let mut body = json!({ "state": { section: value } });
    if let Some(v) = version {
        body["version"] = json!(v);
    }
    Ok(body.to_string())
}

/// What the shadow would become: the accepted document's state and the delta, or the service's
/// rejection (`code: message`).
fn preview(current: Option<&ShadowVersion>, body: &str) -> Result<(Value, Option<Value>), String> {
    let req = shadow::parse_update(body.as_bytes()).map_err(|e| format!("{} {}", e.code, e.message))?;
    let existing = current.map(|c| &c.state).filter(|s| !s.deleted);
    let updated =
        shadow::update(existing, &req, now_secs()).map_err(|e| format!("{} {}", e.code, e.message))?;
    let doc = updated.shadow.get_document(None);
    Ok((doc["state"].clone(), doc["state"].get("delta").cloned()))
}

#[component]
pub fn Editor(thing: String, name: String, current: Memo<Option<ShadowVersion>>) -> impl IntoView {
    let section = RwSignal::new("desired".to_owned());
    let initial = |c: Option<&ShadowVersion>, sec: &str| {
        let part =
            c.and_then(|c| if sec == "desired" { c.state.desired.clone() } else { c.state.reported.clone() });
        pretty(&Value::Object(part.unwrap_or_default()))
    };
    let text = RwSignal::new(current.with_untracked(|c| initial(c.as_ref(), "desired")));
    let lock = RwSignal::new(false);
    // The version the edit started from (what "only if still version N" sends).
    let base = RwSignal::new(current.with_untracked(|c| c.as_ref().map(|c| c.version)));
    let err = RwSignal::new(None::<ApiError>);
    let sent = RwSignal::new(None::<String>);
    let body = move || payload(&section.get(), &text.get(), if lock.get() { base.get() } else { None });
    let checked = move || body().and_then(|b| current.with(|c| preview(c.as_ref(), &b)));
    // Whether the text is the user's (then live changes leave it alone).
    let touched = RwSignal::new(false);
    let reload = move |sec: String| {
        text.set(current.with_untracked(|c| initial(c.as_ref(), &sec)));
        base.set(current.with_untracked(|c| c.as_ref().map(|c| c.version)));
        section.set(sec);
        touched.set(false);
    };
    Effect::new(move |_| {
        current.track();
        if !touched.get_untracked() {
            reload(section.get_untracked());
        }
    });
    let path = format!("/things/{}/shadow?name={}", enc(&thing), enc(&name));
    let send = move |_| {
        let Ok(b) = body() else { return };
        let v: Value = serde_json::from_str(&b).unwrap_or_default();
        let path = path.clone();
        let from = base.get_untracked();
        sent.set(None);
        act(
            err,
            async move {
                api::call_service("iotdata", "POST", &path, Some(v)).await.map_err(|mut e| {
                    if e.status == 409 {
                        e.message = format!(
                            "{} — the shadow changed after version {} (a device or another client wrote it). \
                             Press \"Start from the latest\" to see their change, or untick \"only if still version\" to write over it.",
                            e.message,
                            from.unwrap_or_default()
                        );
                    }
                    e
                })
            },
            move |v| {
                sent.set(Some(format!("Accepted: version {}", v["version"])));
                // The text is the shadow's again: the next live change reloads it.
                touched.set(false);
            },
        );
    };
    view! {
        <div class="card" id="shadow-edit">
            <h3>"Edit"</h3>
            <ErrorBox err=err/>
            <div class="row">
                <label class="row small"><input type="radio" name="shadow-section" id="edit-desired" prop:checked=move || section.get() == "desired"
                    on:change=move |_| reload("desired".into())/>"desired"</label>
                <label class="row small"><input type="radio" name="shadow-section" id="edit-reported" prop:checked=move || section.get() == "reported"
                    on:change=move |_| reload("reported".into())/>"reported (as the device)"</label>
                <label class="row small"><input type="checkbox" id="edit-lock" prop:checked=move || lock.get()
                    on:change=move |e| lock.set(event_target_checked(&e))/>{move || format!("only if still version {}", base.get().unwrap_or_default())}</label>
                <button id="edit-latest" on:click=move |_| reload(section.get_untracked())>"Start from the latest"</button>
            </div>
            <div class="split">
                <textarea id="shadow-json" rows="10" spellcheck="false" prop:value=move || text.get() on:input=move |e| { touched.set(true); text.set(event_target_value(&e)); }></textarea>
                <div>
                    {move || match checked() {
                        Ok((state, delta)) => view! {
                            <div class="valid" id="shadow-check">"✓ the service would accept this"</div>
                            <div class="small muted">"Resulting state"</div>
                            <pre class="mono small" id="shadow-preview">{pretty(&state)}</pre>
                            <div class="small muted">"Delta the device would get"</div>
                            <pre class="mono small" id="shadow-preview-delta">{delta.map(|d| pretty(&d)).unwrap_or_else(|| "none: in sync".into())}</pre>
                        }.into_any(),
                        Err(e) => view! { <div class="invalid" id="shadow-check">"✗ "{e}</div> }.into_any(),
                    }}
                </div>
            </div>
            <div class="row">
                <button class="primary" id="shadow-send" disabled=move || checked().is_err() on:click=send>"Send (UpdateThingShadow)"</button>
                <span class="small" id="shadow-sent">{move || sent.get()}</span>
            </div>
        </div>
    }
}
