//! `local-userpass`: registration, confirmation (function, email, auto), reset (function,
//! email), login, and every documented refusal.

use std::sync::Arc;

use bson::{doc, Bson, DateTime};
use expanse::auth::{
    AccountStatus, AuthError, BoxFuture, Credential, Email, EmailSender, SendError,
};
use expanse::store::{Namespace, Store, Write};

use super::{app, auth, docs, on_both_stores, Outbox, PROVIDERS};

fn login(email: &str, password: &str) -> Credential {
    Credential::UserPassword {
        username: email.into(),
        password: password.into(),
    }
}

/// The token the confirmation/reset function stored for `email`.
async fn function_token<S: Store>(store: &S, email: &str, kind: &str) -> (String, String) {
    let found = docs(store, "side.tokens").await;
    let d = found
        .iter()
        .rev()
        .find(|d| d.get_str("username").unwrap() == email && d.get_str("kind").unwrap() == kind)
        .expect("the function received a token");
    (
        d.get_str("token").unwrap().to_owned(),
        d.get_str("tokenId").unwrap().to_owned(),
    )
}

async fn function_mode<S: Store + Clone + 'static>(store: S) {
    let test = app(PROVIDERS);
    let auth = auth(&test, &store, Arc::new(Outbox::default()));
    // success: confirmed at once, login works, data.email, identity id is not the email
    assert_eq!(
        auth.register("ok-ann@example.com", "secret1")
            .await
            .unwrap(),
        AccountStatus::Confirmed
    );
    let s = auth
        .login_with(login("ok-ann@example.com", "secret1"), None)
        .await
        .unwrap();
    assert_eq!(s.user.data.get_str("email").unwrap(), "ok-ann@example.com");
    let identity = &s.user.identities[0];
    assert_eq!(identity.get_str("provider_type").unwrap(), "local-userpass");
    assert_ne!(identity.get_str("id").unwrap(), "ok-ann@example.com");
    assert_eq!(s.tokens.user_id, s.user.id);
    assert_eq!(s.user.id.len(), 24);
    // the same account logs in as the same user
    let again = auth
        .login_with(login("ok-ann@example.com", "secret1"), None)
        .await
        .unwrap();
    assert_eq!(again.user.id, s.user.id);
    // refusals: wrong password, unknown email (same answer), case-sensitive emails
    for (email, password) in [
        ("ok-ann@example.com", "secret2"),
        ("nobody@example.com", "secret1"),
        ("OK-ann@example.com", "secret1"),
    ] {
        let err = auth
            .login_with(login(email, password), None)
            .await
            .unwrap_err();
        assert_eq!(err, AuthError::InvalidPassword, "{email}");
        assert_eq!((err.code(), err.status()), ("InvalidPassword", 401));
    }
    // a taken email, pending or confirmed
    let err = auth
        .register("ok-ann@example.com", "another1")
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.status(), err.to_string().as_str()),
        ("AccountNameInUse", 409, "name already in use")
    );
    // password length 6..=128 characters (counted in characters)
    for bad in ["12345", &"x".repeat(129)] {
        let err = auth.register("ok-len@example.com", bad).await.unwrap_err();
        assert_eq!(err.code(), "BadRequest");
        assert!(!err.to_string().contains(bad));
    }
    assert!(auth
        .register("ok-len@example.com", &"é".repeat(128))
        .await
        .is_ok());
    assert!(auth.register("ok-six@example.com", "123456").await.is_ok());

    // pending: cannot log in until confirmed with the token the function got
    assert_eq!(
        auth.register("pending-bo@example.com", "secret1")
            .await
            .unwrap(),
        AccountStatus::Pending
    );
    assert_eq!(
        auth.login_with(login("pending-bo@example.com", "secret1"), None)
            .await
            .unwrap_err(),
        AuthError::ConfirmationRequired
    );
    assert_eq!(
        auth.register("pending-bo@example.com", "secret1")
            .await
            .unwrap_err(),
        AuthError::AccountNameInUse,
        "a pending account blocks re-registration"
    );
    let (token, token_id) = function_token(&store, "pending-bo@example.com", "confirm").await;
    // a wrong token, a wrong id
    assert_eq!(
        auth.confirm("0000", &token_id).await.unwrap_err(),
        AuthError::UserpassTokenInvalid
    );
    assert_eq!(
        auth.confirm(&token, "00000000").await.unwrap_err(),
        AuthError::UserpassTokenInvalid
    );
    auth.confirm(&token, &token_id).await.unwrap();
    let err = auth.confirm(&token, &token_id).await.unwrap_err();
    assert_eq!(
        (err.code(), err.to_string().as_str()),
        ("UserpassTokenInvalid", "invalid token data"),
        "single use"
    );
    assert!(auth
        .login_with(login("pending-bo@example.com", "secret1"), None)
        .await
        .is_ok());
    assert_eq!(
        auth.retry_confirmation("pending-bo@example.com")
            .await
            .unwrap_err(),
        AuthError::UserAlreadyConfirmed
    );
    assert_eq!(
        auth.retry_confirmation("nobody@example.com")
            .await
            .unwrap_err(),
        AuthError::UserNotFound
    );
    // confirm/send is for email mode only
    assert_eq!(
        auth.resend_confirmation("pending-bo@example.com")
            .await
            .unwrap_err()
            .code(),
        "BadRequest"
    );

    // fail: no account is kept, the email can register again
    let err = auth
        .register("fail-cy@example.com", "secret1")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to confirm user \"fail-cy@example.com\""
    );
    assert_eq!(err.code(), "BadRequest");
    assert_eq!(
        auth.login_with(login("fail-cy@example.com", "secret1"), None)
            .await
            .unwrap_err(),
        AuthError::InvalidPassword
    );
    // a throwing confirmation function: no account either
    let err = auth
        .register("throw-di@example.com", "secret1")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "FunctionExecutionError", "{err}");
    assert!(!docs(&store, "__expanse.userpass_accounts")
        .await
        .iter()
        .any(|a| a.get_str("_id").unwrap().starts_with("throw")
            || a.get_str("_id").unwrap().starts_with("fail")));

    // an expired confirmation token is refused
    auth.register("pending-ed@example.com", "secret1")
        .await
        .unwrap();
    let (token, token_id) = function_token(&store, "pending-ed@example.com", "confirm").await;
    let ns = Namespace::new("__expanse", "userpass_tokens");
    let pre = store
        .find(&ns, &doc! {"_id": &token_id}, &Default::default())
        .await
        .unwrap()
        .remove(0);
    assert_ne!(pre.get_str("token_hash").unwrap(), token, "stored hashed");
    let expires = pre.get_datetime("expires_at").unwrap().timestamp_millis();
    let minutes = (expires - DateTime::now().timestamp_millis()) / 60_000;
    assert!((29..=30).contains(&minutes), "30 minutes, found {minutes}");
    let mut post = pre.clone();
    post.insert(
        "expires_at",
        DateTime::from_millis(DateTime::now().timestamp_millis() - 1000),
    );
    store
        .apply(&ns, vec![Write::Replace { pre, post }])
        .await
        .unwrap();
    assert_eq!(
        auth.confirm(&token, &token_id).await.unwrap_err(),
        AuthError::UserpassTokenInvalid
    );

    // reset through the function: success changes the password and revokes sessions
    let s = auth
        .login_with(login("ok-ann@example.com", "secret1"), None)
        .await
        .unwrap();
    auth.call_reset_function(
        "ok-ann@example.com",
        "newpass1",
        vec![Bson::String("yes".into()), Bson::Int32(7)],
    )
    .await
    .unwrap();
    let recorded = docs(&store, "side.tokens").await;
    let call = recorded
        .iter()
        .rev()
        .find(|d| d.get_str("kind").unwrap() == "reset")
        .unwrap();
    assert!(!call.get_bool("currentPasswordValid").unwrap());
    assert_eq!(call.get_i32("extra").unwrap(), 7, "variadic arguments");
    assert_eq!(
        auth.login_with(login("ok-ann@example.com", "secret1"), None)
            .await
            .unwrap_err(),
        AuthError::InvalidPassword
    );
    assert!(auth
        .login_with(login("ok-ann@example.com", "newpass1"), None)
        .await
        .is_ok());
    assert!(
        auth.refresh(&s.tokens.refresh_token).await.is_err(),
        "a reset revokes sessions"
    );
    // currentPasswordValid is true for the current password; fail changes nothing
    let err = auth
        .call_reset_function(
            "ok-ann@example.com",
            "newpass1",
            vec![Bson::String("no".into())],
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to reset password for user \"ok-ann@example.com\""
    );
    let recorded = docs(&store, "side.tokens").await;
    let call = recorded
        .iter()
        .rev()
        .find(|d| d.get_str("kind").unwrap() == "reset")
        .unwrap();
    assert!(call.get_bool("currentPasswordValid").unwrap());
    // pending: the token the function delivered resets once
    auth.call_reset_function(
        "ok-ann@example.com",
        "third-pass",
        vec![Bson::String("later".into())],
    )
    .await
    .unwrap();
    assert!(
        auth.login_with(login("ok-ann@example.com", "newpass1"), None)
            .await
            .is_ok(),
        "pending changes nothing yet"
    );
    let (token, token_id) = function_token(&store, "ok-ann@example.com", "reset").await;
    assert_eq!(
        auth.reset_password(&token, &token_id, "123")
            .await
            .unwrap_err()
            .code(),
        "BadRequest"
    );
    auth.reset_password(&token, &token_id, "fourth-pass")
        .await
        .unwrap();
    assert_eq!(
        auth.reset_password(&token, &token_id, "fifth-pass")
            .await
            .unwrap_err(),
        AuthError::UserpassTokenInvalid
    );
    assert!(auth
        .login_with(login("ok-ann@example.com", "fourth-pass"), None)
        .await
        .is_ok());
    // a confirmation token does not reset
    auth.register("pending-fe@example.com", "secret1")
        .await
        .unwrap();
    let (token, token_id) = function_token(&store, "pending-fe@example.com", "confirm").await;
    assert_eq!(
        auth.reset_password(&token, &token_id, "whatever1")
            .await
            .unwrap_err(),
        AuthError::UserpassTokenInvalid
    );
    // unknown email; reset/send refused in function mode
    assert_eq!(
        auth.call_reset_function("nobody@example.com", "secret1", vec![])
            .await
            .unwrap_err(),
        AuthError::UserNotFound
    );
    assert_eq!(
        auth.send_password_reset("ok-ann@example.com")
            .await
            .unwrap_err()
            .code(),
        "BadRequest"
    );
}
on_both_stores!(userpass_function_mode, function_mode);

