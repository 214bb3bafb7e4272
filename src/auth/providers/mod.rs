//! Authentication providers (https://www.mongodb.com/docs/atlas/app-services/authentication/): each turns a client's credential into an
//! identity; [`crate::auth::Auth::login_with`] finds or creates its user.

mod anon;
mod api_key;
mod custom_function;
mod custom_jwt;
mod userpass;

pub use userpass::{AccountStatus, USERPASS_TOKEN_LIFETIME};

use bson::{Bson, Document};

pub use api_key::ApiKey;

use super::error::AuthError;
use super::service::Auth;
use crate::store::Store;
use crate::users::{Identity, StoredUser};
use crate::UserType;

/// What a client logs in with (the client API's login request bodies).
#[derive(Clone, PartialEq)]
pub enum Credential {
    /// `anon-user`: `{}`.
    Anonymous,
    /// `local-userpass`: `{username, password}`.
    UserPassword {
        /// The email.
        username: String,
        /// The password.
        password: String,
    },
    /// `api-key`: `{key}`.
    ApiKey {
        /// The key's secret.
        key: String,
    },
    /// `custom-token`: `{token}`.
    CustomToken {
        /// The JWT.
        token: String,
    },
    /// `custom-function`: the payload itself.
    CustomFunction {
        /// The client's payload (`options` removed before the function sees it).
        payload: Document,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        write!(f, "Credential({})", self.provider_type())
    }
}

impl Credential {
    /// The provider type it logs in with.
    pub fn provider_type(&self) -> &'static str {
        match self {
            Credential::Anonymous => "anon-user",
            Credential::UserPassword { .. } => "local-userpass",
            Credential::ApiKey { .. } => "api-key",
            Credential::CustomToken { .. } => "custom-token",
            Credential::CustomFunction { .. } => "custom-function",
        }
    }

    /// The credential of a login request body for `provider_type` (the body as the SDKs send
    /// it: `provider` and `options` are ignored, except that a custom function never sees
    /// `options`).
    ///
    /// ```
    /// use bson::doc;
    /// use expanse::auth::Credential;
    /// let c = Credential::from_body("local-userpass", &doc! {"username": "a@b.c", "password": "secret1"}).unwrap();
    /// assert_eq!(c.provider_type(), "local-userpass");
    /// assert!(Credential::from_body("api-key", &doc! {}).is_err());
    /// ```
    pub fn from_body(provider_type: &str, body: &Document) -> Result<Credential, AuthError> {
        let text = |key: &str| {
            body.get_str(key)
                .map(str::to_owned)
                .map_err(|_| AuthError::BadRequest(format!("missing parameter {key:?}")))
        };
        Ok(match provider_type {
            "anon-user" => Credential::Anonymous,
            "local-userpass" => Credential::UserPassword {
                username: text("username")?,
                password: text("password")?,
            },
            "api-key" => Credential::ApiKey { key: text("key")? },
            "custom-token" => Credential::CustomToken {
                token: text("token")?,
            },
            "custom-function" => {
                let mut payload = body.clone();
                payload.remove("options");
                Credential::CustomFunction { payload }
            }
            other => return Err(AuthError::ProviderNotFound(other.to_owned())),
        })
    }
}

/// A credential a provider accepted.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    /// The identity (looked up, or created with its user).
    pub identity: Identity,
    /// Metadata for `user.data` (merged on every login).
    pub user_data: Document,
    /// The type of a user created for it.
    pub user_type: UserType,
    /// The user it belongs to regardless of identity lookup (user API keys).
    pub owner: Option<String>,
}

impl<S: Store + Clone> Auth<S> {
    /// Checks a credential with its provider (which must be configured and enabled).
    pub(crate) async fn authenticate(
        &self,
        credential: Credential,
    ) -> Result<Authenticated, AuthError> {
        let provider = self.provider(credential.provider_type())?.clone();
        match credential {
            Credential::Anonymous => self.anonymous(),
            Credential::UserPassword { username, password } => {
                self.userpass_login(&username, &password).await
            }
            Credential::ApiKey { key } => self.api_key_login(&key).await,
            Credential::CustomToken { token } => self.custom_jwt_login(&provider, &token).await,
            Credential::CustomFunction { payload } => {
                self.custom_function_login(&provider, payload).await
            }
        }
    }

    /// Removes what a deleted user's identities left: their email/password account and
    /// tokens, and their API keys.
    pub(crate) async fn forget_credentials(&self, user: &StoredUser) -> Result<(), AuthError> {
        for identity in &user.identities {
            if identity.provider_type == "local-userpass" {
                self.forget_account(&identity.id).await?;
            }
        }
        self.forget_api_keys(&user.id).await
    }
}

/// A string of a function's answer.
pub(crate) fn status_of(answer: &Bson) -> Option<&str> {
    answer.as_document()?.get_str("status").ok()
}
