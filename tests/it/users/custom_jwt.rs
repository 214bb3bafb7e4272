//! `custom-token`: HS256 with several keys, RS256 from a PEM secret or a JWK set file (`kid`),
//! audiences, times, metadata fields, and every refusal.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use expanse::auth::{AuthError, Credential};
use expanse::store::{MemoryStore, Store};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

use super::{app, auth, on_both_stores, Outbox, APP_ID, JWT_KEY_1, JWT_KEY_2, PROVIDERS};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn hs(claims: &serde_json::Value, key: &str) -> Credential {
    let token = encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap();
    Credential::CustomToken { token }
}

fn claims(sub: &str) -> serde_json::Value {
    json!({"sub": sub, "aud": APP_ID, "exp": now() + 600, "iat": now(),
           "user_data": {"name": "Mo"}, "email": "mo@example.com", "weird.key": 1})
}

fn edit(
    mut c: serde_json::Value,
    f: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> serde_json::Value {
    f(c.as_object_mut().unwrap());
    c
}

async fn refused(auth: &expanse::auth::Auth<impl Store + Clone>, credential: Credential) -> String {
    match auth.login_with(credential, None).await {
        Err(e @ AuthError::CustomToken(_)) => {
            assert_eq!((e.code(), e.status()), ("AuthError", 401));
            e.to_string()
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn hs256<S: Store + Clone + 'static>(store: S) {
    let test = app(PROVIDERS);
    let auth = auth(&test, &store, Arc::new(Outbox::default()));
    let s = auth
        .login_with(hs(&claims("24601"), JWT_KEY_1), None)
        .await
        .unwrap();
    let identity = &s.user.identities[0];
    assert_eq!(
        (
            identity.get_str("id").unwrap(),
            identity.get_str("provider_type").unwrap()
        ),
        ("24601", "custom-token")
    );
    // metadata: a dotted path with field_name, a plain name, an escaped dot
    assert_eq!(
        s.user.data,
        bson::doc! {"name": "Mo", "email": "mo@example.com", "weird.key": 1}
    );
    // the second key verifies too; the same sub is the same user, metadata refreshed
    let c = edit(claims("24601"), |c| {
        c.insert("user_data".into(), json!({"name": "Moe"}));
    });
    let again = auth.login_with(hs(&c, JWT_KEY_2), None).await.unwrap();
    assert_eq!(again.user.id, s.user.id);
    assert_eq!(again.user.data.get_str("name").unwrap(), "Moe");
    // the issued access token lasts 30 minutes whatever the JWT's exp
    let access = auth
        .tokens()
        .verify_access(&again.tokens.access_token)
        .unwrap();
    assert_eq!(access.exp - access.iat, 1800);

    // refusals
    let why = refused(&auth, hs(&claims("x"), "some-other-key-some-other-key-000")).await;
    assert!(why.contains("signature"), "{why}");
    let why = refused(
        &auth,
        hs(
            &edit(claims("x"), |c| {
                c.insert("exp".into(), json!(now() - 10));
            }),
            JWT_KEY_1,
        ),
    )
    .await;
    assert!(why.contains("expired"), "{why}");
    let why = refused(
        &auth,
        hs(
            &edit(claims("x"), |c| {
                c.remove("exp");
            }),
            JWT_KEY_1,
        ),
    )
    .await;
    assert!(why.contains("exp"), "{why}");
    let why = refused(
        &auth,
        hs(
            &edit(claims("x"), |c| {
                c.remove("sub");
            }),
            JWT_KEY_1,
        ),
    )
    .await;
    assert!(why.contains("sub"), "{why}");
    let why = refused(
        &auth,
        hs(
            &edit(claims("x"), |c| {
                c.remove("aud");
            }),
            JWT_KEY_1,
        ),
    )
    .await;
    assert!(why.contains("aud"), "{why}");
    let why = refused(
        &auth,
        hs(
            &edit(claims("x"), |c| {
                c.insert("aud".into(), json!("another-app"));
            }),
            JWT_KEY_1,
        ),
    )
    .await;
    assert!(why.contains("audience"), "{why}");
    let why = refused(
        &auth,
        hs(
            &edit(claims("x"), |c| {
                c.insert("nbf".into(), json!(now() + 300));
            }),
            JWT_KEY_1,
        ),
    )
    .await;
    assert!(why.contains("not valid yet"), "{why}");
    let why = refused(
        &auth,
        hs(
            &edit(claims("x"), |c| {
                c.insert("iat".into(), json!(now() + 300));
            }),
            JWT_KEY_1,
        ),
    )
    .await;
    assert!(why.contains("not valid yet"), "{why}");
    let why = refused(
        &auth,
        hs(
            &edit(claims("x"), |c| {
                c.remove("user_data");
            }),
            JWT_KEY_1,
        ),
    )
    .await;
    assert!(why.contains("user_data.name"), "{why}");
    let long = "x".repeat(5000);
    let why = refused(
        &auth,
        hs(
            &edit(claims("x"), |c| {
                c.insert("user_data".into(), json!({"name": long}));
            }),
            JWT_KEY_1,
        ),
    )
    .await;
    assert!(why.contains("4096"), "{why}");
    // an RS256 token for an HS256 provider, alg none
    let rsa =
        EncodingKey::from_rsa_pem(&std::fs::read("tests/keys/rsa_private.pem").unwrap()).unwrap();
    let token = encode(&Header::new(Algorithm::RS256), &claims("x"), &rsa).unwrap();
    let why = refused(&auth, Credential::CustomToken { token }).await;
    assert!(why.contains("algorithm"), "{why}");
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims("x"))
    );
    refused(&auth, Credential::CustomToken { token: none }).await;
    refused(
        &auth,
        Credential::CustomToken {
            token: "garbage".into(),
        },
    )
    .await;
    // no refusal message carries the token's values
    let why = refused(
        &auth,
        hs(
            &edit(claims("secret-sub"), |c| {
                c.insert("aud".into(), json!("secret-aud"));
            }),
            JWT_KEY_1,
        ),
    )
    .await;
    assert!(!why.contains("secret-"), "{why}");
}
on_both_stores!(custom_jwt_hs256, hs256);

const RS_PROVIDERS: &str = r#"{
  "custom-token": {"name": "custom-token", "type": "custom-token", "disabled": false,
    "config": {"audience": ["aud-a", "aud-b"], "requireAnyAudience": REQUIRE_ANY, "signingAlgorithm": "RS256", "useJWKURI": false},
    "secret_config": {"signingKeys": ["rsaPublic"]}}
}"#;

