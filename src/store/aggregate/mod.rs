//! The aggregation stages the embedded store runs in process, streaming: each document goes
//! through the stages as far as it can; a stage that needs all its input (`$sort`, `$group`,
//! `$bucket`, `$sortByCount`, `$count`) holds its state and emits when the input ends.
//!
//! Stages: `$match` (with `$expr`), `$project` (with computed fields), `$addFields`/`$set`,
//! `$unset`, `$replaceRoot`/`$replaceWith`, `$unwind`, `$sort`, `$skip`, `$limit`, `$count`,
//! `$group`, `$bucket`, `$sortByCount`, and `$unionWith` when a store can name the documents
//! of another collection.

mod accumulators;
pub(crate) mod expression;
mod grouping;
mod numbers;
mod operators;
mod reshape;
mod unwind;

use bson::{doc, Bson, Document};

use super::{count_of, StoreError};
use crate::query::{Filter, QueryError, SortSpec};
use expression::{truthy, Expr};
use grouping::Grouping;
use reshape::Reshape;
use unwind::Unwind;

pub(crate) fn invalid(stage: &str, message: impl Into<String>) -> StoreError {
    StoreError::Query(QueryError {
        path: stage.to_owned(),
        message: message.into(),
    })
}

pub(crate) fn unsupported(message: impl Into<String>) -> StoreError {
    StoreError::Unsupported(message.into())
}

/// The stages [`run_pipeline`] runs, for error messages.
pub const SUPPORTED_STAGES: &str = "$match $project $addFields $set $unset $replaceRoot $replaceWith $unwind $sort $skip $limit $count $group $bucket $sortByCount";

/// `$match`: a query, and an `$expr` beside it.
#[derive(Debug, Clone)]
struct Match {
    filter: Filter,
    expr: Option<Expr>,
}

impl Match {
    fn parse(query: &Document) -> Result<Match, StoreError> {
        let mut rest = query.clone();
        let expr = rest
            .remove("$expr")
            .map(|e| expression::compile(&e, "$match"))
            .transpose()?;
        Ok(Match {
            filter: Filter::parse(&rest)?,
            expr,
        })
    }

    fn matches(&self, doc: &Document) -> Result<bool, StoreError> {
        if !self.filter.matches(doc) {
            return Ok(false);
        }
        match &self.expr {
            Some(e) => Ok(truthy(&e.evaluate_on(doc)?)),
            None => Ok(true),
        }
    }
}

/// One stage with its running state.
#[derive(Debug, Clone)]
enum Stage {
    Match(Match),
    Reshape(Reshape),
    Unwind(Unwind),
    Skip {
        n: u64,
        seen: u64,
    },
    Limit {
        n: u64,
        seen: u64,
    },
    Sort {
        spec: SortSpec,
        held: Vec<Document>,
    },
    Group(Grouping),
    Count {
        field: String,
        n: u64,
    },
    UnionWith {
        docs: Vec<Document>,
        pipeline: Vec<Stage>,
    },
}

impl Stage {
    /// Whether the stage passes documents on as they come (it holds nothing back).
    fn streams(&self) -> bool {
        matches!(
            self,
            Stage::Match(_)
                | Stage::Reshape(_)
                | Stage::Unwind(_)
                | Stage::Skip { .. }
                | Stage::Limit { .. }
                | Stage::UnionWith { .. }
        )
    }
}

/// Where the documents of another collection of the same database come from (`$unionWith`),
/// given the query of the sub-pipeline's leading `$match`, which a store may apply first (the
/// pipeline applies it again).
pub(crate) type Collections<'c> =
    &'c dyn Fn(&str, Option<&Document>) -> Result<Vec<Document>, StoreError>;

/// The query of a pipeline's leading `$match` (without `$expr`), which a store may apply
/// before the pipeline runs (it runs again, to the same effect).
pub(crate) fn leading_match(pipeline: &[Document]) -> Option<&Document> {
    let stage = pipeline.first().filter(|s| s.len() == 1)?;
    stage
        .get_document("$match")
        .ok()
        .filter(|q| !q.contains_key("$expr"))
}

fn no_collections(name: &str, query: Option<&Document>) -> Result<Vec<Document>, StoreError> {
    let _ = (name, query);
    Err(unsupported(
        "$unionWith needs a store: the embedded pipeline runs over given documents only",
    ))
}

