//! The grouping stages: `$group`, `$bucket` and `$sortByCount`. Each holds one state per group
//! while documents stream in, and emits the groups when its input ends (in the order groups
//! were first seen; `$bucket` by boundary, `$sortByCount` by count, as MongoDB sorts them).

use std::cmp::Ordering;
use std::collections::HashMap;

use bson::{doc, Bson, Document};

use super::accumulators::{self, key, Accumulator, State};
use super::expression::{compare, compile, Env, Expr};
use super::invalid;
use crate::query::compare_values;
use crate::query::order::canonical_rank;
use crate::store::StoreError;

/// How a grouping stage turns its groups into output documents.
#[derive(Debug, Clone)]
enum Shape {
    /// `$group`: groups in the order first seen.
    Group,
    /// `$bucket`: groups sorted by their boundary (`_id`).
    Bucket {
        boundaries: Vec<Bson>,
        default: Option<Bson>,
    },
    /// `$sortByCount`: sorted by `count`, descending.
    ByCount,
}

/// A grouping stage and its groups so far.
#[derive(Debug, Clone)]
pub(crate) struct Grouping {
    by: Expr,
    accumulators: Vec<Accumulator>,
    shape: Shape,
    index: HashMap<String, usize>,
    groups: Vec<(Bson, Vec<State>)>,
}

impl Grouping {
    fn new(by: Expr, accumulators: Vec<Accumulator>, shape: Shape) -> Grouping {
        Grouping {
            by,
            accumulators,
            shape,
            index: HashMap::new(),
            groups: Vec::new(),
        }
    }

    /// `$group: {_id: <expr>, <field>: {<accumulator>: <expr>}, …}`.
    pub fn group(spec: &Bson) -> Result<Grouping, StoreError> {
        let Bson::Document(spec) = spec else {
            return Err(invalid(
                "$group",
                "a group's fields must be specified in an object",
            ));
        };
        let Some(id) = spec.get("_id") else {
            return Err(invalid(
                "$group",
                "a group specification must include an _id",
            ));
        };
        let by = compile(id, "$group")?;
        let accumulators = accumulators::parse(spec, "_id", "$group")?;
        Ok(Grouping::new(by, accumulators, Shape::Group))
    }

    /// `$sortByCount: <expr>`: `$group` by the expression with a `count`, sorted by it.
    pub fn sort_by_count(spec: &Bson) -> Result<Grouping, StoreError> {
        let valid = match spec {
            Bson::String(s) => s.starts_with('$') && !s.starts_with("$$"),
            Bson::Document(d) => d.keys().next().is_some_and(|k| k.starts_with('$')),
            _ => false,
        };
        if !valid {
            return Err(invalid(
                "$sortByCount",
                "the argument to $sortByCount must be a $-prefixed path or an expression object",
            ));
        }
        let by = compile(spec, "$sortByCount")?;
        let count = accumulators::parse(&doc! {"count": {"$sum": 1}}, "", "$sortByCount")?;
        Ok(Grouping::new(by, count, Shape::ByCount))
    }

    /// `$bucket: {groupBy, boundaries, default?, output?}`.
    pub fn bucket(spec: &Bson) -> Result<Grouping, StoreError> {
        const AT: &str = "$bucket";
        let Bson::Document(spec) = spec else {
            return Err(invalid(AT, "the argument to $bucket must be an object"));
        };
        if let Some(k) = spec
            .keys()
            .find(|k| !["groupBy", "boundaries", "default", "output"].contains(&k.as_str()))
        {
            return Err(invalid(AT, format!("unrecognized option to $bucket: {k}")));
        }
        let group_by = match spec.get("groupBy") {
            Some(v @ Bson::String(s)) if s.starts_with('$') => v,
            Some(v @ Bson::Document(d)) if d.keys().next().is_some_and(|k| k.starts_with('$')) => {
                v
            }
            _ => {
                return Err(invalid(
                    AT,
                    "the $bucket 'groupBy' field must be defined as a $-prefixed path or an expression object",
                ))
            }
        };
        let Ok(boundaries) = spec.get_array("boundaries") else {
            return Err(invalid(
                AT,
                "the $bucket 'boundaries' field must be an array",
            ));
        };
        if boundaries.len() < 2 {
            return Err(invalid(
                AT,
                "the $bucket 'boundaries' field must have at least 2 values",
            ));
        }
        for pair in boundaries.windows(2) {
            if canonical_rank(Some(&pair[0])) != canonical_rank(Some(&pair[1])) {
                return Err(invalid(
                    AT,
                    "all values in the $bucket 'boundaries' option must have the same type",
                ));
            }
            if compare_values(&pair[0], &pair[1]) != Ordering::Less {
                return Err(invalid(
                    AT,
                    "the $bucket 'boundaries' option must be sorted in ascending order",
                ));
            }
        }
        let default = spec.get("default").cloned();
        if let (Some(d), Some(low), Some(high)) = (&default, boundaries.first(), boundaries.last())
        {
            let comparable = canonical_rank(Some(d)) == canonical_rank(Some(low));
            if comparable
                && compare_values(d, low) != Ordering::Less
                && compare_values(d, high) == Ordering::Less
            {
                return Err(invalid(
                    AT,
                    "the $bucket 'default' field must be less than the lowest boundary or greater than or equal to the highest boundary",
                ));
            }
        }
        let accumulators = match spec.get("output") {
            None => accumulators::parse(&doc! {"count": {"$sum": 1}}, "", AT)?,
            Some(Bson::Document(output)) => accumulators::parse(output, "", AT)?,
            Some(_) => return Err(invalid(AT, "the $bucket 'output' field must be an object")),
        };
        Ok(Grouping::new(
            compile(group_by, AT)?,
            accumulators,
            Shape::Bucket {
                boundaries: boundaries.clone(),
                default,
            },
        ))
    }