fn rs(claims: &serde_json::Value, kid: Option<&str>) -> Credential {
    let key =
        EncodingKey::from_rsa_pem(&std::fs::read("tests/keys/rsa_private.pem").unwrap()).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    Credential::CustomToken {
        token: encode(&header, claims, &key).unwrap(),
    }
}

#[tokio::test]
async fn custom_jwt_rs256_and_audiences() {
    for any in [false, true] {
        let test = app(&RS_PROVIDERS.replace("REQUIRE_ANY", &any.to_string()));
        let store = MemoryStore::new();
        let secrets: HashMap<String, String> = [(
            "rsaPublic".to_owned(),
            std::fs::read_to_string("tests/keys/rsa_public.pem").unwrap(),
        )]
        .into_iter()
        .collect();
        let auth = auth(&test, &store, Arc::new(Outbox::default())).with_secrets(secrets);
        let c = |aud: serde_json::Value| json!({"sub": "r1", "aud": aud, "exp": now() + 60});
        assert!(auth
            .login_with(rs(&c(json!(["aud-a", "aud-b", "aud-c"])), None), None)
            .await
            .is_ok());
        let one = auth.login_with(rs(&c(json!("aud-b")), None), None).await;
        assert_eq!(
            one.is_ok(),
            any,
            "requireAnyAudience {any}: one of two audiences"
        );
        assert!(auth
            .login_with(rs(&c(json!(["aud-z"])), None), None)
            .await
            .is_err());
        // an HS256 token signed with the public key's text (algorithm confusion) is refused
        let pem = std::fs::read_to_string("tests/keys/rsa_public.pem").unwrap();
        refused(&auth, hs(&c(json!(["aud-a", "aud-b"])), &pem)).await;
    }
}

