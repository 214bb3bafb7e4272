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

mod array_filters;
mod arrays;
mod conflicts;
mod decimal;
mod error;
mod number;
mod operators;
mod path;
mod positional;
mod rename;
mod seed;

use bson::{Bson, Document};

pub use array_filters::ArrayFilters;
pub use error::UpdateError;

use crate::limits::{self, LimitError};
use crate::query::conjunction::identical;
use crate::query::{values_equal, FieldPath, Filter};

use operators::Leaf;
use path::Part;

/// The value at a dotted path (documents by name, arrays by position), if present.
pub fn get_path<'a>(doc: &'a Document, path: &[String]) -> Option<&'a Bson> {
    path::get(doc, path)
}

/// A parsed update: operators, or a whole replacement document.
#[derive(Debug, Clone)]
pub enum Update {
    /// `{"$set": …, "$inc": …}`
    Operators(Modifiers),
    /// A replacement document (its `_id`, if any, must not change the stored one).
    Replacement(Document),
}

/// The operators of an update, with the array filters its `$[<identifier>]` paths use.
#[derive(Debug, Clone)]
pub struct Modifiers {
    leaves: Vec<Leaf>,
    /// Every path the update names (a `$rename`'s source and target), as written.
    named: Vec<path::UpdatePath>,
    array_filters: ArrayFilters,
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
        Update::parse_with(update, &[])
    }

    /// [`Update::parse`] with the `arrayFilters` option: the conditions `$[<identifier>]`
    /// paths select array elements with. Every filter must be used by the update, and every
    /// identifier the update uses must have a filter. A replacement ignores them.
    ///
    /// ```
    /// use bson::doc;
    /// use expanse::update::Update;
    /// let update = Update::parse_with(
    ///     &doc! {"$set": {"a.$[big]": 0}},
    ///     &[doc! {"big": {"$gt": 5}}],
    /// ).unwrap();
    /// let post = update.apply(&doc! {"_id": 1, "a": [1, 7, 9]}, false).unwrap();
    /// assert_eq!(post, doc! {"_id": 1, "a": [1, 0, 0]});
    /// assert!(Update::parse_with(&doc! {"$set": {"a.$[i]": 0}}, &[]).is_err());
    /// ```
    pub fn parse_with(
        update: &Document,
        array_filters: &[Document],
    ) -> Result<Update, UpdateError> {
        let has_operator = update.keys().any(|k| k.starts_with('$'));
        let filters = ArrayFilters::parse(array_filters)?;
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
        let parsed = operators::parse(update)?;
        let mut tree = conflicts::PathTree::new();
        let mut used: Vec<&str> = Vec::new();
        for named in &parsed.tree_paths {
            for part in &named.parts {
                if let Part::Filtered(id) = part {
                    if !filters.contains(id) {
                        return Err(UpdateError::new(
                            named.text.clone(),
                            format!(
                                "No array filter found for identifier '{id}' in path '{}'",
                                named.text
                            ),
                        ));
                    }
                    used.push(id);
                }
            }
            tree.add(named)?;
        }
        if let Some(unused) = filters.identifiers().find(|id| !used.contains(id)) {
            return Err(UpdateError::new(
                "arrayFilters",
                format!("The array filter for identifier '{unused}' was not used in the update"),
            ));
        }
        Ok(Update::Operators(Modifiers {
            leaves: parsed.leaves,
            named: parsed.tree_paths,
            array_filters: filters,
        }))
    }

    /// The paths an operator update may change (a `$rename` names both its source and its
    /// target; a path with `$`, `$[]` or `$[<identifier>]` changes some element of its array,
    /// so the array's path stands for it); `None` for a replacement, which may change anything.
    ///
    /// ```
    /// use bson::doc;
    /// use expanse::update::Update;
    ///
    /// let update = Update::parse(&doc! {"$set": {"title": "x", "meta.tags": [], "c.$.d": 1}, "$rename": {"a": "b"}}).unwrap();
    /// let mut paths: Vec<String> = update.written_paths().unwrap().iter().map(|p| p.join(".")).collect();
    /// paths.sort();
    /// assert_eq!(paths, ["a", "b", "c", "meta.tags", "title"]);
    /// ```
    pub fn written_paths(&self) -> Option<Vec<Vec<String>>> {
        match self {
            Update::Operators(m) => Some(m.named.iter().map(|p| p.static_prefix()).collect()),
            Update::Replacement(_) => None,
        }
    }

    /// Whether the update names array elements chosen when it applies (`$`, `$[]`,
    /// `$[<identifier>]`): its effect then depends on the query or on the array filters.
    pub fn is_dynamic(&self) -> bool {
        match self {
            Update::Operators(m) => m.named.iter().any(path::UpdatePath::is_dynamic),
            Update::Replacement(_) => false,
        }
    }

    /// Whether the update uses the positional operator `$` (which stands for the array
    /// position the query matched).
    pub fn is_positional(&self) -> bool {
        match self {
            Update::Operators(m) => m.named.iter().any(|p| p.parts.contains(&Part::Positional)),
            Update::Replacement(_) => false,
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
    /// (`$setOnInsert` applies only then). No query is known, so the positional operator `$`
    /// is refused ([`Update::apply_matched`] gives the query). A post-image nested deeper than
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
        self.apply_at(pre, None, inserting)
    }

    /// The post-image of `pre`, a document `query` matched: the positional operator `$`
    /// stands for the array position the query matched in it, as in MongoDB.
    ///
    /// ```
    /// use bson::doc;
    /// use expanse::query::Filter;
    /// use expanse::update::Update;
    /// let query = Filter::parse(&doc! {"comments.by": "jane"}).unwrap();
    /// let update = Update::parse(&doc! {"$inc": {"comments.$.votes": 1}}).unwrap();
    /// let pre = doc! {"_id": 1, "comments": [{"by": "joe", "votes": 3}, {"by": "jane", "votes": 7}]};
    /// let post = update.apply_matched(&pre, &query).unwrap();
    /// assert_eq!(post, doc! {"_id": 1, "comments": [{"by": "joe", "votes": 3}, {"by": "jane", "votes": 8}]});
    /// ```
    pub fn apply_matched(&self, pre: &Document, query: &Filter) -> Result<Document, UpdateError> {
        let matched = if self.is_positional() {
            matched_position(query, pre)
        } else {
            None
        };
        self.apply_at(pre, matched, false)
    }

    /// The post-image of `pre` when the query matched at array position `matched` (see
    /// [`matched_position`]; `None`: no position, so `$` is refused).
    pub fn apply_positioned(
        &self,
        pre: &Document,
        matched: Option<usize>,
    ) -> Result<Document, UpdateError> {
        self.apply_at(pre, matched, false)
    }

    /// The document an upsert inserts when `query` matches nothing: the query's equality
    /// conditions (only its `_id` for a replacement), updated as a new document, with `_id`
    /// first when it has one (a store generates it otherwise). Refuses what MongoDB refuses:
    /// two equalities on one path, an `_id` that is an array, a regular expression or
    /// undefined, and the positional operator (no array position was matched).
    ///
    /// ```
    /// use bson::doc;
    /// use expanse::update::Update;
    /// let update = Update::parse(&doc! {"$inc": {"n": 1}}).unwrap();
    /// let new = update.upsert_document(&doc! {"kind": "a", "_id": {"$in": [7]}}).unwrap();
    /// assert_eq!(new, doc! {"_id": 7, "kind": "a", "n": 1});
    /// assert!(update.upsert_document(&doc! {"c": 2, "$and": [{"c": 1}]}).is_err());
    /// ```
    pub fn upsert_document(&self, query: &Document) -> Result<Document, UpdateError> {
        crate::query::check_limits(query)?;
        let style = match self {
            Update::Operators(_) => seed::Style::Operators,
            Update::Replacement(_) => seed::Style::Replacement,
        };
        let start = seed::seed(query, style)?;
        let mut new = self.apply_at(&start, None, true)?;
        if let Some(id) = new.get("_id") {
            check_id(id)?;
            if new.keys().next().map(String::as_str) != Some("_id") {
                let id = new.remove("_id").unwrap_or(Bson::Null);
                let mut first = Document::new();
                first.insert("_id", id);
                first.extend(new);
                new = first;
            }
        }
        Ok(new)
    }

    fn apply_at(
        &self,
        pre: &Document,
        matched: Option<usize>,
        inserting: bool,
    ) -> Result<Document, UpdateError> {
        let post = match self {
            Update::Replacement(replacement) => replace(pre, replacement)?,
            Update::Operators(m) => {
                let post = m.apply(pre, matched, inserting)?;
                if let Some(before) = pre.get("_id") {
                    if post
                        .get("_id")
                        .is_none_or(|after| !identical(before, after))
                    {
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

/// The array position `query` matched in `doc`, which the positional operator `$` stands for:
/// the element a condition matched in the first array its path entered (an array reached by
/// position, `a.0`, does not count), or the element `$elemMatch` matched; within `$and` the
/// last condition that records one. `$or`, `$nor` and `$not` record none.
///
/// ```
/// use bson::doc;
/// use expanse::query::Filter;
/// use expanse::update::matched_position;
/// let query = Filter::parse(&doc! {"a.x": 2}).unwrap();
/// assert_eq!(matched_position(&query, &doc! {"a": [{"x": 1}, {"x": 2}]}), Some(1));
/// ```
pub fn matched_position(query: &Filter, doc: &Document) -> Option<usize> {
    positional::matched_position(query, doc)
}

/// A replacement keeps the stored `_id` (first), which it may repeat but not change.
fn replace(pre: &Document, replacement: &Document) -> Result<Document, UpdateError> {
    if let (Some(new_id), Some(old_id)) = (replacement.get("_id"), pre.get("_id")) {
        if !values_equal(new_id, old_id) {
            return Err(UpdateError::new(
                "_id",
                "the (immutable) field '_id' was found to have been altered",
            ));
        }
    }
    let mut post = Document::new();
    if let Some(id) = pre.get("_id").or_else(|| replacement.get("_id")) {
        post.insert("_id", id.clone());
    }
    for (k, v) in replacement {
        if k != "_id" {
            post.insert(k.clone(), v.clone());
        }
    }
    Ok(post)
}

/// MongoDB refuses an `_id` that is an array, a regular expression or undefined.
fn check_id(id: &Bson) -> Result<(), UpdateError> {
    match id {
        Bson::Array(_) | Bson::RegularExpression(_) | Bson::Undefined => Err(UpdateError::new(
            "_id",
            format!("The '_id' value cannot be of type {}", path::type_name(id)),
        )),
        _ => Ok(()),
    }
}

impl Modifiers {
    fn apply(
        &self,
        pre: &Document,
        matched: Option<usize>,
        inserting: bool,
    ) -> Result<Document, UpdateError> {
        let mut targets: Vec<(Vec<String>, &Leaf)> = Vec::with_capacity(self.leaves.len());
        for leaf in &self.leaves {
            let mut found = Vec::new();
            self.expand(&leaf.path.parts, pre, matched, &mut Vec::new(), &mut found)?;
            targets.extend(found.into_iter().map(|at| (at, leaf)));
        }
        targets.sort_by(|a, b| path::compare_paths(&a.0, &b.0));
        for pair in targets.windows(2) {
            let (a, b) = (&pair[0].0, &pair[1].0);
            if b.starts_with(a) {
                return Err(UpdateError::new(
                    a.join("."),
                    format!("Update created a conflict at '{}'", a.join(".")),
                ));
            }
        }
        let mut post = pre.clone();
        let ctx = operators::Applying { inserting };
        for (at, leaf) in &targets {
            leaf.apply(&mut post, at, &ctx)?;
        }
        Ok(post)
    }

    /// The concrete paths an update path stands for in `doc`.
    fn expand(
        &self,
        parts: &[Part],
        doc: &Document,
        matched: Option<usize>,
        prefix: &mut Vec<String>,
        out: &mut Vec<Vec<String>>,
    ) -> Result<(), UpdateError> {
        for (i, part) in parts.iter().enumerate() {
            match part {
                Part::Field(name) => prefix.push(name.clone()),
                Part::Positional => {
                    match matched {
                        Some(p) => prefix.push(p.to_string()),
                        None => return Err(UpdateError::new(
                            prefix.join("."),
                            "The positional operator did not find the match needed from the query.",
                        )),
                    }
                }
                Part::All | Part::Filtered(_) => {
                    let dotted = prefix.join(".");
                    if path::existing_prefix(doc, prefix) < prefix.len() {
                        return Err(UpdateError::new(
                            dotted.clone(),
                            format!("The path '{dotted}' must exist in the document in order to apply array updates."),
                        ));
                    }
                    let items = match path::get(doc, prefix) {
                        Some(Bson::Array(items)) => items,
                        other => {
                            return Err(UpdateError::new(
                                dotted,
                                format!(
                                    "Cannot apply array updates to non-array element {} of type {}",
                                    prefix.last().map(String::as_str).unwrap_or(""),
                                    other.map(path::type_name).unwrap_or("missing")
                                ),
                            ))
                        }
                    };
                    for (index, item) in items.iter().enumerate() {
                        let selected = match part {
                            Part::Filtered(id) => self.array_filters.matches(id, item),
                            _ => true,
                        };
                        if selected {
                            let mut below = prefix.clone();
                            below.push(index.to_string());
                            self.expand(&parts[i + 1..], doc, matched, &mut below, out)?;
                        }
                    }
                    return Ok(());
                }
            }
        }
        out.push(prefix.clone());
        Ok(())
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
/// inside `$and`, a lone or repeated `$or` clause, an `$in` or `$all` of one value), without
/// operators. A query past MongoDB's nesting limits is refused
/// ([`crate::query::check_limits`]), and so are two equalities on one path.
/// [`Update::upsert_document`] gives the whole new document.
///
/// ```
/// use bson::doc;
/// use expanse::update::upsert_seed;
/// let seed = upsert_seed(&doc! {"a.b": 1, "n": {"$gt": 2}}).unwrap();
/// assert_eq!(seed, doc! {"a": {"b": 1}});
/// ```
pub fn upsert_seed(query: &Document) -> Result<Document, UpdateError> {
    crate::query::check_limits(query)?;
    seed::seed(query, seed::Style::Operators)
}
