//! Messages: the live topic viewer. Filters, pause and clear; a topic tree that groups AWS's
//! reserved topics under their thing or client; a virtualized message list; a message's payload
//! as highlighted JSON, text or hex, its diff against the previous message on its topic and its
//! MQTT 5 properties; and side panels to publish (with saved payloads), browse and delete retained
//! messages, search the engine's history, and record and replay.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use leptos::prelude::*;
use serde_json::{Value, json};
use thingbox_api::viewer::{HistoryPage, Recording, SavedMessage, ViewedMessage};

use crate::api::{self, ApiError, act, load};
use crate::live::Live;
use crate::viewer::{self, Viewer};
use crate::widgets::{ConfirmButton, ErrorBox, loaded, ticker};

const ROW: f64 = 26.0;
const LIST_HEIGHT: f64 = 520.0;

/// What the page's panels share.
#[derive(Clone, Copy)]
struct Page {
    selected: RwSignal<Option<Arc<ViewedMessage>>>,
    focus: RwSignal<Option<String>>,
    tab: RwSignal<&'static str>,
    pub_topic: RwSignal<String>,
    pub_payload: RwSignal<String>,
    pub_qos: RwSignal<u8>,
    pub_retain: RwSignal<bool>,
    /// Charted series: (topic, JSON path of a numeric field).
    series: RwSignal<Vec<(String, String)>>,
}

fn clock(ms: i64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    format!("{:02}:{:02}:{:02}.{:03}", d.get_hours(), d.get_minutes(), d.get_seconds(), d.get_milliseconds())
}

fn payload_text(m: &ViewedMessage) -> String {
    match (&m.payload, &m.payload_base64) {
        (Some(t), _) => t.clone(),
        (None, Some(b)) => format!("<{} bytes of binary>", b.len() * 3 / 4),
        _ => String::new(),
    }
}

