//! Function call errors, with App Services' error codes: [`FunctionError`] is the registry's
//! verdict on a call (which function, which code); [`Thrown`] is what a function or a call by
//! name failed with, as the code calling it sees it.

use super::result::ResultError;
use crate::guard::GuardError;

/// Why a function call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FunctionError {
    /// No function has this name (`FunctionNotFound`).
    #[error("function not found: '{0}'")]
    NotFound(String),
    /// A client called a private function (`NotCallable`).
    #[error("function '{0}' is private and cannot be called from a client")]
    Private(String),
    /// `can_evaluate` refused the call (`NotCallable`).
    #[error("function '{0}' cannot be called: can_evaluate is false for this request")]
    CannotEvaluate(String),
    /// The function is configured but has no implementation here.
    #[error(
        "function '{0}' has no implementation (JavaScript sources need the JavaScript runtime)"
    )]
    NoImplementation(String),
    /// The function failed (`FunctionExecutionError`).
    #[error("function '{name}' failed: {message}")]
    Execution {
        /// The function.
        name: String,
        /// Its error.
        message: String,
    },
    /// The call took longer than the time limit (`ExecutionTimeLimitExceeded`).
    #[error("function '{name}' exceeded its time limit of {seconds} s")]
    Timeout {
        /// The function.
        name: String,
        /// The limit.
        seconds: f64,
    },
    /// The function returned a value too deep or too large to send (`FunctionExecutionError`).
    #[error("function '{name}' returned {reason}")]
    Result {
        /// The function.
        name: String,
        /// What is wrong with the value.
        reason: ResultError,
    },
    /// `context.functions.execute` nested deeper than allowed (`FunctionExecutionError`).
    #[error("function '{name}': calls nested deeper than {limit}")]
    TooDeep {
        /// The function that would have been called.
        name: String,
        /// The limit.
        limit: usize,
    },
}

impl FunctionError {
    /// The App Services error code.
    ///
    /// ```
    /// use expanse::functions::FunctionError;
    /// assert_eq!(FunctionError::NotFound("f".into()).code(), "FunctionNotFound");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            FunctionError::NotFound(_) => "FunctionNotFound",
            FunctionError::Private(_) | FunctionError::CannotEvaluate(_) => "NotCallable",
            FunctionError::Timeout { .. } => "ExecutionTimeLimitExceeded",
            FunctionError::NoImplementation(_)
            | FunctionError::Execution { .. }
            | FunctionError::Result { .. }
            | FunctionError::TooDeep { .. } => "FunctionExecutionError",
        }
    }
}

/// What a call failed with, as its caller sees it: the error a Rust function returns
/// ([`crate::functions::Function`]), what a JavaScript function threw, or why a call by name
/// failed ([`crate::auth::SystemFunctions`], [`crate::expr::FunctionCaller`]).
///
/// Its text is the message exactly; a failed call keeps its [`FunctionError`] (and code).
/// Conversions keep embedders' code short: `Err("message".into())`, and `?` on a `String`, a
/// `&str`, a [`GuardError`] or a [`FunctionError`].
///
/// ```
/// use bson::Bson;
/// use expanse::functions::{FunctionError, Thrown};
///
/// fn check(args: &[Bson]) -> Result<Bson, Thrown> {
///     let first = args.first().ok_or("an argument is required")?;
///     if first == &Bson::Null {
///         return Err(format!("{} is not allowed", "null").into());
///     }
///     Ok(first.clone())
/// }
/// assert_eq!(check(&[]).unwrap_err().to_string(), "an argument is required");
/// let failed = Thrown::from(FunctionError::NotFound("f".into()));
/// assert_eq!(failed.to_string(), "function not found: 'f'");
/// assert_eq!(failed.code(), "FunctionNotFound");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Thrown {
    /// A message: a Rust function's error, a JavaScript function's thrown error.
    #[error("{0}")]
    Message(String),
    /// A call by name failed (not found, private, timed out, its function failed…).
    #[error(transparent)]
    Call(#[from] FunctionError),
}

impl Thrown {
    /// The App Services error code: the failed call's, or `FunctionExecutionError`.
    pub fn code(&self) -> &'static str {
        match self {
            Thrown::Message(_) => "FunctionExecutionError",
            Thrown::Call(e) => e.code(),
        }
    }
}

impl From<String> for Thrown {
    fn from(message: String) -> Thrown {
        Thrown::Message(message)
    }
}

impl From<&str> for Thrown {
    fn from(message: &str) -> Thrown {
        Thrown::Message(message.to_owned())
    }
}

/// A guarded operation's error, as its text (what the caller may see of it).
impl From<GuardError> for Thrown {
    fn from(error: GuardError) -> Thrown {
        Thrown::Message(error.to_string())
    }
}
