//! Change events of one collection as a plain stream (`operationType`, `documentKey`,
//! `updateDescription`, a resume token as `_id`), MongoDB only. Superseded: `expanse serve`'s
//! watch reads [`super::ChangeStreams`] as triggers do (both stores); this trait is kept only
//! while `ServerStore`'s bound names it, and goes with it.

use std::future::Future;
use std::pin::Pin;

use bson::{doc, Bson, Document};
use futures_util::{Stream, StreamExt};

use super::{MemoryStore, MongoStore, Namespace, StoreError};

/// A stream of raw change events (never holding `fullDocument`: readers re-read what the
/// caller may see).
pub type EventStream = Pin<Box<dyn Stream<Item = Result<Document, StoreError>> + Send>>;

/// A store that can report changes.
pub trait Changes: Send + Sync {
    /// The changes to `ns` from now on; with `ids`, only to documents with those `_id`s.
    fn changes(
        &self,
        ns: &Namespace,
        ids: Option<Vec<Bson>>,
    ) -> Pin<Box<dyn Future<Output = Result<EventStream, StoreError>> + Send + '_>>;
}

impl Changes for MongoStore {
    fn changes(
        &self,
        ns: &Namespace,
        ids: Option<Vec<Bson>>,
    ) -> Pin<Box<dyn Future<Output = Result<EventStream, StoreError>> + Send + '_>> {
        let collection = self
            .client()
            .database(&self.database_name(ns))
            .collection::<Document>(&ns.collection);
        Box::pin(async move {
            let mut pipeline = Vec::new();
            if let Some(ids) = ids {
                pipeline.push(doc! {"$match": {"documentKey._id": {"$in": ids}}});
            }
            pipeline.push(doc! {"$project": {"fullDocument": 0, "fullDocumentBeforeChange": 0}});
            let stream = collection
                .watch()
                .pipeline(pipeline)
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?
                .with_type::<Document>();
            let stream: EventStream = Box::pin(
                stream.map(|event| event.map_err(|e| StoreError::Unavailable(e.to_string()))),
            );
            Ok(stream)
        })
    }
}

impl Changes for MemoryStore {
    fn changes(
        &self,
        _ns: &Namespace,
        _ids: Option<Vec<Bson>>,
    ) -> Pin<Box<dyn Future<Output = Result<EventStream, StoreError>> + Send + '_>> {
        Box::pin(async {
            Err(StoreError::Unsupported(
                "watching a collection needs MongoDB (a replica set): the embedded store has no change streams".into(),
            ))
        })
    }
}
