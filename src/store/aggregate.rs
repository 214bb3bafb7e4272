//! The aggregation stages the embedded store runs in process.

use bson::{doc, Bson, Document};

use super::{count_of, StoreError};
use crate::query::{Filter, Projection, QueryError, SortSpec};

fn invalid(stage: &str, message: impl Into<String>) -> StoreError {
    StoreError::Query(QueryError {
        path: stage.to_owned(),
        message: message.into(),
    })
}

/// Runs `$match $sort $skip $limit $project $count $unset` over documents.
///
/// ```
/// use bson::doc;
/// let docs = vec![doc! {"n": 3}, doc! {"n": 1}, doc! {"n": 2}];
/// let out = expanse::store::run_pipeline(docs, &[doc! {"$match": {"n": {"$gt": 1}}}, doc! {"$count": "big"}]).unwrap();
/// assert_eq!(out, vec![doc! {"big": 2}]);
/// ```
pub fn run_pipeline(
    mut docs: Vec<Document>,
    pipeline: &[Document],
) -> Result<Vec<Document>, StoreError> {
    for stage in pipeline {
        let mut entries = stage.iter();
        let (Some((name, spec)), None) = (entries.next(), entries.next()) else {
            return Err(invalid(
                "pipeline",
                "A pipeline stage specification object must contain exactly one field.",
            ));
        };
        docs = match (name.as_str(), spec) {
            ("$match", Bson::Document(query)) => {
                let filter = Filter::parse(query)?;
                docs.into_iter().filter(|d| filter.matches(d)).collect()
            }
            ("$sort", Bson::Document(spec)) => {
                let sort = SortSpec::parse(spec)?;
                sort.sort(&mut docs);
                docs
            }
            ("$skip", n) => {
                let n = count_of(n).ok_or_else(|| invalid("$skip", "$skip must be a non-negative number"))?;
                docs.into_iter().skip(n as usize).collect()
            }
            ("$limit", n) => {
                let n = count_of(n).filter(|n| *n > 0).ok_or_else(|| invalid("$limit", "the limit must be positive"))?;
                docs.into_iter().take(n as usize).collect()
            }
            ("$project", Bson::Document(spec)) => {
                let projection = Projection::parse(spec)?;
                docs.iter().map(|d| projection.apply(d)).collect()
            }
            ("$unset", fields) => {
                let names: Vec<Bson> = match fields {
                    Bson::String(s) => vec![Bson::String(s.clone())],
                    Bson::Array(items) => items.clone(),
                    _ => return Err(invalid("$unset", "$unset specification must be a string or an array")),
                };
                let mut spec = Document::new();
                for n in names {
                    let Bson::String(n) = n else {
                        return Err(invalid("$unset", "$unset specification must be a string or an array of strings"));
                    };
                    spec.insert(n, 0);
                }
                let projection = Projection::parse(&spec)?;
                docs.iter().map(|d| projection.apply(d)).collect()
            }
            ("$count", Bson::String(field)) => {
                if field.is_empty() || field.starts_with('$') || field.contains('.') {
                    return Err(invalid("$count", "the count field must be a non-empty string without '$' or '.'"));
                }
                if docs.is_empty() {
                    Vec::new()
                } else {
                    vec![doc! {field.clone(): docs.len() as i32}]
                }
            }
            (other, _) => {
                return Err(StoreError::Unsupported(format!(
                    "aggregation stage {other} is not supported by the embedded store (supported: $match $sort $skip $limit $project $unset $count)"
                )))
            }
        };
    }
    Ok(docs)
}
