//! The message history: the newest routed messages in SQLite (`history.db` in the data dir), a
//! ring bounded by count and by bytes, searchable by topic filter, time range and payload text.
//!
//! The history is a convenience, not a record the engine promised anyone: it lives in its own
//! file with `synchronous=NORMAL`, so its writes never wait behind (or slow) the durable registry
//! writer, and a damaged file is moved aside at start-up instead of stopping the engine. The ring's
//! index (id, size per message) is kept in memory so trimming never has to scan the table.

use std::collections::VecDeque;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::TryStreamExt;
use parking_lot::Mutex;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};
use thingbox_api::viewer::{HistoryPage, HistoryStats, MessageProperties, TopicStat, ViewedMessage};
use tokio::sync::mpsc;

use super::Captured;
use crate::storage::StorageError;

/// The history's file name inside the data dir.
pub const HISTORY_FILE: &str = "history.db";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations-history");

/// Rows per INSERT statement (9 parameters each, well under SQLite's limit).
const ROWS_PER_INSERT: usize = 100;
/// Most rows one query reads before it gives up filling a page.
const MAX_SCAN: usize = 1_000_000;
/// Most topics `topics` reports.
const MAX_TOPICS: usize = 5_000;

/// The name prefix of the history writer's SQLite thread (at most 15 bytes show in `comm`).
const WRITER_THREAD: &str = "tb-history-";

/// Makes the threads whose names start with `prefix` background threads (Linux: nice 19), so
/// that when the cores are busy the scheduler serves device traffic first: the history is
/// expendable (it samples and drops under load), a delivery's latency is not. Elsewhere (and if
/// it fails) the threads keep the normal priority.
fn background_priority(prefix: &str) {
    #[cfg(target_os = "linux")]
    {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return };
        for task in tasks.flatten() {
            let named =
                std::fs::read_to_string(task.path().join("comm")).is_ok_and(|c| c.starts_with(prefix));
            let tid = task.file_name().to_str().and_then(|t| t.parse::<i32>().ok());
            if let (true, Some(pid)) = (named, tid.and_then(rustix::process::Pid::from_raw)) {
                lower_priority(pid);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = prefix;
}

/// Nice 19 for one thread (on Linux a thread id given to setpriority names that one thread).
#[cfg(target_os = "linux")]
fn lower_priority(tid: rustix::process::Pid) {
    lower_priority_to(tid, 19);
}

/// Sets one thread's nice value (a background thread: device traffic first).
#[cfg(target_os = "linux")]
pub(crate) fn lower_priority_to(tid: rustix::process::Pid, nice: i32) {
    if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
        tracing::debug!(error = %e, "could not lower a history thread's priority");
    }
}

/// Makes the calling thread an idle-priority thread (Linux: `SCHED_IDLE`, else nice 19): it runs
/// only on a core nothing else wants, and any other thread that wakes up takes its core at once.
/// Nice 19 alone is not enough for the rules engine: the scheduler lets a nice-19 thread finish
/// its slice before a woken device-traffic thread gets the core, and with ten republish rules
/// that cost the 1→1 QoS 1 rate up to half (docs/benchmarks.md, "Rules").
#[cfg(target_os = "linux")]
pub(crate) fn idle_priority_here() {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id,
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(e) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle) {
        tracing::debug!(error = ?e, "no SCHED_IDLE for a background thread; nice 19 instead");
        lower_priority_to(rustix::thread::gettid(), 19);
    }
}

/// How much history to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryConfig {
    /// Most messages (0 turns the history off).
    pub max_messages: u64,
    /// Most topic + payload bytes.
    pub max_bytes: u64,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self { max_messages: 100_000, max_bytes: 256 * 1024 * 1024 }
    }
}

/// What the history holds, in id order: (id, timestamp, topic + payload bytes).
#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<(u64, i64, u64)>,
    bytes: u64,
}

/// A history query.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Topic filters (any may match; none = every topic, `$` topics included).
    pub filters: Vec<String>,
    /// Oldest timestamp (ms, inclusive).
    pub from: Option<i64>,
    /// Newest timestamp (ms, inclusive).
    pub to: Option<i64>,
    /// Text the payload contains (ASCII case-insensitive).
    pub text: Option<String>,
    /// Only messages older than this id (paging).
    pub before: Option<u64>,
    /// Page size.
    pub limit: usize,
}

/// The history.
#[derive(Debug)]
pub struct History {
    config: HistoryConfig,
    pool: SqlitePool,
    ring: Mutex<Ring>,
    /// Batches the writer could not take (their messages were never stored).
    pub dropped: AtomicU64,
}

