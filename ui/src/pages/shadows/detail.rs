//! One shadow: desired, reported and delta side by side as a tree of leaves (keys that differ
//! marked, each leaf's "set 3 s ago", the leaves the version's own change touched highlighted),
//! time travel over every kept version (a slider and a timeline with writer and time, filterable
//! by key, with the refused updates and deletes where they happened), the diff of any two versions,
//! "restore as desired", the history as JSON lines, and the editor (`editor`). Everything comes
//! from the shadow's history; updates arrive live.

use std::collections::BTreeMap;
use std::sync::Arc;

use leptos::prelude::*;
use serde_json::{Map, Value, json};
use thingbox_api::shadows::{ShadowHistory, ShadowVersion};
use thingbox_model::shadow::diff::{self, ChangeKind, LeafChange};

use super::editor::Editor;
use super::traffic::Traffic;
use super::{ago, now_secs, shadow_changes};
use crate::api::{self, ApiError, act, enc, load};
use crate::widgets::{ErrorBox, loaded, ticker};

/// How many versions the page reads (the service keeps at most this many by default).
const VERSIONS: usize = 1000;

/// A leaf's value as the tree shows it.
fn show(v: Option<&Value>) -> String {
    match v {
        None => String::new(),
        Some(Value::String(s)) => format!("\"{s}\""),
        Some(other) => other.to_string(),
    }
}

/// Versions kept in the timeline before "show all".
const TIMELINE_FIRST: usize = 100;

/// A history as the page uses it: the versions and refusals, and what each version changed
/// (computed once per load: the tree, the timeline and its key filter all read it).
struct Kept {
    history: ShadowHistory,
    /// `changes[i]`: the leaves version `history.changes[i]` changed from the one before it.
    changes: Vec<Vec<LeafChange>>,
}

impl Kept {
    fn new(history: ShadowHistory) -> Self {
        let leaves: Vec<_> = history.changes.iter().map(|v| diff::state_leaves(&v.state)).collect();
        let none = BTreeMap::new();
        let changes =
            (0..leaves.len()).map(|i| diff::diff(leaves.get(i + 1).unwrap_or(&none), &leaves[i])).collect();
        Self { history, changes }
    }
}

/// The body that makes `desired` exactly `target` again: its leaves, and `null` for every key the
/// current desired state has that `target` does not.
pub fn restore_body(current: Option<&Map<String, Value>>, target: Option<&Map<String, Value>>) -> Value {
    fn merge(cur: Option<&Map<String, Value>>, tgt: Option<&Map<String, Value>>) -> Map<String, Value> {
        let mut out = tgt.cloned().unwrap_or_default();
        for (k, v) in cur.into_iter().flatten() {
            match (v, out.get(k)) {
                (_, None) => {
                    out.insert(k.clone(), Value::Null);
                }
                (Value::Object(c), Some(Value::Object(t))) => {
                    let inner = merge(Some(c), Some(t));
                    out.insert(k.clone(), Value::Object(inner));
                }
                _ => {}
            }
        }
        out
    }
    json!({ "state": { "desired": Value::Object(merge(current, target)) } })
}

/// A timeline row: a version or a refused request (index into the history's lists).
#[derive(Clone, Copy)]
enum Row {
    Version(usize),
    Refused(usize),
}

