//! `expanse users import`: an App Services user export becomes stored users with their ids;
//! email/password users must reset their password.

use std::sync::Arc;

use bson::doc;
use expanse::auth::{AuthError, Credential};
use expanse::store::Store;

use super::{app, auth, on_both_stores, Outbox, APP_ID, JWT_KEY_1, PROVIDERS};

const EXPORT: &str = r#"[
  {"_id": "5f8e0a0e1c9d440000a1b2c3", "type": "normal", "disabled": false,
   "creation_date": 1600000000, "last_authentication_date": 1600000500,
   "data": {"email": "old@example.com"},
   "identities": [{"id": "5f8e0a0e1c9d440000a1b2c4", "provider_type": "local-userpass", "provider_id": "5f8e0a0e1c9d440000000001", "provider_data": {}}]},
  {"_id": "5f8e0a0e1c9d440000a1b2c5", "type": "normal",
   "creation_date": 1600000000, "last_authentication_date": 1600000500, "data": {"name": "Jwt"},
   "identities": [{"id": "ext-77", "provider_type": "custom-token", "provider_id": "5f8e0a0e1c9d440000000002"}]},
  {"_id": "5f8e0a0e1c9d440000a1b2c6", "type": "normal", "data": {},
   "identities": [{"id": "fn-88", "provider_type": "custom-function"}]},
  {"_id": "5f8e0a0e1c9d440000a1b2c7", "type": "server", "data": {"name": "backend"}, "disabled": true,
   "identities": [{"id": "5f8e0a0e1c9d440000a1b2c8", "provider_type": "api-key"}]},
  {"_id": "not-an-id", "type": "normal", "identities": []}
]"#;

async fn import<S: Store + Clone + 'static>(store: S) {
    let test = app(PROVIDERS);
    let auth = auth(&test, &store, Arc::new(Outbox::default()));
    let export: serde_json::Value = serde_json::from_str(EXPORT).unwrap();
    let report = auth.import_users(&export).await.unwrap();
    assert_eq!(
        (report.created, report.reset_required),
        (4, 1),
        "{report:?}"
    );
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].0, "not-an-id");
    // ids, dates, data and disabled kept
    let jwt = auth
        .users()
        .get("5f8e0a0e1c9d440000a1b2c5")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (jwt.creation_date, jwt.last_authentication_date),
        (1600000000, 1600000500)
    );
    assert!(
        auth.users()
            .get("5f8e0a0e1c9d440000a1b2c7")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    // a custom-token user logs in as the imported user
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({"sub": "ext-77", "aud": APP_ID, "exp": 4_000_000_000i64, "user_data": {"name": "Jwt"}}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_KEY_1.as_bytes()),
    )
    .unwrap();
    let s = auth
        .login_with(Credential::CustomToken { token }, None)
        .await
        .unwrap();
    assert_eq!(s.user.id, "5f8e0a0e1c9d440000a1b2c5");
    let s = auth
        .login_with(
            Credential::CustomFunction {
                payload: doc! {"secret": "open sesame", "user": "fn-88"},
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(s.user.id, "5f8e0a0e1c9d440000a1b2c6");
    // email/password: reset required, then the reset flow gives the same user
    let login = |p: &str| Credential::UserPassword {
        username: "old@example.com".into(),
        password: p.into(),
    };
    let err = auth.login_with(login("anything"), None).await.unwrap_err();
    assert_eq!(
        (err.clone(), err.code()),
        (AuthError::PasswordResetRequired, "InvalidPassword")
    );
    assert_eq!(
        auth.register("old@example.com", "secret1")
            .await
            .unwrap_err(),
        AuthError::AccountNameInUse
    );
    auth.call_reset_function(
        "old@example.com",
        "fresh-pass",
        vec![bson::Bson::String("yes".into())],
    )
    .await
    .unwrap();
    let s = auth.login_with(login("fresh-pass"), None).await.unwrap();
    assert_eq!(s.user.id, "5f8e0a0e1c9d440000a1b2c3");
    // importing again skips what exists
    let again = auth.import_users(&export).await.unwrap();
    assert_eq!(again.created, 0);
    assert_eq!(again.skipped.len(), 5);
}
on_both_stores!(import_app_services_users, import);

/// The command line: `expanse users import FILE APP_DIR --mongodb URI`, then the library sees
/// the imported users in the same database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_command() {
    let test = app(PROVIDERS);
    let file = test.app.dir.join("export.json");
    std::fs::write(&file, EXPORT).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_expanse"))
            .args(args)
            .env_remove("MONGODB_URI")
            .output()
            .unwrap()
    };
    let app_dir = test.app.dir.display().to_string();
    let file_arg = file.display().to_string();
    // no MongoDB: a clear error, exit 2
    let out = run(&["users", "import", &file_arg, &app_dir]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--mongodb"));
    // a malformed export: file:line:col
    let bad = test.app.dir.join("bad.json");
    std::fs::write(&bad, "{\"_id\": 1}\n{oops}\n").unwrap();
    let out = run(&[
        "users",
        "import",
        &bad.display().to_string(),
        &app_dir,
        "--mongodb",
        "mongodb://127.0.0.1:9",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad.json:2:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let Some(uri) = crate::common::mongodb_uri("the_import_command") else {
        return;
    };
    let database = format!("users_import_{}", bson::oid::ObjectId::new().to_hex());
    let out = run(&[
        "users",
        "import",
        &file_arg,
        &app_dir,
        "--mongodb",
        &uri,
        "--database",
        &database,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("imported 4 users (1 must reset their password); skipped 1"),
        "{stdout}"
    );
    let store = expanse::store::MongoStore::connect(&uri).await.unwrap();
    let auth = expanse::auth::Auth::new(test.app.clone(), store.clone(), super::issuer())
        .with_users_config(expanse::users::UsersConfig {
            database: database.clone(),
        });
    let users = auth.users().list().await.unwrap();
    assert_eq!(users.len(), 4);
    assert_eq!(users[0].id, "5f8e0a0e1c9d440000a1b2c3");
    store.client().database(&database).drop().await.unwrap();
}
