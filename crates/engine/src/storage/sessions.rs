//! The persistent-sessions tables (the router's rows): each persistent MQTT session's expiry,
//! subscriptions and lifecycle version, and the QoS 1 messages queued for it, so that a session
//! outlives a restart of Thingbox as it outlives a restart of an AWS endpoint.

use std::collections::BTreeMap;

use sqlx::{SqliteConnection, SqlitePool};

use super::StorageError;
use super::retained::RetainedRow;

/// One subscription of a stored session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredSub {
    /// Topic filter.
    pub filter: String,
    /// Granted QoS.
    pub qos: u8,
    /// MQTT 5 no-local.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_local: bool,
    /// MQTT 5 retain-as-published.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retain_as_published: bool,
}

/// A persistent session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// Client id.
    pub client_id: String,
    /// Seconds it survives without a connection.
    pub expiry_secs: u64,
    /// When its last connection went away (ms since the epoch); `None` while connected.
    pub disconnected_at_ms: Option<i64>,
    /// Lifecycle `versionNumber` of its last connection.
    pub version: u64,
    /// Its subscriptions.
    pub subscriptions: Vec<StoredSub>,
}

/// A delivery waiting for a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRow {
    /// The message (the `qos` in it is the publish's).
    pub message: RetainedRow,
    /// Delivery QoS.
    pub qos: u8,
    /// RETAIN flag on delivery.
    pub retain: bool,
    /// Sent once already (DUP on redelivery).
    pub dup: bool,
}

/// A change to the stored sessions.
#[derive(Debug, Clone)]
pub enum SessionWrite {
    /// Store (or replace) a session's row; its queue is left as it is.
    Put(SessionRow),
    /// Replace a session's queued messages.
    SetQueue {
        /// Client id.
        client_id: String,
        /// The queue, in delivery order.
        rows: Vec<QueuedRow>,
    },
    /// Append a message to a session's queue.
    Enqueue {
        /// Client id.
        client_id: String,
        /// The message.
        row: QueuedRow,
    },
    /// Forget a session and its queue.
    Delete(String),
}

/// Applies one change.
pub async fn apply(conn: &mut SqliteConnection, w: &SessionWrite) -> Result<(), sqlx::Error> {
    match w {
        SessionWrite::Put(row) => {
            let subs =
                serde_json::to_string(&row.subscriptions).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            sqlx::query(
                "INSERT INTO sessions (client_id, expiry_secs, disconnected_at_ms, version, subscriptions) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(client_id) DO UPDATE SET expiry_secs = ?2, \
                 disconnected_at_ms = ?3, version = ?4, subscriptions = ?5",
            )
            .bind(&row.client_id)
            .bind(row.expiry_secs as i64)
            .bind(row.disconnected_at_ms)
            .bind(row.version as i64)
            .bind(subs)
            .execute(conn)
            .await
            .map(drop)
        }
        SessionWrite::SetQueue { client_id, rows } => {
            sqlx::query("DELETE FROM session_queue WHERE client_id = ?1")
                .bind(client_id)
                .execute(&mut *conn)
                .await?;
            for row in rows {
                enqueue(conn, client_id, row).await?;
            }
            Ok(())
        }
        SessionWrite::Enqueue { client_id, row } => enqueue(conn, client_id, row).await,
        SessionWrite::Delete(client_id) => {
            sqlx::query("DELETE FROM session_queue WHERE client_id = ?1")
                .bind(client_id)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM sessions WHERE client_id = ?1")
                .bind(client_id)
                .execute(conn)
                .await
                .map(drop)
        }
    }
}

async fn enqueue(conn: &mut SqliteConnection, client_id: &str, row: &QueuedRow) -> Result<(), sqlx::Error> {
    let m = &row.message;
    let props = serde_json::to_string(&m.properties).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO session_queue (client_id, topic, payload, qos, retain, dup, properties, publisher, \
         principal, ts_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .bind(client_id)
    .bind(&m.topic)
    .bind(m.payload.as_ref())
    .bind(i64::from(row.qos))
    .bind(row.retain)
    .bind(row.dup)
    .bind(props)
    .bind(&m.client_id)
    .bind(&m.principal)
    .bind(m.ts_ms)
    .execute(conn)
    .await
    .map(drop)
}

type QueueRow = (String, String, Vec<u8>, i64, bool, bool, String, Option<String>, String, i64);

/// Loads every stored session with its queue.
pub async fn load(pool: &SqlitePool) -> Result<Vec<(SessionRow, Vec<QueuedRow>)>, StorageError> {
    let sessions: Vec<(String, i64, Option<i64>, i64, String)> = sqlx::query_as(
        "SELECT client_id, expiry_secs, disconnected_at_ms, version, subscriptions FROM sessions",
    )
    .fetch_all(pool)
    .await?;
    let queued: Vec<QueueRow> = sqlx::query_as(
        "SELECT client_id, topic, payload, qos, retain, dup, properties, publisher, principal, ts_ms \
         FROM session_queue ORDER BY seq",
    )
    .fetch_all(pool)
    .await?;
    let mut queues: BTreeMap<String, Vec<QueuedRow>> = BTreeMap::new();
    for (client_id, topic, payload, qos, retain, dup, props, publisher, principal, ts_ms) in queued {
        let properties = serde_json::from_str(&props).map_err(|e| StorageError::Decode {
            what: format!("session_queue/{client_id}"),
            detail: e.to_string(),
        })?;
        let qos = qos.clamp(0, 1) as u8;
        let message = RetainedRow {
            topic,
            payload: payload.into(),
            qos,
            properties,
            client_id: publisher,
            principal,
            ts_ms,
        };
        queues.entry(client_id).or_default().push(QueuedRow { message, qos, retain, dup });
    }
    sessions
        .into_iter()
        .map(|(client_id, expiry, disconnected_at_ms, version, subs)| {
            let subscriptions = serde_json::from_str(&subs).map_err(|e| StorageError::Decode {
                what: format!("sessions/{client_id}"),
                detail: e.to_string(),
            })?;
            let queue = queues.remove(&client_id).unwrap_or_default();
            let row = SessionRow {
                client_id,
                expiry_secs: expiry.max(0) as u64,
                disconnected_at_ms,
                version: version.max(0) as u64,
                subscriptions,
            };
            Ok((row, queue))
        })
        .collect()
}
