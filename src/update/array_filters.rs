//! `arrayFilters`: the conditions `$[<identifier>]` update paths select array elements with.
//! Each filter is a query whose top-level field names all start with one identifier (an
//! alphanumeric word beginning with a lowercase letter); an element is selected when the query
//! matches it under that name, as `{<identifier>: element}`.

use bson::{Bson, Document};

use super::UpdateError;
use crate::query::Filter;

/// Parsed array filters, by identifier.
#[derive(Debug, Clone, Default)]
pub struct ArrayFilters {
    filters: Vec<(String, Filter)>,
}

impl ArrayFilters {
    /// Parses the `arrayFilters` option.
    ///
    /// ```
    /// use bson::doc;
    /// use expanse::update::ArrayFilters;
    /// assert!(ArrayFilters::parse(&[doc! {"i.b": {"$gt": 1}}]).is_ok());
    /// assert!(ArrayFilters::parse(&[doc! {"i": 0, "j": 0}]).is_err());
    /// assert!(ArrayFilters::parse(&[doc! {"I": 0}]).is_err());
    /// ```
    pub fn parse(filters: &[Document]) -> Result<ArrayFilters, UpdateError> {
        let mut parsed: Vec<(String, Filter)> = Vec::with_capacity(filters.len());
        for filter in filters {
            let mut ids = Vec::new();
            identifiers(filter, &mut ids)?;
            ids.dedup();
            let id = match ids.as_slice() {
                [] => {
                    return Err(UpdateError::new(
                        "arrayFilters",
                        "Cannot use an expression without a top-level field name in arrayFilters",
                    ))
                }
                [id] => id.clone(),
                [a, b, ..] => {
                    return Err(UpdateError::new(
                        "arrayFilters",
                        format!("Error parsing array filter :: caused by :: Expected a single top-level field name, found '{a}' and '{b}'"),
                    ))
                }
            };
            let mut chars = id.chars();
            let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_alphanumeric());
            if !well_formed {
                return Err(UpdateError::new(
                    "arrayFilters",
                    format!("Error parsing array filter :: caused by :: The top-level field name must be an alphanumeric string beginning with a lowercase letter, found '{id}'"),
                ));
            }
            if parsed.iter().any(|(other, _)| *other == id) {
                return Err(UpdateError::new(
                    "arrayFilters",
                    format!("Found multiple array filters with the same top-level field name {id}"),
                ));
            }
            let compiled = Filter::parse(filter).map_err(|e| {
                UpdateError::new(
                    "arrayFilters",
                    format!("Error parsing array filter :: caused by :: {e}"),
                )
            })?;
            parsed.push((id, compiled));
        }
        Ok(ArrayFilters { filters: parsed })
    }

    /// Whether no filter was given.
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.filters.iter().any(|(i, _)| i == id)
    }

    pub(crate) fn identifiers(&self) -> impl Iterator<Item = &str> {
        self.filters.iter().map(|(id, _)| id.as_str())
    }

    /// Whether the filter named `id` selects `element`.
    pub(crate) fn matches(&self, id: &str, element: &Bson) -> bool {
        self.filters
            .iter()
            .find(|(i, _)| i == id)
            .is_some_and(|(_, filter)| {
                let mut wrapped = Document::new();
                wrapped.insert(id, element.clone());
                filter.matches(&wrapped)
            })
    }
}

/// The identifiers a filter's top-level field names start with, through `$and`, `$or` and
/// `$nor`; other top-level operators are refused.
fn identifiers(filter: &Document, out: &mut Vec<String>) -> Result<(), UpdateError> {
    for (key, value) in filter {
        match key.as_str() {
            "$and" | "$or" | "$nor" => {
                if let Bson::Array(items) = value {
                    for item in items {
                        if let Bson::Document(d) = item {
                            identifiers(d, out)?;
                        }
                    }
                }
            }
            "$alwaysTrue" | "$alwaysFalse" | "$comment" => {}
            op if op.starts_with('$') => {
                return Err(UpdateError::new(
                    "arrayFilters",
                    format!(
                    "Error parsing array filter :: caused by :: unknown top level operator: {op}"
                ),
                ))
            }
            path => {
                let id = path.split('.').next().unwrap_or(path).to_owned();
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
    }
    Ok(())
}