#[tokio::test]
async fn custom_jwt_jwk_set_file_needs_kid() {
    use jsonwebtoken::jwk::{
        AlgorithmParameters, CommonParameters, Jwk, JwkSet, RSAKeyParameters, RSAKeyType,
    };
    let pem = std::fs::read_to_string("tests/keys/rsa_public.pem").unwrap();
    // the public key's modulus and exponent, from the PEM (via a decoding round trip)
    let (n, e) = rsa_components(&pem);
    let jwk = Jwk {
        common: CommonParameters {
            key_id: Some("key-1".into()),
            ..Default::default()
        },
        algorithm: AlgorithmParameters::RSA(RSAKeyParameters {
            key_type: RSAKeyType::RSA,
            n,
            e,
        }),
    };
    let test = app(
        r#"{"custom-token": {"name": "custom-token", "type": "custom-token", "disabled": false,
        "config": {"audience": "aud-a", "signingAlgorithm": "RS256", "useJWKURI": true, "jwkURI": "file:jwks.json"}}}"#,
    );
    std::fs::write(
        test.app.dir.join("jwks.json"),
        serde_json::to_string(&JwkSet { keys: vec![jwk] }).unwrap(),
    )
    .unwrap();
    let store = MemoryStore::new();
    let auth = auth(&test, &store, Arc::new(Outbox::default()));
    let c = json!({"sub": "j1", "aud": "aud-a", "exp": now() + 60});
    assert!(auth.login_with(rs(&c, Some("key-1")), None).await.is_ok());
    let why = refused(&auth, rs(&c, None)).await;
    assert!(why.contains("kid"), "{why}");
    let why = refused(&auth, rs(&c, Some("key-2"))).await;
    assert!(why.contains("kid"), "{why}");
    // an https URI the default fetcher cannot reach (nothing listens on port 1): refused, fail
    // closed (jwks_url.rs has the fetcher's other cases)
    let test = app(
        r#"{"custom-token": {"name": "custom-token", "type": "custom-token", "disabled": false,
        "config": {"audience": "aud-a", "signingAlgorithm": "RS256", "useJWKURI": true, "jwkURI": "https://127.0.0.1:1/jwks"}}}"#,
    );
    let auth = super::auth(&test, &store, Arc::new(Outbox::default()));
    let err = auth
        .login_with(rs(&c, Some("key-1")), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InternalServerError", "{err}");
}

/// `n` and `e` (base64url) of an RSA public key in PEM (SubjectPublicKeyInfo), read from its DER.
pub(super) fn rsa_components(pem: &str) -> (String, String) {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    // Walk the DER: find the two INTEGERs of the RSAPublicKey (the last two integers).
    let mut ints = Vec::new();
    let mut i = 0;
    while i < der.len() {
        let tag = der[i];
        let (len, header) = der_len(&der[i + 1..]);
        match tag {
            0x30 => i += 1 + header,     // SEQUENCE: descend
            0x03 => i += 1 + header + 1, // BIT STRING: skip the unused-bits byte, descend
            0x02 => {
                let mut v = &der[i + 1 + header..i + 1 + header + len];
                while v.len() > 1 && v[0] == 0 {
                    v = &v[1..];
                }
                ints.push(v.to_vec());
                i += 1 + header + len;
            }
            _ => i += 1 + header + len,
        }
    }
    let enc = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    (enc(&ints[ints.len() - 2]), enc(&ints[ints.len() - 1]))
}

fn der_len(bytes: &[u8]) -> (usize, usize) {
    if bytes[0] < 0x80 {
        (bytes[0] as usize, 1)
    } else {
        let n = (bytes[0] & 0x7f) as usize;
        let len = bytes[1..=n]
            .iter()
            .fold(0usize, |acc, b| acc * 256 + *b as usize);
        (len, 1 + n)
    }
}
