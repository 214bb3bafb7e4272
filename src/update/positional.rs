//! The array position a query matched, which the positional operator `$` stands for.
//!
//! As in MongoDB, a condition on a path records the position of the element it matched in
//! the first array the path entered implicitly (an array reached by position, `a.0`, does not
//! count); `$elemMatch` records the element it matched. Within `$and` the last condition that
//! records a position wins; `$or`, `$nor` and `$not` record none.

use std::ops::ControlFlow;

use bson::{Bson, Document};

use crate::query::{Filter, LeafArrays, Predicate};

/// The position `filter` matched in `doc`, when it matched through an array.
pub(crate) fn matched_position(filter: &Filter, doc: &Document) -> Option<usize> {
    match_with_position(filter, doc).flatten()
}

/// `None` when the filter does not match; `Some(position)` when it does.
fn match_with_position(filter: &Filter, doc: &Document) -> Option<Option<usize>> {
    match filter {
        Filter::And(parts) => {
            let mut found = None;
            for part in parts {
                found = match_with_position(part, doc)?.or(found);
            }
            Some(found)
        }
        // `$all` compiles to a double negation of its conditions.
        Filter::Not(inner) => match inner.as_ref() {
            Filter::Not(twice) => match_with_position(twice, doc),
            _ => (!inner.matches(doc)).then_some(None),
        },
        Filter::Field(path, predicate) => {
            let mut found = None;
            let Some((first, rest)) = path.parts().split_first() else {
                return filter.matches(doc).then_some(None);
            };
            let _ = walk(
                doc.get(first),
                rest,
                predicate.leaf_arrays(),
                None,
                &mut |value, offset| {
                    if predicate.matches(value) {
                        let inner = value.and_then(|v| elem_match_position(predicate, v));
                        found = Some(offset.or(inner));
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                },
            );
            found
        }
        other => other.matches(doc).then_some(None),
    }
}

/// The element `$elemMatch` matched in an array.
fn elem_match_position(predicate: &Predicate, value: &Bson) -> Option<usize> {
    let Bson::Array(items) = value else {
        return None;
    };
    match predicate {
        Predicate::ElemMatchObject(_) | Predicate::ElemMatchValue(_) => items
            .iter()
            .position(|item| predicate.matches(Some(&Bson::Array(vec![item.clone()])))),
        _ => None,
    }
}

/// Walks `path` from `value` like the query engine, passing each reached value with the
/// position in the first array entered implicitly.
fn walk<'a>(
    value: Option<&'a Bson>,
    path: &[String],
    leaf: LeafArrays,
    offset: Option<usize>,
    visit: &mut dyn FnMut(Option<&'a Bson>, Option<usize>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let Some((first, rest)) = path.split_first() else {
        return match value {
            Some(Bson::Array(items)) if leaf == LeafArrays::Traverse => {
                for (i, item) in items.iter().enumerate() {
                    visit(Some(item), offset.or(Some(i)))?;
                }
                visit(value, offset)
            }
            other => visit(other, offset),
        };
    };
    match value {
        Some(Bson::Document(d)) => walk(d.get(first), rest, leaf, offset, visit),
        Some(Bson::Array(items)) => {
            let index = super::path::position(first).filter(|_| {
                // "01" never names a position.
                !(first.len() > 1 && first.starts_with('0'))
            });
            for (i, item) in items.iter().enumerate() {
                if let Bson::Document(_) = item {
                    walk(Some(item), path, leaf, offset.or(Some(i)), visit)?;
                }
                if index == Some(i) {
                    match item {
                        Bson::Document(_) | Bson::Array(_) if !rest.is_empty() => {
                            walk(Some(item), rest, leaf, offset, visit)?
                        }
                        _ if rest.is_empty() => visit(Some(item), offset)?,
                        _ => {}
                    }
                }
            }
            ControlFlow::Continue(())
        }
        _ => visit(None, offset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn pos(query: Document, doc: Document) -> Option<usize> {
        matched_position(&Filter::parse(&query).unwrap(), &doc)
    }

    #[test]
    fn leaf_arrays_and_documents_in_arrays() {
        assert_eq!(pos(doc! {"a": 2}, doc! {"a": [1, 2, 3]}), Some(1));
        assert_eq!(
            pos(doc! {"a.x": 2}, doc! {"a": [{"x": 1}, {"x": 2}]}),
            Some(1)
        );
        assert_eq!(pos(doc! {"a": [1, 2]}, doc! {"a": [1, 2]}), None);
        assert_eq!(
            pos(
                doc! {"a": {"$elemMatch": {"$gt": 1}}},
                doc! {"a": [1, 2, 3]}
            ),
            Some(1)
        );
    }

    #[test]
    fn positions_named_in_the_path_do_not_count() {
        assert_eq!(pos(doc! {"a.0": 0}, doc! {"a": [0]}), None);
        assert_eq!(pos(doc! {"a.0.b": 1}, doc! {"a": [{"b": [0, 1]}]}), Some(1));
        assert_eq!(pos(doc! {"a.b.1": 1}, doc! {"a": [{"b": [0, 1]}]}), Some(0));
        assert_eq!(
            pos(doc! {"a": 1, "b.0": 0}, doc! {"a": [0, 1], "b": [0]}),
            Some(1)
        );
    }

    #[test]
    fn or_records_nothing() {
        assert_eq!(pos(doc! {"$or": [{"a": 2}]}, doc! {"a": [1, 2]}), None);
    }
}
