//! The MongoDB store, on the official driver.

use std::time::Duration;

use bson::{doc, Bson, Document};
use futures_util::TryStreamExt;
use mongodb::error::{Error as DriverError, ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, IndexModel};

use super::{FindOptions, Namespace, Store, StoreError, Write};

/// Documents in a MongoDB deployment (6.0 or later), through the official driver.
///
/// Writes are applied only to the document versions rules were checked on: a single write is a
/// conditional write whose filter is the whole pre-image; several writes run in a transaction
/// and are rolled back if any pre-image changed.
#[derive(Clone, Debug)]
pub struct MongoStore {
    client: Client,
    database_prefix: String,
    guard: WriteGuard,
}

/// How a write is held to the document version the rules were checked on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum WriteGuard {
    /// A conditional write whose filter is `_id` plus the whole pre-image (`$expr`): one round
    /// trip; MongoDB uses the `_id` index. The default.
    #[default]
    ConditionalFilter,
    /// A transaction that replaces or deletes the document by `_id` (findAndModify), compares the
    /// version it returns with the pre-image and aborts on a difference; a concurrent write makes
    /// it conflict and retry. Two round trips, but only `_id` lookups (for servers that do not
    /// plan `$expr` with an index). Needs a replica set (transactions).
    Transaction,
}

/// Maps a driver error to a store error.
pub(crate) fn map_error(e: DriverError) -> StoreError {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == 11000 => {
            StoreError::DuplicateKey {
                namespace: String::new(),
                index: String::new(),
                key: w.message.clone(),
            }
        }
        ErrorKind::Command(c) if c.code == 11000 => StoreError::DuplicateKey {
            namespace: String::new(),
            index: String::new(),
            key: c.message.clone(),
        },
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

    fn collection(&self, ns: &Namespace) -> Collection<Document> {
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
    /// [`WriteGuard::Transaction`]: in a transaction, replace or delete each target by `_id`
    /// with findAndModify, compare the version it returns with the one the rules saw, and abort
    /// on any difference (two round trips for one write: findAndModify and commit).
    async fn apply_read_compare(
        &self,
        coll: &Collection<Document>,
        writes: Vec<Write>,
    ) -> Result<(), StoreError> {
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
                    // One findAndModify by `_id` returns the version it replaced; if that is
                    // not the version the rules saw, the transaction is aborted and the
                    // replacement never becomes visible.
                    Write::Replace { pre, post } => {
                        let id = pre.get("_id").cloned().unwrap_or(Bson::Null);
                        let replaced = coll
                            .find_one_and_replace(doc! {"_id": {"$eq": id}}, post)
                            .session(&mut session)
                            .await?;
                        Ok(replaced.as_ref() == Some(&pre))
                    }
                    Write::Delete { pre } => {
                        let id = pre.get("_id").cloned().unwrap_or(Bson::Null);
                        let deleted = coll
                            .find_one_and_delete(doc! {"_id": {"$eq": id}})
                            .session(&mut session)
                            .await?;
                        Ok(deleted.as_ref() == Some(&pre))
                    }
                }
            }
            .await;
            match step {
                Ok(true) => {}
                Ok(false) => {
                    let _ = session.abort_transaction().await;
                    return Err(StoreError::Conflict);
                }
                Err(e) => {
                    let _ = session.abort_transaction().await;
                    return Err(map_error(e));
                }
            }
        }
        session.commit_transaction().await.map_err(map_error)
    }
}

/// A filter that matches the document only while it is exactly `pre`.
fn exact(pre: &Document) -> Document {
    let id = pre.get("_id").cloned().unwrap_or(Bson::Null);
    doc! {"_id": {"$eq": id}, "$expr": {"$eq": ["$$ROOT", {"$literal": pre.clone()}]}}
}

impl Store for MongoStore {
    async fn find(
        &self,
        ns: &Namespace,
        filter: &Document,
        options: &FindOptions,
    ) -> Result<Vec<Document>, StoreError> {
        let collection = self.collection(ns);
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
        let cursor = find.await.map_err(map_error)?;
        cursor.try_collect().await.map_err(map_error)
    }

    async fn count(&self, ns: &Namespace, filter: &Document) -> Result<u64, StoreError> {
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
        let cursor = self
            .collection(ns)
            .aggregate(pipeline.to_vec())
            .await
            .map_err(map_error)?;
        cursor.try_collect().await.map_err(map_error)
    }

    async fn apply(&self, ns: &Namespace, writes: Vec<Write>) -> Result<(), StoreError> {
        let coll = self.collection(ns);
        if self.guard == WriteGuard::Transaction {
            return self.apply_read_compare(&coll, writes).await;
        }
        if writes.len() <= 1 {
            let Some(write) = writes.into_iter().next() else {
                return Ok(());
            };
            return match write {
                Write::Insert(doc) => coll
                    .insert_one(super::ensure_id(doc))
                    .await
                    .map(|_| ())
                    .map_err(map_error),
                Write::Replace { pre, post } => {
                    let r = coll
                        .replace_one(exact(&pre), post)
                        .await
                        .map_err(map_error)?;
                    if r.matched_count == 1 {
                        Ok(())
                    } else {
                        Err(StoreError::Conflict)
                    }
                }
                Write::Delete { pre } => {
                    let r = coll.delete_one(exact(&pre)).await.map_err(map_error)?;
                    if r.deleted_count == 1 {
                        Ok(())
                    } else {
                        Err(StoreError::Conflict)
                    }
                }
            };
        }
        let mut session = self.client.start_session().await.map_err(map_error)?;
        session.start_transaction().await.map_err(map_error)?;
        for write in writes {
            let applied = match write {
                Write::Insert(doc) => coll
                    .insert_one(super::ensure_id(doc))
                    .session(&mut session)
                    .await
                    .map(|_| true),
                Write::Replace { pre, post } => coll
                    .replace_one(exact(&pre), post)
                    .session(&mut session)
                    .await
                    .map(|r| r.matched_count == 1),
                Write::Delete { pre } => coll
                    .delete_one(exact(&pre))
                    .session(&mut session)
                    .await
                    .map(|r| r.deleted_count == 1),
            };
            match applied {
                Ok(true) => {}
                Ok(false) => {
                    let _ = session.abort_transaction().await;
                    return Err(StoreError::Conflict);
                }
                Err(e) => {
                    let _ = session.abort_transaction().await;
                    return Err(map_error(e));
                }
            }
        }
        session.commit_transaction().await.map_err(map_error)
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
}
