//! Why (name, arguments) is not an operation: each error names the operation and the argument
//! path, never a value the caller sent.

use crate::limits::LimitError;

/// An operation's arguments that cannot be read.
///
/// ```
/// use bson::bson;
/// use expanse::operation::Operation;
/// let err = Operation::from_positional("findOne", vec![bson!("secret")]).unwrap_err();
/// assert_eq!(err.to_string(), "findOne: the filter must be a document");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OperationError {
    /// An operation Expanse does not offer.
    #[error("collection.{0} is not supported")]
    UnknownOperation(String),
    /// More positional arguments than the operation takes.
    #[error("{operation} takes at most {max} arguments")]
    TooManyArguments {
        /// The operation.
        operation: String,
        /// How many it takes.
        max: usize,
    },
    /// A required argument is missing.
    #[error("{operation} needs {what}")]
    Missing {
        /// The operation.
        operation: String,
        /// Which argument ("a filter", "the field \"update\"").
        what: String,
    },
    /// An argument of the wrong type.
    #[error("{operation}: {what} must be {expected}")]
    WrongType {
        /// The operation.
        operation: String,
        /// Which argument ("the filter", "the option \"sort\"").
        what: String,
        /// What it must be.
        expected: &'static str,
    },
    /// An argument or option the operation does not take (refused, never dropped).
    #[error("{operation}: {what} is not supported")]
    Unsupported {
        /// The operation.
        operation: String,
        /// Which argument ("the option \"collation\"", "the field \"hint\"").
        what: String,
    },
    /// An update pipeline.
    #[error(
        "{operation}: update pipelines (an array of stages as the update) are not supported; use update operators such as $set"
    )]
    Pipeline {
        /// The operation.
        operation: String,
    },
    /// `undefined` in a filter or pipeline: MongoDB cannot compare to it.
    #[error("{operation}: {what} holds undefined at {path}, which MongoDB cannot compare to")]
    UndefinedInQuery {
        /// The operation.
        operation: String,
        /// The filter or the pipeline.
        what: String,
        /// Where, inside it (field names and positions only).
        path: String,
    },
    /// An argument nested deeper than MongoDB allows.
    #[error("{operation}: {what}: {source}")]
    TooDeep {
        /// The operation.
        operation: String,
        /// Which argument.
        what: String,
        /// The limit.
        source: LimitError,
    },
    /// A service call whose arguments are not one document naming `database` and `collection`.
    #[error("{operation}: {problem}")]
    ServiceCall {
        /// The operation.
        operation: String,
        /// What is wrong.
        problem: String,
    },
}
