//! The one place the HTTP layer turns a provider's login request into a library call.
//!
//! Today the library logs in a [`User`] it is given (`Auth::login`); users, identities and
//! providers (issue #14) will make every provider a library call taking the provider name and
//! its credentials, and this module shrinks to that call. Until then only `anon-user` is
//! served: each anonymous login is a new user with one `anon-user` identity, as App Services
//! does for a client without a stored anonymous user.

use bson::{doc, oid::ObjectId, Document};

use super::error::ApiError;
use super::state::{ServerState, ServerStore};
use crate::auth::Session;
use crate::User;

use axum::http::StatusCode;

/// Logs in through `provider` with `credentials` (the login body without `options`).
/// `linking` is the logged-in user when the client asked to link the identity (`?link=true`).
pub async fn login<S: ServerStore>(
    state: &ServerState<S>,
    provider: &str,
    credentials: Document,
    linking: Option<&User>,
) -> Result<Session, ApiError> {
    let _ = credentials;
    if linking.is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "AuthProviderNotFound",
            "linking identities needs stored users, which this server does not have yet",
        ));
    }
    match provider {
        "anon-user" => {
            let id = ObjectId::new().to_hex();
            let identity = doc! {"id": ObjectId::new().to_hex(), "provider_type": "anon-user"};
            let user = User::new(id).with_identities(vec![identity]);
            Ok(state.auth.create_user(user).await?)
        }
        other => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "AuthProviderNotFound",
            format!("authentication provider {other:?} is not enabled on this server"),
        )),
    }
}
