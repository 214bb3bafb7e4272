//! Dotted field paths and MongoDB's way of walking them through documents and arrays.
//!
//! A query such as `{"a.b": 1}` does not look at one value: it looks at every value the path
//! reaches. Arrays met in the middle of a path are entered element by element (a numeric path
//! component may also index into them); an array at the end of a path yields each element and
//! then the array itself. A path that reaches nothing yields *missing*. This mirrors the server's
//! `BSONElementIterator`, so that `null`-versus-missing and array membership behave as in MongoDB.

use std::ops::ControlFlow;

use bson::{Bson, Document};

use super::NullSemantics;

/// A dotted path, split once at compile time.
///
/// ```
/// use expanse::query::FieldPath;
/// let path = FieldPath::parse("prefs.0.lang");
/// assert_eq!(path.parts(), ["prefs", "0", "lang"]);
/// assert_eq!(path.to_string(), "prefs.0.lang");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    parts: Vec<String>,
}

impl FieldPath {
    /// Splits a dotted path. An empty string gives a path with one empty component, as MongoDB.
    pub fn parse(dotted: &str) -> FieldPath {
        FieldPath {
            parts: dotted.split('.').map(str::to_owned).collect(),
        }
    }

    /// Builds a path from components.
    pub fn from_parts(parts: Vec<String>) -> FieldPath {
        FieldPath { parts }
    }

    /// The components of the path.
    pub fn parts(&self) -> &[String] {
        &self.parts
    }

    /// Whether the path is empty (no components at all).
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.parts.join("."))
    }
}

/// How an array at the end of a path is presented to a predicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafArrays {
    /// Each element, then the array itself (most operators).
    Traverse,
    /// Only the array itself (`$size`, `$elemMatch`).
    Whole,
}

/// Calls `visit` with every value `path` reaches in `doc` (`None` for missing), stopping early
/// when `visit` breaks (MongoDB 8.0 rules; see [`walk_document_under`]).
pub fn walk_document<'a>(
    doc: &'a Document,
    path: &[String],
    leaf: LeafArrays,
    visit: &mut dyn FnMut(Option<&'a Bson>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    walk_document_under(doc, path, leaf, NullSemantics::V80, visit)
}

/// [`walk_document`] under the given release's rules for arrays in the middle of a path
/// ([`NullSemantics`]).
///
/// An array met with only one empty component left (`"x."` on `{x: [3]}`) is the end of the
/// path, as in MongoDB: its elements are reached, not their empty-named fields.
pub fn walk_document_under<'a>(
    doc: &'a Document,
    path: &[String],
    leaf: LeafArrays,
    semantics: NullSemantics,
    visit: &mut dyn FnMut(Option<&'a Bson>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let mut current = doc;
    let mut index = 0;
    loop {
        let Some(part) = path.get(index) else {
            // Empty path: MongoDB reads nothing.
            return visit(None);
        };
        let last = index + 1 == path.len();
        match current.get(part) {
            None => return visit(None),
            Some(array @ Bson::Array(items)) => {
                let mut rest = &path[index + 1..];
                if rest.len() == 1 && rest[0].is_empty() {
                    rest = &[];
                }
                if rest.is_empty() && leaf == LeafArrays::Whole {
                    return visit(Some(array));
                }
                return walk_array(array, items, rest, leaf, semantics, visit);
            }
            Some(value) if last => return visit(Some(value)),
            Some(Bson::Document(inner)) => {
                current = inner;
                index += 1;
            }
            // A scalar in the middle of the path: nothing below it.
            Some(_) => return visit(None),
        }
    }
}

/// Like [`walk_document`], starting from any value (`None` = missing): an empty path presents the
/// value itself (an array element by element, then whole, unless `leaf` is [`LeafArrays::Whole`]).
pub fn walk_value<'a>(
    value: Option<&'a Bson>,
    path: &[String],
    leaf: LeafArrays,
    visit: &mut dyn FnMut(Option<&'a Bson>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    match value {
        Some(array @ Bson::Array(items)) if !(path.is_empty() && leaf == LeafArrays::Whole) => {
            walk_array(array, items, path, leaf, NullSemantics::V80, visit)
        }
        Some(Bson::Document(doc)) if !path.is_empty() => walk_document(doc, path, leaf, visit),
        other if path.is_empty() => visit(other),
        _ => visit(None),
    }
}

/// Resolves a path like [`resolve_value`], borrowing when no array has to be collected.
pub fn resolve_borrowed<'a>(base: &'a Bson, path: &[String]) -> Option<std::borrow::Cow<'a, Bson>> {
    let Some((first, rest)) = path.split_first() else {
        return Some(std::borrow::Cow::Borrowed(base));
    };
    match base {
        Bson::Document(doc) => resolve_borrowed(doc.get(first)?, rest),
        Bson::Array(items) => match array_offset(first) {
            Some(position) => resolve_borrowed(items.get(position)?, rest),
            None => resolve_value(base, path).map(std::borrow::Cow::Owned),
        },
        _ => None,
    }
}

