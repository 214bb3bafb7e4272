//! Guarded collections: the SDK's collection operations with the app's rules enforced, over any
//! [`Store`]. The system user bypasses rules and filters; everyone else goes through filters,
//! per-document roles, and field permissions.
//!
//! Reads are filtered silently (hidden documents and fields are left out). Writes are checked
//! on every document they touch and applied all-or-nothing, only to the document versions the
//! rules were checked on (conflicts are retried): a multi-document write that touches any
//! denied document changes nothing.

mod aggregate;
mod deferred;
mod filters;
mod view;

use std::sync::Mutex;

use bson::{Bson, Document};

use crate::app::{App, NoMatchingRule};
use crate::expr::{Footprint, FunctionCaller};
use crate::query::{Filter, Projection, QueryError, SortSpec};
use crate::rules::{CollectionRules, Coverage, Decider, Denial, RequestContext, WriteKind};
use crate::store::{ensure_id, FindOptions, Namespace, Store, StoreError, Write};
use crate::update::{matched_position, Update, UpdateError};
use crate::User;

use deferred::{Deferred, MAX_ROUNDS};
use filters::{apply_filters, AppliedFilters};
use view::{Seen, Sight};

/// How many times a write is retried when a concurrent write changed its documents.
const MAX_ATTEMPTS: usize = 32;

/// Waits a random, growing while before retrying a conflicted write, so contending writers do
/// not keep colliding (up to about 50 ms).
async fn backoff(attempt: usize) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut x = u64::from(nanos) ^ (attempt as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    let ceiling_micros = 100u64 << attempt.min(9);
    tokio::time::sleep(std::time::Duration::from_micros(x % ceiling_micros.max(1))).await;
}

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// No rules for the namespace (`NoMatchingRuleFound`).
    #[error(transparent)]
    NoRule(#[from] NoMatchingRule),
    /// Rules refused a write.
    #[error("{0}")]
    Denied(Box<Denial>),
    /// The query is invalid.
    #[error("invalid query: {0}")]
    Query(#[from] QueryError),
    /// The update is invalid or cannot apply.
    #[error("invalid update: {0}")]
    Update(#[from] UpdateError),
    /// Something users may not do (system-only operators, stages), or a filter that cannot apply.
    #[error("{0}")]
    NotAllowed(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// Concurrent writers kept changing the documents.
    #[error("write conflict persisted after {0} attempts")]
    Contention(usize),
}

impl From<StoreError> for GuardError {
    fn from(e: StoreError) -> GuardError {
        match e {
            StoreError::Query(q) => GuardError::Query(q),
            other => GuardError::Store(other),
        }
    }
}

impl From<Denial> for GuardError {
    fn from(d: Denial) -> GuardError {
        GuardError::Denied(Box::new(d))
    }
}

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
    /// The SDK's result document: `{matchedCount, modifiedCount, upsertedId?}`.
    pub fn to_document(&self) -> Document {
        let mut d = bson::doc! {"matchedCount": self.matched_count as i64, "modifiedCount": self.modified_count as i64};
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

enum Caller<'a> {
    System,
    User {
        rules: &'a CollectionRules,
        request: RequestContext<'a>,
        /// The app lets users query with regular expressions ([`crate::app::QuerySettings`]).
        allow_regex: bool,
    },
}

/// A collection seen by one caller, with rules enforced.
pub struct GuardedCollection<'a, S: Store> {
    store: &'a S,
    namespace: Namespace,
    caller: Caller<'a>,
    explain: bool,
    trace: Mutex<Vec<String>>,
    coverage: Option<&'a Coverage>,
    /// What the collection's rules read, worked out on the first write.
    rules_footprint: std::sync::OnceLock<Footprint>,
    /// `%function` for the rules, called between rounds of evaluation.
    functions: Deferred<'a>,
}

impl App {
    /// The collection `database.collection` of the app's default data source, as `user` sees it
    /// through the rules (the system user bypasses them).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use expanse::{store::MemoryStore, App, User};
    /// let app = App::load("fixtures/app")?.app;
    /// let store = MemoryStore::new();
    /// let alice = User::new("64b7f0c2a1b2c3d4e5f60001");
    /// let notes = app.collection(&store, &alice, "notes_app", "notes")?;
    /// # let _ = notes; Ok(()) }
    /// ```
    pub fn collection<'a, S: Store>(
        &'a self,
        store: &'a S,
        user: &'a User,
        database: &str,
        collection: &str,
    ) -> Result<GuardedCollection<'a, S>, NoMatchingRule> {
        let service = self.default_service().unwrap_or("mongodb-atlas");
        self.service_collection(store, user, service, database, collection)
    }

    /// Like [`App::collection`] for a named data source.
    pub fn service_collection<'a, S: Store>(
        &'a self,
        store: &'a S,
        user: &'a User,
        service: &str,
        database: &str,
        collection: &str,
    ) -> Result<GuardedCollection<'a, S>, NoMatchingRule> {
        let caller = if user.is_system() {
            Caller::System
        } else {
            Caller::User {
                allow_regex: self.query.allow_user_regex,
                rules: self.rules(service, database, collection)?,
                request: RequestContext {
                    user,
                    values: &self.values,
                    environment: &self.environment,
                    request: None,
                    functions: None,
                },
            }
        };
        Ok(GuardedCollection {
            store,
            namespace: Namespace::new(database, collection),
            caller,
            explain: false,
            trace: Mutex::new(Vec::new()),
            coverage: None,
            rules_footprint: std::sync::OnceLock::new(),
            functions: Deferred::default(),
        })
    }
}

