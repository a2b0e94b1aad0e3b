//! Recordings and replays. A recording writes every message matching its filters, whole, as one
//! JSON line ([`ViewedMessage`]) into `recordings/` in the data dir, fed by the tap's consumer. A
//! replay publishes the lines of a recording (or an uploaded one) through the router as the
//! console, at the original timing scaled by a speed factor, or as fast as possible.

use std::collections::HashMap;
use std::fs::{self, File};
use std::future::Future;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Deserialize;
use thingbox_api::viewer::{MessageProperties, PublishRequest, Recording, Replay};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use super::{Captured, console_message, live_match, view};
use crate::Error;
use crate::broker::Message;

/// The recordings' folder inside the data dir.
pub const RECORDINGS_DIR: &str = "recordings";
/// Most lines a replay takes.
pub const MAX_REPLAY_MESSAGES: usize = 1_000_000;
/// Ended replays kept for the list.
const KEEP_ENDED: usize = 20;

#[derive(Debug)]
struct Active {
    name: String,
    filters: Vec<String>,
    out: BufWriter<File>,
    messages: u64,
    bytes: u64,
}

impl Active {
    fn info(&self) -> Recording {
        Recording {
            name: self.name.clone(),
            filters: self.filters.clone(),
            messages: self.messages,
            bytes: self.bytes,
            active: true,
        }
    }
}

/// The recordings of a data dir.
#[derive(Debug)]
pub struct Recorders {
    dir: PathBuf,
    active: Mutex<Vec<Active>>,
    any: AtomicBool,
    /// Message counts of finished recordings by name, with the file size they were counted at, so
    /// that listing (which the console polls while a recording runs) reads each file once.
    counted: Mutex<HashMap<String, (u64, u64)>>,
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!("There is no recording named '{name}'"))
}

impl Recorders {
    /// Recordings kept in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self { dir, active: Mutex::new(Vec::new()), any: AtomicBool::new(false), counted: Mutex::default() }
    }

    /// Whether any recording is running.
    pub fn any_active(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }

    /// Starts a recording of `filters` into a new file.
    pub fn start(&self, filters: Vec<String>) -> Result<Recording, Error> {
        let io = |e: std::io::Error| {
            Error::InvalidRequest(format!("cannot write recordings to {}: {e}", self.dir.display()))
        };
        fs::create_dir_all(&self.dir).map_err(io)?;
        let now = time::OffsetDateTime::now_utc();
        let stamp = format!(
            "{:04}{:02}{:02}-{:02}{:02}{:02}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        let mut n = 0;
        let (name, file) = loop {
            let name = if n == 0 { format!("rec-{stamp}.jsonl") } else { format!("rec-{stamp}-{n}.jsonl") };
            match File::options().write(true).create_new(true).open(self.dir.join(&name)) {
                Ok(f) => break (name, f),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(io(e)),
            }
        };
        let active = Active { name, filters, out: BufWriter::new(file), messages: 0, bytes: 0 };
        let info = active.info();
        let mut all = self.active.lock();
        all.push(active);
        self.any.store(true, Ordering::Relaxed);
        Ok(info)
    }

    /// Stops recording `name`.
    pub fn stop(&self, name: &str) -> Result<Recording, Error> {
        let mut all = self.active.lock();
        let i = all.iter().position(|a| a.name == name).ok_or_else(|| {
            if self.dir.join(name).is_file() {
                Error::InvalidRequest(format!("The recording '{name}' has already stopped"))
            } else {
                not_found(name)
            }
        })?;
        let mut a = all.remove(i);
        self.any.store(!all.is_empty(), Ordering::Relaxed);
        let _ = a.out.flush();
        self.counted.lock().insert(a.name.clone(), (a.bytes, a.messages));
        Ok(Recording { active: false, ..a.info() })
    }

    /// Stops every recording (engine shutdown).
    pub fn stop_all(&self) {
        let mut all = self.active.lock();
        for a in all.iter_mut() {
            let _ = a.out.flush();
        }
        all.clear();
        self.any.store(false, Ordering::Relaxed);
    }

    /// Writes one window of the tap to every running recording.
    pub fn write(&self, window: &[Captured]) {
        if !self.any_active() {
            return;
        }
        let mut all = self.active.lock();
        all.retain_mut(|a| {
            let mut line = Vec::new();
            for (id, m) in window.iter().filter(|(_, m)| live_match(&a.filters, &m.topic)) {
                line.clear();
                if serde_json::to_writer(&mut line, &view(*id, m, usize::MAX)).is_err() {
                    continue;
                }
                line.push(b'\n');
                if let Err(e) = a.out.write_all(&line) {
                    tracing::warn!(recording = %a.name, error = %e, "recording stopped: cannot write");
                    return false;
                }
                a.messages += 1;
                a.bytes += line.len() as u64;
            }
            if let Err(e) = a.out.flush() {
                tracing::warn!(recording = %a.name, error = %e, "recording stopped: cannot write");
                return false;
            }
            true
        });
        self.any.store(!all.is_empty(), Ordering::Relaxed);
    }

    /// The file of recording `name` (which must be a plain `….jsonl` name in the folder).
    pub fn path_of(&self, name: &str) -> Result<PathBuf, Error> {
        let plain = name.ends_with(".jsonl")
            && !name.starts_with('.')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !plain {
            return Err(not_found(name));
        }
        let path = self.dir.join(name);
        if path.is_file() { Ok(path) } else { Err(not_found(name)) }
    }

    /// Every recording, newest first.
    pub fn list(&self) -> Vec<Recording> {
        let active: HashMap<String, Recording> =
            self.active.lock().iter().map(|a| (a.name.clone(), a.info())).collect();
        let mut out: Vec<Recording> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                if !name.ends_with(".jsonl") {
                    return None;
                }
                if let Some(r) = active.get(&name) {
                    return Some(r.clone());
                }
                let bytes = e.metadata().ok()?.len();
                let known = self.counted.lock().get(&name).copied();
                let messages = match known {
                    Some((size, messages)) if size == bytes => messages,
                    _ => {
                        let messages = File::open(e.path())
                            .map(|f| {
                                BufReader::new(f)
                                    .split(b'\n')
                                    .filter(|l| l.as_ref().is_ok_and(|l| !l.is_empty()))
                                    .count()
                            })
                            .unwrap_or(0) as u64;
                        self.counted.lock().insert(name.clone(), (bytes, messages));
                        messages
                    }
                };
                Some(Recording { name, filters: Vec::new(), messages, bytes, active: false })
            })
            .collect();
        out.sort_by(|a, b| b.name.cmp(&a.name));
        out
    }

    /// Deletes recording `name` (stopping it first if it runs).
    pub fn delete(&self, name: &str) -> Result<(), Error> {
        let path = self.path_of(name)?;
        let _ = self.stop(name);
        self.counted.lock().remove(name);
        fs::remove_file(path).map_err(|e| Error::InvalidRequest(format!("cannot delete '{name}': {e}")))
    }
}

