//! The registry's tables: loading every record at start-up and applying [`Change`]s.

use sqlx::{SqliteConnection, SqlitePool};
use thingbox_model::registry::{Change, Registry, Thing, ThingGroup, ThingType};

use crate::storage::StorageError;

fn decode<T: serde::de::DeserializeOwned>(table: &str, name: &str, doc: &str) -> Result<T, StorageError> {
    serde_json::from_str(doc)
        .map_err(|e| StorageError::Decode { what: format!("{table}/{name}"), detail: e.to_string() })
}

async fn docs<T: serde::de::DeserializeOwned>(
    pool: &SqlitePool,
    table: &str,
) -> Result<Vec<T>, StorageError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as(&format!("SELECT name, doc FROM {table}")).fetch_all(pool).await?;
    rows.iter().map(|(name, doc)| decode(table, name, doc)).collect()
}

/// Loads the whole registry.
pub async fn load(pool: &SqlitePool) -> Result<Registry, StorageError> {
    let things: Vec<Thing> = docs(pool, "things").await?;
    let types: Vec<ThingType> = docs(pool, "thing_types").await?;
    let groups: Vec<ThingGroup> = docs(pool, "thing_groups").await?;
    let members: Vec<(String, String)> =
        sqlx::query_as("SELECT group_name, thing_name FROM thing_group_members").fetch_all(pool).await?;
    Ok(Registry::from_records(things, types, groups, members))
}

async fn put(
    conn: &mut SqliteConnection,
    table: &str,
    name: &str,
    doc: &impl serde::Serialize,
) -> Result<(), sqlx::Error> {
    let doc = serde_json::to_string(doc).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(&format!(
        "INSERT INTO {table} (name, doc) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET doc = ?2"
    ))
    .bind(name)
    .bind(doc)
    .execute(conn)
    .await
    .map(drop)
}

async fn delete(conn: &mut SqliteConnection, table: &str, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("DELETE FROM {table} WHERE name = ?1")).bind(name).execute(conn).await.map(drop)
}

/// Applies one change inside the writer's transaction.
pub async fn apply(conn: &mut SqliteConnection, change: &Change) -> Result<(), sqlx::Error> {
    match change {
        Change::PutThing(t) => put(conn, "things", &t.name, t).await,
        Change::DeleteThing(n) => delete(conn, "things", n).await,
        Change::PutThingType(t) => put(conn, "thing_types", &t.name, t).await,
        Change::DeleteThingType(n) => delete(conn, "thing_types", n).await,
        Change::PutThingGroup(g) => put(conn, "thing_groups", &g.name, g).await,
        Change::DeleteThingGroup(n) => delete(conn, "thing_groups", n).await,
        Change::AddMember { group, thing } => {
            sqlx::query("INSERT OR IGNORE INTO thing_group_members (group_name, thing_name) VALUES (?1, ?2)")
                .bind(group)
                .bind(thing)
                .execute(conn)
                .await
                .map(drop)
        }
        Change::RemoveMember { group, thing } => {
            sqlx::query("DELETE FROM thing_group_members WHERE group_name = ?1 AND thing_name = ?2")
                .bind(group)
                .bind(thing)
                .execute(conn)
                .await
                .map(drop)
        }
    }
}
