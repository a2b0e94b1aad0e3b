//! MQTT sessions through the real connection state machine: a running engine (in-process, on a
//! RAM-backed data dir) serves each input as one connection to its plain MQTT listener, with every
//! service behind it (router, retained store, persistent sessions, shadows, rules, jobs, lifecycle
//! events). The input, after its first byte (the size of the pieces it arrives in), is what the
//! client sends; then the client stops sending and must see the engine close the connection. Any
//! panic in any of the engine's tasks aborts the run (libfuzzer-sys's panic hook).
#![no_main]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod engine;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&piece, stream)) = data.split_first() else { return };
    let piece = usize::from(piece).max(1);
    let running = engine::get();
    engine::runtime().block_on(async {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let served = tokio::spawn({
            let running = running.clone();
            async move { running.handle.serve_mqtt(server).await }
        });
        let (mut rd, mut wr) = tokio::io::split(&mut client);
        let send = async {
            for chunk in stream.chunks(piece) {
                if wr.write_all(chunk).await.is_err() {
                    break;
                }
                tokio::task::yield_now().await;
            }
            let _ = wr.shutdown().await;
        };
        // Read everything the engine sends until it closes: a client that reads keeps the
        // connection's writer from waiting on a full pipe.
        let drain = async {
            let mut buf = vec![0u8; 16 * 1024];
            while matches!(rd.read(&mut buf).await, Ok(n) if n > 0) {}
        };
        let ended = tokio::time::timeout(Duration::from_secs(5), async {
            tokio::join!(send, drain);
        })
        .await;
        assert!(ended.is_ok(), "the engine left the connection open after the client stopped sending");
        tokio::time::timeout(Duration::from_secs(5), served)
            .await
            .expect("the connection's task outlived its connection")
            .expect("the connection's task failed");
    });
});
