//! Sessions in the database: logout, revocation, disable and delete seen by a second instance
//! and by a new instance after the first is dropped; concurrent refreshes; linking; profile.

use std::sync::Arc;
use std::time::Duration;

use bson::doc;
use expanse::auth::{Auth, AuthError, Credential, TokenError};
use expanse::store::{Namespace, Store, Write};

use super::{app, auth, docs, on_both_stores, Outbox, PROVIDERS};

const REVOKED: AuthError = AuthError::Token(TokenError::Revoked);

fn instance<S: Store + Clone + 'static>(test: &super::TestApp, store: &S) -> Auth<S> {
    // No revocation cache: a second instance sees a revocation at once.
    auth(test, store, Arc::new(Outbox::default())).with_revocation_bound(Duration::ZERO)
}

fn login(email: &str) -> Credential {
    Credential::UserPassword {
        username: email.into(),
        password: "secret1".into(),
    }
}

async fn shared_by_instances<S: Store + Clone + 'static>(store: S) {
    let test = app(PROVIDERS);
    let a = instance(&test, &store);
    let b = instance(&test, &store);
    a.register("ok-hal@example.com", "secret1").await.unwrap();
    let first = a
        .login_with(login("ok-hal@example.com"), None)
        .await
        .unwrap();
    let second = a
        .login_with(login("ok-hal@example.com"), None)
        .await
        .unwrap();
    // the other instance refreshes and verifies sessions it never saw
    assert!(b.refresh(&first.tokens.refresh_token).await.is_ok());
    assert_eq!(
        b.verify(&first.tokens.access_token).await.unwrap().id,
        first.user.id
    );
    // one session per login, hashed
    let sessions = docs(&store, "__expanse.sessions").await;
    assert_eq!(sessions.len(), 2);
    let session_id = a
        .tokens()
        .verify_refresh(&first.tokens.refresh_token)
        .unwrap()
        .baas_id;
    assert!(
        sessions
            .iter()
            .all(|s| s.get_str("_id").unwrap() != session_id),
        "ids are stored hashed"
    );

    // logout on A: refused by B, the other session lives
    a.logout(&first.tokens.refresh_token).await.unwrap();
    assert_eq!(
        b.refresh(&first.tokens.refresh_token).await.unwrap_err(),
        REVOKED
    );
    assert_eq!(
        b.verify(&first.tokens.access_token).await.unwrap_err(),
        REVOKED
    );
    assert!(b.refresh(&second.tokens.refresh_token).await.is_ok());
    let err = b.refresh(&first.tokens.refresh_token).await.unwrap_err();
    assert_eq!((err.code(), err.status()), ("InvalidSession", 401));

    // revocation on B: refused by A; a new login works at once
    b.revoke(&second.user.id).await.unwrap();
    assert_eq!(
        a.refresh(&second.tokens.refresh_token).await.unwrap_err(),
        REVOKED
    );
    let third = a
        .login_with(login("ok-hal@example.com"), None)
        .await
        .unwrap();
    assert!(b.refresh(&third.tokens.refresh_token).await.is_ok());

    // disable on A: refused by B, login refused; enable: new logins work, old sessions stay dead
    a.disable_user(&third.user.id).await.unwrap();
    assert_eq!(
        b.refresh(&third.tokens.refresh_token).await.unwrap_err(),
        REVOKED
    );
    assert_eq!(
        b.verify(&third.tokens.access_token).await.unwrap_err(),
        REVOKED
    );
    let err = b
        .login_with(login("ok-hal@example.com"), None)
        .await
        .unwrap_err();
    assert_eq!(
        (err, "UserDisabled"),
        (AuthError::UserDisabled, AuthError::UserDisabled.code())
    );
    b.enable_user(&third.user.id).await.unwrap();
    assert_eq!(
        a.refresh(&third.tokens.refresh_token).await.unwrap_err(),
        REVOKED
    );
    let fourth = b
        .login_with(login("ok-hal@example.com"), None)
        .await
        .unwrap();

    // restart: drop both, a new instance refuses what was ended and accepts what was not
    drop((a, b));
    let c = instance(&test, &store);
    for ended in [&first, &second, &third] {
        assert_eq!(
            c.refresh(&ended.tokens.refresh_token).await.unwrap_err(),
            REVOKED
        );
    }
    assert!(c.refresh(&fourth.tokens.refresh_token).await.is_ok());

    // delete: identities, account and sessions go, DELETE triggers run, app data stays
    let notes = Namespace::new("notes_app", "notes");
    store
        .apply(
            &notes,
            vec![Write::Insert(
                doc! {"_id": 1, "owner_id": fourth.user.id.clone()},
            )],
        )
        .await
        .unwrap();
    c.delete_stored_user(&fourth.user.id).await.unwrap();
    let d = instance(&test, &store);
    assert_eq!(
        d.refresh(&fourth.tokens.refresh_token).await.unwrap_err(),
        REVOKED
    );
    assert_eq!(
        d.verify(&fourth.tokens.access_token).await.unwrap_err(),
        REVOKED
    );
    assert_eq!(d.users().get(&fourth.user.id).await.unwrap(), None);
    assert!(docs(&store, "__expanse.identities").await.is_empty());
    assert!(docs(&store, "__expanse.userpass_accounts").await.is_empty());
    assert_eq!(
        docs(&store, "notes_app.notes").await.len(),
        1,
        "app data untouched"
    );
    let events = docs(&store, "side.events").await;
    let deleted = events
        .iter()
        .find(|e| e.get_str("op").unwrap() == "DELETE")
        .expect("a DELETE trigger ran");
    assert_eq!(deleted.get_str("user_id").unwrap(), fourth.user.id);
    assert_eq!(
        deleted.get_array("providers").unwrap(),
        &vec![bson::Bson::String("local-userpass".into())]
    );
    assert!(
        events.iter().any(|e| e.get_str("op").unwrap() == "CREATE"),
        "a CREATE trigger ran"
    );
    // the email is free again
    d.register("ok-hal@example.com", "secret1").await.unwrap();
    assert_eq!(
        d.delete_stored_user(&fourth.user.id).await.unwrap_err(),
        AuthError::UserNotFound
    );
}
on_both_stores!(
    sessions_are_shared_and_survive_restarts,
    shared_by_instances
);

