//! The authentication service: logins through providers or of a user the embedding application
//! authenticated, sessions in the database, refresh, verification, revocation, user
//! management, and authentication triggers.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bson::{doc, Bson, DateTime, Document};

use super::custom_data::find_custom_data;
use super::email::EmailSender;
use super::error::AuthError;
use super::jwks::JwksFetcher;
use super::password::{PasswordParams, Passwords};
use super::providers::{Authenticated, Credential};
use super::sessions::{SessionRecord, Sessions};
use super::tokens::{now_seconds, TokenError, TokenIssuer, TokenPair, NO_DEVICE};
use crate::app::{App, AuthProviderConfig};
use crate::functions::Thrown;
use crate::store::Store;
use crate::users::{Identity, StoredUser, Users, UsersConfig, UsersError};
use crate::{User, UserType};

/// A boxed future (for object-safe async hooks).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs app functions as the system user: the user creation function, authentication
/// triggers, and the providers' functions. The function runtime implements it.
pub trait SystemFunctions: Send + Sync {
    /// Calls `name` as the system user with `args`; an error is what the call failed with
    /// (for [`crate::functions::Functions`], a [`Thrown::Call`] keeping the call's code).
    fn call_as_system<'a>(
        &'a self,
        name: &'a str,
        args: Vec<Bson>,
    ) -> BoxFuture<'a, Result<Bson, Thrown>>;
}

/// A logged-in user and their tokens.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user as rules see them (custom data as of the access token).
    pub user: User,
    /// The tokens (`access_token`, `refresh_token`, `user_id`, `device_id`: the login
    /// response).
    pub tokens: TokenPair,
}

/// Anonymous sessions: their refresh token is valid for 50 years (as App Services' were); the
/// session itself ends after 90 days without use (renewed by each refresh).
const ANONYMOUS_TOKEN_LIFETIME: Duration = Duration::from_secs(50 * 365 * 24 * 3600);
/// How long an unused anonymous session lives.
pub const ANONYMOUS_INACTIVITY: Duration = Duration::from_secs(90 * 24 * 3600);

/// Authentication for one app over one store: users, identities and sessions live in the
/// store's `__expanse` database (see [`UsersConfig`]), custom user data where the app says.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use expanse::auth::{Auth, TokenConfig, TokenIssuer};
/// use expanse::store::MemoryStore;
/// let app = Arc::new(expanse::App::load("fixtures/app").unwrap().app);
/// let tokens = TokenIssuer::new(TokenConfig::hs256(vec![b'k'; 32]).unwrap()).unwrap();
/// let auth = Auth::new(app, MemoryStore::new(), tokens);
/// let session = auth.login(expanse::User::new("u1")).await.unwrap();
/// assert!(auth.refresh(&session.tokens.refresh_token).await.is_ok());
/// auth.logout(&session.tokens.refresh_token).await.unwrap();
/// assert!(auth.refresh(&session.tokens.refresh_token).await.is_err());
/// # });
/// ```
pub struct Auth<S: Store + Clone> {
    pub(in crate::auth) app: Arc<App>,
    pub(in crate::auth) store: S,
    pub(in crate::auth) tokens: TokenIssuer,
    pub(in crate::auth) functions: Option<Arc<dyn SystemFunctions>>,
    max_staleness: Option<Duration>,
    cache: Mutex<HashMap<String, (Instant, Document)>>,
    pub(in crate::auth) users: Users<S>,
    pub(in crate::auth) sessions: Sessions<S>,
    pub(in crate::auth) passwords: Passwords,
    pub(in crate::auth) email: Option<Arc<dyn EmailSender>>,
    pub(in crate::auth) secrets: HashMap<String, String>,
    pub(in crate::auth) jwks: super::jwks::JwksCache,
    ready: tokio::sync::OnceCell<()>,
}

impl<S: Store + Clone> Auth<S> {
    /// Authentication for `app`, reading custom user data from `store` and keeping users and
    /// sessions in its `__expanse` database.
    pub fn new(app: Arc<App>, store: S, tokens: TokenIssuer) -> Auth<S> {
        let config = UsersConfig::default();
        Auth {
            app,
            users: Users::new(store.clone(), config.clone()),
            sessions: Sessions::new(store.clone(), config),
            store,
            tokens,
            functions: None,
            max_staleness: None,
            cache: Mutex::new(HashMap::new()),
            passwords: Passwords::default(),
            email: None,
            secrets: HashMap::new(),
            jwks: super::jwks::JwksCache::default(),
            ready: tokio::sync::OnceCell::new(),
        }
    }

