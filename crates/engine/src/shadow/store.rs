//! The shadow table: one row per accepted change. The newest row of a shadow is its current state;
//! older rows are its history, trimmed to a bounded number (every 100 versions, so a durable
//! update costs one INSERT).

use sqlx::{SqliteConnection, SqlitePool};
use thingbox_model::shadow::Shadow;

use crate::storage::StorageError;

/// One accepted change.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// Thing.
    pub thing: String,
    /// Shadow name ('' = classic).
    pub name: String,
    /// The version after the change (for a delete: the version deleted).
    pub version: i64,
    /// `update` or `delete`.
    pub kind: &'static str,
    /// The shadow after the change.
    pub shadow: Shadow,
    /// Who: a client id, or `api`.
    pub writer: String,
    /// Epoch seconds.
    pub ts: i64,
}

fn decode(thing: &str, name: &str, doc: &str) -> Result<Shadow, StorageError> {
    serde_json::from_str(doc)
        .map_err(|e| StorageError::Decode { what: format!("shadow {thing}/{name}"), detail: e.to_string() })
}

/// Loads the current state of every shadow.
pub async fn load(pool: &SqlitePool) -> Result<Vec<(String, String, Shadow)>, StorageError> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT thing, name, shadow FROM shadow_versions \
         WHERE id IN (SELECT MAX(id) FROM shadow_versions GROUP BY thing, name)",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(|(t, n, d)| decode(&t, &n, &d).map(|s| (t, n, s))).collect()
}

/// Appends a change; every 100 versions (and on delete) trims the shadow's history to `keep`.
pub async fn put(conn: &mut SqliteConnection, e: &HistoryEntry, keep: i64) -> Result<(), sqlx::Error> {
    let doc = serde_json::to_string(&e.shadow).map_err(|err| sqlx::Error::Encode(Box::new(err)))?;
    sqlx::query(
        "INSERT INTO shadow_versions (thing, name, version, kind, shadow, writer, ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .bind(&e.thing)
    .bind(&e.name)
    .bind(e.version)
    .bind(e.kind)
    .bind(doc)
    .bind(&e.writer)
    .bind(e.ts)
    .execute(&mut *conn)
    .await?;
    if e.version % 100 == 0 || e.kind == "delete" {
        sqlx::query(
            "DELETE FROM shadow_versions WHERE thing = ?1 AND name = ?2 AND id <= \
             (SELECT id FROM shadow_versions WHERE thing = ?1 AND name = ?2 ORDER BY id DESC LIMIT 1 OFFSET ?3)",
        )
        .bind(&e.thing)
        .bind(&e.name)
        .bind(keep.max(1))
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// The newest `limit` changes of one shadow, newest first.
pub async fn history(
    pool: &SqlitePool,
    thing: &str,
    name: &str,
    limit: i64,
) -> Result<Vec<HistoryEntry>, StorageError> {
    let rows: Vec<(i64, String, String, String, i64)> = sqlx::query_as(
        "SELECT version, kind, shadow, writer, ts FROM shadow_versions WHERE thing = ?1 AND name = ?2 \
         ORDER BY id DESC LIMIT ?3",
    )
    .bind(thing)
    .bind(name)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(version, kind, doc, writer, ts)| {
            Ok(HistoryEntry {
                thing: thing.to_owned(),
                name: name.to_owned(),
                version,
                kind: if kind == "delete" { "delete" } else { "update" },
                shadow: decode(thing, name, &doc)?,
                writer,
                ts,
            })
        })
        .collect()
}
