//! The MongoDB store, on the official driver.

use std::time::Duration;

use bson::{doc, Bson, Document, RawDocumentBuf};
use futures_util::TryStreamExt;
use mongodb::error::{Error as DriverError, ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, IndexModel};

use super::field_guard::{changed_fields_update, field_guard};
use super::{
    check_find, check_pipeline, check_writes, FindOptions, Namespace, Store, StoreError, Write,
};
use crate::expr::Footprint;
use crate::query::conjunction::identical_documents;
use crate::query::QueryError;

/// Documents in a MongoDB deployment (6.0 or later), through the official driver.
///
/// Writes are applied only to the document versions rules were checked on: a single write is
/// one conditional write (see [`WriteGuard`]); several writes run in a transaction and are
/// rolled back if any pre-image changed.
#[derive(Clone, Debug)]
pub struct MongoStore {
    client: Client,
    database_prefix: String,
    guard: WriteGuard,
}

/// How a write is held to the document version the rules were checked on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum WriteGuard {
    /// A conditional write, one round trip, the default. Written through
    /// [`Store::apply_watching`] for rules that read named fields only, the filter is `_id` plus
    /// the pre-image's fields in plain query operators and the update carries the changed fields
    /// (any server plans it on `_id`); otherwise the filter is `_id` plus the whole pre-image
    /// (`$expr`) and the post-image replaces the document.
    #[default]
    ConditionalFilter,
    /// A transaction that reads the document by `_id`, compares it with the pre-image, and writes
    /// by `_id`; a concurrent write makes it conflict and retry. Three round trips (find, write,
    /// commit), but only `_id` lookups (for servers that do not plan `$expr` with an index).
    /// Needs a replica set (transactions). One findAndModify instead of find + write would save
    /// a round trip on MongoDB, but the test server plans findAndModify as a collection scan
    /// (580 ms against 1.8 ms on 100 000 documents), so it is not used.
    Transaction,
}

/// Maps a driver error to a store error.
/// The server's duplicate-key message split into namespace, index and key (the key is kept out
/// of the error's text).
fn duplicate_key(message: &str) -> StoreError {
    let after = |label: &str| {
        message.split_once(label).map(|(_, rest)| {
            rest.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
    };
    StoreError::DuplicateKey {
        namespace: after("collection: ").unwrap_or_default(),
        index: after("index: ").unwrap_or_default(),
        key: message
            .split_once("dup key: ")
            .map(|(_, key)| key.to_owned())
            .unwrap_or_default(),
    }
}

pub(crate) fn map_error(e: DriverError) -> StoreError {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == 11000 => {
            duplicate_key(&w.message)
        }
        ErrorKind::Command(c) if c.code == 11000 => duplicate_key(&c.message),
        ErrorKind::Command(c) if matches!(c.code, 2 | 9 | 14 | 51024 | 17287) => {
            StoreError::Query(crate::query::QueryError {
                path: String::new(),
                message: c.message.clone(),
            })
        }
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. } => StoreError::Unavailable(e.to_string()),
        _ if e.contains_label("TransientTransactionError") => StoreError::Conflict,
        ErrorKind::Command(c) if c.code == 112 => StoreError::Conflict,
        _ => StoreError::Other(e.to_string()),
    }
}

impl MongoStore {
    /// Connects (with a 5 s server selection timeout) and checks the server answers a ping.
    pub async fn connect(uri: &str) -> Result<MongoStore, StoreError> {
        let mut options = ClientOptions::parse(uri)
            .await
            .map_err(|e| StoreError::Unavailable(format!("invalid MongoDB URI: {e}")))?;
        if options.server_selection_timeout.is_none() {
            options.server_selection_timeout = Some(Duration::from_secs(5));
        }
        options.app_name.get_or_insert_with(|| "expanse".into());
        let client = Client::with_options(options).map_err(map_error)?;
        client
            .database("admin")
            .run_command(doc! {"ping": 1})
            .await
            .map_err(map_error)?;
        Ok(MongoStore {
            client,
            database_prefix: String::new(),
            guard: WriteGuard::default(),
        })
    }

    /// Connects to the URI in the `MONGODB_URI` environment variable.
    pub async fn from_env() -> Result<MongoStore, StoreError> {
        let uri = std::env::var("MONGODB_URI")
            .map_err(|_| StoreError::Unavailable("MONGODB_URI is not set".into()))?;
        MongoStore::connect(&uri).await
    }

