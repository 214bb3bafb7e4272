//! Errors as App Services sends them: `{error, error_code, link}` with its codes and HTTP
//! statuses (reference §10), and the mapping from the library's errors to them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::auth::{AuthError, TokenError};
use crate::functions::FunctionError;
use crate::guard::GuardError;
use crate::store::StoreError;

/// An error answered to a client. The message is for the client: it never holds a token, a
/// password or a document value the caller may not read (the library's errors already keep
/// those out).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error_code} ({status}): {message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The App Services error code (`InvalidSession`, `FunctionNotFound`, …).
    pub error_code: &'static str,
    /// The message.
    pub message: String,
}

/// The error code of a response, kept in its extensions for the request log and the metrics.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, error_code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error_code,
            message: message.into(),
        }
    }

    /// 400 `BadRequest`: the request cannot be read.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 400 `InvalidParameter`: a parameter has the wrong type or value.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "InvalidParameter", message)
    }

    /// 400 `MissingParameter`.
    pub fn missing_parameter(name: &str) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            format!("expected a parameter {name:?}"),
        )
    }

    /// 401 `InvalidSession`: the client refreshes its access token and retries once.
    pub fn invalid_session(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidSession",
            format!("invalid session: {}", message.into()),
        )
    }

    /// 401 `MissingAuthReq`: no `Authorization: Bearer …` header.
    pub fn missing_auth() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "MissingAuthReq",
            "must authenticate first: expected an Authorization: Bearer header",
        )
    }

    /// 404 for a route that does not exist.
    pub fn no_route(method: &str, path: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no route for {method} {path}"),
        )
    }

    /// 404 for another app's id.
    pub fn app_not_found(id: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "InvalidParameter",
            format!("cannot find app using Client App ID {id:?}"),
        )
    }

    /// 413: the body is larger than the limit.
    pub fn too_large(limit: usize) -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BadRequest",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    /// 504: the request took longer than the server's time limit.
    pub fn timeout(seconds: f64) -> Self {
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "ExecutionTimeLimitExceeded",
            format!("the request took longer than the limit of {seconds} s"),
        )
    }

    /// 503: the database cannot be reached.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "InternalServerError",
            message,
        )
    }

    /// An error for a status produced outside the handlers (axum's own rejections), in the
    /// App Services shape.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("NotFound", "no such route"),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("NotFound", "this route does not take this HTTP method")
            }
            StatusCode::PAYLOAD_TOO_LARGE => ("BadRequest", "the request body is too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ("BadRequest", "unsupported content type"),
            s if s.is_client_error() => ("BadRequest", "the request cannot be read"),
            _ => ("InternalServerError", "internal server error"),
        };
        ApiError::new(status, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.message,
            "error_code": self.error_code,
            "link": "",
        });
        let mut response = (self.status, body.to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response.extensions_mut().insert(ErrorCode(self.error_code));
        response
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        ApiError::invalid_session(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => ApiError::unavailable(e.to_string()),
            other => ApiError::new(StatusCode::BAD_REQUEST, "MongoDBError", other.to_string()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Token(t) => t.into(),
            AuthError::Store(s) => s.into(),
            // A disabled provider behaves as an absent one.
            AuthError::ProviderNotFound(_) | AuthError::ProviderDisabled(_) => {
                ApiError::new(StatusCode::NOT_FOUND, e.code(), e.to_string())
            }
            other => ApiError::new(
                StatusCode::from_u16(other.status()).unwrap_or(StatusCode::BAD_REQUEST),
                other.code(),
                other.to_string(),
            ),
        }
    }
}

impl From<FunctionError> for ApiError {
    fn from(e: FunctionError) -> Self {
        let status = match &e {
            FunctionError::NotFound(_) => StatusCode::NOT_FOUND,
            FunctionError::Private(_) | FunctionError::CannotEvaluate(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<GuardError> for ApiError {
    fn from(e: GuardError) -> Self {
        match e {
            // App Services: 403 for "no rule exists for namespace".
            GuardError::NoRule(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "NoMatchingRuleFound", e.to_string())
            }
            // App Services answered a refused write with 400 "… not permitted"; its code is not
            // documented.
            GuardError::Denied(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "NotPermitted", e.to_string())
            }
            GuardError::Store(s) => s.into(),
            GuardError::Contention(_) => {
                ApiError::new(StatusCode::CONFLICT, "MongoDBError", e.to_string())
            }
            GuardError::Query(_) | GuardError::Update(_) | GuardError::NotAllowed(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "MongoDBError", e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_has_error_error_code_and_link() {
        let response = ApiError::invalid_session("token expired").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE),
            Some(&HeaderValue::from_static("application/json"))
        );
    }

    #[test]
    fn function_errors_keep_their_codes() {
        let e: ApiError = FunctionError::NotFound("f".into()).into();
        assert_eq!(
            (e.status, e.error_code),
            (StatusCode::NOT_FOUND, "FunctionNotFound")
        );
        let e: ApiError = FunctionError::Private("f".into()).into();
        assert_eq!(e.error_code, "NotCallable");
    }

    #[test]
    fn unknown_and_disabled_providers_are_both_not_found() {
        for e in [
            AuthError::ProviderNotFound("p".into()),
            AuthError::ProviderDisabled("p".into()),
        ] {
            let e: ApiError = e.into();
            assert_eq!(
                (e.status, e.error_code),
                (StatusCode::NOT_FOUND, "AuthProviderNotFound")
            );
        }
    }
}
