//! The email/password provider's client routes under
//! `app/{id}/auth/providers/{provider}/…`: `register`, `confirm`, `confirm/send`,
//! `confirm/call`, `reset/send`, `reset` and `reset/call`. Each parses its body, calls the
//! library ([`crate::auth::Auth::register`] and its neighbours) and answers 2xx with no body
//! (`realm-web` checks the status only) or App Services' error.
//!
//! These routes are unauthenticated: `realm-web` sends the logged-in user's access token with
//! them, and it is ignored.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bson::{Bson, Document};

use super::body::{string_field, EjsonBody};
use super::client_auth::check_app;
use super::error::ApiError;
use super::login::provider_of_type;
use super::state::{ServerState, ServerStore};

/// The routes, under `prefix` (the client API's `app/{app}`), for the router to merge.
pub fn routes<S: ServerStore>(prefix: &str) -> Router<Arc<ServerState<S>>> {
    let at = |path: &str| format!("{prefix}/auth/providers/{{provider}}{path}");
    Router::new()
        .route(&at("/register"), post(register::<S>))
        .route(&at("/confirm"), post(confirm::<S>))
        .route(&at("/confirm/send"), post(resend_confirmation::<S>))
        .route(&at("/confirm/call"), post(retry_confirmation::<S>))
        .route(&at("/reset/send"), post(send_reset::<S>))
        .route(&at("/reset"), post(reset::<S>))
        .route(&at("/reset/call"), post(call_reset_function::<S>))
}

/// A request to one of these routes: the app id is this app's, the provider an enabled
/// `local-userpass` one, and the body one Extended JSON document.
pub struct UserpassRequest<S: ServerStore> {
    state: Arc<ServerState<S>>,
    body: Document,
}

impl<S: ServerStore> FromRequest<Arc<ServerState<S>>> for UserpassRequest<S> {
    type Rejection = ApiError;

    async fn from_request(
        request: Request,
        state: &Arc<ServerState<S>>,
    ) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let Path((app, provider)) = Path::<(String, String)>::from_request_parts(&mut parts, state)
            .await
            .map_err(|_| ApiError::bad_request("the app id and provider must be text"))?;
        check_app(state, &app)?;
        provider_of_type(state, &provider, "local-userpass")?;
        let EjsonBody(body) =
            EjsonBody::from_request(Request::from_parts(parts, body), state).await?;
        Ok(UserpassRequest {
            state: state.clone(),
            body,
        })
    }
}

impl<S: ServerStore> UserpassRequest<S> {
    /// The body's string field `name` (`MissingParameter` or `InvalidParameter` otherwise).
    fn text(&self, name: &str) -> Result<String, ApiError> {
        string_field(&self.body, name)
    }
}

/// The `arguments` of a reset function call: an array (none: no arguments).
fn arguments(body: &Document) -> Result<Vec<Bson>, ApiError> {
    match body.get("arguments") {
        None | Some(Bson::Null) => Ok(Vec::new()),
        Some(Bson::Array(items)) => Ok(items.clone()),
        Some(_) => Err(ApiError::invalid_parameter(
            "\"arguments\" must be an array",
        )),
    }
}

/// The answer of a route that succeeded: `realm-web` reads the status only.
fn done(status: StatusCode) -> Result<Response, ApiError> {
    Ok(status.into_response())
}

/// `POST …/register` `{email, password}`: 201; `AccountNameInUse` (409) for a taken email.
pub async fn register<S: ServerStore>(request: UserpassRequest<S>) -> Result<Response, ApiError> {
    let (email, password) = (request.text("email")?, request.text("password")?);
    request.state.auth.register(&email, &password).await?;
    done(StatusCode::CREATED)
}

/// `POST …/confirm` `{token, tokenId}`: 204; `UserpassTokenInvalid` for a token that is
/// unknown, used or expired.
pub async fn confirm<S: ServerStore>(request: UserpassRequest<S>) -> Result<Response, ApiError> {
    let (token, token_id) = (request.text("token")?, request.text("tokenId")?);
    request.state.auth.confirm(&token, &token_id).await?;
    done(StatusCode::NO_CONTENT)
}

/// `POST …/confirm/send` `{email}`: sends the confirmation email again (email mode only).
pub async fn resend_confirmation<S: ServerStore>(
    request: UserpassRequest<S>,
) -> Result<Response, ApiError> {
    let email = request.text("email")?;
    request.state.auth.resend_confirmation(&email).await?;
    done(StatusCode::NO_CONTENT)
}

/// `POST …/confirm/call` `{email}`: runs the confirmation flow again.
pub async fn retry_confirmation<S: ServerStore>(
    request: UserpassRequest<S>,
) -> Result<Response, ApiError> {
    let email = request.text("email")?;
    request.state.auth.retry_confirmation(&email).await?;
    done(StatusCode::NO_CONTENT)
}

/// `POST …/reset/send` `{email}`: sends a password reset email (refused when a reset function
/// is configured).
pub async fn send_reset<S: ServerStore>(request: UserpassRequest<S>) -> Result<Response, ApiError> {
    let email = request.text("email")?;
    request.state.auth.send_password_reset(&email).await?;
    done(StatusCode::NO_CONTENT)
}

/// `POST …/reset` `{token, tokenId, password}`: sets the password (the user's sessions end).
pub async fn reset<S: ServerStore>(request: UserpassRequest<S>) -> Result<Response, ApiError> {
    let token = request.text("token")?;
    let token_id = request.text("tokenId")?;
    let password = request.text("password")?;
    let auth = &request.state.auth;
    auth.reset_password(&token, &token_id, &password).await?;
    done(StatusCode::NO_CONTENT)
}

/// `POST …/reset/call` `{email, password, arguments}`: calls the reset function; its
/// `success` sets the password, `pending` waits for `…/reset`, `fail` is a 400.
pub async fn call_reset_function<S: ServerStore>(
    request: UserpassRequest<S>,
) -> Result<Response, ApiError> {
    let (email, password) = (request.text("email")?, request.text("password")?);
    let arguments = arguments(&request.body)?;
    let auth = &request.state.auth;
    auth.call_reset_function(&email, &password, arguments)
        .await?;
    done(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn reset_function_arguments_must_be_an_array() {
        assert_eq!(arguments(&doc! {}).ok(), Some(vec![]));
        assert_eq!(arguments(&doc! {"arguments": null}).ok(), Some(vec![]));
        assert_eq!(
            arguments(&doc! {"arguments": ["a", 1]}).ok(),
            Some(vec![Bson::String("a".into()), Bson::Int32(1)])
        );
        for bad in [doc! {"arguments": "a"}, doc! {"arguments": {"0": "a"}}] {
            assert_eq!(
                arguments(&bad).err().map(|e| e.error_code),
                Some("InvalidParameter")
            );
        }
    }
}
