//! Local tables: where the `dynamoDB` and `dynamoDBv2` actions write, and what `get_dynamodb()`
//! reads. Held in memory (reads never touch SQLite) and made durable through the storage writer
//! before an action reports success.
//!
//! A table's key is learned from the actions that write it: a `dynamoDB` action names its
//! partition (`hashKeyField`) and sort (`rangeKeyField`) attributes. A `dynamoDBv2` action into a
//! table whose key is not known appends each item under a sequence number (`_seq`), so nothing is
//! lost and the console shows the rows in order. Each table holds at most `max_items` items; a put
//! past that fails (the errorAction hears of it) rather than dropping old rows silently.

use std::collections::BTreeMap;

use parking_lot::RwLock;
use serde_json::Value;
use thingbox_api::rules::{TableInfo, TablePage};

use crate::storage::rules::{StoredTable, TableWrite};
use crate::storage::{Pending, Write, Writer};

/// The key of an appended row when a table's key is unknown.
pub const SEQ_KEY: &str = "_seq";
/// Most local tables (a table name can come from a template, so from a device's topic).
pub const MAX_TABLES: usize = 100;

#[derive(Debug, Default)]
struct Table {
    key: Vec<String>,
    items: BTreeMap<(String, String), Value>,
    next_seq: u64,
}

/// Every local table.
#[derive(Debug)]
pub struct Tables {
    tables: RwLock<BTreeMap<String, Table>>,
    writer: Writer,
    max_items: usize,
}

