//! Users' custom data and tokens (https://www.mongodb.com/docs/atlas/app-services/users/custom-metadata/): lookup, login, refresh, verification,
//! revocation, bounded staleness and authentication triggers.

mod custom_data;
mod service;
mod tokens;

pub use custom_data::find_custom_data;
pub use service::{Auth, AuthError, BoxFuture, Session, SystemFunctions};
pub use tokens::{
    AccessClaims, RefreshClaims, SigningKey, TokenConfig, TokenError, TokenIssuer, TokenPair,
    ACCESS_TOKEN_LIFETIME, REFRESH_TOKEN_LIFETIME,
};
