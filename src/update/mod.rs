//! MongoDB update semantics: operators and replacements applied to a document in process, so a
//! write's post-image (and exactly which fields it changes) is known before rules allow it.
//!
//! ```
//! use bson::doc;
//! use expanse::update::Update;
//! let update = Update::parse(&doc! {"$set": {"title": "x"}, "$inc": {"views": 1}}).unwrap();
//! let post = update.apply(&doc! {"_id": 1, "title": "a", "views": 1}, false).unwrap();
//! assert_eq!(post, doc! {"_id": 1, "title": "x", "views": 2});
//! ```

mod operators;
mod path;

use bson::{Bson, Document};

use crate::query::{values_equal, FieldPath};

/// The value at a dotted path (documents by name, arrays by position), if present.
pub fn get_path<'a>(doc: &'a Document, path: &[String]) -> Option<&'a Bson> {
    path::get(doc, path)
}

/// An update that cannot be parsed or applied, with the field path concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct UpdateError {
    /// The field path (may be empty).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl UpdateError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> UpdateError {
        UpdateError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// A parsed update: operators, or a whole replacement document.
#[derive(Debug, Clone)]
pub enum Update {
    /// `{"$set": …, "$inc": …}`
    Operators(Vec<operators::Op>),
    /// A replacement document (its `_id`, if any, must not change the stored one).
    Replacement(Document),
}

impl Update {
    /// Parses an update document (operators) or a replacement.
    pub fn parse(update: &Document) -> Result<Update, UpdateError> {
        let has_operator = update.keys().any(|k| k.starts_with('$'));
        if !has_operator {
            return Update::replacement(update);
        }
        if let Some(plain) = update.keys().find(|k| !k.starts_with('$')) {
            return Err(UpdateError::new(
                plain.clone(),
                "an update document may not mix operators and fields",
            ));
        }
        let ops = operators::parse(update)?;
        check_conflicts(&ops)?;
        Ok(Update::Operators(ops))
    }

    /// The paths an operator update names (a `$rename` names both its source and its target);
    /// `None` for a replacement, which may change anything.
    ///
    /// ```
    /// use bson::doc;
    /// use expanse::update::Update;
    ///
    /// let update = Update::parse(&doc! {"$set": {"title": "x", "meta.tags": []}, "$rename": {"a": "b"}}).unwrap();
    /// let mut paths: Vec<String> = update.written_paths().unwrap().iter().map(|p| p.join(".")).collect();
    /// paths.sort();
    /// assert_eq!(paths, ["a", "b", "meta.tags", "title"]);
    /// ```
    pub fn written_paths(&self) -> Option<Vec<Vec<String>>> {
        match self {
            Update::Operators(ops) => Some(
                ops.iter()
                    .flat_map(|op| op.paths())
                    .map(|p| p.parts().to_vec())
                    .collect(),
            ),
            Update::Replacement(_) => None,
        }
    }

    /// A replacement document; update operators are refused in it.
    pub fn replacement(doc: &Document) -> Result<Update, UpdateError> {
        if let Some(key) = doc.keys().find(|k| k.starts_with('$')) {
            return Err(UpdateError::new(
                key.clone(),
                "a replacement document may not contain update operators",
            ));
        }
        Ok(Update::Replacement(doc.clone()))
    }

    /// The post-image of `pre`. `inserting` is true for the document an upsert creates
    /// (`$setOnInsert` applies only then).
    pub fn apply(&self, pre: &Document, inserting: bool) -> Result<Document, UpdateError> {
        let post = match self {
            Update::Replacement(replacement) => {
                let mut post = Document::new();
                if let Some(id) = pre.get("_id") {
                    post.insert("_id", id.clone());
                }
                for (k, v) in replacement {
                    if k != "_id" {
                        post.insert(k.clone(), v.clone());
                    }
                }
                if let (Some(new_id), Some(old_id)) = (replacement.get("_id"), pre.get("_id")) {
                    if !values_equal(new_id, old_id) {
                        return Err(UpdateError::new(
                            "_id",
                            "the (immutable) field '_id' was found to have been altered",
                        ));
                    }
                }
                if pre.get("_id").is_none() {
                    if let Some(id) = replacement.get("_id") {
                        post.insert("_id", id.clone());
                    }
                }
                post
            }
            Update::Operators(ops) => {
                let mut post = pre.clone();
                for op in ops {
                    op.apply(&mut post, inserting)?;
                }
                if let (Some(before), after) = (pre.get("_id"), post.get("_id")) {
                    if after.is_none_or(|after| !values_equal(before, after)) {
                        return Err(UpdateError::new(
                            "_id",
                            "Performing an update on the path '_id' would modify the immutable field '_id'",
                        ));
                    }
                }
                post
            }
        };
        Ok(post)
    }
}

