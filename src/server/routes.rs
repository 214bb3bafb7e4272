//! The routes: the client API under `/api/client/v2.0`, `/health`, `/metrics`; CORS from
//! `allowed_request_origins`; the body size limit; anything else is a 404 in App Services'
//! error shape.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::body::json_response;
use super::error::ApiError;
use super::observe::{label_route, observe};
use super::state::{ServerState, ServerStore};
use super::{api_keys, client_auth, endpoints, functions_call, userpass};

/// The client API's root.
pub const CLIENT_ROOT: &str = "/api/client/v2.0";

/// The server's router over `state`.
pub fn router<S: ServerStore>(state: Arc<ServerState<S>>) -> Router {
    let app = |path: &str| format!("{CLIENT_ROOT}/app/{{app}}{path}");
    let user = |path: &str| format!("{CLIENT_ROOT}/auth{path}");
    Router::new()
        .route(&app("/location"), get(client_auth::location::<S>))
        .route(
            &app("/auth/providers/{provider}/login"),
            post(client_auth::login::<S>),
        )
        .route(
            &app("/functions/call"),
            post(functions_call::call::<S>).get(super::watch::watch::<S>),
        )
        .route(&user("/profile"), get(client_auth::profile::<S>))
        .route(
            &user("/session"),
            post(client_auth::refresh::<S>).delete(client_auth::logout::<S>),
        )
        .route(&user("/delete"), delete(client_auth::delete_user::<S>))
        .route(&app("/endpoint/{*route}"), any(endpoints::endpoint::<S>))
        .route(
            "/app/{app}/endpoint/{*route}",
            any(endpoints::endpoint::<S>),
        )
        .route(
            &app("/service/{service}/incoming_webhook/{name}"),
            any(endpoints::webhook::<S>),
        )
        .merge(userpass::routes::<S>(&app("")))
        .merge(api_keys::routes::<S>(&user("")))
        .route("/health", get(health))
        .route("/metrics", get(metrics::<S>))
        .route_layer(from_fn(label_route))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(cors(&state.settings.allowed_origins))
        .layer(from_fn_with_state(state.clone(), observe::<S>))
        .with_state(state)
}

/// CORS: the configured origins, or any origin when none is configured (App Services' default).
fn cors(origins: &[String]) -> CorsLayer {
    let allow = if origins.is_empty() {
        AllowOrigin::mirror_request()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        )
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::HeaderName::from_static("x-requested-with"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

async fn health() -> Response {
    json_response(axum::http::StatusCode::OK, r#"{"status":"ok"}"#.into())
}

async fn metrics<S: ServerStore>(State(state): State<Arc<ServerState<S>>>) -> Response {
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

async fn not_found(request: Request) -> ApiError {
    ApiError::no_route(request.method().as_str(), request.uri().path())
}
