//! MongoDB sort order and projections on documents.

use std::cmp::Ordering;
use std::ops::ControlFlow;

use bson::{Bson, Document};

use super::order::compare_values;
use super::path::{walk_document, FieldPath, LeafArrays};
use super::QueryError;
use crate::limits;

/// A compiled sort specification (`{"a": 1, "b.c": -1}`).
#[derive(Debug, Clone)]
pub struct SortSpec {
    keys: Vec<(FieldPath, bool)>,
}

impl SortSpec {
    /// Parses a sort document (values 1 or -1; paths of at most [`limits::MAX_DEPTH`]
    /// components).
    ///
    /// ```
    /// use bson::doc;
    /// use expanse::query::SortSpec;
    /// assert!(SortSpec::parse(&doc! {"a.b": -1}).is_ok());
    /// assert!(SortSpec::parse(&doc! {vec!["a"; 101].join("."): 1}).is_err());
    /// ```
    pub fn parse(spec: &Document) -> Result<SortSpec, QueryError> {
        let mut keys = Vec::with_capacity(spec.len());
        for (field, direction) in spec {
            limits::check_path(field)?;
            let descending =
                match direction {
                    Bson::Int32(1) | Bson::Int64(1) => false,
                    Bson::Int32(-1) | Bson::Int64(-1) => true,
                    Bson::Double(d) if *d == 1.0 => false,
                    Bson::Double(d) if *d == -1.0 => true,
                    _ => return Err(QueryError {
                        path: field.clone(),
                        message:
                            "$sort key ordering must be 1 (for ascending) or -1 (for descending)"
                                .into(),
                    }),
                };
            keys.push((FieldPath::parse(field), descending));
        }
        Ok(SortSpec { keys })
    }

    /// Compares two documents: per key, arrays sort by their smallest element ascending and
    /// their largest descending; missing sorts as null.
    pub fn compare(&self, a: &Document, b: &Document) -> Ordering {
        for (path, descending) in &self.keys {
            let ka = sort_key(a, path, *descending);
            let kb = sort_key(b, path, *descending);
            let order = compare_values(&ka, &kb);
            let order = if *descending { order.reverse() } else { order };
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    }

    /// Sorts documents (stable, so equal keys keep insertion order).
    pub fn sort(&self, docs: &mut [Document]) {
        docs.sort_by(|a, b| self.compare(a, b));
    }
}

fn sort_key(doc: &Document, path: &FieldPath, descending: bool) -> Bson {
    let mut best: Option<Bson> = None;
    let mut saw_empty_array = false;
    let _ = walk_document(doc, path.parts(), LeafArrays::Traverse, &mut |v| {
        let candidate = match v {
            None => Bson::Null,
            Some(Bson::Array(items)) => {
                saw_empty_array |= items.is_empty();
                return ControlFlow::Continue(());
            }
            Some(v) => v.clone(),
        };
        best = Some(match best.take() {
            None => candidate,
            Some(current) => {
                let order = compare_values(&candidate, &current);
                if (order == Ordering::Less && !descending)
                    || (order == Ordering::Greater && descending)
                {
                    candidate
                } else {
                    current
                }
            }
        });
        ControlFlow::Continue(())
    });
    match best {
        Some(v) => v,
        // An empty array sorts below null.
        None if saw_empty_array => Bson::MinKey,
        None => Bson::Null,
    }
}

/// A compiled projection: inclusion (`{"a": 1}`) or exclusion (`{"a": 0}`), `_id` included
/// unless excluded.
#[derive(Debug, Clone)]
pub struct Projection {
    include: bool,
    fields: Vec<FieldPath>,
    /// `_id` comes through whole (it was not excluded, and no sub-path of it is listed).
    id: bool,
    /// `_id` was excluded (`{_id: 0}`).
    drop_id: bool,
}

impl Projection {
    /// Parses a projection document (paths of at most [`limits::MAX_DEPTH`] components).
    ///
    /// ```
    /// use bson::doc;
    /// use expanse::query::Projection;
    /// let p = Projection::parse(&doc! {"title": 1}).unwrap();
    /// assert_eq!(p.apply(&doc! {"_id": 1, "title": "t", "body": "b"}), doc! {"_id": 1, "title": "t"});
    /// assert!(Projection::parse(&doc! {"a": 1, "b": 0}).is_err());
    /// // Fields come in the document's order, not the projection's.
    /// let p = Projection::parse(&doc! {"b": 1, "a": 1}).unwrap();
    /// assert_eq!(p.apply(&doc! {"a": 1, "b": 2, "c": 3}), doc! {"a": 1, "b": 2});
    /// ```
    pub fn parse(spec: &Document) -> Result<Projection, QueryError> {
        let mut include = None;
        let mut fields = Vec::new();
        let mut id = true;
        for (field, value) in spec {
            limits::check_path(field)?;
            let on = match value {
                Bson::Boolean(b) => *b,
                Bson::Int32(i) => *i != 0,
                Bson::Int64(i) => *i != 0,
                Bson::Double(d) => *d != 0.0,
                _ => {
                    return Err(QueryError {
                        path: field.clone(),
                        message: "projection values must be 0/1 or true/false (projection operators are not supported)".into(),
                    })
                }
            };
            if field == "_id" {
                id = on;
                continue;
            }
            match include {
                None => include = Some(on),
                Some(mode) if mode != on => {
                    return Err(QueryError {
                        path: field.clone(),
                        message: format!(
                            "Cannot do {} on field {field} in {} projection",
                            if on { "inclusion" } else { "exclusion" },
                            if mode { "inclusion" } else { "exclusion" }
                        ),
                    })
                }
                _ => {}
            }
            fields.push(FieldPath::parse(field));
        }
        // `{_id: 1}` alone is an inclusion of `_id` only; a listed sub-path of `_id` decides
        // what of `_id` comes through, instead of the whole `_id`.
        let include = include.unwrap_or(id && spec.contains_key("_id"));
        let drop_id = !id;
        let id = id
            && !fields
                .iter()
                .any(|f| f.parts().first().is_some_and(|p| p == "_id"));
        Ok(Projection {
            include,
            fields,
            id,
            drop_id,
        })
    }

