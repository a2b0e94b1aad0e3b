//! The shadow table (the shadow service's rows): one row per accepted change. The newest row of a shadow is its current state;
//! older rows are its history, trimmed to a bounded number (every 100 versions, so a durable
//! update costs one INSERT).

use sqlx::{SqliteConnection, SqlitePool};
use thingbox_model::shadow::{HistoryEntry, Shadow};

use super::StorageError;

fn decode(thing: &str, name: &str, doc: &str) -> Result<Shadow, StorageError> {
    serde_json::from_str(doc)
        .map_err(|e| StorageError::Decode { what: format!("shadow {thing}/{name}"), detail: e.to_string() })
}

/// A shadow's current state as loaded: thing, name, the shadow, and who wrote it last.
pub type Loaded = (String, String, Shadow, String);

/// Loads the current state of every shadow, with its last writer.
pub async fn load(pool: &SqlitePool) -> Result<Vec<Loaded>, StorageError> {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT thing, name, shadow, writer FROM shadow_versions \
         WHERE id IN (SELECT MAX(id) FROM shadow_versions GROUP BY thing, name)",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(|(t, n, d, w)| decode(&t, &n, &d).map(|s| (t, n, s, w))).collect()
}

/// The current state of one shadow, with its last writer; `None` when it was never written.
pub async fn load_one(pool: &SqlitePool, thing: &str, name: &str) -> Result<Option<Loaded>, StorageError> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT shadow, writer FROM shadow_versions WHERE thing = ?1 AND name = ?2 ORDER BY id DESC LIMIT 1",
    )
    .bind(thing)
    .bind(name)
    .fetch_optional(pool)
    .await?;
    row.map(|(d, w)| decode(thing, name, &d).map(|s| (thing.to_owned(), name.to_owned(), s, w))).transpose()
}

/// Appends one change; every 100 versions (and on delete) trims the shadow's history to `keep`.
pub async fn put(conn: &mut SqliteConnection, e: &HistoryEntry, keep: i64) -> Result<(), sqlx::Error> {
    put_many(conn, &[(e, keep)]).await
}

/// Rows per multi-row INSERT (7 parameters each, far below SQLite's parameter limit).
const ROWS_PER_INSERT: usize = 200;

/// Appends many changes with multi-row INSERTs, then trims where [`put`] would.
pub async fn put_many(
    conn: &mut SqliteConnection,
    entries: &[(&HistoryEntry, i64)],
) -> Result<(), sqlx::Error> {
    for chunk in entries.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO shadow_versions (thing, name, version, kind, shadow, writer, ts) VALUES ",
        );
        for i in 0..chunk.len() {
            sql.push_str(if i == 0 { "(?, ?, ?, ?, ?, ?, ?)" } else { ", (?, ?, ?, ?, ?, ?, ?)" });
        }
        let mut q = sqlx::query(&sql);
        for (e, _) in chunk {
            let doc = serde_json::to_string(&e.shadow).map_err(|err| sqlx::Error::Encode(Box::new(err)))?;
            q = q
                .bind(&e.thing)
                .bind(&e.name)
                .bind(e.version)
                .bind(e.kind)
                .bind(doc)
                .bind(&e.writer)
                .bind(e.ts);
        }
        q.execute(&mut *conn).await?;
    }
    for (e, keep) in entries {
        if e.version % 100 == 0 || e.kind == "delete" {
            trim(conn, e, *keep).await?;
        }
    }
    Ok(())
}

async fn trim(conn: &mut SqliteConnection, e: &HistoryEntry, keep: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM shadow_versions WHERE thing = ?1 AND name = ?2 AND id <= \
         (SELECT id FROM shadow_versions WHERE thing = ?1 AND name = ?2 ORDER BY id DESC LIMIT 1 OFFSET ?3)",
    )
    .bind(&e.thing)
    .bind(&e.name)
    .bind(keep.max(1))
    .execute(conn)
    .await
    .map(drop)
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

/// The changes of one shadow that produced versions `a` and `b` (updates only; a version appears
/// once per life of the shadow, the newest if it was deleted and recreated).
pub async fn versions(
    pool: &SqlitePool,
    thing: &str,
    name: &str,
    wanted: &[i64],
) -> Result<Vec<HistoryEntry>, StorageError> {
    let mut out = Vec::new();
    for v in wanted {
        let row: Option<(i64, String, String, i64)> = sqlx::query_as(
            "SELECT version, shadow, writer, ts FROM shadow_versions WHERE thing = ?1 AND name = ?2 AND version = ?3 \
             AND kind = 'update' ORDER BY id DESC LIMIT 1",
        )
        .bind(thing)
        .bind(name)
        .bind(v)
        .fetch_optional(pool)
        .await?;
        if let Some((version, doc, writer, ts)) = row {
            out.push(HistoryEntry {
                thing: thing.to_owned(),
                name: name.to_owned(),
                version,
                kind: "update",
                shadow: decode(thing, name, &doc)?,
                writer,
                ts,
            });
        }
    }
    Ok(out)
}
