//! Access and refresh tokens (JWT), as App Services issued them (App Services: https://www.mongodb.com/docs/atlas/app-services/users/sessions/).

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
pub const NO_DEVICE: &str = "000000000000000000000000";

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
    /// The token's session ended (logout), was revoked, or its user was disabled or deleted.
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

/// Issues and verifies tokens. Signature and times only: whether a token's session still
/// exists is the [`crate::auth::Auth`] service's question (sessions live in the database).
///
/// Keys rotate: [`TokenIssuer::with_previous_keys`] adds keys that still verify (the
/// configured key alone signs), until they are removed from the list.
///
/// ```
/// use expanse::auth::{SigningKey, TokenConfig, TokenIssuer};
/// let old = TokenIssuer::new(TokenConfig::hs256(vec![b'a'; 32]).unwrap()).unwrap();
/// let token = old.issue(&expanse::User::new("u1"), &bson::doc! {}).unwrap();
/// let new = TokenIssuer::new(TokenConfig::hs256(vec![b'b'; 32]).unwrap())
///     .unwrap()
///     .with_previous_keys(vec![SigningKey::Hs256(vec![b'a'; 32])])
///     .unwrap();
/// assert_eq!(new.verify_access(&token.access_token).unwrap().sub, "u1");
/// ```
#[derive(Debug)]
pub struct TokenIssuer {
    config: TokenConfig,
    algorithm: Algorithm,
    encoding: EncodingKey,
    /// The signing key's verifier first, then the previous keys'.
    decoding: Vec<(Algorithm, DecodingKey)>,
}

