//! What can go wrong in a store.

use crate::limits::LimitError;
use crate::query::QueryError;

/// What can go wrong in a store.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// A unique index refused a document (MongoDB error 11000). The message names the index,
    /// never the key: the conflicting document may be one the caller cannot read.
    #[error("E11000 duplicate key error collection: {namespace} index: {index}")]
    DuplicateKey {
        /// The namespace.
        namespace: String,
        /// The index (`_id_` or the keys).
        index: String,
        /// The duplicated key, for the embedding application only (it may hold a value the
        /// caller cannot read; it is not part of the message).
        key: String,
    },
    /// A pre-image is no longer the stored document (a concurrent write won); retry.
    #[error("write conflict: the document changed since it was read")]
    Conflict,
    /// The query, sort, projection or pipeline is invalid.
    #[error("invalid query: {0}")]
    Query(#[from] QueryError),
    /// A document to write (or an update) passes MongoDB's nesting limits
    /// ([`check_documents`]).
    #[error("document refused: {0}")]
    Limit(#[from] LimitError),
    /// A stored document is nested deeper than MongoDB allows (written by another client): it
    /// is refused rather than decoded.
    #[error("a stored document cannot be read: {0}")]
    StoredPastLimit(LimitError),
    /// The operation is not supported by this store.
    #[error("{0}")]
    Unsupported(String),
    /// The database could not be reached or failed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else the database reported.
    #[error("database error: {0}")]
    Other(String),
}