/// The revocation bound: an instance that checked a session recently trusts its check for at
/// most the bound; after it, the revocation made elsewhere is seen.
async fn bounded_revocation<S: Store + Clone + 'static>(store: S) {
    let test = app(PROVIDERS);
    let a = instance(&test, &store);
    let b = auth(&test, &store, Arc::new(Outbox::default()))
        .with_revocation_bound(Duration::from_millis(600));
    let s = a.login_with(Credential::Anonymous, None).await.unwrap();
    assert!(b.verify(&s.tokens.access_token).await.is_ok());
    a.revoke(&s.user.id).await.unwrap();
    // within the bound B may still accept the access token (it checked it just now) …
    let _ = b.verify(&s.tokens.access_token).await;
    // … never its refresh token, and after the bound not the access token either
    assert_eq!(
        b.refresh(&s.tokens.refresh_token).await.unwrap_err(),
        REVOKED
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(b.verify(&s.tokens.access_token).await.unwrap_err(), REVOKED);
    // the instance that revoked sees it at once, whatever its bound
    let c = auth(&test, &store, Arc::new(Outbox::default()))
        .with_revocation_bound(Duration::from_secs(3600));
    let s = c.login_with(Credential::Anonymous, None).await.unwrap();
    assert!(c.verify(&s.tokens.access_token).await.is_ok());
    c.logout(&s.tokens.refresh_token).await.unwrap();
    assert_eq!(c.verify(&s.tokens.access_token).await.unwrap_err(), REVOKED);
}
on_both_stores!(sessions_revocation_bound, bounded_revocation);

/// 64 concurrent refreshes of one session: no error, still one session.
async fn concurrent_refreshes<S: Store + Clone + 'static>(store: S) {
    let test = app(PROVIDERS);
    let auth = Arc::new(instance(&test, &store));
    let s = auth.login_with(Credential::Anonymous, None).await.unwrap();
    // make the session due for a last-used update, so the refreshes race to write it
    let ns = Namespace::new("__expanse", "sessions");
    let pre = docs(&store, "__expanse.sessions").await.remove(0);
    let mut post = pre.clone();
    post.insert("last_used", bson::DateTime::from_millis(0));
    store
        .apply(&ns, vec![Write::Replace { pre, post }])
        .await
        .unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (auth, token) = (auth.clone(), s.tokens.refresh_token.clone());
            tokio::spawn(async move { auth.refresh(&token).await })
        })
        .collect();
    for t in tasks {
        let access = t.await.unwrap().unwrap();
        assert_eq!(auth.verify(&access).await.unwrap().id, s.user.id);
    }
    let sessions = docs(&store, "__expanse.sessions").await;
    assert_eq!(sessions.len(), 1);
    assert!(
        sessions[0]
            .get_datetime("last_used")
            .unwrap()
            .timestamp_millis()
            > 0,
        "the use was recorded"
    );
}
on_both_stores!(
    sessions_sixty_four_concurrent_refreshes,
    concurrent_refreshes
);

