//! Putting memory back after a refused write, for the state that runs ahead of the database: a
//! shadow update is applied in memory as it is queued (so the next update builds on it), and a
//! retained message is served as soon as it is queued.
//!
//! Each change of a key takes a ticket while the service holds its state lock and queues the
//! write (so tickets follow the writer's order); each settles its ticket with the outcome. When the
//! last pending write of a key has settled and the newest change of it was refused, the key must
//! be read back from the database, which by then holds exactly the acknowledged changes — unless a
//! newer change was made meanwhile ([`Undo::busy`]): that one settles the key in its turn.

use std::collections::HashMap;
use std::hash::Hash;

use parking_lot::Mutex;

/// The pending writes of each key with some.
#[derive(Debug)]
pub struct Undo<K> {
    state: Mutex<State<K>>,
}

#[derive(Debug)]
struct State<K> {
    next: u64,
    keys: HashMap<K, Entry>,
}

#[derive(Debug)]
struct Entry {
    newest: u64,
    in_flight: usize,
    newest_refused: bool,
}

/// One queued change of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

impl<K: Eq + Hash + Clone> Default for Undo<K> {
    fn default() -> Self {
        Self { state: Mutex::new(State { next: 1, keys: HashMap::new() }) }
    }
}

impl<K: Eq + Hash + Clone> Undo<K> {
    /// A change of `key` is being queued (call under the service's state lock).
    pub fn begin(&self, key: &K) -> Ticket {
        let mut st = self.state.lock();
        let t = st.next;
        st.next += 1;
        let e =
            st.keys.entry(key.clone()).or_insert(Entry { newest: t, in_flight: 0, newest_refused: false });
        e.newest = t;
        e.in_flight += 1;
        Ticket(t)
    }

    /// The write of `ticket` is durable (`ok`) or refused: true when `key` must now be read back
    /// from the database.
    pub fn settle(&self, key: &K, ticket: Ticket, ok: bool) -> bool {
        let mut st = self.state.lock();
        let Some(e) = st.keys.get_mut(key) else { return false };
        if e.newest == ticket.0 {
            e.newest_refused = !ok;
        }
        e.in_flight -= 1;
        if e.in_flight > 0 {
            return false;
        }
        let refused = e.newest_refused;
        st.keys.remove(key);
        refused
    }

    /// Whether a change of `key` is pending: then a read-back must not overwrite it (call under the
    /// service's state lock).
    pub fn busy(&self, key: &K) -> bool {
        self.state.lock().keys.contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_newest_change_is_read_back_once_its_key_has_settled() {
        let u = Undo::default();
        let (a, b) = (u.begin(&"k"), u.begin(&"k"));
        // The newest is refused while an older one is still pending: not yet.
        assert!(!u.settle(&"k", b, false));
        assert!(u.busy(&"k"));
        assert!(u.settle(&"k", a, true));
        assert!(!u.busy(&"k"));
    }

    #[test]
    fn an_acknowledged_newest_change_needs_no_read_back() {
        let u = Undo::default();
        let (a, b) = (u.begin(&"k"), u.begin(&"k"));
        assert!(!u.settle(&"k", a, false));
        assert!(!u.settle(&"k", b, true));
        assert!(!u.busy(&"k"));
        // Keys are independent.
        let c = u.begin(&"j");
        assert!(u.settle(&"j", c, false));
    }
}
