//! `custom-function`: the function's id (or `{id, name}`) is the identity; a throw refuses.

use std::sync::Arc;

use bson::doc;
use expanse::auth::{AuthError, Credential};
use expanse::store::Store;

use super::{app, auth, on_both_stores, Outbox, PROVIDERS};

async fn custom_function<S: Store + Clone + 'static>(store: S) {
    let test = app(PROVIDERS);
    let auth = auth(&test, &store, Arc::new(Outbox::default()));
    let login = |payload: bson::Document| Credential::CustomFunction { payload };
    let a = auth
        .login_with(login(doc! {"secret": "open sesame", "user": "ext-1"}), None)
        .await
        .unwrap();
    assert_eq!(a.user.identities[0].get_str("id").unwrap(), "ext-1");
    assert_eq!(
        a.user.identities[0].get_str("provider_type").unwrap(),
        "custom-function"
    );
    let b = auth
        .login_with(
            login(doc! {"secret": "open sesame", "user": "ext-1", "name": "Kim"}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        b.user.id, a.user.id,
        "a known external id logs that user in"
    );
    assert_eq!(b.user.data.get_str("name").unwrap(), "Kim");
    let c = auth
        .login_with(login(doc! {"secret": "open sesame", "user": "ext-2"}), None)
        .await
        .unwrap();
    assert_ne!(c.user.id, a.user.id);
    // the body as the SDK sends it: options are not passed to the function
    let body =
        doc! {"secret": "open sesame", "user": "ext-1", "options": {"device": {"sdkVersion": "2"}}};
    let cred = Credential::from_body("custom-function", &body).unwrap();
    assert_eq!(cred, login(doc! {"secret": "open sesame", "user": "ext-1"}));
    // a throw refuses with its message, 401
    let err = auth
        .login_with(login(doc! {"secret": "guess", "user": "ext-1"}), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AuthError::FunctionRefused(m) if m.contains("wrong secret")),
        "{err}"
    );
    assert_eq!(err.status(), 401);
    // no id: refused
    let err = auth
        .login_with(login(doc! {"secret": "open sesame", "nothing": true}), None)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::FunctionRefused(_)), "{err}");
}
on_both_stores!(custom_function_logins, custom_function);
