//! Storage: one SQLite database in the data dir, in WAL mode, with embedded migrations, and a
//! single writer task that commits in groups.
//!
//! Services keep their state in memory for reads and describe every accepted mutation as a
//! [`Write`]. [`Writer::submit`] queues writes in the order the service decided them; the writer task
//! drains whatever is queued, applies it in one transaction (`synchronous=FULL`, so a commit is on
//! disk when it returns) and only then completes each submitter's future. Many concurrent requests
//! therefore share one fsync, and nothing is acknowledged before it is durable.
//!
//! Each service's rows have a module here ([`registry`], [`shadows`], [`retained`], [`sessions`],
//! [`rules`], [`jobs`], [`provisioning`]): the SQL
//! and the plain data it reads and writes. Storage depends on the model only; the services depend
//! on storage, never the other way.

pub mod jobs;
pub mod provisioning;
pub mod registry;
pub mod retained;
pub mod rules;
pub mod sessions;
pub mod shadows;
pub mod undo;
pub mod usage;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The database's file name inside the data dir.
pub const DB_FILE: &str = "thingbox.db";

/// Most jobs committed in one transaction.
const MAX_BATCH: usize = 512;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Why the database could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The file exists but is not a SQLite database, or is damaged.
    #[error(
        "the database {path} is not a readable Thingbox database ({detail}); move it aside to start fresh, \
         or restore it from a backup"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// SQLite's words.
        detail: String,
    },
    /// The database was written by a newer Thingbox.
    #[error(
        "the database {path} was written by a newer Thingbox (schema version {found}; this build knows up \
         to {known}); upgrade Thingbox, or use another --data-dir"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The newest migration applied to it.
        found: i64,
        /// The newest migration this build knows.
        known: i64,
    },
    /// Any other SQLite failure.
    #[error("database error: {0}")]
    Sqlite(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored record could not be decoded.
    #[error("stored record {what} is unreadable: {detail}")]
    Decode {
        /// Which record.
        what: String,
        /// Why.
        detail: String,
    },
    /// The transaction that carried this write failed.
    #[error("writing to the database failed: {0}")]
    WriteFailed(String),
    /// The writer task has stopped (the engine is shutting down).
    #[error("the storage writer has stopped")]
    WriterGone,
}

impl StorageError {
    /// What a request refused by this failure tells a person: what happened, and what to do when
    /// the cause is the disk (full, or read-only). Every API and MQTT answer uses it.
    pub fn refusal(&self) -> String {
        if matches!(self, Self::WriterGone) {
            return "Thingbox is shutting down; the request was not applied".to_owned();
        }
        let text = self.to_string();
        let hint = if text.contains("disk is full") {
            " — the disk that holds the data dir is full: free some space and send the request again \
             (nothing was changed)"
        } else if text.contains("readonly") || text.contains("read-only") {
            " — the data dir cannot be written (read-only): fix its permissions or mount and send the \
             request again (nothing was changed)"
        } else {
            ""
        };
        format!("Thingbox could not complete the request because of a storage failure: {text}{hint}")
    }
}

