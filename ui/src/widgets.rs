//! Small shared pieces: error boxes with AWS's message, copyable values, dialogs, confirmations,
//! JSON views, dates.

use leptos::prelude::*;
use serde_json::Value;

use crate::api::{ApiError, Loaded};

/// Shows an error (AWS error type and message) while there is one.
#[component]
pub fn ErrorBox(err: RwSignal<Option<ApiError>>) -> impl IntoView {
    move || {
        err.get().map(|e| {
            view! {
                <div class="error" role="alert"><b>{e.kind.clone()}</b>": "{e.message.clone()}</div>
            }
        })
    }
}

/// Renders a loaded value: a wait line, the error, or `f(value)`.
pub fn loaded<T: Clone + Send + Sync + 'static, V: IntoView + 'static>(
    l: Loaded<T>,
    f: impl Fn(T) -> V + Send + Sync + 'static,
) -> impl IntoView {
    move || match l.get() {
        None => view! { <p class="muted">"Loading…"</p> }.into_any(),
        Some(Err(e)) => {
            view! { <div class="error" role="alert"><b>{e.kind}</b>": "{e.message}</div> }.into_any()
        }
        Some(Ok(v)) => f(v).into_any(),
    }
}

/// A value that copies itself to the clipboard when clicked.
#[component]
pub fn Copy(text: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let value = text.clone();
    let click = move |_| {
        if let Some(w) = web_sys::window() {
            let _ = w.navigator().clipboard().write_text(&value);
            copied.set(true);
            set_timeout(
                move || {
                    let _ = copied.try_set(false);
                },
                std::time::Duration::from_millis(1200),
            );
        }
    };
    view! {
        <code class="copy" title="Click to copy" on:click=click>{text}</code>
        <Show when=move || copied.get()><span class="muted">" copied"</span></Show>
    }
}

/// A modal dialog shown while `open` is true.
#[component]
pub fn Modal(open: RwSignal<bool>, title: &'static str, children: ChildrenFn) -> impl IntoView {
    let children = StoredValue::new(children);
    view! {
        <Show when=move || open.get()>
            <div class="modal-back" on:click=move |_| open.set(false)>
                <div class="modal" role="dialog" on:click=|e| e.stop_propagation()>
                    <h2 style="margin-top:0">{title}</h2>
                    {children.read_value()()}
                </div>
            </div>
        </Show>
    }
}

/// A button that asks before doing something destructive.
#[component]
pub fn ConfirmButton(
    label: &'static str,
    question: String,
    on_confirm: impl Fn() + Send + Sync + 'static,
    #[prop(optional)] id: &'static str,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let on_confirm = StoredValue::new(on_confirm);
    let question = StoredValue::new(question);
    view! {
        <button class="danger" id=id on:click=move |_| open.set(true)>{label}</button>
        <Show when=move || open.get()>
            <div class="modal-back" on:click=move |_| open.set(false)>
                <div class="modal" role="dialog" on:click=|e| e.stop_propagation()>
                    <p>{question.get_value()}</p>
                    <div class="row" style="justify-content:flex-end">
                        <button on:click=move |_| open.set(false)>"Cancel"</button>
                        <button class="danger" id="confirm" on:click=move |_| {
                            open.set(false);
                            on_confirm.with_value(|f| f());
                        }>{label}</button>
                    </div>
                </div>
            </div>
        </Show>
    }
}

/// A counter bumped every `every` while the calling component lives (to redraw at a fixed pace
/// instead of on every change).
pub fn ticker(every: std::time::Duration) -> RwSignal<u64> {
    let tick = RwSignal::new(0u64);
    let handle = set_interval_with_handle(
        move || {
            let _ = tick.try_update(|t| *t += 1);
        },
        every,
    );
    on_cleanup(move || {
        if let Ok(h) = handle {
            h.clear();
        }
    });
    tick
}

/// Pretty JSON.
pub fn json(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// A date from epoch seconds or milliseconds, in the browser's locale.
pub fn date(v: &Value) -> String {
    let Some(n) = v.as_f64() else { return String::new() };
    let ms = if n < 1e11 { n * 1000.0 } else { n };
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
    d.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED).as_string().unwrap_or_default()
}

/// A string member of a JSON object ("" when absent).
pub fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// An array member of a JSON object (empty when absent).
pub fn arr(v: &Value, key: &str) -> Vec<Value> {
    v.get(key).and_then(Value::as_array).cloned().unwrap_or_default()
}

/// Parses `key=value` lines (blank lines ignored).
pub fn parse_attributes(text: &str) -> Result<serde_json::Map<String, Value>, String> {
    let mut out = serde_json::Map::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("line {}: write attributes as name=value", i + 1));
        };
        out.insert(k.trim().to_owned(), Value::String(v.trim().to_owned()));
    }
    Ok(out)
}