/// Whether a query can match at most one document: it names a single `_id` value at the top
/// level (a plain value or `$eq`; a regular expression is a pattern).
fn names_one_id(query: &Document) -> bool {
    match query.get("_id") {
        None | Some(Bson::RegularExpression(_)) => false,
        Some(Bson::Document(d)) => match d.iter().next() {
            Some((k, v)) if d.len() == 1 && k == "$eq" => !matches!(v, Bson::RegularExpression(_)),
            Some((k, _)) => !k.starts_with('$'),
            None => true,
        },
        Some(_) => true,
    }
}

/// `doc` through `projection`, if there is one (no copy when there is none).
fn project(doc: Document, projection: Option<&Projection>) -> Document {
    match projection {
        Some(p) => p.apply(&doc),
        None => doc,
    }
}

/// Adds the fields a query names to `footprint`, through `$and`, `$or` and `$nor`; any other
/// top-level operator (`$expr`, `$where`…) may read anything.
fn add_query_fields(query: &Document, footprint: &mut Footprint) {
    for (key, value) in query {
        match (key.as_str(), value) {
            ("$and" | "$or" | "$nor", bson::Bson::Array(items)) => {
                for item in items {
                    match item {
                        bson::Bson::Document(d) => add_query_fields(d, footprint),
                        _ => footprint.add_whole(),
                    }
                }
            }
            _ => footprint.add_key(key),
        }
    }
}

const SYSTEM_ONLY_OPERATORS: &[&str] = &[
    "$where",
    "$expr",
    "$jsonSchema",
    "$regex",
    "$text",
    "$near",
    "$nearSphere",
    "$geoWithin",
    "$geoIntersects",
    "$bitsAllSet",
    "$bitsAllClear",
    "$bitsAnySet",
    "$bitsAnyClear",
];

/// Refuses query operators App Services reserves for system callers. A regular expression, as
/// `$regex` or as a value (`{name: /^a/}`, inside `$in`, `$nin`, `$all`, `$not`), is one of
/// them unless the app allows it (`allow_regex`, [`crate::app::QuerySettings`]).
fn check_user_query(query: &Document, allow_regex: bool) -> Result<(), GuardError> {
    fn walk(value: &Bson, allow_regex: bool) -> Result<(), GuardError> {
        match value {
            Bson::Document(d) => {
                for (k, v) in d {
                    let regex_operator = matches!(k.as_str(), "$regex" | "$options");
                    if SYSTEM_ONLY_OPERATORS.contains(&k.as_str())
                        && !(regex_operator && allow_regex)
                    {
                        return Err(GuardError::NotAllowed(format!(
                            "operator {k} is only allowed for the system user"
                        )));
                    }
                    walk(v, allow_regex)?;
                }
                Ok(())
            }
            Bson::Array(items) => items.iter().try_for_each(|i| walk(i, allow_regex)),
            Bson::RegularExpression(_) if !allow_regex => Err(GuardError::NotAllowed(
                "regular expressions in queries are only allowed for the system user".into(),
            )),
            _ => Ok(()),
        }
    }
    walk(&Bson::Document(query.clone()), allow_regex)
}

impl<'a, S: Store> GuardedCollection<'a, S> {
    /// Whether this caller may query with regular expressions (the system user always may).
    fn allow_regex(&self) -> bool {
        match &self.caller {
            Caller::System => true,
            Caller::User { allow_regex, .. } => *allow_regex,
        }
    }

    /// Records a decision trace for every document (read it with [`Self::take_trace`]).
    pub fn explained(mut self) -> Self {
        self.explain = true;
        self
    }

    /// Records which roles, filters and field rules this collection's operations use.
    pub fn with_coverage(mut self, coverage: &'a Coverage) -> Self {
        self.coverage = Some(coverage);
        self
    }

    /// Sets the runtime that `%function` in rules calls. Calls run as futures between rounds of
    /// evaluation (a decision that needed a result not known yet is discarded and made again),
    /// so this works on tokio's current-thread runtime as on the multi-threaded one.
    pub fn with_functions(mut self, functions: &'a dyn FunctionCaller) -> Self {
        if let Caller::User { request, .. } = &mut self.caller {
            request.functions = Some(functions);
        }
        self.functions = Deferred::new(functions);
        self
    }

