//! A user's `aggregate` and `count`: run by the store behind the read rules.
//!
//! The rules go first, as stages ([`Decider::read_partitions`]): for each way the roles show
//! documents, a `$match` selecting those documents (the roles pushed down, the filters' queries,
//! and the user's leading `$match` where it reads only fields every role shows whole) and the
//! stage that removes what the roles hide; partitions are joined with `$unionWith`; the
//! filters' projection follows. The user's stages come after, so every one of them sees only
//! the documents and fields the user may read — hidden fields missing, hidden documents absent.
//!
//! Where a rule cannot be said exactly on the server ([`NotExact`]: an expression that pushes
//! down only widened, a field rule on `%%this`, `%function` with document arguments, coverage
//! being recorded), the store streams the candidates (the widened push-down) and each is
//! decided in process; the user's pipeline then runs in process over the documents as the user
//! may read them, one at a time ([`Pipeline`]), never holding the collection.

use bson::{doc, Bson, Document};

use super::view::Sight;
use super::{project, GuardError, GuardedCollection};
use crate::expr::PushedFilter;
use crate::query::conjoin;
use crate::rules::{check_user_pipeline, check_user_query, AppliedFilters};
use crate::rules::{Decider, NotExact};
use crate::store::{count_of, Pipeline, Store, StoreError};

