//! JWK sets for custom JWTs with `useJWKURI`: read from a file (`file:` URL or a path, relative
//! to the app directory) or fetched through a [`JwksFetcher`] the embedding application gives
//! (`https:` URLs; the core has no HTTP client), and cached.
//!
//! A set is cached for 10 minutes; a token naming an unknown `kid` makes the set be read
//! again at most once every 30 seconds (key rotation at the identity provider).

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

/// Fetches a JWK set document from a URL.
pub trait JwksFetcher: Send + Sync {
    /// The body at `url` (a JWK set, or one JWK).
    fn fetch<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<String, String>>;
}

#[derive(Clone)]
struct Cached {
    at: Instant,
    keys: Vec<Jwk>,
}

/// The JWK sets read so far.
#[derive(Default)]
pub struct JwksCache {
    fetcher: Option<Arc<dyn JwksFetcher>>,
    sets: Mutex<HashMap<String, Cached>>,
}

impl JwksCache {
    pub(crate) fn with_fetcher(fetcher: Arc<dyn JwksFetcher>) -> JwksCache {
        JwksCache {
            fetcher: Some(fetcher),
            sets: Mutex::new(HashMap::new()),
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
        let cached = self.cached(uri);
        let fresh = cached.as_ref().is_some_and(|c| c.at.elapsed() < TTL);
        if let Some(c) = &cached {
            if let Some(key) = find(&c.keys, kid) {
                if fresh {
                    return decoding(key);
                }
            } else if c.at.elapsed() < MIN_REFRESH {
                return Err(AuthError::CustomToken("no key with this kid".into()));
            }
        }
        let keys = self.load(uri, app_dir).await?;
        let found = find(&keys, kid).cloned();
        if let Ok(mut sets) = self.sets.lock() {
            sets.insert(
                uri.to_owned(),
                Cached {
                    at: Instant::now(),
                    keys,
                },
            );
        }
        match found {
            Some(key) => decoding(&key),
            None => Err(AuthError::CustomToken("no key with this kid".into())),
        }
    }

    async fn load(&self, uri: &str, app_dir: &Path) -> Result<Vec<Jwk>, AuthError> {
        let body = if uri.starts_with("https://") || uri.starts_with("http://") {
            let fetcher = self.fetcher.as_ref().ok_or_else(|| {
                AuthError::Config("a JWK URI needs a JWKS fetcher (Auth::with_jwks_fetcher)".into())
            })?;
            fetcher
                .fetch(uri)
                .await
                .map_err(|_| AuthError::Config("the JWK set could not be fetched".into()))?
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
            std::fs::read_to_string(&path)
                .map_err(|_| AuthError::Config("the JWK set file could not be read".into()))?
        };
        let mut keys = match serde_json::from_str::<JwkSet>(&body) {
            Ok(set) => set.keys,
            Err(_) => vec![serde_json::from_str::<Jwk>(&body)
                .map_err(|_| AuthError::Config("the JWK set is not valid".into()))?],
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
    DecodingKey::from_jwk(jwk).map_err(|_| AuthError::Config("a JWK is not a usable key".into()))
}