    /// Keeps users, identities, sessions and keys in another database than `__expanse`.
    pub fn with_users_config(mut self, config: UsersConfig) -> Auth<S> {
        let bound = self.sessions.bound();
        self.users = Users::new(self.store.clone(), config.clone());
        self.sessions = Sessions::new(self.store.clone(), config).with_bound(bound);
        self
    }

    /// How long an instance trusts a check of an access token's session (default 10 s; see
    /// [`super::DEFAULT_REVOCATION_BOUND`]). Zero reads the database on every verification.
    pub fn with_revocation_bound(mut self, bound: Duration) -> Auth<S> {
        let config = self.users.config().clone();
        self.sessions = Sessions::new(self.store.clone(), config).with_bound(bound);
        self
    }

    /// The runtime for the user creation function, authentication triggers and the
    /// providers' functions.
    pub fn with_functions(mut self, functions: Arc<dyn SystemFunctions>) -> Auth<S> {
        self.functions = Some(functions);
        self
    }

    /// Sends confirmation and reset emails for `local-userpass` in email mode.
    pub fn with_email_sender(mut self, sender: Arc<dyn EmailSender>) -> Auth<S> {
        self.email = Some(sender);
        self
    }

    /// Secret values by Secret name (for `secret_config`, e.g. custom JWT signing keys). A
    /// Secret not given here is read from the environment variable `EXPANSE_SECRET_<name>`.
    pub fn with_secrets(mut self, secrets: HashMap<String, String>) -> Auth<S> {
        self.secrets = secrets;
        self
    }

    /// Fetches JWK sets from `https://` URLs (custom JWT with `useJWKURI`); `file:` URLs
    /// and paths are read without it.
    pub fn with_jwks_fetcher(mut self, fetcher: Arc<dyn JwksFetcher>) -> Auth<S> {
        self.jwks = super::jwks::JwksCache::with_fetcher(fetcher);
        self
    }

    /// Argon2id parameters for new password hashes.
    pub fn with_password_params(mut self, params: PasswordParams) -> Result<Auth<S>, AuthError> {
        self.passwords = Passwords::new(params)?;
        Ok(self)
    }

    /// Bounds how stale `%%user.custom_data` may be: a verified token older than this has its
    /// custom data re-read (cached for the same duration) instead of trusting the token's copy.
    /// Without it, custom data is as of the token, as in App Services (up to 30 minutes).
    pub fn with_max_staleness(mut self, staleness: Duration) -> Auth<S> {
        self.max_staleness = Some(staleness);
        self
    }

    /// The token issuer.
    pub fn tokens(&self) -> &TokenIssuer {
        &self.tokens
    }

    /// The users store.
    pub fn users(&self) -> &Users<S> {
        &self.users
    }

    /// The sessions store.
    pub fn sessions(&self) -> &Sessions<S> {
        &self.sessions
    }

    /// The password hasher (its [`Passwords::work`] counts hashes).
    pub fn passwords(&self) -> &Passwords {
        &self.passwords
    }

    /// The app.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Creates the users store's indexes (once per instance; every operation that needs them
    /// calls it, so calling it at start is optional but surfaces a database problem early).
    pub async fn start(&self) -> Result<(), AuthError> {
        self.ready
            .get_or_try_init(|| async { self.users.ensure_indexes().await })
            .await
            .map(|_| ())
            .map_err(AuthError::from)
    }

    /// The enabled provider of a type.
    pub(in crate::auth) fn provider(
        &self,
        provider_type: &str,
    ) -> Result<&AuthProviderConfig, AuthError> {
        let p = self
            .app
            .auth_providers
            .values()
            .find(|p| p.provider_type == provider_type)
            .ok_or_else(|| AuthError::ProviderNotFound(provider_type.to_owned()))?;
        if p.disabled {
            return Err(AuthError::ProviderDisabled(provider_type.to_owned()));
        }
        Ok(p)
    }

