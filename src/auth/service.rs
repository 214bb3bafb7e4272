//! Logging users in: custom user data, tokens, refresh, staleness, authentication triggers.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bson::{doc, Bson, Document};

use super::custom_data::find_custom_data;
use super::tokens::{now_seconds, TokenError, TokenIssuer, TokenPair};
use crate::app::App;
use crate::store::{Store, StoreError};
use crate::User;

/// A boxed future (for object-safe async hooks).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs app functions as the system user: the user creation function and authentication
/// triggers. The function runtime implements it.
pub trait SystemFunctions: Send + Sync {
    /// Calls `name` as the system user with `args`.
    fn call_as_system<'a>(
        &'a self,
        name: &'a str,
        args: Vec<Bson>,
    ) -> BoxFuture<'a, Result<Bson, String>>;
}

/// Why a login, refresh or verification failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    /// The token was refused.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The custom user data could not be read.
    #[error("custom user data: {0}")]
    Store(#[from] StoreError),
    /// The user creation function failed, so the user was not created.
    #[error("user creation function {name} failed: {message}")]
    CreationFunction {
        /// The function.
        name: String,
        /// Its error.
        message: String,
    },
    /// A function is configured but no runtime is available to run it.
    #[error("function {0} is configured but no function runtime is available")]
    NoRuntime(String),
}

/// A logged-in user and their tokens.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user as rules see them (custom data as of the access token).
    pub user: User,
    /// The tokens.
    pub tokens: TokenPair,
}

/// Authentication for one app over one store.
pub struct Auth<S: Store> {
    app: Arc<App>,
    store: S,
    tokens: TokenIssuer,
    functions: Option<Arc<dyn SystemFunctions>>,
    max_staleness: Option<Duration>,
    cache: Mutex<HashMap<String, (Instant, Document)>>,
}

impl<S: Store> Auth<S> {
    /// Authentication for `app`, reading custom user data from `store`.
    pub fn new(app: Arc<App>, store: S, tokens: TokenIssuer) -> Auth<S> {
        Auth {
            app,
            store,
            tokens,
            functions: None,
            max_staleness: None,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The runtime for the user creation function and authentication triggers.
    pub fn with_functions(mut self, functions: Arc<dyn SystemFunctions>) -> Auth<S> {
        self.functions = Some(functions);
        self
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

    async fn custom_data(&self, user_id: &str) -> Result<Document, AuthError> {
        match &self.app.custom_user_data {
            Some(config) => Ok(find_custom_data(&self.store, config, user_id).await?),
            None => Ok(Document::new()),
        }
    }

    async fn call(&self, name: &str, args: Vec<Bson>) -> Result<Bson, AuthError> {
        let functions = self
            .functions
            .as_ref()
            .ok_or_else(|| AuthError::NoRuntime(name.to_owned()))?;
        functions
            .call_as_system(name, args)
            .await
            .map_err(|message| AuthError::CreationFunction {
                name: name.to_owned(),
                message,
            })
    }

    /// Registers a new user: the user creation function runs first (its failure fails the
    /// creation), then `CREATE` triggers, then the user is logged in.
    pub async fn create_user(&self, user: User) -> Result<Session, AuthError> {
        let creation = self
            .app
            .custom_user_data
            .as_ref()
            .and_then(|c| c.on_user_creation_function_name.clone());
        if let Some(name) = creation {
            self.call(&name, vec![Bson::Document(user.document().clone())])
                .await?;
        }
        self.fire_triggers("CREATE", &user).await;
        self.login(user).await
    }

    /// Logs a user in: reads their custom data, issues tokens, then runs `LOGIN` triggers (the
    /// token carries the data as it was before the triggers ran, as in App Services).
    pub async fn login(&self, user: User) -> Result<Session, AuthError> {
        let custom_data = self.custom_data(&user.id).await?;
        let user = user.with_custom_data(custom_data.clone());
        let tokens = self.tokens.issue(&user, &custom_data)?;
        self.fire_triggers("LOGIN", &user).await;
        Ok(Session { user, tokens })
    }

    /// A new access token for a refresh token, with custom data read again.
    pub async fn refresh(&self, refresh_token: &str) -> Result<String, AuthError> {
        let claims = self.tokens.verify_refresh(refresh_token)?;
        let custom_data = self.custom_data(&claims.sub).await?;
        let user = TokenIssuer::user_of_refresh(&claims).with_custom_data(custom_data.clone());
        Ok(self
            .tokens
            .access_token(&user, &custom_data, &claims.baas_id)?)
    }

    /// The user an access token stands for, as rules see them. With a staleness bound, custom
    /// data older than the bound is read again.
    pub async fn verify(&self, access_token: &str) -> Result<User, AuthError> {
        let claims = self.tokens.verify_access(access_token)?;
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

    /// Ends the session of a refresh token (logout).
    pub fn logout(&self, refresh_token: &str) -> Result<(), AuthError> {
        let claims = self.tokens.verify_refresh(refresh_token)?;
        self.tokens.end_session(&claims.baas_id);
        Ok(())
    }

    /// Revokes every session of a user.
    pub fn revoke(&self, user_id: &str) {
        self.tokens.revoke_user(user_id);
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(user_id);
        }
    }

    /// Deletes a user: revokes their sessions and runs `DELETE` triggers.
    pub async fn delete_user(&self, user: &User) {
        self.revoke(&user.id);
        self.fire_triggers("DELETE", user).await;
    }

    /// Runs the app's enabled authentication triggers for `operation` as the system user, with
    /// the documented event. Failures are reported through `tracing`, never to the caller (App
    /// Services runs them asynchronously).
    async fn fire_triggers(&self, operation: &str, user: &User) {
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
}
