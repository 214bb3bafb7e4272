//! The embedded store: documents in memory, optionally persisted to an Extended JSON file. It
//! uses the same query module as everything else, so its answers are MongoDB's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use bson::{Bson, Document};

use super::aggregate::{leading_match, run_pipeline_with};
use super::changes::{Change, ChangeLog};
use super::{FindOptions, Namespace, Store, StoreError, Write};
use crate::query::conjunction::identical_documents;
use crate::query::{values_equal, Filter, NullSemantics, Projection, SortSpec};

#[derive(Debug, Clone, Default)]
struct Collection {
    documents: Vec<Document>,
    unique_indexes: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
struct Data {
    collections: BTreeMap<Namespace, Collection>,
}

/// The embedded store.
///
/// ```
/// use bson::doc;
/// use expanse::store::{FindOptions, MemoryStore, Namespace, Store, Write};
/// # tokio_test_block_on(async {
/// let store = MemoryStore::new();
/// let ns = Namespace::new("app", "notes");
/// store.apply(&ns, vec![Write::Insert(doc! {"_id": 1, "owner": "u1"})]).await.unwrap();
/// let found = store.find(&ns, &doc! {"owner": "u1"}, &FindOptions::default()).await.unwrap();
/// assert_eq!(found.len(), 1);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output { futures_lite_block_on(f) }
/// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let waker = std::task::Waker::noop();
/// #     let mut cx = std::task::Context::from_waker(&waker);
/// #     let mut f = std::pin::pin!(f);
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    data: Arc<RwLock<Data>>,
    /// Change events of the writes, once someone watches ([`super::ChangeStreams`]).
    changes: Arc<ChangeLog>,
    file: Option<PathBuf>,
    semantics: NullSemantics,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// The same store, matching filters under the given release's rules (MongoDB 8.0 by
    /// default; see [`NullSemantics`]).
    ///
    /// ```
    /// use expanse::{query::NullSemantics, store::MemoryStore};
    /// let store = MemoryStore::new().with_null_semantics(NullSemantics::V90);
    /// # let _ = store;
    /// ```
    pub fn with_null_semantics(mut self, semantics: NullSemantics) -> MemoryStore {
        self.semantics = semantics;
        self
    }

