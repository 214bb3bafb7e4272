//! The options and results of guarded operations, as the SDK spells them.

use bson::{Bson, Document};

use crate::update::UpdateError;

/// `insertOne`'s result.
#[derive(Debug, Clone, PartialEq)]
pub struct InsertOneResult {
    /// The new document's `_id`.
    pub inserted_id: Bson,
}

/// `updateOne`/`updateMany`/`replaceOne`'s result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpdateResult {
    /// Documents the query matched.
    pub matched_count: u64,
    /// Documents that changed.
    pub modified_count: u64,
    /// The `_id` of the document an upsert inserted.
    pub upserted_id: Option<Bson>,
}

impl UpdateResult {
    /// The SDK's result document: `{matchedCount, modifiedCount, upsertedId?}` (counts are
    /// Int32 when they fit, as App Services returns them).
    pub fn to_document(&self) -> Document {
        use crate::operation::count_value;
        let mut d = bson::doc! {
            "matchedCount": count_value(self.matched_count),
            "modifiedCount": count_value(self.modified_count),
        };
        if let Some(id) = &self.upserted_id {
            d.insert("upsertedId", id.clone());
        }
        d
    }
}

/// Options of `findOneAndUpdate` / `findOneAndReplace` / `findOneAndDelete`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindOneAndOptions {
    /// Which matching document to take first.
    pub sort: Option<Document>,
    /// Projection of the returned document.
    pub projection: Option<Document>,
    /// Insert when nothing matches.
    pub upsert: bool,
    /// Return the document after the change (default: before).
    pub return_new_document: bool,
}

impl FindOneAndOptions {
    /// Reads `sort`, `projection`, `upsert` and `returnNewDocument` from an options document.
    pub fn from_document(options: &Document) -> FindOneAndOptions {
        FindOneAndOptions {
            sort: options.get_document("sort").ok().cloned(),
            projection: options.get_document("projection").ok().cloned(),
            upsert: options.get_bool("upsert").unwrap_or(false),
            return_new_document: options.get_bool("returnNewDocument").unwrap_or(false),
        }
    }
}

/// Options of `updateOne` / `updateMany` ([`GuardedCollection::update_one_with`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateOptions {
    /// Insert when nothing matches.
    pub upsert: bool,
    /// The conditions `$[<identifier>]` update paths select array elements with.
    pub array_filters: Vec<Document>,
}

impl UpdateOptions {
    /// Reads `upsert` and `arrayFilters` from an options document; `arrayFilters` must be an
    /// array of documents.
    ///
    /// ```
    /// use bson::doc;
    /// use expanse::guard::UpdateOptions;
    /// let o = UpdateOptions::from_document(&doc! {"upsert": true, "arrayFilters": [{"i": 0}]}).unwrap();
    /// assert_eq!((o.upsert, o.array_filters.len()), (true, 1));
    /// assert!(UpdateOptions::from_document(&doc! {"arrayFilters": {"i": 0}}).is_err());
    /// ```
    pub fn from_document(options: &Document) -> Result<UpdateOptions, UpdateError> {
        Ok(UpdateOptions {
            upsert: options.get_bool("upsert").unwrap_or(false),
            array_filters: array_filters_of(options)?,
        })
    }
}

/// The `arrayFilters` of an options document: an array of documents, or nothing.
fn array_filters_of(options: &Document) -> Result<Vec<Document>, UpdateError> {
    match options.get("arrayFilters") {
        None | Some(Bson::Null) => Ok(Vec::new()),
        Some(Bson::Array(items)) => items
            .iter()
            .map(|item| match item {
                Bson::Document(d) => Ok(d.clone()),
                _ => Err(UpdateError {
                    path: "arrayFilters".into(),
                    message: "each array filter must be a document".into(),
                }),
            })
            .collect(),
        Some(_) => Err(UpdateError {
            path: "arrayFilters".into(),
            message: "arrayFilters must be an array of documents".into(),
        }),
    }
}
