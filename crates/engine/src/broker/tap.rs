//! The router's tap: a copy of every routed message for the console's viewer, the message history
//! and recordings.
//!
//! Capturing is one atomic load while nobody taps, and otherwise a push of an `Arc` into a bounded
//! buffer under a short lock; the tap's consumer (`crate::viewer`) swaps the buffer out every
//! [`thingbox_api::viewer::BATCH_MS`]. Nothing here waits or wakes anyone: when the buffer is full
//! the message is counted as dropped, so the tap never slows a publisher or a device.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

use super::message::Message;

/// The capture buffer.
#[derive(Debug)]
pub struct Tap {
    enabled: AtomicBool,
    capacity: usize,
    buffer: Mutex<Vec<Arc<Message>>>,
    dropped: AtomicU64,
}

impl Tap {
    /// A disabled tap holding at most `capacity` messages between two drains.
    pub fn new(capacity: usize) -> Self {
        Self {
            enabled: AtomicBool::new(false),
            capacity,
            buffer: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
        }
    }

    /// Starts or stops capturing (stopping empties the buffer).
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
        if !on {
            self.buffer.lock().clear();
        }
    }

    /// Whether it captures.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Keeps a copy of `msg` if capturing and there is room.
    #[inline]
    pub fn capture(&self, msg: &Arc<Message>) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let mut buf = self.buffer.lock();
        if buf.len() < self.capacity {
            buf.push(msg.clone());
        } else {
            drop(buf);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Keeps copies of `msgs` (one lock for all) if capturing, as many as there is room for.
    pub fn capture_many(&self, msgs: &[Arc<Message>]) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        // Copied before the lock and moved in under it: the rules engine's thread, at background
        // priority, calls this, and must not be preempted in a long hold of the lock every
        // publisher takes.
        let mut copies: Vec<Arc<Message>> = msgs.to_vec();
        let mut buf = self.buffer.lock();
        let room = self.capacity.saturating_sub(buf.len()).min(copies.len());
        buf.extend(copies.drain(..room));
        drop(buf);
        if !copies.is_empty() {
            self.dropped.fetch_add(copies.len() as u64, Ordering::Relaxed);
        }
    }

    /// Takes what was captured since the last drain, into `into` (which must be empty; its
    /// allocation is reused for the next window), and the number dropped since then.
    pub fn drain(&self, into: &mut Vec<Arc<Message>>) -> u64 {
        debug_assert!(into.is_empty());
        std::mem::swap(&mut *self.buffer.lock(), into);
        self.dropped.swap(0, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::{Principal, Properties};

    fn msg(topic: &str) -> Arc<Message> {
        Arc::new(Message {
            topic: topic.into(),
            payload: bytes::Bytes::from_static(b"x"),
            qos: 0,
            retain: false,
            properties: Properties::default(),
            client_id: None,
            principal: Principal::Http,
            timestamp_ms: 0,
            rule_hops: 0,
            trace: None,
        })
    }

    #[test]
    fn captures_only_when_enabled_and_counts_what_does_not_fit() {
        let tap = Tap::new(2);
        tap.capture(&msg("a"));
        let mut out = Vec::new();
        assert_eq!(tap.drain(&mut out), 0);
        assert!(out.is_empty(), "disabled: nothing kept");
        tap.set_enabled(true);
        for t in ["a", "b", "c", "d"] {
            tap.capture(&msg(t));
        }
        assert_eq!(tap.drain(&mut out), 2);
        assert_eq!(out.iter().map(|m| m.topic.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        out.clear();
        assert_eq!(tap.drain(&mut out), 0, "the dropped count restarts after a drain");
        assert!(out.is_empty());
    }
}
