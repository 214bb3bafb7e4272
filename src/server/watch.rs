//! `GET app/{id}/functions/call?baas_request=…`: `watch` as server-sent events over a change
//! stream, each event filtered by the caller's read rules.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::caller::Caller;
use super::client_auth::check_app;
use super::error::ApiError;
use super::state::ServerState;
use crate::store::Store;

/// The watch route.
pub async fn watch<S: Store + Clone + 'static>(
    State(state): State<Arc<ServerState<S>>>,
    Path(app): Path<String>,
    Caller(_user): Caller,
) -> Result<(), ApiError> {
    check_app(&state, &app)?;
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        "ServiceCommandNotFound",
        "watch is not served yet",
    ))
}
