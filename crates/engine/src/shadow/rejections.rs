//! Refused shadow updates and deletes, kept in memory for the console's timeline, so a device's
//! failing updates are visible without a subscriber on `…/rejected`. One ring for all shadows
//! (the newest [`KEEP`]), so no stream of bad requests can grow it; not kept across restarts.

use std::collections::VecDeque;

use parking_lot::Mutex;
use thingbox_api::shadows::ShadowRejection;

/// Rejections kept, across all shadows.
pub const KEEP: usize = 10_000;
/// Bytes of a refused request kept with it.
const PAYLOAD_BYTES: usize = 1024;

/// The ring.
#[derive(Debug, Default)]
pub struct Rejections {
    ring: Mutex<VecDeque<ShadowRejection>>,
}

/// What is known about a refused request.
pub struct Refused<'a> {
    /// Thing.
    pub thing: &'a str,
    /// Shadow ('' = classic).
    pub name: &'a str,
    /// `update` or `delete`.
    pub operation: &'a str,
    /// Who sent it.
    pub writer: &'a str,
    /// Its bytes.
    pub payload: &'a [u8],
    /// Its `clientToken`.
    pub client_token: Option<String>,
}

impl Rejections {
    /// Keeps one rejection (dropping the oldest beyond [`KEEP`]).
    pub fn record(&self, r: Refused<'_>, code: u16, message: &str, now_secs: i64) {
        let cut = r.payload.len().min(PAYLOAD_BYTES);
        let entry = ShadowRejection {
            thing: r.thing.to_owned(),
            shadow: r.name.to_owned(),
            operation: r.operation.to_owned(),
            code,
            message: message.to_owned(),
            writer: r.writer.to_owned(),
            timestamp: now_secs,
            client_token: r.client_token,
            payload: String::from_utf8_lossy(&r.payload[..cut]).into_owned(),
        };
        let mut ring = self.ring.lock();
        if ring.len() == KEEP {
            ring.pop_front();
        }
        ring.push_back(entry);
    }

    /// A shadow's rejections, newest first, at most `limit`.
    pub fn of(&self, thing: &str, name: &str, limit: usize) -> Vec<ShadowRejection> {
        self.ring
            .lock()
            .iter()
            .rev()
            .filter(|r| r.thing == thing && r.shadow == name)
            .take(limit)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused<'a>(thing: &'a str, payload: &'a [u8]) -> Refused<'a> {
        Refused { thing, name: "", operation: "update", writer: "dev", payload, client_token: None }
    }

    #[test]
    fn the_ring_is_bounded_and_answers_per_shadow_newest_first() {
        let r = Rejections::default();
        for i in 0..KEEP + 5 {
            r.record(refused(if i % 2 == 0 { "a" } else { "b" }, b"{}"), 400, &format!("m{i}"), i as i64);
        }
        assert_eq!(r.ring.lock().len(), KEEP);
        let a = r.of("a", "", 3);
        assert_eq!(
            a.iter().map(|x| x.message.as_str()).collect::<Vec<_>>(),
            [format!("m{}", KEEP + 4), format!("m{}", KEEP + 2), format!("m{}", KEEP)]
        );
        assert!(r.of("a", "named", 10).is_empty());
        let big = vec![b'x'; 5000];
        r.record(refused("c", &big), 413, "too big", 0);
        assert_eq!(r.of("c", "", 1)[0].payload.len(), PAYLOAD_BYTES);
    }
}
