//! Change streams: the change events of one collection, in commit order, resumable from a token.
//!
//! MongoDB's are read with the driver's `watch` (the pipeline — `$match`, `$project` — runs on the
//! server); the embedded store keeps a bounded log of its own writes ([`MemoryStore`]) and runs
//! the same pipeline over it, so one trigger runner serves both.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bson::{doc, Bson, Document, RawDocumentBuf};
use mongodb::change_stream::event::ResumeToken;
use mongodb::change_stream::ChangeStream as DriverStream;
use mongodb::error::{Error as DriverError, ErrorKind};
use mongodb::options::{FullDocumentBeforeChangeType, FullDocumentType};

use super::{MemoryStore, MongoStore, Namespace, Store, StoreError};

/// How many change events the embedded store keeps; a resume token older than that is refused
/// as lost history.
pub const MEMORY_LOG_CAPACITY: usize = 100_000;

/// What to watch and from where.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// Stages run over each change event (`$match`, `$project`).
    pub pipeline: Vec<Document>,
    /// Update events carry the document as it is after the update (`fullDocument`, looked up).
    pub full_document: bool,
    /// Update, replace and delete events carry the document before the change
    /// (`fullDocumentBeforeChange`, when the collection records pre-images).
    pub full_document_before_change: bool,
    /// Continue after this resume token (an event's `_id`); `None`: from now.
    pub resume_after: Option<Document>,
    /// How long one [`ChangeStream::next`] waits for an event before it reports none.
    pub max_await: Option<Duration>,
}

/// A change stream could not be opened or read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WatchError {
    /// The server refused to resume from the token (history lost: the token is older than the
    /// oplog, or it is not a token of this collection).
    #[error("cannot resume the change stream: {0}")]
    Resume(String),
    /// The database failed or could not be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Stores whose collections have change streams.
pub trait ChangeStreams: Store {
    /// Opens a change stream on one collection.
    fn watch(
        &self,
        ns: &Namespace,
        options: WatchOptions,
    ) -> impl Future<Output = Result<ChangeStream, WatchError>> + Send;
}

/// The change events of one collection, one at a time.
pub struct ChangeStream {
    inner: Inner,
}

enum Inner {
    Mongo {
        stream: Box<DriverStream<RawDocumentBuf>>,
        /// The database prefix of the store, taken off `ns.db` so events name the app's
        /// database.
        prefix: String,
    },
    Memory(MemoryCursor),
}