const EMAIL_PROVIDERS: &str = r#"{
  "local-userpass": {"name": "local-userpass", "type": "local-userpass", "disabled": false,
    "config": {"autoConfirm": false, "emailConfirmationUrl": "https://app.example.com/confirm", "confirmEmailSubject": "Welcome",
               "resetPasswordUrl": "https://app.example.com/reset?lang=en", "resetPasswordSubject": "Reset"}}
}"#;

async fn email_mode<S: Store + Clone + 'static>(store: S) {
    let test = app(EMAIL_PROVIDERS);
    let outbox = Arc::new(Outbox::default());
    let auth = auth(&test, &store, outbox.clone());
    assert_eq!(
        auth.register("eve@example.com", "secret1").await.unwrap(),
        AccountStatus::Pending
    );
    {
        let sent = outbox.0.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            (sent[0].to.as_str(), sent[0].subject.as_str()),
            ("eve@example.com", "Welcome")
        );
        assert!(sent[0]
            .url
            .starts_with("https://app.example.com/confirm?token="));
    }
    // resend: a new link; the first one still works once
    let first = outbox.last_link();
    auth.resend_confirmation("eve@example.com").await.unwrap();
    let second = outbox.last_link();
    assert_ne!(first, second);
    assert_eq!(
        auth.resend_confirmation("nobody@example.com")
            .await
            .unwrap_err(),
        AuthError::UserNotFound
    );
    auth.confirm(&second.0, &second.1).await.unwrap();
    assert_eq!(
        auth.resend_confirmation("eve@example.com")
            .await
            .unwrap_err(),
        AuthError::UserAlreadyConfirmed
    );
    assert!(auth
        .login_with(login("eve@example.com", "secret1"), None)
        .await
        .is_ok());
    // reset by email
    auth.send_password_reset("eve@example.com").await.unwrap();
    let (token, token_id) = outbox.last_link();
    assert!(outbox
        .0
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .url
        .starts_with("https://app.example.com/reset?lang=en&token="));
    auth.reset_password(&token, &token_id, "brand-new")
        .await
        .unwrap();
    assert!(auth
        .login_with(login("eve@example.com", "brand-new"), None)
        .await
        .is_ok());
    assert_eq!(
        auth.send_password_reset("nobody@example.com")
            .await
            .unwrap_err(),
        AuthError::UserNotFound
    );
    // reset/call needs a reset function
    assert_eq!(
        auth.call_reset_function("eve@example.com", "secret9", vec![])
            .await
            .unwrap_err()
            .code(),
        "BadRequest"
    );
    // no email sender: registration fails and keeps no account
    let bare = expanse::auth::Auth::new(test.app.clone(), store.clone(), super::issuer());
    assert_eq!(
        bare.register("fay@example.com", "secret1")
            .await
            .unwrap_err()
            .code(),
        "InternalServerError"
    );
    assert_eq!(
        auth.retry_confirmation("fay@example.com")
            .await
            .unwrap_err(),
        AuthError::UserNotFound
    );
}
on_both_stores!(userpass_email_mode, email_mode);