/// A leading `$match`'s conditions that read only paths every role shows whole (they judge
/// the stored document as they would the user's view, so they can go ahead of the rules'
/// stages, where the server can use an index), and the pipeline left to run after them.
fn hoist(sight: &Sight<'_>, pipeline: &[Document]) -> (Document, Vec<Document>) {
    let first = pipeline
        .first()
        .filter(|s| s.len() == 1)
        .and_then(|s| s.get_document("$match").ok());
    let Some(query) = first else {
        return (Document::new(), pipeline.to_vec());
    };
    let hoisted = sight.judged_by_store(query);
    let rest: Document = query
        .iter()
        .filter(|(k, _)| !hoisted.contains_key(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut remaining = Vec::with_capacity(pipeline.len());
    if !rest.is_empty() {
        remaining.push(doc! {"$match": rest});
    }
    remaining.extend(pipeline[1..].iter().cloned());
    (hoisted, remaining)
}

/// The read rules, as the stages the server runs before the user's.
fn server_stages(
    decider: &Decider<'_>,
    applied: &AppliedFilters,
    hoisted: &Document,
    collection: &str,
) -> Result<Vec<Document>, NotExact> {
    let partitions = decider.read_partitions()?;
    let mut branches: Vec<Vec<Document>> = partitions
        .iter()
        .map(|partition| {
            let mut parts = vec![partition.filter.clone()];
            parts.extend(applied.queries.iter().cloned());
            if !hoisted.is_empty() {
                parts.push(hoisted.clone());
            }
            let mut stages = vec![doc! {"$match": conjoin(parts)}];
            stages.extend(partition.view.stages());
            stages
        })
        .collect();
    let mut stages = if branches.is_empty() {
        vec![doc! {"$match": PushedFilter::Nothing.to_document()}]
    } else {
        branches.remove(0)
    };
    for branch in branches {
        stages.push(doc! {"$unionWith": {"coll": collection, "pipeline": branch}});
    }
    if let Some(spec) = &applied.projection_spec {
        stages.push(doc! {"$project": spec.clone()});
    }
    Ok(stages)
}

fn extjson(stages: &[Document]) -> String {
    Bson::Array(stages.iter().cloned().map(Bson::Document).collect())
        .into_relaxed_extjson()
        .to_string()
}

/// What one round of a user's aggregation decided to do.
enum Route {
    /// The whole pipeline goes to the store.
    Server(Vec<Document>),
    /// The candidates stream from the store, are decided in process, and `pipeline` runs in
    /// process over what the user may read.
    InProcess {
        reason: String,
        hoisted: Document,
        pipeline: Vec<Document>,
    },
}

impl<S: Store> GuardedCollection<'_, S> {
    /// How a user's pipeline runs: behind the rules' stages on the store, or in process.
    fn route(
        &self,
        decider: &Decider<'_>,
        applied: &AppliedFilters,
        pipeline: &[Document],
    ) -> Route {
        let sight = Sight {
            rules: decider.rules(),
            projection: applied.projection.as_ref(),
        };
        let (hoisted, rest) = hoist(&sight, pipeline);
        let planned = if self.coverage.is_some() {
            Err(NotExact(
                "coverage is being recorded, which needs every rule decided in process".into(),
            ))
        } else {
            server_stages(decider, applied, &hoisted, &self.namespace.collection)
        };
        match planned {
            Ok(mut stages) => {
                stages.extend(rest);
                Route::Server(stages)
            }
            Err(NotExact(reason)) => Route::InProcess {
                reason,
                hoisted,
                pipeline: rest,
            },
        }
    }

    /// A user's `aggregate` (see the module documentation).
    pub(super) async fn user_aggregate(
        &self,
        pipeline: &[Document],
    ) -> Result<Vec<Document>, GuardError> {
        check_user_pipeline(pipeline, self.allow_regex())?;
        self.functions.forget();
        let mut rounds = 0;
        loop {
            let traced = self.trace_len();
            let (Some(decider), Some(applied)) = (self.decider(), self.applied_filters()?) else {
                return Ok(self.store.aggregate(&self.namespace, pipeline).await?);
            };
            let route = self.route(&decider, &applied, pipeline);
            // The rules' `%function` results must be known before anything is sent.
            if self.settled_again(&mut rounds).await? {
                self.truncate_trace(traced);
                continue;
            }
            let result = match route {
                Route::Server(stages) => {
                    if self.explain {
                        self.record(|| {
                            [format!(
                                "aggregation runs on the server behind the read rules: {}",
                                extjson(&stages)
                            )]
                        });
                    }
                    self.store.aggregate(&self.namespace, &stages).await?
                }
                Route::InProcess {
                    reason,
                    hoisted,
                    pipeline,
                } => {
                    self.record(|| {
                        [format!(
                        "aggregation runs in process over the documents the user may read: {reason}"
                    )]
                    });
                    let compiled =
                        Pipeline::new(&pipeline).map_err(|e| in_process_error(e, &reason))?;
                    self.stream_visible(&decider, &applied, &hoisted, compiled)
                        .await
                        .map_err(|e| match e {
                            GuardError::Store(e) => in_process_error(e, &reason),
                            other => other,
                        })?
                }
            };
            if !self.settled_again(&mut rounds).await? {
                return Ok(result);
            }
            self.truncate_trace(traced);
        }
    }

    /// A user's `count`: the documents matching `query` as the user may read them, counted by
    /// the store behind the read rules (or in process, streaming, where they cannot be said
    /// there).
    pub(super) async fn user_count(&self, query: &Document) -> Result<u64, GuardError> {
        check_user_query(query, self.allow_regex())?;
        let pipeline = [doc! {"$match": query.clone()}];
        self.functions.forget();
        let mut rounds = 0;
        loop {
            let traced = self.trace_len();
            let (Some(decider), Some(applied)) = (self.decider(), self.applied_filters()?) else {
                return Ok(self.store.count(&self.namespace, query).await?);
            };
            let route = self.route(&decider, &applied, &pipeline);
            if self.settled_again(&mut rounds).await? {
                self.truncate_trace(traced);
                continue;
            }
            let n = match route {
                // Only a `$match`: the store's own count.
                Route::Server(stages) if stages.len() == 1 => {
                    let filter = stages
                        .first()
                        .and_then(|s| s.get_document("$match").ok())
                        .cloned()
                        .unwrap_or_default();
                    if self.explain {
                        self.record(|| {
                            [format!(
                                "counted on the server with the read rules in the query: {}",
                                Bson::Document(filter.clone()).into_relaxed_extjson()
                            )]
                        });
                    }
                    self.store.count(&self.namespace, &filter).await?
                }
                Route::Server(mut stages) => {
                    stages.push(doc! {"$count": "n"});
                    if self.explain {
                        self.record(|| {
                            [format!(
                                "counted on the server behind the read rules: {}",
                                extjson(&stages)
                            )]
                        });
                    }
                    counted(self.store.aggregate(&self.namespace, &stages).await?)
                }
                Route::InProcess {
                    reason,
                    hoisted,
                    mut pipeline,
                } => {
                    self.record(|| {
                        [format!(
                            "counted in process over the documents the user may read: {reason}"
                        )]
                    });
                    pipeline.push(doc! {"$count": "n"});
                    let compiled =
                        Pipeline::new(&pipeline).map_err(|e| in_process_error(e, &reason))?;
                    counted(
                        self.stream_visible(&decider, &applied, &hoisted, compiled)
                            .await?,
                    )
                }
            };
            if !self.settled_again(&mut rounds).await? {
                return Ok(n);
            }
            self.truncate_trace(traced);
        }
    }

    /// Streams the candidates for the read rules (widened where they are not exact) from the
    /// store, decides each in process, and pushes what the user may read of it through
    /// `pipeline`.
    async fn stream_visible(
        &self,
        decider: &Decider<'_>,
        applied: &AppliedFilters,
        hoisted: &Document,
        mut pipeline: Pipeline,
    ) -> Result<Vec<Document>, GuardError> {
        let pushed = decider.read_filter();
        if pushed.filter != PushedFilter::Nothing {
            let mut parts = vec![pushed.filter.to_document()];
            parts.extend(applied.queries.iter().cloned());
            if !hoisted.is_empty() {
                parts.push(hoisted.clone());
            }
            let mut candidates = vec![doc! {"$match": conjoin(parts)}];
            if let Some(projection) = decider.read_projection() {
                candidates.push(doc! {"$project": projection});
            }
            let mut stream = self
                .store
                .aggregate_stream(&self.namespace, &candidates)
                .await?;
            while let Some(stored) = stream.next().await {
                let stored = stored?;
                let Some(visible) = self.read_decision(decider, &stored) else {
                    continue;
                };
                pipeline.push(project(visible, applied.projection.as_ref()))?;
                if pipeline.saturated() {
                    break;
                }
            }
        }
        Ok(pipeline.finish()?)
    }
}

/// A stage the embedded pipeline cannot run, said in the words of the fallback that needed it.
fn in_process_error(e: StoreError, reason: &str) -> GuardError {
    match e {
        StoreError::Unsupported(message) => GuardError::NotAllowed(format!(
            "{message}; this collection's read rules are decided in process ({reason}), so the pipeline runs in process"
        )),
        other => other.into(),
    }
}

/// The `n` of a `[{"n": …}]` `$count` result (no document: nothing counted).
fn counted(docs: Vec<Document>) -> u64 {
    docs.first()
        .and_then(|d| d.get("n"))
        .and_then(count_of)
        .unwrap_or(0)
}