    /// The same deployment with every database name prefixed (isolated scratch space for tests).
    pub fn with_database_prefix(&self, prefix: impl Into<String>) -> MongoStore {
        MongoStore {
            client: self.client.clone(),
            database_prefix: prefix.into(),
            guard: self.guard,
        }
    }

    /// The same store with another write guard.
    pub fn with_write_guard(mut self, guard: WriteGuard) -> MongoStore {
        self.guard = guard;
        self
    }

    /// The driver client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The physical database name for a namespace.
    pub fn database_name(&self, ns: &Namespace) -> String {
        format!("{}{}", self.database_prefix, ns.database)
    }

    /// The prefix before every database name (empty unless [`MongoStore::with_database_prefix`]).
    pub fn database_prefix(&self) -> &str {
        &self.database_prefix
    }

    fn collection(&self, ns: &Namespace) -> Collection<Document> {
        self.client
            .database(&self.database_name(ns))
            .collection(&ns.collection)
    }

    /// The collection read as encoded documents, so each is checked before it is decoded
    /// ([`decoded`]).
    fn raw_collection(&self, ns: &Namespace) -> Collection<RawDocumentBuf> {
        self.client
            .database(&self.database_name(ns))
            .collection(&ns.collection)
    }

    /// Drops every database this store's prefix owns (only with a non-empty prefix).
    pub async fn drop_prefixed_databases(&self) -> Result<(), StoreError> {
        if self.database_prefix.is_empty() {
            return Ok(());
        }
        let names = self.client.list_database_names().await.map_err(map_error)?;
        for name in names
            .into_iter()
            .filter(|n| n.starts_with(&self.database_prefix))
        {
            self.client
                .database(&name)
                .drop()
                .await
                .map_err(map_error)?;
        }
        Ok(())
    }
}

impl MongoStore {
    /// [`WriteGuard::Transaction`]: read each target by `_id` in a transaction, compare, write.
    async fn apply_read_compare(
        &self,
        coll: &Collection<Document>,
        writes: Vec<Write>,
    ) -> Result<(), StoreError> {
        let raw = coll.clone_with_type::<RawDocumentBuf>();
        let mut session = self.client.start_session().await.map_err(map_error)?;
        session.start_transaction().await.map_err(map_error)?;
        for write in writes {
            let step: Result<bool, DriverError> = async {
                match write {
                    Write::Insert(doc) => coll
                        .insert_one(super::ensure_id(doc))
                        .session(&mut session)
                        .await
                        .map(|_| true),
                    Write::Replace { pre, post } => {
                        let id = pre.get("_id").cloned().unwrap_or(Bson::Null);
                        let current = raw
                            .find_one(doc! {"_id": {"$eq": id.clone()}})
                            .session(&mut session)
                            .await?;
                        if !still(current, &pre) {
                            return Ok(false);
                        }
                        coll.replace_one(doc! {"_id": {"$eq": id}}, post)
                            .session(&mut session)
                            .await
                            .map(|r| r.matched_count == 1)
                    }
                    Write::Delete { pre } => {
                        let id = pre.get("_id").cloned().unwrap_or(Bson::Null);
                        let current = raw
                            .find_one(doc! {"_id": {"$eq": id.clone()}})
                            .session(&mut session)
                            .await?;
                        if !still(current, &pre) {
                            return Ok(false);
                        }
                        coll.delete_one(doc! {"_id": {"$eq": id}})
                            .session(&mut session)
                            .await
                            .map(|r| r.deleted_count == 1)
                    }
                }
            }
            .await;
            settle(&mut session, step).await?;
        }
        session.commit_transaction().await.map_err(map_error)
    }
}

/// A document as the server returned it, decoded once it is known to be within MongoDB's
/// nesting limit (decoding is recursive; a document stored past the limit by another client
/// is refused, not decoded).
pub(super) fn decoded(raw: &RawDocumentBuf) -> Result<Document, StoreError> {
    crate::limits::check_raw_document_depth(raw).map_err(StoreError::StoredPastLimit)?;
    Document::try_from(raw.as_ref()).map_err(|e| StoreError::Other(e.to_string()))
}

/// Whether the document read back is still `pre`, as stored bytes (a NaN is the same as itself;
/// a document past the nesting limit is never `pre`).
fn still(current: Option<RawDocumentBuf>, pre: &Document) -> bool {
    current.is_some_and(|raw| decoded(&raw).is_ok_and(|doc| identical_documents(&doc, pre)))
}

