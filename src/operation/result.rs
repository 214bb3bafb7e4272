//! What an operation answers, and its encoding as App Services returns it.

use bson::{doc, Bson, Document};

use crate::guard::UpdateResult;

/// The result of [`GuardedCollection::perform`](crate::guard::GuardedCollection::perform).
#[derive(Debug, Clone, PartialEq)]
pub enum OperationResult {
    /// `find`, `aggregate`: the documents.
    Documents(Vec<Document>),
    /// `findOne`, `findOneAnd…`: the document, or none.
    Document(Option<Document>),
    /// `count`.
    Count(u64),
    /// `insertOne`: the new `_id`.
    InsertOne {
        /// The `_id` of the inserted document.
        inserted_id: Bson,
    },
    /// `insertMany`: the new `_id`s, in order.
    InsertMany {
        /// The `_id`s of the inserted documents.
        inserted_ids: Vec<Bson>,
    },
    /// `updateOne`, `updateMany`, `replaceOne`.
    Update(UpdateResult),
    /// `deleteOne`, `deleteMany`.
    Delete {
        /// How many documents were deleted.
        deleted_count: u64,
    },
}

/// A count as App Services returns it: a number (an Int32 when it fits).
///
/// ```
/// use bson::Bson;
/// assert_eq!(expanse::operation::OperationResult::Count(3).to_bson(), Bson::Int32(3));
/// ```
pub(crate) fn count_value(n: u64) -> Bson {
    i32::try_from(n)
        .map(Bson::Int32)
        .unwrap_or_else(|_| Bson::Int64(i64::try_from(n).unwrap_or(i64::MAX)))
}

impl OperationResult {
    /// The result as App Services returns it: the documents, the document or `null`, a number,
    /// `{insertedId}`, `{insertedIds}`, `{matchedCount, modifiedCount, upsertedId?}`,
    /// `{deletedCount}`.
    ///
    /// ```
    /// use bson::{bson, Bson};
    /// use expanse::operation::OperationResult;
    /// let r = OperationResult::Delete { deleted_count: 2 };
    /// assert_eq!(r.to_bson(), bson!({"deletedCount": 2}));
    /// assert_eq!(OperationResult::Document(None).to_bson(), Bson::Null);
    /// ```
    pub fn to_bson(&self) -> Bson {
        match self {
            OperationResult::Documents(docs) => {
                Bson::Array(docs.iter().cloned().map(Bson::Document).collect())
            }
            OperationResult::Document(doc) => doc.clone().map_or(Bson::Null, Bson::Document),
            OperationResult::Count(n) => count_value(*n),
            OperationResult::InsertOne { inserted_id } => {
                Bson::Document(doc! {"insertedId": inserted_id.clone()})
            }
            OperationResult::InsertMany { inserted_ids } => {
                Bson::Document(doc! {"insertedIds": inserted_ids.clone()})
            }
            OperationResult::Update(r) => Bson::Document(r.to_document()),
            OperationResult::Delete { deleted_count } => {
                Bson::Document(doc! {"deletedCount": count_value(*deleted_count)})
            }
        }
    }

    /// The documents of `find` and `aggregate` (`None` for other results).
    pub fn into_documents(self) -> Option<Vec<Document>> {
        match self {
            OperationResult::Documents(docs) => Some(docs),
            _ => None,
        }
    }

    /// The document of `findOne` and `findOneAnd…` (`None` for other results).
    pub fn into_document(self) -> Option<Option<Document>> {
        match self {
            OperationResult::Document(doc) => Some(doc),
            _ => None,
        }
    }

    /// A count: `count`'s, or `deletedCount` (`None` for other results).
    pub fn count(&self) -> Option<u64> {
        match self {
            OperationResult::Count(n) => Some(*n),
            OperationResult::Delete { deleted_count } => Some(*deleted_count),
            _ => None,
        }
    }

    /// The result of an update or replacement (`None` for other results).
    pub fn into_update(self) -> Option<UpdateResult> {
        match self {
            OperationResult::Update(r) => Some(r),
            _ => None,
        }
    }

    /// The inserted `_id`s of `insertOne` and `insertMany` (`None` for other results).
    pub fn into_inserted_ids(self) -> Option<Vec<Bson>> {
        match self {
            OperationResult::InsertOne { inserted_id } => Some(vec![inserted_id]),
            OperationResult::InsertMany { inserted_ids } => Some(inserted_ids),
            _ => None,
        }
    }
}
