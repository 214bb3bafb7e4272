//! `functions/call` with a `service`: a MongoDB operation in the client's argument shape
//! (`{database, collection, query, project, sort, …}`), run through the guarded collection of
//! the caller exactly as a user-context function's would be.
//!
//! The operations themselves (their argument shapes, `realm-web`'s `project` key, its
//! `findOneAndDelete` sent as `findOneAndReplace` without `update`) belong to the library's
//! operation dispatcher (`crate::operation`, `GuardedCollection::perform`); this module only
//! finds the data source and hands the call over.

use axum::http::StatusCode;
use bson::{Bson, Document};

use super::error::ApiError;
use super::state::{ServerState, ServerStore};
use crate::guard::GuardError;
use crate::operation::{OperationError, ServiceCall};
use crate::store::Store;
use crate::User;

/// The data source a client's service name means: the app's data source of that name, or the
/// default one for `mongo-db` (`realm-web`'s `mongoClient()` with no name).
pub fn data_source<'a, S: Store + Clone>(
    state: &'a ServerState<S>,
    service: &'a str,
) -> Result<&'a str, ApiError> {
    if state.app.data_sources.contains_key(service) {
        return Ok(service);
    }
    if service == "mongo-db" {
        if let Some(default) = state.app.default_service() {
            return Ok(default);
        }
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "ServiceNotFound",
        format!("service not found: {service:?}"),
    ))
}

/// Runs operation `name` of `service` with the client's `arguments` as `user`: the library
/// reads the call (`ServiceCall`) and performs it on the caller's guarded collection, with
/// `%function` rules and `%%request` as in a user-context function.
pub async fn call<S: ServerStore>(
    state: &ServerState<S>,
    user: &User,
    service: &str,
    name: &str,
    arguments: Vec<Bson>,
    request: &Document,
) -> Result<Bson, ApiError> {
    let service = data_source(state, service)?;
    let call = ServiceCall::parse(name, &arguments).map_err(|e| match e {
        OperationError::UnknownOperation(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "ServiceCommandNotFound",
            e.to_string(),
        ),
        other => ApiError::invalid_parameter(other.to_string()),
    })?;
    let rule_functions = state.functions.for_rules(user);
    let collection = state
        .app
        .service_collection(
            &state.store,
            user,
            service,
            &call.database,
            &call.collection,
        )
        .map_err(|e| ApiError::from(GuardError::NoRule(e)))?
        .with_functions(&rule_functions)
        .with_request(request);
    Ok(collection.perform(&call.operation).await?.to_bson())
}
