//! Why an authentication operation failed, with App Services' error codes.
//!
//! No message carries a password, token, API key, secret or stored value.

use super::jwks::JwksError;
use super::password::PasswordError;
use super::tokens::TokenError;
use crate::store::StoreError;
use crate::users::UsersError;

/// Why a login, registration, refresh, verification or user operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    /// The token was refused (signature, expiry, type; `Revoked`: its session ended).
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The database failed (the operation fails closed).
    #[error("custom user data: {0}")]
    Store(#[from] StoreError),
    /// The users store failed.
    #[error("users: {0}")]
    Users(UsersError),
    /// The user creation function failed, so the user was not created.
    #[error("function {name} failed: {message}")]
    CreationFunction {
        /// The function.
        name: String,
        /// Its error.
        message: String,
    },
    /// A function is configured but no runtime is available to run it.
    #[error("function {0} is configured but no function runtime is available")]
    NoRuntime(String),
    /// The app has no such provider.
    #[error("authentication provider {0:?} is not configured")]
    ProviderNotFound(String),
    /// The provider is disabled.
    #[error("authentication provider {0:?} is disabled")]
    ProviderDisabled(String),
    /// Registering an email that has an account (pending or confirmed).
    #[error("name already in use")]
    AccountNameInUse,
    /// Wrong email or password (the same answer for an unknown email).
    #[error("invalid username/password")]
    InvalidPassword,
    /// An imported email/password user must reset their password first.
    #[error("password reset required")]
    PasswordResetRequired,
    /// The account has not been confirmed yet.
    #[error("confirmation required")]
    ConfirmationRequired,
    /// No such user (or email).
    #[error("user not found")]
    UserNotFound,
    /// The user is disabled.
    #[error("user disabled")]
    UserDisabled,
    /// The account is already confirmed.
    #[error("already confirmed")]
    UserAlreadyConfirmed,
    /// A confirmation or reset token that is unknown, used, expired or for another purpose.
    #[error("invalid token data")]
    UserpassTokenInvalid,
    /// A malformed request (password length, wrong mode, a function answering `fail`, …).
    #[error("{0}")]
    BadRequest(String),
    /// An API key that does not exist or is disabled.
    #[error("invalid API key")]
    InvalidApiKey,
    /// No such API key.
    #[error("API key not found")]
    ApiKeyNotFound,
    /// An API key with this name exists for this owner.
    #[error("API key name already exists")]
    ApiKeyAlreadyExists,
    /// A custom JWT was refused (the reason names no claim value).
    #[error("invalid custom auth token: {0}")]
    CustomToken(String),
    /// The custom authentication function refused the login (its message).
    #[error("{0}")]
    FunctionRefused(String),
    /// Linking refused.
    #[error("cannot link identity: {0}")]
    Link(String),
    /// A custom JWT's JWK set could not be read (the login is refused).
    #[error("custom JWT: {0}")]
    Jwks(#[from] JwksError),
    /// Expanse is misconfigured (a missing secret, no email sender, …).
    #[error("configuration: {0}")]
    Config(String),
}

impl From<UsersError> for AuthError {
    fn from(e: UsersError) -> AuthError {
        match e {
            UsersError::Store(s) => AuthError::Store(s),
            UsersError::NotFound => AuthError::UserNotFound,
            other => AuthError::Users(other),
        }
    }
}

impl From<PasswordError> for AuthError {
    fn from(e: PasswordError) -> AuthError {
        AuthError::Config(e.to_string())
    }
}

impl AuthError {
    /// App Services' `error_code`.
    ///
    /// ```
    /// use expanse::auth::AuthError;
    /// assert_eq!(AuthError::AccountNameInUse.code(), "AccountNameInUse");
    /// assert_eq!(AuthError::AccountNameInUse.status(), 409);
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Token(_) => "InvalidSession",
            AuthError::Store(_) | AuthError::Users(_) | AuthError::NoRuntime(_) => {
                "InternalServerError"
            }
            AuthError::Config(_) | AuthError::Jwks(_) => "InternalServerError",
            AuthError::CreationFunction { .. } => "FunctionExecutionError",
            AuthError::ProviderNotFound(_) | AuthError::ProviderDisabled(_) => {
                "AuthProviderNotFound"
            }
            AuthError::AccountNameInUse => "AccountNameInUse",
            AuthError::InvalidPassword | AuthError::PasswordResetRequired => "InvalidPassword",
            AuthError::ConfirmationRequired => "AuthError",
            AuthError::UserNotFound => "UserNotFound",
            AuthError::UserDisabled => "UserDisabled",
            AuthError::UserAlreadyConfirmed => "UserAlreadyConfirmed",
            AuthError::UserpassTokenInvalid => "UserpassTokenInvalid",
            AuthError::BadRequest(_) => "BadRequest",
            AuthError::InvalidApiKey => "AuthError",
            AuthError::ApiKeyNotFound => "APIKeyNotFound",
            AuthError::ApiKeyAlreadyExists => "APIKeyAlreadyExists",
            AuthError::CustomToken(_) | AuthError::FunctionRefused(_) => "AuthError",
            AuthError::Link(_) => "BadRequest",
        }
    }

    /// The HTTP status the client API answers with.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Token(_)
            | AuthError::InvalidPassword
            | AuthError::PasswordResetRequired
            | AuthError::ConfirmationRequired
            | AuthError::UserDisabled
            | AuthError::InvalidApiKey
            | AuthError::CustomToken(_)
            | AuthError::FunctionRefused(_) => 401,
            AuthError::AccountNameInUse
            | AuthError::UserAlreadyConfirmed
            | AuthError::ApiKeyAlreadyExists => 409,
            AuthError::UserNotFound | AuthError::ApiKeyNotFound => 404,
            AuthError::ProviderNotFound(_)
            | AuthError::ProviderDisabled(_)
            | AuthError::UserpassTokenInvalid
            | AuthError::BadRequest(_)
            | AuthError::Link(_)
            | AuthError::CreationFunction { .. } => 400,
            AuthError::Store(StoreError::Unavailable(_)) => 503,
            AuthError::Jwks(e) if e.provider_failed() => 503,
            AuthError::Store(_)
            | AuthError::Users(_)
            | AuthError::NoRuntime(_)
            | AuthError::Config(_)
            | AuthError::Jwks(_) => 500,
        }
    }
}
