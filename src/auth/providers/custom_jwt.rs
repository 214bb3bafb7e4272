//! `custom-token` (Custom JWT, https://www.mongodb.com/docs/atlas/app-services/authentication/custom-jwt/): a JWT signed by the app's identity provider,
//! HS256 or RS256 with up to three keys (Secrets), or RS256 from a JWK set (`kid` required).
//! `aud` must hold every configured audience (or any one with `requireAnyAudience`; the client
//! App ID when none is configured), `sub` becomes the identity id, `exp` is required, `nbf`
//! and `iat` must not be in the future (no clock-skew leeway). `metadata_fields` copy claims
//! (dotted paths, `\.` a literal dot) into `user.data` and the identity's data on every login.

use bson::{Bson, Document};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::Authenticated;
use crate::app::AuthProviderConfig;
use crate::auth::error::AuthError;
use crate::auth::service::{identity, Auth, NORMAL};
use crate::store::Store;

/// The longest JWT accepted, in characters.
const MAX_TOKEN: usize = 1_000_000;
/// The longest metadata value, in characters of its JSON.
const MAX_FIELD: usize = 4096;

fn refused(reason: &str) -> AuthError {
    AuthError::CustomToken(reason.to_owned())
}

fn strings(value: Option<&Bson>) -> Vec<String> {
    match value {
        Some(Bson::String(s)) if !s.is_empty() => vec![s.clone()],
        Some(Bson::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

impl<S: Store + Clone> Auth<S> {
    async fn jwt_keys(
        &self,
        provider: &AuthProviderConfig,
        header: &jsonwebtoken::Header,
    ) -> Result<Vec<DecodingKey>, AuthError> {
        if provider.flag("useJWKURI") {
            let uri = provider
                .text("jwkURI")
                .ok_or_else(|| AuthError::Config("no jwkURI".into()))?;
            let kid = header
                .kid
                .as_deref()
                .ok_or_else(|| refused("the token's header has no kid"))?;
            return Ok(vec![self.jwks.key(uri, &self.app.dir, kid).await?]);
        }
        let rsa = provider.text("signingAlgorithm") == Some("RS256");
        let mut keys = Vec::new();
        for name in strings(provider.secret_config.get("signingKeys")) {
            let secret = self
                .secret(&name)
                .ok_or_else(|| AuthError::Config(format!("secret {name:?} is not set")))?;
            keys.push(if rsa {
                DecodingKey::from_rsa_pem(secret.as_bytes()).map_err(|_| {
                    AuthError::Config(format!("secret {name:?} is not an RSA public key"))
                })?
            } else {
                DecodingKey::from_secret(secret.as_bytes())
            });
        }
        Ok(keys)
    }

    pub(crate) async fn custom_jwt_login(
        &self,
        provider: &AuthProviderConfig,
        token: &str,
    ) -> Result<Authenticated, AuthError> {
        if token.len() > MAX_TOKEN {
            return Err(refused("the token is too long"));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| refused("the token is malformed"))?;
        let algorithm =
            if provider.text("signingAlgorithm") == Some("RS256") || provider.flag("useJWKURI") {
                Algorithm::RS256
            } else {
                Algorithm::HS256
            };
        if header.alg != algorithm {
            return Err(refused("the token's algorithm is not the configured one"));
        }
        if header
            .typ
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("JWT"))
        {
            return Err(refused("the token's typ is not JWT"));
        }
        let mut validation = Validation::new(algorithm);
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        let mut claims = None;
        let mut last = refused("no signing key is configured");
        for key in self.jwt_keys(provider, &header).await? {
            use jsonwebtoken::errors::ErrorKind;
            match jsonwebtoken::decode::<serde_json::Value>(token.as_bytes(), &key, &validation) {
                Ok(data) => {
                    claims = Some(data.claims);
                    break;
                }
                Err(e) => {
                    last = match e.kind() {
                        ErrorKind::ExpiredSignature => return Err(refused("the token expired")),
                        ErrorKind::ImmatureSignature => {
                            return Err(refused("the token is not valid yet"))
                        }
                        ErrorKind::MissingRequiredClaim(c) => {
                            return Err(refused(&format!("the token has no {c} claim")))
                        }
                        ErrorKind::InvalidSignature => refused("signature is invalid"),
                        _ => refused("the token is malformed"),
                    }
                }
            }
        }
        let claims = claims.ok_or(last)?;
        if claims
            .get("iat")
            .and_then(|i| i.as_i64())
            .is_some_and(|iat| iat > crate::auth::tokens::now_seconds())
        {
            return Err(refused("the token is not valid yet"));
        }
        self.check_audience(provider, &claims)?;
        let sub = match claims.get("sub") {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(refused("the token's sub is not a string")),
        };
        let data = metadata(provider, &claims)?;
        Ok(Authenticated {
            identity: identity(sub, "custom-token", data.clone()),
            user_data: data,
            user_type: NORMAL,
            owner: None,
        })
    }

    fn check_audience(
        &self,
        provider: &AuthProviderConfig,
        claims: &serde_json::Value,
    ) -> Result<(), AuthError> {
        let mut expected = strings(provider.config.get("audience"));
        if expected.is_empty() && !self.app.app_id.is_empty() {
            expected.push(self.app.app_id.clone());
        }
        if expected.is_empty() {
            return Err(AuthError::Config(
                "custom-token has no audience and the app has no client App ID".into(),
            ));
        }
        let found: Vec<&str> = match claims.get("aud") {
            Some(serde_json::Value::String(s)) => vec![s.as_str()],
            Some(serde_json::Value::Array(items)) => {
                items.iter().filter_map(|i| i.as_str()).collect()
            }
            _ => Vec::new(),
        };
        let any = provider.flag("requireAnyAudience");
        let ok = if any {
            expected.iter().any(|e| found.contains(&e.as_str()))
        } else {
            expected.iter().all(|e| found.contains(&e.as_str()))
        };
        if ok {
            Ok(())
        } else {
            Err(refused("the token's audience is not accepted"))
        }
    }
}

/// The configured metadata fields of the claims.
fn metadata(
    provider: &AuthProviderConfig,
    claims: &serde_json::Value,
) -> Result<Document, AuthError> {
    let mut data = Document::new();
    for field in &provider.metadata_fields {
        let mut value = Some(claims);
        for segment in field.segments() {
            value = value.and_then(|v| v.get(&segment));
        }
        let value = value.filter(|v| !v.is_null());
        let Some(value) = value else {
            if field.required {
                return Err(refused(&format!(
                    "the token has no required metadata field {:?}",
                    field.name
                )));
            }
            continue;
        };
        if value.to_string().chars().count() > MAX_FIELD {
            if field.required {
                return Err(refused(&format!(
                    "metadata field {:?} is longer than 4096 characters",
                    field.name
                )));
            }
            continue;
        }
        let bson = Bson::try_from(value.clone())
            .map_err(|_| refused("a metadata field cannot be read"))?;
        data.insert(field.key(), bson);
    }
    Ok(data)
}
