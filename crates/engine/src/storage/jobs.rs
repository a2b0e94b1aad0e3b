//! The jobs service's rows: jobs, job executions (one row per attempt) and job templates, each the
//! model's JSON.

use serde::de::DeserializeOwned;
use sqlx::{SqliteConnection, SqlitePool};
use thingbox_model::jobs::{Execution, Job, JobChange, JobTemplate};

use super::StorageError;

fn json<T: serde::Serialize>(v: &T) -> Result<String, sqlx::Error> {
    serde_json::to_string(v).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

/// Applies a jobs change.
pub async fn apply(conn: &mut SqliteConnection, change: &JobChange) -> Result<(), sqlx::Error> {
    match change {
        JobChange::PutJob(job) => {
            sqlx::query("INSERT INTO jobs (id, doc) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET doc = ?2")
                .bind(&job.id)
                .bind(json(job)?)
                .execute(conn)
                .await
                .map(drop)
        }
        JobChange::DeleteJob(id) => {
            sqlx::query("DELETE FROM job_executions WHERE job_id = ?1").bind(id).execute(&mut *conn).await?;
            sqlx::query("DELETE FROM jobs WHERE id = ?1").bind(id).execute(conn).await.map(drop)
        }
        JobChange::PutExecution(e) => sqlx::query(
            "INSERT INTO job_executions (job_id, thing, number, doc) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT(job_id, thing, number) DO UPDATE SET doc = ?4",
        )
        .bind(&e.job_id)
        .bind(&e.thing)
        .bind(e.number)
        .bind(json(e)?)
        .execute(conn)
        .await
        .map(drop),
        JobChange::DeleteExecution { job, thing, number } => {
            sqlx::query("DELETE FROM job_executions WHERE job_id = ?1 AND thing = ?2 AND number = ?3")
                .bind(job)
                .bind(thing)
                .bind(number)
                .execute(conn)
                .await
                .map(drop)
        }
        JobChange::PutTemplate(t) => sqlx::query(
            "INSERT INTO job_templates (id, doc) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET doc = ?2",
        )
        .bind(&t.id)
        .bind(json(t)?)
        .execute(conn)
        .await
        .map(drop),
        JobChange::DeleteTemplate(id) => {
            sqlx::query("DELETE FROM job_templates WHERE id = ?1").bind(id).execute(conn).await.map(drop)
        }
    }
}

async fn load_docs<T: DeserializeOwned>(
    pool: &SqlitePool,
    sql: &str,
    table: &str,
) -> Result<Vec<T>, StorageError> {
    let rows: Vec<(String, String)> = sqlx::query_as(sql).fetch_all(pool).await?;
    rows.into_iter()
        .map(|(key, doc)| {
            serde_json::from_str(&doc)
                .map_err(|e| StorageError::Decode { what: format!("{table}/{key}"), detail: e.to_string() })
        })
        .collect()
}

/// Everything stored: jobs, executions, templates.
pub async fn load(pool: &SqlitePool) -> Result<(Vec<Job>, Vec<Execution>, Vec<JobTemplate>), StorageError> {
    let jobs = load_docs(pool, "SELECT id, doc FROM jobs", "jobs").await?;
    let execs = load_docs(
        pool,
        "SELECT job_id || '/' || thing || '/' || number, doc FROM job_executions",
        "job_executions",
    )
    .await?;
    let templates = load_docs(pool, "SELECT id, doc FROM job_templates", "job_templates").await?;
    Ok((jobs, execs, templates))
}
