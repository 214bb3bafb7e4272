//! What every request handler shares: the app, its authentication and functions over one
//! store, the settings and the metrics. Nothing that matters lives only here: users and
//! sessions are the library's (in MongoDB when the store is), so instances can be replicated.

use std::sync::Arc;

use crate::app::App;
use crate::auth::{Auth, SystemFunctions, TokenIssuer};
use crate::functions::{BuildError, Functions};
use crate::store::{ChangeStreams, Store};
use crate::Diagnostic;

use super::metrics::Metrics;
use super::settings::Settings;

/// A store the server can run on: the library's stores, with change streams for `watch`.
pub trait ServerStore: Store + ChangeStreams + Clone + 'static {}

impl<S: Store + ChangeStreams + Clone + 'static> ServerStore for S {}

/// The server's shared state.
pub struct ServerState<S: Store + Clone> {
    /// The app.
    pub app: Arc<App>,
    /// Logins, tokens, sessions.
    pub auth: Auth<S>,
    /// The app's functions.
    pub functions: Functions<S>,
    /// The store.
    pub store: S,
    /// Settings.
    pub settings: Settings,
    /// Metrics.
    pub metrics: Metrics,
    /// Set when the server is shutting down: long-lived streams (watch) end.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

impl<S: ServerStore> ServerState<S> {
    /// The state for `app` over `store`: its functions (JavaScript sources loaded) and its
    /// authentication, which runs the user creation function and triggers through them.
    pub fn new(
        app: Arc<App>,
        store: S,
        tokens: TokenIssuer,
        settings: Settings,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(ServerState<S>, Vec<Diagnostic>), BuildError> {
        let (functions, warnings) = Functions::builder(app.clone(), store.clone()).build()?;
        let system: Arc<dyn SystemFunctions> = Arc::new(functions.clone());
        let auth = Auth::new(app.clone(), store.clone(), tokens).with_functions(system);
        Ok((
            ServerState {
                app,
                auth,
                functions,
                store,
                settings,
                metrics: Metrics::default(),
                shutdown,
            },
            warnings,
        ))
    }
}
