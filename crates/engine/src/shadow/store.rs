//! The shadow tables: current documents, and the history of accepted changes (bounded per shadow).

use sqlx::{SqliteConnection, SqlitePool};
use thingbox_model::shadow::Shadow;

use crate::storage::StorageError;

/// One accepted change, as kept for the console.
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
    /// The document after the change.
    pub doc: serde_json::Value,
    /// Who: a client id, or `api`.
    pub writer: String,
    /// Epoch seconds.
    pub ts: i64,
}

/// Loads every shadow.
pub async fn load(pool: &SqlitePool) -> Result<Vec<(String, String, Shadow)>, StorageError> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT thing, name, doc FROM shadows").fetch_all(pool).await?;
    rows.into_iter()
        .map(|(t, n, d)| {
            let s: Shadow = serde_json::from_str(&d).map_err(|e| StorageError::Decode {
                what: format!("shadows/{t}/{n}"),
                detail: e.to_string(),
            })?;
            Ok((t, n, s))
        })
        .collect()
}

/// Stores a shadow and its history entry, trimming the history to `keep` entries.
pub async fn put(
    conn: &mut SqliteConnection,
    shadow: &Shadow,
    entry: &HistoryEntry,
    keep: i64,
) -> Result<(), sqlx::Error> {
    let doc = serde_json::to_string(shadow).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query("INSERT INTO shadows (thing, name, doc) VALUES (?1, ?2, ?3) ON CONFLICT(thing, name) DO UPDATE SET doc = ?3")
        .bind(&entry.thing)
        .bind(&entry.name)
        .bind(doc)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO shadow_versions (thing, name, version, kind, doc, writer, ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
        .bind(&entry.thing)
        .bind(&entry.name)
        .bind(entry.version)
        .bind(entry.kind)
        .bind(entry.doc.to_string())
        .bind(&entry.writer)
        .bind(entry.ts)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "DELETE FROM shadow_versions WHERE thing = ?1 AND name = ?2 AND id <= \
         (SELECT id FROM shadow_versions WHERE thing = ?1 AND name = ?2 ORDER BY id DESC LIMIT 1 OFFSET ?3)",
    )
    .bind(&entry.thing)
    .bind(&entry.name)
    .bind(keep)
    .execute(conn)
    .await
    .map(drop)
}

/// The history of one shadow, newest first.
pub async fn history(
    pool: &SqlitePool,
    thing: &str,
    name: &str,
    limit: i64,
) -> Result<Vec<HistoryEntry>, StorageError> {
    let rows: Vec<(i64, String, String, String, i64)> = sqlx::query_as(
        "SELECT version, kind, doc, writer, ts FROM shadow_versions WHERE thing = ?1 AND name = ?2 \
         ORDER BY id DESC LIMIT ?3",
    )
    .bind(thing)
    .bind(name)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(version, kind, doc, writer, ts)| HistoryEntry {
            thing: thing.to_owned(),
            name: name.to_owned(),
            version,
            kind: if kind == "delete" { "delete" } else { "update" },
            doc: serde_json::from_str(&doc).unwrap_or(serde_json::Value::Null),
            writer,
            ts,
        })
        .collect())
}
