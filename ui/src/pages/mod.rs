//! The console's pages, one module per area.

pub mod certs;
pub mod devices;
pub mod groups;
pub mod jobs;
pub mod messages;
pub mod overview;
pub mod policies;
pub mod rules;
pub mod shadows;
pub mod things;
pub mod trace;