/// The history's single writer; [`HistoryWriter::run`] ends when the tap's consumer hangs up.
#[derive(Debug)]
pub struct HistoryWriter {
    conn: SqliteConnection,
    history: Arc<History>,
}

type Row = (i64, i64, String, Vec<u8>, i64, bool, Option<String>, String, Option<String>);

const COLUMNS: &str = "id, ts_ms, topic, payload, qos, retain, client_id, principal, properties";

fn viewed(row: Row) -> ViewedMessage {
    let (id, ts, topic, payload, qos, retain, client_id, principal, props) = row;
    let properties: MessageProperties = props.and_then(|p| serde_json::from_str(&p).ok()).unwrap_or_default();
    let size = payload.len();
    let (payload, payload_base64) = super::payload_fields(&payload, usize::MAX);
    ViewedMessage {
        id: id as u64,
        timestamp: ts,
        topic,
        qos: qos.clamp(0, 1) as u8,
        retain,
        client_id,
        principal,
        size,
        payload,
        payload_base64,
        truncated: false,
        properties,
        trace: None,
    }
}

/// A GLOB pattern matching every topic `filter` matches (and maybe more: `+` becomes `*`); the
/// exact test runs afterwards.
fn glob_of(filter: &str) -> String {
    let mut out = String::with_capacity(filter.len() + 2);
    let body = filter.strip_suffix("/#").or_else(|| (filter == "#").then_some(""));
    let literal = body.unwrap_or(filter);
    for c in literal.chars() {
        match c {
            '+' => out.push('*'),
            '*' => out.push_str("[*]"),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            c => out.push(c),
        }
    }
    if body.is_some() {
        out.push('*');
    }
    out
}

/// Whether `topic` is selected by `filters` (none = all).
fn selected(filters: &[String], topic: &str) -> bool {
    filters.is_empty() || filters.iter().any(|f| thingbox_model::topic::matches(f, topic))
}

impl History {
    /// Opens (creating, or replacing a damaged file) the history in `dir`.
    pub async fn open(dir: &Path, config: HistoryConfig) -> Result<(Arc<Self>, HistoryWriter), StorageError> {
        let path = dir.join(HISTORY_FILE);
        match Self::open_file(&path, config).await {
            Err(StorageError::Corrupt { detail, .. }) => {
                let aside = path.with_extension(format!("db.damaged-{}", crate::broker::now_ms()));
                tracing::warn!(file = %path.display(), %detail, aside = %aside.display(),
                    "the message history is damaged; moved aside, starting an empty one");
                std::fs::rename(&path, &aside).map_err(|e| StorageError::Sqlite(sqlx::Error::Io(e)))?;
                for ext in ["db-wal", "db-shm"] {
                    let _ = std::fs::remove_file(path.with_extension(ext));
                }
                Self::open_file(&path, config).await
            }
            other => other,
        }
    }

    async fn open_file(
        path: &Path,
        config: HistoryConfig,
    ) -> Result<(Arc<Self>, HistoryWriter), StorageError> {
        let corrupt = |e| crate::storage::classify(path, e);
        let opts = SqliteConnectOptions::from_str("sqlite://")
            .map_err(StorageError::Sqlite)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        // The writer's SQLite thread is named so that it can be made a background thread below.
        let writer_opts = opts.clone().thread_name(|n| format!("{WRITER_THREAD}{n}"));
        let mut conn = SqliteConnection::connect_with(&writer_opts).await.map_err(corrupt)?;
        background_priority(WRITER_THREAD);
        let check: (String,) =
            sqlx::query_as("PRAGMA quick_check").fetch_one(&mut conn).await.map_err(corrupt)?;
        if check.0 != "ok" {
            return Err(StorageError::Corrupt { path: path.to_owned(), detail: check.0 });
        }
        crate::storage::migrate(&MIGRATOR, path, &mut conn).await?;
        let rows: Vec<(i64, i64, i64)> =
            sqlx::query_as("SELECT id, ts_ms, length(topic) + length(payload) FROM messages ORDER BY id")
                .fetch_all(&mut conn)
                .await?;
        let mut ring = Ring::default();
        for (id, ts, size) in rows {
            ring.bytes += size as u64;
            ring.entries.push_back((id as u64, ts, size as u64));
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts.read_only(true))
            .await
            .map_err(corrupt)?;
        let history = Arc::new(Self { config, pool, ring: Mutex::new(ring), dropped: AtomicU64::new(0) });
        let mut writer = HistoryWriter { conn, history: history.clone() };
        writer.trim().await?; // the limits may have shrunk since the last run
        Ok((history, writer))
    }