/// The algorithm and verifying key of a signing key.
fn verifier(key: &SigningKey) -> Result<(Algorithm, DecodingKey), TokenError> {
    let key_error = |e: jsonwebtoken::errors::Error| TokenError::Key(e.to_string());
    Ok(match key {
        SigningKey::Hs256(secret) => (Algorithm::HS256, DecodingKey::from_secret(secret)),
        SigningKey::Rs256 { public_pem, .. } => (
            Algorithm::RS256,
            DecodingKey::from_rsa_pem(public_pem).map_err(key_error)?,
        ),
        SigningKey::Es256 { public_pem, .. } => (
            Algorithm::ES256,
            DecodingKey::from_ec_pem(public_pem).map_err(key_error)?,
        ),
    })
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
        let encoding = match &config.key {
            SigningKey::Hs256(secret) => EncodingKey::from_secret(secret),
            SigningKey::Rs256 { private_pem, .. } => {
                EncodingKey::from_rsa_pem(private_pem).map_err(key_error)?
            }
            SigningKey::Es256 { private_pem, .. } => {
                EncodingKey::from_ec_pem(private_pem).map_err(key_error)?
            }
        };
        let (algorithm, decoding) = verifier(&config.key)?;
        Ok(TokenIssuer {
            config,
            algorithm,
            encoding,
            decoding: vec![(algorithm, decoding)],
        })
    }

    /// Adds keys that verify tokens but never sign (key rotation: tokens signed with a previous
    /// key stay valid until their key is dropped from this list or they expire). A previous key
    /// may use another algorithm than the signing key (HS256, RS256, ES256).
    pub fn with_previous_keys(mut self, keys: Vec<SigningKey>) -> Result<TokenIssuer, TokenError> {
        for key in &keys {
            if let SigningKey::Hs256(secret) = key {
                if secret.len() < 32 {
                    return Err(TokenError::Key(
                        "an HS256 secret must be at least 32 bytes".into(),
                    ));
                }
            }
            self.decoding.push(verifier(key)?);
        }
        Ok(self)
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

    /// A token pair for `user` on a new session id, with no device and the configured refresh
    /// lifetime (the session is not recorded anywhere: [`crate::auth::Auth::login`] records
    /// it).
    pub fn issue(&self, user: &User, custom_data: &Document) -> Result<TokenPair, TokenError> {
        let session = bson::oid::ObjectId::new().to_hex();
        let refresh_exp = now_seconds() + self.config.refresh_lifetime.as_secs() as i64;
        self.issue_for(user, custom_data, &session, NO_DEVICE, refresh_exp)
    }

    /// A token pair for `user` on the session `session` and device `device_id`, the refresh
    /// token expiring at `refresh_exp` (seconds since the epoch).
    pub fn issue_for(
        &self,
        user: &User,
        custom_data: &Document,
        session: &str,
        device_id: &str,
        refresh_exp: i64,
    ) -> Result<TokenPair, TokenError> {
        let refresh = self.refresh_token(user, session, device_id, refresh_exp)?;
        let access = self.access_token_on(user, custom_data, session, device_id)?;
        Ok(TokenPair {
            access_token: access,
            refresh_token: refresh,
            user_id: user.id.clone(),
            device_id: device_id.to_owned(),
        })
    }

    fn refresh_token(
        &self,
        user: &User,
        session: &str,
        device_id: &str,
        exp: i64,
    ) -> Result<String, TokenError> {
        let now = now_seconds();
        let (kind, data, identities) = user_parts(user);
        self.sign(&RefreshClaims {
            sub: user.id.clone(),
            iat: now,
            nbf: now,
            exp,
            typ: "refresh".into(),
            baas_id: session.to_owned(),
            baas_device_id: device_id.to_owned(),
            expanse_user_type: kind,
            expanse_data: data,
            expanse_identities: identities,
        })
    }

    /// An access token for an existing session (no device).
    pub fn access_token(
        &self,
        user: &User,
        custom_data: &Document,
        session: &str,
    ) -> Result<String, TokenError> {
        self.access_token_on(user, custom_data, session, NO_DEVICE)
    }

    /// An access token for an existing session on a device.
    pub fn access_token_on(
        &self,
        user: &User,
        custom_data: &Document,
        session: &str,
        device_id: &str,
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
            baas_device_id: device_id.to_owned(),
            user_data: (!custom_data.is_empty())
                .then(|| to_json(Bson::Document(custom_data.clone()))),
            expanse_user_type: kind,
            expanse_data: data,
            expanse_identities: identities,
        })
    }

    /// Checks the header's algorithm before anything else, so `alg: none` and algorithm
    /// confusion are refused as such; returns the algorithm.
    fn check_algorithm(&self, token: &str) -> Result<Algorithm, TokenError> {
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
        let Some(algorithm) = self
            .decoding
            .iter()
            .map(|(a, _)| *a)
            .find(|a| format!("{a:?}") == found)
        else {
            return Err(TokenError::Algorithm {
                found,
                expected: self.expected_algorithms(),
            });
        };
        if token.split('.').count() != 3 {
            return Err(TokenError::Malformed("a JWT has three parts".into()));
        }
        Ok(algorithm)
    }

    fn expected_algorithms(&self) -> String {
        let mut names: Vec<String> = Vec::new();
        for (a, _) in &self.decoding {
            let name = format!("{a:?}");
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names.join(" or ")
    }

    /// Verifies with each key of the token's algorithm, the signing key first; the first key
    /// whose signature matches decides.
    fn decode<T: serde::de::DeserializeOwned>(&self, token: &str) -> Result<T, TokenError> {
        let algorithm = self.check_algorithm(token)?;
        let mut validation = Validation::new(algorithm);
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub", "iat", "nbf"]);
        use jsonwebtoken::errors::ErrorKind;
        let mut last = TokenError::Signature;
        for (_, key) in self.decoding.iter().filter(|(a, _)| *a == algorithm) {
            match jsonwebtoken::decode::<T>(token.as_bytes(), key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => {
                    last = match e.kind() {
                        ErrorKind::InvalidSignature => TokenError::Signature,
                        ErrorKind::ExpiredSignature => return Err(TokenError::Expired),
                        ErrorKind::ImmatureSignature => return Err(TokenError::NotYetValid),
                        ErrorKind::InvalidAlgorithm => TokenError::Algorithm {
                            found: "(mismatch)".into(),
                            expected: self.expected_algorithms(),
                        },
                        other => return Err(TokenError::Malformed(format!("{other:?}"))),
                    }
                }
            }
        }
        Err(last)
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

    /// Verifies an access token's signature, times and type (not its session: see
    /// [`crate::auth::Auth::verify`]).
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        self.decode_typed(token, "access")
    }

    /// Verifies a refresh token's signature, times and type (not its session: see
    /// [`crate::auth::Auth::refresh`]).
    pub fn verify_refresh(&self, token: &str) -> Result<RefreshClaims, TokenError> {
        self.decode_typed(token, "refresh")
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
}
