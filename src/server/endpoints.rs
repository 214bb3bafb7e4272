//! HTTPS endpoints (`https_endpoints/config.json`): `{ANY} /app/{id}/endpoint/{route}` (and
//! under `/api/client/v2.0`, and the legacy webhook URL
//! `…/service/{service}/incoming_webhook/{name}`, which is the endpoint `/{service}/{name}`).
//!
//! A request is validated (the `secret` query parameter, or the `Endpoint-Signature` HMAC of
//! its body), authenticated (system, or the caller's `Authorization: Bearer`, `email` +
//! `password`, `apiKey` or `jwtTokenString` headers), and the function runs through the
//! library's [`crate::functions::Functions::call_endpoint`] with `({query, headers, body},
//! response)`. The answer is what the function set on `response`, else (with
//! `respond_result`) its return value in Extended JSON or JSON, else 204.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bson::{spec::BinarySubtype, Binary, Bson, Document};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::caller::{bearer, LoggedUser};
use super::client_auth::check_app;
use super::error::ApiError;
use super::functions_call::RequestMeta;
use super::state::{ServerState, ServerStore};
use crate::app::{EndpointConfig, ReturnType, Validation};
use crate::auth::Credential;
use crate::functions::{EndpointCaller, EndpointOutcome};
use crate::header_name::canonical as canonical_header;

/// Request headers that carry credentials: never handed to the function.
const CREDENTIAL_HEADERS: [&str; 5] = [
    "authorization",
    "cookie",
    "password",
    "apikey",
    "jwttokenstring",
];

/// Response headers a function may not set (the server frames the message).
const FRAMING_HEADERS: [HeaderName; 4] = [
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::CONNECTION,
    header::UPGRADE,
];

/// `{ANY} …/app/{app}/endpoint/{*route}`.
pub async fn endpoint<S: ServerStore>(
    State(state): State<Arc<ServerState<S>>>,
    Path((app, route)): Path<(String, String)>,
    request: EndpointRequest,
) -> Result<Response, ApiError> {
    serve(&state, &app, &format!("/{route}"), request).await
}

/// `{ANY} …/app/{app}/service/{service}/incoming_webhook/{name}`: the endpoint a converted
/// webhook became, `/{service}/{name}`.
pub async fn webhook<S: ServerStore>(
    State(state): State<Arc<ServerState<S>>>,
    Path((app, service, name)): Path<(String, String, String)>,
    request: EndpointRequest,
) -> Result<Response, ApiError> {
    serve(&state, &app, &format!("/{service}/{name}"), request).await
}

/// What an endpoint reads from a request: method, URI, headers, `context.request`, the raw
/// body (within the server's body limit).
pub struct EndpointRequest {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    meta: Document,
    body: Bytes,
    logged: Option<LoggedUser>,
}

impl<S: Send + Sync> FromRequest<S> for EndpointRequest {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let RequestMeta(meta) = RequestMeta::from_request_parts(&mut parts, state).await?;
        let method = parts.method.clone();
        let uri = parts.uri.clone();
        let headers = parts.headers.clone();
        let logged = parts.extensions.get::<LoggedUser>().cloned();
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| ApiError::for_status(e.status()))?;
        Ok(EndpointRequest {
            method,
            uri,
            headers,
            meta,
            body,
            logged,
        })
    }
}

