//! The rules engine's rows: topic rules, and the local tables the dynamoDB actions write.

use sqlx::{SqliteConnection, SqlitePool};
use thingbox_model::rules::{RuleChange, TopicRule};

use super::StorageError;

/// A change to a local table.
#[derive(Debug, Clone, PartialEq)]
pub enum TableWrite {
    /// Declare a table and its key attributes (partition, then sort).
    Define {
        /// Table.
        table: String,
        /// Key attribute names.
        key: Vec<String>,
    },
    /// Store (insert or replace) an item.
    Put {
        /// Table.
        table: String,
        /// Partition key value (as text).
        hash: String,
        /// Sort key value (as text; '' without one).
        range: String,
        /// The item, as JSON.
        item: String,
    },
    /// Remove a table and every item in it.
    Drop {
        /// Table.
        table: String,
    },
    /// Remove an item.
    Delete {
        /// Table.
        table: String,
        /// Partition key value.
        hash: String,
        /// Sort key value.
        range: String,
    },
}

/// Applies a rule change.
pub async fn apply(conn: &mut SqliteConnection, change: &RuleChange) -> Result<(), sqlx::Error> {
    match change {
        RuleChange::Put(rule) => {
            let doc = serde_json::to_string(rule).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            sqlx::query("INSERT INTO topic_rules (name, doc) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET doc = ?2")
                .bind(&rule.name)
                .bind(doc)
                .execute(conn)
                .await
                .map(drop)
        }
        RuleChange::Delete(name) => {
            sqlx::query("DELETE FROM topic_rules WHERE name = ?1").bind(name).execute(conn).await.map(drop)
        }
    }
}

/// Applies a table change.
pub async fn apply_table(conn: &mut SqliteConnection, w: &TableWrite) -> Result<(), sqlx::Error> {
    match w {
        TableWrite::Define { table, key } => {
            let key = serde_json::to_string(key).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            sqlx::query("INSERT INTO rule_tables (name, key) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET key = ?2")
                .bind(table)
                .bind(key)
                .execute(conn)
                .await
                .map(drop)
        }
        TableWrite::Put { table, hash, range, item } => sqlx::query(
            "INSERT INTO rule_table_items (table_name, hash, range, item) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT(table_name, hash, range) DO UPDATE SET item = ?4",
        )
        .bind(table)
        .bind(hash)
        .bind(range)
        .bind(item)
        .execute(conn)
        .await
        .map(drop),
        TableWrite::Drop { table } => {
            sqlx::query("DELETE FROM rule_table_items WHERE table_name = ?1")
                .bind(table)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM rule_tables WHERE name = ?1").bind(table).execute(conn).await.map(drop)
        }
        TableWrite::Delete { table, hash, range } => {
            sqlx::query("DELETE FROM rule_table_items WHERE table_name = ?1 AND hash = ?2 AND range = ?3")
                .bind(table)
                .bind(hash)
                .bind(range)
                .execute(conn)
                .await
                .map(drop)
        }
    }
}

/// Loads every rule.
pub async fn load(pool: &SqlitePool) -> Result<Vec<TopicRule>, StorageError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT name, doc FROM topic_rules").fetch_all(pool).await?;
    rows.into_iter()
        .map(|(name, doc)| {
            serde_json::from_str(&doc).map_err(|e| StorageError::Decode {
                what: format!("topic_rules/{name}"),
                detail: e.to_string(),
            })
        })
        .collect()
}

/// One stored table: name, key attributes, items as (hash, range, JSON).
pub type StoredTable = (String, Vec<String>, Vec<(String, String, String)>);

/// Loads every local table.
pub async fn load_tables(pool: &SqlitePool) -> Result<Vec<StoredTable>, StorageError> {
    let defs: Vec<(String, String)> =
        sqlx::query_as("SELECT name, key FROM rule_tables").fetch_all(pool).await?;
    let mut out = Vec::new();
    for (name, key) in defs {
        let key: Vec<String> = serde_json::from_str(&key).map_err(|e| StorageError::Decode {
            what: format!("rule_tables/{name}"),
            detail: e.to_string(),
        })?;
        let items: Vec<(String, String, String)> =
            sqlx::query_as("SELECT hash, range, item FROM rule_table_items WHERE table_name = ?1")
                .bind(&name)
                .fetch_all(pool)
                .await?;
        out.push((name, key, items));
    }
    Ok(out)
}
