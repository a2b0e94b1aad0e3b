//! Opening, refusing damaged or newer databases, and group commit.

use super::*;
use thingbox_model::Timestamp;
use thingbox_model::registry::{Change, Thing};

fn thing(name: &str) -> Write {
    Write::Registry(Change::PutThing(Thing {
        name: name.into(),
        id: format!("id-{name}"),
        type_name: None,
        attributes: Default::default(),
        version: 1,
        billing_group: None,
        created: Timestamp::from_millis(0),
    }))
}

async fn close(db: Db, task: JoinHandle<()>) {
    let pool = db.pool().clone();
    drop(db);
    task.await.unwrap();
    pool.close().await;
}

#[tokio::test]
async fn concurrent_writes_commit_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (db, task) = Db::open(dir.path()).await.unwrap();
    let waits: Vec<_> = (0..200).map(|i| db.writer().submit(vec![thing(&format!("t{i:03}"))])).collect();
    for w in waits {
        w.wait().await.unwrap();
    }
    close(db, task).await;

    let (db, task) = Db::open(dir.path()).await.unwrap();
    let reg = crate::storage::registry::load(db.pool()).await.unwrap();
    assert_eq!(reg.thing_count(), 200);
    let mode: (String,) = sqlx::query_as("PRAGMA journal_mode").fetch_one(db.pool()).await.unwrap();
    assert_eq!(mode.0, "wal");
    close(db, task).await;
}

#[tokio::test]
async fn a_damaged_file_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let junk = b"this is not a database, it is a shopping list: milk, eggs, bread".repeat(100);
    std::fs::write(&path, &junk).unwrap();
    let err = Db::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, StorageError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("move it aside"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), junk);
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (db, task) = Db::open(dir.path()).await.unwrap();
    close(db, task).await;
    {
        let mut conn = SqliteConnection::connect(&format!("sqlite://{}", dir.path().join(DB_FILE).display()))
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', 1, x'00', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    }
    let err = Db::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, StorageError::TooNew { found: 9999, .. }), "{err:?}");
    assert!(err.to_string().contains("newer Thingbox"), "{err}");
}

#[tokio::test]
async fn settings_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (db, task) = Db::open(dir.path()).await.unwrap();
    assert_eq!(db.setting("k").await.unwrap(), None);
    db.writer().submit(vec![Write::Setting { key: "k".into(), value: "v".into() }]).wait().await.unwrap();
    assert_eq!(db.setting("k").await.unwrap().as_deref(), Some("v"));
    close(db, task).await;
}
