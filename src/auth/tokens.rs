//! Access and refresh tokens (JWT), as App Services issued them (App Services: https://www.mongodb.com/docs/atlas/app-services/users/sessions/).

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bson::{Bson, Document};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{User, UserType};

/// The App Services access token lifetime: 30 minutes.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// The App Services default refresh token lifetime: 60 days.
pub const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 24 * 3600);
/// "No device" as App Services writes it.
const NO_DEVICE: &str = "000000000000000000000000";

/// How tokens are signed.
#[derive(Clone)]
pub enum SigningKey {
    /// HS256 with a shared secret (the default).
    Hs256(Vec<u8>),
    /// RS256 with a PEM private key (signing) and public key (verifying).
    Rs256 {
        /// PEM private key.
        private_pem: Vec<u8>,
        /// PEM public key.
        public_pem: Vec<u8>,
    },
    /// ES256 (P-256) with PEM keys.
    Es256 {
        /// PEM private key (PKCS#8).
        private_pem: Vec<u8>,
        /// PEM public key.
        public_pem: Vec<u8>,
    },
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SigningKey::Hs256(_) => "SigningKey::Hs256(<secret>)",
            SigningKey::Rs256 { .. } => "SigningKey::Rs256(<keys>)",
            SigningKey::Es256 { .. } => "SigningKey::Es256(<keys>)",
        })
    }
}

/// Token settings.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// The signing key and algorithm.
    pub key: SigningKey,
    /// Access token lifetime (App Services: 30 minutes).
    pub access_lifetime: Duration,
    /// Refresh token lifetime (App Services: 60 days; 30 minutes to 5 years).
    pub refresh_lifetime: Duration,
}

impl TokenConfig {
    /// HS256 with App Services' lifetimes. The secret must be at least 32 bytes.
    pub fn hs256(secret: impl Into<Vec<u8>>) -> Result<TokenConfig, TokenError> {
        let secret = secret.into();
        if secret.len() < 32 {
            return Err(TokenError::Key(
                "an HS256 secret must be at least 32 bytes".into(),
            ));
        }
        Ok(TokenConfig {
            key: SigningKey::Hs256(secret),
            access_lifetime: ACCESS_TOKEN_LIFETIME,
            refresh_lifetime: REFRESH_TOKEN_LIFETIME,
        })
    }
}

/// Why a token is refused. Each refusal is distinct.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token is not three base64url parts with JSON header and claims.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header names another algorithm than the one configured (`none`, or HS256 presented
    /// to an RS256 verifier: algorithm confusion).
    #[error("algorithm {found} is not accepted (expected {expected})")]
    Algorithm {
        /// What the token says.
        found: String,
        /// What is configured.
        expected: String,
    },
    /// The signature does not match (tampered, or signed with another key).
    #[error("signature is invalid")]
    Signature,
    /// Past `exp`.
    #[error("token expired")]
    Expired,
    /// Before `nbf`.
    #[error("token not yet valid")]
    NotYetValid,
    /// An access token where a refresh token is expected, or the reverse.
    #[error("wrong token type: expected {expected}, found {found}")]
    WrongType {
        /// Expected `typ`.
        expected: String,
        /// Found `typ`.
        found: String,
    },
    /// The user's sessions were revoked after the token was issued, or its session ended.
    #[error("token revoked")]
    Revoked,
    /// The keys could not be used.
    #[error("key error: {0}")]
    Key(String),
}

/// Claims of an access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id.
    pub sub: String,
    /// Issued at (seconds).
    pub iat: i64,
    /// Not before (seconds; = `iat`).
    pub nbf: i64,
    /// Expiry (seconds).
    pub exp: i64,
    /// `"access"`.
    pub typ: String,
    /// The session id (App Services puts it in `iss`).
    pub iss: String,
    /// `baas_device_id`.
    pub baas_device_id: String,
    /// The custom user data document (relaxed Extended JSON); absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_data: Option<serde_json::Value>,
    /// The user's type (`normal`, `server`).
    pub expanse_user_type: String,
    /// Provider metadata (`%%user.data`), relaxed Extended JSON.
    #[serde(default)]
    pub expanse_data: serde_json::Value,
    /// Identities (`%%user.identities`), relaxed Extended JSON.
    #[serde(default)]
    pub expanse_identities: serde_json::Value,
    /// The user's revocation epoch when the token was issued.
    #[serde(default)]
    pub expanse_epoch: u64,
}

/// Claims of a refresh token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshClaims {
    /// The user id.
    pub sub: String,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expiry.
    pub exp: i64,
    /// `"refresh"`.
    pub typ: String,
    /// The session id.
    pub baas_id: String,
    /// `baas_device_id`.
    pub baas_device_id: String,
    /// The user's type.
    pub expanse_user_type: String,
    /// Provider metadata.
    #[serde(default)]
    pub expanse_data: serde_json::Value,
    /// Identities.
    #[serde(default)]
    pub expanse_identities: serde_json::Value,
    /// The user's revocation epoch when the token was issued.
    #[serde(default)]
    pub expanse_epoch: u64,
}

