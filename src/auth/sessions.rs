//! Refresh-token sessions in the database: one document per session, so a logout, a
//! revocation, a disabled or deleted user is seen by every instance and survives restarts.
//!
//! A session document: `{_id: sha256(session id), user_id, device_id, provider_type,
//! created, last_used, expires_at}` in `__expanse.sessions`, with a TTL index on `expires_at`
//! (expired sessions are removed by the server; readers check the date too, since a TTL
//! monitor runs about once a minute and the embedded store has none).
//!
//! Access tokens stay stateless JWTs, but [`Sessions::is_live`] checks their session at most
//! once per `bound` per session per instance (default [`DEFAULT_REVOCATION_BOUND`]): a
//! revocation made elsewhere reaches every instance within that bound; one made through the
//! same instance is seen at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bson::{doc, DateTime, Document};

use super::crypto::{random_hex, sha256_hex};
use crate::store::{Store, StoreError, Write};
use crate::users::{collections, delete_all, find_one, UsersConfig, UsersError};

/// How long an instance trusts a session check for access tokens (10 seconds).
pub const DEFAULT_REVOCATION_BOUND: Duration = Duration::from_secs(10);

/// `last_used` is written at most this often per session (refreshes in between only read).
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// Most cached session checks before stale ones are dropped.
const CACHE_LIMIT: usize = 10_000;

/// A stored session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// The user.
    pub user_id: String,
    /// The device id (24 hex characters, or App Services' all-zero "none").
    pub device_id: String,
    /// The provider the session was opened with (empty for [`crate::auth::Auth::login`]).
    pub provider_type: String,
    /// Created.
    pub created: DateTime,
    /// Last refreshed.
    pub last_used: DateTime,
    /// Expires (refresh token lifetime; for anonymous users, renewed on use).
    pub expires_at: DateTime,
}

impl SessionRecord {
    fn from_document(d: &Document) -> SessionRecord {
        let date = |k: &str| d.get_datetime(k).copied().unwrap_or(DateTime::MIN);
        SessionRecord {
            user_id: d.get_str("user_id").unwrap_or_default().to_owned(),
            device_id: d.get_str("device_id").unwrap_or_default().to_owned(),
            provider_type: d.get_str("provider_type").unwrap_or_default().to_owned(),
            created: date("created"),
            last_used: date("last_used"),
            expires_at: date("expires_at"),
        }
    }
}

#[derive(Debug)]
struct Checked {
    at: Instant,
    live: bool,
    user_id: String,
}

/// The sessions collection of one app, with this instance's bounded cache of checks.
#[derive(Debug)]
pub struct Sessions<S: Store> {
    store: S,
    config: UsersConfig,
    bound: Duration,
    cache: Mutex<HashMap<String, Checked>>,
    /// Bumped by every local ending, so a check read before it is not cached after it.
    generation: AtomicU64,
    created: AtomicU64,
}

impl<S: Store> Sessions<S> {
    /// Sessions in `config.database` of `store`.
    pub fn new(store: S, config: UsersConfig) -> Sessions<S> {
        Sessions {
            store,
            config,
            bound: DEFAULT_REVOCATION_BOUND,
            cache: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            created: AtomicU64::new(0),
        }
    }

    /// With another revocation bound (zero: every access token check reads the database).
    pub fn with_bound(mut self, bound: Duration) -> Sessions<S> {
        self.bound = bound;
        self
    }

    /// The revocation bound.
    pub fn bound(&self) -> Duration {
        self.bound
    }

    fn ns(&self) -> crate::store::Namespace {
        self.config.namespace(collections::SESSIONS)
    }

    /// Opens a session; returns its id (32 random hex characters; only its SHA-256 is
    /// stored).
    pub async fn create(
        &self,
        user_id: &str,
        device_id: &str,
        provider_type: &str,
        expires_at: DateTime,
    ) -> Result<String, UsersError> {
        let id = random_hex(16).map_err(|e| StoreError::Other(e.to_string()))?;
        let now = DateTime::now();
        self.store
            .apply(
                &self.ns(),
                vec![Write::Insert(doc! {
                    "_id": sha256_hex(&id),
                    "user_id": user_id,
                    "device_id": device_id,
                    "provider_type": provider_type,
                    "created": now,
                    "last_used": now,
                    "expires_at": expires_at,
                })],
            )
            .await?;
        // Stores without TTL indexes: sweep expired sessions now and then.
        if self.created.fetch_add(1, Ordering::Relaxed) % 256 == 255 {
            delete_all(
                &self.store,
                &self.ns(),
                doc! {"expires_at": {"$lt": DateTime::now()}},
            )
            .await?;
        }
        Ok(id)
    }

