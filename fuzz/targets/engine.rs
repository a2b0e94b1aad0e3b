//! The engine the engine-level targets (`session`, `api`) share: one at a time per process, on a
//! data dir in RAM (`/dev/shm` when there is one, so SQLite's syncs cost nothing), with a
//! current-thread runtime the target drives: the engine's tasks run while an input is served.
//! Every [`FRESH_EVERY`] inputs the engine is stopped and a new one started on an empty data dir,
//! so what inputs leave behind (things, shadows, rules, retained messages) stays small: the API's
//! listings grew with it, and the API target's rate fell from 12,000 inputs a second to 1,200 in
//! five million. `scripts/fuzz` removes the last data dir after the run.

#![allow(dead_code)] // each target uses its part

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use thingbox_engine::{Engine, EngineConfig, EngineHandle, Listeners};
use tokio::runtime::Runtime;

/// Inputs one engine serves.
pub const FRESH_EVERY: u64 = 20_000;

/// A running engine.
pub struct Running {
    pub handle: EngineHandle,
    /// The console token, for inputs that say `{token}`.
    pub token: String,
    stop: tokio::sync::oneshot::Sender<()>,
}

struct Current {
    engine: Option<Arc<Running>>,
    served: u64,
}

/// The runtime every engine of the process runs on.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
    })
}

/// The engine for the next input: the current one, or a fresh one after [`FRESH_EVERY`] inputs.
pub fn get() -> Arc<Running> {
    static CURRENT: Mutex<Current> = Mutex::new(Current { engine: None, served: 0 });
    let mut cur = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    cur.served += 1;
    if cur.served > FRESH_EVERY {
        cur.served = 1;
        if let Some(old) = cur.engine.take() {
            stop(old);
        }
    }
    cur.engine.get_or_insert_with(start).clone()
}

fn dir() -> PathBuf {
    let base = match std::path::Path::new("/dev/shm").is_dir() {
        true => PathBuf::from("/dev/shm"),
        false => std::env::temp_dir(),
    };
    base.join(format!("thingbox-fuzz-{}", std::process::id()))
}

fn start() -> Arc<Running> {
    let dir = dir();
    let _ = std::fs::remove_dir_all(&dir);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = runtime().block_on(async {
        let listeners = Listeners {
            api: tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port for the API"),
            mqtt_tls: None,
            mqtt: None,
            https: None,
        };
        // Persistent sessions last a second, not AWS's hour: inputs make thousands of client ids
        // a second, and each session keeps what its subscriptions match.
        let mut config = EngineConfig::new(&dir);
        config.broker.default_session_expiry_secs = 1;
        config.broker.max_session_expiry_secs = 1;
        config.gateway.default_session_expiry = 1;
        // Ten versions a shadow, not a hundred: inputs update the same shadows with documents of
        // up to 4 KB, and every history request serializes what is kept.
        config.shadow_history = 10;
        Engine::start(config, listeners, async {
            let _ = stopped.await;
        })
        .await
        .expect("the engine starts")
    });
    let token =
        std::fs::read_to_string(dir.join("console-token")).expect("the console token").trim().to_owned();
    Arc::new(Running { handle, token, stop })
}

/// Stops an engine no input holds any more, and waits until it has: it must stop cleanly.
fn stop(engine: Arc<Running>) {
    let Ok(Running { handle, stop, .. }) = Arc::try_unwrap(engine) else {
        panic!("an engine is still in use after its inputs ended");
    };
    let _ = stop.send(());
    runtime().block_on(handle.wait()).expect("the engine stops cleanly");
}