fn parse_stage(stage: &Document, collections: Collections<'_>) -> Result<Stage, StoreError> {
    let mut entries = stage.iter();
    let (Some((name, spec)), None) = (entries.next(), entries.next()) else {
        return Err(invalid(
            "pipeline",
            "A pipeline stage specification object must contain exactly one field.",
        ));
    };
    Ok(match (name.as_str(), spec) {
        ("$match", Bson::Document(query)) => Stage::Match(Match::parse(query)?),
        ("$match", _) => return Err(invalid("$match", "the match filter must be an object")),
        ("$sort", Bson::Document(spec)) if !spec.is_empty() => Stage::Sort {
            spec: SortSpec::parse(spec)?,
            held: Vec::new(),
        },
        ("$sort", _) => return Err(invalid("$sort", "$sort key specification must be an object")),
        ("$skip", n) => Stage::Skip {
            n: count_of(n).ok_or_else(|| invalid("$skip", "$skip must be a non-negative number"))?,
            seen: 0,
        },
        ("$limit", n) => Stage::Limit {
            n: count_of(n)
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid("$limit", "the limit must be positive"))?,
            seen: 0,
        },
        ("$project", spec) => Stage::Reshape(Reshape::project(spec)?),
        ("$addFields" | "$set", spec) => Stage::Reshape(Reshape::add_fields(spec, name)?),
        ("$unset", fields) => Stage::Reshape(Reshape::unset(fields)?),
        ("$replaceRoot", spec) => Stage::Reshape(Reshape::replace_root(spec)?),
        ("$replaceWith", spec) => Stage::Reshape(Reshape::replace_with(spec)?),
        ("$unwind", spec) => Stage::Unwind(Unwind::parse(spec)?),
        ("$group", spec) => Stage::Group(Grouping::group(spec)?),
        ("$bucket", spec) => Stage::Group(Grouping::bucket(spec)?),
        ("$sortByCount", spec) => Stage::Group(Grouping::sort_by_count(spec)?),
        ("$count", Bson::String(field)) => {
            if field.is_empty() || field.starts_with('$') || field.contains('.') {
                return Err(invalid(
                    "$count",
                    "the count field must be a non-empty string without '$' or '.'",
                ));
            }
            Stage::Count {
                field: field.clone(),
                n: 0,
            }
        }
        ("$unionWith", spec) => {
            let (coll, pipeline) = match spec {
                Bson::String(c) => (c.clone(), Vec::new()),
                Bson::Document(d) => {
                    let Ok(coll) = d.get_str("coll") else {
                        return Err(invalid("$unionWith", "$unionWith needs a 'coll'"));
                    };
                    let pipeline = match d.get("pipeline") {
                        None => Vec::new(),
                        Some(Bson::Array(items)) => items
                            .iter()
                            .map(|s| match s {
                                Bson::Document(s) => parse_stage(s, collections),
                                _ => Err(invalid("$unionWith", "each stage must be an object")),
                            })
                            .collect::<Result<_, _>>()?,
                        Some(_) => {
                            return Err(invalid("$unionWith", "'pipeline' must be an array"))
                        }
                    };
                    (coll.to_owned(), pipeline)
                }
                _ => return Err(invalid("$unionWith", "$unionWith takes a string or an object")),
            };
            let query = match spec {
                Bson::Document(d) => d
                    .get_array("pipeline")
                    .ok()
                    .and_then(|items| items.first())
                    .and_then(Bson::as_document)
                    .filter(|s| s.len() == 1)
                    .and_then(|s| s.get_document("$match").ok())
                    .filter(|q| !q.contains_key("$expr")),
                _ => None,
            };
            Stage::UnionWith {
                docs: collections(&coll, query)?,
                pipeline,
            }
        }
        (other, _) => {
            return Err(unsupported(format!(
                "aggregation stage {other} is not supported by the embedded store (supported: {SUPPORTED_STAGES})"
            )))
        }
    })
}

/// A compiled pipeline that documents are pushed through one at a time.
#[derive(Debug, Clone)]
pub(crate) struct Pipeline {
    stages: Vec<Stage>,
    out: Vec<Document>,
}

impl Pipeline {
    /// Compiles a pipeline (`$unionWith` reads other collections through `collections`).
    pub fn compile(
        pipeline: &[Document],
        collections: Collections<'_>,
    ) -> Result<Pipeline, StoreError> {
        Ok(Pipeline {
            stages: pipeline
                .iter()
                .map(|s| parse_stage(s, collections))
                .collect::<Result<_, _>>()?,
            out: Vec::new(),
        })
    }

    /// Compiles a pipeline that reads no other collection.
    pub fn new(pipeline: &[Document]) -> Result<Pipeline, StoreError> {
        Pipeline::compile(pipeline, &no_collections)
    }

    /// Pushes one input document through.
    pub fn push(&mut self, doc: Document) -> Result<(), StoreError> {
        self.feed(0, doc)
    }

    /// Whether no further input can change the output: a `$limit` was reached with nothing
    /// but streaming stages before it.
    pub fn saturated(&self) -> bool {
        for stage in &self.stages {
            match stage {
                Stage::Limit { n, seen } if seen >= n => return true,
                s if !s.streams() => return false,
                _ => {}
            }
        }
        false
    }

    fn feed(&mut self, from: usize, doc: Document) -> Result<(), StoreError> {
        let mut current = vec![doc];
        for i in from..self.stages.len() {
            let mut next = Vec::new();
            for doc in current {
                match &mut self.stages[i] {
                    Stage::Match(m) => {
                        if m.matches(&doc)? {
                            next.push(doc);
                        }
                    }
                    Stage::Reshape(r) => next.push(r.apply(doc)?),
                    Stage::Unwind(u) => next.extend(u.apply(doc)),
                    Stage::Skip { n, seen } => {
                        if *seen < *n {
                            *seen += 1;
                        } else {
                            next.push(doc);
                        }
                    }
                    Stage::Limit { n, seen } => {
                        if *seen < *n {
                            *seen += 1;
                            next.push(doc);
                        }
                    }
                    Stage::Sort { held, .. } => held.push(doc),
                    Stage::Group(g) => g.add(&doc)?,
                    Stage::Count { n, .. } => *n += 1,
                    Stage::UnionWith { .. } => next.push(doc),
                }
            }
            if next.is_empty() {
                return Ok(());
            }
            current = next;
        }
        self.out.extend(current);
        Ok(())
    }