    /// A Secret's value: given with [`Auth::with_secrets`], else `EXPANSE_SECRET_<name>`.
    pub(in crate::auth) fn secret(&self, name: &str) -> Option<String> {
        self.secrets
            .get(name)
            .cloned()
            .or_else(|| std::env::var(format!("EXPANSE_SECRET_{name}")).ok())
    }

    pub(in crate::auth) async fn custom_data(&self, user_id: &str) -> Result<Document, AuthError> {
        let config = self.app.custom_user_data.as_ref();
        Ok(find_custom_data(&self.store, config, user_id).await?)
    }

    pub(in crate::auth) async fn call(
        &self,
        name: &str,
        args: Vec<Bson>,
    ) -> Result<Bson, AuthError> {
        let functions = self
            .functions
            .as_ref()
            .ok_or_else(|| AuthError::NoRuntime(name.to_owned()))?;
        functions
            .call_as_system(name, args)
            .await
            .map_err(|thrown| AuthError::CreationFunction {
                name: name.to_owned(),
                message: thrown.to_string(),
            })
    }

    /// Runs the user creation function (its failure fails the creation).
    async fn run_creation_function(&self, user: &User) -> Result<(), AuthError> {
        let creation = self
            .app
            .custom_user_data
            .as_ref()
            .and_then(|c| c.on_user_creation_function_name.clone());
        if let Some(name) = creation {
            self.call(&name, vec![Bson::Document(user.document().clone())])
                .await?;
        }
        Ok(())
    }

    /// Registers a user the embedding application authenticated: the user creation function
    /// runs first (its failure fails the creation), then `CREATE` triggers, then the user is
    /// logged in. The user is not written to the users collection (use a provider for that).
    pub async fn create_user(&self, user: User) -> Result<Session, AuthError> {
        self.run_creation_function(&user).await?;
        self.fire_triggers("CREATE", &user).await;
        self.login(user).await
    }

    /// Logs in a user the embedding application authenticated: reads their custom data,
    /// records a session, issues tokens, then runs `LOGIN` triggers (the token carries the
    /// data as it was before the triggers ran, as in App Services).
    pub async fn login(&self, user: User) -> Result<Session, AuthError> {
        self.open_session(user, "", NO_DEVICE).await
    }

    async fn open_session(
        &self,
        user: User,
        provider_type: &str,
        device_id: &str,
    ) -> Result<Session, AuthError> {
        self.start().await?;
        let custom_data = self.custom_data(&user.id).await?;
        let user = user.with_custom_data(custom_data.clone());
        let now = now_seconds();
        let (token_exp, session_exp) = if provider_type == "anon-user" {
            (
                now + ANONYMOUS_TOKEN_LIFETIME.as_secs() as i64,
                now + ANONYMOUS_INACTIVITY.as_secs() as i64,
            )
        } else {
            let exp = now + self.tokens.config().refresh_lifetime.as_secs() as i64;
            (exp, exp)
        };
        let session_id = self
            .sessions
            .create(
                &user.id,
                device_id,
                provider_type,
                DateTime::from_millis(session_exp.saturating_mul(1000)),
            )
            .await?;
        let tokens =
            self.tokens
                .issue_for(&user, &custom_data, &session_id, device_id, token_exp)?;
        self.fire_triggers("LOGIN", &user).await;
        Ok(Session { user, tokens })
    }

    /// Logs in with a provider's credential (https://www.mongodb.com/docs/atlas/app-services/users/sessions/): finds or creates the user of the
    /// identity, refuses a disabled user, records the login, opens a session. `device_id` is
    /// the client's device (24 hex characters), or `None`.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use expanse::auth::{Auth, Credential, TokenConfig, TokenIssuer};
    /// use expanse::store::MemoryStore;
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::create_dir(dir.path().join("auth")).unwrap();
    /// std::fs::write(dir.path().join("auth/providers.json"),
    ///     r#"{"anon-user": {"name": "anon-user", "type": "anon-user", "disabled": false}}"#).unwrap();
    /// let app = Arc::new(expanse::App::load(dir.path()).unwrap().app);
    /// let tokens = TokenIssuer::new(TokenConfig::hs256(vec![b'k'; 32]).unwrap()).unwrap();
    /// let auth = Auth::new(app, MemoryStore::new(), tokens);
    /// let session = auth.login_with(Credential::Anonymous, None).await.unwrap();
    /// assert_eq!(session.user.identities[0].get_str("provider_type").unwrap(), "anon-user");
    /// # });
    /// ```
    pub async fn login_with(
        &self,
        credential: Credential,
        device_id: Option<&str>,
    ) -> Result<Session, AuthError> {
        self.start().await?;
        let provider_type = credential.provider_type();
        let authenticated = self.authenticate(credential).await?;
        let stored = self.sign_in(authenticated).await?;
        self.open_session(
            stored.to_user(),
            provider_type,
            device_id.filter(|d| is_device_id(d)).unwrap_or(NO_DEVICE),
        )
        .await
    }

