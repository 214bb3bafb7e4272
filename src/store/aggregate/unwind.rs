//! `$unwind`: one output document per element of an array field.

use bson::{Bson, Document};

use super::invalid;
use crate::store::StoreError;

/// A parsed `$unwind`.
#[derive(Debug, Clone)]
pub(crate) struct Unwind {
    path: Vec<String>,
    index: Option<String>,
    preserve: bool,
}

fn field_path(text: &str, what: &str) -> Result<Vec<String>, StoreError> {
    let parts: Vec<String> = text.split('.').map(str::to_owned).collect();
    if parts.iter().any(|p| p.is_empty() || p.starts_with('$')) {
        return Err(invalid(
            "$unwind",
            format!("{what} is not a valid field path"),
        ));
    }
    Ok(parts)
}

impl Unwind {
    /// `$unwind: "$path"` or `{path, includeArrayIndex?, preserveNullAndEmptyArrays?}`.
    pub fn parse(spec: &Bson) -> Result<Unwind, StoreError> {
        const AT: &str = "$unwind";
        let (path, index, preserve) = match spec {
            Bson::String(s) => (s.as_str(), None, false),
            Bson::Document(d) => {
                if let Some(k) = d.keys().find(|k| {
                    !["path", "includeArrayIndex", "preserveNullAndEmptyArrays"]
                        .contains(&k.as_str())
                }) {
                    return Err(invalid(AT, format!("unrecognized option to $unwind: {k}")));
                }
                let Ok(path) = d.get_str("path") else {
                    return Err(invalid(AT, "no path specified to $unwind stage"));
                };
                let index =
                    match d.get("includeArrayIndex") {
                        None => None,
                        Some(Bson::String(s)) if !s.is_empty() && !s.starts_with('$') => {
                            Some(s.clone())
                        }
                        Some(_) => return Err(invalid(
                            AT,
                            "includeArrayIndex must be a non-empty string not starting with '$'",
                        )),
                    };
                let preserve = match d.get("preserveNullAndEmptyArrays") {
                    None => false,
                    Some(Bson::Boolean(b)) => *b,
                    Some(_) => {
                        return Err(invalid(AT, "preserveNullAndEmptyArrays must be a boolean"))
                    }
                };
                (path, index, preserve)
            }
            _ => {
                return Err(invalid(
                    AT,
                    "$unwind takes a string or an object with a path",
                ))
            }
        };
        let Some(path) = path.strip_prefix('$') else {
            return Err(invalid(
                AT,
                "the path option to $unwind must be prefixed with '$'",
            ));
        };
        Ok(Unwind {
            path: field_path(path, "the $unwind path")?,
            index,
            preserve,
        })
    }

    /// The documents one input document unwinds into.
    pub fn apply(&self, doc: Document) -> Vec<Document> {
        let value = get(&doc, &self.path).cloned();
        let with_index = |mut d: Document, i: Option<i64>| {
            if let Some(name) = &self.index {
                d.insert(name.clone(), i.map_or(Bson::Null, Bson::Int64));
            }
            d
        };
        match value {
            Some(Bson::Array(items)) if !items.is_empty() => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let mut d = doc.clone();
                    set(&mut d, &self.path, Some(item));
                    with_index(d, Some(i as i64))
                })
                .collect(),
            Some(Bson::Array(_)) => {
                if !self.preserve {
                    return Vec::new();
                }
                let mut d = doc;
                set(&mut d, &self.path, None);
                vec![with_index(d, None)]
            }
            None | Some(Bson::Null) | Some(Bson::Undefined) => {
                if self.preserve {
                    vec![with_index(doc, None)]
                } else {
                    Vec::new()
                }
            }
            Some(_) => vec![with_index(doc, None)],
        }
    }
}

/// The value at a dotted path through embedded documents only (as `$unwind` reads it).
fn get<'d>(doc: &'d Document, path: &[String]) -> Option<&'d Bson> {
    let (first, rest) = path.split_first()?;
    let value = doc.get(first)?;
    if rest.is_empty() {
        return Some(value);
    }
    match value {
        Bson::Document(inner) => get(inner, rest),
        _ => None,
    }
}

/// Sets (or, with `None`, removes) the value at a path `get` found.
fn set(doc: &mut Document, path: &[String], value: Option<Bson>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        match value {
            Some(v) => {
                doc.insert(first.clone(), v);
            }
            None => {
                doc.remove(first);
            }
        }
        return;
    }
    if let Some(Bson::Document(inner)) = doc.get_mut(first) {
        set(inner, rest, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{bson, doc};

    #[test]
    fn unwinds_arrays_and_keeps_scalars() {
        let u = Unwind::parse(&bson!("$a.b")).unwrap();
        assert_eq!(
            u.apply(doc! {"_id": 1, "a": {"b": [1, 2]}}),
            vec![
                doc! {"_id": 1, "a": {"b": 1}},
                doc! {"_id": 1, "a": {"b": 2}}
            ]
        );
        assert_eq!(u.apply(doc! {"a": {"b": 3}}), vec![doc! {"a": {"b": 3}}]);
        assert!(u.apply(doc! {"a": {"b": []}}).is_empty());
        let u = Unwind::parse(
            &bson!({"path": "$t", "includeArrayIndex": "i", "preserveNullAndEmptyArrays": true}),
        )
        .unwrap();
        assert_eq!(u.apply(doc! {"t": []}), vec![doc! {"i": null}]);
        assert_eq!(u.apply(doc! {"t": null}), vec![doc! {"t": null, "i": null}]);
        assert_eq!(u.apply(doc! {"t": ["x"]}), vec![doc! {"t": "x", "i": 0i64}]);
    }
}
