//! `POST app/{id}/functions/call`: an app function, or an operation of the MongoDB service
//! (`service` set), called as the access token's user.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::header;
use axum::http::request::Parts;
use bson::{doc, Bson, Document};

use super::body::{string_field, Ejson, EjsonBody};
use super::caller::Caller;
use super::client_auth::check_app;
use super::error::ApiError;
use super::metrics::Decision;
use super::service;
use super::state::{ServerState, ServerStore};
use crate::functions::FunctionError;
use crate::store::Store;

/// The request as functions see it (`%%request`, `context.request`): headers (without
/// `Authorization` and `Cookie`), method, address, user agent, referrer, query string.
#[derive(Debug, Clone)]
pub struct RequestMeta(pub Document);

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut headers = Document::new();
        for name in parts.headers.keys() {
            if name == header::AUTHORIZATION || name == header::COOKIE {
                continue;
            }
            let values: Vec<Bson> = parts
                .headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok().map(|s| Bson::String(s.to_owned())))
                .collect();
            headers.insert(crate::header_name::canonical(name.as_str()), values);
        }
        let text = |name: header::HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_default();
        Ok(RequestMeta(doc! {
            "remoteIPAddress": address,
            "requestHeaders": headers,
            "httpMethod": parts.method.as_str(),
            "httpUserAgent": text(header::USER_AGENT),
            "httpReferrer": text(header::REFERER),
            "rawQueryString": parts.uri.query().unwrap_or_default(),
        }))
    }
}

/// What a `functions/call` body asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRequest {
    /// The function or the operation.
    pub name: String,
    /// Its arguments.
    pub arguments: Vec<Bson>,
    /// The service, for a MongoDB operation.
    pub service: Option<String>,
}

impl CallRequest {
    /// Reads `{name, arguments, service?}`.
    pub fn parse(body: &Document) -> Result<CallRequest, ApiError> {
        let name = string_field(body, "name")?;
        let arguments = match body.get("arguments") {
            Some(Bson::Array(items)) => items.clone(),
            None | Some(Bson::Null) => Vec::new(),
            Some(_) => {
                return Err(ApiError::invalid_parameter(
                    "\"arguments\" must be an array",
                ))
            }
        };
        let service = match body.get("service") {
            Some(Bson::String(s)) => Some(s.clone()),
            None | Some(Bson::Null) => None,
            Some(_) => return Err(ApiError::invalid_parameter("\"service\" must be a string")),
        };
        Ok(CallRequest {
            name,
            arguments,
            service,
        })
    }
}

/// Counts a client call's rule decision.
fn record<S: Store + Clone>(state: &ServerState<S>, result: &Result<Bson, ApiError>) {
    let decision = match result {
        Ok(_) => Decision::Allowed,
        Err(e)
            if matches!(
                e.error_code,
                "NotPermitted" | "NoMatchingRuleFound" | "NotCallable"
            ) =>
        {
            Decision::Denied
        }
        Err(_) => return,
    };
    state.metrics.decision(decision);
}

/// Runs a parsed call as `user`.
pub async fn perform<S: ServerStore>(
    state: &ServerState<S>,
    user: &crate::User,
    call: CallRequest,
    request: Document,
) -> Result<Bson, ApiError> {
    let result = match &call.service {
        Some(service) => {
            service::call(state, user, service, &call.name, call.arguments, &request).await
        }
        None => state
            .functions
            .call(user, &call.name, call.arguments, Some(request))
            .await
            .map_err(|e: FunctionError| ApiError::from(e)),
    };
    record(state, &result);
    result
}

/// `POST app/{id}/functions/call`.
pub async fn call<S: ServerStore>(
    State(state): State<Arc<ServerState<S>>>,
    Path(app): Path<String>,
    Caller(user): Caller,
    RequestMeta(request): RequestMeta,
    EjsonBody(body): EjsonBody,
) -> Result<Ejson, ApiError> {
    check_app(&state, &app)?;
    let call = CallRequest::parse(&body)?;
    perform(&state, &user, call, request).await.map(Ejson::ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_bodies_are_read_strictly() {
        let ok = CallRequest::parse(&doc! {"name": "f", "arguments": [1, "a"]}).unwrap();
        assert_eq!(ok.arguments.len(), 2);
        assert_eq!(ok.service, None);
        for bad in [
            doc! {},
            doc! {"name": 3},
            doc! {"name": "f", "arguments": "x"},
            doc! {"name": "f", "service": 1},
        ] {
            assert_eq!(
                CallRequest::parse(&bad).unwrap_err().status.as_u16(),
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn header_names_are_capitalised() {
        assert_eq!(
            crate::header_name::canonical("content-type"),
            "Content-Type"
        );
        assert_eq!(crate::header_name::canonical("x-a--b"), "X-A--B");
    }
}