    /// Links the identity of `credential` to the user of `access_token` and
    /// returns a new session for that user. Refused: anonymous credentials, an identity that
    /// belongs to another user, a second email/password identity.
    pub async fn link(
        &self,
        access_token: &str,
        credential: Credential,
    ) -> Result<Session, AuthError> {
        self.start().await?;
        let user = self.verify(access_token).await?;
        if matches!(credential, Credential::Anonymous) {
            return Err(AuthError::Link(
                "an anonymous identity cannot be linked".into(),
            ));
        }
        let provider_type = credential.provider_type();
        let stored = self
            .users
            .get(&user.id)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        if provider_type == "local-userpass"
            && stored
                .identities
                .iter()
                .any(|i| i.provider_type == "local-userpass")
        {
            return Err(AuthError::Link(
                "the user already has an email/password identity".into(),
            ));
        }
        let authenticated = self.authenticate(credential).await?;
        if authenticated.owner.is_some() {
            return Err(AuthError::Link("an API key cannot be linked".into()));
        }
        let identity = authenticated.identity.clone();
        let updated = match self.users.add_identity(&stored.id, identity).await {
            Ok(u) => u,
            Err(UsersError::IdentityTaken) => {
                return Err(AuthError::Link(
                    "the identity belongs to another user".into(),
                ))
            }
            Err(e) => return Err(e.into()),
        };
        let data = authenticated.user_data.clone();
        let updated = self
            .users
            .update(&updated.id, |u| merge(&mut u.data, &data))
            .await?;
        self.open_session(updated.to_user(), provider_type, NO_DEVICE)
            .await
    }

