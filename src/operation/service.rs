//! An App Services service call (`POST functions/call` with a `service`): the operation's
//! name, and one argument document naming the database, the collection and the operation's
//! arguments (`{database, collection, query, project, …}`), as realm-web and the other SDKs
//! send it.

use bson::{Bson, Document};

use super::error::OperationError;
use super::parse::Shape;
use super::Operation;

/// A collection operation called as an App Services service function.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceCall {
    /// `database`.
    pub database: String,
    /// `collection`.
    pub collection: String,
    /// The operation, its arguments read.
    pub operation: Operation,
}

impl ServiceCall {
    /// Reads a service call: `arguments` must be one document with `database` and
    /// `collection` (strings) and the operation's arguments, named as App Services names them
    /// (`query` or `filter`; `project` or `projection`; a replacement under `update` or
    /// `replacement`). realm-web sends `findOneAndDelete` as `findOneAndReplace` without an
    /// `update`: that is read as the delete it means.
    ///
    /// ```
    /// use bson::bson;
    /// use expanse::operation::{Operation, ServiceCall};
    /// let call = ServiceCall::parse("findOneAndReplace", &[bson!({
    ///     "database": "app", "collection": "notes", "filter": {"_id": 1}, "projection": {"title": 1},
    /// })])?;
    /// assert!(matches!(call.operation, Operation::FindOneAndDelete { .. }));
    /// let err = ServiceCall::parse("deleteMany", &[bson!({"database": "app", "collection": "notes"})]);
    /// assert_eq!(err.unwrap_err().to_string(), "deleteMany needs a filter");
    /// # Ok::<(), expanse::operation::OperationError>(())
    /// ```
    pub fn parse(name: &str, arguments: &[Bson]) -> Result<ServiceCall, OperationError> {
        let problem = |problem: &str| OperationError::ServiceCall {
            operation: name.to_owned(),
            problem: problem.to_owned(),
        };
        let [Bson::Document(given)] = arguments else {
            return Err(problem(
                "a service call takes one argument: a document naming the database and the collection",
            ));
        };
        let text = |key: &str| match given.get(key) {
            Some(Bson::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(problem(&format!("\"{key}\" must be a non-empty string"))),
        };
        let database = text("database")?;
        let collection = text("collection")?;
        let rest: Document = given
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "database" | "collection"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let deletes = name == "findOneAndReplace"
            && !rest.contains_key("update")
            && !rest.contains_key("replacement");
        let name = if deletes { "findOneAndDelete" } else { name };
        Ok(ServiceCall {
            database,
            collection,
            operation: Operation::from_named(name, &rest, Shape::ServiceCall)?,
        })
    }
}