async fn serve<S: ServerStore>(
    state: &ServerState<S>,
    app: &str,
    route: &str,
    mut request: EndpointRequest,
) -> Result<Response, ApiError> {
    check_app(state, app)?;
    let endpoint = find(&state.app.endpoints, route, request.method.as_str())?;
    let query = query_pairs(&request.uri)?;
    validate(endpoint, &query, &request.headers, &request.body)?;
    let caller = authenticate(state, endpoint, &request.headers).await?;
    if let (EndpointCaller::User(user), Some(logged)) = (&caller, &request.logged) {
        logged.set(&user.id);
    }
    // `context.request` does not show the credential headers either.
    if let Ok(headers) = request.meta.get_document_mut("requestHeaders") {
        let credentials: Vec<String> = headers
            .keys()
            .filter(|k| CREDENTIAL_HEADERS.contains(&k.to_ascii_lowercase().as_str()))
            .cloned()
            .collect();
        for name in credentials {
            headers.remove(&name);
        }
    }
    let hide_secret = matches!(endpoint.validation, Validation::SecretAsQueryParam { .. });
    if hide_secret {
        let raw: Vec<String> = request
            .uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty() && *p != "secret" && !p.starts_with("secret="))
            .map(str::to_owned)
            .collect();
        request.meta.insert("rawQueryString", raw.join("&"));
    }
    let argument = function_argument(&query, &request.headers, &request.body, hide_secret);
    let outcome = state
        .functions
        .call_endpoint(caller, endpoint, argument, request.meta)
        .await
        .map_err(ApiError::from)?;
    respond(endpoint, &request.headers, outcome)
}

/// The endpoint of `route` taking `method`: 404 when no enabled endpoint has the route, 405
/// when none of them takes the method.
fn find<'a>(
    endpoints: &'a [EndpointConfig],
    route: &str,
    method: &str,
) -> Result<&'a EndpointConfig, ApiError> {
    let on_route: Vec<&EndpointConfig> = endpoints
        .iter()
        .filter(|e| !e.disabled && e.route == route)
        .collect();
    if on_route.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no endpoint for route {route:?}"),
        ));
    }
    on_route
        .into_iter()
        .find(|e| e.takes(method))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "NotFound",
                format!("the endpoint {route:?} does not take {method} requests"),
            )
        })
}

/// The query string's pairs, decoded, in order.
fn query_pairs(uri: &Uri) -> Result<Vec<(String, String)>, ApiError> {
    Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|_| ApiError::bad_request("the query string cannot be read"))
}

/// 401 `IncomingWebhookAuthFailed`, without saying which part was wrong.
fn validation_failed() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "IncomingWebhookAuthFailed",
        "the request failed the endpoint's validation",
    )
}

/// A Secret's value (`EXPANSE_SECRET_<name>`): none fails every request (fail closed).
fn secret(name: &str) -> Result<String, ApiError> {
    std::env::var(format!("EXPANSE_SECRET_{name}"))
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            tracing::warn!(
                target: "expanse::endpoints",
                "endpoint secret {name:?} is not set (EXPANSE_SECRET_{name}): request refused"
            );
            validation_failed()
        })
}

/// `SECRET_AS_QUERY_PARAM` (constant-time, over digests so the length does not show) and
/// `VERIFY_PAYLOAD` (`Endpoint-Signature`, or the legacy `X-Hook-Signature`).
fn validate(
    endpoint: &EndpointConfig,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    match &endpoint.validation {
        Validation::None => Ok(()),
        Validation::SecretAsQueryParam { secret_name } => {
            let expected = secret(secret_name)?;
            let given = query
                .iter()
                .find(|(k, _)| k == "secret")
                .map(|(_, v)| v.as_str())
                .ok_or_else(validation_failed)?;
            let same = Sha256::digest(given.as_bytes()).ct_eq(&Sha256::digest(expected.as_bytes()));
            if bool::from(same) {
                Ok(())
            } else {
                Err(validation_failed())
            }
        }
        Validation::VerifyPayload { secret_name } => {
            let expected = secret(secret_name)?;
            let signature = headers
                .get("endpoint-signature")
                .or_else(|| headers.get("x-hook-signature"))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().strip_prefix("sha256="))
                .and_then(crate::hex::decode)
                .ok_or_else(validation_failed)?;
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, expected.as_bytes());
            ring::hmac::verify(&key, body, &signature).map_err(|_| validation_failed())
        }
    }
}