    /// Whether messages are kept at all.
    pub fn enabled(&self) -> bool {
        self.config.max_messages > 0
    }

    /// The id after the newest kept message (the tap continues from there).
    pub fn next_id(&self) -> u64 {
        self.ring.lock().entries.back().map_or(1, |e| e.0 + 1)
    }

    /// Counts and limits.
    pub fn stats(&self, tap_dropped: u64) -> HistoryStats {
        let ring = self.ring.lock();
        HistoryStats {
            messages: ring.entries.len() as u64,
            bytes: ring.bytes,
            max_messages: self.config.max_messages,
            max_bytes: self.config.max_bytes,
            oldest: ring.entries.front().map(|e| e.1),
            dropped: tap_dropped + self.dropped.load(Ordering::Relaxed),
        }
    }

    /// One page of matching messages, newest first.
    pub async fn page(&self, q: &Query) -> Result<HistoryPage, StorageError> {
        let mut sql = QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM messages WHERE id < "));
        sql.push_bind(q.before.map_or(i64::MAX, |b| b as i64));
        if let Some(from) = q.from {
            sql.push(" AND ts_ms >= ").push_bind(from);
        }
        if let Some(to) = q.to {
            sql.push(" AND ts_ms <= ").push_bind(to);
        }
        if !q.filters.is_empty() {
            sql.push(" AND (");
            for (i, f) in q.filters.iter().enumerate() {
                if i > 0 {
                    sql.push(" OR ");
                }
                sql.push("topic GLOB ").push_bind(glob_of(f));
            }
            sql.push(")");
        }
        if let Some(text) = q.text.as_deref().filter(|t| !t.is_empty()) {
            sql.push(" AND instr(lower(CAST(payload AS TEXT)), ")
                .push_bind(text.to_ascii_lowercase())
                .push(") > 0");
        }
        sql.push(" ORDER BY id DESC");
        let mut rows = sql.build_query_as::<Row>().fetch(&self.pool);
        let mut out = HistoryPage::default();
        let mut scanned = 0;
        while let Some(row) = rows.try_next().await? {
            scanned += 1;
            let id = row.0 as u64;
            if selected(&q.filters, &row.2) {
                if out.messages.len() == q.limit {
                    out.next_before = out.messages.last().map(|m| m.id);
                    break;
                }
                out.messages.push(viewed(row));
            }
            if scanned >= MAX_SCAN {
                // Enough for one request: the next page continues where this scan stopped.
                out.next_before = Some(id);
                break;
            }
        }
        Ok(out)
    }