/// A key value as stored: strings as they are, anything else as JSON.
fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Tables {
    /// Tables loaded from storage.
    pub fn new(stored: Vec<StoredTable>, writer: Writer, max_items: usize) -> Self {
        let mut tables = BTreeMap::new();
        for (name, key, rows) in stored {
            let mut t = Table { key, ..Table::default() };
            for (hash, range, item) in rows {
                if let Ok(v) = serde_json::from_str(&item) {
                    if t.key.first().map(String::as_str) == Some(SEQ_KEY) {
                        t.next_seq = t.next_seq.max(hash.parse::<u64>().unwrap_or(0) + 1);
                    }
                    t.items.insert((hash, range), v);
                }
            }
            tables.insert(name, t);
        }
        Self { tables: RwLock::new(tables), writer, max_items }
    }

    /// Stores `item` in `table`. `key` names the key attributes when the caller knows them (a
    /// `dynamoDB` action); `None` uses the table's known key, or appends under `_seq`. Returns the
    /// stored key for the console, and the pending durable write.
    pub fn put(
        &self,
        table: &str,
        key: Option<&[String]>,
        mut item: Value,
    ) -> Result<(String, Pending), String> {
        let mut tables = self.tables.write();
        let known = tables.get(table);
        let wanted: Vec<String> = match (key, known) {
            (Some(k), _) => k.to_vec(),
            (None, Some(t)) if !t.key.is_empty() => t.key.clone(),
            (None, _) => vec![SEQ_KEY.to_owned()],
        };
        // Decide everything before changing anything: a refused put leaves the table as it was.
        if let Some(t) = known
            && !t.key.is_empty()
            && t.key != wanted
            && !t.items.is_empty()
        {
            return Err(format!(
                "the local table '{table}' is keyed by {:?}; this action writes it keyed by {wanted:?}",
                t.key
            ));
        }
        if known.is_none() && tables.len() >= MAX_TABLES {
            return Err(format!(
                "Thingbox keeps at most {MAX_TABLES} local tables and '{table}' would be one more; drop one in the console"
            ));
        }
        let seq = known.map_or(0, |t| t.next_seq);
        let Some(obj) = item.as_object_mut() else {
            return Err("the item is not a JSON object".into());
        };
        let hash = if wanted[0] == SEQ_KEY {
            obj.insert(SEQ_KEY.into(), Value::from(seq));
            seq.to_string()
        } else {
            match obj.get(&wanted[0]) {
                Some(v) if !v.is_null() => key_text(v),
                _ => {
                    return Err(format!(
                        "the item has no value for the table's partition key '{}'",
                        wanted[0]
                    ));
                }
            }
        };
        let range = match wanted.get(1) {
            Some(r) => match obj.get(r) {
                Some(v) if !v.is_null() => key_text(v),
                _ => return Err(format!("the item has no value for the table's sort key '{r}'")),
            },
            None => String::new(),
        };
        let k = (hash.clone(), range.clone());
        if known.is_some_and(|t| !t.items.contains_key(&k) && t.items.len() >= self.max_items) {
            return Err(format!(
                "the local table '{table}' holds {} items, its limit; export and drop it in the console",
                self.max_items
            ));
        }
        let t = tables.entry(table.to_owned()).or_default();
        let mut writes = Vec::new();
        if t.key != wanted {
            t.key = wanted.clone();
            writes.push(Write::Table(TableWrite::Define { table: table.to_owned(), key: wanted.clone() }));
        }
        if wanted[0] == SEQ_KEY {
            t.next_seq = seq + 1;
        }
        let text = item.to_string();
        t.items.insert(k, item);
        writes.push(Write::Table(TableWrite::Put {
            table: table.to_owned(),
            hash: hash.clone(),
            range: range.clone(),
            item: text,
        }));
        let shown = if range.is_empty() { hash } else { format!("{hash} / {range}") };
        Ok((shown, self.writer.submit(writes)))
    }

    /// Removes the item with this key (a `dynamoDB` action with operation DELETE).
    pub fn delete(&self, table: &str, hash: &str, range: &str) -> Pending {
        let mut tables = self.tables.write();
        let Some(t) = tables.get_mut(table) else { return Pending::done() };
        if t.items.remove(&(hash.to_owned(), range.to_owned())).is_none() {
            return Pending::done();
        }
        self.writer.submit(vec![Write::Table(TableWrite::Delete {
            table: table.to_owned(),
            hash: hash.to_owned(),
            range: range.to_owned(),
        })])
    }

    /// Drops a table and its items (the console); `None` when there is no such table.
    pub fn drop_table(&self, table: &str) -> Option<Pending> {
        let mut tables = self.tables.write();
        tables.remove(table)?;
        Some(self.writer.submit(vec![Write::Table(TableWrite::Drop { table: table.to_owned() })]))
    }

    /// The item whose key attributes have these values (`get_dynamodb()`).
    pub fn get(&self, table: &str, key: &[(String, thingbox_sql::Value)]) -> Option<thingbox_sql::Value> {
        let tables = self.tables.read();
        let t = tables.get(table)?;
        let text = |v: &thingbox_sql::Value| v.to_json().map(|j| key_text(&j));
        let (hash, range) = match key {
            [(n, v)] if t.key.len() == 1 && *n == t.key[0] => (text(v)?, String::new()),
            [(n1, v1), (n2, v2)] if t.key.len() == 2 && *n1 == t.key[0] && *n2 == t.key[1] => {
                (text(v1)?, text(v2)?)
            }
            _ => return None,
        };
        let item = t.items.get(&(hash, range))?;
        Some(thingbox_sql::Value::from_json(item, true))
    }

    /// Every table.
    pub fn list(&self) -> Vec<TableInfo> {
        self.tables
            .read()
            .iter()
            .map(|(name, t)| TableInfo { name: name.clone(), items: t.items.len(), key: t.key.clone() })
            .collect()
    }

    /// A page of one table's items, in key order.
    pub fn page(&self, table: &str, offset: usize, limit: usize) -> Option<TablePage> {
        let tables = self.tables.read();
        let t = tables.get(table)?;
        let items: Vec<Value> = t.items.values().skip(offset).take(limit).cloned().collect();
        let next = (offset + items.len() < t.items.len()).then_some(offset + items.len());
        Some(TablePage {
            table: TableInfo { name: table.to_owned(), items: t.items.len(), key: t.key.clone() },
            items,
            next,
        })
    }
}