    /// The user's rules and request, with `%function` deferred (`None` for the system user).
    fn request(&self) -> Option<(&CollectionRules, RequestContext<'_>)> {
        let Caller::User { rules, request, .. } = &self.caller else {
            return None;
        };
        let mut request: RequestContext<'_> = *request;
        if self.functions.is_set() {
            request.functions = Some(&self.functions);
        }
        Some((rules, request))
    }

    /// Runs the `%function` calls the last decisions deferred; `true` when they must be made
    /// again. Fails closed after [`MAX_ROUNDS`].
    async fn settled_again(&self, rounds: &mut usize) -> Result<bool, GuardError> {
        if !self.functions.settle().await {
            return Ok(false);
        }
        *rounds += 1;
        if *rounds >= MAX_ROUNDS {
            return Err(GuardError::NotAllowed(format!(
                "%function calls in the rules kept asking for more after {MAX_ROUNDS} rounds"
            )));
        }
        Ok(true)
    }

    /// Sets `%%request`.
    pub fn with_request(mut self, metadata: &'a Document) -> Self {
        if let Caller::User { request, .. } = &mut self.caller {
            request.request = Some(metadata);
        }
        self
    }

    /// The namespace.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// The decision trace recorded so far (empty unless [`Self::explained`]).
    pub fn take_trace(&self) -> Vec<String> {
        self.trace
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default()
    }

    fn trace_len(&self) -> usize {
        self.trace.lock().map(|t| t.len()).unwrap_or(0)
    }

    fn truncate_trace(&self, len: usize) {
        if let Ok(mut t) = self.trace.lock() {
            t.truncate(len);
        }
    }

    fn record(&self, lines: impl IntoIterator<Item = String>) {
        if self.explain {
            if let Ok(mut t) = self.trace.lock() {
                t.extend(lines);
            }
        }
    }

