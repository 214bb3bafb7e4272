//! What a function may return: a value MongoDB could hold as a document field (at most
//! [`MAX_DEPTH`](crate::limits::MAX_DEPTH) levels deep, at most [`MAX_DOCUMENT_SIZE`] bytes of
//! BSON).

use std::io::Write;

use bson::{doc, Bson};

use crate::limits::{check_depth, LimitError, MAX_DOCUMENT_SIZE};

/// Why a function's result is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResultError {
    /// Nested deeper than [`MAX_DEPTH`](crate::limits::MAX_DEPTH).
    #[error("a result that is too deep: {0}")]
    TooDeep(LimitError),
    /// Larger than [`MAX_DOCUMENT_SIZE`].
    #[error("a result larger than {} MiB, MongoDB's document limit", MAX_DOCUMENT_SIZE / (1024 * 1024))]
    TooLarge,
    /// Not encodable as BSON (a field name with a NUL character).
    #[error("a result that cannot be encoded as BSON")]
    NotEncodable,
}

/// Refuses a result nested deeper than [`MAX_DEPTH`](crate::limits::MAX_DEPTH) or larger than
/// [`MAX_DOCUMENT_SIZE`] (measured as the BSON of `{"result": value}`, without building it
/// past the limit).
///
/// ```
/// use bson::bson;
/// use expanse::functions::check_result;
/// assert!(check_result(&bson!({"a": [1, 2]})).is_ok());
/// assert!(check_result(&bson!("x".repeat(17 * 1024 * 1024))).is_err());
/// ```
pub fn check_result(value: &Bson) -> Result<(), ResultError> {
    check_depth(value).map_err(ResultError::TooDeep)?;
    let mut counter = SizeCounter(0);
    match doc! {"result": value.clone()}.to_writer(&mut counter) {
        Ok(()) => Ok(()),
        Err(_) if counter.0 > MAX_DOCUMENT_SIZE => Err(ResultError::TooLarge),
        Err(_) => Err(ResultError::NotEncodable),
    }
}

/// Counts bytes written, failing once past [`MAX_DOCUMENT_SIZE`].
struct SizeCounter(usize);

impl Write for SizeCounter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        if self.0 > MAX_DOCUMENT_SIZE {
            return Err(std::io::Error::other("too large"));
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
