//! `expanse serve APP_DIR [--mongodb URI] [--listen ADDR] [--app-id ID] …`: the App Services
//! client HTTP API over the app (see `crate::server`). Every flag also reads an environment
//! variable, for containers.

use crate::triggers::{TriggerOptions, Triggers};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::EXIT_INVALID;
use crate::app::App;
use crate::auth::{TokenConfig, TokenIssuer};
use crate::server::{serve, serve_tls, ServerState, ServerStore, Settings};
use crate::store::{MemoryStore, MongoStore};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The exported app directory.
    app: PathBuf,
    /// Serve over this MongoDB (users, sessions and data live there; several instances can
    /// share it). Without it: the embedded store.
    #[arg(long, env = "MONGODB_URI", conflicts_with = "store_file")]
    mongodb: Option<String>,
    /// With --mongodb: prefix every database name with this (several apps or test runs on one
    /// server).
    #[arg(long, env = "EXPANSE_DATABASE_PREFIX", requires = "mongodb")]
    database_prefix: Option<String>,
    /// With the embedded store: persist it to this file (canonical Extended JSON, rewritten on
    /// every write). Without it the embedded store lives in memory and is lost on exit.
    #[arg(long, env = "EXPANSE_STORE_FILE")]
    store_file: Option<PathBuf>,
    /// The address to listen on (port 0: any free port; the address is printed).
    #[arg(long, env = "EXPANSE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// The client app id the routes answer to (default: `app_id` of root_config.json).
    #[arg(long, env = "EXPANSE_APP_ID")]
    app_id: Option<String>,
    /// The origin clients reach this server at, as `location` reports it (default:
    /// `http://` and the request's Host header). Set it behind a TLS reverse proxy.
    #[arg(long, env = "EXPANSE_PUBLIC_URL")]
    public_url: Option<String>,
    /// The largest request body accepted, in bytes (App Services: 18 MB).
    #[arg(long, env = "EXPANSE_MAX_BODY_BYTES", default_value_t = crate::server::settings::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// How long a request may take, in seconds (watch streams excepted).
    #[arg(long, env = "EXPANSE_REQUEST_TIMEOUT", default_value_t = 330)]
    request_timeout: u64,
    /// Access token lifetime in seconds (App Services: 1800).
    #[arg(long, env = "EXPANSE_ACCESS_TOKEN_LIFETIME", default_value_t = 1800)]
    access_token_lifetime: u64,
    /// Refresh token lifetime in seconds (App Services' default: 60 days).
    #[arg(long, env = "EXPANSE_REFRESH_TOKEN_LIFETIME", default_value_t = 60 * 24 * 3600)]
    refresh_token_lifetime: u64,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "EXPANSE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "EXPANSE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

fn invalid(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("expanse serve: {message}");
    ExitCode::from(EXIT_INVALID)
}

pub fn run(args: ServeArgs) -> ExitCode {
    let level = match std::env::var("EXPANSE_LOG").as_deref() {
        Ok("off") => None,
        Ok("debug") => Some(tracing::Level::DEBUG),
        Ok("warn") => Some(tracing::Level::WARN),
        _ => Some(tracing::Level::INFO),
    };
    if let Some(level) = level {
        let _ = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .try_init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return invalid(format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(execute(args))
}

async fn execute(args: ServeArgs) -> ExitCode {
    let app = match App::load(&args.app) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("warning: {w}");
            }
            Arc::new(loaded.app)
        }
        Err(e) => return invalid(e),
    };
    let mut settings = match Settings::load(&args.app, args.app_id.clone()) {
        Ok(s) => s,
        Err(e) => return invalid(e),
    };
    settings.max_body_bytes = args.max_body_bytes;
    settings.request_timeout = Duration::from_secs(args.request_timeout.max(1));
    settings.public_url = args.public_url.clone();
    settings.tls = args.tls_cert.is_some();
    let secret = match std::env::var("EXPANSE_JWT_SECRET") {
        Ok(s) => s,
        Err(_) => {
            return invalid(
                "set EXPANSE_JWT_SECRET (at least 32 bytes) to sign tokens; every instance serving the app needs the same secret",
            )
        }
    };
    let tokens = match TokenConfig::hs256(secret.into_bytes()) {
        Ok(mut config) => {
            config.access_lifetime = Duration::from_secs(args.access_token_lifetime.max(1));
            config.refresh_lifetime = Duration::from_secs(args.refresh_token_lifetime.max(1));
            match TokenIssuer::new(config) {
                Ok(t) => t,
                Err(e) => return invalid(e),
            }
        }
        Err(e) => return invalid(format!("EXPANSE_JWT_SECRET: {e}")),
    };
    match &args.mongodb {
        Some(uri) => match MongoStore::connect(uri).await {
            Ok(store) => {
                let store = match &args.database_prefix {
                    Some(prefix) => store.with_database_prefix(prefix.clone()),
                    None => store,
                };
                start(&args, app, store, tokens, settings, "MongoDB").await
            }
            Err(e) => {
                eprintln!("expanse serve: {e}");
                ExitCode::from(1)
            }
        },
        None => {
            let store = match &args.store_file {
                Some(path) => match MemoryStore::open(path) {
                    Ok(s) => s,
                    Err(e) => return invalid(e),
                },
                None => {
                    eprintln!("warning: no --mongodb and no --store-file: the embedded store is in memory, and every user, session and document is lost when the server stops");
                    MemoryStore::new()
                }
            };
            let store = store.with_null_semantics(app.query.null_semantics);
            start(&args, app, store, tokens, settings, "embedded").await
        }
    }
}

async fn start<S: ServerStore>(
    args: &ServeArgs,
    app: Arc<App>,
    store: S,
    tokens: TokenIssuer,
    settings: Settings,
    store_name: &str,
) -> ExitCode {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let app_id = settings.app_id.clone();
    let state = match ServerState::new(app, store, tokens, settings, stop_rx) {
        Ok((state, warnings)) => {
            for w in warnings {
                eprintln!("warning: {w}");
            }
            Arc::new(state)
        }
        Err(e) => return invalid(e),
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match crate::server::tls::load_config(cert, key) {
            Ok(config) => Some(config),
            Err(e) => return invalid(e),
        },
        _ => None,
    };
    // The users store's unique indexes and the sessions' TTL index, before the first request:
    // a database that refuses them stops the start, rather than the first login.
    if let Err(e) = state.auth.start().await {
        eprintln!("expanse serve: cannot prepare the users and sessions store ({store_name}): {e}");
        return ExitCode::from(1);
    }
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(l) => l,
        Err(e) => return invalid(format!("cannot listen on {}: {e}", args.listen)),
    };
    let address = match listener.local_addr() {
        Ok(a) => a.to_string(),
        Err(_) => args.listen.clone(),
    };
    // The app's database and scheduled triggers run in the server too (one firing across
    // instances: the lease in MongoDB decides which instance fires).
    let triggers = Triggers::start(
        state.app.clone(),
        state.store.clone(),
        state.functions.clone(),
        TriggerOptions::default(),
    );
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!(
        "expanse serve: listening on {scheme}://{address} (app id {app_id}, {store_name} store)"
    );
    let shutdown = async move {
        super::wait_for_signal().await;
        eprintln!("expanse serve: shutting down, finishing requests in flight");
        let _ = stop_tx.send(true);
    };
    let served = match tls {
        Some(config) => serve_tls(state, listener, config, shutdown).await,
        None => serve(state, listener, shutdown).await,
    };
    triggers.stop().await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("expanse serve: {e}");
            ExitCode::from(1)
        }
    }
}