    /// Finds or creates the user of an authenticated identity and records the login.
    pub(in crate::auth) async fn sign_in(
        &self,
        authenticated: Authenticated,
    ) -> Result<StoredUser, AuthError> {
        let now = now_seconds();
        let mut created = false;
        let user = match &authenticated.owner {
            Some(owner) => {
                let user = self
                    .users
                    .get(owner)
                    .await?
                    .ok_or(AuthError::InvalidApiKey)?;
                if !user.identities.iter().any(|i| {
                    i.provider_type == authenticated.identity.provider_type
                        && i.id == authenticated.identity.id
                }) && !user.disabled
                {
                    self.users
                        .add_identity(owner, authenticated.identity.clone())
                        .await?
                } else {
                    user
                }
            }
            None => {
                let mut found = None;
                for _ in 0..8 {
                    let identity = &authenticated.identity;
                    if let Some(user) = self
                        .users
                        .find_by_identity(&identity.provider_type, &identity.id)
                        .await?
                    {
                        found = Some(user);
                        break;
                    }
                    let user = StoredUser::new(
                        authenticated.user_type,
                        identity.clone(),
                        authenticated.user_data.clone(),
                        now,
                    );
                    self.run_creation_function(&user.to_user()).await?;
                    match self.users.insert(&user).await {
                        Ok(()) => {
                            created = true;
                            found = Some(user);
                            break;
                        }
                        Err(UsersError::IdentityTaken) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                found.ok_or(AuthError::Users(UsersError::Contended))?
            }
        };
        if user.disabled {
            return Err(AuthError::UserDisabled);
        }
        let identity = authenticated.identity.clone();
        let data = authenticated.user_data.clone();
        let user = self
            .users
            .update(&user.id, |u| {
                u.last_authentication_date = now;
                if let Some(i) = u
                    .identities
                    .iter_mut()
                    .find(|i| i.provider_type == identity.provider_type && i.id == identity.id)
                {
                    i.data = identity.data.clone();
                }
                merge(&mut u.data, &data);
            })
            .await?;
        if user.disabled {
            return Err(AuthError::UserDisabled);
        }
        if created {
            self.fire_triggers("CREATE", &user.to_user()).await;
        }
        Ok(user)
    }

    /// The live session of a refresh token, from the database (never a cache).
    async fn refresh_session(
        &self,
        refresh_token: &str,
    ) -> Result<(super::RefreshClaims, SessionRecord), AuthError> {
        let claims = self.tokens.verify_refresh(refresh_token)?;
        let session = self
            .sessions
            .get(&claims.baas_id)
            .await?
            .filter(|s| s.user_id == claims.sub)
            .ok_or(AuthError::Token(TokenError::Revoked))?;
        Ok((claims, session))
    }

    /// A new access token for a refresh token whose session is live, with the user and custom
    /// data read again (App Services answers `401 InvalidSession` otherwise).
    pub async fn refresh(&self, refresh_token: &str) -> Result<String, AuthError> {
        let (claims, session) = self.refresh_session(refresh_token).await?;
        let user = match self.users.get(&claims.sub).await? {
            Some(stored) if stored.disabled => return Err(TokenError::Revoked.into()),
            Some(stored) => stored.to_user(),
            None if session.provider_type.is_empty() => TokenIssuer::user_of_refresh(&claims),
            None => return Err(TokenError::Revoked.into()),
        };
        let custom_data = self.custom_data(&claims.sub).await?;
        let user = user.with_custom_data(custom_data.clone());
        let slide = (session.provider_type == "anon-user").then_some(ANONYMOUS_INACTIVITY);
        self.sessions
            .touch(&claims.baas_id, &session, slide)
            .await?;
        Ok(self.tokens.access_token_on(
            &user,
            &custom_data,
            &claims.baas_id,
            &claims.baas_device_id,
        )?)
    }

    /// The user an access token stands for, as rules see them: the signature and times, then
    /// its session (live as of at most the revocation bound ago). With a staleness bound,
    /// custom data older than the bound is read again.
    pub async fn verify(&self, access_token: &str) -> Result<User, AuthError> {
        let claims = self.tokens.verify_access(access_token)?;
        if !self.sessions.is_live(&claims.iss, &claims.sub).await? {
            return Err(TokenError::Revoked.into());
        }
        let user = TokenIssuer::user_of(&claims);
        let Some(bound) = self.max_staleness else {
            return Ok(user);
        };
        let age = Duration::from_secs(now_seconds().saturating_sub(claims.iat).max(0) as u64);
        if age <= bound {
            return Ok(user);
        }
        if let Some(cached) = self.cached(&claims.sub, bound) {
            return Ok(user.with_custom_data(cached));
        }
        let fresh = self.custom_data(&claims.sub).await?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() > 10_000 {
                cache.retain(|_, (at, _)| at.elapsed() <= bound);
            }
            cache.insert(claims.sub.clone(), (Instant::now(), fresh.clone()));
        }
        Ok(user.with_custom_data(fresh))
    }

    fn cached(&self, user_id: &str, bound: Duration) -> Option<Document> {
        let cache = self.cache.lock().ok()?;
        let (at, data) = cache.get(user_id)?;
        (at.elapsed() <= bound).then(|| data.clone())
    }

    /// The stored user of a live refresh token (the client API authenticates API-key routes
    /// with the refresh token).
    pub async fn user_of_refresh_token(
        &self,
        refresh_token: &str,
    ) -> Result<StoredUser, AuthError> {
        let (claims, _) = self.refresh_session(refresh_token).await?;
        match self.users.get(&claims.sub).await? {
            Some(u) if !u.disabled => Ok(u),
            _ => Err(TokenError::Revoked.into()),
        }
    }

    /// The profile of the user of an access token (`GET /auth/profile`).
    pub async fn profile(&self, access_token: &str) -> Result<Document, AuthError> {
        let user = self.verify(access_token).await?;
        let stored = self
            .users
            .get(&user.id)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        Ok(stored.profile(&self.app.app_id))
    }

    /// Ends the session of a refresh token (logout): every instance refuses its refresh token
    /// at once, and its access tokens within the revocation bound.
    pub async fn logout(&self, refresh_token: &str) -> Result<(), AuthError> {
        let claims = self.tokens.verify_refresh(refresh_token)?;
        self.sessions.end(&claims.baas_id).await?;
        Ok(())
    }

    /// Revokes every session of a user (App Services' "revoke sessions"): later logins work.
    pub async fn revoke(&self, user_id: &str) -> Result<(), AuthError> {
        self.sessions.end_all(user_id).await?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(user_id);
        }
        Ok(())
    }

