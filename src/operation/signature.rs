//! What each SDK collection operation takes, in each of the three shapes its arguments come
//! in: positional (`findOne(filter, projection, options)`: JavaScript functions), named as in
//! a fixture (`{"query": …, "projection": …}`), and named as in App Services' service call
//! (`{"query": …, "project": …}`, `{"filter": …}` for `findOneAnd…`). One table per shape, one
//! set of parameters for all of them.

/// The SDK's collection operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationName {
    /// `find`
    Find,
    /// `findOne`
    FindOne,
    /// `count`
    Count,
    /// `aggregate`
    Aggregate,
    /// `insertOne`
    InsertOne,
    /// `insertMany`
    InsertMany,
    /// `updateOne`
    UpdateOne,
    /// `updateMany`
    UpdateMany,
    /// `replaceOne`
    ReplaceOne,
    /// `deleteOne`
    DeleteOne,
    /// `deleteMany`
    DeleteMany,
    /// `findOneAndUpdate`
    FindOneAndUpdate,
    /// `findOneAndReplace`
    FindOneAndReplace,
    /// `findOneAndDelete`
    FindOneAndDelete,
}

impl OperationName {
    /// Every operation, in the SDK's documentation order.
    pub const ALL: [OperationName; 14] = [
        OperationName::Find,
        OperationName::FindOne,
        OperationName::Count,
        OperationName::Aggregate,
        OperationName::InsertOne,
        OperationName::InsertMany,
        OperationName::UpdateOne,
        OperationName::UpdateMany,
        OperationName::ReplaceOne,
        OperationName::DeleteOne,
        OperationName::DeleteMany,
        OperationName::FindOneAndUpdate,
        OperationName::FindOneAndReplace,
        OperationName::FindOneAndDelete,
    ];

    /// The SDK's name.
    ///
    /// ```
    /// use expanse::operation::OperationName;
    /// assert_eq!(OperationName::FindOneAndUpdate.as_str(), "findOneAndUpdate");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            OperationName::Find => "find",
            OperationName::FindOne => "findOne",
            OperationName::Count => "count",
            OperationName::Aggregate => "aggregate",
            OperationName::InsertOne => "insertOne",
            OperationName::InsertMany => "insertMany",
            OperationName::UpdateOne => "updateOne",
            OperationName::UpdateMany => "updateMany",
            OperationName::ReplaceOne => "replaceOne",
            OperationName::DeleteOne => "deleteOne",
            OperationName::DeleteMany => "deleteMany",
            OperationName::FindOneAndUpdate => "findOneAndUpdate",
            OperationName::FindOneAndReplace => "findOneAndReplace",
            OperationName::FindOneAndDelete => "findOneAndDelete",
        }
    }

    /// The operation of an SDK name (exact spelling).
    ///
    /// ```
    /// use expanse::operation::OperationName;
    /// assert_eq!(OperationName::parse("count"), Some(OperationName::Count));
    /// assert_eq!(OperationName::parse("distinct"), None);
    /// ```
    pub fn parse(name: &str) -> Option<OperationName> {
        OperationName::ALL.into_iter().find(|n| n.as_str() == name)
    }

    /// Whether the operation writes (its filter, when it has one, must be given).
    pub fn is_write(self) -> bool {
        !matches!(
            self,
            OperationName::Find
                | OperationName::FindOne
                | OperationName::Count
                | OperationName::Aggregate
        )
    }

    /// The parameters every shape must give (`insertOne`'s document, an update's update, …);
    /// a write's filter is each shape's own rule.
    pub fn required(self) -> &'static [Parameter] {
        self.signature().required
    }

    pub(crate) fn signature(self) -> &'static Signature {
        use OperationName as N;
        match self {
            N::Find => &FIND,
            N::FindOne => &FIND_ONE,
            N::Count => &COUNT,
            N::Aggregate => &AGGREGATE,
            N::InsertOne => &INSERT_ONE,
            N::InsertMany => &INSERT_MANY,
            N::UpdateOne | N::UpdateMany => &UPDATE,
            N::ReplaceOne => &REPLACE_ONE,
            N::DeleteOne | N::DeleteMany => &DELETE,
            N::FindOneAndUpdate => &FIND_ONE_AND_UPDATE,
            N::FindOneAndReplace => &FIND_ONE_AND_REPLACE,
            N::FindOneAndDelete => &FIND_ONE_AND_DELETE,
        }
    }
}