/// One durable mutation, applied by the writer inside a transaction.
#[derive(Debug, Clone)]
pub enum Write {
    /// A registry change.
    Registry(thingbox_model::registry::Change),
    /// Append a shadow change (trimming its history to `keep` now and then).
    Shadow {
        /// The change, with the shadow after it.
        entry: Box<thingbox_model::shadow::HistoryEntry>,
        /// History entries kept per shadow.
        keep: i64,
    },
    /// Store the retained message of a topic.
    PutRetained(retained::RetainedRow),
    /// Remove the retained message of a topic.
    DeleteRetained(String),
    /// A persistent MQTT session change.
    Session(sessions::SessionWrite),
    /// A topic rule change.
    Rule(thingbox_model::rules::RuleChange),
    /// A change to a local table (dynamoDB actions).
    Table(rules::TableWrite),
    /// A jobs change.
    Job(thingbox_model::jobs::JobChange),
    /// A provisioning template change.
    Template(thingbox_model::provisioning::TemplateChange),
    /// Metered usage totals.
    Usage(Vec<usage::UsageRow>),
    /// Set a key in the settings table.
    Setting {
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
}

impl Write {
    async fn apply(&self, conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        match self {
            Write::Registry(change) => registry::apply(conn, change).await,
            Write::Shadow { entry, keep } => shadows::put(conn, entry, *keep).await,
            Write::PutRetained(m) => retained::put(conn, m).await,
            Write::DeleteRetained(topic) => retained::delete(conn, topic).await,
            Write::Session(w) => sessions::apply(conn, w).await,
            Write::Rule(change) => rules::apply(conn, change).await,
            Write::Table(w) => rules::apply_table(conn, w).await,
            Write::Job(change) => jobs::apply(conn, change).await,
            Write::Template(change) => provisioning::apply(conn, change).await,
            Write::Usage(rows) => usage::put(conn, rows).await,
            Write::Setting { key, value } => sqlx::query(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
            )
            .bind(key)
            .bind(value)
            .execute(conn)
            .await
            .map(drop),
        }
    }
}

struct Job {
    writes: Vec<Write>,
    done: oneshot::Sender<Result<(), String>>,
}

/// The open database: a read pool and the writer's queue.
#[derive(Debug, Clone)]
pub struct Db {
    pool: SqlitePool,
    writer: Writer,
}

/// The handle services use to submit writes.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: mpsc::UnboundedSender<Job>,
}

/// A queued write that completes when it is durable.
#[derive(Debug)]
pub struct Pending(Option<oneshot::Receiver<Result<(), String>>>);

impl Pending {
    /// A pending write that is already complete (nothing to write).
    pub fn done() -> Self {
        Self(None)
    }

    /// Waits until the writes are committed.
    pub async fn wait(self) -> Result<(), StorageError> {
        match self.0 {
            None => Ok(()),
            Some(rx) => match rx.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(detail)) => Err(StorageError::WriteFailed(detail)),
                Err(_) => Err(StorageError::WriterGone),
            },
        }
    }
}

impl Writer {
    /// Queues `writes` (in order, after everything queued before) and returns a future that
    /// completes once they are committed. Call it while still holding the lock under which the
    /// writes were decided, so the queue order is the decision order.
    pub fn submit(&self, writes: Vec<Write>) -> Pending {
        if writes.is_empty() {
            return Pending::done();
        }
        let (done, rx) = oneshot::channel();
        if self.tx.send(Job { writes, done }).is_err() {
            // The receiver is gone: `wait` reports WriterGone through the dropped sender.
        }
        Pending(Some(rx))
    }
}

/// A SQLite error, as a damaged file when SQLite says so.
pub(crate) fn classify(path: &Path, e: sqlx::Error) -> StorageError {
    if let sqlx::Error::Database(db) = &e {
        let msg = db.message().to_owned();
        if msg.contains("not a database") || msg.contains("malformed") || msg.contains("corrupt") {
            return StorageError::Corrupt { path: path.to_owned(), detail: msg };
        }
    }
    StorageError::Sqlite(e)
}

