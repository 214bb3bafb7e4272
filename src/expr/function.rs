//! The bridge from `%function` to whatever runs functions.

use bson::Bson;

use super::Context;

/// Runs a named function for `%function` (the function runtime implements this).
///
/// ```
/// use bson::Bson;
/// use expanse::expr::{Context, FunctionCaller};
/// struct IsAdmin;
/// impl FunctionCaller for IsAdmin {
///     fn call(&self, name: &str, args: Vec<Bson>, _: &Context<'_>) -> Result<Bson, String> {
///         match name {
///             "isAdmin" => Ok(Bson::Boolean(args.first() == Some(&Bson::String("u1".into())))),
///             other => Err(format!("function not found: {other}")),
///         }
///     }
/// }
/// ```
pub trait FunctionCaller: Send + Sync {
    /// Calls `name` with already-expanded arguments; an `Err` makes the expression false.
    fn call(&self, name: &str, args: Vec<Bson>, context: &Context<'_>) -> Result<Bson, String>;
}