fn payload_bytes(m: &ViewedMessage) -> Vec<u8> {
    match (&m.payload, &m.payload_base64) {
        (Some(t), _) => t.as_bytes().to_vec(),
        (None, Some(b)) => web_sys::window()
            .and_then(|w| w.atob(b).ok())
            .map(|s| s.chars().map(|c| c as u32 as u8).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn preview(m: &ViewedMessage) -> String {
    let t = payload_text(m);
    let one: String = t.split_whitespace().collect::<Vec<_>>().join(" ");
    one.chars().take(120).collect()
}

/// Where a topic sits in the tree: AWS's reserved topics under their thing or client.
pub fn tree_path(topic: &str) -> Vec<String> {
    let l: Vec<&str> = topic.split('/').collect();
    match l.as_slice() {
        ["$aws", "things", thing, "shadow", "name", name, rest @ ..] => {
            vec!["$aws/things".into(), (*thing).into(), format!("shadow \"{name}\""), rest.join("/")]
        }
        ["$aws", "things", thing, kind @ ("shadow" | "jobs" | "tunnels" | "defender"), rest @ ..] => {
            vec!["$aws/things".into(), (*thing).into(), (*kind).into(), rest.join("/")]
        }
        ["$aws", "events", kind @ ("presence" | "subscriptions"), what, client] => {
            vec!["$aws/events".into(), (*client).into(), format!("{kind}/{what}")]
        }
        _ => l.iter().map(|s| (*s).to_owned()).collect(),
    }
}

#[derive(Clone, PartialEq)]
struct TreeRow {
    key: String,
    label: String,
    depth: usize,
    count: u64,
    leaf: Option<String>,
    rate: f64,
    last: String,
    retained: bool,
    open: bool,
    has_children: bool,
}

#[derive(Default)]
struct Node {
    children: BTreeMap<String, Node>,
    count: u64,
    topic: Option<(String, f64, String, bool)>,
}

fn tree_rows(store: &viewer::Store, collapsed: &HashSet<String>) -> Vec<TreeRow> {
    let mut root = Node::default();
    for (topic, info) in &store.topics {
        let mut node = &mut root;
        node.count += info.count;
        for part in tree_path(topic) {
            node = node.children.entry(part).or_default();
            node.count += info.count;
        }
        let last = info.last.as_ref().map(|m| preview(m)).unwrap_or_default();
        node.topic = Some((topic.clone(), info.rate, last, info.retained));
    }
    let mut out = Vec::new();
    fn walk(n: &Node, prefix: &str, depth: usize, collapsed: &HashSet<String>, out: &mut Vec<TreeRow>) {
        for (label, child) in &n.children {
            let key = format!("{prefix}\u{1}{label}");
            let open = !collapsed.contains(&key);
            let (leaf, rate, last, retained) = match &child.topic {
                Some((t, r, l, ret)) => (Some(t.clone()), *r, l.clone(), *ret),
                None => (None, 0.0, String::new(), false),
            };
            out.push(TreeRow {
                key: key.clone(),
                label: if label.is_empty() { "(empty)".into() } else { label.clone() },
                depth,
                count: child.count,
                leaf,
                rate,
                last,
                retained,
                open,
                has_children: !child.children.is_empty(),
            });
            if open {
                walk(child, &key, depth + 1, collapsed, out);
            }
        }
    }
    walk(&root, "", 0, collapsed, &mut out);
    out
}

/// A window of `total` fixed-height rows: (first row, rows) for the current scroll position.
fn window_of(scroll: f64, total: usize) -> (usize, usize) {
    let first = (scroll / ROW).floor().max(0.0) as usize;
    let rows = (LIST_HEIGHT / ROW).ceil() as usize + 2;
    (first.min(total), rows.min(total.saturating_sub(first)))
}

#[component]
fn Toolbar(v: Viewer) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let add = move || {
        let f = draft.get_untracked().trim().to_owned();
        if !f.is_empty() {
            let mut all = v.filters.get_untracked();
            if !all.contains(&f) {
                all.push(f);
            }
            v.subscribe(all);
            draft.set(String::new());
        }
    };
    view! {
        <div class="card" style="margin-bottom:12px">
            <div class="spread">
                <div class="row" id="filters">
                    {move || v.filters.get().into_iter().map(|f| {
                        let gone = f.clone();
                        view! { <span class="chip" data-filter=f.clone()>{f.clone()}
                            <button class="x" title="Remove" on:click=move |_| {
                                let rest: Vec<String> = v.filters.get_untracked().into_iter().filter(|x| *x != gone).collect();
                                v.subscribe(rest);
                            }>"×"</button></span> }
                    }).collect_view()}
                    <input id="filter-input" placeholder="add a filter, e.g. sensors/+/temp" style="width:240px"
                        prop:value=move || draft.get() on:input=move |e| draft.set(event_target_value(&e))
                        on:keydown=move |e: web_sys::KeyboardEvent| if e.key() == "Enter" { add() }/>
                    <button id="filter-add" on:click=move |_| add()>"Subscribe"</button>
                </div>
                <div class="row">
                    <button id="pause" on:click=move |_| v.paused.update(|p| *p = !*p)>
                        {move || if v.paused.get() { "Resume" } else { "Pause" }}</button>
                    <button id="clear" on:click=move |_| v.clear()>"Clear"</button>
                </div>
            </div>
            {move || v.error.get().map(|e| view! { <div class="error" role="alert"><b>"InvalidRequestException"</b>": "{e}</div> })}
            <div class="row muted" id="totals" style="margin-top:6px;font-size:12px">
                <span class=move || if v.online.get() { "dot on" } else { "dot" }></span>
                {move || {
                    let t = v.totals.get();
                    let mut parts = vec![format!("{} received", t.received)];
                    if t.summarized > 0 { parts.push(format!("{} counted only (sampled)", t.summarized)); }
                    if t.dropped > 0 { parts.push(format!("{} dropped", t.dropped)); }
                    if t.skipped > 0 { parts.push(format!("{} while paused", t.skipped)); }
                    parts.join(" · ")
                }}
            </div>
        </div>
    }
}

#[component]
fn TopicTree(v: Viewer, page: Page) -> impl IntoView {
    let collapsed = RwSignal::new(HashSet::<String>::new());
    let scroll = RwSignal::new(0.0);
    // The tree is rebuilt at most four times a second, whatever the message rate.
    let tick = ticker(std::time::Duration::from_millis(250));
    let rows = Memo::new(move |_| {
        tick.get();
        v.version.get_untracked();
        let c = collapsed.get();
        v.store.with_value(|s| tree_rows(s, &c))
    });
    view! {
        <div class="vlist" id="topic-tree" on:scroll=move |e| scroll.set(event_target::<web_sys::Element>(&e).scroll_top() as f64)>
            {move || {
                let all = rows.get();
                let (first, n) = window_of(scroll.get(), all.len());
                let height = all.len() as f64 * ROW;
                view! {
                    <div style=format!("height:{height}px;position:relative")>
                    {all[first..first + n].iter().cloned().enumerate().map(|(i, r)| {
                        let key = r.key.clone();
                        let leaf = r.leaf.clone();
                        let focused = leaf.clone();
                        let click = move |_| {
                            if let Some(t) = &leaf {
                                page.focus.set(Some(t.clone()));
                            } else {
                                collapsed.update(|c| if !c.remove(&key) { c.insert(key.clone()); });
                            }
                        };
                        let is_focus = move || focused.is_some() && page.focus.get() == focused;
                        view! {
                            <div class="vrow tree-row" class:focus=is_focus data-topic=r.leaf.clone().unwrap_or_default()
                                style=format!("top:{}px;padding-left:{}px", (first + i) as f64 * ROW, 6 + r.depth * 14) on:click=click>
                                <span class="caret">{if r.has_children { if r.open { "▾" } else { "▸" } } else { "" }}</span>
                                <span class="label">{r.label.clone()}</span>
                                {r.retained.then(|| view! { <span class="badge" title="retained">"R"</span> })}
                                <span class="count">{r.count}</span>
                                {(r.leaf.is_some() && r.rate > 0.0).then(|| view! { <span class="muted rate">{format!("{:.0}/s", r.rate)}</span> })}
                                <span class="muted last">{r.last.clone()}</span>
                            </div>
                        }
                    }).collect_view()}
                    </div>
                }
            }}
        </div>
    }
}

#[component]
fn MessageList(v: Viewer, page: Page) -> impl IntoView {
    let scroll = RwSignal::new(0.0);
    // While scrolled down, the list holds still at the newest message it showed.
    let anchor = RwSignal::new(None::<u64>);
    view! {
        <div class="vlist" id="message-list" on:scroll=move |e| {
            let top = event_target::<web_sys::Element>(&e).scroll_top() as f64;
            scroll.set(top);
            if top < ROW { anchor.set(None) } else if anchor.get_untracked().is_none() {
                anchor.set(Some(v.store.with_value(|s| s.last_seq())));
            }
        }>
            {move || {
                v.version.get();
                let focus = page.focus.get();
                let top_seq = anchor.get();
                v.store.with_value(|s| {
                    // Newest first; one topic only when a tree leaf is focused.
                    let newest = top_seq.unwrap_or_else(|| s.last_seq());
                    let list: Vec<Arc<ViewedMessage>> = match &focus {
                        Some(t) => s.messages.iter().rev().filter(|m| &m.topic == t).cloned().collect(),
                        None => Vec::new(),
                    };
                    let total = if focus.is_some() { list.len() } else if newest == 0 { 0 } else { (newest + 1 - s.first_seq.max(1)) as usize };
                    let (first, n) = window_of(scroll.get(), total);
                    let rows: Vec<Arc<ViewedMessage>> = (first..first + n).filter_map(|i| {
                        if focus.is_some() { list.get(i).cloned() } else { s.at(newest - i as u64).cloned() }
                    }).collect();
                    view! {
                        <div style=format!("height:{}px;position:relative", total as f64 * ROW)>
                        {rows.into_iter().enumerate().map(|(i, m)| {
                            let sel = m.clone();
                            let id = m.id;
                            let selected = move || page.selected.with(|s| s.as_ref().is_some_and(|x| x.id == id));
                            view! {
                                <div class="vrow msg-row" class:selected=selected data-id=m.id.to_string()
                                    style=format!("top:{}px", (first + i) as f64 * ROW)
                                    on:click=move |_| page.selected.set(Some(sel.clone()))>
                                    <span class="muted">{clock(m.timestamp)}</span>
                                    <span class="topic mono">{m.topic.clone()}</span>
                                    <span class="muted">{format!("q{}", m.qos)}</span>
                                    <span>{if m.retain { "R" } else { "" }}</span>
                                    <span class="muted mono client">{m.client_id.clone().unwrap_or_else(|| m.principal.clone())}</span>
                                    <span class="muted">{format!("{} B", m.size)}</span>
                                    <span class="mono payload">{preview(&m)}</span>
                                </div>
                            }
                        }).collect_view()}
                        </div>
                    }
                })
            }}
        </div>
    }
}

/// JSON pretty-printed into highlighted spans.
fn highlight(pretty: &str) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let chars: Vec<char> = pretty.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(chars.len());
            let text: String = chars[start..i].iter().collect();
            let is_key = chars[i..].iter().find(|c| !c.is_whitespace()) == Some(&':');
            out.push((if is_key { "j-key" } else { "j-str" }, text));
        } else if c == '-' || c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "+-.".contains(chars[i])) {
                i += 1;
            }
            out.push(("j-num", chars[start..i].iter().collect()));
        } else if c.is_ascii_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                i += 1;
            }
            out.push(("j-lit", chars[start..i].iter().collect()));
        } else {
            let start = i;
            while i < chars.len() && !(chars[i] == '"' || chars[i] == '-' || chars[i].is_ascii_alphanumeric())
            {
                i += 1;
            }
            out.push(("", chars[start..i].iter().collect()));
        }
    }
    out
}

