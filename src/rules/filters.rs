//! Collection filters: which apply to a request, the query they add, the projection they impose.

use bson::Document;

use super::error::FilterError;
use super::{CollectionRules, RequestContext};
use crate::query::Projection;

/// What the applicable filters contribute to one request.
pub(crate) struct AppliedFilters {
    /// Queries to `$and` with the request's own query.
    pub queries: Vec<Document>,
    /// The merged projection, if any filter has one.
    pub projection: Option<Projection>,
    /// The same projection as a document (a `$project` stage's specification).
    pub projection_spec: Option<Document>,
    /// Names of the filters that applied (for explanations).
    pub names: Vec<String>,
}

/// Evaluates every filter's `apply_when` and resolves its query. A query whose expansions are
/// missing matches nothing (fails closed). Projections of different kinds are an error.
pub(crate) fn apply_filters(
    rules: &CollectionRules,
    request: &RequestContext<'_>,
) -> Result<AppliedFilters, FilterError> {
    let ctx = request.context(None, None);
    let mut applied = AppliedFilters {
        queries: Vec::new(),
        projection: None,
        projection_spec: None,
        names: Vec::new(),
    };
    let mut merged = Document::new();
    let mut inclusive: Option<bool> = None;
    for filter in &rules.filters {
        if !filter.apply_when.evaluate(&ctx) {
            continue;
        }
        applied.names.push(filter.name.clone());
        match filter.query.resolve(&ctx) {
            Ok(Some(q)) => applied.queries.push(q),
            Ok(None) => applied.queries.push(bson::doc! {"_id": {"$in": []}}),
            Err(e) => return Err(FilterError(format!("filter {:?}: {e}", filter.name))),
        }
        if !filter.projection.is_empty() {
            let projection = Projection::parse(&filter.projection)
                .map_err(|e| FilterError(format!("filter {:?}: {e}", filter.name)))?;
            let kind = projection.is_inclusion();
            let only_id = filter.projection.keys().all(|k| k == "_id");
            if !only_id {
                if inclusive.is_some_and(|k| k != kind) {
                    return Err(FilterError("filters applying to one request must use the same kind of projection (all inclusive or all exclusive)".into()));
                }
                inclusive = Some(kind);
            }
            merged.extend(filter.projection.clone());
        }
    }
    if !merged.is_empty() {
        applied.projection =
            Some(Projection::parse(&merged).map_err(|e| FilterError(e.to_string()))?);
        applied.projection_spec = Some(merged);
    }
    Ok(applied)
}
