//! Key rotation of Expanse's own tokens: a new key signs, previous keys verify until removed;
//! HS256, RS256 and ES256, and across algorithms.

use bson::doc;
use expanse::auth::{
    SigningKey, TokenConfig, TokenError, TokenIssuer, ACCESS_TOKEN_LIFETIME, REFRESH_TOKEN_LIFETIME,
};
use expanse::User;

fn key(kind: &str) -> SigningKey {
    let read = |name: &str| std::fs::read(format!("tests/keys/{name}")).unwrap();
    match kind {
        "hs-old" => SigningKey::Hs256(b"old-secret-old-secret-old-secret-0".to_vec()),
        "hs-new" => SigningKey::Hs256(b"new-secret-new-secret-new-secret-1".to_vec()),
        "rs" => SigningKey::Rs256 {
            private_pem: read("rsa_private.pem"),
            public_pem: read("rsa_public.pem"),
        },
        _ => SigningKey::Es256 {
            private_pem: read("ec_private.pem"),
            public_pem: read("ec_public.pem"),
        },
    }
}

fn issuer(k: SigningKey) -> TokenIssuer {
    TokenIssuer::new(TokenConfig {
        key: k,
        access_lifetime: ACCESS_TOKEN_LIFETIME,
        refresh_lifetime: REFRESH_TOKEN_LIFETIME,
    })
    .unwrap()
}

#[test]
fn previous_keys_verify_until_removed() {
    let user = User::new("u1");
    for (old, new) in [
        ("hs-old", "hs-new"),
        ("rs", "hs-new"),
        ("es", "rs"),
        ("hs-old", "es"),
    ] {
        let before = issuer(key(old));
        let old_pair = before.issue(&user, &doc! {}).unwrap();
        // rotated: the new key signs, the old one still verifies
        let rotated = issuer(key(new)).with_previous_keys(vec![key(old)]).unwrap();
        assert_eq!(
            rotated.verify_access(&old_pair.access_token).unwrap().sub,
            "u1",
            "{old} → {new}"
        );
        assert!(rotated.verify_refresh(&old_pair.refresh_token).is_ok());
        let new_pair = rotated.issue(&user, &doc! {}).unwrap();
        assert!(
            before.verify_access(&new_pair.access_token).is_err(),
            "the new key signs ({old} → {new})"
        );
        // the old key removed: its tokens are refused
        let after = issuer(key(new));
        assert!(after.verify_access(&new_pair.access_token).is_ok());
        assert!(
            matches!(
                after.verify_access(&old_pair.access_token),
                Err(TokenError::Signature | TokenError::Algorithm { .. })
            ),
            "{old} → {new}"
        );
    }
    // a short previous HS256 secret is refused
    assert!(issuer(key("rs"))
        .with_previous_keys(vec![SigningKey::Hs256(b"short".to_vec())])
        .is_err());
}
