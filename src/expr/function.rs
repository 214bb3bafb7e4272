//! The bridge from `%function` to whatever runs functions.

use bson::Bson;

use super::Bindings;
use crate::functions::Thrown;

/// Runs a named function for `%function` (the function runtime implements this).
///
/// ```
/// use bson::Bson;
/// use expanse::expr::{Bindings, FunctionCaller};
/// use expanse::functions::{FunctionError, Thrown};
/// struct IsAdmin;
/// impl FunctionCaller for IsAdmin {
///     fn call(&self, name: &str, args: Vec<Bson>, _: &Bindings<'_>) -> Result<Bson, Thrown> {
///         match name {
///             "isAdmin" => Ok(Bson::Boolean(args.first() == Some(&Bson::String("u1".into())))),
///             other => Err(FunctionError::NotFound(other.into()).into()),
///         }
///     }
/// }
/// ```
pub trait FunctionCaller: Send + Sync {
    /// Calls `name` with already-expanded arguments; an `Err` makes the expression false.
    fn call(&self, name: &str, args: Vec<Bson>, context: &Bindings<'_>) -> Result<Bson, Thrown>;

    /// The same call as a future, for callers that can wait for it (guarded collections run
    /// `%function` this way, between rounds of evaluation, on any tokio runtime). `None` when
    /// the caller only has the blocking form.
    fn call_later(&self, name: &str, args: Vec<Bson>) -> Option<LaterResult<'_>> {
        let _ = (name, args);
        None
    }

    /// Whether [`FunctionCaller::call_later`] gives a future.
    fn calls_later(&self) -> bool {
        false
    }
}

/// The result of [`FunctionCaller::call_later`].
pub type LaterResult<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Bson, Thrown>> + Send + 'a>>;