    /// Ends the input: every holding stage emits, in order; returns the output.
    pub fn finish(mut self) -> Result<Vec<Document>, StoreError> {
        for i in 0..self.stages.len() {
            let emitted = match &mut self.stages[i] {
                Stage::Sort { spec, held } => {
                    let mut docs = std::mem::take(held);
                    spec.sort(&mut docs);
                    docs
                }
                Stage::Group(g) => g.finish(),
                Stage::Count { field, n } if *n > 0 => {
                    let count = i32::try_from(*n).map_or(Bson::Int64(*n as i64), Bson::Int32);
                    vec![doc! {field.clone(): count}]
                }
                Stage::UnionWith { docs, pipeline } => {
                    let mut union = Pipeline {
                        stages: std::mem::take(pipeline),
                        out: Vec::new(),
                    };
                    for d in std::mem::take(docs) {
                        union.push(d)?;
                    }
                    union.finish()?
                }
                _ => Vec::new(),
            };
            for doc in emitted {
                self.feed(i + 1, doc)?;
            }
        }
        Ok(self.out)
    }
}

/// Runs a pipeline over documents in process: the stages of [`SUPPORTED_STAGES`], with
/// aggregation expressions (arithmetic, comparison, boolean, conditional, array, object,
/// string and type operators, `$let`, `$map`, `$filter`, `$reduce`).
///
/// ```
/// use bson::doc;
/// let docs = vec![doc! {"n": 3, "k": "a"}, doc! {"n": 1, "k": "b"}, doc! {"n": 2, "k": "a"}];
/// let out = expanse::store::run_pipeline(docs.clone(), &[doc! {"$match": {"n": {"$gt": 1}}}, doc! {"$count": "big"}]).unwrap();
/// assert_eq!(out, vec![doc! {"big": 2}]);
/// let out = expanse::store::run_pipeline(docs, &[
///     doc! {"$group": {"_id": "$k", "total": {"$sum": "$n"}}},
///     doc! {"$sort": {"total": -1}},
/// ]).unwrap();
/// assert_eq!(out, vec![doc! {"_id": "a", "total": 5}, doc! {"_id": "b", "total": 1}]);
/// ```
pub fn run_pipeline(
    docs: Vec<Document>,
    pipeline: &[Document],
) -> Result<Vec<Document>, StoreError> {
    run_pipeline_with(docs, pipeline, &no_collections)
}

/// [`run_pipeline`] with `$unionWith` reading other collections through `collections`.
pub(crate) fn run_pipeline_with(
    docs: Vec<Document>,
    pipeline: &[Document],
    collections: Collections<'_>,
) -> Result<Vec<Document>, StoreError> {
    let mut compiled = Pipeline::compile(pipeline, collections)?;
    for doc in docs {
        if compiled.saturated() {
            break;
        }
        compiled.push(doc)?;
    }
    compiled.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_stream_and_hold() {
        let docs = vec![
            doc! {"_id": 1, "tags": ["a", "b"], "n": 1},
            doc! {"_id": 2, "tags": ["b"], "n": 2},
            doc! {"_id": 3, "n": 3},
        ];
        let out = run_pipeline(
            docs.clone(),
            &[
                doc! {"$unwind": "$tags"},
                doc! {"$sortByCount": "$tags"},
                doc! {"$limit": 1},
            ],
        )
        .unwrap();
        assert_eq!(out, vec![doc! {"_id": "b", "count": 2}]);
        let out = run_pipeline(
            docs,
            &[
                doc! {"$match": {"$expr": {"$gt": ["$n", 1]}}},
                doc! {"$set": {"double": {"$multiply": ["$n", 2]}}},
                doc! {"$replaceWith": {"d": "$double"}},
            ],
        )
        .unwrap();
        assert_eq!(out, vec![doc! {"d": 4}, doc! {"d": 6}]);
    }

    #[test]
    fn a_reached_limit_saturates_a_streaming_prefix() {
        let mut p = Pipeline::new(&[doc! {"$match": {}}, doc! {"$limit": 1}]).unwrap();
        p.push(doc! {"a": 1}).unwrap();
        assert!(p.saturated());
        let mut p = Pipeline::new(&[doc! {"$sort": {"a": 1}}, doc! {"$limit": 1}]).unwrap();
        p.push(doc! {"a": 1}).unwrap();
        assert!(!p.saturated());
    }

    #[test]
    fn unknown_stages_are_unsupported() {
        let e = run_pipeline(vec![], &[doc! {"$lookup": {}}]).unwrap_err();
        assert!(matches!(e, StoreError::Unsupported(_)), "{e:?}");
    }
}
