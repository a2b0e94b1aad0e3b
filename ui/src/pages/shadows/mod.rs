//! Shadows: every classic and named shadow of every thing, with its version, last writer and last
//! change, and — the fleet's "out of sync" list at a glance — the keys whose desired value the
//! device has not reported yet. Searchable; refreshed at most once a second while devices write.
//! One shadow's page (tree, time travel, diff, restore, editor) is `detail`.

mod detail;
mod editor;
mod traffic;

use leptos::prelude::*;
use thingbox_api::shadows::ShadowSummary;

pub use self::detail::ShadowDetail;
use crate::api::{self, enc, load};
use crate::live::Live;
use crate::widgets::{loaded, ticker};

/// "3 s ago", "5 min ago", … for an epoch-seconds time.
pub fn ago(now_secs: i64, then: i64) -> String {
    let d = (now_secs - then).max(0);
    match d {
        0..=59 => format!("{d} s ago"),
        60..=3599 => format!("{} min ago", d / 60),
        3600..=86_399 => format!("{} h ago", d / 3600),
        _ => format!("{} d ago", d / 86_400),
    }
}

/// Now, in epoch seconds (the browser's clock).
pub fn now_secs() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

/// A counter that follows the console's shadow changes on the next `tick` after one, so the pages
/// that refetch on it cost one request a second however busy the fleet is.
fn shadow_changes(tick: RwSignal<u64>) -> RwSignal<u64> {
    let live = expect_context::<Live>();
    let changed = RwSignal::new(live.shadows.get_untracked());
    Effect::new(move |_| {
        tick.get();
        let now = live.shadows.get_untracked();
        if now != changed.get_untracked() {
            changed.set(now);
        }
    });
    changed
}

/// The page.
#[component]
pub fn Shadows() -> impl IntoView {
    let tick = ticker(std::time::Duration::from_secs(1));
    let changed = shadow_changes(tick);
    let list = load(move || {
        changed.get();
        async move {
            let v = api::get("/console/api/shadows").await?;
            Ok(serde_json::from_value::<Vec<ShadowSummary>>(v).unwrap_or_default())
        }
    });
    let query = RwSignal::new(String::new());
    let only_out = RwSignal::new(false);
    view! {
        <div class="spread">
            <h1>"Shadows"</h1>
            <div class="row">
                <input id="search" placeholder="Search things and shadows  ( / )" prop:value=move || query.get()
                    on:input=move |e| query.set(event_target_value(&e))/>
                <label class="row small"><input type="checkbox" id="shadows-out-of-sync" prop:checked=move || only_out.get()
                    on:change=move |e| only_out.set(event_target_checked(&e))/>"Only out of sync"</label>
            </div>
        </div>
        {loaded(list, move |all: Vec<ShadowSummary>| {
            if all.is_empty() {
                return view! { <div class="empty">"No shadows yet. A device makes one by publishing to "<code>"$aws/things/<thing>/shadow/update"</code>"; or "<code>"aws iot-data update-thing-shadow"</code>"."</div> }.into_any();
            }
            let out_of_sync = all.iter().filter(|s| !s.delta_keys.is_empty()).count();
            let total = all.len();
            let rows = move || {
                let q = query.get().trim().to_lowercase();
                let only = only_out.get();
                all.iter()
                    .filter(|s| !only || !s.delta_keys.is_empty())
                    .filter(|s| q.is_empty() || s.thing.to_lowercase().contains(&q) || s.shadow.to_lowercase().contains(&q))
                    .map(|s| {
                        let label = if s.shadow.is_empty() { "classic".to_owned() } else { s.shadow.clone() };
                        let sync = if s.delta_keys.is_empty() { "in" } else { "out" };
                        let then = s.timestamp;
                        view! {
                            <tr data-thing=s.thing.clone() data-shadow=s.shadow.clone() data-sync=sync>
                                <td><a href=format!("#/things/{}", s.thing)>{s.thing.clone()}</a></td>
                                <td><a class=if s.shadow.is_empty() { "muted" } else { "" } href=format!("#/shadows/{}/{}", enc(&s.thing), enc(&s.shadow))>{label}</a></td>
                                <td>{s.version}</td>
                                <td class="mono small">{s.writer.clone()}</td>
                                <td class="small">{move || { tick.get(); ago(now_secs(), then) }}</td>
                                <td>{if s.delta_keys.is_empty() {
                                    view! { <span class="badge ok">"in sync"</span> }.into_any()
                                } else {
                                    view! { <span class="badge warn" title="desired ≠ reported">{format!("delta: {}", s.delta_keys.join(", "))}</span> }.into_any()
                                }}</td>
                            </tr>
                        }
                    })
                    .collect_view()
            };
            view! {
                <p class="muted small" id="shadows-summary">{format!("{total} shadow(s), {out_of_sync} out of sync")}</p>
                <table id="shadows-list"><thead><tr><th>"Thing"</th><th>"Shadow"</th><th>"Version"</th><th>"Last writer"</th><th>"Last change"</th><th>"Desired vs reported"</th></tr></thead>
                    <tbody>{rows}</tbody></table>
            }.into_any()
        })}
    }
}
