//! The document an upsert starts from: the equality conditions of its query, as MongoDB
//! extracts them after simplifying the query (`$and` flattened, an `$or` whose clauses are all
//! the same reduced to that clause, an `$in` or `$all` of one value read as an equality).
//! Two equalities on one path, or on a path and its prefix, are refused. A replacement keeps
//! only the `_id` the query names.

use bson::{Bson, Document};

use super::path;
use super::UpdateError;
use crate::query::conjunction::identical;

/// Which equalities seed the new document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Every equality (an operator update).
    Operators,
    /// Only the `_id` (a replacement).
    Replacement,
}

pub(crate) fn seed(query: &Document, style: Style) -> Result<Document, UpdateError> {
    let mut equalities: Vec<(Vec<String>, Bson)> = Vec::new();
    collect(query, &mut equalities)?;
    let mut kept: Vec<(Vec<String>, Bson)> = Vec::new();
    for (path, value) in equalities {
        if style == Style::Replacement {
            match path.first().map(String::as_str) {
                Some("_id") if path.len() == 1 => {}
                Some("_id") => {
                    return Err(UpdateError::new(
                        path.join("."),
                        format!(
                        "field at '_id' must be exactly specified, field at sub-path '{}' found",
                        path.join(".")
                    ),
                    ))
                }
                _ => continue,
            }
        }
        if let Some((other, _)) = kept
            .iter()
            .find(|(other, _)| other.starts_with(&path) || path.starts_with(other))
        {
            let dotted = path.join(".");
            let message = if *other == path {
                format!("cannot infer query fields to set, path '{dotted}' is matched twice")
            } else {
                format!(
                    "cannot infer query fields to set, both paths '{dotted}' and '{}' are matched",
                    other.join(".")
                )
            };
            return Err(UpdateError::new(dotted, message));
        }
        kept.push((path, value));
    }
    let mut doc = Document::new();
    for (path, value) in kept {
        path::set(&mut doc, &path, value)?;
    }
    Ok(doc)
}

fn collect(query: &Document, out: &mut Vec<(Vec<String>, Bson)>) -> Result<(), UpdateError> {
    for (key, value) in query {
        match key.as_str() {
            "$and" => {
                for clause in clauses(value) {
                    collect(clause, out)?;
                }
            }
            "$or" => {
                let mut distinct: Vec<&Document> = Vec::new();
                for clause in clauses(value) {
                    let same = distinct.iter().any(|d| {
                        identical(
                            &Bson::Document((*d).clone()),
                            &Bson::Document(clause.clone()),
                        )
                    });
                    if !same {
                        distinct.push(clause);
                    }
                }
                if let [only] = distinct.as_slice() {
                    collect(only, out)?;
                }
            }
            k if k.starts_with('$') => {}
            field => {
                let path: Vec<String> = field.split('.').map(str::to_owned).collect();
                for v in equalities_of(value) {
                    if matches!(v, Bson::Undefined) {
                        return Err(UpdateError::new(field, "cannot compare to undefined"));
                    }
                    out.push((path.clone(), v));
                }
            }
        }
    }
    Ok(())
}

fn clauses(value: &Bson) -> impl Iterator<Item = &Document> {
    let items: &[Bson] = match value {
        Bson::Array(items) => items,
        _ => &[],
    };
    items.iter().filter_map(|item| match item {
        Bson::Document(d) => Some(d),
        _ => None,
    })
}

/// The values a field's condition requires it to equal.
fn equalities_of(value: &Bson) -> Vec<Bson> {
    match value {
        Bson::Document(ops) if ops.keys().next().is_some_and(|k| k.starts_with('$')) => {
            let mut out = Vec::new();
            for (op, arg) in ops {
                match (op.as_str(), arg) {
                    ("$eq", v) => out.push(v.clone()),
                    ("$in", Bson::Array(items)) => {
                        let mut distinct: Vec<&Bson> = Vec::new();
                        for item in items {
                            if !distinct.iter().any(|d| identical(d, item)) {
                                distinct.push(item);
                            }
                        }
                        if let [only] = distinct.as_slice() {
                            if !matches!(only, Bson::RegularExpression(_)) {
                                out.push((*only).clone());
                            }
                        }
                    }
                    ("$all", Bson::Array(items)) => {
                        for item in items {
                            let is_operator = matches!(item, Bson::Document(d) if d.keys().next().is_some_and(|k| k.starts_with('$')));
                            if !is_operator && !matches!(item, Bson::RegularExpression(_)) {
                                out.push(item.clone());
                            }
                        }
                    }
                    _ => {}
                }
            }
            out
        }
        Bson::RegularExpression(_) => Vec::new(),
        other => vec![other.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn ops(q: Document) -> Result<Document, UpdateError> {
        seed(&q, Style::Operators)
    }

    #[test]
    fn simplified_queries_seed_fields() {
        assert_eq!(ops(doc! {"_id": {"$in": [1]}}).unwrap(), doc! {"_id": 1});
        assert_eq!(
            ops(doc! {"$or": [{"x": 1}, {"x": 1}]}).unwrap(),
            doc! {"x": 1}
        );
        assert_eq!(ops(doc! {"x": {"$all": [1]}}).unwrap(), doc! {"x": 1});
        assert_eq!(ops(doc! {"$or": [{"x": 1}, {"x": 2}]}).unwrap(), doc! {});
        assert_eq!(
            ops(doc! {"_id.x": 1, "_id.y": 2}).unwrap(),
            doc! {"_id": {"x": 1, "y": 2}}
        );
    }

    #[test]
    fn conflicting_equalities_are_refused() {
        assert!(ops(doc! {"c": 2, "$and": [{"c": 1}]}).is_err());
        assert!(ops(doc! {"x": 1, "x.x": 1}).is_err());
        assert!(ops(doc! {"x": {"$all": [1, 2]}}).is_err());
        assert!(seed(&doc! {"_id.x": 1}, Style::Replacement).is_err());
        assert_eq!(
            seed(&doc! {"_id": 1, "x": 1, "x.x": 1}, Style::Replacement).unwrap(),
            doc! {"_id": 1}
        );
    }
}