/// An email sender whose delivery fails, with a reason that must stay with the operator.
struct Undeliverable;

impl EmailSender for Undeliverable {
    fn send<'a>(&'a self, _: Email) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async {
            let io = std::io::Error::other("smtp: 535 auth failed for smtp-password-hunter2");
            Err(SendError::new(io))
        })
    }
}

/// A failing `EmailSender` fails the registration with a generic error: the sender's reason
/// (here carrying a password) never reaches the client, and no account is kept, as with no
/// sender at all.
async fn email_sender_fails<S: Store + Clone + 'static>(store: S) {
    let test = app(EMAIL_PROVIDERS);
    let (functions, _) = expanse::functions::Functions::builder(test.app.clone(), store.clone())
        .build()
        .unwrap();
    let auth = expanse::auth::Auth::new(test.app.clone(), store.clone(), super::issuer())
        .with_functions(Arc::new(functions))
        .with_email_sender(Arc::new(Undeliverable));
    let err = auth
        .register("gus@example.com", "secret1")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InternalServerError");
    let text = err.to_string();
    assert!(text.contains("the email could not be sent"), "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("smtp"),
        "{text}"
    );
    assert_eq!(
        auth.retry_confirmation("gus@example.com")
            .await
            .unwrap_err(),
        AuthError::UserNotFound
    );
    // the reason is kept, as a source, for whoever handles the sender's own error
    let own = SendError::new(std::io::Error::other("smtp down"));
    assert_eq!(own.to_string(), "the email could not be sent: smtp down");
    assert!(std::error::Error::source(&own).is_some());
    let plain: SendError = "queue full".into();
    assert!(std::error::Error::source(&plain).is_none());
}
on_both_stores!(userpass_email_sender_fails, email_sender_fails);

