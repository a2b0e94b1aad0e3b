//! The subscription trie: filters split by level, `+` as a child, `#` kept on its parent, with AWS
//! IoT's rules (`#` never matches its parent level; root wildcards never match `$` topics).
//! Agrees with `thingbox_model::topic::matches`, which the tests check.

use std::sync::Arc;

use super::session::Session;

/// One subscription held in the trie.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The subscribing session.
    pub session: Arc<Session>,
    /// The granted QoS (0 or 1).
    pub qos: u8,
}

/// A map with foldhash's fast, randomly seeded hasher: the trie is on every message's path, and
/// SipHash was a visible share of routing.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<str>, Node>,
    /// Subscriptions whose filter ends exactly here.
    here: HashMap<u64, Entry>,
    /// Subscriptions whose filter ends with `#` right below here.
    hash: HashMap<u64, Entry>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.here.is_empty() && self.hash.is_empty()
    }
}

/// Filters → subscribing sessions.
#[derive(Debug, Default)]
pub struct Trie {
    root: Node,
    count: usize,
}

impl Trie {
    /// Adds or replaces the subscription of `entry.session` to `filter`.
    pub fn insert(&mut self, filter: &str, entry: Entry) {
        let mut node = &mut self.root;
        let levels: Vec<&str> = filter.split('/').collect();
        let (last, path) = levels.split_last().expect("split yields at least one level");
        for level in path {
            node = node.children.entry((*level).into()).or_default();
        }
        let slot = if *last == "#" {
            &mut node.hash
        } else {
            &mut node.children.entry((*last).into()).or_default().here
        };
        if slot.insert(entry.session.id, entry).is_none() {
            self.count += 1;
        }
    }

    /// Removes the subscription of session `id` to `filter`; true if there was one.
    pub fn remove(&mut self, filter: &str, id: u64) -> bool {
        fn walk(node: &mut Node, levels: &[&str], id: u64) -> bool {
            match levels {
                ["#"] => node.hash.remove(&id).is_some(),
                [level, rest @ ..] => match node.children.get_mut(*level) {
                    Some(child) => {
                        let removed = if rest.is_empty() {
                            child.here.remove(&id).is_some()
                        } else {
                            walk(child, rest, id)
                        };
                        if child.is_empty() {
                            node.children.remove(*level);
                        }
                        removed
                    }
                    None => false,
                },
                [] => false,
            }
        }
        let levels: Vec<&str> = filter.split('/').collect();
        let removed = walk(&mut self.root, &levels, id);
        if removed {
            self.count -= 1;
        }
        removed
    }

    /// Number of subscriptions held.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no subscription is held.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Calls `f` for every subscription matching `topic` (a session with several matching filters
    /// is reported once per filter; the caller dedupes).
    pub fn for_each_match(&self, topic: &str, mut f: impl FnMut(&Entry)) {
        fn walk(node: &Node, levels: &[&str], root: bool, dollar: bool, f: &mut impl FnMut(&Entry)) {
            let Some((level, rest)) = levels.split_first() else {
                node.here.values().for_each(&mut *f);
                return;
            };
            let wild_ok = !(root && dollar);
            if wild_ok {
                node.hash.values().for_each(&mut *f);
            }
            if let Some(child) = node.children.get(*level) {
                if rest.is_empty() {
                    child.here.values().for_each(&mut *f);
                } else {
                    walk(child, rest, false, dollar, f);
                }
            }
            if wild_ok && let Some(child) = node.children.get("+") {
                if rest.is_empty() {
                    child.here.values().for_each(&mut *f);
                } else {
                    walk(child, rest, false, dollar, f);
                }
            }
        }
        let levels: Vec<&str> = topic.split('/').collect();
        walk(&self.root, &levels, true, topic.starts_with('$'), &mut f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::session::Session;

    fn entry(id: u64) -> Entry {
        Entry { session: Arc::new(Session::new(id, format!("c{id}"), 16)), qos: 0 }
    }

    fn matched(t: &Trie, topic: &str) -> Vec<u64> {
        let mut ids = Vec::new();
        t.for_each_match(topic, |e| ids.push(e.session.id));
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    #[test]
    fn agrees_with_the_model_matcher() {
        let filters = [
            "a/b",
            "a/+",
            "a/#",
            "#",
            "+",
            "+/b",
            "$aws/things/+/shadow/#",
            "$aws/#",
            "a/+/c",
            "+/+",
            "a//c",
            "a/",
        ];
        let topics = [
            "a",
            "a/b",
            "a/b/c",
            "a/",
            "a//c",
            "b",
            "x/b",
            "$aws/things/t/shadow/update",
            "$aws/events/x",
            "$SYS/x",
            "/",
            "/b",
        ];
        let mut t = Trie::default();
        for (i, f) in filters.iter().enumerate() {
            t.insert(f, entry(i as u64));
        }
        assert_eq!(t.len(), filters.len());
        for topic in topics {
            let want: Vec<u64> = filters
                .iter()
                .enumerate()
                .filter(|(_, f)| thingbox_model::topic::matches(f, topic))
                .map(|(i, _)| i as u64)
                .collect();
            assert_eq!(matched(&t, topic), want, "topic {topic}");
        }
        for (i, f) in filters.iter().enumerate() {
            assert!(t.remove(f, i as u64), "{f}");
            assert!(!t.remove(f, i as u64));
        }
        assert!(t.is_empty());
        assert!(t.root.is_empty(), "empty nodes are pruned");
    }
}
