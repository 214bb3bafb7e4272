//! JWK sets for custom JWTs with `useJWKURI`: read from a file (`file:` URL or a path, relative
//! to the app directory) or fetched through a [`JwksFetcher`] (`https:` URLs, and `http:` to a
//! loopback host; by default [`HttpJwksFetcher`](super::HttpJwksFetcher)), and cached.
//!
//! A set is cached for 10 minutes; a token naming an unknown `kid` makes the set be read
//! again at once (key rotation at the identity provider), but at most once every 30 seconds.
//! Concurrent logins wait for one read. A set that cannot be read refuses the login (fail
//! closed) with a [`JwksError`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::DecodingKey;

use super::error::AuthError;
use super::service::BoxFuture;

/// How long a JWK set is used before it is read again.
const TTL: Duration = Duration::from_secs(600);
/// Least time between two reads of one set for an unknown `kid`.
const MIN_REFRESH: Duration = Duration::from_secs(30);
/// Keys used from a set (App Services: up to 3).
const MAX_KEYS: usize = 3;

/// Why a JWK set could not be read. Messages name the identity provider's host, never a key
/// or a token.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JwksError {
    /// The URI is not an `https:`/`http:` URL with a host.
    #[error("the JWK URI is not a valid https:// URL")]
    BadUrl,
    /// `http:` to a host other than this machine.
    #[error("the JWK URI must use https:// (plain http:// only for a loopback host, not {host})")]
    Insecure {
        /// The host named.
        host: String,
    },
    /// Connecting or reading failed (the provider is down, TLS refused, …).
    #[error("the identity provider at {host} could not be reached")]
    Unreachable {
        /// The host.
        host: String,
    },
    /// The provider did not answer within the time limit.
    #[error("the identity provider at {host} did not answer within {seconds} s")]
    Timeout {
        /// The host.
        host: String,
        /// The time limit.
        seconds: f64,
    },
    /// The provider answered with an HTTP error (or a redirect that was not followed).
    #[error("the identity provider at {host} answered HTTP {status}")]
    Status {
        /// The host.
        host: String,
        /// The HTTP status.
        status: u16,
    },
    /// The body is larger than the fetcher accepts.
    #[error("the JWK set from {host} is larger than {limit} bytes")]
    TooLarge {
        /// The host.
        host: String,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body is not a JWK set (nor one JWK).
    #[error("the JWK set is not valid (neither a JWK set nor a JWK)")]
    Invalid,
    /// A key of the set cannot be used for RS256.
    #[error("a JWK is not a usable key")]
    UnusableKey,
    /// The JWK set file could not be read.
    #[error("the JWK set file could not be read")]
    File,
    /// The HTTP client could not be set up.
    #[error("the HTTP client could not be set up: {0}")]
    Client(String),
    /// An application's fetcher failed (its own reason; counted as the provider failing).
    #[error("{0}")]
    Fetcher(String),
}

impl JwksError {
    /// Whether the identity provider (not the configuration) failed: the client API answers
    /// 503 for these, 500 for the others.
    pub fn provider_failed(&self) -> bool {
        matches!(
            self,
            JwksError::Unreachable { .. }
                | JwksError::Timeout { .. }
                | JwksError::Status { .. }
                | JwksError::TooLarge { .. }
                | JwksError::Invalid
                | JwksError::Fetcher(_)
        )
    }
}

/// Fetches a JWK set document from a URL.
pub trait JwksFetcher: Send + Sync {
    /// The body at `url` (a JWK set, or one JWK).
    fn fetch<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<String, JwksError>>;
}

#[derive(Clone)]
struct Cached {
    at: Instant,
    keys: Vec<Jwk>,
    /// When a token's unknown `kid` last made the set be read again.
    refreshed: Option<Instant>,
}

/// The JWK sets read so far.
pub struct JwksCache {
    fetcher: Arc<dyn JwksFetcher>,
    sets: Mutex<HashMap<String, Cached>>,
    /// Held while a set is read, so that concurrent logins read it once.
    reading: tokio::sync::Mutex<()>,
}

