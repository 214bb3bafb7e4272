//! The stages that reshape each document: `$project`, `$addFields`/`$set`, `$unset`,
//! `$replaceRoot`/`$replaceWith`.
//!
//! A projection of 0/1 values goes through the query module's [`Projection`]; one with computed
//! fields is a tree of included, computed and nested fields applied as MongoDB applies it:
//! included fields first, in the document's order, then computed fields in the
//! specification's order. `$addFields` is the same tree over the whole document: a dotted or
//! nested field is set inside an embedded document (or inside every document of an array),
//! replacing a value that is not a document; a missing value (`$$REMOVE`) removes the field.

use bson::{Bson, Document};

use super::expression::{compile, Env, Expr};
use super::invalid;
use crate::query::Projection;
use crate::store::StoreError;

/// One field of a projection tree.
#[derive(Debug, Clone)]
enum Node {
    Include,
    Computed(Expr),
    Nested(Tree),
}

/// The fields of one level of a projection, in the specification's order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tree {
    fields: Vec<(String, Node)>,
}

impl Tree {
    fn insert(&mut self, path: &[String], node: Node, at: &str) -> Result<(), StoreError> {
        let Some((first, rest)) = path.split_first() else {
            return Ok(());
        };
        let collision = || invalid(at, format!("path collision at {}", path.join(".")));
        let existing = self.fields.iter_mut().find(|(k, _)| k == first);
        if rest.is_empty() {
            if existing.is_some() {
                return Err(collision());
            }
            self.fields.push((first.clone(), node));
            return Ok(());
        }
        match existing {
            Some((_, Node::Nested(tree))) => tree.insert(rest, node, at),
            Some(_) => Err(collision()),
            None => {
                let mut tree = Tree::default();
                tree.insert(rest, node, at)?;
                self.fields.push((first.clone(), Node::Nested(tree)));
                Ok(())
            }
        }
    }

    fn has_computed(&self) -> bool {
        self.fields.iter().any(|(_, n)| match n {
            Node::Computed(_) => true,
            Node::Nested(t) => t.has_computed(),
            Node::Include => false,
        })
    }

    /// Inclusion: the included fields (and nested inclusions) of `doc`, in its order.
    fn include(&self, doc: &Document) -> Document {
        let mut out = Document::new();
        for (key, value) in doc {
            match self.fields.iter().find(|(k, _)| k == key).map(|(_, n)| n) {
                Some(Node::Include) => {
                    out.insert(key.clone(), value.clone());
                }
                Some(Node::Nested(tree)) => {
                    if let Some(v) = tree.include_value(value) {
                        out.insert(key.clone(), v);
                    }
                }
                Some(Node::Computed(_)) | None => {}
            }
        }
        out
    }

    fn include_value(&self, value: &Bson) -> Option<Bson> {
        match value {
            Bson::Document(d) => Some(Bson::Document(self.include(d))),
            Bson::Array(items) => Some(Bson::Array(
                items.iter().filter_map(|i| self.include_value(i)).collect(),
            )),
            _ => None,
        }
    }

    /// Sets the computed fields (and nested ones) into `doc`.
    fn compute(&self, doc: &mut Document, env: &mut Env<'_>) -> Result<(), StoreError> {
        for (key, node) in &self.fields {
            match node {
                Node::Include => {}
                Node::Computed(expr) => match expr.evaluate(env)? {
                    Some(v) => {
                        doc.insert(key.clone(), v);
                    }
                    None => {
                        doc.remove(key);
                    }
                },
                Node::Nested(tree) if tree.has_computed() => {
                    let current = doc.get(key).cloned();
                    let value = tree.compute_value(current, env)?;
                    doc.insert(key.clone(), value);
                }
                Node::Nested(_) => {}
            }
        }
        Ok(())
    }

    fn compute_value(&self, value: Option<Bson>, env: &mut Env<'_>) -> Result<Bson, StoreError> {
        Ok(match value {
            Some(Bson::Document(mut d)) => {
                self.compute(&mut d, env)?;
                Bson::Document(d)
            }
            Some(Bson::Array(items)) => Bson::Array(
                items
                    .into_iter()
                    .map(|i| self.compute_value(Some(i), env))
                    .collect::<Result<_, _>>()?,
            ),
            _ => {
                let mut d = Document::new();
                self.compute(&mut d, env)?;
                Bson::Document(d)
            }
        })
    }
}

