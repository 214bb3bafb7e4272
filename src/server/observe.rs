//! Around every request: a request id, the time limit, the declared body size, App Services-shaped errors for what
//! axum rejects itself, metrics, and one log line (request id, method, route, status, user id,
//! error code, latency — never tokens, passwords, bodies or document values).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::caller::LoggedUser;
use super::error::{ApiError, ErrorCode};
use super::state::{ServerState, ServerStore};

/// The route template that served a request (`/api/client/v2.0/app/{app}/functions/call`).
#[derive(Debug, Clone)]
pub struct RouteLabel(pub String);

/// Inner layer (after routing): notes the matched route template on the response.
pub async fn label_route(matched: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let label = matched.map(|m| m.as_str().to_owned());
    let mut response = next.run(request).await;
    if let Some(label) = label {
        response.extensions_mut().insert(RouteLabel(label));
    }
    response
}

/// Whether a request is a long-lived stream (watch), which the time limit does not bound.
fn is_stream(request: &Request) -> bool {
    request
        .uri()
        .query()
        .is_some_and(|q| q.contains("baas_request="))
}

/// Outer layer: request id, time limit, error shape, metrics, log line.
pub async fn observe<S: ServerStore>(
    State(state): State<Arc<ServerState<S>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = bson::oid::ObjectId::new().to_hex();
    let method = request.method().as_str().to_owned();
    let logged = LoggedUser::default();
    request.extensions_mut().insert(logged.clone());
    state.metrics.started();
    let limit = state.settings.request_timeout;
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let max = state.settings.max_body_bytes;
    let mut response = if declared.is_some_and(|n| n > max as u64) {
        // refused before reading a byte of it
        ApiError::too_large(max).into_response()
    } else if is_stream(&request) {
        next.run(request).await
    } else {
        match tokio::time::timeout(limit, next.run(request)).await {
            Ok(response) => response,
            Err(_) => ApiError::timeout(limit.as_secs_f64()).into_response(),
        }
    };
    if response.status().as_u16() >= 400 && response.extensions().get::<ErrorCode>().is_none() {
        let route = response.extensions().get::<RouteLabel>().cloned();
        response = ApiError::for_status(response.status()).into_response();
        if let Some(route) = route {
            response.extensions_mut().insert(route);
        }
    }
    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| "unmatched".into());
    let status = response.status().as_u16();
    let latency = started.elapsed();
    state.metrics.finished(&route, &method, status, latency);
    let error_code = response
        .extensions()
        .get::<ErrorCode>()
        .map(|c| c.0)
        .unwrap_or("");
    let user_id = logged.get().unwrap_or_default();
    tracing::info!(
        target: "expanse::http",
        request_id = %request_id,
        method = %method,
        route = %route,
        status,
        user_id = %user_id,
        error_code,
        latency_us = latency.as_micros() as u64,
        "request"
    );
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