/// Every document of a cursor, each through [`decoded`].
async fn collect_decoded(
    cursor: mongodb::Cursor<RawDocumentBuf>,
) -> Result<Vec<Document>, StoreError> {
    let raw: Vec<RawDocumentBuf> = cursor.try_collect().await.map_err(map_error)?;
    raw.iter().map(decoded).collect()
}

/// One step of a transaction: on success it goes on; a step that found its document changed
/// (`false`) or failed aborts the transaction.
async fn settle(
    session: &mut mongodb::ClientSession,
    step: Result<bool, DriverError>,
) -> Result<(), StoreError> {
    let outcome = match step {
        Ok(true) => return Ok(()),
        Ok(false) => StoreError::Conflict,
        Err(e) => map_error(e),
    };
    let _ = session.abort_transaction().await;
    Err(outcome)
}

/// A filter that matches the document only while it is exactly `pre`.
fn exact(pre: &Document) -> Document {
    let id = pre.get("_id").cloned().unwrap_or(Bson::Null);
    doc! {"_id": {"$eq": id}, "$expr": {"$eq": ["$$ROOT", {"$literal": pre.clone()}]}}
}

/// One write as the server receives it under [`WriteGuard::ConditionalFilter`].
enum Guarded {
    Insert(Document),
    /// The changed fields, conditional on the pre-image's fields ([`field_guard`]).
    Update {
        filter: Document,
        update: Document,
    },
    /// The whole post-image, conditional on the whole pre-image ([`exact`]).
    Replace {
        filter: Document,
        post: Document,
    },
    Delete {
        filter: Document,
    },
}

/// Holds a write to its pre-image: by field conditions and changed fields where the rules'
/// footprint allows (the server plans it on `_id`), by the whole pre-image otherwise.
fn guarded(write: Write, watched: &Footprint) -> Guarded {
    match write {
        Write::Insert(doc) => Guarded::Insert(super::ensure_id(doc)),
        Write::Replace { pre, post } => match (
            field_guard(&pre, watched),
            changed_fields_update(&pre, &post),
        ) {
            (Some(filter), Some(update)) => Guarded::Update { filter, update },
            _ => Guarded::Replace {
                filter: exact(&pre),
                post,
            },
        },
        Write::Delete { pre } => Guarded::Delete {
            filter: field_guard(&pre, watched).unwrap_or_else(|| exact(&pre)),
        },
    }
}