    /// Disables a user: no login, and every session is revoked.
    pub async fn disable_user(&self, user_id: &str) -> Result<(), AuthError> {
        self.start().await?;
        self.users.update(user_id, |u| u.disabled = true).await?;
        self.revoke(user_id).await
    }

    /// Enables a disabled user (their old sessions stay revoked).
    pub async fn enable_user(&self, user_id: &str) -> Result<(), AuthError> {
        self.start().await?;
        self.users.update(user_id, |u| u.disabled = false).await?;
        Ok(())
    }

    /// Deletes a stored user: their identities, email/password account, API keys and
    /// sessions; then `DELETE` triggers run with every provider of the user. App data (their
    /// documents, custom user data) is not touched.
    pub async fn delete_stored_user(&self, user_id: &str) -> Result<(), AuthError> {
        self.start().await?;
        let deleted = self
            .users
            .delete(user_id)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        self.revoke(user_id).await?;
        self.forget_credentials(&deleted).await?;
        self.fire_triggers("DELETE", &deleted.to_user()).await;
        Ok(())
    }

    /// Deletes a user the embedding application manages: revokes their sessions and runs
    /// `DELETE` triggers (a stored user is deleted with [`Auth::delete_stored_user`]).
    pub async fn delete_user(&self, user: &User) -> Result<(), AuthError> {
        if self.users.get(&user.id).await?.is_some() {
            return self.delete_stored_user(&user.id).await;
        }
        self.revoke(&user.id).await?;
        self.fire_triggers("DELETE", user).await;
        Ok(())
    }

    /// Runs the app's enabled authentication triggers for `operation` as the system user, with
    /// the documented event. Failures are reported through `tracing`, never to the caller (App
    /// Services runs them asynchronously).
    pub(in crate::auth) async fn fire_triggers(&self, operation: &str, user: &User) {
        let providers: Vec<String> = user
            .identities
            .iter()
            .filter_map(|i| i.get_str("provider_type").ok().map(str::to_owned))
            .collect();
        for trigger in self.app.triggers.values() {
            if trigger.disabled
                || trigger.trigger_type != "AUTHENTICATION"
                || !trigger.operation_types.iter().any(|o| o == operation)
            {
                continue;
            }
            if !trigger.providers.is_empty()
                && !providers.is_empty()
                && !providers.iter().any(|p| trigger.providers.contains(p))
            {
                continue;
            }
            let Some(function) = &trigger.function_name else {
                continue;
            };
            let event = doc! {
                "operationType": operation,
                "providers": providers.clone(),
                "user": user.document().clone(),
                "time": bson::DateTime::now(),
            };
            if let Err(e) = self.call(function, vec![Bson::Document(event)]).await {
                tracing::warn!(trigger = %trigger.name, function = %function, error = %e, "authentication trigger failed");
            }
        }
    }

    /// Creates a stored user with one identity (for imports and administration); fails if
    /// the identity exists.
    pub async fn insert_user(&self, user: &StoredUser) -> Result<(), AuthError> {
        self.start().await?;
        self.users.insert(user).await.map_err(|e| match e {
            UsersError::IdentityTaken => AuthError::AccountNameInUse,
            other => other.into(),
        })
    }
}

/// Merges provider metadata into `user.data` (new values win).
fn merge(data: &mut Document, new: &Document) {
    for (k, v) in new {
        data.insert(k.clone(), v.clone());
    }
}

/// A device id as App Services sends it: 24 hex characters.
fn is_device_id(text: &str) -> bool {
    text.len() == 24 && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// The identity an API key or anonymous login carries.
pub(in crate::auth) fn identity(
    id: impl Into<String>,
    provider_type: &str,
    data: Document,
) -> Identity {
    Identity::new(id, provider_type).with_data(data)
}

/// A normal user's type (every provider but server API keys).
pub(in crate::auth) const NORMAL: UserType = UserType::Normal;