/// The side-by-side tree of one version.
#[component]
fn Tree(version: ShadowVersion, touched: Vec<LeafChange>, tick: RwSignal<u64>) -> impl IntoView {
    let s = &version.state;
    let desired = diff::leaves(s.desired.as_ref());
    let reported = diff::leaves(s.reported.as_ref());
    let delta = diff::leaves(s.delta().as_ref());
    let mut times = diff::leaf_times(s.meta_desired.as_ref());
    for (k, t) in diff::leaf_times(s.meta_reported.as_ref()) {
        let e = times.entry(k).or_insert(t);
        *e = (*e).max(t);
    }
    let mut paths: Vec<String> = desired.keys().chain(reported.keys()).cloned().collect();
    paths.sort();
    paths.dedup();
    if s.deleted {
        return view! { <div class="empty">{format!("Version {} deleted the shadow.", version.version)}</div> }.into_any();
    }
    if paths.is_empty() {
        return view! { <div class="empty">"The shadow's state is empty."</div> }.into_any();
    }
    let touched: BTreeMap<String, ChangeKind> = touched
        .into_iter()
        .map(|c| (c.path.split_once('.').map(|(_, r)| r.to_owned()).unwrap_or(c.path), c.kind))
        .collect();
    view! {
        <table id="shadow-tree"><thead><tr><th>"Key"</th><th>"Desired"</th><th>"Reported"</th><th>"Delta"</th><th>"Last set"</th></tr></thead><tbody>
            {paths.into_iter().map(|p| {
                let differs = delta.contains_key(&p);
                let changed = touched.contains_key(&p);
                let t = times.get(&p).copied();
                view! {
                    <tr data-path=p.clone() data-differs=differs.to_string() data-changed=changed.to_string()
                        class:differs=differs class:changed=changed>
                        <td class="mono">{p.clone()}</td>
                        <td class="mono">{show(desired.get(&p))}</td>
                        <td class="mono">{show(reported.get(&p))}</td>
                        <td class="mono">{show(delta.get(&p))}</td>
                        <td class="small muted">{move || { tick.get(); t.map(|t| ago(now_secs(), t)).unwrap_or_default() }}</td>
                    </tr>
                }
            }).collect_view()}
        </tbody></table>
    }.into_any()
}

/// The diff of two versions.
#[component]
fn Diff(changes: Vec<LeafChange>) -> impl IntoView {
    if changes.is_empty() {
        return view! { <div class="small muted" id="shadow-diff">"No leaf differs."</div> }.into_any();
    }
    view! {
        <table id="shadow-diff"><thead><tr><th></th><th>"Leaf"</th><th>"Before"</th><th>"After"</th></tr></thead><tbody>
            {changes.into_iter().map(|c| {
                let (sign, class) = match c.kind {
                    ChangeKind::Added => ("+", "added"),
                    ChangeKind::Removed => ("−", "removed"),
                    ChangeKind::Changed => ("~", "changed"),
                };
                view! {
                    <tr data-path=c.path.clone() data-kind=class class=class>
                        <td>{sign}</td><td class="mono">{c.path.clone()}</td>
                        <td class="mono">{show(c.before.as_ref())}</td><td class="mono">{show(c.after.as_ref())}</td>
                    </tr>
                }
            }).collect_view()}
        </tbody></table>
    }.into_any()
}