    /// One message, whole.
    pub async fn get(&self, id: u64) -> Result<Option<ViewedMessage>, StorageError> {
        let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM messages WHERE id = ?1"))
            .bind(id as i64)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(viewed))
    }

    /// Every topic kept (matching `filters`), with its count and newest message.
    pub async fn topics(&self, filters: &[String]) -> Result<Vec<TopicStat>, StorageError> {
        let groups: Vec<(String, i64, i64)> =
            sqlx::query_as("SELECT topic, count(*), max(id) FROM messages GROUP BY topic")
                .fetch_all(&self.pool)
                .await?;
        let groups: Vec<_> =
            groups.into_iter().filter(|g| selected(filters, &g.0)).take(MAX_TOPICS).collect();
        let mut out = Vec::with_capacity(groups.len());
        for chunk in groups.chunks(500) {
            let mut sql =
                QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM messages WHERE id IN ("));
            let mut ids = sql.separated(", ");
            for g in chunk {
                ids.push_bind(g.2);
            }
            sql.push(")");
            let rows: Vec<Row> = sql.build_query_as().fetch_all(&self.pool).await?;
            for (row, g) in rows.into_iter().zip(chunk) {
                out.push(TopicStat { topic: g.0.clone(), count: g.1 as u64, last: viewed(row) });
            }
        }
        out.sort_by(|a, b| a.topic.cmp(&b.topic));
        Ok(out)
    }

    /// Closes the read connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl HistoryWriter {
    /// Runs [`Self::run`] on a thread of its own (a background thread, see
    /// [`background_priority`]) with its own single-threaded runtime: building the rows of a
    /// 1,000-message insert takes a while, and that time must not be taken from the runtime that
    /// moves device traffic. Resolves when the writer has stored everything and stopped.
    pub async fn run_in_background(self, rx: mpsc::Receiver<Vec<Captured>>) {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let spawned = std::thread::Builder::new().name("tb-history".into()).spawn(move || {
            #[cfg(target_os = "linux")]
            lower_priority(rustix::thread::gettid());
            match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt.block_on(self.run(rx)),
                Err(e) => tracing::error!(error = %e, "message history: no runtime for the writer"),
            }
            let _ = done_tx.send(());
        });
        match spawned {
            Ok(_) => drop(done_rx.await),
            Err(e) => tracing::error!(error = %e, "message history: the writer thread did not start"),
        }
    }

    /// Stores the batches the tap's consumer sends until it hangs up.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Vec<Captured>>) {
        while let Some(batch) = rx.recv().await {
            if let Err(e) = self.insert(&batch).await {
                tracing::warn!(error = %e, messages = batch.len(), "message history: a batch was not stored");
                self.history.dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        }
        let _ = self.conn.close().await;
    }

    async fn insert(&mut self, batch: &[Captured]) -> Result<(), StorageError> {
        let mut tx = self.conn.begin().await?;
        for chunk in batch.chunks(ROWS_PER_INSERT) {
            let mut sql =
                QueryBuilder::<Sqlite>::new(format!("INSERT OR REPLACE INTO messages ({COLUMNS}) "));
            sql.push_values(chunk, |mut b, (id, m)| {
                let props = super::properties_of(&m.properties);
                b.push_bind(*id as i64)
                    .push_bind(m.timestamp_ms)
                    .push_bind(m.topic.as_str())
                    .push_bind(m.payload.as_ref())
                    .push_bind(i64::from(m.qos))
                    .push_bind(m.retain)
                    .push_bind(m.client_id.as_deref())
                    .push_bind(m.principal.identifier())
                    .push_bind(
                        (!props.is_empty()).then(|| serde_json::to_string(&props).unwrap_or_default()),
                    );
            });
            sql.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        {
            let mut ring = self.history.ring.lock();
            for (id, m) in batch {
                let size = (m.topic.len() + m.payload.len()) as u64;
                ring.bytes += size;
                ring.entries.push_back((*id, m.timestamp_ms, size));
            }
        }
        self.trim().await
    }

    /// Deletes the oldest messages past either limit.
    async fn trim(&mut self) -> Result<(), StorageError> {
        let cutoff = {
            let mut ring = self.history.ring.lock();
            let limits = self.history.config;
            let mut cutoff = None;
            while ring.entries.len() as u64 > limits.max_messages || ring.bytes > limits.max_bytes {
                let Some((id, _, size)) = ring.entries.pop_front() else { break };
                ring.bytes -= size;
                cutoff = Some(id);
            }
            cutoff
        };
        if let Some(id) = cutoff {
            sqlx::query("DELETE FROM messages WHERE id <= ?1")
                .bind(id as i64)
                .execute(&mut self.conn)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread's scheduling policy, field 41 of its `/proc` stat line (5: `SCHED_IDLE`).
    #[cfg(target_os = "linux")]
    fn policy_of(tid: rustix::process::Pid) -> u32 {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{}/stat", tid.as_raw_nonzero()))
            .expect("the thread's stat");
        // The command name (field 2) is in parentheses and may hold spaces: count after it.
        let after = &stat[stat.rfind(')').expect("a command name") + 2..];
        after.split(' ').nth(41 - 3).expect("field 41").parse().expect("a number")
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_background_thread_runs_at_idle_priority() {
        let (before, after) = std::thread::spawn(|| {
            let me = rustix::thread::gettid();
            let before = policy_of(me);
            idle_priority_here();
            (before, policy_of(me))
        })
        .join()
        .expect("the thread");
        assert_eq!(before, 0, "a new thread runs under SCHED_OTHER");
        assert_eq!(after, 5, "then under SCHED_IDLE");
    }

    #[test]
    fn glob_patterns_cover_what_the_filter_matches() {
        assert_eq!(glob_of("#"), "*");
        assert_eq!(glob_of("a/#"), "a*");
        assert_eq!(glob_of("a/+/c"), "a/*/c");
        assert_eq!(glob_of("we*ird?[x]"), "we[*]ird[?][[]x]");
        assert_eq!(glob_of("$aws/things/+/shadow/#"), "$aws/things/*/shadow*");
    }

    #[test]
    fn no_filters_select_everything_including_dollar_topics() {
        assert!(selected(&[], "$aws/events/presence/connected/x"));
        assert!(!selected(&["#".into()], "$aws/events/presence/connected/x"));
        assert!(selected(&["#".into(), "$aws/#".into()], "$aws/x"));
    }
}
