//! The one place the HTTP layer turns a provider's login request into a library call: the
//! provider NAME in the URL is looked up among the app's configured providers (App Services'
//! URL segment is the provider's configured `name`, which need not equal its type), the
//! credentials the client sent become a [`Credential`] of that provider's type, and the library
//! logs in (or links the identity to the logged-in user for `?link=true`).

use bson::Document;

use super::error::ApiError;
use super::state::{ServerState, ServerStore};
use crate::app::AuthProviderConfig;
use crate::auth::{AuthError, Credential, Session};

/// The enabled provider configured under `name` (`auth/providers.json`'s `"name"`). An unknown
/// and a disabled provider are both refused with `AuthProviderNotFound`.
pub fn provider_named<'a, S: ServerStore>(
    state: &'a ServerState<S>,
    name: &str,
) -> Result<&'a AuthProviderConfig, ApiError> {
    let provider = state
        .app
        .auth_providers
        .get(name)
        .ok_or_else(|| AuthError::ProviderNotFound(name.to_owned()))?;
    if provider.disabled {
        return Err(AuthError::ProviderDisabled(name.to_owned()).into());
    }
    Ok(provider)
}

/// The enabled provider configured under `name`, which must be of type `provider_type` (the
/// email/password routes name their provider in the URL too).
pub fn provider_of_type<'a, S: ServerStore>(
    state: &'a ServerState<S>,
    name: &str,
    provider_type: &str,
) -> Result<&'a AuthProviderConfig, ApiError> {
    let provider = provider_named(state, name)?;
    if provider.provider_type != provider_type {
        return Err(AuthError::ProviderNotFound(name.to_owned()).into());
    }
    Ok(provider)
}

/// Logs in through the provider configured under `provider` with `credentials` (the login
/// body without `options`), on the client's device `device_id` when it sent one. `linking` is
/// the access token of the logged-in user when the client asked to link the identity
/// (`?link=true`).
pub async fn login<S: ServerStore>(
    state: &ServerState<S>,
    provider: &str,
    credentials: Document,
    device_id: Option<&str>,
    linking: Option<&str>,
) -> Result<Session, ApiError> {
    let provider_type = provider_named(state, provider)?.provider_type.clone();
    let credential = Credential::from_body(&provider_type, &credentials)?;
    Ok(match linking {
        Some(access_token) => state.auth.link(access_token, credential).await?,
        None => state.auth.login_with(credential, device_id).await?,
    })
}
