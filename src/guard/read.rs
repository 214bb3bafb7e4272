//! The read path: which documents a caller's query selects, each as the caller may read it.

use bson::{Bson, Document};

use super::view::{Seen, Sight};
use super::{project, GuardError, GuardedCollection};
use crate::query::{Filter, Projection, SortSpec};
use crate::rules::{apply_filters, check_user_query, Decider};
use crate::store::{FindOptions, Store};

impl<S: Store> GuardedCollection<'_, S> {
    /// The documents `query` selects for this caller, in `order`: for users, judged on each
    /// document as the user may read it (see [`view`]), with the rules pushed down.
    pub(super) async fn select(
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
        self.record(|| {
            [format!(
                "rules pushed down as {} ({})",
                Bson::Document(pushed.filter.to_document()).into_relaxed_extjson(),
                if pushed.exact {
                    "exact"
                } else {
                    "widened; every document is checked"
                }
            )]
        });
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
            self.record(|| [
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
    pub(super) fn read_decision(&self, decider: &Decider<'_>, doc: &Document) -> Option<Document> {
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
            self.record(|| {
                std::iter::once(format!("document {id}: {verdict}"))
                    .chain(t.into_iter().map(|l| format!("  {l}")))
            });
        }
        decision
    }

    /// A document as the caller may read it (rules and the filters' projection), or `None`.
    pub(super) async fn visible_view(&self, doc: Document) -> Result<Option<Document>, GuardError> {
        let mut rounds = 0;
        loop {
            let (Some(decider), Some((rules, request))) = (self.decider(), self.request()) else {
                return Ok(Some(doc));
            };
            let applied = apply_filters(rules, &request)?;
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
}

/// How a selection is ordered and cut.
#[derive(Clone, Copy, Default)]
pub(super) struct Order<'o> {
    pub(super) sort: Option<&'o Document>,
    pub(super) skip: u64,
    pub(super) limit: Option<u64>,
}

/// What a selection is for: a read may leave the fields the rules hide on the server; a
/// write needs each stored document whole.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    Read,
    Write,
}