impl ChangeStream {
    /// The next change event; `Ok(None)` when none arrived within the stream's wait (call again).
    pub async fn next(&mut self) -> Result<Option<Document>, WatchError> {
        match &mut self.inner {
            Inner::Mongo { stream, prefix } => match stream.next_if_any().await {
                Ok(Some(raw)) => {
                    let mut event = super::mongo::decoded(&raw)?;
                    if !prefix.is_empty() {
                        strip_prefix(&mut event, prefix);
                    }
                    Ok(Some(event))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(watch_error(e, true)),
            },
            Inner::Memory(cursor) => cursor.next().await,
        }
    }

    /// The token to resume after the last event returned (or, when idle, after everything the
    /// stream has seen so far).
    pub fn resume_token(&self) -> Option<Document> {
        match &self.inner {
            Inner::Mongo { stream, .. } => stream
                .resume_token()
                .and_then(|t| bson::serialize_to_bson(&t).ok())
                .and_then(|b| match b {
                    Bson::Document(d) => Some(d),
                    _ => None,
                }),
            Inner::Memory(cursor) => Some(memory_token(cursor.position)),
        }
    }
}

/// `ns.db` (and a rename's `to.db`) without the store's database prefix.
fn strip_prefix(event: &mut Document, prefix: &str) {
    for key in ["ns", "to"] {
        if let Ok(ns) = event.get_document_mut(key) {
            if let Some(db) = ns.get_str("db").ok().and_then(|d| d.strip_prefix(prefix)) {
                let db = db.to_owned();
                ns.insert("db", db);
            }
        }
    }
}

/// Error codes MongoDB answers when it cannot resume: ChangeStreamHistoryLost,
/// ChangeStreamFatalError, an invalid or foreign token.
const RESUME_CODES: [i32; 7] = [286, 280, 260, 9, 13, 40576, 40585];

fn watch_error(e: DriverError, resuming: bool) -> WatchError {
    if let ErrorKind::Command(c) = e.kind.as_ref() {
        if c.code == 286
            || c.code == 280
            || (resuming && (RESUME_CODES.contains(&c.code) || c.message.contains("resume token")))
        {
            return WatchError::Resume(format!("{} (code {})", c.message, c.code));
        }
    }
    WatchError::Store(super::mongo::map_error(e))
}

impl ChangeStreams for MongoStore {
    async fn watch(
        &self,
        ns: &Namespace,
        options: WatchOptions,
    ) -> Result<ChangeStream, WatchError> {
        let resuming = options.resume_after.is_some();
        let token = match options.resume_after {
            Some(t) => Some(
                bson::deserialize_from_bson::<ResumeToken>(Bson::Document(t))
                    .map_err(|e| WatchError::Resume(format!("unreadable resume token: {e}")))?,
            ),
            None => None,
        };
        let collection = self
            .client()
            .database(&self.database_name(ns))
            .collection::<Document>(&ns.collection);
        let mut watch = collection
            .watch()
            .pipeline(options.pipeline)
            .resume_after(token);
        if options.full_document {
            watch = watch.full_document(FullDocumentType::UpdateLookup);
        }
        if options.full_document_before_change {
            watch = watch.full_document_before_change(FullDocumentBeforeChangeType::WhenAvailable);
        }
        if let Some(wait) = options.max_await {
            watch = watch.max_await_time(wait);
        }
        let stream = watch.await.map_err(|e| watch_error(e, resuming))?;
        Ok(ChangeStream {
            inner: Inner::Mongo {
                stream: Box::new(stream.with_type::<RawDocumentBuf>()),
                prefix: self.database_prefix().to_owned(),
            },
        })
    }
}

/// The embedded store's record of its writes as change events (kept once someone watches).
#[derive(Debug, Default)]
pub(crate) struct ChangeLog {
    recording: AtomicBool,
    events: Mutex<LogEvents>,
    notify: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct LogEvents {
    /// The position of the first kept event.
    first: u64,
    events: VecDeque<(Namespace, Document)>,
}

impl LogEvents {
    fn end(&self) -> u64 {
        self.first + self.events.len() as u64
    }
}

/// The write that made an event, as the embedded store applied it.
pub(crate) enum Change {
    /// A new document.
    Insert(Document),
    /// A document changed (the embedded store cannot tell an update from a replacement: it
    /// reports an `update` with the changed top-level fields).
    Update { pre: Document, post: Document },
    /// A document removed.
    Delete(Document),
}

fn memory_token(position: u64) -> Document {
    doc! {"_data": format!("{position:016x}")}
}

fn memory_position(token: &Document) -> Option<u64> {
    u64::from_str_radix(token.get_str("_data").ok()?, 16).ok()
}

impl ChangeLog {
    /// Records the changes of one applied batch (nothing until someone watched).
    pub(crate) fn record(&self, ns: &Namespace, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let Ok(mut log) = self.events.lock() else {
            return;
        };
        let now = bson::DateTime::now();
        let seconds = u32::try_from(now.timestamp_millis() / 1000).unwrap_or(u32::MAX);
        for change in changes {
            let position = log.end();
            let mut event = doc! {
                "_id": memory_token(position + 1),
                "operationType": "",
                "clusterTime": Bson::Timestamp(bson::Timestamp { time: seconds, increment: (position as u32).wrapping_add(1) }),
                "wallTime": now,
            };
            let key = |d: &Document| doc! {"_id": d.get("_id").cloned().unwrap_or(Bson::Null)};
            let ns_doc = doc! {"db": &ns.database, "coll": &ns.collection};
            match change {
                Change::Insert(d) => {
                    event.insert("operationType", "insert");
                    event.insert("ns", ns_doc);
                    event.insert("documentKey", key(&d));
                    event.insert("fullDocument", d);
                }
                Change::Update { pre, post } => {
                    event.insert("operationType", "update");
                    event.insert("ns", ns_doc);
                    event.insert("documentKey", key(&post));
                    event.insert("updateDescription", update_description(&pre, &post));
                    event.insert("fullDocument", post);
                    event.insert("fullDocumentBeforeChange", pre);
                }
                Change::Delete(d) => {
                    event.insert("operationType", "delete");
                    event.insert("ns", ns_doc);
                    event.insert("documentKey", key(&d));
                    event.insert("fullDocumentBeforeChange", d);
                }
            }
            log.events.push_back((ns.clone(), event));
            if log.events.len() > MEMORY_LOG_CAPACITY {
                log.events.pop_front();
                log.first += 1;
            }
        }
        drop(log);
        self.notify.notify_waiters();
    }

