//! Why a trigger could not be configured or run.

use crate::store::{StoreError, WatchError};

/// A trigger's configuration is not one Expanse can run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trigger {trigger:?}: {message}")]
pub struct ConfigError {
    /// The trigger.
    pub trigger: String,
    /// What is wrong.
    pub message: String,
}

/// A trigger runner failed (it retries; the last error is in the trigger's status).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TriggerError {
    /// The database failed or could not be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The change stream could not be opened or read.
    #[error(transparent)]
    Watch(#[from] WatchError),
    /// Another process changed the trigger's state or took its lease.
    #[error("the lease of trigger {0:?} was lost to another process")]
    LeaseLost(String),
    /// No trigger of that name is configured (CLI commands).
    #[error("the app has no trigger named {0:?}")]
    Unknown(String),
}
