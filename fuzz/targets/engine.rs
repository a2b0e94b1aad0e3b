//! The engine the engine-level targets (`session`, `api`) share: started once per process on a
//! data dir in RAM (`/dev/shm` when there is one, so SQLite's syncs cost nothing), with a
//! current-thread runtime the target drives: the engine's tasks run while an input is served.
//! `scripts/fuzz` removes the data dir after the run.

#![allow(dead_code)] // each target uses its part

use std::path::PathBuf;
use std::sync::OnceLock;

use thingbox_engine::{Engine, EngineConfig, EngineHandle, Listeners};
use tokio::runtime::Runtime;

/// A running engine and the runtime it runs on.
pub struct Running {
    pub runtime: Runtime,
    pub handle: EngineHandle,
    pub dir: PathBuf,
    /// The console token, for inputs that say `{token}`.
    pub token: String,
}

/// The process's engine, started on first use.
pub fn get() -> &'static Running {
    static RUNNING: OnceLock<Running> = OnceLock::new();
    RUNNING.get_or_init(|| {
        let base = match std::path::Path::new("/dev/shm").is_dir() {
            true => PathBuf::from("/dev/shm"),
            false => std::env::temp_dir(),
        };
        let dir = base.join(format!("thingbox-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let handle = runtime.block_on(async {
            let listeners = Listeners {
                api: tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port for the API"),
                mqtt_tls: None,
                mqtt: None,
                https: None,
            };
            // Persistent sessions last a second, not AWS's hour: inputs make thousands of client
            // ids a second, and each session keeps what its subscriptions match.
            let mut config = EngineConfig::new(&dir);
            config.broker.default_session_expiry_secs = 1;
            config.broker.max_session_expiry_secs = 1;
            config.gateway.default_session_expiry = 1;
            Engine::start(config, listeners, std::future::pending()).await.expect("the engine starts")
        });
        let token =
            std::fs::read_to_string(dir.join("console-token")).expect("the console token").trim().to_owned();
        Running { runtime, handle, dir, token }
    })
}