/// Walks `rest` through the elements of an array (`array` is the same array as a `Bson`).
fn walk_array<'a>(
    array: &'a Bson,
    items: &'a [Bson],
    rest: &[String],
    leaf: LeafArrays,
    semantics: NullSemantics,
    visit: &mut dyn FnMut(Option<&'a Bson>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    if rest.is_empty() {
        for item in items {
            visit(Some(item))?;
        }
        return visit(Some(array));
    }
    let offset = array_offset(&rest[0]);
    // MongoDB 9.0 (only for a field name; what it does for a positional component is not
    // restated by any jstest here): an empty array, and each element that is not a document,
    // reach a missing value.
    let missing_for_scalars = semantics == NullSemantics::V90 && offset.is_none();
    if items.is_empty() && missing_for_scalars {
        return visit(None);
    }
    for (position, item) in items.iter().enumerate() {
        let offset_match = offset == Some(position);
        match item {
            Bson::Document(inner) => {
                walk_document_under(inner, rest, leaf, semantics, visit)?;
                if offset_match {
                    if rest.len() == 1 {
                        visit(Some(item))?;
                    } else {
                        walk_document_under(inner, &rest[1..], leaf, semantics, visit)?;
                    }
                }
            }
            _ if offset_match => {
                if rest.len() == 1 {
                    visit(Some(item))?;
                } else if let Bson::Array(nested) = item {
                    walk_array(item, nested, &rest[1..], leaf, semantics, visit)?;
                }
            }
            _ if missing_for_scalars => visit(None)?,
            _ => {}
        }
    }
    ControlFlow::Continue(())
}

/// A path component that names an array position: digits only, as MongoDB requires.
fn array_offset(part: &str) -> Option<usize> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // "01" never names a position: array field names have no leading zeros.
    if part.len() > 1 && part.starts_with('0') {
        return None;
    }
    part.parse().ok()
}

/// Resolves a path to a single value, for places that need one value rather than a match
/// (the right-hand side of a rule, function arguments): documents are entered by field name,
/// arrays by a numeric index, and a field name applied to an array collects that field from each
/// element that has it (as an aggregation path does).
///
/// ```
/// use bson::{bson, doc};
/// use expanse::query::{resolve_value, FieldPath};
/// let root = bson!({"prefs": [{"lang": "fr"}, {"lang": "de"}]});
/// assert_eq!(resolve_value(&root, FieldPath::parse("prefs.0.lang").parts()), Some(bson!("fr")));
/// assert_eq!(resolve_value(&root, FieldPath::parse("prefs.lang").parts()), Some(bson!(["fr", "de"])));
/// assert_eq!(resolve_value(&root, FieldPath::parse("missing").parts()), None);
/// ```
pub fn resolve_value(base: &Bson, path: &[String]) -> Option<Bson> {
    let Some((first, rest)) = path.split_first() else {
        return Some(base.clone());
    };
    match base {
        Bson::Document(doc) => resolve_value(doc.get(first)?, rest),
        Bson::Array(items) => {
            if let Some(position) = array_offset(first) {
                return resolve_value(items.get(position)?, rest);
            }
            let collected: Vec<Bson> = items
                .iter()
                .filter(|item| matches!(item, Bson::Document(_) | Bson::Array(_)))
                .filter_map(|item| resolve_value(item, path))
                .collect();
            Some(Bson::Array(collected))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{bson, doc};

    fn reached(doc: &Document, path: &str, leaf: LeafArrays) -> Vec<Option<Bson>> {
        let mut seen = Vec::new();
        let _ = walk_document(doc, FieldPath::parse(path).parts(), leaf, &mut |v| {
            seen.push(v.cloned());
            ControlFlow::Continue(())
        });
        seen
    }

    #[test]
    fn leaf_arrays_yield_elements_then_the_array() {
        let d = doc! {"a": [1, 2]};
        assert_eq!(
            reached(&d, "a", LeafArrays::Traverse),
            vec![Some(bson!(1)), Some(bson!(2)), Some(bson!([1, 2]))]
        );
        assert_eq!(
            reached(&d, "a", LeafArrays::Whole),
            vec![Some(bson!([1, 2]))]
        );
    }

    #[test]
    fn arrays_in_the_middle_are_entered_per_document() {
        let d = doc! {"a": [{"b": 1}, {"c": 2}, 5, [{"b": 9}]]};
        assert_eq!(
            reached(&d, "a.b", LeafArrays::Traverse),
            vec![Some(bson!(1)), None]
        );
    }

    #[test]
    fn numeric_components_index_arrays() {
        let d = doc! {"a": [[1, 2], {"0": "zero", "b": 3}]};
        assert_eq!(
            reached(&d, "a.0", LeafArrays::Traverse),
            vec![Some(bson!([1, 2])), Some(bson!("zero"))]
        );
        assert_eq!(
            reached(&d, "a.1.b", LeafArrays::Traverse),
            vec![None, Some(bson!(3))]
        );
        assert_eq!(
            reached(&d, "a.0.1", LeafArrays::Traverse),
            vec![Some(bson!(2)), None]
        );
    }

    #[test]
    fn scalars_in_the_middle_reach_nothing() {
        assert_eq!(
            reached(&doc! {"a": 1}, "a.b", LeafArrays::Traverse),
            vec![None]
        );
    }
}
