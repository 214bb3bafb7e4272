//! MongoDB's nesting limits, checked where paths and documents enter Expanse.
//!
//! MongoDB refuses documents nested deeper than 100 levels and field paths of more than 100
//! components. Expanse refuses them too, before anything is applied, so that no later step
//! (matching, applying an update, comparing, dropping a value) recurses without bound.
//!
//! Levels count documents and arrays: a top-level document is one level, a document or array
//! inside it a second, and so on. A path of `n` components leads to a value `n` levels down, so
//! `$set` of a 100-component path to a scalar writes a document exactly at the limit.
//!
//! Errors name where the limit was passed ([`LimitError::at`]), abbreviated so that a hostile
//! 100 000-component path is never echoed whole ([`abbreviate_path`]).
//!
//! ```
//! use bson::{doc, Bson};
//! use expanse::limits::{check_depth, check_path, MAX_DEPTH};
//!
//! assert!(check_depth(&Bson::Document(doc! {"a": {"b": 1}})).is_ok());
//! let mut deep = Bson::Int32(1);
//! for _ in 0..MAX_DEPTH + 1 {
//!     deep = Bson::Document(doc! {"a": deep});
//! }
//! assert!(check_depth(&deep).is_err());
//! assert!(check_path("a.b.c").is_ok());
//! let err = check_path(&vec!["x"; 100_000].join(".")).unwrap_err();
//! assert!(err.to_string().len() < 200, "{err}");
//! ```

use std::borrow::Cow;

use bson::raw::{RawBsonRef, RawDocument};
use bson::{Bson, Document};

/// The deepest nesting MongoDB accepts: documents and arrays inside a document, and the
/// components of a field path.
pub const MAX_DEPTH: usize = 100;

/// The most characters of a path an error shows before abbreviating it.
const SHOWN_PATH_CHARS: usize = 60;

/// MongoDB's largest document: 16 MiB of BSON. Function results are held to it too.
pub const MAX_DOCUMENT_SIZE: usize = 16 * 1024 * 1024;

/// A path or value beyond [`MAX_DEPTH`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// A document or array nested deeper than the limit.
    #[error("{at}: a document or array is nested deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
        /// Where the first document or array past the limit sits (abbreviated).
        at: String,
    },
    /// A dotted path with more components than the limit.
    #[error("{path}: a field path has more than {max} components")]
    PathTooLong {
        /// The limit.
        max: usize,
        /// The path (abbreviated).
        path: String,
    },
}

impl LimitError {
    /// Where the limit was passed: the abbreviated path.
    ///
    /// ```
    /// let err = expanse::limits::check_path(&"a.".repeat(200)).unwrap_err();
    /// assert!(err.at().starts_with("a.a.a"));
    /// ```
    pub fn at(&self) -> &str {
        match self {
            LimitError::TooDeep { at, .. } => at,
            LimitError::PathTooLong { path, .. } => path,
        }
    }

    /// What is wrong, without the location (for errors that carry the location apart).
    ///
    /// ```
    /// let err = expanse::limits::check_path(&"a.".repeat(200)).unwrap_err();
    /// assert_eq!(err.reason(), "a field path has more than 100 components");
    /// ```
    pub fn reason(&self) -> String {
        match self {
            LimitError::TooDeep { max, .. } => {
                format!("a document or array is nested deeper than {max} levels")
            }
            LimitError::PathTooLong { max, .. } => {
                format!("a field path has more than {max} components")
            }
        }
    }
}

/// A path for an error message: whole when short, else its beginning, `…` and how many
/// components it has.
///
/// ```
/// use expanse::limits::abbreviate_path;
/// assert_eq!(abbreviate_path("a.b.c".split('.')), "a.b.c");
/// let long = vec!["field"; 100_000].join(".");
/// let shown = abbreviate_path(long.split('.'));
/// assert!(shown.starts_with("field.field.") && shown.ends_with("… (100000 components)"), "{shown}");
/// ```
pub fn abbreviate_path<'a, I, S>(parts: I) -> String
where
    I: IntoIterator<Item = S>,
    S: Into<Cow<'a, str>>,
{
    let mut shown = String::new();
    let mut count = 0usize;
    let mut cut = false;
    for part in parts {
        count += 1;
        if cut {
            continue;
        }
        let part = part.into();
        if count > 1 {
            shown.push('.');
        }
        for c in part.chars() {
            if shown.len() + c.len_utf8() > SHOWN_PATH_CHARS {
                cut = true;
                break;
            }
            shown.push(c);
        }
    }
    if cut {
        if shown.ends_with('.') {
            shown.pop();
        }
        format!("{shown}… ({count} components)")
    } else {
        shown
    }
}

