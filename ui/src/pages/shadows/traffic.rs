//! The MQTT traffic of one shadow — the requests devices sent, the service's accepted and rejected
//! replies, deltas and documents — read from the engine's message history (what the topic viewer
//! records), newest first; every message that carries a version links to it on the page's tree.

use leptos::prelude::*;
use serde_json::Value;
use thingbox_api::viewer::{HistoryPage, ViewedMessage};

use super::{ago, now_secs};
use crate::api::{self, enc, load};
use crate::widgets::loaded;

/// Messages shown.
const SHOWN: usize = 50;

/// The topic filters that cover one shadow's topics (a classic shadow's must not take in the
/// named ones under `…/shadow/name/…`; on AWS `#` does not match its parent level, so the request
/// topics are named as well).
pub fn filters(thing: &str, name: &str) -> Vec<String> {
    if name.is_empty() {
        ["get", "update", "delete"]
            .iter()
            .flat_map(|op| {
                [format!("$aws/things/{thing}/shadow/{op}"), format!("$aws/things/{thing}/shadow/{op}/#")]
            })
            .collect()
    } else {
        vec![format!("$aws/things/{thing}/shadow/name/{name}/#")]
    }
}

fn row(
    m: ViewedMessage,
    prefix: &str,
    at: RwSignal<Option<i64>>,
    tick: RwSignal<u64>,
) -> impl IntoView + use<> {
    let what = m.topic.strip_prefix(prefix).unwrap_or(&m.topic).to_owned();
    let body = m.payload.clone().unwrap_or_default();
    let version =
        serde_json::from_str::<Value>(&body).ok().and_then(|v| v.get("version").and_then(Value::as_i64));
    let short: String = body.chars().take(160).collect();
    let secs = m.timestamp / 1000;
    let from = m.client_id.clone().unwrap_or_else(|| m.principal.clone());
    let class = if what.ends_with("/rejected") { "rejected" } else { "" };
    view! {
        <tr data-topic=what.clone() class=class>
            <td class="small">{move || { tick.get(); ago(now_secs(), secs) }}</td>
            <td class="mono small">{what.clone()}</td>
            <td class="mono small">{from}</td>
            <td>{version.map(|v| view! {
                <a href="#" class="traffic-version" data-version=v on:click=move |e| { e.prevent_default(); at.set(Some(v)); }>{format!("v{v}")}</a>
            })}</td>
            <td class="mono small">{short}</td>
        </tr>
    }
}

#[component]
pub fn Traffic(
    thing: String,
    name: String,
    changed: RwSignal<u64>,
    tick: RwSignal<u64>,
    at: RwSignal<Option<i64>>,
) -> impl IntoView {
    let prefix = if name.is_empty() {
        format!("$aws/things/{thing}/shadow/")
    } else {
        format!("$aws/things/{thing}/shadow/name/{name}/")
    };
    let query: String = filters(&thing, &name).iter().map(|f| format!("filter={}&", enc(f))).collect();
    // A get changes no version: look again every few seconds too.
    let every_3s = Memo::new(move |_| tick.get() / 3);
    let page = load(move || {
        changed.get();
        every_3s.get();
        let url = format!("/console/api/history?{query}limit={SHOWN}");
        async move {
            let v = api::get(&url).await?;
            Ok(serde_json::from_value::<HistoryPage>(v).map(|p| p.messages).unwrap_or_default())
        }
    });
    let prefix = StoredValue::new(prefix);
    view! {
        <h2>"MQTT traffic"</h2>
        {loaded(page, move |list: Vec<ViewedMessage>| {
            if list.is_empty() {
                return view! { <div class="empty small" id="shadow-traffic">"No MQTT traffic for this shadow in the message history."</div> }.into_any();
            }
            view! {
                <table id="shadow-traffic"><thead><tr><th>"When"</th><th>"Topic"</th><th>"From"</th><th>"Version"</th><th>"Payload"</th></tr></thead><tbody>
                    {list.into_iter().map(|m| row(m, &prefix.get_value(), at, tick)).collect_view()}
                </tbody></table>
            }.into_any()
        })}
    }
}
