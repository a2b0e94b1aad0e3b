//! A JSON object as rules see it: members in the order they were written, looked up by a linear
//! scan. Device payloads are small objects, for which a vector beats any hash map (no hashing, one
//! allocation); a repeated key keeps its first position and takes the last value, as JSON parsers do.

use crate::value::Value;

/// An ordered object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object(Vec<(String, Value)>);

impl Object {
    /// An empty object.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// An empty object with room for `n` members.
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| k == key)
    }

    /// Sets `key` (keeping its place if present); returns the value it had.
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        match self.position(&key) {
            Some(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }

    /// Appends without looking for the key (the caller knows it is new, or calls [`dedup`](Self::dedup)).
    pub(crate) fn push(&mut self, key: String, value: Value) {
        self.0.push((key, value));
    }

    /// Makes keys unique after [`push`](Self::push): a repeated key keeps its first place and its
    /// last value.
    pub(crate) fn dedup(&mut self) {
        if self.0.len() < 2 {
            return;
        }
        let later: Vec<(usize, usize)> = if self.0.len() <= 16 {
            // Small objects (nearly all payloads): compare directly.
            (1..self.0.len())
                .filter_map(|i| (0..i).find(|j| self.0[*j].0 == self.0[i].0).map(|first| (first, i)))
                .collect()
        } else {
            let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
            let mut later = Vec::new();
            for (i, (k, _)) in self.0.iter().enumerate() {
                match seen.get(k.as_str()) {
                    Some(&first) => later.push((first, i)),
                    None => {
                        seen.insert(k.as_str(), i);
                    }
                }
            }
            later
        };
        if later.is_empty() {
            return;
        }
        for (first, dup) in &later {
            let v = std::mem::take(&mut self.0[*dup].1);
            self.0[*first].1 = v;
        }
        let drop: std::collections::HashSet<usize> = later.iter().map(|(_, d)| *d).collect();
        let mut i = 0;
        self.0.retain(|_| {
            i += 1;
            !drop.contains(&(i - 1))
        });
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key`, inserting `f()` first if absent.
    pub fn get_or_insert_with(&mut self, key: &str, f: impl FnOnce() -> Value) -> &mut Value {
        let i = match self.position(key) {
            Some(i) => i,
            None => {
                self.0.push((key.to_owned(), f()));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }

    /// Takes `key` out.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.position(key)?;
        Some(self.0.remove(i).1)
    }

    /// Members in order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// Values in order.
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.0.iter().map(|(_, v)| v)
    }

    /// Members.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it has no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl IntoIterator for Object {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Object {
    type Item = (&'a String, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, Value)>,
        fn(&'a (String, Value)) -> (&'a String, &'a Value),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl FromIterator<(String, Value)> for Object {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        let mut o = Object::new();
        o.extend(iter);
        o
    }
}

impl Extend<(String, Value)> for Object {
    fn extend<I: IntoIterator<Item = (String, Value)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_repeats() {
        let mut o = Object::new();
        o.push("b".into(), Value::Int(1));
        o.push("a".into(), Value::Int(2));
        o.push("b".into(), Value::Int(3));
        o.push("c".into(), Value::Int(4));
        o.push("a".into(), Value::Int(5));
        o.dedup();
        let keys: Vec<(&str, &Value)> = o.iter().map(|(k, v)| (k.as_str(), v)).collect();
        assert_eq!(keys, [("b", &Value::Int(3)), ("a", &Value::Int(5)), ("c", &Value::Int(4))]);
        assert_eq!(o.insert("a".into(), Value::Null), Some(Value::Int(5)));
        assert_eq!(o.remove("b"), Some(Value::Int(3)));
        assert_eq!(o.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["a", "c"]);
    }
}