    /// The group a value falls in: the value itself, or for `$bucket` its boundary.
    fn group_of(&self, value: Option<Bson>) -> Result<Bson, StoreError> {
        let Shape::Bucket {
            boundaries,
            default,
        } = &self.shape
        else {
            return Ok(value.unwrap_or(Bson::Null));
        };
        let value = value;
        for pair in boundaries.windows(2) {
            let low = Some(pair[0].clone());
            let high = Some(pair[1].clone());
            if compare(&value, &low) != Ordering::Less && compare(&value, &high) == Ordering::Less {
                return Ok(pair[0].clone());
            }
        }
        default.clone().ok_or_else(|| {
            invalid(
                "$bucket",
                "$bucket could not find a matching branch for an input, and no default was specified",
            )
        })
    }

    /// Feeds one document.
    pub fn add(&mut self, doc: &Document) -> Result<(), StoreError> {
        let mut env = Env::new(doc);
        let value = self.by.evaluate(&mut env)?;
        let group = self.group_of(value)?;
        let k = key(&group);
        let at = match self.index.get(&k) {
            Some(at) => *at,
            None => {
                let states = self.accumulators.iter().map(Accumulator::start).collect();
                self.groups.push((group, states));
                self.index.insert(k, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        let (_, states) = &mut self.groups[at];
        for (accumulator, state) in self.accumulators.iter().zip(states.iter_mut()) {
            accumulator.add(state, &mut env)?;
        }
        Ok(())
    }

    /// The output documents, once every input was fed.
    pub fn finish(&mut self) -> Vec<Document> {
        self.index.clear();
        let groups = std::mem::take(&mut self.groups);
        let mut out: Vec<Document> = groups
            .into_iter()
            .map(|(id, states)| {
                let mut d = doc! {"_id": id};
                for (accumulator, state) in self.accumulators.iter().zip(states) {
                    d.insert(accumulator.field.clone(), accumulator.result(state));
                }
                d
            })
            .collect();
        match &self.shape {
            Shape::Group => {}
            Shape::Bucket { .. } => out.sort_by(|a, b| {
                compare_values(
                    a.get("_id").unwrap_or(&Bson::Null),
                    b.get("_id").unwrap_or(&Bson::Null),
                )
            }),
            Shape::ByCount => out.sort_by(|a, b| {
                compare_values(
                    b.get("count").unwrap_or(&Bson::Null),
                    a.get("count").unwrap_or(&Bson::Null),
                )
            }),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::bson;

    fn run(mut g: Grouping, docs: &[Document]) -> Vec<Document> {
        for d in docs {
            g.add(d).unwrap();
        }
        g.finish()
    }

    #[test]
    fn groups_accumulate() {
        let docs = [
            doc! {"k": "a", "n": 1},
            doc! {"k": "b", "n": 2.5},
            doc! {"k": "a", "n": 3},
            doc! {"k": "a"},
        ];
        let g = Grouping::group(&bson!({
            "_id": "$k", "s": {"$sum": "$n"}, "c": {"$count": {}}, "avg": {"$avg": "$n"},
            "p": {"$push": "$n"}, "f": {"$first": "$n"}, "l": {"$last": "$n"}, "mx": {"$max": "$n"}
        }))
        .unwrap();
        assert_eq!(
            run(g, &docs),
            vec![
                doc! {"_id": "a", "s": 4, "c": 3, "avg": 2.0, "p": [1, 3], "f": 1, "l": null, "mx": 3},
                doc! {"_id": "b", "s": 2.5, "c": 1, "avg": 2.5, "p": [2.5], "f": 2.5, "l": 2.5, "mx": 2.5},
            ]
        );
    }

    #[test]
    fn buckets_sort_by_boundary_and_need_a_default_for_strays() {
        let docs = [doc! {"n": 1}, doc! {"n": 7}, doc! {"n": "x"}, doc! {}];
        let g = Grouping::bucket(
            &bson!({"groupBy": "$n", "boundaries": [0, 5, 10], "default": "other"}),
        )
        .unwrap();
        assert_eq!(
            run(g, &docs),
            vec![
                doc! {"_id": 0, "count": 1},
                doc! {"_id": 5, "count": 1},
                doc! {"_id": "other", "count": 2},
            ]
        );
        let mut g = Grouping::bucket(&bson!({"groupBy": "$n", "boundaries": [0, 5]})).unwrap();
        assert!(g.add(&doc! {"n": 9}).is_err());
        assert!(Grouping::bucket(&bson!({"groupBy": "$n", "boundaries": [5, 0]})).is_err());
    }

    #[test]
    fn sort_by_count_orders_by_count() {
        let docs = [doc! {"k": 1}, doc! {"k": 2}, doc! {"k": 2}];
        let g = Grouping::sort_by_count(&bson!("$k")).unwrap();
        assert_eq!(
            run(g, &docs),
            vec![doc! {"_id": 2, "count": 2}, doc! {"_id": 1, "count": 1}]
        );
    }
}