/// Whether the endpoint's function runs without the caller's credentials.
fn system_authentication<S: ServerStore>(
    state: &ServerState<S>,
    endpoint: &EndpointConfig,
) -> bool {
    if endpoint.run_as.is_some() {
        return true;
    }
    state
        .app
        .functions
        .get(&endpoint.function_name)
        .is_some_and(|f| {
            f.run_as_system
                || f.run_as_user_id.is_some()
                || f.run_as_user_id_script_source.is_some()
        })
}

/// System authentication, or application authentication: `Authorization: Bearer` first (an
/// invalid token fails the request), then `email` + `password`, `apiKey`, `jwtTokenString`.
async fn authenticate<S: ServerStore>(
    state: &ServerState<S>,
    endpoint: &EndpointConfig,
    headers: &HeaderMap,
) -> Result<EndpointCaller, ApiError> {
    if system_authentication(state, endpoint) {
        return Ok(EndpointCaller::System);
    }
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if headers.contains_key(header::AUTHORIZATION) {
        let token = bearer(headers)?;
        let mut user = state.auth.verify(token).await?;
        if !endpoint.fetch_custom_user_data {
            user = user.with_custom_data(Document::new());
        }
        return Ok(EndpointCaller::User(Box::new(user)));
    }
    let credential = match (
        text("email"),
        text("password"),
        text("apiKey"),
        text("jwtTokenString"),
    ) {
        (Some(email), Some(password), _, _) => Credential::UserPassword {
            username: email.to_owned(),
            password: password.to_owned(),
        },
        (_, _, Some(key), _) => Credential::ApiKey {
            key: key.to_owned(),
        },
        (_, _, _, Some(token)) => Credential::CustomToken {
            token: token.to_owned(),
        },
        _ => return Err(ApiError::missing_auth()),
    };
    let user = state
        .auth
        .authenticate_request(
            credential,
            endpoint.create_user_on_auth,
            endpoint.fetch_custom_user_data,
        )
        .await
        .map_err(|e| {
            // Credentials matching no user (without `create_user_on_auth`) fail authentication.
            let mut refused = ApiError::from(e);
            if refused.status == StatusCode::NOT_FOUND {
                refused.status = StatusCode::UNAUTHORIZED;
            }
            refused
        })?;
    Ok(EndpointCaller::User(Box::new(user)))
}

/// `{query, headers, body}`: the first value of each query key (without `secret` when it
/// validated the request), the headers as arrays of values (credentials left out), the body
/// as a Binary (absent when empty).
fn function_argument(
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
    hide_secret: bool,
) -> Document {
    let mut q = Document::new();
    for (k, v) in query {
        if (hide_secret && k == "secret") || q.contains_key(k) {
            continue;
        }
        q.insert(k.clone(), v.clone());
    }
    let mut h = Document::new();
    let names: BTreeSet<&str> = headers.keys().map(HeaderName::as_str).collect();
    for name in names {
        if CREDENTIAL_HEADERS.contains(&name) {
            continue;
        }
        let values: Vec<Bson> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(|s| Bson::String(s.to_owned())))
            .collect();
        h.insert(canonical_header(name), values);
    }
    let mut argument = Document::new();
    argument.insert("query", q);
    argument.insert("headers", h);
    if !body.is_empty() {
        argument.insert(
            "body",
            Binary {
                subtype: BinarySubtype::Generic,
                bytes: body.to_vec(),
            },
        );
    }
    argument
}

