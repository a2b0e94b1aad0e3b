//! The console (the built `ui/`), compiled into the binaries that host the engine (`thingbox` and
//! the desktop app) so that one file serves it. Empty when the binary was built before the UI.

pub use thingbox_engine::http::assets::Asset;

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// Whether this binary carries the console.
pub fn built() -> bool {
    !ASSETS.is_empty()
}