    fn decider(&self) -> Option<Decider<'_>> {
        let (rules, request) = self.request()?;
        let decider = Decider::new(rules, request);
        Some(match self.coverage {
            Some(c) => decider.with_coverage(c),
            None => decider,
        })
    }

    /// The filters that apply to this request (users only), recorded for coverage and traces.
    fn applied_filters(&self) -> Result<Option<AppliedFilters>, GuardError> {
        let Some((rules, request)) = self.request() else {
            return Ok(None);
        };
        let applied = apply_filters(rules, &request).map_err(GuardError::NotAllowed)?;
        if let Some(coverage) = self.coverage {
            for name in &applied.names {
                coverage.record(&rules.file, || crate::rules::RuleLabel::Filter {
                    name: name.clone(),
                });
            }
        }
        if !applied.names.is_empty() {
            self.record([format!("filters applied: {}", applied.names.join(", "))]);
        }
        Ok(Some(applied))
    }

    /// The fields a write's decision depends on: those the collection's rules (their filters
    /// included) read and those the query names. The store holds the write to them.
    fn watched(&self, query: &Document) -> Footprint {
        let mut footprint = self
            .rules_footprint
            .get_or_init(|| match &self.caller {
                Caller::User { rules, .. } => rules.footprint(),
                Caller::System => Footprint::default(),
            })
            .clone();
        add_query_fields(query, &mut footprint);
        footprint
    }

    /// The documents `query` selects for this caller, in `order`: for users, judged on each
    /// document as the user may read it (see [`view`]), with the rules pushed down.
    async fn select(
        &self,
        query: &Document,
        order: Order<'_>,
        purpose: Purpose,
    ) -> Result<Vec<Seen>, GuardError> {
        let mut rounds = 0;
        loop {
            let traced = self.trace_len();
            let selected = self.select_once(query, order, purpose).await?;
            if !self.settled_again(&mut rounds).await? {
                return Ok(selected);
            }
            // The round's decisions are discarded, and so is their trace.
            self.truncate_trace(traced);
        }
    }

    /// A decision made again until every `%function` call it needs has run.
    async fn decide_settled<T>(&self, decide: impl Fn() -> T) -> Result<T, GuardError> {
        let mut rounds = 0;
        loop {
            let decision = decide();
            if !self.settled_again(&mut rounds).await? {
                return Ok(decision);
            }
        }
    }

    /// One round of [`Self::select`].
    async fn select_once(
        &self,
        query: &Document,
        order: Order<'_>,
        purpose: Purpose,
    ) -> Result<Vec<Seen>, GuardError> {
        let (Some(decider), Some(applied)) = (self.decider(), self.applied_filters()?) else {
            let options = FindOptions {
                sort: order.sort.cloned(),
                skip: order.skip,
                limit: order.limit,
                projection: None,
            };
            let found = self.store.find(&self.namespace, query, &options).await?;
            return Ok(found
                .into_iter()
                .map(|visible| Seen {
                    visible,
                    stored: None,
                })
                .collect());
        };
        check_user_query(query, self.allow_regex())?;
        let sort = order.sort.map(SortSpec::parse).transpose()?;
        let pushed = decider.read_filter();
        self.record([format!(
            "rules pushed down as {} ({})",
            Bson::Document(pushed.filter.to_document()).into_relaxed_extjson(),
            if pushed.exact {
                "exact"
            } else {
                "widened; every document is checked"
            }
        )]);
        if pushed.filter == crate::expr::PushedFilter::Nothing {
            return Ok(Vec::new());
        }
        let sight = Sight {
            rules: decider.rules(),
            projection: applied.projection.as_ref(),
        };
        let query_whole = sight.whole_query(query);
        let sort_whole = sight.whole_sort(order.sort);
        let judged_here = if query_whole {
            None
        } else {
            self.record([
                "the query reads a field the rules may hide: it is judged on each readable document as the user sees it".to_owned(),
            ]);
            Some(Filter::parse(query)?)
        };
        let mut parts = vec![if query_whole {
            query.clone()
        } else {
            sight.judged_by_store(query)
        }];
        parts.extend(applied.queries.iter().cloned());
        parts.push(pushed.filter.to_document());
        let store_cuts = pushed.exact && query_whole && sort_whole;
        let options = FindOptions {
            sort: order.sort.filter(|_| sort_whole).cloned(),
            skip: if store_cuts { order.skip } else { 0 },
            limit: order.limit.filter(|_| store_cuts),
            projection: match purpose {
                Purpose::Read => decider.read_projection(),
                Purpose::Write => None,
            },
        };
        let candidates = self
            .store
            .find(&self.namespace, &crate::query::conjoin(parts), &options)
            .await?;
        let mut selected = Vec::with_capacity(candidates.len());
        for stored in candidates {
            let Some(visible) = self.read_decision(&decider, &stored) else {
                continue;
            };
            let visible = project(visible, applied.projection.as_ref());
            if judged_here.as_ref().is_some_and(|q| !q.matches(&visible)) {
                continue;
            }
            let stored = (purpose == Purpose::Write).then_some(stored);
            selected.push(Seen { visible, stored });
        }
        if let (Some(spec), false) = (sort, sort_whole) {
            selected.sort_by(|a, b| spec.compare(&a.visible, &b.visible));
        }
        if !store_cuts {
            let limit = order.limit.map_or(usize::MAX, |l| l as usize);
            selected = selected
                .into_iter()
                .skip(order.skip as usize)
                .take(limit)
                .collect();
        }
        Ok(selected)
    }

    /// The document as the user may read it, tracing the decision when asked.
    fn read_decision(&self, decider: &Decider<'_>, doc: &Document) -> Option<Document> {
        let mut trace = self.explain.then(Vec::new);
        let decision = decider.read(doc, &mut trace);
        if let Some(t) = trace {
            let id = doc
                .get("_id")
                .map(|i| i.clone().into_relaxed_extjson().to_string())
                .unwrap_or_default();
            let verdict = if decision.is_some() {
                "visible"
            } else {
                "hidden"
            };
            self.record(
                std::iter::once(format!("document {id}: {verdict}"))
                    .chain(t.into_iter().map(|l| format!("  {l}"))),
            );
        }
        decision
    }

    /// A document as the caller may read it (rules and the filters' projection), or `None`.
    async fn visible_view(&self, doc: Document) -> Result<Option<Document>, GuardError> {
        let mut rounds = 0;
        loop {
            let (Some(decider), Some((rules, request))) = (self.decider(), self.request()) else {
                return Ok(Some(doc));
            };
            let applied = apply_filters(rules, &request).map_err(GuardError::NotAllowed)?;
            let view = decider
                .read(&doc, &mut None)
                .map(|d| project(d, applied.projection.as_ref()));
            if !self.settled_again(&mut rounds).await? {
                return Ok(view);
            }
        }
    }

    /// Documents matching `query` that the caller may read, with unreadable fields removed.
    /// The query, sort, skip and limit are judged on each document as the caller may read
    /// it: a field the caller cannot read behaves as missing.
    pub async fn find(
        &self,
        query: &Document,
        options: &FindOptions,
    ) -> Result<Vec<Document>, GuardError> {
        if self.decider().is_none() {
            return Ok(self.store.find(&self.namespace, query, options).await?);
        }
        self.functions.forget();
        let user_projection = options
            .projection
            .as_ref()
            .map(Projection::parse)
            .transpose()?;
        let order = Order {
            sort: options.sort.as_ref(),
            skip: options.skip,
            limit: options.limit,
        };
        let selected = self.select(query, order, Purpose::Read).await?;
        Ok(selected
            .into_iter()
            .map(|seen| project(seen.visible, user_projection.as_ref()))
            .collect())
    }

    /// The first matching readable document.
    pub async fn find_one(
        &self,
        query: &Document,
        options: &FindOptions,
    ) -> Result<Option<Document>, GuardError> {
        let options = FindOptions {
            limit: Some(1),
            ..options.clone()
        };
        Ok(self.find(query, &options).await?.into_iter().next())
    }

    /// How many matching documents the caller may read, the query judged on each document as
    /// the caller may read it. For users the store counts, with the read rules in front (see
    /// [`aggregate`](Self::aggregate)).
    pub async fn count(&self, query: &Document) -> Result<u64, GuardError> {
        if self.decider().is_none() {
            return Ok(self.store.count(&self.namespace, query).await?);
        }
        self.user_count(query).await
    }

    /// Runs a pipeline over the documents the caller may read. For users the pipeline runs
    /// on the store behind stages that apply the read rules, so each of its stages sees only
    /// the documents and fields the user may read; where the rules cannot be expressed exactly
    /// on the server, the documents are decided in process as they stream in and the pipeline
    /// runs in process. Stages and operators App Services reserves for system callers are
    /// refused. The system user's pipeline goes to the store as it is.
    pub async fn aggregate(&self, pipeline: &[Document]) -> Result<Vec<Document>, GuardError> {
        if self.decider().is_none() {
            return Ok(self.store.aggregate(&self.namespace, pipeline).await?);
        }
        self.user_aggregate(pipeline).await
    }

    /// Inserts one document (an `_id` is generated when missing).
    pub async fn insert_one(&self, document: Document) -> Result<InsertOneResult, GuardError> {
        let ids = self.insert_many(vec![document]).await?;
        Ok(InsertOneResult {
            inserted_id: ids.into_iter().next().unwrap_or(Bson::Null),
        })
    }

    /// Inserts documents, all or none.
    pub async fn insert_many(&self, documents: Vec<Document>) -> Result<Vec<Bson>, GuardError> {
        crate::store::check_documents(&documents)?;
        let documents: Vec<Document> = documents.into_iter().map(ensure_id).collect();
        if let Some(decider) = self.decider() {
            self.functions.forget();
            for doc in &documents {
                let decision = self
                    .decide_settled(|| decider.check_insert(doc, self.explain))
                    .await?;
                self.check(decision)?;
            }
        }
        let ids = documents
            .iter()
            .map(|d| d.get("_id").cloned().unwrap_or(Bson::Null))
            .collect();
        self.store
            .apply(
                &self.namespace,
                documents.into_iter().map(Write::Insert).collect(),
            )
            .await?;
        Ok(ids)
    }

    fn check(&self, decision: Result<(), Box<Denial>>) -> Result<(), GuardError> {
        match decision {
            Ok(()) => Ok(()),
            Err(denial) => {
                let user = match &self.caller {
                    Caller::User { request, .. } => request.user.id.as_str(),
                    Caller::System => "",
                };
                tracing::info!(
                    target: "expanse::decisions",
                    decision = "denied",
                    operation = denial.kind.as_str(),
                    namespace = %self.namespace,
                    user,
                    role = denial.role.as_deref().unwrap_or("(none)"),
                    rule = %denial.rule,
                    "write denied"
                );
                self.record(
                    std::iter::once(denial.to_string())
                        .chain(denial.trace.iter().map(|l| format!("  {l}"))),
                );
                Err(GuardError::Denied(denial))
            }
        }
    }

    /// [`Self::check`] for a selected document: a denial names its `_id`, and the field it
    /// refuses, only when the caller may read them.
    fn check_seen(&self, decision: Result<(), Box<Denial>>, seen: &Seen) -> Result<(), GuardError> {
        self.check(decision.map_err(|mut denial| {
            if !seen.visible.contains_key("_id") {
                denial.id = None;
            }
            if let Some(field) = denial.field() {
                let parts: Vec<String> = field.split('.').map(str::to_owned).collect();
                let hidden = crate::update::get_path(seen.stored(), &parts).is_some()
                    && crate::update::get_path(&seen.visible, &parts).is_none();
                if hidden {
                    denial.hide_field();
                }
            }
            denial
        }))
    }

    /// An update that cannot apply to a selected document. When it fails the same way on the
    /// caller's view, the failure is the caller's to see (its message holds paths and types
    /// only); otherwise it comes from something the caller cannot read, which the write reaches
    /// into: that is refused as a denial, saying nothing of what is there.
    fn update_failure(
        &self,
        error: UpdateError,
        update: &Update,
        matched: Option<usize>,
        kind: WriteKind,
        seen: &Seen,
    ) -> GuardError {
        let Some(decider) = self.decider() else {
            return error.into();
        };
        if update
            .apply_positioned(&seen.visible, matched)
            .err()
            .as_ref()
            == Some(&error)
        {
            return error.into();
        }
        let stored = seen.stored();
        let role = decider.role_for(stored, Some(stored), &mut None);
        let denial = Denial {
            kind,
            id: seen.visible.get("_id").cloned(),
            role: role.map(|r| r.name.clone()),
            rule: format!(
                "the update reaches into {}, which the user cannot read",
                if error.path.is_empty() {
                    "a field"
                } else {
                    error.path.as_str()
                }
            ),
            at: role.map(|r| r.at.clone()),
            trace: Vec::new(),
        };
        match self.check(Err(Box::new(denial))) {
            Err(e) => e,
            Ok(()) => error.into(),
        }
    }

    /// Array filters are queries: a user's may not use what App Services reserves for the
    /// system user (regular expressions, `$where`, …), as in the query itself.
    fn check_array_filters(&self, filters: &[Document]) -> Result<(), GuardError> {
        if self.decider().is_some() {
            filters
                .iter()
                .try_for_each(|f| check_user_query(f, self.allow_regex()))?;
        }
        Ok(())
    }

    /// `updateOne`.
    pub async fn update_one(
        &self,
        query: &Document,
        update: &Document,
        upsert: bool,
    ) -> Result<UpdateResult, GuardError> {
        let options = UpdateOptions {
            upsert,
            ..UpdateOptions::default()
        };
        self.update_one_with(query, update, &options).await
    }

    /// `updateOne` with its options: `upsert`, and the `arrayFilters` that `$[<identifier>]`
    /// paths use. The positional operator `$` stands for the array position the query matched
    /// in each document, judged as the caller may read it.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// use bson::doc;
    /// use expanse::guard::UpdateOptions;
    /// use expanse::store::{MemoryStore, Namespace, Store, Write};
    /// use expanse::{App, User};
    /// let app = App::load("fixtures/app")?.app;
    /// let store = MemoryStore::new();
    /// let ns = Namespace::new("notes_app", "notes");
    /// store.apply(&ns, vec![Write::Insert(doc! {"_id": 1, "tags": ["a", "b", "a"]})]).await?;
    /// let system = User::system();
    /// let notes = app.collection(&store, &system, "notes_app", "notes")?;
    /// let options = UpdateOptions { array_filters: vec![doc! {"t": "a"}], ..Default::default() };
    /// notes.update_one_with(&doc! {"_id": 1}, &doc! {"$set": {"tags.$[t]": "z"}}, &options).await?;
    /// notes.update_one_with(&doc! {"tags": "b"}, &doc! {"$set": {"tags.$": "y"}}, &UpdateOptions::default()).await?;
    /// assert_eq!(store.documents(&ns), [doc! {"_id": 1, "tags": ["z", "y", "z"]}]);
    /// # Ok::<(), Box<dyn std::error::Error>>(()) })?; Ok(()) }
    /// ```
    pub async fn update_one_with(
        &self,
        query: &Document,
        update: &Document,
        options: &UpdateOptions,
    ) -> Result<UpdateResult, GuardError> {
        self.check_array_filters(&options.array_filters)?;
        let parsed = Update::parse_with(update, &options.array_filters)?;
        let upsert = options.upsert;
        if !upsert {
            if let Some(result) = self
                .update_one_with_rules_in_filter(query, update, &parsed)
                .await?
            {
                return Ok(result);
            }
        }
        self.update(query, &parsed, false, upsert, WriteKind::Update, None)
            .await
            .map(|(r, _)| r)
    }

    /// `updateOne` in one round trip, when the rules can ride in the update's own filter: the
    /// query names one `_id`, the update writes no field the rules or the query read (so the
    /// rules judge the stored document as they would the written one), and the rules push
    /// down exactly for the written paths ([`Decider::write_filter`]). The server then updates
    /// the document only if the rules allow it, atomically. `None` (nothing written) when any
    /// condition fails or nothing matched: the caller reads, decides and writes as usual, which
    /// gives the exact result or the denial.
    async fn update_one_with_rules_in_filter(
        &self,
        query: &Document,
        raw_update: &Document,
        update: &Update,
    ) -> Result<Option<UpdateResult>, GuardError> {
        // Coverage needs every rule evaluated in process; a positional or array-filtered
        // update depends on the query alone and on options the raw update does not carry.
        if self.coverage.is_some() || !names_one_id(query) || update.is_dynamic() {
            return Ok(None);
        }
        let Some(decider) = self.decider() else {
            return Ok(None);
        };
        let Some(written) = update.written_paths() else {
            return Ok(None);
        };
        // Cheap checks first, before the filters are evaluated; the rules' footprint already
        // names the fields of their filters' queries.
        let read = self.watched(query);
        if read.is_whole() || written.iter().any(|p| read.fields().any(|f| f == p[0])) {
            return Ok(None);
        }
        let Some(allowed) = decider.write_filter(&written) else {
            return Ok(None);
        };
        let Some(applied) = self.applied_filters()? else {
            return Ok(None);
        };
        // The query must read the same on the stored document as on the user's view.
        let sight = Sight {
            rules: decider.rules(),
            projection: applied.projection.as_ref(),
        };
        if !sight.whole_query(query) {
            return Ok(None);
        }
        check_user_query(query, self.allow_regex())?;
        let mut parts = vec![query.clone()];
        parts.extend(applied.queries);
        parts.push(allowed);
        let filter = crate::query::conjoin(parts);
        // A server error could quote the stored document: the in-process path reports it in
        // Expanse's words instead.
        let Ok(outcome) = self
            .store
            .update_one_where(&self.namespace, &filter, raw_update)
            .await
        else {
            return Ok(None);
        };
        match outcome {
            Some((1, modified)) => {
                self.record([format!(
                    "updated in one round trip: the rules rode in the update's filter {}",
                    Bson::Document(filter).into_relaxed_extjson()
                )]);
                Ok(Some(UpdateResult {
                    matched_count: 1,
                    modified_count: modified,
                    upserted_id: None,
                }))
            }
            _ => Ok(None),
        }
    }

    /// `updateMany`: every matched document must be allowed, or nothing changes. Unlike
    /// MongoDB, an update that fails on one document (a `$inc` on a string) changes none,
    /// not the documents before it.
    pub async fn update_many(
        &self,
        query: &Document,
        update: &Document,
        upsert: bool,
    ) -> Result<UpdateResult, GuardError> {
        let options = UpdateOptions {
            upsert,
            ..UpdateOptions::default()
        };
        self.update_many_with(query, update, &options).await
    }

    /// `updateMany` with its options (see [`Self::update_one_with`]). A replacement document
    /// is refused, as MongoDB refuses it.
    pub async fn update_many_with(
        &self,
        query: &Document,
        update: &Document,
        options: &UpdateOptions,
    ) -> Result<UpdateResult, GuardError> {
        self.check_array_filters(&options.array_filters)?;
        let update = Update::parse_with(update, &options.array_filters)?;
        if let Update::Replacement(_) = update {
            return Err(GuardError::Update(UpdateError {
                path: String::new(),
                message: "multi update is not supported for replacement-style update".into(),
            }));
        }
        self.update(
            query,
            &update,
            true,
            options.upsert,
            WriteKind::Update,
            None,
        )
        .await
        .map(|(r, _)| r)
    }

    /// `replaceOne`.
    pub async fn replace_one(
        &self,
        query: &Document,
        replacement: &Document,
        upsert: bool,
    ) -> Result<UpdateResult, GuardError> {
        let update = Update::replacement(replacement)?;
        self.update(query, &update, false, upsert, WriteKind::Replace, None)
            .await
            .map(|(r, _)| r)
    }

    /// `findOneAndUpdate`: the document before (or after) the change, as the caller may read it.
    pub async fn find_one_and_update(
        &self,
        query: &Document,
        update: &Document,
        options: &FindOneAndOptions,
    ) -> Result<Option<Document>, GuardError> {
        self.find_one_and_update_with(query, update, options, &[])
            .await
    }

    /// `findOneAndUpdate` with the `arrayFilters` that `$[<identifier>]` paths use (see
    /// [`UpdateOptions::from_document`] to read them from an options document).
    pub async fn find_one_and_update_with(
        &self,
        query: &Document,
        update: &Document,
        options: &FindOneAndOptions,
        array_filters: &[Document],
    ) -> Result<Option<Document>, GuardError> {
        self.check_array_filters(array_filters)?;
        let update = Update::parse_with(update, array_filters)?;
        self.find_one_and_write(query, &update, WriteKind::Update, options)
            .await
    }

    /// `findOneAndReplace`.
    pub async fn find_one_and_replace(
        &self,
        query: &Document,
        replacement: &Document,
        options: &FindOneAndOptions,
    ) -> Result<Option<Document>, GuardError> {
        let update = Update::replacement(replacement)?;
        self.find_one_and_write(query, &update, WriteKind::Replace, options)
            .await
    }

    async fn find_one_and_write(
        &self,
        query: &Document,
        update: &Update,
        kind: WriteKind,
        options: &FindOneAndOptions,
    ) -> Result<Option<Document>, GuardError> {
        let (_, images) = self
            .update(
                query,
                update,
                false,
                options.upsert,
                kind,
                options.sort.as_ref(),
            )
            .await?;
        let Some((pre, post)) = images else {
            return Ok(None);
        };
        let chosen = if options.return_new_document {
            self.visible_view(post).await?
        } else {
            pre
        };
        self.projected(chosen, options.projection.as_ref())
    }

    /// A returned document through the caller's projection.
    fn projected(
        &self,
        doc: Option<Document>,
        projection: Option<&Document>,
    ) -> Result<Option<Document>, GuardError> {
        let projection = projection.map(Projection::parse).transpose()?;
        Ok(doc.map(|d| project(d, projection.as_ref())))
    }

    /// The write pipeline shared by updates and replacements: select the targets among the
    /// documents the caller may read, compute post-images, check each, apply all-or-nothing,
    /// retry on conflict. Returns the result and, for single-document writes, the pre-image as
    /// the caller may read it and the post-image.
    async fn update(
        &self,
        query: &Document,
        update: &Update,
        multi: bool,
        upsert: bool,
        kind: WriteKind,
        sort: Option<&Document>,
    ) -> Result<(UpdateResult, Option<(Option<Document>, Document)>), GuardError> {
        let order = Order {
            sort,
            skip: 0,
            limit: if multi { None } else { Some(1) },
        };
        self.functions.forget();
        let positional_query = if update.is_positional() {
            Some(Filter::parse(query)?)
        } else {
            None
        };
        for attempt in 0..MAX_ATTEMPTS {
            let targets = self.select(query, order, Purpose::Write).await?;
            if targets.is_empty() {
                if !upsert {
                    return Ok((UpdateResult::default(), None));
                }
                let inserted = ensure_id(update.upsert_document(query)?);
                if let Some(decider) = self.decider() {
                    let decision = self
                        .decide_settled(|| decider.check_insert(&inserted, self.explain))
                        .await?;
                    self.check(decision)?;
                }
                let id = inserted.get("_id").cloned();
                match self
                    .store
                    .apply(&self.namespace, vec![Write::Insert(inserted.clone())])
                    .await
                {
                    Ok(()) => {
                        let result = UpdateResult {
                            matched_count: 0,
                            modified_count: 0,
                            upserted_id: id,
                        };
                        return Ok((result, Some((None, inserted))));
                    }
                    Err(StoreError::Conflict) => backoff(attempt).await,
                    Err(e) => return Err(e.into()),
                }
                continue;
            }
            let mut writes = Vec::new();
            let mut images = None;
            for seen in &targets {
                let pre = seen.stored();
                // `$` stands for the position the query matched as the caller reads the document.
                let matched = positional_query
                    .as_ref()
                    .and_then(|q| matched_position(q, &seen.visible));
                let post = update
                    .apply_positioned(pre, matched)
                    .map_err(|e| self.update_failure(e, update, matched, kind, seen))?;
                if let Some(decider) = self.decider() {
                    let decision = self
                        .decide_settled(|| decider.check_update(kind, pre, &post, self.explain))
                        .await?;
                    self.check_seen(decision, seen)?;
                }
                if images.is_none() {
                    images = Some((Some(seen.visible.clone()), post.clone()));
                }
                if post != *pre {
                    writes.push(Write::Replace {
                        pre: pre.clone(),
                        post,
                    });
                }
            }
            let result = UpdateResult {
                matched_count: targets.len() as u64,
                modified_count: writes.len() as u64,
                upserted_id: None,
            };
            match self
                .store
                .apply_watching(&self.namespace, writes, &self.watched(query))
                .await
            {
                Ok(()) => return Ok((result, images)),
                Err(StoreError::Conflict) => backoff(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(GuardError::Contention(MAX_ATTEMPTS))
    }

    /// `deleteOne`.
    pub async fn delete_one(&self, query: &Document) -> Result<u64, GuardError> {
        Ok(self.delete(query, false, None).await?.len() as u64)
    }

    /// `deleteMany`: every matched document must be deletable, or nothing is deleted.
    pub async fn delete_many(&self, query: &Document) -> Result<u64, GuardError> {
        Ok(self.delete(query, true, None).await?.len() as u64)
    }

    /// `findOneAndDelete`: the deleted document, as the caller may read it.
    pub async fn find_one_and_delete(
        &self,
        query: &Document,
        options: &FindOneAndOptions,
    ) -> Result<Option<Document>, GuardError> {
        let deleted = self.delete(query, false, options.sort.as_ref()).await?;
        let first = deleted.into_iter().next().map(|seen| seen.visible);
        self.projected(first, options.projection.as_ref())
    }

    /// Deletes among the documents the caller may read; every target must be deletable.
    async fn delete(
        &self,
        query: &Document,
        multi: bool,
        sort: Option<&Document>,
    ) -> Result<Vec<Seen>, GuardError> {
        let order = Order {
            sort,
            skip: 0,
            limit: if multi { None } else { Some(1) },
        };
        self.functions.forget();
        for attempt in 0..MAX_ATTEMPTS {
            let targets = self.select(query, order, Purpose::Write).await?;
            if let Some(decider) = self.decider() {
                for seen in &targets {
                    let decision = self
                        .decide_settled(|| decider.check_delete(seen.stored(), self.explain))
                        .await?;
                    self.check_seen(decision, seen)?;
                }
            }
            let writes = targets
                .iter()
                .map(|seen| Write::Delete {
                    pre: seen.stored().clone(),
                })
                .collect();
            match self
                .store
                .apply_watching(&self.namespace, writes, &self.watched(query))
                .await
            {
                Ok(()) => return Ok(targets),
                Err(StoreError::Conflict) => backoff(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(GuardError::Contention(MAX_ATTEMPTS))
    }
}

/// How a selection is ordered and cut.
#[derive(Clone, Copy, Default)]
struct Order<'o> {
    sort: Option<&'o Document>,
    skip: u64,
    limit: Option<u64>,
}

/// What a selection is for: a read may leave the fields the rules hide on the server; a
/// write needs each stored document whole.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Read,
    Write,
}