/// The answer: the response the function set; else its result when `respond_result`; else 204.
fn respond(
    endpoint: &EndpointConfig,
    request_headers: &HeaderMap,
    outcome: EndpointOutcome,
) -> Result<Response, ApiError> {
    let EndpointOutcome { result, response } = outcome;
    let bad_header = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "FunctionExecutionError",
            format!(
                "function {:?} set a response header that is not valid HTTP",
                endpoint.function_name
            ),
        )
    };
    let mut builder = Response::builder();
    let body = match response.body {
        Some(bytes) => {
            builder = builder.status(response.status.unwrap_or(200));
            Body::from(bytes)
        }
        None if endpoint.respond_result => {
            builder = builder
                .status(response.status.unwrap_or(200))
                .header(header::CONTENT_TYPE, "application/json");
            Body::from(encode_result(
                result,
                return_type(endpoint, request_headers),
            ))
        }
        None => {
            builder = builder.status(response.status.unwrap_or(204));
            Body::empty()
        }
    };
    let mut out = builder.body(body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "FunctionExecutionError",
            "the function's response cannot be sent",
        )
    })?;
    let mut replaced = std::collections::HashSet::new();
    for (name, value) in response.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad_header())?;
        // The server frames the message itself: these would corrupt it.
        if FRAMING_HEADERS.contains(&name) {
            continue;
        }
        let value = HeaderValue::from_str(&value).map_err(|_| bad_header())?;
        // The function's headers replace the defaults (Content-Type) and add to each other.
        if replaced.insert(name.clone()) {
            out.headers_mut().remove(&name);
        }
        out.headers_mut().append(name, value);
    }
    Ok(out.into_response())
}

/// The endpoint's `return_type`, unless the client asked for `Accept: application/ejson`.
fn return_type(endpoint: &EndpointConfig, headers: &HeaderMap) -> ReturnType {
    match headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
        Some(a) if a.contains("application/ejson") => ReturnType::Ejson,
        _ => endpoint.return_type,
    }
}

/// The function's result as Extended JSON (canonical) or plain JSON.
fn encode_result(result: Bson, kind: ReturnType) -> String {
    match kind {
        ReturnType::Ejson => crate::json::canonical::to_string(&result),
        ReturnType::Json => plain_json(result).to_string(),
    }
}

/// BSON as plain JSON: dates as ISO-8601 text, ObjectIds as hex, 64-bit integers as numbers,
/// decimals as text, binaries as base64; the rare other types in relaxed Extended JSON.
fn plain_json(value: Bson) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Bson::Document(d) => {
            Value::Object(d.into_iter().map(|(k, v)| (k, plain_json(v))).collect())
        }
        Bson::Array(a) => Value::Array(a.into_iter().map(plain_json).collect()),
        Bson::String(s) => Value::String(s),
        Bson::Boolean(b) => Value::Bool(b),
        Bson::Null | Bson::Undefined => Value::Null,
        Bson::Int32(i) => Value::from(i),
        Bson::Int64(i) => Value::from(i),
        Bson::Double(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        Bson::ObjectId(o) => Value::String(o.to_hex()),
        Bson::DateTime(d) => Value::String(
            d.try_to_rfc3339_string()
                .unwrap_or_else(|_| d.timestamp_millis().to_string()),
        ),
        Bson::Decimal128(d) => Value::String(d.to_string()),
        Bson::Binary(b) => {
            use base64::Engine;
            Value::String(base64::engine::general_purpose::STANDARD.encode(&b.bytes))
        }
        other => other.into_relaxed_extjson(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_signatures_are_read_strictly() {
        assert_eq!(crate::hex::decode("0aff"), Some(vec![0x0a, 0xff]));
        assert_eq!(crate::hex::decode("0af"), None);
        assert_eq!(crate::hex::decode("zz"), None);
    }

    #[test]
    fn plain_json_has_no_type_wrappers() {
        let v = plain_json(Bson::Document(bson::doc! {
            "n": 1_i64, "d": bson::DateTime::from_millis(0), "x": 1.5
        }));
        assert_eq!((v["n"].as_i64(), v["x"].as_f64()), (Some(1), Some(1.5)));
        assert!(
            v["d"].as_str().unwrap().starts_with("1970-01-01T00:00:00"),
            "{v}"
        );
    }
}
