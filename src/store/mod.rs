//! Where documents live: the [`Store`] trait, the embedded [`MemoryStore`], and (with the
//! official driver) MongoDB.
//!
//! Stores know nothing of rules. Every write goes through [`Store::apply`], which applies a
//! batch atomically and only if each pre-image is still the stored document, so a decision made
//! on a document can never be applied to a different version of it.

mod aggregate;
mod changes;
mod error;
mod field_guard;
mod memory;
mod mongo;
mod stream;

use std::fmt;
use std::future::Future;

use bson::{Bson, Document};

pub(crate) use aggregate::Pipeline;
pub use aggregate::{run_pipeline, SUPPORTED_STAGES};
pub use changes::{ChangeStream, ChangeStreams, WatchError, WatchOptions, MEMORY_LOG_CAPACITY};
pub use error::StoreError;
pub use memory::MemoryStore;
pub(crate) use mongo::map_error as mongo_error;
pub use mongo::{MongoStore, WriteGuard};
pub use stream::DocumentStream;

use crate::limits::{self, LimitError};
use crate::query::QueryError;

/// A database and collection.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Namespace {
    /// Database name.
    pub database: String,
    /// Collection name.
    pub collection: String,
}

impl Namespace {
    /// `db`.`coll`.
    pub fn new(database: impl Into<String>, collection: impl Into<String>) -> Namespace {
        Namespace {
            database: database.into(),
            collection: collection.into(),
        }
    }

    /// Parses `db.coll` (the collection may contain dots).
    ///
    /// ```
    /// use expanse::store::Namespace;
    /// assert_eq!(Namespace::parse("app.notes.v2").unwrap(), Namespace::new("app", "notes.v2"));
    /// assert!(Namespace::parse("nodot").is_none());
    /// ```
    pub fn parse(text: &str) -> Option<Namespace> {
        let (db, coll) = text.split_once('.')?;
        (!db.is_empty() && !coll.is_empty()).then(|| Namespace::new(db, coll))
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.database, self.collection)
    }
}

/// Options of a find.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindOptions {
    /// Sort specification.
    pub sort: Option<Document>,
    /// Documents to skip.
    pub skip: u64,
    /// Most documents to return.
    pub limit: Option<u64>,
    /// Projection.
    pub projection: Option<Document>,
}

impl FindOptions {
    /// Reads `sort`, `skip`, `limit` (0 means none) and `projection` from an options document,
    /// as the SDK and fixtures spell them.
    ///
    /// ```
    /// use bson::doc;
    /// use expanse::store::FindOptions;
    /// let o = FindOptions::from_document(&doc! {"sort": {"n": -1}, "limit": 2, "skip": 0});
    /// assert_eq!((o.limit, o.skip), (Some(2), 0));
    /// ```
    pub fn from_document(options: &Document) -> FindOptions {
        FindOptions {
            sort: options.get_document("sort").ok().cloned(),
            skip: options.get("skip").and_then(count_of).unwrap_or(0),
            limit: options.get("limit").and_then(count_of).filter(|l| *l > 0),
            projection: options.get_document("projection").ok().cloned(),
        }
    }
}

/// A non-negative whole number (`skip`, `limit`, …), whatever its numeric BSON type.
pub fn count_of(value: &Bson) -> Option<u64> {
    match value {
        Bson::Int32(i) if *i >= 0 => Some(*i as u64),
        Bson::Int64(i) if *i >= 0 => Some(*i as u64),
        Bson::Double(d) if *d >= 0.0 && d.fract() == 0.0 && d.is_finite() => Some(*d as u64),
        _ => None,
    }
}

/// One write of an atomic batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Insert a new document (it must have an `_id`).
    Insert(Document),
    /// Replace `pre` (which must still be stored exactly so) with `post`.
    Replace {
        /// The document as the decision saw it.
        pre: Document,
        /// Its new version (same `_id`).
        post: Document,
    },
    /// Delete `pre` (which must still be stored exactly so).
    Delete {
        /// The document as the decision saw it.
        pre: Document,
    },
}

/// A place documents live. The embedded [`MemoryStore`] and the MongoDB store implement it and
/// give the same answers.
pub trait Store: Send + Sync {
    /// Documents matching `filter`, sorted, skipped, limited and projected.
    fn find(
        &self,
        ns: &Namespace,
        filter: &Document,
        options: &FindOptions,
    ) -> impl Future<Output = Result<Vec<Document>, StoreError>> + Send;