/// One line of a recording as a replay reads it: a [`thingbox_api::viewer::ViewedMessage`], of
/// which only the message itself and its timestamp matter.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Line {
    topic: String,
    #[serde(default)]
    timestamp: i64,
    #[serde(default)]
    payload: Option<String>,
    #[serde(default)]
    payload_base64: Option<String>,
    #[serde(default)]
    qos: u8,
    #[serde(default)]
    retain: bool,
    #[serde(default)]
    truncated: bool,
    #[serde(default)]
    properties: MessageProperties,
}

/// Reads a recording: every line must be a message the console could publish.
pub fn parse_recording(text: &str) -> Result<Vec<Message>, Error> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let at = |m: String| Error::InvalidRequest(format!("line {}: {m}", i + 1));
        let line: Line = serde_json::from_str(raw).map_err(|e| at(format!("not a recorded message: {e}")))?;
        if line.truncated {
            return Err(at(
                "the payload was cut (a live view, not a recording); it cannot be replayed".into()
            ));
        }
        let mut m = console_message(PublishRequest {
            topic: line.topic,
            payload: line.payload.unwrap_or_default(),
            payload_base64: line.payload_base64,
            qos: line.qos,
            retain: line.retain,
            properties: line.properties,
        })
        .map_err(|e| at(e.to_string()))?;
        m.timestamp_ms = line.timestamp;
        out.push(m);
        if out.len() > MAX_REPLAY_MESSAGES {
            return Err(Error::TooLarge(format!(
                "the recording has more than {MAX_REPLAY_MESSAGES} messages; split it"
            )));
        }
    }
    if out.is_empty() {
        return Err(Error::InvalidRequest("the recording holds no messages".into()));
    }
    Ok(out)
}

#[derive(Debug)]
struct Entry {
    replay: Replay,
    cancel: Option<oneshot::Sender<()>>,
}

/// Replays in progress (and the last few ended).
#[derive(Debug, Default)]
pub struct Replays {
    next: AtomicU64,
    state: Arc<Mutex<HashMap<u64, Entry>>>,
    tasks: Mutex<JoinSet<()>>,
}

impl Replays {
    /// Every replay known, newest first.
    pub fn list(&self) -> Vec<Replay> {
        let mut out: Vec<Replay> = self.state.lock().values().map(|e| e.replay.clone()).collect();
        out.sort_by_key(|r| std::cmp::Reverse(r.id));
        out
    }

