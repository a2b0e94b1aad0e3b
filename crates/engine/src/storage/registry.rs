//! The registry's tables: loading every record at start-up and applying [`Change`]s.

use sqlx::{SqliteConnection, SqlitePool};
use thingbox_model::registry::{
    CaCertificate, Certificate, Change, IotPolicy, Registry, Target, Thing, ThingGroup, ThingPrincipalType,
    ThingType,
};

use super::StorageError;

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

/// Loads the whole registry (things, types, groups, memberships, certificates, principals).
pub async fn load(pool: &SqlitePool) -> Result<Registry, StorageError> {
    let mut changes: Vec<Change> = Vec::new();
    changes.extend(docs::<ThingType>(pool, "thing_types").await?.into_iter().map(Change::PutThingType));
    changes.extend(docs::<ThingGroup>(pool, "thing_groups").await?.into_iter().map(Change::PutThingGroup));
    changes.extend(docs::<Thing>(pool, "things").await?.into_iter().map(Change::PutThing));
    let members: Vec<(String, String)> =
        sqlx::query_as("SELECT group_name, thing_name FROM thing_group_members").fetch_all(pool).await?;
    changes.extend(members.into_iter().map(|(group, thing)| Change::AddMember { group, thing }));
    changes.extend(
        docs::<CaCertificate>(pool, "ca_certificates").await?.into_iter().map(Change::PutCaCertificate),
    );
    changes.extend(docs::<Certificate>(pool, "certificates").await?.into_iter().map(Change::PutCertificate));
    let principals: Vec<(String, String, String)> =
        sqlx::query_as("SELECT thing_name, principal, kind FROM thing_principals").fetch_all(pool).await?;
    for (thing, principal, kind) in principals {
        let kind: ThingPrincipalType = decode("thing_principals", &principal, &format!("\"{kind}\""))?;
        changes.push(Change::AttachPrincipal { thing, principal, kind });
    }
    changes.extend(docs::<IotPolicy>(pool, "policies").await?.into_iter().map(Change::PutPolicy));
    let targets: Vec<(String, String)> =
        sqlx::query_as("SELECT policy, target FROM policy_targets").fetch_all(pool).await?;
    for (policy, target) in targets {
        let target: Target = decode("policy_targets", &policy, &target)?;
        changes.push(Change::AttachPolicy { policy, target });
    }
    Ok(Registry::from_changes(changes))
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
        Change::PutCertificate(c) => put(conn, "certificates", &c.facts.id, c).await,
        Change::DeleteCertificate(id) => delete(conn, "certificates", id).await,
        Change::PutCaCertificate(c) => put(conn, "ca_certificates", &c.facts.id, c).await,
        Change::DeleteCaCertificate(id) => delete(conn, "ca_certificates", id).await,
        Change::AttachPrincipal { thing, principal, kind } => {
            let kind = serde_json::to_value(kind).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            sqlx::query(
                "INSERT INTO thing_principals (thing_name, principal, kind) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(thing_name, principal) DO UPDATE SET kind = ?3",
            )
            .bind(thing)
            .bind(principal)
            .bind(kind.as_str().unwrap_or("NON_EXCLUSIVE_THING"))
            .execute(conn)
            .await
            .map(drop)
        }
        Change::PutPolicy(p) => put(conn, "policies", &p.name, p).await,
        Change::DeletePolicy(n) => delete(conn, "policies", n).await,
        Change::AttachPolicy { policy, target } => {
            let target = serde_json::to_string(target).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            sqlx::query("INSERT OR IGNORE INTO policy_targets (policy, target) VALUES (?1, ?2)")
                .bind(policy)
                .bind(target)
                .execute(conn)
                .await
                .map(drop)
        }
        Change::DetachPolicy { policy, target } => {
            let target = serde_json::to_string(target).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            sqlx::query("DELETE FROM policy_targets WHERE policy = ?1 AND target = ?2")
                .bind(policy)
                .bind(target)
                .execute(conn)
                .await
                .map(drop)
        }
        Change::DetachPrincipal { thing, principal } => {
            sqlx::query("DELETE FROM thing_principals WHERE thing_name = ?1 AND principal = ?2")
                .bind(thing)
                .bind(principal)
                .execute(conn)
                .await
                .map(drop)
        }
    }
}