    /// How many documents match.
    fn count(
        &self,
        ns: &Namespace,
        filter: &Document,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Runs an aggregation pipeline.
    fn aggregate(
        &self,
        ns: &Namespace,
        pipeline: &[Document],
    ) -> impl Future<Output = Result<Vec<Document>, StoreError>> + Send;

    /// Runs an aggregation pipeline and hands its documents over one at a time (a server
    /// streams them from its cursor). The default collects [`Store::aggregate`]'s result.
    fn aggregate_stream(
        &self,
        ns: &Namespace,
        pipeline: &[Document],
    ) -> impl Future<Output = Result<DocumentStream, StoreError>> + Send {
        async move {
            self.aggregate(ns, pipeline)
                .await
                .map(DocumentStream::from_documents)
        }
    }

    /// Applies writes atomically: all or none, and only if every pre-image is current
    /// ([`StoreError::Conflict`] otherwise).
    fn apply(
        &self,
        ns: &Namespace,
        writes: Vec<Write>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Like [`Store::apply`], for writes decided by rules that read only the fields in
    /// `watched`: a pre-image is current while each of its own fields is unchanged and each
    /// watched field it lacks is still missing. A store may then let an unwatched field arrive
    /// concurrently, and must keep it: only the fields that differ between pre- and
    /// post-image are written. The default is the stricter [`Store::apply`].
    fn apply_watching(
        &self,
        ns: &Namespace,
        writes: Vec<Write>,
        watched: &crate::expr::Footprint,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = watched;
        self.apply(ns, writes)
    }

    /// Applies `update` (operators, as the caller sent them) to the first document matching
    /// `filter`, in one atomic step on the server, and returns `(matched, modified)`; `None`
    /// when the store does not offer this (the caller then reads, decides and writes). Used
    /// when the rules themselves are part of `filter`.
    fn update_one_where(
        &self,
        ns: &Namespace,
        filter: &Document,
        update: &Document,
    ) -> impl Future<Output = Result<Option<(u64, u64)>, StoreError>> + Send {
        let _ = (ns, filter, update);
        async { Ok(None) }
    }

    /// Creates a (non-unique) index on the given fields. The default does nothing (the embedded
    /// store scans).
    fn create_index(
        &self,
        ns: &Namespace,
        fields: &[String],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (ns, fields);
        async { Ok(()) }
    }

    /// Creates a TTL index: a document is removed by the server once the date in `field` is
    /// past. The default does nothing: a store without TTL indexes keeps expired documents,
    /// and whoever reads them must check the date (Expanse's sessions and tokens do).
    fn create_ttl_index(
        &self,
        ns: &Namespace,
        field: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (ns, field);
        async { Ok(()) }
    }

    /// Creates a unique index on the given fields.
    fn create_unique_index(
        &self,
        ns: &Namespace,
        fields: &[String],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Refuses documents nested deeper than [`limits::MAX_DEPTH`] levels, naming the path that
/// goes too deep; every store checks what it is asked to write with it.
///
/// ```
/// use bson::{doc, Bson};
/// use expanse::store::check_documents;
/// let mut deep = Bson::Int32(1);
/// for _ in 0..100 {
///     deep = Bson::Document(doc! {"a": deep});
/// }
/// let err = check_documents(&[doc! {"_id": 1}, doc! {"_id": 2, "x": deep}]).unwrap_err();
/// assert!(err.to_string().starts_with("document refused: x.a.a"), "{err}");
/// ```
pub fn check_documents(documents: &[Document]) -> Result<(), StoreError> {
    for doc in documents {
        limits::check_document_depth(doc)?;
    }
    Ok(())
}

/// The documents a batch of writes would store, checked by [`check_documents`].
fn check_writes(writes: &[Write]) -> Result<(), StoreError> {
    for write in writes {
        match write {
            Write::Insert(doc) | Write::Replace { post: doc, .. } => {
                limits::check_document_depth(doc)?
            }
            Write::Delete { .. } => {}
        }
    }
    Ok(())
}

/// Refuses a find's filter, sort or projection past MongoDB's nesting limits (for a store
/// that sends them to a server as they are; the embedded store's parsers check the same).
fn check_find(filter: &Document, options: &FindOptions) -> Result<(), QueryError> {
    crate::query::check_limits(filter)?;
    for spec in [&options.sort, &options.projection].into_iter().flatten() {
        check_spec(spec)?;
    }
    Ok(())
}

/// A sort or projection document: its paths and its nesting.
pub(crate) fn check_spec(spec: &Document) -> Result<(), LimitError> {
    limits::check_document_depth(spec)?;
    spec.keys().try_for_each(|k| limits::check_path(k))
}

/// Refuses a pipeline past MongoDB's nesting limits: each stage's nesting, and the paths of
/// `$match`, `$sort` and `$project` stages.
pub(crate) fn check_pipeline(pipeline: &[Document]) -> Result<(), LimitError> {
    for stage in pipeline {
        limits::check_document_depth(stage)?;
        match stage.iter().next() {
            Some((name, Bson::Document(spec))) if name == "$match" => {
                crate::query::check_limits(spec)?
            }
            Some((name, Bson::Document(spec))) if name == "$sort" || name == "$project" => {
                check_spec(spec)?
            }
            _ => {}
        }
    }
    Ok(())
}

/// A new `_id` when a document has none (as drivers do), placed first.
pub fn ensure_id(doc: Document) -> Document {
    if doc.contains_key("_id") {
        return doc;
    }
    let mut with_id = Document::new();
    with_id.insert("_id", Bson::ObjectId(bson::oid::ObjectId::new()));
    with_id.extend(doc);
    with_id
}
