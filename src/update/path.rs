//! Update paths: their parts (`a.$.b`, `a.$[].b`, `a.$[i].b`), their validation, and reading,
//! creating and removing concrete paths inside a document the way MongoDB's update engine does.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::UpdateError;

/// One component of an update path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// A field name (or an array position, when it meets an array).
    Field(String),
    /// `$`: the array position the query matched.
    Positional,
    /// `$[]`: every element of the array.
    All,
    /// `$[<identifier>]`: the elements the array filter `<identifier>` matches.
    Filtered(String),
}

impl Part {
    fn parse(text: &str) -> Part {
        if text == "$" {
            Part::Positional
        } else if text == "$[]" {
            Part::All
        } else if text.len() >= 3 && text.starts_with("$[") && text.ends_with(']') {
            Part::Filtered(text[2..text.len() - 1].to_owned())
        } else {
            Part::Field(text.to_owned())
        }
    }

    /// Whether the part stands for array elements chosen when the update applies.
    pub(crate) fn is_dynamic(&self) -> bool {
        !matches!(self, Part::Field(_))
    }

    /// The key of this part in the tree of update paths (`$`, `$[]`, `$[i]` or the name).
    pub(crate) fn key(&self) -> String {
        match self {
            Part::Field(name) => name.clone(),
            Part::Positional => "$".to_owned(),
            Part::All => "$[]".to_owned(),
            Part::Filtered(id) => format!("$[{id}]"),
        }
    }
}

/// A parsed update path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpdatePath {
    pub(crate) text: String,
    pub(crate) parts: Vec<Part>,
}

impl UpdatePath {
    /// Parses and validates a path as MongoDB does: no empty component, at most one `$`, and
    /// neither `$` nor `$[…]` first.
    pub(crate) fn parse(text: &str) -> Result<UpdatePath, UpdateError> {
        if text.is_empty() {
            return Err(UpdateError::new("", "An empty update path is not valid."));
        }
        if text.split('.').any(str::is_empty) {
            return Err(UpdateError::new(
                text,
                format!(
                    "The update path '{text}' contains an empty field name, which is not allowed."
                ),
            ));
        }
        let parts: Vec<Part> = text.split('.').map(Part::parse).collect();
        let positional = parts.iter().filter(|p| **p == Part::Positional).count();
        if positional > 1 {
            return Err(UpdateError::new(
                text,
                format!("Too many positional (i.e. '$') elements found in path '{text}'"),
            ));
        }
        match parts.first() {
            Some(Part::Positional) => {
                return Err(UpdateError::new(
                    text,
                    format!("Cannot have positional (i.e. '$') element in the first position in path '{text}'"),
                ))
            }
            Some(Part::All | Part::Filtered(_)) => {
                return Err(UpdateError::new(
                    text,
                    format!("Cannot have array filter identifier (i.e. '$[<id>]') element in the first position in path '{text}'"),
                ))
            }
            _ => {}
        }
        Ok(UpdatePath {
            text: text.to_owned(),
            parts,
        })
    }

    pub(crate) fn is_dynamic(&self) -> bool {
        self.parts.iter().any(Part::is_dynamic)
    }

    /// The field names before the first dynamic part: what a positional path writes, seen
    /// conservatively (some element of that array).
    pub(crate) fn static_prefix(&self) -> Vec<String> {
        self.parts
            .iter()
            .map_while(|p| match p {
                Part::Field(name) => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    /// The field names of a path with no dynamic part.
    pub(crate) fn fields(&self) -> Vec<String> {
        self.parts.iter().map(Part::key).collect()
    }
}

/// A path component read as an array position: digits only.
pub(crate) fn position(part: &str) -> Option<usize> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

/// MongoDB's order of sibling fields in an update: numbers (without leading zeros) by value,
/// anything else byte by byte.
pub(crate) fn compare_components(a: &str, b: &str) -> Ordering {
    let numeric = |s: &str| {
        !s.is_empty() && s.as_bytes()[0].is_ascii_digit() && !(s.len() > 1 && s.starts_with('0'))
    };
    if !numeric(a) || !numeric(b) {
        return a.cmp(b);
    }
    if a.len() != b.len() {
        return a.len().cmp(&b.len());
    }
    a.cmp(b)
}

/// [`compare_components`] over whole paths.
pub(crate) fn compare_paths(a: &[String], b: &[String]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = compare_components(x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// The value at a dotted path (documents by name, arrays by index), if present.
pub(crate) fn get<'a>(doc: &'a Document, path: &[String]) -> Option<&'a Bson> {
    let (first, rest) = path.split_first()?;
    let mut current = doc.get(first)?;
    for part in rest {
        current = child(current, part)?;
    }
    Some(current)
}

fn child<'a>(value: &'a Bson, part: &str) -> Option<&'a Bson> {
    match value {
        Bson::Document(d) => d.get(part),
        Bson::Array(items) => items.get(position(part)?),
        _ => None,
    }
}

/// How many leading components of `path` exist in `doc` (documents entered by name, arrays by
/// position; anything else ends the walk).
pub(crate) fn existing_prefix(doc: &Document, path: &[String]) -> usize {
    let Some(first) = path.first() else {
        return 0;
    };
    let Some(mut current) = doc.get(first) else {
        return 0;
    };
    for (i, part) in path.iter().enumerate().skip(1) {
        match child(current, part) {
            Some(next) => current = next,
            None => return i,
        }
    }
    path.len()
}

/// The value at an existing path, mutably.
pub(crate) fn get_mut<'a>(doc: &'a mut Document, path: &[String]) -> Option<&'a mut Bson> {
    let (first, rest) = path.split_first()?;
    let mut current = doc.get_mut(first)?;
    for part in rest {
        current = match current {
            Bson::Document(d) => d.get_mut(part)?,
            Bson::Array(items) => items.get_mut(position(part)?)?,
            _ => return None,
        };
    }
    Some(current)
}

