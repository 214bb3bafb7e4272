//! The array operators' arguments and effects: `$push` (with `$each`, `$position`, `$sort`,
//! `$slice`), `$addToSet` and `$pull`'s conditions.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::operators::{number_value, whole_number};
use super::path::{self, type_name};
use super::UpdateError;
use crate::query::{compare_values, values_equal, FieldPath, Filter};

/// `$push`'s values and modifiers.
#[derive(Debug, Clone)]
pub(crate) struct Push {
    each: Vec<Bson>,
    slice: Option<i64>,
    sort: Option<PushSort>,
    position: Option<i64>,
}

/// `$sort`: whole elements, or their fields (descending when `true`).
#[derive(Debug, Clone)]
enum PushSort {
    Whole { descending: bool },
    Fields(Vec<(FieldPath, bool)>),
}

/// Which elements `$pull` removes, chosen as MongoDB chooses from the argument's shape.
#[derive(Debug, Clone)]
pub(crate) enum PullCondition {
    /// A value equal to the argument.
    Equals(Bson),
    /// Operators (or a regular expression) applied to the element itself.
    Wrapped(Filter),
    /// A query on elements that are documents.
    Query(Filter),
}

/// `$push`'s argument: a value, or `{$each, $position, $sort, $slice}`.
pub(crate) fn parse_push(field: &str, value: &Bson) -> Result<Push, UpdateError> {
    let err = |m: String| UpdateError::new(field, m);
    let one = |v: &Bson| Push {
        each: vec![v.clone()],
        slice: None,
        sort: None,
        position: None,
    };
    let Bson::Document(d) = value else {
        return Ok(one(value));
    };
    let Some(each) = d.get("$each") else {
        return Ok(one(value));
    };
    let Bson::Array(each) = each else {
        return Err(err(format!(
            "The argument to $each in $push must be an array but it was of type: {}",
            type_name(each)
        )));
    };
    let mut push = Push {
        each: each.clone(),
        slice: None,
        sort: None,
        position: None,
    };
    for (clause, v) in d {
        match clause.as_str() {
            "$each" => {}
            "$slice" => {
                push.slice = Some(whole_number(v).ok_or_else(|| {
                    err(format!(
                        "The value for $slice must be an integer value but was given type: {}",
                        type_name(v)
                    ))
                })?)
            }
            "$position" => {
                push.position = Some(whole_number(v).ok_or_else(|| {
                    err(format!(
                        "The value for $position must be an integer value, not of type: {}",
                        type_name(v)
                    ))
                })?)
            }
            "$sort" => push.sort = Some(parse_sort(field, v)?),
            other => return Err(err(format!("Unrecognized clause in $push: {other}"))),
        }
    }
    Ok(push)
}

/// `1` or `-1` as any number (JavaScript clients send doubles).
fn direction(v: &Bson) -> Option<bool> {
    match number_value(v) {
        Some(1.0) => Some(false),
        Some(-1.0) => Some(true),
        _ => None,
    }
}

fn parse_sort(field: &str, v: &Bson) -> Result<PushSort, UpdateError> {
    let err = |m: &str| UpdateError::new(field, m);
    match v {
        Bson::Document(keys) => {
            if keys.is_empty() {
                return Err(err(
                    "The $sort pattern is empty when it should be a set of fields.",
                ));
            }
            let mut fields = Vec::with_capacity(keys.len());
            for (key, order) in keys {
                let descending = direction(order)
                    .ok_or_else(|| err("The $sort element value must be either 1 or -1"))?;
                if key.is_empty() {
                    return Err(err("The $sort field cannot be empty"));
                }
                if key.split('.').any(str::is_empty) {
                    return Err(err("The $sort field is a dotted field but has an empty part"));
                }
                fields.push((FieldPath::parse(key), descending));
            }
            Ok(PushSort::Fields(fields))
        }
        other if number_value(other).is_some() => match direction(other) {
            Some(descending) => Ok(PushSort::Whole { descending }),
            None => Err(err("The $sort element value must be either 1 or -1")),
        },
        _ => Err(err(
            "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields",
        )),
    }
}

