//! `api-key`: user keys (≤ 20, owner's user), server keys (server users), the secret shown
//! once and stored hashed, enable/disable/delete.

use std::sync::Arc;

use expanse::auth::{AuthError, Credential};
use expanse::store::Store;
use expanse::UserType;

use super::{app, auth, docs, on_both_stores, Outbox, PROVIDERS};

async fn api_keys<S: Store + Clone + 'static>(store: S) {
    let test = app(PROVIDERS);
    let auth = auth(&test, &store, Arc::new(Outbox::default()));
    auth.register("ok-lee@example.com", "secret1")
        .await
        .unwrap();
    let owner = auth
        .login_with(
            Credential::UserPassword {
                username: "ok-lee@example.com".into(),
                password: "secret1".into(),
            },
            None,
        )
        .await
        .unwrap();
    // the client API authenticates key routes with the refresh token
    let stored = auth
        .user_of_refresh_token(&owner.tokens.refresh_token)
        .await
        .unwrap();
    let key = auth
        .create_user_api_key(&stored.id, "laptop")
        .await
        .unwrap();
    let secret = key.key.clone().unwrap();
    assert_eq!(secret.len(), 64);
    assert_eq!(key.to_document().get_str("key").unwrap(), secret);
    // shown once: reads have no secret, and the store only has its hash
    let listed = auth.user_api_keys(&stored.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0].key.clone(),
            listed[0].name.as_str(),
            listed[0].disabled
        ),
        (None, "laptop", false)
    );
    assert!(!listed[0].to_document().contains_key("key"));
    assert!(!format!("{:?}", key).contains(&secret));
    let stored_keys = docs(&store, "__expanse.api_keys").await;
    assert!(stored_keys
        .iter()
        .all(|k| !k.values().any(|v| v.as_str() == Some(secret.as_str()))));
    // login with it: the owner, type normal, with an api-key identity
    let s = auth
        .login_with(
            Credential::ApiKey {
                key: secret.clone(),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(s.user.id, owner.user.id);
    assert_eq!(s.user.user_type, UserType::Normal);
    let types: Vec<&str> = s
        .user
        .identities
        .iter()
        .map(|i| i.get_str("provider_type").unwrap())
        .collect();
    assert_eq!(types, ["local-userpass", "api-key"]);
    // refusals: unknown key, disabled key (same answer), deleted key
    let err = auth
        .login_with(
            Credential::ApiKey {
                key: "x".repeat(64),
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.to_string().as_str(), err.status()),
        ("invalid API key", 401)
    );
    auth.set_api_key_disabled(Some(&stored.id), &key.id, true)
        .await
        .unwrap();
    assert!(
        auth.api_key(Some(&stored.id), &key.id)
            .await
            .unwrap()
            .disabled
    );
    assert_eq!(
        auth.login_with(
            Credential::ApiKey {
                key: secret.clone()
            },
            None
        )
        .await
        .unwrap_err(),
        AuthError::InvalidApiKey
    );
    auth.set_api_key_disabled(Some(&stored.id), &key.id, false)
        .await
        .unwrap();
    assert!(auth
        .login_with(
            Credential::ApiKey {
                key: secret.clone()
            },
            None
        )
        .await
        .is_ok());
    // another user cannot see or change it
    let stranger = auth
        .login_with(
            Credential::CustomFunction {
                payload: bson::doc! {"secret": "open sesame", "user": "s"},
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        auth.api_key(Some(&stranger.user.id), &key.id)
            .await
            .unwrap_err(),
        AuthError::ApiKeyNotFound
    );
    assert_eq!(
        auth.delete_api_key(Some(&stranger.user.id), &key.id)
            .await
            .unwrap_err(),
        AuthError::ApiKeyNotFound
    );
    auth.delete_api_key(Some(&stored.id), &key.id)
        .await
        .unwrap();
    assert_eq!(
        auth.login_with(
            Credential::ApiKey {
                key: secret.clone()
            },
            None
        )
        .await
        .unwrap_err(),
        AuthError::InvalidApiKey
    );
    assert_eq!(
        auth.api_key(Some(&stored.id), "not-an-id")
            .await
            .unwrap_err(),
        AuthError::ApiKeyNotFound
    );
    // names are unique per owner; at most 20 keys per user
    auth.create_user_api_key(&stored.id, "k0").await.unwrap();
    assert_eq!(
        auth.create_user_api_key(&stored.id, "k0")
            .await
            .unwrap_err(),
        AuthError::ApiKeyAlreadyExists
    );
    for i in 1..20 {
        auth.create_user_api_key(&stored.id, &format!("k{i}"))
            .await
            .unwrap();
    }
    let err = auth
        .create_user_api_key(&stored.id, "k20")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "BadRequest", "{err}");
    assert_eq!(auth.user_api_keys(&stored.id).await.unwrap().len(), 20);
    // anonymous users cannot create keys
    let anon = auth.login_with(Credential::Anonymous, None).await.unwrap();
    assert_eq!(
        auth.create_user_api_key(&anon.user.id, "nope")
            .await
            .unwrap_err()
            .code(),
        "BadRequest"
    );

    // server keys: a server user, data.name = the key's name
    let server = auth.create_server_api_key("backend").await.unwrap();
    let s = auth
        .login_with(
            Credential::ApiKey {
                key: server.key.clone().unwrap(),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(s.user.user_type, UserType::Server);
    assert_eq!(s.user.data.get_str("name").unwrap(), "backend");
    assert_eq!(s.user.identities[0].get_str("id").unwrap(), server.id);
    assert_eq!(auth.server_api_keys().await.unwrap().len(), 1);
    // deleting a server key deletes its user and ends its sessions
    auth.delete_api_key(None, &server.id).await.unwrap();
    assert!(auth.refresh(&s.tokens.refresh_token).await.is_err());
    assert_eq!(auth.users().get(&s.user.id).await.unwrap(), None);
    assert_eq!(
        auth.login_with(
            Credential::ApiKey {
                key: server.key.unwrap()
            },
            None
        )
        .await
        .unwrap_err(),
        AuthError::InvalidApiKey
    );
    // deleting a user deletes its keys
    auth.delete_stored_user(&stored.id).await.unwrap();
    assert!(auth.user_api_keys(&stored.id).await.unwrap().is_empty());
}
on_both_stores!(api_key_flows, api_keys);