impl std::fmt::Display for OperationName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One argument of an operation, whatever the shape names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parameter {
    /// The query selecting documents.
    Filter,
    /// Which fields to return.
    Projection,
    /// The order.
    Sort,
    /// How many to skip.
    Skip,
    /// How many at most.
    Limit,
    /// Update operators.
    Update,
    /// A replacement document.
    Replacement,
    /// The document to insert.
    Document,
    /// The documents to insert.
    Documents,
    /// An aggregation pipeline.
    Pipeline,
    /// Insert when nothing matches.
    Upsert,
    /// The conditions of `$[<identifier>]` paths.
    ArrayFilters,
    /// Return the document after the change.
    ReturnNewDocument,
}

impl Parameter {
    /// The SDK's name of the parameter.
    pub fn name(self) -> &'static str {
        match self {
            Parameter::Filter => "filter",
            Parameter::Projection => "projection",
            Parameter::Sort => "sort",
            Parameter::Skip => "skip",
            Parameter::Limit => "limit",
            Parameter::Update => "update",
            Parameter::Replacement => "replacement",
            Parameter::Document => "document",
            Parameter::Documents => "documents",
            Parameter::Pipeline => "pipeline",
            Parameter::Upsert => "upsert",
            Parameter::ArrayFilters => "arrayFilters",
            Parameter::ReturnNewDocument => "returnNewDocument",
        }
    }

    /// What its value must be.
    pub fn kind(self) -> ParameterKind {
        match self {
            Parameter::Filter
            | Parameter::Projection
            | Parameter::Sort
            | Parameter::Replacement
            | Parameter::Document => ParameterKind::Document,
            Parameter::Update => ParameterKind::Update,
            Parameter::Documents | Parameter::Pipeline | Parameter::ArrayFilters => {
                ParameterKind::Documents
            }
            Parameter::Skip | Parameter::Limit => ParameterKind::Count,
            Parameter::Upsert | Parameter::ReturnNewDocument => ParameterKind::Flag,
        }
    }

    /// How an error says it is missing: "a filter", "an update".
    pub(crate) fn with_article(self) -> String {
        match self {
            Parameter::Documents | Parameter::ArrayFilters => self.name().to_owned(),
            Parameter::Update | Parameter::Upsert => format!("an {}", self.name()),
            _ => format!("a {}", self.name()),
        }
    }
}

/// What a parameter's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterKind {
    /// A document.
    Document,
    /// A document of update operators or a replacement, never a pipeline.
    Update,
    /// An array of documents.
    Documents,
    /// A non-negative whole number.
    Count,
    /// `true` or `false`.
    Flag,
}

/// A positional argument: a parameter, or the options document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// One parameter.
    Argument(Parameter),
    /// The options document, holding the parameters of [`Signature::options`].
    Options,
}

/// What one operation takes in each shape.
pub(crate) struct Signature {
    /// Positional arguments, in order.
    pub positional: &'static [Slot],
    /// The keys of the positional form's options document.
    pub options: &'static [Parameter],
    /// The keys of a fixture test.
    pub fixture: &'static [(&'static str, Parameter)],
    /// The keys of an App Services service call's argument document (aliases included).
    pub service: &'static [(&'static str, Parameter)],
    /// The parameters every shape must give (the filter of a write is the shape's own rule).
    pub required: &'static [Parameter],
}

use Parameter as P;
use Slot::{Argument as A, Options as O};

/// The filter, as the service call spells it (`query`, or `filter` as `findOneAnd…` does).
const SERVICE_FILTER: [(&str, Parameter); 2] = [("query", P::Filter), ("filter", P::Filter)];

static FIND: Signature = Signature {
    positional: &[A(P::Filter), A(P::Projection), O],
    options: &[P::Sort, P::Limit, P::Skip, P::Projection],
    fixture: &[
        ("query", P::Filter),
        ("sort", P::Sort),
        ("limit", P::Limit),
        ("skip", P::Skip),
        ("projection", P::Projection),
    ],
    service: &[
        SERVICE_FILTER[0],
        SERVICE_FILTER[1],
        ("project", P::Projection),
        ("projection", P::Projection),
        ("sort", P::Sort),
        ("limit", P::Limit),
        ("skip", P::Skip),
    ],
    required: &[],
};

static FIND_ONE: Signature = Signature {
    positional: &[A(P::Filter), A(P::Projection), O],
    options: &[P::Sort, P::Projection],
    fixture: &[
        ("query", P::Filter),
        ("sort", P::Sort),
        ("skip", P::Skip),
        ("projection", P::Projection),
    ],
    service: &[
        SERVICE_FILTER[0],
        SERVICE_FILTER[1],
        ("project", P::Projection),
        ("projection", P::Projection),
        ("sort", P::Sort),
        ("skip", P::Skip),
    ],
    required: &[],
};

static COUNT: Signature = Signature {
    positional: &[A(P::Filter), O],
    options: &[],
    fixture: &[("query", P::Filter)],
    service: &[SERVICE_FILTER[0], SERVICE_FILTER[1], ("limit", P::Limit)],
    required: &[],
};