    /// Starts publishing `messages` with `publish`, telling `notify` about progress.
    pub fn start<F, Fut>(
        &self,
        source: String,
        messages: Vec<Message>,
        speed: f64,
        mut stop: watch::Receiver<bool>,
        publish: F,
        notify: impl Fn(Replay) + Send + 'static,
    ) -> Replay
    where
        F: Fn(Message) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), String>> + Send,
    {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let replay =
            Replay { id, source, speed, sent: 0, total: messages.len() as u64, done: false, error: None };
        let (cancel_tx, mut cancel) = oneshot::channel();
        {
            let mut state = self.state.lock();
            let mut ended: Vec<u64> = state.values().filter(|e| e.replay.done).map(|e| e.replay.id).collect();
            ended.sort_unstable();
            for old in ended.iter().take(ended.len().saturating_sub(KEEP_ENDED)) {
                state.remove(old);
            }
            state.insert(id, Entry { replay: replay.clone(), cancel: Some(cancel_tx) });
        }
        let state = self.state.clone();
        let mut tasks = self.tasks.lock();
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            let start = tokio::time::Instant::now();
            let t0 = messages.first().map_or(0, |m| m.timestamp_ms);
            let mut error = None;
            let mut told = Instant::now();
            for (i, mut m) in messages.into_iter().enumerate() {
                if speed > 0.0 {
                    let offset = (m.timestamp_ms - t0).max(0) as f64 / 1000.0 / speed;
                    let due = start + Duration::from_secs_f64(offset.min(86_400.0 * 365.0));
                    tokio::select! {
                        _ = tokio::time::sleep_until(due) => {}
                        _ = &mut cancel => { error = Some("stopped".to_owned()); break; }
                        _ = stop.wait_for(|s| *s) => { error = Some("Thingbox stopped".to_owned()); break; }
                    }
                } else if i % 256 == 0 {
                    // As fast as possible, still answering a stop.
                    tokio::task::yield_now().await;
                    if cancel.try_recv().is_ok() || *stop.borrow() {
                        error = Some("stopped".to_owned());
                        break;
                    }
                }
                m.timestamp_ms = crate::broker::now_ms();
                if let Err(e) = publish(m).await {
                    error = Some(e);
                    break;
                }
                let snapshot = {
                    let mut st = state.lock();
                    let Some(e) = st.get_mut(&id) else { return };
                    e.replay.sent += 1;
                    e.replay.clone()
                };
                if told.elapsed() >= Duration::from_millis(200) {
                    told = Instant::now();
                    notify(snapshot);
                }
            }
            let snapshot = {
                let mut st = state.lock();
                let Some(e) = st.get_mut(&id) else { return };
                e.replay.done = true;
                e.replay.error = error;
                e.cancel = None;
                e.replay.clone()
            };
            notify(snapshot);
        });
        replay
    }

    /// Stops replay `id`.
    pub fn stop(&self, id: u64) -> Result<Replay, Error> {
        let mut st = self.state.lock();
        let e = st.get_mut(&id).ok_or_else(|| Error::NotFound(format!("There is no replay {id}")))?;
        if let Some(c) = e.cancel.take() {
            let _ = c.send(());
        }
        Ok(e.replay.clone())
    }

    /// Stops every replay and waits for their tasks.
    pub async fn stop_all(&self) {
        let mut tasks = std::mem::take(&mut *self.tasks.lock());
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_line_must_be_a_publishable_message() {
        let ok = parse_recording(
            "{\"topic\":\"a/b\",\"timestamp\":5,\"payload\":\"{}\",\"qos\":1}\n\n{\"topic\":\"c\",\"payloadBase64\":\"AAE=\"}\n",
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!((ok[0].timestamp_ms, ok[0].qos), (5, 1));
        assert_eq!(ok[1].payload.as_ref(), [0, 1]);
        for (text, want) in [
            ("{\"topic\":\"a\"}\nnot json", "line 2: not a recorded message"),
            ("{\"topic\":\"a/#\"}", "line 1: Invalid topic"),
            ("{\"topic\":\"a\",\"truncated\":true}", "cut"),
            ("\n\n", "no messages"),
        ] {
            let e = parse_recording(text).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn recording_names_cannot_leave_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let r = Recorders::new(dir.path().to_owned());
        fs::write(dir.path().join("x.jsonl"), "").unwrap();
        assert!(r.path_of("x.jsonl").is_ok());
        for bad in ["../x.jsonl", "x.json", ".x.jsonl", "a/x.jsonl", "missing.jsonl"] {
            assert!(matches!(r.path_of(bad), Err(Error::NotFound(_))), "{bad}");
        }
    }
}
