//! The error of parsing or applying an update: a path and what is wrong, never a value.

use crate::limits::LimitError;

/// An update that cannot be parsed or applied, with the field path concerned. Its message
/// names paths and types, never a document's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct UpdateError {
    /// The field path (may be empty).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl From<LimitError> for UpdateError {
    fn from(e: LimitError) -> UpdateError {
        UpdateError::new(e.at(), e.reason())
    }
}

impl UpdateError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> UpdateError {
        UpdateError {
            path: path.into(),
            message: message.into(),
        }
    }
}