fn hex_dump(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .enumerate()
        .map(|(i, c)| {
            let hex: Vec<String> = c.iter().map(|b| format!("{b:02x}")).collect();
            let text: String =
                c.iter().map(|&b| if (0x20..0x7f).contains(&b) { b as char } else { '.' }).collect();
            format!("{:08x}  {:<48} {text}", i * 16, hex.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A line diff (longest common subsequence): ('+' | '-' | ' ', line).
pub fn line_diff(old: &str, new: &str) -> Vec<(char, String)> {
    let a: Vec<&str> = old.lines().take(2000).collect();
    let b: Vec<&str> = new.lines().take(2000).collect();
    let mut l = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            l[i][j] = if a[i] == b[j] { l[i + 1][j + 1] + 1 } else { l[i + 1][j].max(l[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push((' ', a[i].to_owned()));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || l[i][j + 1] >= l[i + 1][j]) {
            out.push(('+', b[j].to_owned()));
            j += 1;
        } else {
            out.push(('-', a[i].to_owned()));
            i += 1;
        }
    }
    out
}

fn pretty(m: &ViewedMessage) -> Option<String> {
    let v: Value = serde_json::from_str(m.payload.as_deref()?).ok()?;
    serde_json::to_string_pretty(&v).ok()
}

#[component]
fn Details(v: Viewer, page: Page) -> impl IntoView {
    let mode = RwSignal::new("json");
    let diff = RwSignal::new(false);
    move || {
        let Some(m) = page.selected.get() else {
            return view! { <div class="empty">"Pick a message to see its payload."</div> }.into_any();
        };
        let json_text = pretty(&m);
        let has_json = json_text.is_some();
        let body = {
            let m = m.clone();
            let json_text = json_text.clone();
            move || {
                match (mode.get(), &json_text) {
                ("json", Some(p)) if diff.get() => {
                    let prev = v.store.with_value(|s| s.previous(&m));
                    match prev.as_deref().and_then(pretty) {
                        Some(old) => view! { <pre id="payload-diff">{line_diff(&old, p).into_iter().map(|(k, l)| {
                            let class = match k { '+' => "d-add", '-' => "d-del", _ => "" };
                            view! { <div class=class>{format!("{k} {l}")}</div> }
                        }).collect_view()}</pre> }.into_any(),
                        None => view! { <p class="muted" id="payload-diff">"No earlier JSON message on this topic is kept."</p> }.into_any(),
                    }
                }
                ("json", Some(p)) => view! { <pre id="payload" class="json">{highlight(p).into_iter().map(|(c, t)| view! { <span class=c>{t}</span> }).collect_view()}</pre> }.into_any(),
                ("hex", _) => view! { <pre id="payload">{hex_dump(&payload_bytes(&m))}</pre> }.into_any(),
                _ => view! { <pre id="payload">{payload_text(&m)}</pre> }.into_any(),
            }
            }
        };
        if !has_json && mode.get_untracked() == "json" {
            mode.set("text");
        }
        let props = m.properties.clone();
        let again = m.clone();
        let fields: Vec<String> = m
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .map(|v| {
                let mut out = Vec::new();
                numeric_paths(&v, "", &mut out);
                out
            })
            .unwrap_or_default();
        let chart_topic = m.topic.clone();
        view! {
            <div>
                <div class="kv" id="message-facts">
                    <div>"Topic"</div><div class="mono">{m.topic.clone()}</div>
                    <div>"Time"</div><div>{clock(m.timestamp)}</div>
                    <div>"QoS / retain"</div><div>{format!("{} / {}", m.qos, if m.retain { "yes" } else { "no" })}</div>
                    <div>"Client"</div><div class="mono">{m.client_id.clone().unwrap_or_else(|| "—".into())}</div>
                    <div>"Principal"</div><div class="mono">{m.principal.clone()}</div>
                    <div>"Size"</div><div>{format!("{} bytes{}", m.size, if m.truncated { " (cut for the live view)" } else { "" })}</div>
                </div>
                {(!props.is_empty()).then(|| view! {
                    <h2>"MQTT 5 properties"</h2>
                    <div class="kv" id="message-props">
                        {props.content_type.clone().map(|c| view! { <div>"Content type"</div><div>{c}</div> })}
                        {props.response_topic.clone().map(|c| view! { <div>"Response topic"</div><div class="mono">{c}</div> })}
                        {props.correlation_data.clone().map(|c| view! { <div>"Correlation data"</div><div class="mono">{c}</div> })}
                        {props.payload_format_indicator.map(|c| view! { <div>"Payload format"</div><div>{if c == 1 { "UTF-8" } else { "bytes" }}</div> })}
                        {props.message_expiry_interval.map(|c| view! { <div>"Expiry"</div><div>{format!("{c} s")}</div> })}
                        {props.user_properties.iter().map(|(k, val)| view! { <div class="mono">{k.clone()}</div><div class="mono">{val.clone()}</div> }).collect_view()}
                    </div>
                })}
                <div class="row" style="margin-top:10px">
                    <div class="tabs" style="margin:0">
                        {has_json.then(|| view! { <a href="javascript:void 0" id="mode-json" class:active=move || mode.get() == "json" on:click=move |_| mode.set("json")>"JSON"</a> })}
                        <a href="javascript:void 0" id="mode-text" class:active=move || mode.get() == "text" on:click=move |_| mode.set("text")>"Text"</a>
                        <a href="javascript:void 0" id="mode-hex" class:active=move || mode.get() == "hex" on:click=move |_| mode.set("hex")>"Hex"</a>
                    </div>
                    {has_json.then(|| view! { <label><input id="diff-toggle" type="checkbox" prop:checked=move || diff.get() on:change=move |e| diff.set(event_target_checked(&e))/>" diff with the previous message"</label> })}
                    <a id="trace-link" href=format!("#/trace/message/{}", m.id)
                        title="Every step this message took: policy, subscribers, rules, shadow">
                        {if m.trace.is_some() { "Trace ✓" } else { "Trace" }}</a>
                    <button id="republish" on:click=move |_| {
                        page.pub_topic.set(again.topic.clone());
                        page.pub_payload.set(again.payload.clone().unwrap_or_default());
                        page.pub_qos.set(again.qos);
                        page.pub_retain.set(again.retain);
                        page.tab.set("publish");
                    }>"Re-publish…"</button>
                </div>
                {(!fields.is_empty()).then(|| view! {
                    <div class="row muted" id="chart-fields" style="margin-top:8px">"Chart: "
                        {fields.into_iter().map(|f| {
                            let (t, p) = (chart_topic.clone(), f.clone());
                            view! { <button class="chart-field" data-field=f.clone() on:click=move |_| {
                                page.series.update(|s| if !s.contains(&(t.clone(), p.clone())) { s.push((t.clone(), p.clone())); });
                                page.tab.set("chart");
                            }>{f.clone()}</button> }
                        }).collect_view()}
                    </div>
                })}
                {body}
            </div>
        }.into_any()
    }
}

/// Paths (`a.b`, `list[0]`) of every number in a JSON value.
fn numeric_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Number(_) if !prefix.is_empty() => out.push(prefix.to_owned()),
        Value::Object(map) => {
            for (k, child) in map {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                numeric_paths(child, &p, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate().take(16) {
                numeric_paths(child, &format!("{prefix}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The number at `path` (as [`numeric_paths`] writes it).
fn number_at(v: &Value, path: &str) -> Option<f64> {
    let mut cur = v;
    for part in path.split('.') {
        let (key, idx) = match part.split_once('[') {
            Some((k, rest)) => (
                k,
                rest.split('[')
                    .map(|i| i.trim_end_matches(']').parse::<usize>().ok())
                    .collect::<Option<Vec<_>>>()?,
            ),
            None => (part, Vec::new()),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        for i in idx {
            cur = cur.get(i)?;
        }
    }
    cur.as_f64()
}

const COLORS: [&str; 6] = ["#5b8cff", "#3fb950", "#d29922", "#f85149", "#a371f7", "#39c5cf"];
/// Points per series.
const POINTS: usize = 500;

#[component]
fn ChartPanel(v: Viewer, page: Page) -> impl IntoView {
    // Redrawn twice a second at most.
    let tick = ticker(std::time::Duration::from_millis(500));
    let data = Memo::new(move |_| {
        tick.get();
        let series = page.series.get();
        v.store.with_value(|s| {
            series
                .iter()
                .map(|(topic, path)| {
                    let mut pts: Vec<(f64, f64)> = s
                        .messages
                        .iter()
                        .rev()
                        .filter(|m| &m.topic == topic)
                        .filter_map(|m| {
                            Some((
                                m.timestamp as f64,
                                number_at(&serde_json::from_str(m.payload.as_deref()?).ok()?, path)?,
                            ))
                        })
                        .take(POINTS)
                        .collect();
                    pts.reverse();
                    pts
                })
                .collect::<Vec<_>>()
        })
    });
    view! {
        {move || if page.series.get().is_empty() {
            view! { <div class="empty">"Pick a message with JSON numbers and press one of its fields to chart it; several topics can share a chart."</div> }.into_any()
        } else {
            let all = data.get();
            let flat: Vec<(f64, f64)> = all.iter().flatten().copied().collect();
            let (x0, x1) = flat.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
            let (y0, y1) = flat.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
            let (xs, ys) = ((x1 - x0).max(1.0), (y1 - y0).max(1e-9));
            view! {
                <svg class="chart big" id="chart" viewBox="0 0 600 220" preserveAspectRatio="none">
                    {all.iter().enumerate().map(|(i, pts)| {
                        let points = pts.iter().map(|(x, y)| format!("{:.1},{:.1}", (x - x0) / xs * 596.0 + 2.0, 216.0 - (y - y0) / ys * 210.0)).collect::<Vec<_>>().join(" ");
                        view! { <polyline points=points style=format!("stroke:{}", COLORS[i % COLORS.len()]) data-points=pts.len().to_string()/> }
                    }).collect_view()}
                </svg>
                <div class="spread muted" style="font-size:12px"><span>{if flat.is_empty() { String::new() } else { format!("min {y0} · max {y1}") }}</span>
                    <span>{if flat.is_empty() { String::new() } else { format!("{} – {}", clock(x0 as i64), clock(x1 as i64)) }}</span></div>
                <div id="chart-legend">
                    {page.series.get().into_iter().enumerate().map(|(i, (t, p))| {
                        let gone = (t.clone(), p.clone());
                        view! { <div class="row"><span class="swatch" style=format!("background:{}", COLORS[i % COLORS.len()])></span>
                            <span class="mono">{format!("{t} · {p}")}</span>
                            <button class="x" on:click=move |_| page.series.update(|s| s.retain(|x| *x != gone))>"×"</button></div> }
                    }).collect_view()}
                </div>
            }.into_any()
        }}
    }
}

fn json_state(text: &str) -> Option<Result<(), String>> {
    let t = text.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    Some(serde_json::from_str::<Value>(text).map(|_| ()).map_err(|e| e.to_string()))
}

#[component]
fn PublishPanel(page: Page) -> impl IntoView {
    let err = RwSignal::new(None::<ApiError>);
    let done = RwSignal::new(None::<String>);
    let changed = RwSignal::new(0u64);
    let saved = load(move || {
        changed.get();
        async move {
            let v = api::get("/console/api/collections").await?;
            Ok(serde_json::from_value::<Vec<SavedMessage>>(v).unwrap_or_default())
        }
    });
    let save_name = RwSignal::new(String::new());
    let publish = move |_| {
        done.set(None);
        let body = json!({"topic": page.pub_topic.get_untracked(), "payload": page.pub_payload.get_untracked(),
            "qos": page.pub_qos.get_untracked(), "retain": page.pub_retain.get_untracked()});
        let topic = page.pub_topic.get_untracked();
        act(err, api::call("POST", "/console/api/publish", Some(body)), move |v| {
            done.set(Some(format!(
                "Published to {topic} as {}",
                v["clientId"].as_str().unwrap_or("the console")
            )));
        });
    };
    let store = move |list: Vec<SavedMessage>| {
        act(err, api::call("PUT", "/console/api/collections", serde_json::to_value(list).ok()), move |_| {
            changed.update(|n| *n += 1);
        });
    };
    let save = move |_| {
        let mut list = saved.get_untracked().and_then(Result::ok).unwrap_or_default();
        let name = save_name.get_untracked().trim().to_owned();
        list.retain(|m| m.name != name);
        list.push(SavedMessage {
            name,
            topic: page.pub_topic.get_untracked(),
            payload: page.pub_payload.get_untracked(),
            qos: page.pub_qos.get_untracked(),
            retain: page.pub_retain.get_untracked(),
        });
        store(list);
        save_name.set(String::new());
    };
    view! {
        <div class="form">
            <label for="pub-topic">"Topic"</label>
            <input id="pub-topic" placeholder="devices/lamp/cmd" prop:value=move || page.pub_topic.get() on:input=move |e| page.pub_topic.set(event_target_value(&e))/>
            <label>"QoS / retain"</label>
            <div class="row">
                <select id="pub-qos" on:change=move |e| page.pub_qos.set(if event_target_value(&e) == "1" { 1 } else { 0 })>
                    <option value="0" selected=move || page.pub_qos.get() == 0>"0"</option>
                    <option value="1" selected=move || page.pub_qos.get() == 1>"1"</option>
                </select>
                <label><input id="pub-retain" type="checkbox" prop:checked=move || page.pub_retain.get() on:change=move |e| page.pub_retain.set(event_target_checked(&e))/>" retain"</label>
            </div>
        </div>
        <textarea id="pub-payload" spellcheck="false" style="min-height:140px;margin-top:8px" prop:value=move || page.pub_payload.get() on:input=move |e| page.pub_payload.set(event_target_value(&e))></textarea>
        <div class="spread">
            <span id="pub-validation">{move || match json_state(&page.pub_payload.get()) {
                None => view! { <span class="muted">"text payload"</span> }.into_any(),
                Some(Ok(())) => view! { <span class="valid">"✓ valid JSON"</span> }.into_any(),
                Some(Err(e)) => view! { <span class="invalid">{format!("✗ {e}")}</span> }.into_any(),
            }}</span>
            <div class="row">
                <button disabled=move || !matches!(json_state(&page.pub_payload.get()), Some(Ok(()))) on:click=move |_| {
                    if let Ok(v) = serde_json::from_str::<Value>(&page.pub_payload.get_untracked())
                        && let Ok(p) = serde_json::to_string_pretty(&v) { page.pub_payload.set(p); }
                }>"Format"</button>
                <button class="primary" id="pub-send" disabled=move || page.pub_topic.get().trim().is_empty() || matches!(json_state(&page.pub_payload.get()), Some(Err(_))) on:click=publish>"Publish"</button>
            </div>
        </div>
        <ErrorBox err=err/>
        {move || done.get().map(|d| view! { <div class="notice" id="pub-done">{d}</div> })}
        <h2>"Saved payloads"</h2>
        <div class="row">
            <input id="save-name" placeholder="name" prop:value=move || save_name.get() on:input=move |e| save_name.set(event_target_value(&e))/>
            <button id="save-payload" disabled=move || save_name.get().trim().is_empty() || page.pub_topic.get().trim().is_empty() on:click=save>"Save"</button>
        </div>
        {loaded(saved, move |list: Vec<SavedMessage>| view! {
            <table id="saved" style="margin-top:8px"><tbody>
            {list.clone().into_iter().map(|m| {
                let load_it = m.clone();
                let name = m.name.clone();
                let all = list.clone();
                view! { <tr><td>{m.name.clone()}</td><td class="mono">{m.topic.clone()}</td>
                    <td><button on:click=move |_| {
                        page.pub_topic.set(load_it.topic.clone()); page.pub_payload.set(load_it.payload.clone());
                        page.pub_qos.set(load_it.qos); page.pub_retain.set(load_it.retain);
                    }>"Load"</button>" "
                    <button class="danger" on:click=move |_| store(all.iter().filter(|x| x.name != name).cloned().collect())>"Delete"</button></td></tr> }
            }).collect_view()}
            </tbody></table>
        })}
    }
}

#[component]
fn RetainedPanel(page: Page) -> impl IntoView {
    let err = RwSignal::new(None::<ApiError>);
    let changed = RwSignal::new(0u64);
    let picked = RwSignal::new(HashSet::<String>::new());
    let list = load(move || {
        changed.get();
        async move {
            let v = api::get("/console/api/retained").await?;
            Ok(serde_json::from_value::<Vec<ViewedMessage>>(v).unwrap_or_default())
        }
    });
    let delete = move || {
        let topics: Vec<String> = picked.get_untracked().into_iter().collect();
        act(
            err,
            api::call("POST", "/console/api/retained/delete", Some(json!({"topics": topics}))),
            move |_| {
                picked.set(HashSet::new());
                changed.update(|n| *n += 1);
            },
        );
    };
    view! {
        <div class="spread">
            <button id="retained-refresh" on:click=move |_| changed.update(|n| *n += 1)>"Refresh"</button>
            <ConfirmButton label="Delete selected" id="retained-delete" question="Clear the retained message of every selected topic?".to_owned() on_confirm=delete/>
        </div>
        <ErrorBox err=err/>
        {loaded(list, move |items: Vec<ViewedMessage>| if items.is_empty() {
            view! { <div class="empty" id="retained-empty">"No retained messages."</div> }.into_any()
        } else {
            view! {
                <table id="retained" style="margin-top:8px"><thead><tr><th></th><th>"Topic"</th><th>"Size"</th><th>"Payload"</th></tr></thead><tbody>
                {items.into_iter().map(|m| {
                    let t = m.topic.clone();
                    let shown = Arc::new(m.clone());
                    view! { <tr data-topic=m.topic.clone()>
                        <td><input type="checkbox" on:change=move |e| {
                            let on = event_target_checked(&e);
                            picked.update(|p| { if on { p.insert(t.clone()); } else { p.remove(&t); } });
                        }/></td>
                        <td class="mono"><a href="javascript:void 0" on:click=move |_| page.selected.set(Some(shown.clone()))>{m.topic.clone()}</a></td>
                        <td>{m.size}</td><td class="mono muted">{preview(&m)}</td></tr> }
                }).collect_view()}
                </tbody></table>
            }.into_any()
        })}
    }
}

#[component]
fn SearchPanel(v: Viewer, page: Page) -> impl IntoView {
    let filter = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let minutes = RwSignal::new(String::from("60"));
    let err = RwSignal::new(None::<ApiError>);
    let results = RwSignal::new(Vec::<ViewedMessage>::new());
    let next = RwSignal::new(None::<u64>);
    let run = move |before: Option<u64>| {
        let f = filter.get_untracked();
        let filters: Vec<String> =
            if f.trim().is_empty() { v.filters.get_untracked() } else { vec![f.trim().to_owned()] };
        let mut q: Vec<String> = filters.iter().map(|f| format!("filter={}", api::enc(f))).collect();
        if !text.get_untracked().is_empty() {
            q.push(format!("text={}", api::enc(&text.get_untracked())));
        }
        if let Ok(m) = minutes.get_untracked().parse::<f64>() {
            q.push(format!("from={}", (js_sys::Date::now() - m * 60_000.0) as i64));
        }
        if let Some(b) = before {
            q.push(format!("before={b}"));
        }
        q.push("limit=100".into());
        let url = format!("/console/api/history?{}", q.join("&"));
        act(err, async move { api::get(&url).await }, move |val| {
            if let Ok(p) = serde_json::from_value::<HistoryPage>(val) {
                if before.is_some() {
                    results.update(|r| r.extend(p.messages));
                } else {
                    results.set(p.messages);
                }
                next.set(p.next_before);
            }
        });
    };
    view! {
        <div class="row">
            <input id="search-filter" placeholder="topic filter (default: the viewer's)" prop:value=move || filter.get() on:input=move |e| filter.set(event_target_value(&e))/>
            <input id="search-text" placeholder="text in payload" prop:value=move || text.get() on:input=move |e| text.set(event_target_value(&e))/>
            <select on:change=move |e| minutes.set(event_target_value(&e))>
                <option value="5">"last 5 min"</option><option value="60" selected>"last hour"</option>
                <option value="1440">"last day"</option><option value="all">"everything kept"</option>
            </select>
            <button class="primary" id="search-run" on:click=move |_| run(None)>"Search"</button>
        </div>
        <ErrorBox err=err/>
        <table id="search-results" style="margin-top:8px"><tbody>
        {move || results.get().into_iter().map(|m| {
            let shown = Arc::new(m.clone());
            view! { <tr on:click=move |_| page.selected.set(Some(shown.clone())) style="cursor:pointer">
                <td class="muted">{clock(m.timestamp)}</td><td class="mono">{m.topic.clone()}</td><td class="mono muted">{preview(&m)}</td></tr> }
        }).collect_view()}
        </tbody></table>
        {move || next.get().map(|b| view! { <button id="search-more" style="margin-top:8px" on:click=move |_| run(Some(b))>"Older…"</button> })}
    }
}

#[component]
fn RecordPanel(v: Viewer) -> impl IntoView {
    let live = expect_context::<Live>();
    let err = RwSignal::new(None::<ApiError>);
    let changed = RwSignal::new(0u64);
    let speed = RwSignal::new(String::from("1"));
    let list = load(move || {
        changed.get();
        live.replay.get();
        async move {
            let v = api::get("/console/api/recordings").await?;
            Ok(serde_json::from_value::<Vec<Recording>>(v).unwrap_or_default())
        }
    });
    // Counts of a running recording move: refetch every second while one runs.
    let handle = set_interval_with_handle(
        move || {
            if list
                .try_get_untracked()
                .flatten()
                .and_then(Result::ok)
                .is_some_and(|l| l.iter().any(|r| r.active))
            {
                let _ = changed.try_update(|n| *n += 1);
            }
        },
        std::time::Duration::from_secs(1),
    );
    on_cleanup(move || {
        if let Ok(h) = handle {
            h.clear();
        }
    });
    let start = move |_| {
        let filters = v.filters.get_untracked();
        act(
            err,
            api::call("POST", "/console/api/recordings", Some(json!({"filters": filters}))),
            move |_| changed.update(|n| *n += 1),
        );
    };
    view! {
        <div class="row">
            <button class="primary" id="record-start" on:click=start>"● Record the viewer's filters"</button>
            <label>"Replay speed "<select id="replay-speed" on:change=move |e| speed.set(event_target_value(&e))>
                <option value="0.5">"0.5×"</option><option value="1" selected>"1× (original timing)"</option>
                <option value="2">"2×"</option><option value="10">"10×"</option><option value="0">"as fast as possible"</option>
            </select></label>
        </div>
        <ErrorBox err=err/>
        {move || live.replay.get().map(|r| view! { <p id="replay-status" class="muted">{format!("Replay {} of {}: {} / {} published{}", r.id, r.source, r.sent, r.total,
            if r.done { r.error.clone().map(|e| format!(" — ended: {e}")).unwrap_or_else(|| " — done".into()) } else { String::new() })}</p> })}
        {loaded(list, move |items: Vec<Recording>| if items.is_empty() {
            view! { <div class="empty">"No recordings yet."</div> }.into_any()
        } else {
            view! { <table id="recordings" style="margin-top:8px"><thead><tr><th>"File"</th><th>"Messages"</th><th>"Size"</th><th></th></tr></thead><tbody>
            {items.into_iter().map(|r| {
                let (n1, n2, n3, n4) = (r.name.clone(), r.name.clone(), r.name.clone(), r.name.clone());
                view! { <tr data-recording=r.name.clone()>
                    <td class="mono">{r.name.clone()}{r.active.then(|| view! { " "<span class="badge bad">"recording"</span> })}</td>
                    <td class="rec-count">{r.messages}</td><td>{format!("{} B", r.bytes)}</td>
                    <td class="row">
                        {r.active.then(|| view! { <button class="rec-stop" on:click=move |_| { let url = format!("/console/api/recordings/{}/stop", api::enc(&n1)); act(err, async move { api::call("POST", &url, None).await }, move |_| changed.update(|n| *n += 1)) }>"Stop"</button> })}
                        <button class="rec-download" on:click=move |_| {
                            let name = n2.clone();
                            leptos::task::spawn_local(async move {
                                let r = api::download("GET", &format!("/console/api/recordings/{}", api::enc(&name)), None, &name).await;
                                if let Err(e) = r { let _ = err.try_set(Some(e)); }
                            });
                        }>"Download"</button>
                        <button class="rec-replay" on:click=move |_| {
                            let s: f64 = speed.get_untracked().parse().unwrap_or(1.0);
                            act(err, api::call("POST", "/console/api/replays", Some(json!({"recording": n3.clone(), "speed": s}))), |_| {});
                        }>"Replay"</button>
                        <button class="danger" on:click=move |_| { let url = format!("/console/api/recordings/{}", api::enc(&n4)); act(err, async move { api::call("DELETE", &url, None).await }, move |_| changed.update(|n| *n += 1)) }>"Delete"</button>
                    </td></tr> }
            }).collect_view()}
            </tbody></table> }.into_any()
        })}
    }
}

/// The Messages page.
#[component]
pub fn Messages() -> impl IntoView {
    let v = viewer::get();
    let page = Page {
        selected: RwSignal::new(None),
        focus: RwSignal::new(None),
        tab: RwSignal::new("details"),
        pub_topic: RwSignal::new(String::new()),
        pub_payload: RwSignal::new(String::from("{\n  \"hello\": \"from the console\"\n}")),
        pub_qos: RwSignal::new(0),
        pub_retain: RwSignal::new(false),
        series: RwSignal::new(Vec::new()),
    };
    // Picking a message shows it.
    Effect::new(move |_| {
        if page.selected.get().is_some() {
            page.tab.set("details");
        }
    });
    let tab = move |id: &'static str, label: &'static str| {
        view! {
            <a href="javascript:void 0" id=format!("tab-{id}") class:active=move || page.tab.get() == id on:click=move |_| page.tab.set(id)>{label}</a>
        }
    };
    view! {
        <h1>"Messages"</h1>
        <Toolbar v=v/>
        <div class="viewer">
            <div>
                <div class="spread"><b>"Topics"</b>
                    {move || page.focus.get().map(|t| view! { <a href="javascript:void 0" id="unfocus" on:click=move |_| page.focus.set(None)>{format!("show all (now: {t})")}</a> })}</div>
                <TopicTree v=v page=page/>
            </div>
            <div>
                <b>"Newest first"</b>
                <MessageList v=v page=page/>
            </div>
            <div class="side-panel">
                <div class="tabs">
                    {tab("details", "Message")}{tab("publish", "Publish")}{tab("retained", "Retained")}
                    {tab("chart", "Chart")}{tab("search", "History")}{tab("record", "Record & replay")}
                </div>
                {move || match page.tab.get() {
                    "publish" => view! { <PublishPanel page=page/> }.into_any(),
                    "retained" => view! { <RetainedPanel page=page/> }.into_any(),
                    "search" => view! { <SearchPanel v=v page=page/> }.into_any(),
                    "record" => view! { <RecordPanel v=v/> }.into_any(),
                    "chart" => view! { <ChartPanel v=v page=page/> }.into_any(),
                    _ => view! { <Details v=v page=page/> }.into_any(),
                }}
            </div>
        </div>
    }
}
