//! Why a guarded operation failed.

use crate::app::NoMatchingRule;
use crate::query::QueryError;
use crate::rules::{Denial, FilterError, NotAllowed};
use crate::store::StoreError;
use crate::update::UpdateError;

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// No rules for the namespace (`NoMatchingRuleFound`).
    #[error(transparent)]
    NoRule(#[from] NoMatchingRule),
    /// Rules refused a write.
    #[error("{0}")]
    Denied(Box<Denial>),
    /// The query is invalid.
    #[error("invalid query: {0}")]
    Query(#[from] QueryError),
    /// The update is invalid or cannot apply.
    #[error("invalid update: {0}")]
    Update(#[from] UpdateError),
    /// Something users may not do (system-only operators, stages), or a filter that cannot apply.
    #[error("{0}")]
    NotAllowed(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// Concurrent writers kept changing the documents.
    #[error("write conflict persisted after {0} attempts")]
    Contention(usize),
}

impl From<StoreError> for GuardError {
    fn from(e: StoreError) -> GuardError {
        match e {
            StoreError::Query(q) => GuardError::Query(q),
            other => GuardError::Store(other),
        }
    }
}

impl From<Denial> for GuardError {
    fn from(d: Denial) -> GuardError {
        GuardError::Denied(Box::new(d))
    }
}

impl From<NotAllowed> for GuardError {
    fn from(e: NotAllowed) -> GuardError {
        GuardError::NotAllowed(e.0)
    }
}

impl From<FilterError> for GuardError {
    fn from(e: FilterError) -> GuardError {
        GuardError::NotAllowed(e.0)
    }
}