async fn linking_and_profile<S: Store + Clone + 'static>(store: S) {
    let test = app(PROVIDERS);
    let auth = instance(&test, &store);
    auth.register("ok-ivy@example.com", "secret1")
        .await
        .unwrap();
    let anon = auth
        .login_with(Credential::Anonymous, Some("0123456789abcdef01234567"))
        .await
        .unwrap();
    assert_eq!(anon.tokens.device_id, "0123456789abcdef01234567");
    // link email/password to the anonymous user: same id, two identities, data.email
    let linked = auth
        .link(&anon.tokens.access_token, login("ok-ivy@example.com"))
        .await
        .unwrap();
    assert_eq!(linked.user.id, anon.user.id);
    let profile = auth.profile(&linked.tokens.access_token).await.unwrap();
    assert_eq!(profile.get_str("user_id").unwrap(), anon.user.id);
    assert_eq!(profile.get_str("domain_id").unwrap(), super::APP_ID);
    assert_eq!(profile.get_str("type").unwrap(), "normal");
    let types: Vec<&str> = profile
        .get_array("identities")
        .unwrap()
        .iter()
        .map(|i| i.as_document().unwrap().get_str("provider_type").unwrap())
        .collect();
    assert_eq!(types, ["anon-user", "local-userpass"]);
    assert_eq!(
        profile
            .get_document("data")
            .unwrap()
            .get_str("email")
            .unwrap(),
        "ok-ivy@example.com"
    );
    assert!(profile.get_i64("creation_date").unwrap() > 0);
    assert!(profile.get_i64("last_authentication_date").unwrap() > 0);
    // logging in with the linked credential yields that user
    let again = auth
        .login_with(login("ok-ivy@example.com"), None)
        .await
        .unwrap();
    assert_eq!(again.user.id, anon.user.id);
    // refusals: an identity of another user, a second email/password identity, anonymous
    auth.register("ok-jo@example.com", "secret1").await.unwrap();
    let jo = auth
        .login_with(login("ok-jo@example.com"), None)
        .await
        .unwrap();
    let other = auth.login_with(Credential::Anonymous, None).await.unwrap();
    assert!(matches!(
        auth.link(&other.tokens.access_token, login("ok-jo@example.com"))
            .await,
        Err(AuthError::Link(_))
    ));
    assert!(matches!(
        auth.link(&again.tokens.access_token, login("ok-jo@example.com"))
            .await,
        Err(AuthError::Link(_))
    ));
    assert!(matches!(
        auth.link(&jo.tokens.access_token, Credential::Anonymous)
            .await,
        Err(AuthError::Link(_))
    ));
    // a revoked access token cannot link
    auth.revoke(&jo.user.id).await.unwrap();
    assert_eq!(
        auth.link(
            &jo.tokens.access_token,
            Credential::CustomFunction {
                payload: doc! {"secret": "open sesame", "user": "x"}
            }
        )
        .await
        .unwrap_err(),
        REVOKED
    );
}
on_both_stores!(sessions_linking_and_profile, linking_and_profile);

/// A store whose database cannot be reached.
#[derive(Clone)]
struct Down;

fn down() -> expanse::store::StoreError {
    expanse::store::StoreError::Unavailable("connection refused".into())
}

impl Store for Down {
    async fn find(
        &self,
        _: &Namespace,
        _: &bson::Document,
        _: &expanse::store::FindOptions,
    ) -> Result<Vec<bson::Document>, expanse::store::StoreError> {
        Err(down())
    }
    async fn count(
        &self,
        _: &Namespace,
        _: &bson::Document,
    ) -> Result<u64, expanse::store::StoreError> {
        Err(down())
    }
    async fn aggregate(
        &self,
        _: &Namespace,
        _: &[bson::Document],
    ) -> Result<Vec<bson::Document>, expanse::store::StoreError> {
        Err(down())
    }
    async fn apply(&self, _: &Namespace, _: Vec<Write>) -> Result<(), expanse::store::StoreError> {
        Err(down())
    }
    async fn create_unique_index(
        &self,
        _: &Namespace,
        _: &[String],
    ) -> Result<(), expanse::store::StoreError> {
        Err(down())
    }
}

/// Fail closed: with the database unreachable, logins, refreshes and verifications fail with
/// a clear error (never a panic, never a token accepted).
#[tokio::test]
async fn database_down_fails_closed() {
    let test = app(PROVIDERS);
    let up = expanse::store::MemoryStore::new();
    let working = instance(&test, &up);
    let s = working
        .login_with(Credential::Anonymous, None)
        .await
        .unwrap();
    let auth =
        Auth::new(test.app.clone(), Down, super::issuer()).with_revocation_bound(Duration::ZERO);
    for err in [
        auth.login_with(Credential::Anonymous, None)
            .await
            .unwrap_err(),
        auth.refresh(&s.tokens.refresh_token).await.unwrap_err(),
        auth.verify(&s.tokens.access_token).await.unwrap_err(),
        auth.register("a@example.com", "secret1").await.unwrap_err(),
    ] {
        assert_eq!(
            (err.code(), err.status()),
            ("InternalServerError", 503),
            "{err}"
        );
    }
}