static AGGREGATE: Signature = Signature {
    positional: &[A(P::Pipeline), O],
    options: &[],
    fixture: &[("pipeline", P::Pipeline)],
    service: &[("pipeline", P::Pipeline)],
    required: &[P::Pipeline],
};

static INSERT_ONE: Signature = Signature {
    positional: &[A(P::Document), O],
    options: &[],
    fixture: &[("document", P::Document)],
    service: &[("document", P::Document)],
    required: &[P::Document],
};

static INSERT_MANY: Signature = Signature {
    positional: &[A(P::Documents), O],
    options: &[],
    fixture: &[("documents", P::Documents)],
    service: &[("documents", P::Documents)],
    required: &[P::Documents],
};

static UPDATE: Signature = Signature {
    positional: &[A(P::Filter), A(P::Update), O],
    options: &[P::Upsert, P::ArrayFilters],
    fixture: &[
        ("query", P::Filter),
        ("update", P::Update),
        ("upsert", P::Upsert),
        ("arrayFilters", P::ArrayFilters),
    ],
    service: &[
        SERVICE_FILTER[0],
        SERVICE_FILTER[1],
        ("update", P::Update),
        ("upsert", P::Upsert),
        ("arrayFilters", P::ArrayFilters),
    ],
    required: &[P::Update],
};

static REPLACE_ONE: Signature = Signature {
    positional: &[A(P::Filter), A(P::Replacement), O],
    options: &[P::Upsert],
    fixture: &[
        ("query", P::Filter),
        ("replacement", P::Replacement),
        ("upsert", P::Upsert),
    ],
    service: &[
        SERVICE_FILTER[0],
        SERVICE_FILTER[1],
        ("replacement", P::Replacement),
        ("update", P::Replacement),
        ("upsert", P::Upsert),
    ],
    required: &[P::Replacement],
};

static DELETE: Signature = Signature {
    positional: &[A(P::Filter), O],
    options: &[],
    fixture: &[("query", P::Filter)],
    service: &[SERVICE_FILTER[0], SERVICE_FILTER[1]],
    required: &[],
};

static FIND_ONE_AND_UPDATE: Signature = Signature {
    positional: &[A(P::Filter), A(P::Update), O],
    options: &[
        P::Sort,
        P::Projection,
        P::Upsert,
        P::ReturnNewDocument,
        P::ArrayFilters,
    ],
    fixture: &[
        ("query", P::Filter),
        ("update", P::Update),
        ("sort", P::Sort),
        ("projection", P::Projection),
        ("upsert", P::Upsert),
        ("returnNewDocument", P::ReturnNewDocument),
        ("arrayFilters", P::ArrayFilters),
    ],
    service: &[
        SERVICE_FILTER[1],
        SERVICE_FILTER[0],
        ("update", P::Update),
        ("sort", P::Sort),
        ("projection", P::Projection),
        ("project", P::Projection),
        ("upsert", P::Upsert),
        ("returnNewDocument", P::ReturnNewDocument),
        ("arrayFilters", P::ArrayFilters),
    ],
    required: &[P::Update],
};

static FIND_ONE_AND_REPLACE: Signature = Signature {
    positional: &[A(P::Filter), A(P::Replacement), O],
    options: &[P::Sort, P::Projection, P::Upsert, P::ReturnNewDocument],
    fixture: &[
        ("query", P::Filter),
        ("replacement", P::Replacement),
        ("sort", P::Sort),
        ("projection", P::Projection),
        ("upsert", P::Upsert),
        ("returnNewDocument", P::ReturnNewDocument),
    ],
    service: &[
        SERVICE_FILTER[1],
        SERVICE_FILTER[0],
        ("update", P::Replacement),
        ("replacement", P::Replacement),
        ("sort", P::Sort),
        ("projection", P::Projection),
        ("project", P::Projection),
        ("upsert", P::Upsert),
        ("returnNewDocument", P::ReturnNewDocument),
    ],
    required: &[P::Replacement],
};

static FIND_ONE_AND_DELETE: Signature = Signature {
    positional: &[A(P::Filter), O],
    options: &[P::Sort, P::Projection],
    fixture: &[
        ("query", P::Filter),
        ("sort", P::Sort),
        ("projection", P::Projection),
    ],
    service: &[
        SERVICE_FILTER[1],
        SERVICE_FILTER[0],
        ("sort", P::Sort),
        ("projection", P::Projection),
        ("project", P::Projection),
    ],
    required: &[],
};

/// The keys a fixture test may give for `operation`, and the parameter each is.
pub fn fixture_parameters(operation: OperationName) -> &'static [(&'static str, Parameter)] {
    operation.signature().fixture
}