impl Db {
    /// Opens (creating if needed) the database in `data_dir`, migrates it, and starts the writer.
    /// Returns the database and the writer task, which ends once every [`Writer`] is dropped and
    /// the queue is drained.
    pub async fn open(data_dir: &Path) -> Result<(Self, JoinHandle<()>), StorageError> {
        let path = data_dir.join(DB_FILE);
        let opts = SqliteConnectOptions::from_str("sqlite://")
            .map_err(StorageError::Sqlite)?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let mut writer_conn = SqliteConnection::connect_with(&opts).await.map_err(|e| classify(&path, e))?;
        // Reads everything once: a damaged file fails here, before anything is written to it.
        let check: (String,) = sqlx::query_as("PRAGMA quick_check")
            .fetch_one(&mut writer_conn)
            .await
            .map_err(|e| classify(&path, e))?;
        if check.0 != "ok" {
            return Err(StorageError::Corrupt { path, detail: check.0 });
        }
        migrate(&MIGRATOR, &path, &mut writer_conn).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.clone().read_only(true))
            .await
            .map_err(|e| classify(&path, e))?;
        let (tx, rx) = mpsc::unbounded_channel();
        // Reopening after a failure must find this database, never create an empty one.
        let task = tokio::spawn(run_writer(writer_conn, opts.create_if_missing(false), rx));
        Ok((Self { pool, writer: Writer { tx } }, task))
    }

    /// The read pool (used at start-up to load state into memory).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The writer handle.
    pub fn writer(&self) -> Writer {
        self.writer.clone()
    }

    /// Reads one setting.
    pub async fn setting(&self, key: &str) -> Result<Option<String>, StorageError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE key = ?1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.0))
    }

    /// Closes the read pool (the writer closes its own connection when it stops).
    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// Runs `migrator` on the database at `path`: a database from a newer Thingbox is refused by name.
pub(crate) async fn migrate(
    migrator: &sqlx::migrate::Migrator,
    path: &Path,
    conn: &mut SqliteConnection,
) -> Result<(), StorageError> {
    let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    match migrator.run(conn).await {
        Ok(()) => Ok(()),
        Err(sqlx::migrate::MigrateError::VersionMissing(found)) => {
            Err(StorageError::TooNew { path: path.to_owned(), found, known })
        }
        Err(sqlx::migrate::MigrateError::Execute(e)) => Err(classify(path, e)),
        Err(e) => Err(e.into()),
    }
}

async fn run_writer(
    mut conn: SqliteConnection,
    opts: SqliteConnectOptions,
    mut rx: mpsc::UnboundedReceiver<Job>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        match commit(&mut conn, batch.iter().flat_map(|j| &j.writes)).await {
            Ok(()) => {
                for job in batch.drain(..) {
                    let _ = job.done.send(Ok(()));
                }
            }
            Err(e) => {
                // Retry one by one so a single bad write fails alone.
                tracing::warn!(error = %e, jobs = batch.len(), "group commit failed; retrying writes one by one");
                conn = reopen(conn, &opts).await;
                for job in batch.drain(..) {
                    let result = commit(&mut conn, job.writes.iter()).await.map_err(|e| e.to_string());
                    if let Err(e) = &result {
                        tracing::error!(error = %e, "write failed");
                        conn = reopen(conn, &opts).await;
                    }
                    let _ = job.done.send(result);
                }
            }
        }
    }
    let _ = conn.close().await;
}

/// The writer's connection after a failed transaction: a new one. When SQLite cannot COMMIT (a
/// full disk: `SQLITE_FULL`) it keeps the transaction open, and sqlx would nest the next
/// transaction in it as a savepoint — every later "commit" would only release a savepoint and
/// acknowledged writes would never reach the disk. Closing the connection rolls the open
/// transaction back; the new one starts clean. Retries until SQLite opens the file again.
async fn reopen(conn: SqliteConnection, opts: &SqliteConnectOptions) -> SqliteConnection {
    let _ = conn.close().await;
    let mut delay = Duration::from_millis(50);
    loop {
        match SqliteConnection::connect_with(opts).await {
            Ok(c) => return c,
            Err(e) => {
                tracing::error!(error = %e, "cannot reopen the database for writing; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}

async fn commit<'a>(
    conn: &mut SqliteConnection,
    writes: impl Iterator<Item = &'a Write>,
) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    // Consecutive shadow changes (the busiest writes) go in as one multi-row INSERT.
    let mut shadows: Vec<(&thingbox_model::shadow::HistoryEntry, i64)> = Vec::new();
    for w in writes {
        if let Write::Shadow { entry, keep } = w {
            shadows.push((entry, *keep));
            continue;
        }
        shadows::put_many(&mut tx, &shadows).await?;
        shadows.clear();
        w.apply(&mut tx).await?;
    }
    shadows::put_many(&mut tx, &shadows).await?;
    tx.commit().await
}

#[cfg(test)]
mod tests;
