//! Authentication: providers, users and identities, sessions in the database, tokens with key
//! rotation, custom user data, and authentication triggers
//! (https://www.mongodb.com/docs/atlas/app-services/authentication/,
//! https://www.mongodb.com/docs/atlas/app-services/users/sessions/).

mod crypto;
mod custom_data;
mod email;
mod error;
mod import;
mod jwks;
mod jwks_fetch;
mod password;
mod providers;
mod request_auth;
mod service;
mod sessions;
mod tokens;

pub use crypto::{random_secret, RandomError};
pub use custom_data::find_custom_data;
pub use email::{Email, EmailKind, EmailSender, SendError};
pub use error::AuthError;
pub use import::ImportReport;
pub use jwks::{JwksCache, JwksError, JwksFetcher};
pub use jwks_fetch::{check_jwk_url, HttpJwksFetcher, DEFAULT_JWKS_MAX_BODY, DEFAULT_JWKS_TIMEOUT};
pub use password::{PasswordError, PasswordParams, Passwords};
pub use providers::{AccountStatus, USERPASS_TOKEN_LIFETIME};
pub use providers::{ApiKey, Credential};
pub use service::{Auth, BoxFuture, Session, SystemFunctions, ANONYMOUS_INACTIVITY};
pub use sessions::{SessionRecord, Sessions, DEFAULT_REVOCATION_BOUND};
pub use tokens::{
    AccessClaims, Claims, RefreshClaims, SigningKey, TokenConfig, TokenError, TokenIssuer,
    TokenPair, ACCESS_TOKEN_LIFETIME, NO_DEVICE, REFRESH_TOKEN_LIFETIME,
};