    /// The live (unexpired) session with this id, read from the database.
    pub async fn get(&self, session_id: &str) -> Result<Option<SessionRecord>, UsersError> {
        let found = find_one(
            &self.store,
            &self.ns(),
            doc! {"_id": sha256_hex(session_id)},
        )
        .await?
        .map(|d| SessionRecord::from_document(&d))
        .filter(|s| s.expires_at > DateTime::now());
        Ok(found)
    }

    /// Records a use of the session (at most once a minute); with `slide`, the expiry moves
    /// to `slide` from now. A concurrent writer winning is fine: the use is recorded.
    pub async fn touch(
        &self,
        session_id: &str,
        record: &SessionRecord,
        slide: Option<Duration>,
    ) -> Result<(), UsersError> {
        let now = DateTime::now();
        let since = now.timestamp_millis() - record.last_used.timestamp_millis();
        if since < TOUCH_INTERVAL.as_millis() as i64 {
            return Ok(());
        }
        let ns = self.ns();
        let Some(pre) = find_one(&self.store, &ns, doc! {"_id": sha256_hex(session_id)}).await?
        else {
            return Ok(());
        };
        let mut post = pre.clone();
        post.insert("last_used", now);
        if let Some(slide) = slide {
            post.insert(
                "expires_at",
                DateTime::from_millis(now.timestamp_millis() + slide.as_millis() as i64),
            );
        }
        match self
            .store
            .apply(&ns, vec![Write::Replace { pre, post }])
            .await
        {
            Ok(()) | Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Ends one session (logout). Returns whether it existed.
    pub async fn end(&self, session_id: &str) -> Result<bool, UsersError> {
        let n = delete_all(
            &self.store,
            &self.ns(),
            doc! {"_id": sha256_hex(session_id)},
        )
        .await?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(&sha256_hex(session_id));
        }
        Ok(n > 0)
    }

    /// Ends every session of a user (revocation, disable, delete). Returns how many.
    pub async fn end_all(&self, user_id: &str) -> Result<usize, UsersError> {
        let n = delete_all(&self.store, &self.ns(), doc! {"user_id": user_id}).await?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|_, c| c.user_id != user_id);
        }
        Ok(n)
    }

    /// The sessions of a user.
    pub async fn of_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, UsersError> {
        Ok(self
            .store
            .find(
                &self.ns(),
                &doc! {"user_id": user_id},
                &crate::store::FindOptions::default(),
            )
            .await?
            .iter()
            .map(SessionRecord::from_document)
            .filter(|s| s.expires_at > DateTime::now())
            .collect())
    }

    /// Whether the session of an access token (`user_id`'s session `session_id`) is live, as
    /// of at most the revocation bound ago on this instance.
    pub async fn is_live(&self, session_id: &str, user_id: &str) -> Result<bool, UsersError> {
        let key = sha256_hex(session_id);
        if let Ok(cache) = self.cache.lock() {
            if let Some(c) = cache.get(&key) {
                if c.at.elapsed() < self.bound && c.user_id == user_id {
                    return Ok(c.live);
                }
            }
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let live = self
            .get(session_id)
            .await?
            .is_some_and(|s| s.user_id == user_id);
        if let Ok(mut cache) = self.cache.lock() {
            if self.generation.load(Ordering::SeqCst) == generation {
                if cache.len() >= CACHE_LIMIT {
                    let bound = self.bound;
                    cache.retain(|_, c| c.at.elapsed() < bound);
                }
                if cache.len() < CACHE_LIMIT {
                    cache.insert(
                        key,
                        Checked {
                            at: Instant::now(),
                            live,
                            user_id: user_id.to_owned(),
                        },
                    );
                }
            }
        }
        Ok(live)
    }
}
