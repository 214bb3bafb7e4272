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
mod error;
mod options;
mod perform;
mod read;
mod retry;
mod view;
mod write;

use std::sync::Mutex;

use bson::Document;

use crate::expr::{Footprint, FunctionCaller};
use crate::query::Projection;
use crate::rules::{
    apply_filters, AppliedFilters, CollectionRules, Coverage, Decider, RequestContext,
};
use crate::store::{Namespace, Store};

use deferred::{Deferred, MAX_ROUNDS};

pub use error::GuardError;
pub use options::{FindOneAndOptions, InsertOneResult, UpdateOptions, UpdateResult};

pub(crate) enum Caller<'a> {
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

impl<'a, S: Store> GuardedCollection<'a, S> {
    /// A collection seen by `caller` (see [`crate::App::collection`]).
    pub(crate) fn new(store: &'a S, namespace: Namespace, caller: Caller<'a>) -> Self {
        GuardedCollection {
            store,
            namespace,
            caller,
            explain: false,
            trace: Mutex::new(Vec::new()),
            coverage: None,
            rules_footprint: std::sync::OnceLock::new(),
            functions: Deferred::default(),
        }
    }

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

    fn record<I: IntoIterator<Item = String>>(&self, lines: impl FnOnce() -> I) {
        if self.explain {
            if let Ok(mut t) = self.trace.lock() {
                t.extend(lines());
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
        let applied = apply_filters(rules, &request)?;
        if let Some(coverage) = self.coverage {
            for name in &applied.names {
                coverage.record(&rules.file, || crate::rules::RuleLabel::Filter {
                    name: name.clone(),
                });
            }
        }
        if !applied.names.is_empty() {
            self.record(|| [format!("filters applied: {}", applied.names.join(", "))]);
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
}
