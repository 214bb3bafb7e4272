//! User API keys, the client API's `auth/api_keys` routes: create (`POST {name}`: the secret
//! `key` is in this response only), list, fetch, delete, enable and disable. As in App
//! Services they are authenticated with the user's REFRESH token; each parses, calls the
//! library ([`crate::auth::Auth::create_user_api_key`] and its neighbours) and encodes
//! `{_id, name, disabled}`.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use bson::Bson;

use super::body::{string_field, Ejson, EjsonBody};
use super::caller::{bearer, note_user};
use super::error::ApiError;
use super::state::{ServerState, ServerStore};

type St<S> = State<Arc<ServerState<S>>>;

/// The routes, under `prefix` (the client API's `auth`), for the router to merge.
pub fn routes<S: ServerStore>(prefix: &str) -> Router<Arc<ServerState<S>>> {
    let keys = format!("{prefix}/api_keys");
    Router::new()
        .route(&keys, get(list::<S>).post(create::<S>))
        .route(
            &format!("{keys}/{{key}}"),
            get(fetch::<S>).delete(remove::<S>),
        )
        .route(&format!("{keys}/{{key}}/enable"), put(enable::<S>))
        .route(&format!("{keys}/{{key}}/disable"), put(disable::<S>))
}

/// The user of a request's refresh token, whose session is live (the keys' owner).
#[derive(Debug, Clone)]
pub struct KeyOwner(pub String);

impl<S: ServerStore> FromRequestParts<Arc<ServerState<S>>> for KeyOwner {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ServerState<S>>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers)?;
        let user = state.auth.user_of_refresh_token(token).await?;
        note_user(parts, &user.id);
        Ok(KeyOwner(user.id))
    }
}

/// `POST auth/api_keys` `{name}`: 201 `{_id, key, name, disabled}`.
pub async fn create<S: ServerStore>(
    State(state): St<S>,
    KeyOwner(owner): KeyOwner,
    EjsonBody(body): EjsonBody,
) -> Result<Ejson, ApiError> {
    let name = string_field(&body, "name")?;
    let key = state.auth.create_user_api_key(&owner, &name).await?;
    Ok(Ejson(
        StatusCode::CREATED,
        Bson::Document(key.to_document()),
    ))
}

/// `GET auth/api_keys`: the caller's keys, without their secrets.
pub async fn list<S: ServerStore>(
    State(state): St<S>,
    KeyOwner(owner): KeyOwner,
) -> Result<Ejson, ApiError> {
    let keys: Vec<Bson> = state
        .auth
        .user_api_keys(&owner)
        .await?
        .iter()
        .map(|k| Bson::Document(k.to_document()))
        .collect();
    Ok(Ejson::ok(keys))
}

/// `GET auth/api_keys/{id}`: one of the caller's keys (`APIKeyNotFound` for another's).
pub async fn fetch<S: ServerStore>(
    State(state): St<S>,
    KeyOwner(owner): KeyOwner,
    Path(key): Path<String>,
) -> Result<Ejson, ApiError> {
    let key = state.auth.api_key(Some(&owner), &key).await?;
    Ok(Ejson::ok(key.to_document()))
}

/// `DELETE auth/api_keys/{id}`: 204.
pub async fn remove<S: ServerStore>(
    State(state): St<S>,
    KeyOwner(owner): KeyOwner,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    state.auth.delete_api_key(Some(&owner), &key).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT auth/api_keys/{id}/enable`: 204.
pub async fn enable<S: ServerStore>(
    state: St<S>,
    owner: KeyOwner,
    key: Path<String>,
) -> Result<Response, ApiError> {
    set_disabled(state, owner, key, false).await
}

/// `PUT auth/api_keys/{id}/disable`: 204; the key cannot log in until enabled again.
pub async fn disable<S: ServerStore>(
    state: St<S>,
    owner: KeyOwner,
    key: Path<String>,
) -> Result<Response, ApiError> {
    set_disabled(state, owner, key, true).await
}

async fn set_disabled<S: ServerStore>(
    State(state): St<S>,
    KeyOwner(owner): KeyOwner,
    Path(key): Path<String>,
    disabled: bool,
) -> Result<Response, ApiError> {
    let auth = &state.auth;
    auth.set_api_key_disabled(Some(&owner), &key, disabled)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