const AUTO_PROVIDERS: &str = r#"{
  "local-userpass": {"name": "local-userpass", "type": "local-userpass", "disabled": false, "config": {"autoConfirm": true, "resetPasswordUrl": "https://x"}},
  "anon-user": {"name": "anon-user", "type": "anon-user", "disabled": true}
}"#;

async fn auto_confirm_and_timing<S: Store + Clone + 'static>(store: S) {
    let test = app(AUTO_PROVIDERS);
    let auth = auth(&test, &store, Arc::new(Outbox::default()));
    assert_eq!(
        auth.register("gus@example.com", "secret1").await.unwrap(),
        AccountStatus::Confirmed
    );
    assert!(auth
        .login_with(login("gus@example.com", "secret1"), None)
        .await
        .is_ok());
    // the same hash work for a known user with a wrong password and an unknown user
    let before = auth.passwords().work();
    let _ = auth
        .login_with(login("gus@example.com", "wrong-one"), None)
        .await;
    let known = auth.passwords().work() - before;
    let before = auth.passwords().work();
    let _ = auth
        .login_with(login("nobody@example.com", "wrong-one"), None)
        .await;
    let unknown = auth.passwords().work() - before;
    assert_eq!((known, unknown), (1, 1), "one Argon2id hash either way");
    // and about the same time (generous: timing is only a sanity check; the count is the proof)
    let time = |email: &'static str| {
        let auth = &auth;
        async move {
            let start = std::time::Instant::now();
            for _ in 0..3 {
                let _ = auth.login_with(login(email, "wrong-one"), None).await;
            }
            start.elapsed().as_secs_f64()
        }
    };
    let (k, u) = (
        time("gus@example.com").await,
        time("nobody@example.com").await,
    );
    assert!(u > k / 5.0 && u < k * 5.0, "known {k:.3}s, unknown {u:.3}s");
    // a duplicate registration hashes too (no cheaper path to learn that an email exists)
    let before = auth.passwords().work();
    assert_eq!(
        auth.register("gus@example.com", "secret1")
            .await
            .unwrap_err(),
        AuthError::AccountNameInUse
    );
    assert_eq!(auth.passwords().work() - before, 1);
    // a disabled provider
    let err = auth
        .login_with(Credential::Anonymous, None)
        .await
        .unwrap_err();
    assert_eq!(err, AuthError::ProviderDisabled("anon-user".into()));
    // the stored hash is Argon2id with the documented parameters, never the password
    let accounts = docs(&store, "__expanse.userpass_accounts").await;
    let hash = accounts[0].get_str("password_hash").unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains("secret1"));
}
on_both_stores!(
    userpass_auto_confirm_and_equal_work,
    auto_confirm_and_timing
);

