//! What the engine's mutation fuzzers share: a seeded generator, the run's size and seed from the
//! environment, a count of panics in any task, and an engine on free loopback ports.

#![allow(dead_code)] // each test uses its own part

use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use thingbox_engine::{Engine, EngineConfig, EngineHandle, Listeners};
use tokio::net::TcpListener;

/// xorshift64*: small, seeded, the same run for the same seed.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn seeded(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

/// `THINGBOX_FUZZ_CASES` (default `cases`) and `THINGBOX_FUZZ_SEED` (default 1).
pub fn params(cases: usize) -> (usize, u64) {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    (var("THINGBOX_FUZZ_CASES").map_or(cases, |n| n as usize), var("THINGBOX_FUZZ_SEED").unwrap_or(1))
}

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Starts counting panics in any thread (the engine's tasks included); returns the count so far.
pub fn panics() -> usize {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
    PANICS.load(Ordering::SeqCst)
}

/// An engine on a temporary data dir, with the API and (if `mqtt`) the plain MQTT listener.
pub struct Running {
    pub handle: EngineHandle,
    stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Running {
    pub async fn start(mqtt: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mqtt = match mqtt {
            true => Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
            false => None,
        };
        let listeners = Listeners {
            api: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            mqtt_tls: None,
            mqtt,
            https: None,
        };
        let mut config = EngineConfig::new(dir.path());
        config.history.max_messages = 0;
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = Engine::start(config, listeners, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
        Self { handle, stop, _dir: dir }
    }

    /// Stops the engine and waits for it (15 s at most).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(15), self.handle.wait())
            .await
            .expect("engine stops")
            .unwrap();
    }
}
