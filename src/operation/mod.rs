//! The SDK's collection operations as one type: [`Operation`], read from (name, arguments) in
//! each shape App Services gives them, performed by
//! [`GuardedCollection::perform`](crate::guard::GuardedCollection::perform), answered with an
//! [`OperationResult`] that encodes as App Services returns it. JavaScript functions, fixtures,
//! the Rust [`Context`](crate::functions::Context) and service calls over HTTP all go through
//! here, so an operation takes the same arguments and gives the same result whoever calls it.
//!
//! ```
//! use bson::{bson, doc};
//! use expanse::operation::{Operation, ServiceCall};
//! // `collection.findOne({owner: "u1"}, {title: 1})` in a function…
//! let positional = Operation::from_positional(
//!     "findOne",
//!     vec![bson!({"owner": "u1"}), bson!({"title": 1})],
//! )?;
//! // …and the same call as realm-web sends it.
//! let call = ServiceCall::parse(
//!     "findOne",
//!     &[bson!({"database": "app", "collection": "notes", "query": {"owner": "u1"}, "project": {"title": 1}})],
//! )?;
//! assert_eq!(call.operation, positional);
//! # Ok::<(), expanse::operation::OperationError>(())
//! ```

mod error;
mod parse;
mod result;
mod service;
mod signature;

use bson::Document;

pub use error::OperationError;
pub use parse::Shape;
pub(crate) use result::count_value;
pub use result::OperationResult;
pub use service::ServiceCall;
pub use signature::{fixture_parameters, OperationName, Parameter, ParameterKind};

use crate::guard::{FindOneAndOptions, UpdateOptions};
use crate::store::FindOptions;

/// One SDK collection operation with its arguments, read and typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// `find(filter, projection, {sort, limit, skip})`: the matching documents.
    Find {
        /// The query.
        filter: Document,
        /// `sort`, `skip`, `limit` (none for 0) and `projection`.
        options: FindOptions,
    },
    /// `findOne(filter, projection, {sort})`: the first matching document.
    FindOne {
        /// The query.
        filter: Document,
        /// `sort`, `skip` and `projection` (the limit is 1).
        options: FindOptions,
    },
    /// `count(filter)`: how many documents match (at most `limit`).
    Count {
        /// The query.
        filter: Document,
        /// Count at most this many (none for 0).
        limit: Option<u64>,
    },
    /// `aggregate(pipeline)`.
    Aggregate {
        /// The stages.
        pipeline: Vec<Document>,
    },
    /// `insertOne(document)`.
    InsertOne {
        /// The document (an `_id` is generated when missing).
        document: Document,
    },
    /// `insertMany(documents)`: all or none.
    InsertMany {
        /// The documents.
        documents: Vec<Document>,
    },
    /// `updateOne(filter, update, {upsert, arrayFilters})`.
    UpdateOne {
        /// The query.
        filter: Document,
        /// Update operators (or a replacement).
        update: Document,
        /// `upsert`, `arrayFilters`.
        options: UpdateOptions,
    },
    /// `updateMany(filter, update, {upsert, arrayFilters})`.
    UpdateMany {
        /// The query.
        filter: Document,
        /// Update operators.
        update: Document,
        /// `upsert`, `arrayFilters`.
        options: UpdateOptions,
    },
    /// `replaceOne(filter, replacement, {upsert})`.
    ReplaceOne {
        /// The query.
        filter: Document,
        /// The new document.
        replacement: Document,
        /// Insert when nothing matches.
        upsert: bool,
    },
    /// `deleteOne(filter)`.
    DeleteOne {
        /// The query.
        filter: Document,
    },
    /// `deleteMany(filter)`.
    DeleteMany {
        /// The query.
        filter: Document,
    },
    /// `findOneAndUpdate(filter, update, {sort, projection, upsert, returnNewDocument, arrayFilters})`.
    FindOneAndUpdate {
        /// The query.
        filter: Document,
        /// Update operators (or a replacement).
        update: Document,
        /// `sort`, `projection`, `upsert`, `returnNewDocument`.
        options: FindOneAndOptions,
        /// `arrayFilters`.
        array_filters: Vec<Document>,
    },
    /// `findOneAndReplace(filter, replacement, {sort, projection, upsert, returnNewDocument})`.
    FindOneAndReplace {
        /// The query.
        filter: Document,
        /// The new document.
        replacement: Document,
        /// `sort`, `projection`, `upsert`, `returnNewDocument`.
        options: FindOneAndOptions,
    },
    /// `findOneAndDelete(filter, {sort, projection})`.
    FindOneAndDelete {
        /// The query.
        filter: Document,
        /// `sort`, `projection` (`upsert` and `returnNewDocument` are never set).
        options: FindOneAndOptions,
    },
}

