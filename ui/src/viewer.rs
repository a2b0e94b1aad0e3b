//! The topic viewer's state: one WebSocket to `/console/api/messages` (opened the first time the
//! Messages page shows, kept while the console is open, reconnecting by itself), the newest
//! messages in a bounded ring, and per-topic counts, rates and last values for the topic tree.
//!
//! The engine already samples for the viewer (batches every 50 ms, summaries past 500 messages);
//! here a batch is applied in one go and bumps one signal, so the page re-renders at most once per
//! batch whatever the message rate.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use leptos::prelude::*;
use thingbox_api::viewer::{ViewedMessage, ViewerCommand, ViewerFrame};

/// Messages kept in the browser (older ones are in the engine's history).
pub const KEEP: usize = 20_000;

/// One topic as the tree shows it.
#[derive(Debug, Clone, Default)]
pub struct TopicInfo {
    /// Messages seen (carried and summarized).
    pub count: u64,
    /// Messages per second over the last second.
    pub rate: f64,
    /// The newest message carried.
    pub last: Option<Arc<ViewedMessage>>,
    /// Whether its newest message was retained.
    pub retained: bool,
    counted_at_last_rate: u64,
}

/// What the viewer holds (not reactive; `version` says when it changed).
#[derive(Debug, Default)]
pub struct Store {
    /// The newest messages, oldest first.
    pub messages: VecDeque<Arc<ViewedMessage>>,
    /// Sequence number of `messages[0]` (1-based count of messages received before it + 1).
    pub first_seq: u64,
    /// Topics seen.
    pub topics: BTreeMap<String, TopicInfo>,
}

impl Store {
    /// Sequence number of the newest message (0: none).
    pub fn last_seq(&self) -> u64 {
        if self.messages.is_empty() { 0 } else { self.first_seq + self.messages.len() as u64 - 1 }
    }

    /// The message with sequence number `seq`, if still kept.
    pub fn at(&self, seq: u64) -> Option<&Arc<ViewedMessage>> {
        if seq < self.first_seq {
            return None;
        }
        self.messages.get((seq - self.first_seq) as usize)
    }

    /// The message before `m` on the same topic, if kept.
    pub fn previous(&self, m: &ViewedMessage) -> Option<Arc<ViewedMessage>> {
        // Kept in id order: the first match walking back is the previous one.
        self.messages.iter().rev().find(|x| x.topic == m.topic && x.id < m.id).cloned()
    }
}

/// Counters shown above the list.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// Messages carried to this browser.
    pub received: u64,
    /// Messages the engine counted instead of carrying.
    pub summarized: u64,
    /// Messages lost on the way (slow socket, tap overflow).
    pub dropped: u64,
    /// Messages that arrived while paused (not shown).
    pub skipped: u64,
}

/// The viewer; `Copy`, provided as context.
#[derive(Clone, Copy)]
pub struct Viewer {
    /// Filters in force (as the engine confirmed them).
    pub filters: RwSignal<Vec<String>>,
    /// Whether new messages are ignored.
    pub paused: RwSignal<bool>,
    /// Whether the socket is open.
    pub online: RwSignal<bool>,
    /// Bumped whenever `store` changed.
    pub version: RwSignal<u64>,
    /// Counters.
    pub totals: RwSignal<Totals>,
    /// The last refusal from the engine (a bad filter).
    pub error: RwSignal<Option<String>>,
    /// The data.
    pub store: StoredValue<Store>,
    socket: StoredValue<Option<web_sys::WebSocket>, LocalStorage>,
    /// The filters asked for (sent again on reconnect).
    wanted: StoredValue<Vec<String>>,
}

impl Viewer {
    /// Asks the engine for `filters`.
    pub fn subscribe(&self, filters: Vec<String>) {
        let cmd = ViewerCommand::Subscribe { filters };
        if let Ok(text) = serde_json::to_string(&cmd) {
            self.socket.with_value(|s| {
                if let Some(ws) = s {
                    let _ = ws.send_with_str(&text);
                }
            });
        }
        let ViewerCommand::Subscribe { filters } = cmd;
        self.wanted.set_value(filters);
    }