    /// Whether writes are recorded (someone watched).
    pub(crate) fn recording(&self) -> bool {
        self.recording.load(Ordering::Acquire)
    }

    fn start_recording(&self) -> u64 {
        self.recording.store(true, Ordering::Release);
        self.events.lock().map(|l| l.end()).unwrap_or(0)
    }
}

/// `updateDescription` of an update: the top-level fields set and removed.
fn update_description(pre: &Document, post: &Document) -> Document {
    let mut updated = Document::new();
    for (k, v) in post {
        if pre.get(k) != Some(v) {
            updated.insert(k.clone(), v.clone());
        }
    }
    let removed: Vec<Bson> = pre
        .keys()
        .filter(|k| !post.contains_key(*k))
        .map(|k| Bson::String(k.clone()))
        .collect();
    doc! {"updatedFields": updated, "removedFields": removed, "truncatedArrays": []}
}

/// A reader of the embedded store's change log.
struct MemoryCursor {
    log: std::sync::Arc<ChangeLog>,
    ns: Namespace,
    position: u64,
    options: WatchOptions,
}

impl MemoryCursor {
    /// The next event of the namespace that passes the pipeline, waiting up to `max_await`
    /// (100 ms by default) for one.
    async fn next(&mut self) -> Result<Option<Document>, WatchError> {
        let wait = self.options.max_await.unwrap_or(Duration::from_millis(100));
        let deadline = tokio::time::Instant::now() + wait;
        let log = self.log.clone();
        loop {
            let notified = log.notify.notified();
            if let Some(event) = self.next_now()? {
                return Ok(Some(event));
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(None);
            }
        }
    }

    /// The next event already logged, without waiting.
    fn next_now(&mut self) -> Result<Option<Document>, WatchError> {
        loop {
            let raw = {
                let log = self
                    .log
                    .events
                    .lock()
                    .map_err(|_| StoreError::Other("change log lock poisoned".into()))?;
                if self.position < log.first {
                    return Err(WatchError::Resume(format!(
                        "the embedded store no longer holds the events after position {} (it keeps the last {MEMORY_LOG_CAPACITY})",
                        self.position
                    )));
                }
                let index = usize::try_from(self.position - log.first).unwrap_or(usize::MAX);
                match log.events.get(index) {
                    Some((ns, event)) => (ns == &self.ns).then(|| event.clone()),
                    None => return Ok(None),
                }
            };
            self.position += 1;
            let Some(mut event) = raw else { continue };
            let op = event
                .get_str("operationType")
                .unwrap_or_default()
                .to_owned();
            if op == "update" && !self.options.full_document {
                event.remove("fullDocument");
            }
            if !self.options.full_document_before_change {
                event.remove("fullDocumentBeforeChange");
            }
            let mut out = super::run_pipeline(vec![event], &self.options.pipeline)?;
            if let Some(event) = out.pop() {
                return Ok(Some(event));
            }
        }
    }
}

impl ChangeStreams for MemoryStore {
    async fn watch(
        &self,
        ns: &Namespace,
        options: WatchOptions,
    ) -> Result<ChangeStream, WatchError> {
        let log = self.change_log();
        let end = log.start_recording();
        let position = match &options.resume_after {
            Some(token) => {
                let position = memory_position(token).ok_or_else(|| {
                    WatchError::Resume(format!("{token} is not a resume token of this store"))
                })?;
                if position > end {
                    return Err(WatchError::Resume(format!(
                        "{token} is not a resume token of this store"
                    )));
                }
                position
            }
            None => end,
        };
        let mut cursor = MemoryCursor {
            log,
            ns: ns.clone(),
            position,
            options,
        };
        // A token older than the log fails now, as MongoDB fails to open the stream.
        if let Some(first) = cursor.log.events.lock().ok().map(|l| l.first) {
            if cursor.position < first {
                cursor.next_now()?;
            }
        }
        Ok(ChangeStream {
            inner: Inner::Memory(cursor),
        })
    }
}