impl Default for JwksCache {
    /// A cache fetching URLs with [`HttpJwksFetcher`](super::HttpJwksFetcher).
    fn default() -> Self {
        JwksCache::with_fetcher(Arc::new(super::HttpJwksFetcher::new()))
    }
}

impl JwksCache {
    pub(crate) fn with_fetcher(fetcher: Arc<dyn JwksFetcher>) -> JwksCache {
        JwksCache {
            fetcher,
            sets: Mutex::new(HashMap::new()),
            reading: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self, uri: &str) -> Option<Cached> {
        self.sets.lock().ok()?.get(uri).cloned()
    }

    /// The RS256 key `kid` of the set at `uri`.
    pub(crate) async fn key(
        &self,
        uri: &str,
        app_dir: &Path,
        kid: &str,
    ) -> Result<DecodingKey, AuthError> {
        if let Some(known) = self.known(uri, kid)? {
            return Ok(known);
        }
        let _reading = self.reading.lock().await;
        // Another login may have read the set while this one waited.
        if let Some(known) = self.known(uri, kid)? {
            return Ok(known);
        }
        let previous = self.cached(uri);
        let keys = self.load(uri, app_dir).await?;
        let found = find(&keys, kid).cloned();
        // A read that did not find the kid starts the 30 s pause before the next one.
        let refreshed = match &found {
            None => Some(Instant::now()),
            Some(_) => previous.and_then(|c| c.refreshed),
        };
        if let Ok(mut sets) = self.sets.lock() {
            sets.insert(
                uri.to_owned(),
                Cached {
                    at: Instant::now(),
                    keys,
                    refreshed,
                },
            );
        }
        match found {
            Some(key) => decoding(&key),
            None => Err(AuthError::CustomToken("no key with this kid".into())),
        }
    }

    /// The key from the cache (`Some`), a refusal (an unknown `kid` read again less than
    /// 30 s ago), or `None`: the set must be read.
    fn known(&self, uri: &str, kid: &str) -> Result<Option<DecodingKey>, AuthError> {
        let Some(c) = self.cached(uri) else {
            return Ok(None);
        };
        if c.at.elapsed() >= TTL {
            return Ok(None);
        }
        match find(&c.keys, kid) {
            Some(key) => decoding(key).map(Some),
            None if c.refreshed.is_some_and(|r| r.elapsed() < MIN_REFRESH) => {
                Err(AuthError::CustomToken("no key with this kid".into()))
            }
            None => Ok(None),
        }
    }

    async fn load(&self, uri: &str, app_dir: &Path) -> Result<Vec<Jwk>, JwksError> {
        let body = if uri.starts_with("https://") || uri.starts_with("http://") {
            self.fetcher.fetch(uri).await?
        } else {
            let path = uri
                .strip_prefix("file://")
                .or_else(|| uri.strip_prefix("file:"))
                .unwrap_or(uri);
            let path = if Path::new(path).is_absolute() {
                Path::new(path).to_path_buf()
            } else {
                app_dir.join(path)
            };
            std::fs::read_to_string(&path).map_err(|_| JwksError::File)?
        };
        let mut keys = match serde_json::from_str::<JwkSet>(&body) {
            Ok(set) => set.keys,
            Err(_) => vec![serde_json::from_str::<Jwk>(&body).map_err(|_| JwksError::Invalid)?],
        };
        keys.truncate(MAX_KEYS);
        Ok(keys)
    }
}

fn find<'a>(keys: &'a [Jwk], kid: &str) -> Option<&'a Jwk> {
    keys.iter()
        .find(|k| k.common.key_id.as_deref() == Some(kid))
}

fn decoding(jwk: &Jwk) -> Result<DecodingKey, AuthError> {
    DecodingKey::from_jwk(jwk).map_err(|_| AuthError::Jwks(JwksError::UnusableKey))
}