/// Two operators may not touch the same path or one path and a prefix of it.
fn check_conflicts(ops: &[operators::Op]) -> Result<(), UpdateError> {
    let mut paths: Vec<&FieldPath> = ops.iter().flat_map(|op| op.paths()).collect();
    paths.sort_by(|a, b| a.parts().cmp(b.parts()));
    for pair in paths.windows(2) {
        let (a, b) = (pair[0].parts(), pair[1].parts());
        if b.starts_with(a) {
            return Err(UpdateError::new(
                pair[1].to_string(),
                format!(
                    "Updating the path '{}' would create a conflict at '{}'",
                    pair[1], pair[0]
                ),
            ));
        }
    }
    Ok(())
}

/// The paths where two documents differ: a field whose values are both documents is compared
/// field by field; anything else that differs (including a field present on one side only) is
/// reported whole.
///
/// ```
/// use bson::doc;
/// use expanse::update::changed_paths;
/// let pre = doc! {"a": 1, "b": {"c": 1, "d": 2}, "e": [1]};
/// let post = doc! {"a": 1, "b": {"c": 5, "d": 2}, "f": true, "e": [1]};
/// let changed: Vec<String> = changed_paths(&pre, &post).iter().map(|p| p.to_string()).collect();
/// assert_eq!(changed, ["b.c", "f"]);
/// ```
pub fn changed_paths(pre: &Document, post: &Document) -> Vec<FieldPath> {
    let mut out = Vec::new();
    diff(pre, post, &mut Vec::new(), &mut out);
    out.sort_by(|a, b| a.parts().cmp(b.parts()));
    out
}

fn diff(pre: &Document, post: &Document, prefix: &mut Vec<String>, out: &mut Vec<FieldPath>) {
    let mut keys: Vec<&String> = pre.keys().collect();
    keys.extend(post.keys().filter(|k| !pre.contains_key(*k)));
    for key in keys {
        prefix.push(key.clone());
        match (pre.get(key), post.get(key)) {
            (Some(Bson::Document(a)), Some(Bson::Document(b))) => diff(a, b, prefix, out),
            (Some(a), Some(b)) if identical(a, b) => {}
            _ => out.push(FieldPath::from_parts(prefix.clone())),
        }
        prefix.pop();
    }
}

/// Byte-for-byte sameness (type included): `1` and `1.0` differ, as they do once stored.
fn identical(a: &Bson, b: &Bson) -> bool {
    a == b || (matches!((a, b), (Bson::Double(x), Bson::Double(y)) if x.is_nan() && y.is_nan()))
}

/// The document an upsert starts from: the query's equality conditions on fields (top level or
/// inside `$and`), without operators.
pub fn upsert_seed(query: &Document) -> Result<Document, UpdateError> {
    let mut seed = Document::new();
    collect_equalities(query, &mut seed)?;
    Ok(seed)
}

fn collect_equalities(query: &Document, seed: &mut Document) -> Result<(), UpdateError> {
    for (key, value) in query {
        if key == "$and" {
            if let Bson::Array(parts) = value {
                for part in parts {
                    if let Bson::Document(d) = part {
                        collect_equalities(d, seed)?;
                    }
                }
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        let equality = match value {
            Bson::Document(d) if d.keys().next().is_some_and(|k| k.starts_with('$')) => {
                d.get("$eq").cloned()
            }
            Bson::RegularExpression(_) => None,
            other => Some(other.clone()),
        };
        if let Some(v) = equality {
            path::set(seed, FieldPath::parse(key).parts(), v)?;
        }
    }
    Ok(())
}