impl Operation {
    /// Which operation this is.
    pub fn name(&self) -> OperationName {
        match self {
            Operation::Find { .. } => OperationName::Find,
            Operation::FindOne { .. } => OperationName::FindOne,
            Operation::Count { .. } => OperationName::Count,
            Operation::Aggregate { .. } => OperationName::Aggregate,
            Operation::InsertOne { .. } => OperationName::InsertOne,
            Operation::InsertMany { .. } => OperationName::InsertMany,
            Operation::UpdateOne { .. } => OperationName::UpdateOne,
            Operation::UpdateMany { .. } => OperationName::UpdateMany,
            Operation::ReplaceOne { .. } => OperationName::ReplaceOne,
            Operation::DeleteOne { .. } => OperationName::DeleteOne,
            Operation::DeleteMany { .. } => OperationName::DeleteMany,
            Operation::FindOneAndUpdate { .. } => OperationName::FindOneAndUpdate,
            Operation::FindOneAndReplace { .. } => OperationName::FindOneAndReplace,
            Operation::FindOneAndDelete { .. } => OperationName::FindOneAndDelete,
        }
    }

    /// Reads an SDK call in its positional form, as JavaScript functions make it:
    /// `findOne(filter, projection, options)`, `updateOne(filter, update, options)`, … Every
    /// argument must be what the operation takes and every option is applied or refused by
    /// name; `null` and `undefined` count as not given. Writes need their filter.
    ///
    /// ```
    /// use bson::{bson, doc};
    /// use expanse::operation::Operation;
    /// let op = Operation::from_positional("updateOne", vec![
    ///     bson!({"_id": 1}), bson!({"$set": {"a": 1}}), bson!({"upsert": true}),
    /// ])?;
    /// assert!(matches!(op, Operation::UpdateOne { ref options, .. } if options.upsert));
    /// let refused = Operation::from_positional("find", vec![bson!({}), bson!(null), bson!({"collation": {}})]);
    /// assert_eq!(refused.unwrap_err().to_string(), "find: the option \"collation\" is not supported");
    /// # Ok::<(), expanse::operation::OperationError>(())
    /// ```
    pub fn from_positional(
        name: &str,
        arguments: Vec<bson::Bson>,
    ) -> Result<Operation, OperationError> {
        parse::positional(name, arguments)
    }

    /// Reads an operation whose arguments are named in one document, in `shape`: a fixture
    /// test's keys ([`Shape::Fixture`]) or an App Services service call's
    /// ([`Shape::ServiceCall`]; see [`ServiceCall::parse`] for the whole call). Every key must
    /// be one the operation takes.
    ///
    /// ```
    /// use bson::doc;
    /// use expanse::operation::{Operation, Shape};
    /// let op = Operation::from_named("find", &doc! {"query": {"a": 1}, "limit": 2}, Shape::Fixture)?;
    /// assert!(matches!(op, Operation::Find { ref options, .. } if options.limit == Some(2)));
    /// # Ok::<(), expanse::operation::OperationError>(())
    /// ```
    pub fn from_named(
        name: &str,
        arguments: &Document,
        shape: Shape,
    ) -> Result<Operation, OperationError> {
        parse::named(name, arguments, shape)
    }
}