/// An access token and a refresh token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenPair {
    /// The access token.
    pub access_token: String,
    /// The refresh token.
    pub refresh_token: String,
    /// The user id.
    pub user_id: String,
    /// The device id (App Services' "none").
    pub device_id: String,
}

/// Revoked sessions: a per-user revocation epoch (tokens carry the epoch they were issued in),
/// and ended sessions.
#[derive(Debug, Default)]
struct Revocations {
    epochs: HashMap<String, u64>,
    sessions: HashSet<String>,
}

/// Issues and verifies tokens.
#[derive(Debug)]
pub struct TokenIssuer {
    config: TokenConfig,
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    revocations: RwLock<Revocations>,
}

pub(crate) fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn to_json(value: Bson) -> serde_json::Value {
    value.into_relaxed_extjson()
}

fn user_parts(user: &User) -> (String, serde_json::Value, serde_json::Value) {
    (
        user.user_type.as_str().to_owned(),
        to_json(Bson::Document(user.data.clone())),
        to_json(Bson::Array(
            user.identities
                .iter()
                .cloned()
                .map(Bson::Document)
                .collect(),
        )),
    )
}

fn document_of(value: &serde_json::Value) -> Document {
    match Bson::try_from(value.clone()) {
        Ok(Bson::Document(d)) => d,
        _ => Document::new(),
    }
}

fn documents_of(value: &serde_json::Value) -> Vec<Document> {
    match Bson::try_from(value.clone()) {
        Ok(Bson::Array(items)) => items
            .into_iter()
            .filter_map(|i| i.as_document().cloned())
            .collect(),
        _ => Vec::new(),
    }
}

fn user_type(text: &str) -> UserType {
    if text == "server" {
        UserType::Server
    } else {
        UserType::Normal
    }
}

impl TokenIssuer {
    /// An issuer for these settings.
    pub fn new(config: TokenConfig) -> Result<TokenIssuer, TokenError> {
        let key_error = |e: jsonwebtoken::errors::Error| TokenError::Key(e.to_string());
        let (algorithm, encoding, decoding) = match &config.key {
            SigningKey::Hs256(secret) => (
                Algorithm::HS256,
                EncodingKey::from_secret(secret),
                DecodingKey::from_secret(secret),
            ),
            SigningKey::Rs256 {
                private_pem,
                public_pem,
            } => (
                Algorithm::RS256,
                EncodingKey::from_rsa_pem(private_pem).map_err(key_error)?,
                DecodingKey::from_rsa_pem(public_pem).map_err(key_error)?,
            ),
            SigningKey::Es256 {
                private_pem,
                public_pem,
            } => (
                Algorithm::ES256,
                EncodingKey::from_ec_pem(private_pem).map_err(key_error)?,
                DecodingKey::from_ec_pem(public_pem).map_err(key_error)?,
            ),
        };
        Ok(TokenIssuer {
            config,
            algorithm,
            encoding,
            decoding,
            revocations: RwLock::new(Revocations::default()),
        })
    }

    /// The settings.
    pub fn config(&self) -> &TokenConfig {
        &self.config
    }

