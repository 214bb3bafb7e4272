//! `expanse serve`: App Services' client HTTP API — the one `realm-web` and the other Realm
//! SDKs speak — over the library, so an app changes one URL and keeps its client.
//!
//! This layer parses requests, calls the library and encodes answers: rules, authentication
//! and functions live in [`crate::guard`], [`crate::auth`] and [`crate::functions`]. Modules:
//! [`routes`] (the table of routes, CORS, limits), [`observe`] (request id, time limit, metrics,
//! log line), [`body`] (Extended JSON in and out), [`error`] (`{error, error_code, link}`),
//! [`caller`] (bearer tokens), [`client_auth`] (location, login, profile, session),
//! [`userpass`] (email/password registration, confirmation, reset), [`api_keys`] (user API
//! keys),
//! [`functions_call`] and [`service`] (function calls and MongoDB operations), [`endpoints`]
//! (HTTPS endpoints), [`watch`] (change streams as server-sent events), [`metrics`],
//! [`settings`], [`state`], [`tls`] (HTTPS).

pub mod api_keys;
pub mod body;
pub mod caller;
pub mod client_auth;
pub mod endpoints;
pub mod error;
pub mod functions_call;
mod login;
pub mod metrics;
pub mod observe;
pub mod routes;
pub mod service;
pub mod settings;
pub mod state;
pub mod tls;
pub mod userpass;
pub mod watch;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub use error::ApiError;
pub use routes::router;
pub use settings::Settings;
pub use state::{ServerState, ServerStore};

/// Serves `state` on `listener` until `shutdown` resolves, then finishes the requests in
/// flight (watch streams end when the state's shutdown flag is set) and returns.
pub async fn serve<S: ServerStore>(
    state: Arc<ServerState<S>>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = routes::router(state);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// [`serve`] over TLS: every connection is an HTTPS one, handshaken with `config`.
pub async fn serve_tls<S: ServerStore>(
    state: Arc<ServerState<S>>,
    listener: tokio::net::TcpListener,
    config: Arc<tokio_rustls::rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let router = routes::router(state);
    let listener = tls::TlsListener::new(listener, config)?.tap_io(|tls| {
        let _ = tls.get_ref().0.set_nodelay(true);
    });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