/// How deep `value` nests: 0 for a scalar, 1 for a document or array of scalars, and so on.
/// Counts without recursion, and stops counting once past `stop_after`.
///
/// ```
/// use bson::bson;
/// assert_eq!(expanse::limits::nesting(&bson!({"a": [1, {"b": 2}]}), 100), 3);
/// ```
pub fn nesting(value: &Bson, stop_after: usize) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Bson, usize)> = vec![(value, 0)];
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Bson>> = match value {
            Bson::Document(d) => Box::new(d.values()),
            Bson::Array(items) => Box::new(items.iter()),
            _ => continue,
        };
        let depth = depth + 1;
        deepest = deepest.max(depth);
        if deepest > stop_after {
            return deepest;
        }
        stack.extend(children.map(|child| (child, depth)));
    }
    deepest
}

/// Refuses a value nested deeper than [`MAX_DEPTH`] (a document or array is one level). The
/// error names the path inside `value` where the limit is passed.
pub fn check_depth(value: &Bson) -> Result<(), LimitError> {
    check_depth_at("", 0, value)
}

/// Refuses `value` if, written at the dotted path `at` whose containers are `levels_above`
/// levels deep (a path of `n` components written into a document: `n`), it would reach
/// deeper than [`MAX_DEPTH`]. The error names the path from `at` down.
///
/// ```
/// use bson::{doc, Bson};
/// use expanse::limits::{check_depth_at, MAX_DEPTH};
/// let mut value = Bson::Int32(1);
/// for _ in 0..MAX_DEPTH - 2 {
///     value = Bson::Document(doc! {"k": value});
/// }
/// assert!(check_depth_at("meta.tags", 2, &value).is_ok());
/// let err = check_depth_at("meta.tags.more", 3, &value).unwrap_err();
/// assert!(err.at().starts_with("meta.tags.more.k.k"), "{err}");
/// ```
pub fn check_depth_at(at: &str, levels_above: usize, value: &Bson) -> Result<(), LimitError> {
    match Children::of(value) {
        Some(children) => refuse_beyond(at, children, MAX_DEPTH.saturating_sub(levels_above)),
        None => Ok(()),
    }
}

/// Refuses a document nested deeper than [`MAX_DEPTH`] (the document itself is one level).
///
/// ```
/// use bson::doc;
/// assert!(expanse::limits::check_document_depth(&doc! {"a": [{"b": 1}]}).is_ok());
/// ```
pub fn check_document_depth(doc: &Document) -> Result<(), LimitError> {
    refuse_beyond("", Children::Doc(doc.iter()), MAX_DEPTH)
}

/// Refuses a dotted path with more than [`MAX_DEPTH`] components.
pub fn check_path(dotted: &str) -> Result<(), LimitError> {
    if dotted.split('.').nth(MAX_DEPTH).is_some() {
        Err(LimitError::PathTooLong {
            max: MAX_DEPTH,
            path: abbreviate_path(dotted.split('.')),
        })
    } else {
        Ok(())
    }
}

/// Refuses an encoded document (as a server returns it) nested deeper than [`MAX_DEPTH`],
/// without decoding it: decoding is recursive, so a document stored past the limit by another
/// client is checked before it is decoded. Malformed elements are left to the decoder.
///
/// ```
/// use bson::{doc, RawDocumentBuf};
/// let raw = RawDocumentBuf::try_from(&doc! {"a": {"b": [1]}}).unwrap();
/// assert!(expanse::limits::check_raw_document_depth(&raw).is_ok());
/// ```
pub fn check_raw_document_depth(doc: &RawDocument) -> Result<(), LimitError> {
    let mut frames = vec![doc.iter_elements()];
    let mut keys: Vec<&str> = Vec::new();
    while let Some(top) = frames.last_mut() {
        let Some(Ok(element)) = top.next() else {
            frames.pop();
            keys.pop();
            continue;
        };
        let children = match element.value() {
            Ok(RawBsonRef::Document(d)) => d.iter_elements(),
            Ok(RawBsonRef::Array(a)) => a.iter_elements(),
            _ => continue,
        };
        keys.push(element.key().as_str());
        frames.push(children);
        if frames.len() > MAX_DEPTH {
            return Err(LimitError::TooDeep {
                max: MAX_DEPTH,
                at: abbreviate_path(keys),
            });
        }
    }
    Ok(())
}

/// Refuses `root` if a document or array in it is more than `limit` levels down (`root` is
/// level 1), naming the path from `at`.
fn refuse_beyond(at: &str, root: Children<'_>, limit: usize) -> Result<(), LimitError> {
    match first_beyond(root, limit) {
        None => Ok(()),
        Some(keys) => {
            let prefix = at.split('.').filter(|_| !at.is_empty()).map(Cow::Borrowed);
            Err(LimitError::TooDeep {
                max: MAX_DEPTH,
                at: abbreviate_path(prefix.chain(keys.iter().map(Key::text))),
            })
        }
    }
}

