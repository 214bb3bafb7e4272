//! MongoDB's nesting limits, checked where paths and documents enter Expanse.
//!
//! MongoDB refuses documents nested deeper than 100 levels and field paths of more than 100
//! components. Expanse refuses them too, before anything is applied, so that no later step
//! (matching, applying an update, comparing, dropping a value) recurses without bound.
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
//! assert!(check_path(&vec!["x"; MAX_DEPTH + 1].join(".")).is_err());
//! ```

use bson::Bson;

/// The deepest nesting MongoDB accepts: documents and arrays inside a document, and the
/// components of a field path.
pub const MAX_DEPTH: usize = 100;

/// MongoDB's largest document: 16 MiB of BSON. Function results are held to it too.
pub const MAX_DOCUMENT_SIZE: usize = 16 * 1024 * 1024;

/// A path or value beyond [`MAX_DEPTH`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// A document or array nested deeper than the limit.
    #[error("a document or array is nested deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// A dotted path with more components than the limit.
    #[error("a field path has more than {max} components")]
    PathTooLong {
        /// The limit.
        max: usize,
    },
}

/// How deep `value` nests: 0 for a scalar, 1 for a document or array of scalars, and so on.
/// Counts without recursion, and stops counting once past `stop_after`.
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

/// Refuses a value nested deeper than [`MAX_DEPTH`] (a top-level document counts as one level).
pub fn check_depth(value: &Bson) -> Result<(), LimitError> {
    if nesting(value, MAX_DEPTH) > MAX_DEPTH {
        Err(LimitError::TooDeep { max: MAX_DEPTH })
    } else {
        Ok(())
    }
}

/// Refuses a document nested deeper than [`MAX_DEPTH`].
pub fn check_document_depth(doc: &bson::Document) -> Result<(), LimitError> {
    let mut deepest = 1;
    for value in doc.values() {
        deepest = deepest.max(1 + nesting(value, MAX_DEPTH));
        if deepest > MAX_DEPTH {
            return Err(LimitError::TooDeep { max: MAX_DEPTH });
        }
    }
    Ok(())
}

/// Refuses a dotted path with more than [`MAX_DEPTH`] components.
pub fn check_path(dotted: &str) -> Result<(), LimitError> {
    if dotted.split('.').nth(MAX_DEPTH).is_some() {
        Err(LimitError::PathTooLong { max: MAX_DEPTH })
    } else {
        Ok(())
    }
}
