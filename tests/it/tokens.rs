//! Tokens: issuing, verifying, and every refusal (App Services' user sessions).

use base64::Engine;
use bson::doc;
use expanse::auth::{
    SigningKey, TokenConfig, TokenError, TokenIssuer, ACCESS_TOKEN_LIFETIME, REFRESH_TOKEN_LIFETIME,
};
use expanse::User;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

fn hs256() -> TokenIssuer {
    TokenIssuer::new(TokenConfig::hs256(SECRET.to_vec()).unwrap()).unwrap()
}

fn keys(algorithm: &str) -> SigningKey {
    let read = |name: &str| std::fs::read(format!("tests/keys/{name}")).unwrap();
    match algorithm {
        "rs256" => SigningKey::Rs256 {
            private_pem: read("rsa_private.pem"),
            public_pem: read("rsa_public.pem"),
        },
        _ => SigningKey::Es256 {
            private_pem: read("ec_private.pem"),
            public_pem: read("ec_public.pem"),
        },
    }
}

fn issuer(key: SigningKey) -> TokenIssuer {
    TokenIssuer::new(TokenConfig {
        key,
        access_lifetime: ACCESS_TOKEN_LIFETIME,
        refresh_lifetime: REFRESH_TOKEN_LIFETIME,
    })
    .unwrap()
}

fn alice() -> User {
    User::new("u1")
        .with_data(doc! {"email": "a@example.com"})
        .with_identities(vec![doc! {"id": "a", "provider_type": "local-userpass"}])
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(iat: i64, exp: i64, typ: &str) -> serde_json::Value {
    serde_json::json!({"sub": "u1", "iat": iat, "nbf": iat, "exp": exp, "typ": typ, "iss": "s", "baas_device_id": "0",
        "expanse_user_type": "normal", "expanse_data": {}, "expanse_identities": []})
}

fn signed(claims: &serde_json::Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

#[test]
fn access_tokens_carry_the_app_services_claims() {
    let issuer = hs256();
    let pair = issuer
        .issue(&alice(), &doc! {"_id": 1, "user_id": "u1", "lang": "fr"})
        .unwrap();
    let claims = issuer.verify_access(&pair.access_token).unwrap();
    assert_eq!(claims.sub, "u1");
    assert_eq!(claims.typ, "access");
    assert_eq!(claims.exp - claims.iat, 1800);
    assert_eq!(
        claims.user_data,
        Some(serde_json::json!({"_id": 1, "user_id": "u1", "lang": "fr"}))
    );
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(pair.access_token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header, serde_json::json!({"alg": "HS256", "typ": "JWT"}));
    let refresh = issuer.verify_refresh(&pair.refresh_token).unwrap();
    assert_eq!(refresh.exp - refresh.iat, 60 * 24 * 3600);
    assert_eq!(
        refresh.baas_id, claims.iss,
        "the access token's iss is the session id"
    );
    // the user rules see
    let user = TokenIssuer::user_of(&claims);
    assert_eq!(
        user.document(),
        alice()
            .with_custom_data(doc! {"_id": 1, "user_id": "u1", "lang": "fr"})
            .document()
    );
    // no custom data: no user_data claim
    let pair = issuer.issue(&alice(), &doc! {}).unwrap();
    assert_eq!(
        issuer.verify_access(&pair.access_token).unwrap().user_data,
        None
    );
}

#[test]
fn rs256_and_es256_round_trip() {
    for alg in ["rs256", "es256"] {
        let issuer = issuer(keys(alg));
        let pair = issuer.issue(&alice(), &doc! {}).unwrap();
        assert_eq!(
            issuer.verify_access(&pair.access_token).unwrap().sub,
            "u1",
            "{alg}"
        );
    }
}

#[test]
fn expired_and_not_yet_valid_tokens_are_refused() {
    let issuer = hs256();
    assert_eq!(
        issuer.verify_access(&signed(&claims(now() - 4000, now() - 100, "access"))),
        Err(TokenError::Expired)
    );
    let future = claims(now() + 100, now() + 2000, "access");
    assert_eq!(
        issuer.verify_access(&signed(&future)),
        Err(TokenError::NotYetValid)
    );
    assert!(issuer
        .verify_access(&signed(&claims(now(), now() + 100, "access")))
        .is_ok());
}

#[test]
fn tampered_and_wrong_key_tokens_are_refused() {
    let issuer = hs256();
    let token = issuer.issue(&alice(), &doc! {}).unwrap().access_token;
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    payload["sub"] = "admin".into();
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&payload).unwrap());
    assert_eq!(
        issuer.verify_access(&format!("{}.{forged}.{}", parts[0], parts[2])),
        Err(TokenError::Signature)
    );
    let other = TokenIssuer::new(
        TokenConfig::hs256(b"another-secret-another-secret-another".to_vec()).unwrap(),
    )
    .unwrap();
    assert_eq!(other.verify_access(&token), Err(TokenError::Signature));
    assert!(matches!(
        issuer.verify_access("not a token"),
        Err(TokenError::Malformed(_))
    ));
    assert!(matches!(
        issuer.verify_access("a.b.c"),
        Err(TokenError::Malformed(_))
    ));
}

