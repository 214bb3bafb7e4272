//! The default [`JwksFetcher`]: JWK sets fetched over HTTPS with `reqwest` (rustls).
//!
//! Only `https://` URLs are fetched, and plain `http://` only from a loopback host
//! (`localhost`, `127.0.0.0/8`, `::1`: tests and identity providers on the same machine); a
//! redirect must obey the same rule. Each fetch has a time limit (10 s by default) and a size
//! limit on the body (1 MiB by default); anything else than a `2xx` answer is an error.
//!
//! ```
//! use std::time::Duration;
//! use expanse::auth::HttpJwksFetcher;
//!
//! let fetcher = HttpJwksFetcher::new().with_timeout(Duration::from_secs(3));
//! # let _ = fetcher;
//! ```

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{redirect, Client, Url};

use super::jwks::{JwksError, JwksFetcher};
use super::service::BoxFuture;

/// Default time limit of one fetch.
pub const DEFAULT_JWKS_TIMEOUT: Duration = Duration::from_secs(10);
/// Default size limit of a JWK set body.
pub const DEFAULT_JWKS_MAX_BODY: usize = 1024 * 1024;
/// Redirects followed at most.
const MAX_REDIRECTS: usize = 5;

/// Fetches JWK sets over HTTPS (the fetcher [`crate::auth::Auth`] uses unless
/// `Auth::with_jwks_fetcher` gives another).
pub struct HttpJwksFetcher {
    timeout: Duration,
    max_body: usize,
    client: OnceLock<Result<Client, String>>,
}

impl Default for HttpJwksFetcher {
    fn default() -> Self {
        HttpJwksFetcher::new()
    }
}

impl HttpJwksFetcher {
    /// A fetcher with the default time limit (10 s) and body size limit (1 MiB).
    pub fn new() -> HttpJwksFetcher {
        HttpJwksFetcher {
            timeout: DEFAULT_JWKS_TIMEOUT,
            max_body: DEFAULT_JWKS_MAX_BODY,
            client: OnceLock::new(),
        }
    }

    /// Sets the time limit of one fetch (connecting, the redirects and reading the body).
    pub fn with_timeout(mut self, timeout: Duration) -> HttpJwksFetcher {
        self.timeout = timeout;
        self
    }

    /// Sets the largest body accepted, in bytes.
    pub fn with_max_body(mut self, bytes: usize) -> HttpJwksFetcher {
        self.max_body = bytes;
        self
    }

    /// The client, built on first use (building it needs no network).
    fn client(&self) -> Result<&Client, JwksError> {
        self.client
            .get_or_init(|| {
                Client::builder()
                    .redirect(redirect::Policy::custom(|attempt| {
                        if attempt.previous().len() >= MAX_REDIRECTS {
                            attempt.stop()
                        } else if check_url(attempt.url()).is_ok() {
                            attempt.follow()
                        } else {
                            attempt.stop()
                        }
                    }))
                    .no_proxy()
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| JwksError::Client(e.clone()))
    }

    async fn get(&self, url: &str) -> Result<String, JwksError> {
        let url = parse_url(url)?;
        let host = host_of(&url);
        let client = self.client()?;
        let fetch = async {
            let mut response = client
                .get(url.clone())
                .header("accept", "application/json")
                .send()
                .await
                .map_err(|_| JwksError::Unreachable { host: host.clone() })?;
            let status = response.status();
            if !status.is_success() {
                return Err(JwksError::Status {
                    host: host.clone(),
                    status: status.as_u16(),
                });
            }
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|_| JwksError::Unreachable { host: host.clone() })?
            {
                if body.len() + chunk.len() > self.max_body {
                    return Err(JwksError::TooLarge {
                        host: host.clone(),
                        limit: self.max_body,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            String::from_utf8(body).map_err(|_| JwksError::Invalid)
        };
        match tokio::time::timeout(self.timeout, fetch).await {
            Ok(result) => result,
            Err(_) => Err(JwksError::Timeout {
                host,
                seconds: self.timeout.as_secs_f64(),
            }),
        }
    }
}

impl JwksFetcher for HttpJwksFetcher {
    fn fetch<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<String, JwksError>> {
        Box::pin(self.get(url))
    }
}

/// Checks that `uri` may be fetched: `https://`, or `http://` to a loopback host.
///
/// ```
/// use expanse::auth::check_jwk_url;
/// assert!(check_jwk_url("https://idp.example.com/.well-known/jwks.json").is_ok());
/// assert!(check_jwk_url("http://127.0.0.1:8080/jwks").is_ok());
/// assert!(check_jwk_url("http://idp.example.com/jwks").is_err());
/// ```
pub fn check_jwk_url(uri: &str) -> Result<(), JwksError> {
    parse_url(uri).map(|_| ())
}

fn parse_url(uri: &str) -> Result<Url, JwksError> {
    let url = Url::parse(uri).map_err(|_| JwksError::BadUrl)?;
    check_url(&url)?;
    Ok(url)
}

fn check_url(url: &Url) -> Result<(), JwksError> {
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(JwksError::Insecure { host: host_of(url) }),
        _ => Err(JwksError::BadUrl),
    }
}

/// Whether the URL's host is this machine.
pub(crate) fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// `host` or `host:port`, as errors name it.
pub(crate) fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => String::new(),
    }
}
