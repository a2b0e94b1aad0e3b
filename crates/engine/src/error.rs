//! The engine's typed errors. The HTTP layer maps each to an AWS error type in one place
//! (`http::error`).

use thingbox_model::registry::RegistryError;

use crate::storage::StorageError;

/// Anything an engine operation can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A registry rule refused the request.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The request itself was malformed (bad JSON, a bad query parameter, a missing member).
    #[error("{0}")]
    InvalidRequest(String),
    /// A console resource (a recording, a replay, a history message) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A payload or upload is over its limit.
    #[error("{0}")]
    TooLarge(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The shadow service refused (AWS's shadow code and message).
    #[error(transparent)]
    Shadow(#[from] thingbox_model::shadow::ShadowError),
    /// A topic rule operation was refused.
    #[error(transparent)]
    Rule(#[from] thingbox_model::rules::RuleError),
    /// A jobs control-plane operation (service `iot`) was refused.
    #[error(transparent)]
    Jobs(#[from] thingbox_model::jobs::JobsError),
    /// A provisioning template operation was refused.
    #[error(transparent)]
    Provisioning(#[from] thingbox_model::provisioning::ProvisioningError),
    /// A jobs data-plane operation (service `iot-jobs-data`) was refused: the same decisions,
    /// answered with that service's error types.
    #[error("{0}")]
    JobsData(thingbox_model::jobs::JobsError),
    /// The simulator refused (a bad scenario, one already running, …).
    #[error(transparent)]
    Sim(#[from] crate::sim::SimError),
}

impl From<thingbox_model::ValidationError> for Error {
    fn from(e: thingbox_model::ValidationError) -> Self {
        Self::InvalidRequest(e.to_string())
    }
}