/// A member's name or an array element's position.
enum Key<'a> {
    Name(&'a str),
    Index(usize),
}

impl<'a> Key<'a> {
    fn text(&self) -> Cow<'a, str> {
        match self {
            Key::Name(name) => Cow::Borrowed(name),
            Key::Index(i) => Cow::Owned(i.to_string()),
        }
    }
}

/// The members of a document or the elements of an array, with their keys.
enum Children<'a> {
    Doc(bson::document::Iter<'a>),
    Array(std::iter::Enumerate<std::slice::Iter<'a, Bson>>),
}

impl<'a> Children<'a> {
    fn of(value: &'a Bson) -> Option<Children<'a>> {
        match value {
            Bson::Document(d) => Some(Children::Doc(d.iter())),
            Bson::Array(items) => Some(Children::Array(items.iter().enumerate())),
            _ => None,
        }
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = (Key<'a>, &'a Bson);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Children::Doc(members) => members.next().map(|(k, v)| (Key::Name(k.as_str()), v)),
            Children::Array(items) => items.next().map(|(i, v)| (Key::Index(i), v)),
        }
    }
}

/// The keys leading to the first document or array more than `limit` levels down (the root
/// is level 1), walking depth first without recursion; `None` when there is none.
fn first_beyond(root: Children<'_>, limit: usize) -> Option<Vec<Key<'_>>> {
    let mut frames = vec![root];
    let mut keys = Vec::new();
    if limit == 0 {
        return Some(keys);
    }
    while let Some(top) = frames.last_mut() {
        match top.next() {
            None => {
                frames.pop();
                keys.pop();
            }
            Some((key, child)) => {
                if let Some(children) = Children::of(child) {
                    keys.push(key);
                    frames.push(children);
                    if frames.len() > limit {
                        return Some(keys);
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn nested(levels: usize) -> Bson {
        let mut value = Bson::Int32(1);
        for _ in 0..levels {
            value = Bson::Document(doc! {"a": value});
        }
        value
    }

    #[test]
    fn a_document_at_the_limit_passes_and_one_level_more_does_not() {
        let at_limit = doc! {"x": nested(MAX_DEPTH - 1)};
        assert!(check_document_depth(&at_limit).is_ok());
        let past = doc! {"x": nested(MAX_DEPTH)};
        let err = check_document_depth(&past).unwrap_err();
        assert!(err.at().starts_with("x.a.a"), "{err}");
        assert!(err.at().ends_with("(100 components)"), "{err}");
    }

    #[test]
    fn arrays_count_as_levels_and_positions_name_them() {
        let mut value = Bson::Int32(1);
        for _ in 0..MAX_DEPTH {
            value = Bson::Array(vec![Bson::Null, value]);
        }
        assert!(check_depth(&value).is_ok());
        let err = check_depth(&Bson::Array(vec![value])).unwrap_err();
        assert!(err.at().starts_with("0.1.1.1"), "{err}");
    }

    #[test]
    fn encoded_documents_are_checked_like_decoded_ones() {
        // The document, an array, then `levels` documents.
        for (levels, ok) in [(MAX_DEPTH - 2, true), (MAX_DEPTH - 1, false)] {
            let doc = doc! {"x": [nested(levels)]};
            let raw = bson::RawDocumentBuf::try_from(&doc).unwrap();
            let decoded = check_document_depth(&doc);
            assert_eq!(decoded.is_ok(), ok, "{levels}");
            assert_eq!(check_raw_document_depth(&raw), decoded, "{levels}");
        }
    }

    #[test]
    fn paths_at_the_limit_pass() {
        assert!(check_path(&vec!["p"; MAX_DEPTH].join(".")).is_ok());
        assert!(check_path(&vec!["p"; MAX_DEPTH + 1].join(".")).is_err());
    }

    #[test]
    fn long_components_are_cut_too() {
        let shown = abbreviate_path(["é".repeat(1000).as_str(), "b"]);
        assert!(shown.len() < 100, "{shown}");
        assert!(shown.ends_with("… (2 components)"), "{shown}");
    }

    #[test]
    fn a_very_deep_value_is_refused_without_recursion() {
        let mut value = Bson::Null;
        for _ in 0..5_000 {
            value = Bson::Array(vec![value]);
        }
        assert!(check_depth(&value).is_err());
        // Unwind by hand so the drop does not recurse 5 000 levels.
        while let Bson::Array(mut items) = value {
            value = items.pop().unwrap_or(Bson::Null);
        }
    }
}