/// How a reshaping stage changes each document.
#[derive(Debug, Clone)]
pub(crate) enum Reshape {
    /// 0/1 inclusion or exclusion (also `$unset`).
    Plain(Projection),
    /// An inclusion projection with computed fields.
    Computed(Tree),
    /// `$addFields` / `$set`.
    AddFields(Tree),
    /// `$replaceRoot` / `$replaceWith`.
    ReplaceRoot(Expr),
}

/// Whether a value in a specification is an expression object (`{"$op": …}`) rather than a
/// nested specification.
fn is_operator(d: &Document) -> bool {
    d.keys().next().is_some_and(|k| k.starts_with('$'))
}

/// Every `(path, value)` of a specification, nested objects flattened into dotted paths.
fn flatten(
    spec: &Document,
    prefix: &[String],
    at: &str,
    empty_is_value: bool,
    out: &mut Vec<(Vec<String>, Bson)>,
) -> Result<(), StoreError> {
    for (key, value) in spec {
        if key.is_empty() || key.starts_with('$') {
            return Err(invalid(
                at,
                "a field name must not be empty or start with '$'",
            ));
        }
        let mut path = prefix.to_vec();
        path.extend(key.split('.').map(str::to_owned));
        if path.iter().any(String::is_empty) {
            return Err(invalid(at, "a field path must not hold an empty part"));
        }
        crate::limits::check_path(&path.join(".")).map_err(|e| invalid(at, e.reason()))?;
        match value {
            Bson::Document(d) if d.is_empty() && !empty_is_value => {
                return Err(invalid(
                    at,
                    format!(
                        "an empty object is not a valid value for {}",
                        path.join(".")
                    ),
                ))
            }
            Bson::Document(d) if !d.is_empty() && !is_operator(d) => {
                flatten(d, &path, at, empty_is_value, out)?
            }
            _ => out.push((path, value.clone())),
        }
    }
    Ok(())
}

impl Reshape {
    /// `$project`.
    pub fn project(spec: &Bson) -> Result<Reshape, StoreError> {
        const AT: &str = "$project";
        let Bson::Document(spec) = spec else {
            return Err(invalid(AT, "$project specification must be an object"));
        };
        if spec.is_empty() {
            return Err(invalid(AT, "$project requires at least one output field"));
        }
        let mut entries = Vec::new();
        flatten(spec, &[], AT, false, &mut entries)?;
        let flag = |v: &Bson| match v {
            Bson::Boolean(b) => Some(*b),
            Bson::Int32(i) => Some(*i != 0),
            Bson::Int64(i) => Some(*i != 0),
            Bson::Double(d) => Some(*d != 0.0),
            _ => None,
        };
        let computed = entries.iter().any(|(_, v)| flag(v).is_none());
        if !computed {
            let mut plain = Document::new();
            for (path, value) in &entries {
                plain.insert(path.join("."), value.clone());
            }
            return Ok(Reshape::Plain(Projection::parse(&plain)?));
        }
        let mut tree = Tree::default();
        let mut id_seen = false;
        for (path, value) in entries {
            let is_id = path.len() == 1 && path[0] == "_id";
            id_seen |= is_id;
            let node = match flag(&value) {
                Some(true) => Node::Include,
                Some(false) if is_id => continue,
                Some(false) => {
                    return Err(invalid(
                        AT,
                        format!(
                            "Invalid $project :: caused by :: Cannot do exclusion on field {} in inclusion projection",
                            path.join(".")
                        ),
                    ))
                }
                None => Node::Computed(compile(&value, AT)?),
            };
            tree.insert(&path, node, AT)?;
        }
        if !id_seen && !tree.fields.iter().any(|(k, _)| k == "_id") {
            tree.fields.insert(0, ("_id".to_owned(), Node::Include));
        }
        Ok(Reshape::Computed(tree))
    }

    /// `$addFields` / `$set`.
    pub fn add_fields(spec: &Bson, at: &str) -> Result<Reshape, StoreError> {
        let Bson::Document(spec) = spec else {
            return Err(invalid(at, format!("{at} specification must be an object")));
        };
        let mut entries = Vec::new();
        flatten(spec, &[], at, true, &mut entries)?;
        let mut tree = Tree::default();
        for (path, value) in entries {
            let expr = match &value {
                Bson::Document(d) if d.is_empty() => Expr::Literal(value.clone()),
                _ => compile(&value, at)?,
            };
            tree.insert(&path, Node::Computed(expr), at)?;
        }
        Ok(Reshape::AddFields(tree))
    }

