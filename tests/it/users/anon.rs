//! `anon-user`: each login a new user; the anonymous lifetimes; providers not configured.

use std::sync::Arc;

use expanse::auth::{AuthError, Credential};
use expanse::store::Store;

use super::{app, auth, docs, on_both_stores, Outbox, PROVIDERS};

async fn anonymous<S: Store + Clone + 'static>(store: S) {
    let test = app(PROVIDERS);
    let auth = auth(&test, &store, Arc::new(Outbox::default()));
    let a = auth.login_with(Credential::Anonymous, None).await.unwrap();
    let b = auth.login_with(Credential::Anonymous, None).await.unwrap();
    assert_ne!(a.user.id, b.user.id, "a new login is a new user");
    let id = a.user.identities[0].get_str("id").unwrap();
    let (oid, letters) = id.split_once('-').unwrap();
    assert!(bson::oid::ObjectId::parse_str(oid).is_ok());
    assert!(
        letters.len() == 24 && letters.chars().all(|c| c.is_ascii_lowercase()),
        "{id}"
    );
    assert_eq!(a.tokens.device_id, "000000000000000000000000");
    // the refresh token lasts ~50 years; the session 90 days from its last use
    let claims = auth
        .tokens()
        .verify_refresh(&a.tokens.refresh_token)
        .unwrap();
    assert!(claims.exp - claims.iat > 49 * 365 * 24 * 3600);
    let sessions = docs(&store, "__expanse.sessions").await;
    let s = sessions
        .iter()
        .find(|s| s.get_str("user_id").unwrap() == a.user.id)
        .unwrap();
    let days = (s.get_datetime("expires_at").unwrap().timestamp_millis()
        - bson::DateTime::now().timestamp_millis())
        / 86_400_000;
    assert!((89..=90).contains(&days), "{days}");
    // a normal user's session ends with its refresh token (60 days by default)
    let users = docs(&store, "__expanse.users").await;
    assert_eq!(users.len(), 2);
    assert_eq!(users[0].get_str("type").unwrap(), "normal");
    assert!(users[0].get_bool("disabled").is_ok());
}
on_both_stores!(anonymous_logins, anonymous);

#[tokio::test]
async fn providers_not_configured_or_disabled_are_refused() {
    let test = app(r#"{"api-key": {"name": "api-key", "type": "api-key", "disabled": true}}"#);
    let store = expanse::store::MemoryStore::new();
    let auth = auth(&test, &store, Arc::new(Outbox::default()));
    let err = auth
        .login_with(Credential::Anonymous, None)
        .await
        .unwrap_err();
    assert_eq!(err, AuthError::ProviderNotFound("anon-user".into()));
    assert_eq!(err.code(), "AuthProviderNotFound");
    let err = auth
        .login_with(Credential::ApiKey { key: "k".into() }, None)
        .await
        .unwrap_err();
    assert_eq!(err, AuthError::ProviderDisabled("api-key".into()));
    assert_eq!(
        auth.register("a@example.com", "secret1").await.unwrap_err(),
        AuthError::ProviderNotFound("local-userpass".into())
    );
}
