//! The retained-messages table (the router's rows): one message per topic, kept across restarts
//! as on AWS. The router converts its messages to and from [`RetainedRow`].

use bytes::Bytes;
use sqlx::{SqliteConnection, SqlitePool};

use super::StorageError;

/// MQTT 5 properties as stored (JSON in the `properties` column).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredProps {
    /// Payload format indicator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_format_indicator: Option<u8>,
    /// Message expiry interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_expiry_interval: Option<u32>,
    /// Response topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_topic: Option<String>,
    /// Correlation data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_data: Option<Vec<u8>>,
    /// User properties.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_properties: Vec<(String, String)>,
    /// Content type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// One retained message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedRow {
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Bytes,
    /// QoS it was published with.
    pub qos: u8,
    /// MQTT 5 properties.
    pub properties: StoredProps,
    /// Publisher's client id.
    pub client_id: Option<String>,
    /// Publisher, in the router's text form.
    pub principal: String,
    /// When it was published (ms since the epoch).
    pub ts_ms: i64,
}

/// Stores a retained message (replacing the topic's previous one).
pub async fn put(conn: &mut SqliteConnection, m: &RetainedRow) -> Result<(), sqlx::Error> {
    let props = serde_json::to_string(&m.properties).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO retained (topic, payload, qos, properties, client_id, principal, ts_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(topic) DO UPDATE SET payload = ?2, qos = ?3, \
         properties = ?4, client_id = ?5, principal = ?6, ts_ms = ?7",
    )
    .bind(&m.topic)
    .bind(m.payload.as_ref())
    .bind(i64::from(m.qos))
    .bind(props)
    .bind(&m.client_id)
    .bind(&m.principal)
    .bind(m.ts_ms)
    .execute(conn)
    .await
    .map(drop)
}

/// Removes the retained message of a topic.
pub async fn delete(conn: &mut SqliteConnection, topic: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM retained WHERE topic = ?1").bind(topic).execute(conn).await.map(drop)
}

type Row = (String, Vec<u8>, i64, String, Option<String>, String, i64);

/// Loads every retained message.
pub async fn load(pool: &SqlitePool) -> Result<Vec<RetainedRow>, StorageError> {
    let rows: Vec<Row> =
        sqlx::query_as("SELECT topic, payload, qos, properties, client_id, principal, ts_ms FROM retained")
            .fetch_all(pool)
            .await?;
    rows.into_iter().map(from_row).collect()
}

/// The retained message of `topic`, if one is stored.
pub async fn load_one(pool: &SqlitePool, topic: &str) -> Result<Option<RetainedRow>, StorageError> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT topic, payload, qos, properties, client_id, principal, ts_ms FROM retained WHERE topic = ?1",
    )
    .bind(topic)
    .fetch_optional(pool)
    .await?;
    row.map(from_row).transpose()
}

fn from_row(
    (topic, payload, qos, props, client_id, principal, ts_ms): Row,
) -> Result<RetainedRow, StorageError> {
    let properties = serde_json::from_str(&props)
        .map_err(|e| StorageError::Decode { what: format!("retained/{topic}"), detail: e.to_string() })?;
    Ok(RetainedRow {
        topic,
        payload: payload.into(),
        qos: qos.clamp(0, 1) as u8,
        properties,
        client_id,
        principal,
        ts_ms,
    })
}