    /// `$unset: "<field>"` or `$unset: ["<field>", …]`.
    pub fn unset(fields: &Bson) -> Result<Reshape, StoreError> {
        const AT: &str = "$unset";
        let names: Vec<&Bson> = match fields {
            Bson::String(_) => vec![fields],
            Bson::Array(items) if !items.is_empty() => items.iter().collect(),
            _ => {
                return Err(invalid(
                    AT,
                    "$unset specification must be a string or an array",
                ))
            }
        };
        let mut spec = Document::new();
        for n in names {
            let Bson::String(n) = n else {
                return Err(invalid(
                    AT,
                    "$unset specification must be a string or an array of strings",
                ));
            };
            spec.insert(n.clone(), 0);
        }
        Ok(Reshape::Plain(Projection::parse(&spec)?))
    }

    /// `$replaceRoot: {newRoot: <expr>}`.
    pub fn replace_root(spec: &Bson) -> Result<Reshape, StoreError> {
        const AT: &str = "$replaceRoot";
        match spec {
            Bson::Document(d) if d.len() == 1 && d.contains_key("newRoot") => {
                Ok(Reshape::ReplaceRoot(compile(&d["newRoot"], AT)?))
            }
            _ => Err(invalid(
                AT,
                "$replaceRoot takes an object with a single field, newRoot",
            )),
        }
    }

    /// `$replaceWith: <expr>`.
    pub fn replace_with(spec: &Bson) -> Result<Reshape, StoreError> {
        Ok(Reshape::ReplaceRoot(compile(spec, "$replaceWith")?))
    }

    /// The document reshaped.
    pub fn apply(&self, doc: Document) -> Result<Document, StoreError> {
        match self {
            Reshape::Plain(p) => Ok(p.apply(&doc)),
            Reshape::Computed(tree) => {
                let mut out = tree.include(&doc);
                tree.compute(&mut out, &mut Env::new(&doc))?;
                Ok(out)
            }
            Reshape::AddFields(tree) => {
                let mut out = doc.clone();
                tree.compute(&mut out, &mut Env::new(&doc))?;
                Ok(out)
            }
            Reshape::ReplaceRoot(expr) => match expr.evaluate_on(&doc)? {
                Some(Bson::Document(d)) => Ok(d),
                other => Err(invalid(
                    "$replaceRoot",
                    format!(
                        "'newRoot' expression must evaluate to an object, but the resulting value was of type {}",
                        super::operators::type_name(&other)
                    ),
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{bson, doc};

    #[test]
    fn add_fields_sets_inside_documents_and_arrays() {
        let r = Reshape::add_fields(&bson!({"a.b": true}), "$set").unwrap();
        let out = r
            .apply(doc! {"x": 1, "a": [1, {}, {"b": 1, "c": 2}, [], [1, {"c": 1}]]})
            .unwrap();
        assert_eq!(
            out,
            doc! {"x": 1, "a": [{"b": true}, {"b": true}, {"b": true, "c": 2}, [], [{"b": true}, {"c": 1, "b": true}]]}
        );
        let r = Reshape::add_fields(&bson!({"x": "$$REMOVE", "y": {"$add": ["$x", 1]}}), "$set")
            .unwrap();
        assert_eq!(r.apply(doc! {"x": 1}).unwrap(), doc! {"y": 2});
        let r = Reshape::add_fields(&bson!({"a": {"c": 5}}), "$set").unwrap();
        assert_eq!(
            r.apply(doc! {"a": {"b": 1}}).unwrap(),
            doc! {"a": {"b": 1, "c": 5}}
        );
    }

    #[test]
    fn computed_projections_keep_included_fields_first() {
        let r = Reshape::project(&bson!({"t": {"$concat": ["$s", "!"]}, "n": 1})).unwrap();
        assert_eq!(
            r.apply(doc! {"_id": 1, "s": "x", "n": 2, "z": 3}).unwrap(),
            doc! {"_id": 1, "n": 2, "t": "x!"}
        );
        let r = Reshape::project(&bson!({"_id": 0, "a": {"b": 1}})).unwrap();
        assert!(matches!(r, Reshape::Plain(_)));
        assert_eq!(
            r.apply(doc! {"_id": 1, "a": {"b": 2, "c": 3}}).unwrap(),
            doc! {"a": {"b": 2}}
        );
        assert!(Reshape::project(&bson!({"a": 0, "b": "$x"})).is_err());
    }
}
