//! Function call errors, with App Services' error codes.

use super::result::ResultError;

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
