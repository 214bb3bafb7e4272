//! Refusals of the user-context restrictions: what a user's request may not hold, and filters
//! that cannot apply. Their messages name operators, stages and filters, never values.

/// Something App Services reserves for system callers (an operator, a stage, a variable).
///
/// ```
/// use bson::doc;
/// let refused = expanse::rules::check_user_query(&doc! {"$where": "sleep(1)"}, false).unwrap_err();
/// assert_eq!(refused.to_string(), "operator $where is only allowed for the system user");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotAllowed(pub String);

/// A collection filter that cannot apply to a request (its query cannot be resolved, or
/// filters applying together mix projection kinds).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);