    /// Whether it includes (true) or excludes (false) the listed fields.
    pub fn is_inclusion(&self) -> bool {
        self.include
    }

    /// Whether the value at `path` comes through the projection whole: an inclusion lists the
    /// path or one of its prefixes; an exclusion lists neither the path, nor a prefix of it, nor
    /// a field inside it.
    ///
    /// ```
    /// use bson::doc;
    /// use expanse::query::Projection;
    /// let hide = Projection::parse(&doc! {"secret": 0}).unwrap();
    /// assert!(hide.keeps_intact(&["title".into()]));
    /// assert!(!hide.keeps_intact(&["secret".into(), "x".into()]));
    /// let only = Projection::parse(&doc! {"meta": 1}).unwrap();
    /// assert!(only.keeps_intact(&["meta".into(), "tags".into()]));
    /// assert!(only.keeps_intact(&["_id".into()]));
    /// assert!(!only.keeps_intact(&["title".into()]));
    /// ```
    pub fn keeps_intact(&self, path: &[String]) -> bool {
        if path.first().is_some_and(|top| top == "_id") && path.len() == 1 {
            return self.id;
        }
        let overlaps = |listed: &FieldPath| {
            let listed = listed.parts();
            listed.starts_with(path) || path.starts_with(listed)
        };
        if self.include {
            self.fields.iter().any(|f| path.starts_with(f.parts()))
        } else {
            !self.fields.iter().any(overlaps)
        }
    }

    /// Applies the projection.
    pub fn apply(&self, doc: &Document) -> Document {
        let mut out = if self.include {
            let paths: Vec<&[String]> = self.fields.iter().map(FieldPath::parts).collect();
            include_paths(doc, &paths)
        } else {
            let mut out = doc.clone();
            for path in &self.fields {
                exclude_path(&mut out, path.parts());
            }
            out
        };
        if self.id {
            if let (Some(id), true) = (doc.get("_id"), self.include) {
                let mut with_id = Document::new();
                with_id.insert("_id", id.clone());
                with_id.extend(out);
                out = with_id;
            }
        } else if self.drop_id {
            out.remove("_id");
        }
        out
    }
}

/// The fields of `source` that inclusion `paths` select, in `source`'s order (as MongoDB
/// returns them, whatever the order of the projection): a listed field whole, the selected
/// fields of an embedded document, of each document in an array, nested arrays projected the
/// same way (other elements go).
fn include_paths(source: &Document, paths: &[&[String]]) -> Document {
    let mut out = Document::new();
    for (key, value) in source {
        let below: Vec<&[String]> = paths
            .iter()
            .filter(|p| p.first() == Some(key))
            .map(|p| &p[1..])
            .collect();
        if below.is_empty() {
            continue;
        }
        if below.iter().any(|rest| rest.is_empty()) {
            out.insert(key.clone(), value.clone());
            continue;
        }
        match value {
            Bson::Document(inner) => {
                out.insert(key.clone(), include_paths(inner, &below));
            }
            Bson::Array(items) => {
                out.insert(key.clone(), include_in_array(items, &below));
            }
            _ => {}
        }
    }
    out
}

/// An inclusion of `paths` inside each element of an array: documents keep the included
/// fields, nested arrays are projected the same way, other values are dropped (as MongoDB
/// does).
fn include_in_array(items: &[Bson], paths: &[&[String]]) -> Vec<Bson> {
    items
        .iter()
        .filter_map(|item| match item {
            Bson::Document(inner) => Some(Bson::Document(include_paths(inner, paths))),
            Bson::Array(nested) => Some(Bson::Array(include_in_array(nested, paths))),
            _ => None,
        })
        .collect()
}

fn exclude_path(doc: &mut Document, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        doc.remove(first);
        return;
    }
    match doc.get_mut(first) {
        Some(Bson::Document(inner)) => exclude_path(inner, rest),
        Some(Bson::Array(items)) => {
            for item in items {
                if let Bson::Document(inner) = item {
                    exclude_path(inner, rest);
                }
            }
        }
        _ => {}
    }
}
