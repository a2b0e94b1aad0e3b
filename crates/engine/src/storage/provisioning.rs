//! The provisioning service's rows: templates, each with its versions, as the model's JSON.

use sqlx::{SqliteConnection, SqlitePool};
use thingbox_model::provisioning::{ProvisioningTemplate, TemplateChange};

use super::StorageError;

/// Applies a template change.
pub async fn apply(conn: &mut SqliteConnection, change: &TemplateChange) -> Result<(), sqlx::Error> {
    match change {
        TemplateChange::Put(t) => {
            let doc = serde_json::to_string(t).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            sqlx::query(
                "INSERT INTO provisioning_templates (name, doc) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET doc = ?2",
            )
            .bind(&t.name)
            .bind(doc)
            .execute(conn)
            .await
            .map(drop)
        }
        TemplateChange::Delete(name) => sqlx::query("DELETE FROM provisioning_templates WHERE name = ?1")
            .bind(name)
            .execute(conn)
            .await
            .map(drop),
    }
}

/// Loads every template.
pub async fn load(pool: &SqlitePool) -> Result<Vec<ProvisioningTemplate>, StorageError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT name, doc FROM provisioning_templates").fetch_all(pool).await?;
    rows.into_iter()
        .map(|(name, doc)| {
            serde_json::from_str(&doc).map_err(|e| StorageError::Decode {
                what: format!("provisioning_templates/{name}"),
                detail: e.to_string(),
            })
        })
        .collect()
}