/// The page.
#[component]
pub fn ShadowDetail(thing: String, name: String) -> impl IntoView {
    let tick = ticker(std::time::Duration::from_secs(1));
    let changed = shadow_changes(tick);
    let thing = StoredValue::new(thing);
    let name = StoredValue::new(name);
    let history = load(move || {
        changed.get();
        let url = format!(
            "/console/api/shadows/{}/history?name={}&limit={VERSIONS}&documents=false",
            enc(&thing.get_value()),
            enc(&name.get_value())
        );
        async move { api::get_as::<ShadowHistory>(&url).await.map(|h| Arc::new(Kept::new(h))) }
    });
    // The version shown (`None`: the newest, following live changes).
    let at = RwSignal::new(None::<i64>);
    let key = RwSignal::new(String::new());
    let diff_pair = RwSignal::new(None::<(i64, i64)>);
    let show_all = RwSignal::new(false);
    let err = RwSignal::new(None::<ApiError>);
    let label = move || {
        let n = name.get_value();
        if n.is_empty() { "classic".to_owned() } else { n }
    };
    let download = move |_| {
        let url = format!(
            "/console/api/shadows/{}/history?name={}&limit={VERSIONS}&format=jsonl",
            enc(&thing.get_value()),
            enc(&name.get_value())
        );
        let file = format!("{}-{}-history.jsonl", thing.get_value(), label());
        act(err, async move { api::download("GET", &url, None, &file).await.map(|_| Value::Null) }, |_| {});
    };
    let restore = move |target: ShadowVersion, current: ShadowVersion| {
        let body = restore_body(current.state.desired.as_ref(), target.state.desired.as_ref());
        let path = format!("/things/{}/shadow?name={}", enc(&thing.get_value()), enc(&name.get_value()));
        act(err, async move { api::call_service("iotdata", "POST", &path, Some(body)).await }, move |_| {
            at.set(None)
        });
    };
    let current =
        Memo::new(move |_| history.with(|h| h.as_ref()?.as_ref().ok()?.history.changes.first().cloned()));
    view! {
        <div class="spread">
            <h1><a href="#/shadows">"Shadows"</a>" / "<a href=format!("#/things/{}", thing.get_value())>{thing.get_value()}</a>" / "{label}</h1>
            <button id="shadow-download" on:click=download>"Download history (JSON lines)"</button>
        </div>
        <ErrorBox err=err/>
        {loaded(history, move |k: Arc<Kept>| {
            let list = k.history.changes.clone();
            let changes = StoredValue::new(k.changes.clone());
            if list.is_empty() {
                return view! { <div class="empty">"This shadow has no history: nobody has written it yet."</div> }.into_any();
            }
            let list = StoredValue::new(list);
            let newest = list.with_value(|l| l[0].version);
            let shown = move || {
                let v = at.get().unwrap_or(newest);
                list.with_value(|l| l.iter().position(|e| e.version == v).unwrap_or(0))
            };
            let oldest_index = list.with_value(|l| l.len() - 1);
            view! {
                <div class="card" id="shadow-now">
                    {move || {
                        let i = shown();
                        let (e, current) = list.with_value(|l| (l[i].clone(), l[0].clone()));
                        let touched = changes.with_value(|c| c[i].clone());
                        let past = i > 0;
                        let target = e.clone();
                        let ts = e.timestamp;
                        view! {
                            <div class="row">
                                <span class="badge" id="shadow-version">{format!("version {}", e.version)}</span>
                                <span class="muted small">{format!("{} by {} · ", e.kind, e.writer)}{move || { tick.get(); ago(now_secs(), ts) }}</span>
                                {past.then(|| view! {
                                    <span class="badge warn">"a past version"</span>
                                    <button id="shadow-latest" on:click=move |_| at.set(None)>"Back to the latest"</button>
                                    <button class="primary" id="shadow-restore" on:click=move |_| restore(target.clone(), current.clone())>"Restore this as desired"</button>
                                })}
                            </div>
                            <Tree version=list.with_value(|l| l[i].clone()) touched=touched tick=tick/>
                        }
                    }}
                    <label class="row small" for="shadow-scrub">"Travel: "
                        <input type="range" id="shadow-scrub" min="0" max=oldest_index.to_string() style="flex:1"
                            prop:value=move || (oldest_index - shown()).to_string()
                            on:input=move |e| {
                                let pos: usize = event_target_value(&e).parse().unwrap_or(oldest_index);
                                let i = oldest_index.saturating_sub(pos);
                                at.set(if i == 0 { None } else { Some(list.with_value(|l| l[i].version)) });
                            }/>
                    </label>
                </div>
            }.into_any()
        })}
        <Editor thing=thing.get_value() name=name.get_value() current=current/>
        {loaded(history, move |k: Arc<Kept>| {
            let h = &k.history;
            if h.changes.is_empty() && h.rejected.is_empty() {
                return ().into_any();
            }
            let newest = h.changes.first().map_or(0, |e| e.version);
            let total = h.changes.len();
            let k = StoredValue::new(k.clone());
            view! {
                <h2>"Timeline"</h2>
                <div class="row">
                    <input id="timeline-key" placeholder="Only changes to a key, e.g. firmware" prop:value=move || key.get()
                        on:input=move |e| key.set(event_target_value(&e))/>
                    <span class="small muted">"Pick two versions to diff: A on one row, B on another."</span>
                </div>
                {move || diff_pair.get().map(|(a, b)| {
                    let changes = k.with_value(|k| {
                        let l = &k.history.changes;
                        let pick = |v: i64| l.iter().find(|e| e.version == v).map(|e| diff::state_leaves(&e.state)).unwrap_or_default();
                        diff::diff(&pick(a), &pick(b))
                    });
                    view! { <div class="card"><h3>{format!("From version {a} to version {b}")}</h3><Diff changes=changes/></div> }
                })}
                <table id="shadow-timeline"><thead><tr><th>"Version"</th><th>"Change"</th><th>"By"</th><th>"When"</th><th>"Leaves"</th><th>"Diff"</th></tr></thead><tbody>
                    {move || {
                        let wanted = key.get();
                        let wanted = wanted.trim();
                        let limit = if show_all.get() { usize::MAX } else { TIMELINE_FIRST };
                        k.with_value(|k| {
                            let versions = (0..k.history.changes.len())
                                .filter(|&i| wanted.is_empty() || diff::touches(&k.changes[i], wanted))
                                .take(limit)
                                .map(|i| (k.history.changes[i].timestamp, Row::Version(i)));
                            // Refused requests, where they happened (a key filter matches their text).
                            let refused = (0..k.history.rejected.len())
                                .filter(|&i| wanted.is_empty() || k.history.rejected[i].payload.contains(wanted))
                                .take(limit)
                                .map(|i| (k.history.rejected[i].timestamp, Row::Refused(i)));
                            let mut rows: Vec<(i64, Row)> = versions.chain(refused).collect();
                            rows.sort_by_key(|(ts, _)| std::cmp::Reverse(*ts));
                            rows.truncate(limit);
                            rows.into_iter().map(|(_, row)| match row {
                                Row::Version(i) => {
                                    let e = &k.history.changes[i];
                                    let (v, ts) = (e.version, e.timestamp);
                                    let summary = k.changes[i].iter().map(|c| c.path.as_str()).collect::<Vec<_>>().join(", ");
                                    view! {
                                        <tr data-version=v class:current=move || at.get().unwrap_or(newest) == v>
                                            <td><a href="#" on:click=move |ev| { ev.prevent_default(); at.set(if v == newest { None } else { Some(v) }); }>{v}</a></td>
                                            <td>{e.kind.clone()}</td>
                                            <td class="mono small">{e.writer.clone()}</td>
                                            <td class="small">{move || { tick.get(); ago(now_secs(), ts) }}</td>
                                            <td class="mono small">{summary}</td>
                                            <td><button class="diff-a" on:click=move |_| diff_pair.update(|p| *p = Some((v, p.map_or(newest, |x| x.1))))>"A"</button>
                                                <button class="diff-b" on:click=move |_| diff_pair.update(|p| *p = Some((p.map_or(v, |x| x.0), v)))>"B"</button></td>
                                        </tr>
                                    }.into_any()
                                }
                                Row::Refused(i) => {
                                    let r = &k.history.rejected[i];
                                    let ts = r.timestamp;
                                    view! {
                                        <tr class="rejected" data-rejected=r.code>
                                            <td><span class="badge bad">{format!("✗ {}", r.code)}</span></td>
                                            <td>{format!("{} rejected", r.operation)}</td>
                                            <td class="mono small">{r.writer.clone()}</td>
                                            <td class="small">{move || { tick.get(); ago(now_secs(), ts) }}</td>
                                            <td class="small"><div>{r.message.clone()}</div><div class="mono muted">{r.payload.clone()}</div></td>
                                            <td></td>
                                        </tr>
                                    }.into_any()
                                }
                            }).collect_view()
                        })
                    }}
                </tbody></table>
                {move || (!show_all.get() && total > TIMELINE_FIRST).then(|| view! {
                    <button id="timeline-all" on:click=move |_| show_all.set(true)>{format!("Show all {total} versions")}</button>
                })}
            }.into_any()
        })}
        <Traffic thing=thing.get_value() name=name.get_value() changed=changed tick=tick at=at/>
    }
}
