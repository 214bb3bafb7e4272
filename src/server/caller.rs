//! Who is calling: the `Authorization: Bearer …` header, and the user an access token stands
//! for (verified by the library). The user id is noted for the request log.

use std::sync::{Arc, Mutex};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use super::error::ApiError;
use super::state::{ServerState, ServerStore};
use crate::User;

/// The user id of a request, filled in once known (for the request log).
#[derive(Debug, Clone, Default)]
pub struct LoggedUser(pub Arc<Mutex<Option<String>>>);

impl LoggedUser {
    /// Notes the user id.
    pub fn set(&self, id: &str) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(id.to_owned());
        }
    }

    /// The user id, if one was noted.
    pub fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|u| u.clone())
    }
}

/// Notes the user id of the request for the log.
pub fn note_user(parts: &Parts, id: &str) {
    if let Some(logged) = parts.extensions.get::<LoggedUser>() {
        logged.set(id);
    }
}

/// The bearer token of a request.
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(ApiError::missing_auth)?;
    let text = value
        .to_str()
        .map_err(|_| ApiError::invalid_session("the Authorization header is not text"))?;
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::invalid_session("the Authorization header must be \"Bearer <token>\"")
        })?;
    Ok(token)
}

/// A request made with a valid access token: the user as rules see them.
#[derive(Debug, Clone)]
pub struct Caller(pub User);

impl<S: ServerStore> FromRequestParts<Arc<ServerState<S>>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ServerState<S>>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers)?;
        let user = state.auth.verify(token).await?;
        note_user(parts, &user.id);
        Ok(Caller(user))
    }
}

/// A request carrying a token (a refresh token for the session routes), not yet verified.
#[derive(Debug, Clone)]
pub struct BearerToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        bearer(&parts.headers).map(|t| BearerToken(t.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_tokens_are_read_and_bad_headers_refused() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers).unwrap_err().error_code, "MissingAuthReq");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&headers).unwrap(), "abc");
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers).unwrap_err().error_code, "InvalidSession");
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&headers).unwrap_err().error_code, "InvalidSession");
    }
}
