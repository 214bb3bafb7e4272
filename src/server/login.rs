//! The one place the HTTP layer turns a provider's login request into a library call: the
//! credentials the client sent become a [`Credential`], and the library logs in (or links the
//! identity to the logged-in user for `?link=true`).

use bson::Document;

use super::error::ApiError;
use super::state::{ServerState, ServerStore};
use crate::auth::{Credential, Session};

/// Logs in through `provider` with `credentials` (the login body without `options`), on the
/// client's device `device_id` when it sent one. `linking` is the access token of the
/// logged-in user when the client asked to link the identity (`?link=true`).
pub async fn login<S: ServerStore>(
    state: &ServerState<S>,
    provider: &str,
    credentials: Document,
    device_id: Option<&str>,
    linking: Option<&str>,
) -> Result<Session, ApiError> {
    let credential = Credential::from_body(provider, &credentials)?;
    Ok(match linking {
        Some(access_token) => state.auth.link(access_token, credential).await?,
        None => state.auth.login_with(credential, device_id).await?,
    })
}