    /// A store persisted to `path` (canonical Extended JSON: `{"db.coll": [documents]}`), loading
    /// it when it exists. Every successful write rewrites the file (atomically, by rename).
    pub fn open(path: impl Into<PathBuf>) -> Result<MemoryStore, StoreError> {
        let path = path.into();
        let mut store = MemoryStore::new();
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| StoreError::Other(format!("{}: {e}", path.display())))?;
            let json = crate::json::parse(&text, &path.display().to_string())
                .map_err(|e| StoreError::Other(e.to_string()))?;
            let seed =
                crate::json::to_document(&json).map_err(|e| StoreError::Other(e.to_string()))?;
            store.seed(&seed)?;
        }
        store.file = Some(path);
        Ok(store)
    }

    /// Adds documents from `{"db.coll": [documents]}` (the fixture `data` shape), bypassing
    /// rules. Duplicate `_id`s are refused.
    pub fn seed(&self, data: &Document) -> Result<(), StoreError> {
        for (name, docs) in data {
            let ns = Namespace::parse(name).ok_or_else(|| {
                StoreError::Other(format!(
                    "{name:?} is not a namespace (expected \"database.collection\")"
                ))
            })?;
            let Bson::Array(items) = docs else {
                return Err(StoreError::Other(format!(
                    "{name}: expected an array of documents"
                )));
            };
            let mut writes = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let Bson::Document(d) = item else {
                    return Err(StoreError::Other(format!(
                        "{name}.{i}: expected a document"
                    )));
                };
                writes.push(Write::Insert(super::ensure_id(d.clone())));
            }
            self.apply_now(&ns, writes)?;
        }
        Ok(())
    }

    /// An independent copy of the current contents (not persisted).
    pub fn snapshot(&self) -> MemoryStore {
        let data = self.data.read().map(|d| d.clone()).unwrap_or_default();
        MemoryStore {
            data: Arc::new(RwLock::new(data)),
            changes: Arc::default(),
            file: None,
            semantics: self.semantics,
        }
    }

    /// Every document of a namespace, in insertion order.
    pub fn documents(&self, ns: &Namespace) -> Vec<Document> {
        self.data
            .read()
            .map(|d| {
                d.collections
                    .get(ns)
                    .map(|c| c.documents.clone())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    /// The namespaces that hold documents.
    pub fn namespaces(&self) -> Vec<Namespace> {
        self.data
            .read()
            .map(|d| d.collections.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The log change streams read.
    pub(crate) fn change_log(&self) -> Arc<ChangeLog> {
        self.changes.clone()
    }

    fn find_now(
        &self,
        ns: &Namespace,
        filter: &Document,
        options: &FindOptions,
    ) -> Result<Vec<Document>, StoreError> {
        let filter = Filter::parse(filter)?;
        let sort = options.sort.as_ref().map(SortSpec::parse).transpose()?;
        let projection = options
            .projection
            .as_ref()
            .map(Projection::parse)
            .transpose()?;
        let data = self
            .data
            .read()
            .map_err(|_| StoreError::Other("store lock poisoned".into()))?;
        let mut found: Vec<Document> = data
            .collections
            .get(ns)
            .map(|c| {
                c.documents
                    .iter()
                    .filter(|d| filter.matches_under(d, self.semantics))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        drop(data);
        if let Some(sort) = sort {
            sort.sort(&mut found);
        }
        let found = found
            .into_iter()
            .skip(options.skip as usize)
            .take(options.limit.map_or(usize::MAX, |l| l as usize));
        Ok(match projection {
            Some(p) => found.map(|d| p.apply(&d)).collect(),
            None => found.collect(),
        })
    }

    fn apply_now(&self, ns: &Namespace, writes: Vec<Write>) -> Result<(), StoreError> {
        super::check_writes(&writes)?;
        let mut data = self
            .data
            .write()
            .map_err(|_| StoreError::Other("store lock poisoned".into()))?;
        let current = data.collections.get(ns).cloned().unwrap_or_default();
        let mut next = current.clone();
        let recording = self.changes.recording();
        let mut changes = Vec::new();
        for write in writes {
            match write {
                Write::Insert(doc) => {
                    let doc = super::ensure_id(doc);
                    check_unique(ns, &next, &doc, None)?;
                    if recording {
                        changes.push(Change::Insert(doc.clone()));
                    }
                    next.documents.push(doc);
                }
                Write::Replace { pre, post } => {
                    let index = position_of(&next, &pre).ok_or(StoreError::Conflict)?;
                    if !matches!((pre.get("_id"), post.get("_id")), (Some(a), Some(b)) if values_equal(a, b))
                    {
                        return Err(StoreError::Other(
                            "a replacement must keep the document's _id".into(),
                        ));
                    }
                    check_unique(ns, &next, &post, Some(index))?;
                    if recording {
                        changes.push(Change::Update {
                            pre: next.documents[index].clone(),
                            post: post.clone(),
                        });
                    }
                    next.documents[index] = post;
                }
                Write::Delete { pre } => {
                    let index = position_of(&next, &pre).ok_or(StoreError::Conflict)?;
                    let removed = next.documents.remove(index);
                    if recording {
                        changes.push(Change::Delete(removed));
                    }
                }
            }
        }
        data.collections.insert(ns.clone(), next);
        if let Some(path) = &self.file {
            persist(path, &data)?;
        }
        // Logged while the write lock is held, so events are in commit order.
        self.changes.record(ns, changes);
        Ok(())
    }
}

/// Where a document is stored exactly as `pre` (same `_id`, same contents, compared as stored
/// bytes: a NaN is the same as itself).
fn position_of(collection: &Collection, pre: &Document) -> Option<usize> {
    let id = pre.get("_id")?;
    collection
        .documents
        .iter()
        .position(|d| d.get("_id").is_some_and(|i| values_equal(i, id)))
        .filter(|i| identical_documents(&collection.documents[*i], pre))
}

fn key_of(doc: &Document, fields: &[String]) -> Vec<Bson> {
    fields
        .iter()
        .map(|f| {
            crate::update::get_path(doc, crate::query::FieldPath::parse(f).parts())
                .cloned()
                .unwrap_or(Bson::Null)
        })
        .collect()
}

fn check_unique(
    ns: &Namespace,
    collection: &Collection,
    doc: &Document,
    skip: Option<usize>,
) -> Result<(), StoreError> {
    let mut indexes = vec![vec!["_id".to_owned()]];
    indexes.extend(collection.unique_indexes.iter().cloned());
    for fields in &indexes {
        let key = key_of(doc, fields);
        let clash = collection.documents.iter().enumerate().any(|(i, other)| {
            Some(i) != skip
                && key_of(other, fields)
                    .iter()
                    .zip(&key)
                    .all(|(a, b)| values_equal(a, b))
        });
        if clash {
            let index = if fields == &["_id"] {
                "_id_".to_owned()
            } else {
                fields.join("_1_") + "_1"
            };
            let shown: Vec<String> = fields
                .iter()
                .zip(&key)
                .map(|(f, v)| format!("{f}: {}", v.clone().into_relaxed_extjson()))
                .collect();
            return Err(StoreError::DuplicateKey {
                namespace: ns.to_string(),
                index,
                key: format!("{{ {} }}", shown.join(", ")),
            });
        }
    }
    Ok(())
}

fn persist(path: &Path, data: &Data) -> Result<(), StoreError> {
    let mut out = serde_json::Map::new();
    for (ns, collection) in &data.collections {
        let docs: Vec<serde_json::Value> = collection
            .documents
            .iter()
            .map(|d| Bson::Document(d.clone()).into_canonical_extjson())
            .collect();
        out.insert(ns.to_string(), serde_json::Value::Array(docs));
    }
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(out))
        .map_err(|e| StoreError::Other(e.to_string()))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| StoreError::Other(format!("{}: {e}", path.display())))
}

impl Store for MemoryStore {
    async fn find(
        &self,
        ns: &Namespace,
        filter: &Document,
        options: &FindOptions,
    ) -> Result<Vec<Document>, StoreError> {
        self.find_now(ns, filter, options)
    }

    async fn count(&self, ns: &Namespace, filter: &Document) -> Result<u64, StoreError> {
        Ok(self.find_now(ns, filter, &FindOptions::default())?.len() as u64)
    }

    async fn aggregate(
        &self,
        ns: &Namespace,
        pipeline: &[Document],
    ) -> Result<Vec<Document>, StoreError> {
        // A leading `$match` selects under the lock, so only the documents it keeps are copied.
        let select = |ns: &Namespace, query: Option<&Document>| match query {
            Some(q) => self.find_now(ns, q, &FindOptions::default()),
            None => Ok(self.documents(ns)),
        };
        let docs = select(ns, leading_match(pipeline))?;
        let collections = |name: &str, query: Option<&Document>| {
            select(&Namespace::new(&ns.database, name), query)
        };
        run_pipeline_with(docs, pipeline, &collections)
    }

    async fn apply(&self, ns: &Namespace, writes: Vec<Write>) -> Result<(), StoreError> {
        self.apply_now(ns, writes)
    }

    async fn create_unique_index(
        &self,
        ns: &Namespace,
        fields: &[String],
    ) -> Result<(), StoreError> {
        let mut data = self
            .data
            .write()
            .map_err(|_| StoreError::Other("store lock poisoned".into()))?;
        let collection = data.collections.entry(ns.clone()).or_default();
        let mut seen: Vec<Vec<Bson>> = Vec::new();
        for doc in &collection.documents {
            let key = key_of(doc, fields);
            if seen
                .iter()
                .any(|k| k.iter().zip(&key).all(|(a, b)| values_equal(a, b)))
            {
                return Err(StoreError::DuplicateKey {
                    namespace: ns.to_string(),
                    index: fields.join("_1_") + "_1",
                    key: format!("{:?}", key),
                });
            }
            seen.push(key);
        }
        if !collection.unique_indexes.iter().any(|i| i == fields) {
            collection.unique_indexes.push(fields.to_vec());
        }
        Ok(())
    }
}