/// 64 concurrent registrations of one email: exactly one account.
async fn concurrent_registrations<S: Store + Clone + 'static>(store: S) {
    let test = app(AUTO_PROVIDERS);
    let auth = Arc::new(
        auth(&test, &store, Arc::new(Outbox::default()))
            .with_password_params(expanse::auth::PasswordParams {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            })
            .unwrap(),
    );
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let auth = auth.clone();
            tokio::spawn(async move {
                auth.register("race@example.com", &format!("password{i}"))
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(AuthError::AccountNameInUse) => {}
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(ok, 1);
    let accounts = docs(&store, "__expanse.userpass_accounts").await;
    assert_eq!(
        accounts
            .iter()
            .filter(|a| a.get_str("_id").unwrap() == "race@example.com")
            .count(),
        1
    );
    // 64 concurrent first logins of that account: one user
    let password = {
        let mut found = None;
        for i in 0..64 {
            if auth
                .login_with(login("race@example.com", &format!("password{i}")), None)
                .await
                .is_ok()
            {
                found = Some(format!("password{i}"));
                break;
            }
        }
        found.unwrap()
    };
    let _ = super::docs(&store, "__expanse.users").await;
    let before = docs(&store, "__expanse.users").await.len();
    assert_eq!(before, 1);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (auth, password) = (auth.clone(), password.clone());
            tokio::spawn(async move {
                auth.login_with(login("race@example.com", &password), None)
                    .await
                    .map(|s| s.user.id)
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1);
    assert_eq!(docs(&store, "__expanse.users").await.len(), 1);
}
on_both_stores!(
    userpass_sixty_four_concurrent_registrations,
    concurrent_registrations
);