pub(crate) use crate::query::type_alias as type_name;

/// Largest number of `null`s an update may pad an array with (MongoDB's limit).
const MAX_PAD: usize = 1_500_000;

/// Creates `path[existing..]` below the existing element at `path[..existing]` and stores
/// `value` at its end: documents are created along the way; under an array, the next component
/// must be a position (the array is padded with `null`s up to it).
pub(crate) fn create(
    doc: &mut Document,
    path: &[String],
    existing: usize,
    value: Bson,
) -> Result<(), UpdateError> {
    let dotted = path.join(".");
    let rest = &path[existing..];
    let Some((first, below)) = rest.split_first() else {
        return Err(UpdateError::new(dotted, "nothing to create"));
    };
    let built = below.iter().rev().fold(value, |inner, name| {
        let mut d = Document::new();
        d.insert(name.clone(), inner);
        Bson::Document(d)
    });
    if existing == 0 {
        doc.insert(first.clone(), built);
        return Ok(());
    }
    let parent_name = &path[existing - 1];
    let cannot = |kind: &str| {
        UpdateError::new(
            dotted.clone(),
            format!("Cannot create field '{first}' in element {{{parent_name}: {kind}}}"),
        )
    };
    match get_mut(doc, &path[..existing]) {
        Some(Bson::Document(d)) => {
            d.insert(first.clone(), built);
            Ok(())
        }
        Some(Bson::Array(items)) => {
            let Some(index) = position(first) else {
                return Err(cannot("array"));
            };
            if index.saturating_sub(items.len()) > MAX_PAD {
                return Err(UpdateError::new(
                    dotted,
                    format!("can't backfill more than {MAX_PAD} elements"),
                ));
            }
            while items.len() < index {
                items.push(Bson::Null);
            }
            items.push(built);
            Ok(())
        }
        Some(other) => Err(cannot(type_name(other))),
        None => Err(UpdateError::new(dotted, "cannot create the field")),
    }
}

/// Whether a path that does not fully exist could be created: the last existing element is a
/// document, or an array and the next component a position. Operators that never create
/// (`$pop`, `$pull`, …) refuse a path that could not be.
pub(crate) fn check_viable(
    doc: &Document,
    path: &[String],
    existing: usize,
) -> Result<(), UpdateError> {
    if existing == 0 {
        return Ok(());
    }
    let next = &path[existing];
    match get(doc, &path[..existing]) {
        Some(Bson::Document(_)) => Ok(()),
        Some(Bson::Array(_)) if position(next).is_some() => Ok(()),
        Some(other) => Err(UpdateError::new(
            path.join("."),
            format!(
                "Cannot use the part ({next}) of ({}) to traverse the element ({{{}: {}}})",
                path.join("."),
                path[existing - 1],
                type_name(other)
            ),
        )),
        None => Ok(()),
    }
}

/// Removes the value at an existing path; an array element becomes `null`, as `$unset` does.
pub(crate) fn remove(doc: &mut Document, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    if parents.is_empty() {
        doc.remove(last);
        return;
    }
    match get_mut(doc, parents) {
        Some(Bson::Document(d)) => {
            d.remove(last);
        }
        Some(Bson::Array(items)) => {
            if let Some(slot) = position(last).and_then(|i| items.get_mut(i)) {
                *slot = Bson::Null;
            }
        }
        _ => {}
    }
}

/// Sets a path (creating what is missing), as the seed of an upsert is built from the query.
pub(crate) fn set(doc: &mut Document, path: &[String], value: Bson) -> Result<(), UpdateError> {
    let existing = existing_prefix(doc, path);
    if existing == path.len() {
        if let Some(slot) = get_mut(doc, path) {
            *slot = value;
        }
        return Ok(());
    }
    create(doc, path, existing, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn parts_and_validation() {
        let path = UpdatePath::parse("a.$[i].b.$[].$").unwrap();
        assert_eq!(
            path.parts,
            [
                Part::Field("a".into()),
                Part::Filtered("i".into()),
                Part::Field("b".into()),
                Part::All,
                Part::Positional
            ]
        );
        assert_eq!(path.static_prefix(), ["a"]);
        assert!(UpdatePath::parse("a..b").is_err());
        assert!(UpdatePath::parse("$.a").is_err());
        assert!(UpdatePath::parse("a.$.$").is_err());
        assert!(UpdatePath::parse("$[].a").is_err());
        assert!(UpdatePath::parse("a.$b").is_ok());
    }

    #[test]
    fn numeric_components_sort_by_value() {
        let mut paths = vec![p("a.10"), p("a.9"), p("a.b"), p("a.01")];
        paths.sort_by(|x, y| compare_paths(x, y));
        assert_eq!(paths, [p("a.01"), p("a.9"), p("a.10"), p("a.b")]);
    }

    #[test]
    fn create_pads_arrays_and_refuses_scalars() {
        let mut d = doc! {"a": [1], "s": 5, "n": [null]};
        create(&mut d, &p("a.3.b"), 1, Bson::Int32(7)).unwrap();
        assert_eq!(d.get("a"), Some(&bson::bson!([1, null, null, {"b": 7}])));
        assert!(create(&mut d, &p("s.x"), 1, Bson::Int32(1)).is_err());
        assert!(create(&mut d, &p("a.x"), 1, Bson::Int32(1)).is_err());
        assert_eq!(existing_prefix(&d, &p("n.0.b")), 2);
        assert!(create(&mut d, &p("n.0.b"), 2, Bson::Int32(1)).is_err());
    }
}