fn matched_one(count: u64) -> Result<(), StoreError> {
    if count == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

impl Store for MongoStore {
    async fn find(
        &self,
        ns: &Namespace,
        filter: &Document,
        options: &FindOptions,
    ) -> Result<Vec<Document>, StoreError> {
        check_find(filter, options)?;
        let collection = self.raw_collection(ns);
        let mut find = collection.find(filter.clone());
        if let Some(sort) = &options.sort {
            find = find.sort(sort.clone());
        }
        if options.skip > 0 {
            find = find.skip(options.skip);
        }
        if let Some(limit) = options.limit {
            find = find.limit(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        if let Some(projection) = &options.projection {
            find = find.projection(projection.clone());
        }
        collect_decoded(find.await.map_err(map_error)?).await
    }

    async fn count(&self, ns: &Namespace, filter: &Document) -> Result<u64, StoreError> {
        crate::query::check_limits(filter).map_err(QueryError::from)?;
        self.collection(ns)
            .count_documents(filter.clone())
            .await
            .map_err(map_error)
    }

    async fn aggregate(
        &self,
        ns: &Namespace,
        pipeline: &[Document],
    ) -> Result<Vec<Document>, StoreError> {
        check_pipeline(pipeline).map_err(QueryError::from)?;
        let cursor = self
            .raw_collection(ns)
            .aggregate(pipeline.to_vec())
            .with_type::<RawDocumentBuf>()
            .await
            .map_err(map_error)?;
        collect_decoded(cursor).await
    }

    async fn aggregate_stream(
        &self,
        ns: &Namespace,
        pipeline: &[Document],
    ) -> Result<super::DocumentStream, StoreError> {
        check_pipeline(pipeline).map_err(QueryError::from)?;
        let cursor = self
            .raw_collection(ns)
            .aggregate(pipeline.to_vec())
            .with_type::<RawDocumentBuf>()
            .await
            .map_err(map_error)?;
        Ok(super::DocumentStream::from_cursor(cursor))
    }

    async fn apply(&self, ns: &Namespace, writes: Vec<Write>) -> Result<(), StoreError> {
        self.apply_watching(ns, writes, &Footprint::whole()).await
    }

    async fn apply_watching(
        &self,
        ns: &Namespace,
        writes: Vec<Write>,
        watched: &Footprint,
    ) -> Result<(), StoreError> {
        check_writes(&writes)?;
        let coll = self.collection(ns);
        if self.guard == WriteGuard::Transaction {
            return self.apply_read_compare(&coll, writes).await;
        }
        if writes.len() <= 1 {
            let Some(write) = writes.into_iter().next() else {
                return Ok(());
            };
            return match guarded(write, watched) {
                Guarded::Insert(doc) => coll.insert_one(doc).await.map(|_| ()).map_err(map_error),
                Guarded::Update { filter, update } => {
                    let r = coll.update_one(filter, update).await.map_err(map_error)?;
                    matched_one(r.matched_count)
                }
                Guarded::Replace { filter, post } => {
                    let r = coll.replace_one(filter, post).await.map_err(map_error)?;
                    matched_one(r.matched_count)
                }
                Guarded::Delete { filter } => {
                    let r = coll.delete_one(filter).await.map_err(map_error)?;
                    matched_one(r.deleted_count)
                }
            };
        }
        let mut session = self.client.start_session().await.map_err(map_error)?;
        session.start_transaction().await.map_err(map_error)?;
        for write in writes {
            let applied = match guarded(write, watched) {
                Guarded::Insert(doc) => coll
                    .insert_one(doc)
                    .session(&mut session)
                    .await
                    .map(|_| true),
                Guarded::Update { filter, update } => coll
                    .update_one(filter, update)
                    .session(&mut session)
                    .await
                    .map(|r| r.matched_count == 1),
                Guarded::Replace { filter, post } => coll
                    .replace_one(filter, post)
                    .session(&mut session)
                    .await
                    .map(|r| r.matched_count == 1),
                Guarded::Delete { filter } => coll
                    .delete_one(filter)
                    .session(&mut session)
                    .await
                    .map(|r| r.deleted_count == 1),
            };
            settle(&mut session, applied).await?;
        }
        session.commit_transaction().await.map_err(map_error)
    }

    /// Not offered for a `$rename` (`None`): whether it makes the document too deep depends on
    /// the document, which only the caller's read-decide-write path sees (a server need not
    /// enforce MongoDB's nesting limit).
    async fn update_one_where(
        &self,
        ns: &Namespace,
        filter: &Document,
        update: &Document,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        crate::query::check_limits(filter).map_err(QueryError::from)?;
        crate::update::check_limits(update)?;
        if update.contains_key("$rename") {
            return Ok(None);
        }
        let r = self
            .collection(ns)
            .update_one(filter.clone(), update.clone())
            .await
            .map_err(map_error)?;
        Ok(Some((r.matched_count, r.modified_count)))
    }

    async fn create_unique_index(
        &self,
        ns: &Namespace,
        fields: &[String],
    ) -> Result<(), StoreError> {
        let mut keys = Document::new();
        for f in fields {
            keys.insert(f.clone(), 1);
        }
        let model = IndexModel::builder()
            .keys(keys)
            .options(IndexOptions::builder().unique(true).build())
            .build();
        self.collection(ns)
            .create_index(model)
            .await
            .map(|_| ())
            .map_err(map_error)
    }

    async fn create_index(&self, ns: &Namespace, fields: &[String]) -> Result<(), StoreError> {
        let mut keys = Document::new();
        for f in fields {
            keys.insert(f.clone(), 1);
        }
        self.collection(ns)
            .create_index(IndexModel::builder().keys(keys).build())
            .await
            .map(|_| ())
            .map_err(map_error)
    }

    async fn create_ttl_index(&self, ns: &Namespace, field: &str) -> Result<(), StoreError> {
        let model = IndexModel::builder()
            .keys(doc! {field: 1})
            .options(
                IndexOptions::builder()
                    .expire_after(Duration::from_secs(0))
                    .build(),
            )
            .build();
        self.collection(ns)
            .create_index(model)
            .await
            .map(|_| ())
            .map_err(map_error)
    }
}
