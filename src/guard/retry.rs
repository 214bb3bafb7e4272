//! Retrying a write that a concurrent write got in the way of: one loop for every write path.

use std::future::Future;

use super::GuardError;
use crate::store::StoreError;

/// How many times a write is retried when a concurrent write changed its documents.
const MAX_ATTEMPTS: usize = 32;

/// Waits a random, growing while before retrying a conflicted write, so contending writers do
/// not keep colliding (up to about 50 ms).
async fn backoff(attempt: usize) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut x = u64::from(nanos) ^ (attempt as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    let ceiling_micros = 100u64 << attempt.min(9);
    tokio::time::sleep(std::time::Duration::from_micros(x % ceiling_micros.max(1))).await;
}

/// What one attempt of a write came to.
pub(super) enum Attempt<T> {
    /// Done: the write applied (or there was nothing to do).
    Done(T),
    /// A concurrent write changed the documents: try again.
    Conflict,
}

impl<T> Attempt<T> {
    /// The outcome of applying a batch: `done` when it applied, a conflict to retry, or the
    /// store's error.
    pub(super) fn of(applied: Result<(), StoreError>, done: T) -> Result<Attempt<T>, GuardError> {
        match applied {
            Ok(()) => Ok(Attempt::Done(done)),
            Err(StoreError::Conflict) => Ok(Attempt::Conflict),
            Err(e) => Err(e.into()),
        }
    }
}

/// Runs `attempt` until it is done, backing off after each conflict; fails with
/// [`GuardError::Contention`] after [`MAX_ATTEMPTS`].
pub(super) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, GuardError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Attempt<T>, GuardError>>,
{
    for n in 0..MAX_ATTEMPTS {
        match attempt().await? {
            Attempt::Done(value) => return Ok(value),
            Attempt::Conflict => backoff(n).await,
        }
    }
    Err(GuardError::Contention(MAX_ATTEMPTS))
}