    /// Forgets every message and count.
    pub fn clear(&self) {
        self.store.update_value(|s| *s = Store::default());
        self.totals.set(Totals::default());
        self.version.update(|v| *v += 1);
    }

    fn apply(&self, frame: ViewerFrame) {
        match frame {
            ViewerFrame::Subscribed { filters } => {
                self.error.set(None);
                self.filters.set(filters);
            }
            ViewerFrame::Error { message } => self.error.set(Some(message)),
            ViewerFrame::Batch(b) => {
                let summarized: u64 = b.summarized.iter().map(|s| s.count).sum();
                if self.paused.get_untracked() {
                    self.totals.update(|t| {
                        t.skipped += b.messages.len() as u64 + summarized;
                        t.dropped += b.dropped;
                    });
                    return;
                }
                let carried = b.messages.len() as u64;
                self.store.update_value(|s| {
                    for m in b.messages {
                        let m = Arc::new(m);
                        let t = s.topics.entry(m.topic.clone()).or_default();
                        t.count += 1;
                        t.retained = m.retain;
                        t.last = Some(m.clone());
                        if s.messages.is_empty() && s.first_seq == 0 {
                            s.first_seq = 1;
                        }
                        s.messages.push_back(m);
                        if s.messages.len() > KEEP {
                            s.messages.pop_front();
                            s.first_seq += 1;
                        }
                    }
                    for sum in &b.summarized {
                        s.topics.entry(sum.topic.clone()).or_default().count += sum.count;
                    }
                });
                self.totals.update(|t| {
                    t.received += carried;
                    t.summarized += summarized;
                    t.dropped += b.dropped;
                });
                self.version.update(|v| *v += 1);
            }
        }
    }

    /// Recomputes every topic's rate (called once a second).
    fn rates(&self) {
        self.store.update_value(|s| {
            for t in s.topics.values_mut() {
                t.rate = (t.count - t.counted_at_last_rate) as f64;
                t.counted_at_last_rate = t.count;
            }
        });
    }
}

/// The viewer of this console, opened on first use with `#` and `$aws/#`.
pub fn get() -> Viewer {
    let cell = expect_context::<ViewerCell>();
    if let Some(v) = cell.viewer.get_value() {
        return v;
    }
    // The viewer outlives the page that first asks for it: its signals belong to the app's owner, not
    // to that page's (which is disposed on navigation while the socket still feeds the viewer).
    cell.owner.with(|| open(cell.viewer))
}

fn open(cell: StoredValue<Option<Viewer>>) -> Viewer {
    let v = Viewer {
        filters: RwSignal::new(Vec::new()),
        paused: RwSignal::new(false),
        online: RwSignal::new(false),
        version: RwSignal::new(0),
        totals: RwSignal::new(Totals::default()),
        error: RwSignal::new(None),
        store: StoredValue::new(Store::default()),
        socket: StoredValue::new_local(None),
        wanted: StoredValue::new(vec!["#".to_owned(), "$aws/#".to_owned()]),
    };
    cell.set_value(Some(v));
    crate::live::socket(
        "/console/api/messages",
        v.online,
        std::rc::Rc::new(move |ws: &web_sys::WebSocket| {
            v.socket.set_value(Some(ws.clone()));
            v.subscribe(v.wanted.get_value());
        }),
        std::rc::Rc::new(move |text| {
            if let Ok(f) = serde_json::from_str::<ViewerFrame>(&text) {
                v.apply(f);
            }
        }),
    );
    let tick = set_interval_with_handle(move || v.rates(), Duration::from_secs(1));
    std::mem::forget(tick);
    v
}

/// Where the app keeps its one viewer (created lazily by [`get`]).
#[derive(Clone)]
pub struct ViewerCell {
    viewer: StoredValue<Option<Viewer>>,
    owner: Owner,
}

impl ViewerCell {
    /// An empty cell owned by the calling (app-wide) reactive owner.
    pub fn here() -> Self {
        Self { viewer: StoredValue::new(None), owner: Owner::current().expect("called inside the app") }
    }
}
