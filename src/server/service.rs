//! `functions/call` with a `service`: a MongoDB operation in the client's argument shape
//! (`{database, collection, query, project, sort, …}`), run through the guarded collection of
//! the caller exactly as a user-context function's would be.
//!
//! The operations themselves (their argument shapes, `realm-web`'s `project` key, its
//! `findOneAndDelete` sent as `findOneAndReplace` without `update`) belong to the library's
//! single operation dispatcher (issue #17); this module only finds the data source and hands
//! the call over.

use axum::http::StatusCode;
use bson::Bson;

use super::error::ApiError;
use super::state::{ServerState, ServerStore};
use crate::store::Store;
use crate::User;

/// The data source a client's service name means: the app's data source of that name, or the
/// default one for `mongo-db` (`realm-web`'s `mongoClient()` with no name).
pub fn data_source<'a, S: Store>(
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

/// Runs operation `name` of `service` with the client's `arguments` as `user`.
pub async fn call<S: ServerStore>(
    state: &ServerState<S>,
    user: &User,
    service: &str,
    name: &str,
    arguments: Vec<Bson>,
) -> Result<Bson, ApiError> {
    let _service = data_source(state, service)?;
    let _ = (user, arguments);
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        "ServiceCommandNotFound",
        format!("{name}: MongoDB service operations are not served yet (they wait for the operation dispatcher)"),
    ))
}
