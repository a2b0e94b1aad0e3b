//! The engine's event stream (`/console/api/events`): registry changes bump per-kind counters that
//! pages read to refetch, lifecycle events and router counters are kept for the overview. The
//! socket reconnects by itself; a reconnect or a lag makes every page refetch.

use std::time::Duration;

use leptos::prelude::*;
use serde_json::Value;
use thingbox_api::console::{ConsoleEvent, ResourceKind, Stats};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

/// Samples of the router's counters kept for the chart.
pub const SAMPLES: usize = 60;

/// What the stream keeps; `Copy`, provided as context.
#[derive(Debug, Clone, Copy)]
pub struct Live {
    /// Whether the stream is connected.
    pub online: RwSignal<bool>,
    /// Bumped on any thing change.
    pub things: RwSignal<u64>,
    /// Bumped on any thing type change.
    pub types: RwSignal<u64>,
    /// Bumped on any thing group change.
    pub groups: RwSignal<u64>,
    /// Bumped on any certificate change.
    pub certs: RwSignal<u64>,
    /// Bumped on any CA certificate change.
    pub cas: RwSignal<u64>,
    /// Bumped on any policy change.
    pub policies: RwSignal<u64>,
    /// Bumped on any shadow change.
    pub shadows: RwSignal<u64>,
    /// Bumped on any connect/disconnect.
    pub connections: RwSignal<u64>,
    /// Lifecycle events received live, newest first (at most 50).
    pub lifecycle: RwSignal<Vec<(String, Value)>>,
    /// The router's counters, oldest first.
    pub stats: RwSignal<Vec<Stats>>,
    /// The latest replay progress.
    pub replay: RwSignal<Option<thingbox_api::viewer::Replay>>,
    /// Bumped on any topic rule change.
    pub rules: RwSignal<u64>,
    /// Bumped when a job or its executions change.
    pub jobs: RwSignal<u64>,
    /// Every rule's counters, once a second while rules exist.
    pub rule_stats: RwSignal<Vec<thingbox_api::rules::RuleStats>>,
    /// The rules engine's own counters.
    pub rule_engine: RwSignal<thingbox_api::rules::EngineRuleStats>,
}

impl Live {
    fn bump_all(&self) {
        for s in [
            self.things,
            self.types,
            self.groups,
            self.certs,
            self.cas,
            self.policies,
            self.shadows,
            self.connections,
            self.rules,
            self.jobs,
        ] {
            s.update(|n| *n += 1);
        }
    }

    fn apply(&self, e: ConsoleEvent) {
        match e {
            ConsoleEvent::Registry { kind, .. } => {
                let s = match kind {
                    ResourceKind::Thing => self.things,
                    ResourceKind::ThingType => self.types,
                    ResourceKind::ThingGroup => self.groups,
                    ResourceKind::Certificate => self.certs,
                    ResourceKind::CaCertificate => self.cas,
                    ResourceKind::Policy => self.policies,
                    ResourceKind::Rule => self.rules,
                    ResourceKind::Job => self.jobs,
                };
                s.update(|n| *n += 1);
                // A certificate's things and a thing's certificates show on each other's pages.
                if matches!(kind, ResourceKind::Thing | ResourceKind::Certificate) {
                    let other = if kind == ResourceKind::Thing { self.certs } else { self.things };
                    other.update(|n| *n += 1);
                }
            }
            ConsoleEvent::Lifecycle { topic, payload } => {
                if topic.contains("/presence/") {
                    self.connections.update(|n| *n += 1);
                }
                self.lifecycle.update(|l| {
                    l.insert(0, (topic, payload));
                    l.truncate(50);
                });
            }
            ConsoleEvent::Shadow { .. } | ConsoleEvent::ShadowRejected { .. } => {
                self.shadows.update(|n| *n += 1)
            }
            ConsoleEvent::Stats(s) => self.stats.update(|v| {
                v.push(s);
                if v.len() > SAMPLES {
                    v.remove(0);
                }
            }),
            ConsoleEvent::Replay(r) => self.replay.set(Some(r)),
            ConsoleEvent::Rules { rules, engine } => {
                self.rule_stats.set(rules);
                self.rule_engine.set(engine);
            }
            ConsoleEvent::Lagged { .. } => self.bump_all(),
        }
    }
}

fn url(path: &str) -> String {
    let loc = web_sys::window().map(|w| w.location());
    let host = loc.as_ref().and_then(|l| l.host().ok()).unwrap_or_default();
    let scheme = match loc.and_then(|l| l.protocol().ok()).as_deref() {
        Some("https:") => "wss",
        _ => "ws",
    };
    format!("{scheme}://{host}{path}?token={}", crate::api::enc(&crate::api::token()))
}

/// What a console socket does when it opens and when text arrives.
pub type OnOpen = std::rc::Rc<dyn Fn(&web_sys::WebSocket)>;
/// See [`OnOpen`].
pub type OnText = std::rc::Rc<dyn Fn(String)>;

/// Opens a console WebSocket on `path` (with the token) that reopens itself a second after it
/// closes; `online` follows it.
pub fn socket(path: &'static str, online: RwSignal<bool>, on_open: OnOpen, on_text: OnText) {
    let retry = {
        let (on_open, on_text) = (on_open.clone(), on_text.clone());
        move || {
            let (on_open, on_text) = (on_open.clone(), on_text.clone());
            set_timeout(move || socket(path, online, on_open, on_text), Duration::from_secs(1));
        }
    };
    let Ok(ws) = web_sys::WebSocket::new(&url(path)) else {
        retry();
        return;
    };
    let opened = ws.clone();
    let on_open = Closure::<dyn FnMut()>::new(move || {
        online.set(true);
        on_open(&opened);
    });
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |m: web_sys::MessageEvent| {
        if let Some(text) = m.data().as_string() {
            on_text(text);
        }
    });
    let on_close = Closure::<dyn FnMut()>::new(move || {
        online.set(false);
        retry();
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    // The handlers live as long as their socket; a closed socket is replaced, not reused.
    on_open.forget();
    on_message.forget();
    on_close.forget();
}

/// Opens the stream.
pub fn start() -> Live {
    let live = Live {
        online: RwSignal::new(false),
        things: RwSignal::new(0),
        types: RwSignal::new(0),
        groups: RwSignal::new(0),
        certs: RwSignal::new(0),
        cas: RwSignal::new(0),
        policies: RwSignal::new(0),
        shadows: RwSignal::new(0),
        connections: RwSignal::new(0),
        lifecycle: RwSignal::new(Vec::new()),
        stats: RwSignal::new(Vec::new()),
        replay: RwSignal::new(None),
        rules: RwSignal::new(0),
        jobs: RwSignal::new(0),
        rule_stats: RwSignal::new(Vec::new()),
        rule_engine: RwSignal::new(Default::default()),
    };
    socket(
        "/console/api/events",
        live.online,
        std::rc::Rc::new(move |_| live.bump_all()),
        std::rc::Rc::new(move |text| {
            if let Ok(e) = serde_json::from_str::<ConsoleEvent>(&text) {
                live.apply(e);
            }
        }),
    );
    live
}
