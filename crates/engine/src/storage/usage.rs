//! The usage table (the meter's rows): running totals per UTC day, thing and metric.

use sqlx::{Row, SqliteConnection, SqlitePool};
use thingbox_model::usage::Metric;

use super::StorageError;

/// One day's total of one metric for one thing (`thing` empty: not a thing's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Thing name, or empty.
    pub thing: String,
    /// The metric.
    pub metric: Metric,
    /// Units so far.
    pub units: u64,
}

/// Every row (a few per thing and day).
pub async fn load(pool: &SqlitePool) -> Result<Vec<UsageRow>, StorageError> {
    let rows = sqlx::query("SELECT day, thing, metric, units FROM usage").fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let metric = Metric::parse(r.get::<String, _>("metric").as_str())?;
            Some(UsageRow {
                day: r.get("day"),
                thing: r.get("thing"),
                metric,
                units: r.get::<i64, _>("units").max(0) as u64,
            })
        })
        .collect())
}

/// Writes rows' totals.
pub(super) async fn put(conn: &mut SqliteConnection, rows: &[UsageRow]) -> Result<(), sqlx::Error> {
    for r in rows {
        sqlx::query(
            "INSERT INTO usage (day, thing, metric, units) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT(day, thing, metric) DO UPDATE SET units = ?4",
        )
        .bind(&r.day)
        .bind(&r.thing)
        .bind(r.metric.as_str())
        .bind(r.units as i64)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
