//! The retained-messages table.

use sqlx::{SqliteConnection, SqlitePool};

use super::message::{Message, Principal, Properties};
use crate::storage::StorageError;

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct StoredProps {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payload_format_indicator: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_expiry_interval: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response_topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    correlation_data: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    user_properties: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
}

fn principal_text(p: &Principal) -> String {
    match p {
        Principal::Certificate(id) => format!("cert:{id}"),
        Principal::Plain(n) => format!("plain:{n}"),
        Principal::Service(n) => format!("service:{n}"),
        Principal::Http => "http".into(),
        Principal::Iam(k) => format!("iam:{k}"),
    }
}

fn principal_from(text: &str) -> Principal {
    match text.split_once(':') {
        Some(("cert", id)) => Principal::Certificate(id.into()),
        Some(("plain", n)) => Principal::Plain(n.into()),
        Some(("iam", k)) => Principal::Iam(k.into()),
        _ => Principal::Http,
    }
}

/// Stores a retained message (replacing the topic's previous one).
pub async fn put_retained(conn: &mut SqliteConnection, m: &Message) -> Result<(), sqlx::Error> {
    let p = &m.properties;
    let props = StoredProps {
        payload_format_indicator: p.payload_format_indicator,
        message_expiry_interval: p.message_expiry_interval,
        response_topic: p.response_topic.clone(),
        correlation_data: p.correlation_data.as_ref().map(|b| b.to_vec()),
        user_properties: p.user_properties.clone(),
        content_type: p.content_type.clone(),
    };
    let props = serde_json::to_string(&props).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
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
    .bind(principal_text(&m.principal))
    .bind(m.timestamp_ms)
    .execute(conn)
    .await
    .map(drop)
}

type Row = (String, Vec<u8>, i64, String, Option<String>, String, i64);

/// Loads every retained message.
pub async fn load_retained(pool: &SqlitePool) -> Result<Vec<Message>, StorageError> {
    let rows: Vec<Row> =
        sqlx::query_as("SELECT topic, payload, qos, properties, client_id, principal, ts_ms FROM retained")
            .fetch_all(pool)
            .await?;
    rows.into_iter()
        .map(|(topic, payload, qos, props, client_id, principal, ts)| {
            let p: StoredProps = serde_json::from_str(&props).map_err(|e| StorageError::Decode {
                what: format!("retained/{topic}"),
                detail: e.to_string(),
            })?;
            Ok(Message {
                topic,
                payload: payload.into(),
                qos: qos.clamp(0, 1) as u8,
                retain: true,
                properties: Properties {
                    payload_format_indicator: p.payload_format_indicator,
                    message_expiry_interval: p.message_expiry_interval,
                    response_topic: p.response_topic,
                    correlation_data: p.correlation_data.map(Into::into),
                    user_properties: p.user_properties,
                    content_type: p.content_type,
                },
                client_id,
                principal: principal_from(&principal),
                timestamp_ms: ts,
            })
        })
        .collect()
}