/// `$addToSet`'s argument: a value, or `{$each}` alone.
pub(crate) fn parse_add_to_set(field: &str, value: &Bson) -> Result<Vec<Bson>, UpdateError> {
    let Bson::Document(d) = value else {
        return Ok(vec![value.clone()]);
    };
    let Some(each) = d.get("$each") else {
        return Ok(vec![value.clone()]);
    };
    let Bson::Array(each) = each else {
        return Err(UpdateError::new(
            field,
            format!(
                "The argument to $each in $addToSet must be an array but it was of type {}",
                type_name(each)
            ),
        ));
    };
    if d.len() > 1 {
        return Err(UpdateError::new(
            field,
            "Found unexpected fields after $each in $addToSet",
        ));
    }
    Ok(each.clone())
}

/// Query operators that apply to a value (`{$pull: {a: {$gt: 1}}}` tests each element with
/// them); any other object is a query on elements that are documents.
const VALUE_OPERATORS: &[&str] = &[
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$exists",
    "$type",
    "$size",
    "$all",
    "$elemMatch",
    "$mod",
    "$regex",
    "$options",
    "$not",
    "$bitsAllSet",
    "$bitsAllClear",
    "$bitsAnySet",
    "$bitsAnyClear",
    "$geoWithin",
    "$geoIntersects",
    "$near",
    "$nearSphere",
    "$within",
];

/// `$pull`'s argument: operators test each element, another document is a query on elements
/// that are documents, anything else an equal value.
pub(crate) fn parse_pull(field: &str, value: &Bson) -> Result<PullCondition, UpdateError> {
    let err = |e: crate::query::QueryError| UpdateError::new(field, e.message);
    match value {
        Bson::Document(d)
            if d.keys()
                .next()
                .is_some_and(|k| VALUE_OPERATORS.contains(&k.as_str())) =>
        {
            let mut wrapped = Document::new();
            wrapped.insert("", value.clone());
            Ok(PullCondition::Wrapped(
                Filter::parse(&wrapped).map_err(err)?,
            ))
        }
        Bson::RegularExpression(_) => {
            let mut wrapped = Document::new();
            wrapped.insert("", value.clone());
            Ok(PullCondition::Wrapped(
                Filter::parse(&wrapped).map_err(err)?,
            ))
        }
        Bson::Document(d) => Ok(PullCondition::Query(Filter::parse(d).map_err(err)?)),
        other => Ok(PullCondition::Equals(other.clone())),
    }
}

/// Appends the values not already present (nor repeated among themselves).
pub(crate) fn add_to_set(items: &mut Vec<Bson>, values: &[Bson]) {
    for v in values {
        if !items.iter().any(|i| values_equal(i, v)) {
            items.push(v.clone());
        }
    }
}

impl Push {
    pub(crate) fn apply(&self, items: &mut Vec<Bson>, _field: &str) {
        let len = items.len() as i64;
        let at = match self.position {
            None => items.len(),
            Some(p) if p > len => items.len(),
            Some(p) if p >= 0 => p as usize,
            Some(p) if p.unsigned_abs() < len as u64 => (len - p.unsigned_abs() as i64) as usize,
            Some(_) => 0,
        };
        items.splice(at..at, self.each.iter().cloned());
        if let Some(sort) = &self.sort {
            sort.sort(items);
        }
        if let Some(n) = self.slice {
            let keep = n.unsigned_abs().min(usize::MAX as u64) as usize;
            if items.len() > keep {
                if n >= 0 {
                    items.truncate(keep);
                } else {
                    items.drain(..items.len() - keep);
                }
            }
        }
    }
}

impl PushSort {
    fn sort(&self, items: &mut [Bson]) {
        match self {
            PushSort::Whole { descending } => items.sort_by(|a, b| {
                let o = compare_values(a, b);
                if *descending {
                    o.reverse()
                } else {
                    o
                }
            }),
            PushSort::Fields(keys) => items.sort_by(|a, b| {
                for (path, descending) in keys {
                    let key = |v: &Bson| match v {
                        Bson::Document(d) => {
                            path::get(d, path.parts()).cloned().unwrap_or(Bson::Null)
                        }
                        _ => Bson::Null,
                    };
                    let o = compare_values(&key(a), &key(b));
                    let o = if *descending { o.reverse() } else { o };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            }),
        }
    }
}

impl PullCondition {
    pub(crate) fn matches(&self, item: &Bson) -> bool {
        match self {
            PullCondition::Equals(v) => values_equal(item, v),
            PullCondition::Wrapped(filter) => {
                let mut wrapped = Document::new();
                wrapped.insert("", item.clone());
                filter.matches(&wrapped)
            }
            PullCondition::Query(filter) => matches!(item, Bson::Document(d) if filter.matches(d)),
        }
    }
}
