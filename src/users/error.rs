//! Why a users-store operation failed.

use crate::store::StoreError;

/// A users-store failure. Messages never carry stored values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UsersError {
    /// The database failed or could not be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No user has this id.
    #[error("user not found")]
    NotFound,
    /// A stored document does not have the users-store shape (written by someone else).
    #[error("a stored user document is malformed: {0}")]
    Malformed(&'static str),
    /// The identity already belongs to another user.
    #[error("the identity is already linked to a user")]
    IdentityTaken,
    /// Too many concurrent writes to one user document (retries exhausted).
    #[error("too many concurrent updates of one user; retry")]
    Contended,
}