#[test]
fn alg_none_and_algorithm_confusion_are_refused() {
    let issuer = hs256();
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap())
    };
    let none = format!(
        "{}.{}.",
        b64(serde_json::json!({"alg": "none", "typ": "JWT"})),
        b64(claims(now(), now() + 100, "access"))
    );
    assert!(
        matches!(issuer.verify_access(&none), Err(TokenError::Algorithm { ref found, .. }) if found == "none")
    );
    // An RS256 verifier must not accept an HS256 token signed with its public key as the secret.
    let rsa = issuer_rs256();
    let public = std::fs::read("tests/keys/rsa_public.pem").unwrap();
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims(now(), now() + 100, "access"),
        &EncodingKey::from_secret(&public),
    )
    .unwrap();
    assert!(
        matches!(rsa.verify_access(&confused), Err(TokenError::Algorithm { ref found, .. }) if found == "HS256")
    );
}

fn issuer_rs256() -> TokenIssuer {
    issuer(keys("rs256"))
}

#[test]
fn token_types_are_not_interchangeable() {
    let issuer = hs256();
    let pair = issuer.issue(&alice(), &doc! {}).unwrap();
    assert!(matches!(
        issuer.verify_access(&pair.refresh_token),
        Err(TokenError::WrongType { .. })
    ));
    assert!(matches!(
        issuer.verify_refresh(&pair.access_token),
        Err(TokenError::WrongType { .. })
    ));
}

/// Sessions live in the store now (the issuer only signs and verifies): revocation and
/// logout go through `Auth`. The durable, cross-instance versions are in `users::sessions`.
#[tokio::test]
async fn revocation_ends_every_session_but_not_later_ones() {
    use expanse::auth::{Auth, AuthError};
    let app = std::sync::Arc::new(expanse::App::load("fixtures/app").unwrap().app);
    let auth = Auth::new(app, expanse::store::MemoryStore::new(), hs256());
    let revoked = Err(AuthError::Token(TokenError::Revoked));
    let first = auth.login(alice()).await.unwrap().tokens;
    let second = auth.login(alice()).await.unwrap().tokens;
    auth.revoke("u1").await.unwrap();
    assert_eq!(auth.verify(&first.access_token).await.map(|_| ()), revoked);
    assert_eq!(
        auth.refresh(&second.refresh_token).await.map(|_| ()),
        revoked
    );
    let third = auth.login(alice()).await.unwrap().tokens;
    assert!(
        auth.verify(&third.access_token).await.is_ok(),
        "a login after revocation works at once"
    );
    // logout ends one session only
    let fourth = auth.login(alice()).await.unwrap().tokens;
    auth.logout(&third.refresh_token).await.unwrap();
    assert_eq!(
        auth.refresh(&third.refresh_token).await.map(|_| ()),
        revoked
    );
    assert_eq!(auth.verify(&third.access_token).await.map(|_| ()), revoked);
    assert!(auth.refresh(&fourth.refresh_token).await.is_ok());
}

#[test]
fn short_secrets_are_refused() {
    assert!(matches!(
        TokenConfig::hs256(b"short".to_vec()),
        Err(TokenError::Key(_))
    ));
}
