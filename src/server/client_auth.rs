//! The client API's app and user routes: `location`, provider logins, `auth/profile`,
//! `auth/session` (refresh, logout) and `auth/delete`. Each parses, calls the library and
//! encodes.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bson::{doc, Bson};
use serde::Deserialize;

use super::body::{Ejson, EjsonBody};
use super::caller::{bearer, BearerToken, Caller, LoggedUser};
use super::error::ApiError;
use super::login;
use super::state::{ServerState, ServerStore};
use crate::auth::{AuthError, TokenError};
use crate::store::Store;

type St<S> = State<Arc<ServerState<S>>>;

/// Refuses another app's id.
pub fn check_app<S: Store + Clone>(state: &ServerState<S>, app: &str) -> Result<(), ApiError> {
    if app == state.settings.app_id {
        Ok(())
    } else {
        Err(ApiError::app_not_found(app))
    }
}

/// A `Host` header safe to echo in a URL (host, port, IPv6 brackets), or none.
fn safe_host(headers: &HeaderMap) -> Option<&str> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let ok = !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    ok.then_some(host)
}

/// `GET app/{id}/location`: where the client sends its requests (`hostname`).
pub async fn location<S: ServerStore>(
    State(state): St<S>,
    Path(app): Path<String>,
    headers: HeaderMap,
) -> Result<Ejson, ApiError> {
    check_app(&state, &app)?;
    let hostname = match &state.settings.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!(
            "{}://{}",
            if state.settings.tls { "https" } else { "http" },
            safe_host(&headers).unwrap_or("localhost")
        ),
    };
    let ws_hostname = match hostname.strip_prefix("http") {
        Some(rest) => format!("ws{rest}"),
        None => hostname.clone(),
    };
    Ok(Ejson::ok(doc! {
        "deployment_model": state.settings.deployment_model.clone(),
        "location": state.settings.location.clone(),
        "hostname": hostname,
        "ws_hostname": ws_hostname,
    }))
}

/// `?link=true`.
#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    link: Option<String>,
}

/// `POST app/{id}/auth/providers/{provider}/login[?link=true]`.
pub async fn login<S: ServerStore>(
    State(state): St<S>,
    Path((app, provider)): Path<(String, String)>,
    Query(query): Query<LinkQuery>,
    logged: Option<Extension<LoggedUser>>,
    headers: HeaderMap,
    EjsonBody(mut body): EjsonBody,
) -> Result<Ejson, ApiError> {
    check_app(&state, &app)?;
    let device_id = body
        .get_document("options")
        .ok()
        .and_then(|o| o.get_document("device").ok())
        .and_then(|d| d.get_str("deviceId").ok())
        .map(str::to_owned);
    body.remove("options");
    let linking = match query.link.as_deref() {
        Some("true") => Some(bearer(&headers)?),
        _ => None,
    };
    let session = login::login(&state, &provider, body, device_id.as_deref(), linking).await?;
    let tokens = session.tokens;
    if let Some(Extension(logged)) = logged {
        logged.set(&tokens.user_id);
    }
    Ok(Ejson::ok(doc! {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "user_id": tokens.user_id,
        "device_id": tokens.device_id,
    }))
}

/// `GET auth/profile`: `{user_id, type, identities, data}` of the access token's user.
pub async fn profile<S: ServerStore>(Caller(user): Caller) -> Ejson {
    let identities: Vec<Bson> = user
        .identities
        .iter()
        .cloned()
        .map(Bson::Document)
        .collect();
    Ejson::ok(doc! {
        "user_id": user.id.clone(),
        "type": user.user_type.as_str(),
        "identities": identities,
        "data": user.data.clone(),
    })
}

/// A refresh token refused: the client forgets its tokens.
fn refresh_refused(e: AuthError) -> ApiError {
    match e {
        // realm-web ignores this message on logout (the session is already gone).
        AuthError::Token(TokenError::Revoked) => {
            ApiError::invalid_session("failed to find refresh token")
        }
        other => other.into(),
    }
}

/// `POST auth/session` with the refresh token: a new access token (custom data read again).
pub async fn refresh<S: ServerStore>(
    State(state): St<S>,
    BearerToken(token): BearerToken,
) -> Result<Ejson, ApiError> {
    let access = state.auth.refresh(&token).await.map_err(refresh_refused)?;
    Ok(Ejson(
        StatusCode::CREATED,
        Bson::Document(doc! {"access_token": access}),
    ))
}

/// `DELETE auth/session` with the refresh token: ends the session.
pub async fn logout<S: ServerStore>(
    State(state): St<S>,
    BearerToken(token): BearerToken,
) -> Result<Response, ApiError> {
    state.auth.logout(&token).await.map_err(refresh_refused)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE auth/delete` with the access token: deletes the user (their sessions end).
pub async fn delete_user<S: ServerStore>(
    State(state): St<S>,
    Caller(user): Caller,
) -> Result<Response, ApiError> {
    state.auth.delete_user(&user).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