    fn sign<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        let mut header = Header::new(self.algorithm);
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| TokenError::Key(e.to_string()))
    }

    /// A new session for `user`: an access token carrying `custom_data` (omitted when empty)
    /// and a refresh token.
    pub fn issue(&self, user: &User, custom_data: &Document) -> Result<TokenPair, TokenError> {
        let session = bson::oid::ObjectId::new().to_hex();
        let refresh = self.refresh_token(user, &session)?;
        let access = self.access_token(user, custom_data, &session)?;
        Ok(TokenPair {
            access_token: access,
            refresh_token: refresh,
            user_id: user.id.clone(),
            device_id: NO_DEVICE.into(),
        })
    }

    fn refresh_token(&self, user: &User, session: &str) -> Result<String, TokenError> {
        let now = now_seconds();
        let (kind, data, identities) = user_parts(user);
        self.sign(&RefreshClaims {
            sub: user.id.clone(),
            iat: now,
            nbf: now,
            exp: now + self.config.refresh_lifetime.as_secs() as i64,
            typ: "refresh".into(),
            baas_id: session.to_owned(),
            baas_device_id: NO_DEVICE.into(),
            expanse_user_type: kind,
            expanse_data: data,
            expanse_identities: identities,
            expanse_epoch: self.epoch(&user.id),
        })
    }

    fn epoch(&self, user: &str) -> u64 {
        self.revocations
            .read()
            .map(|r| r.epochs.get(user).copied().unwrap_or(0))
            .unwrap_or(u64::MAX)
    }

    /// An access token for an existing session.
    pub fn access_token(
        &self,
        user: &User,
        custom_data: &Document,
        session: &str,
    ) -> Result<String, TokenError> {
        let now = now_seconds();
        let (kind, data, identities) = user_parts(user);
        self.sign(&AccessClaims {
            sub: user.id.clone(),
            iat: now,
            nbf: now,
            exp: now + self.config.access_lifetime.as_secs() as i64,
            typ: "access".into(),
            iss: session.to_owned(),
            baas_device_id: NO_DEVICE.into(),
            user_data: (!custom_data.is_empty())
                .then(|| to_json(Bson::Document(custom_data.clone()))),
            expanse_user_type: kind,
            expanse_data: data,
            expanse_identities: identities,
            expanse_epoch: self.epoch(&user.id),
        })
    }

    /// Checks the header's algorithm before anything else, so `alg: none` and algorithm
    /// confusion are refused as such.
    fn check_algorithm(&self, token: &str) -> Result<(), TokenError> {
        let header_part = token.split('.').next().unwrap_or_default();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header_part)
            .map_err(|_| TokenError::Malformed("the header is not base64url".into()))?;
        let header: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|_| TokenError::Malformed("the header is not JSON".into()))?;
        let found = header
            .get("alg")
            .and_then(|a| a.as_str())
            .unwrap_or("(missing)")
            .to_owned();
        let expected = format!("{:?}", self.algorithm);
        if found != expected {
            return Err(TokenError::Algorithm { found, expected });
        }
        if token.split('.').count() != 3 {
            return Err(TokenError::Malformed("a JWT has three parts".into()));
        }
        Ok(())
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, token: &str) -> Result<T, TokenError> {
        self.check_algorithm(token)?;
        let mut validation = Validation::new(self.algorithm);
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub", "iat", "nbf"]);
        use jsonwebtoken::errors::ErrorKind;
        jsonwebtoken::decode::<T>(token.as_bytes(), &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                ErrorKind::InvalidSignature => TokenError::Signature,
                ErrorKind::InvalidAlgorithm => TokenError::Algorithm {
                    found: "(mismatch)".into(),
                    expected: format!("{:?}", self.algorithm),
                },
                other => TokenError::Malformed(format!("{other:?}")),
            })
    }

    /// Verifies signature and times, then the token type, then reads the claims.
    fn decode_typed<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        expected: &str,
    ) -> Result<T, TokenError> {
        let raw: serde_json::Value = self.decode(token)?;
        let found = raw
            .get("typ")
            .and_then(|t| t.as_str())
            .unwrap_or("(missing)");
        Self::check_type(found, expected)?;
        serde_json::from_value(raw).map_err(|e| TokenError::Malformed(format!("claims: {e}")))
    }

    fn check_type(found: &str, expected: &str) -> Result<(), TokenError> {
        if found == expected {
            Ok(())
        } else {
            Err(TokenError::WrongType {
                expected: expected.into(),
                found: found.into(),
            })
        }
    }

    fn check_revoked(&self, user: &str, epoch: u64, session: &str) -> Result<(), TokenError> {
        let revocations = self.revocations.read().map_err(|_| TokenError::Revoked)?;
        if revocations.sessions.contains(session)
            || revocations
                .epochs
                .get(user)
                .is_some_and(|current| epoch < *current)
        {
            return Err(TokenError::Revoked);
        }
        Ok(())
    }

    /// Verifies an access token.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let claims: AccessClaims = self.decode_typed(token, "access")?;
        self.check_revoked(&claims.sub, claims.expanse_epoch, &claims.iss)?;
        Ok(claims)
    }

    /// Verifies a refresh token.
    pub fn verify_refresh(&self, token: &str) -> Result<RefreshClaims, TokenError> {
        let claims: RefreshClaims = self.decode_typed(token, "refresh")?;
        self.check_revoked(&claims.sub, claims.expanse_epoch, &claims.baas_id)?;
        Ok(claims)
    }

    /// The user an access token stands for, as rules see it (`%%user`).
    pub fn user_of(claims: &AccessClaims) -> User {
        User::new(claims.sub.clone())
            .with_type(user_type(&claims.expanse_user_type))
            .with_data(document_of(&claims.expanse_data))
            .with_identities(documents_of(&claims.expanse_identities))
            .with_custom_data(
                claims
                    .user_data
                    .as_ref()
                    .map(document_of)
                    .unwrap_or_default(),
            )
    }

    /// The user a refresh token stands for (custom data to be read again).
    pub fn user_of_refresh(claims: &RefreshClaims) -> User {
        User::new(claims.sub.clone())
            .with_type(user_type(&claims.expanse_user_type))
            .with_data(document_of(&claims.expanse_data))
            .with_identities(documents_of(&claims.expanse_identities))
    }

    /// Revokes every token issued to `user_id` so far (App Services' "revoke sessions");
    /// tokens issued afterwards work.
    pub fn revoke_user(&self, user_id: &str) {
        if let Ok(mut r) = self.revocations.write() {
            *r.epochs.entry(user_id.to_owned()).or_insert(0) += 1;
        }
    }

    /// Ends one session (logout): its refresh token stops working, and so do its access tokens
    /// (stricter than App Services, where issued access tokens lived on until they expired).
    pub fn end_session(&self, session: &str) {
        if let Ok(mut r) = self.revocations.write() {
            r.sessions.insert(session.to_owned());
        }
    }
}
