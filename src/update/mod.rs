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

use crate::limits::{self, LimitError};
use crate::query::conjunction::identical;
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

impl From<LimitError> for UpdateError {
    fn from(e: LimitError) -> UpdateError {
        UpdateError::new(e.at(), e.reason())
    }
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
    /// Parses an update document (operators) or a replacement. Paths and values past
    /// MongoDB's nesting limit are refused first ([`check_limits`]).
    ///
    /// ```
    /// use bson::doc;
    /// use expanse::update::Update;
    /// let long = vec!["a"; 101].join(".");
    /// let err = Update::parse(&doc! {"$set": {long: 1}}).unwrap_err();
    /// assert!(err.to_string().ends_with("a field path has more than 100 components"), "{err}");
    /// ```
    pub fn parse(update: &Document) -> Result<Update, UpdateError> {
        let has_operator = update.keys().any(|k| k.starts_with('$'));
        if !has_operator {
            return Update::replacement(update);
        }
        check_limits(update)?;
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

    /// A replacement document; update operators are refused in it, and so is a document nested
    /// deeper than [`limits::MAX_DEPTH`] levels.
    pub fn replacement(doc: &Document) -> Result<Update, UpdateError> {
        limits::check_document_depth(doc)?;
        if let Some(key) = doc.keys().find(|k| k.starts_with('$')) {
            return Err(UpdateError::new(
                key.clone(),
                "a replacement document may not contain update operators",
            ));
        }
        Ok(Update::Replacement(doc.clone()))
    }

    /// The post-image of `pre`. `inserting` is true for the document an upsert creates
    /// (`$setOnInsert` applies only then). A post-image nested deeper than
    /// [`limits::MAX_DEPTH`] levels is refused, naming the path that goes too deep.
    ///
    /// ```
    /// use bson::{doc, Bson};
    /// use expanse::update::Update;
    /// let mut deep = Bson::Int32(1);
    /// for _ in 0..98 {
    ///     deep = Bson::Document(doc! {"d": deep});
    /// }
    /// let pre = doc! {"_id": 1, "v": deep}; // 99 levels
    /// let update = Update::parse(&doc! {"$rename": {"v": "a.a.v"}}).unwrap();
    /// let err = update.apply(&pre, false).unwrap_err();
    /// assert!(err.path.starts_with("a.a.v.d.d"), "{err}");
    /// ```
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
        limits::check_document_depth(&post)?;
        Ok(post)
    }
}

/// Refuses an update (operators or a replacement) that passes MongoDB's nesting limits: a
/// path of more than [`limits::MAX_DEPTH`] components (a `$rename` target and a `$push`
/// `$sort` key included), or a value that would be stored deeper than that where its path
/// puts it (a `$set` value under a path of `n` components may nest `100 - n` levels, an
/// element `$push`ed there one less). Checks without parsing or a document, so it applies to
/// updates sent to a server as they are; only a `$rename` can still make a document too deep,
/// which [`Update::apply`] refuses.
///
/// ```
/// use bson::{doc, Bson};
/// use expanse::update::check_limits;
/// let long = vec!["a"; 101].join(".");
/// assert!(check_limits(&doc! {"$rename": {"a": long}}).is_err());
/// assert!(check_limits(&doc! {"$set": {"a.b": {"c": [1]}}}).is_ok());
/// let mut deep = Bson::Int32(1);
/// for _ in 0..99 {
///     deep = Bson::Document(doc! {"d": deep});
/// }
/// assert!(check_limits(&doc! {"$set": {"a": deep.clone()}}).is_ok());
/// assert!(check_limits(&doc! {"$set": {"a.b": deep.clone()}}).is_err());
/// assert!(check_limits(&doc! {"$push": {"a": deep}}).is_err());
/// ```
pub fn check_limits(update: &Document) -> Result<(), LimitError> {
    if !update.keys().any(|k| k.starts_with('$')) {
        return limits::check_document_depth(update);
    }
    for (operator, spec) in update {
        let Bson::Document(fields) = spec else {
            continue;
        };
        for (field, value) in fields {
            limits::check_path(field)?;
            check_stored_depth(operator, field, value)?;
            check_argument_paths(operator, value)?;
        }
    }
    Ok(())
}

/// How deep an operator's argument would be stored at `field`: a value that is stored (set,
/// pushed) is measured where it lands; any other argument by its own nesting.
fn check_stored_depth(operator: &str, field: &str, value: &Bson) -> Result<(), LimitError> {
    let parts = field.split('.').count();
    match (operator, value) {
        ("$set" | "$setOnInsert" | "$min" | "$max", _) => {
            limits::check_depth_at(field, parts, value)
        }
        ("$push" | "$addToSet", Bson::Document(modifiers)) if modifiers.contains_key("$each") => {
            match modifiers.get("$each") {
                // The `$each` array stands where the field's array does.
                Some(each @ Bson::Array(_)) => limits::check_depth_at(field, parts, each),
                _ => limits::check_depth_at(field, 0, value),
            }
        }
        // One element inside the field's array.
        ("$push" | "$addToSet", _) => limits::check_depth_at(field, parts + 1, value),
        _ => limits::check_depth_at(field, 0, value),
    }
}

/// The paths inside an operator's argument: a `$rename` target, a `$push` `$sort`'s keys.
fn check_argument_paths(operator: &str, argument: &Bson) -> Result<(), LimitError> {
    match (operator, argument) {
        ("$rename", Bson::String(to)) => limits::check_path(to),
        ("$push", Bson::Document(modifiers)) => match modifiers.get("$sort") {
            Some(Bson::Document(keys)) => keys.keys().try_for_each(|k| limits::check_path(k)),
            _ => Ok(()),
        },
        _ => Ok(()),
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
    // Pairs of documents still to compare, with the path leading to them: no recursion, so
    // documents of any depth are compared.
    let mut pending: Vec<(&Document, &Document, Vec<String>)> = vec![(pre, post, Vec::new())];
    while let Some((before, after, prefix)) = pending.pop() {
        let added = after.keys().filter(|k| !before.contains_key(*k));
        for key in before.keys().chain(added) {
            let mut path = prefix.clone();
            path.push(key.clone());
            match (before.get(key), after.get(key)) {
                (Some(Bson::Document(a)), Some(Bson::Document(b))) => pending.push((a, b, path)),
                (Some(a), Some(b)) if identical(a, b) => {}
                _ => out.push(FieldPath::from_parts(path)),
            }
        }
    }
    out.sort_by(|a, b| a.parts().cmp(b.parts()));
    out
}

/// The document an upsert starts from: the query's equality conditions on fields (top level or
/// inside `$and`), without operators. A query past MongoDB's nesting limits is refused
/// ([`crate::query::check_limits`]).
///
/// ```
/// use bson::doc;
/// use expanse::update::upsert_seed;
/// let seed = upsert_seed(&doc! {"a.b": 1, "n": {"$gt": 2}}).unwrap();
/// assert_eq!(seed, doc! {"a": {"b": 1}});
/// ```
pub fn upsert_seed(query: &Document) -> Result<Document, UpdateError> {
    crate::query::check_limits(query)?;
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
