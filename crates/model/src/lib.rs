//! Thingbox's domain model: everything that can be decided without IO.
//!
//! This crate owns AWS IoT's naming rules and limits ([`names`]), ARNs ([`arn`]), opaque pagination
//! tokens ([`paging`]), time as the domain sees it ([`time`]), tags ([`tags`]), the device registry
//! state machine ([`registry`]) and topic rules ([`rules`], whose SQL is `thingbox_sql`). It is
//! synchronous, does no IO, never reads a clock (callers pass `now`) and compiles to wasm, so the
//! console can run the same rules in the browser.

pub mod arn;
pub mod event_config;
pub mod export;
pub mod jobs;
pub mod names;
pub mod paging;
pub mod policy;
pub mod provisioning;
pub mod quotas;
pub mod registry;
pub mod rules;
pub mod scenario;
pub mod shadow;
pub mod tags;
pub mod time;
pub mod topic;
pub mod usage;

pub use names::ValidationError;
pub use time::Timestamp;
