//! `auth/providers.json` in both layouts, with `file:line:col` errors; the users store's
//! indexes on the test server.

use bson::doc;
use expanse::App;

use super::write_app;

fn load(providers: &str) -> Result<App, String> {
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), providers);
    App::load(dir.path()).map(|l| l.app).map_err(|e| {
        e.to_string()
            .replace(&dir.path().display().to_string(), "APP")
    })
}

#[test]
fn providers_load_in_both_layouts() {
    let app = load(super::PROVIDERS).unwrap();
    assert_eq!(app.auth_providers.len(), 5);
    let jwt = &app.auth_providers["custom-token"];
    assert_eq!(jwt.metadata_fields[0].key(), "name");
    assert_eq!(jwt.metadata_fields[2].segments(), ["weird.key"]);
    assert_eq!(app.app_id, super::APP_ID);
    // an array of providers (the Admin API's shape)
    let app = load(r#"[{"name": "anon-user", "type": "anon-user", "disabled": true}]"#).unwrap();
    assert!(app.auth_providers["anon-user"].disabled);
    // the legacy layout: auth_providers/<name>.json
    let dir = tempfile::tempdir().unwrap();
    write_app(dir.path(), "{}");
    std::fs::remove_file(dir.path().join("auth/providers.json")).unwrap();
    std::fs::create_dir(dir.path().join("auth_providers")).unwrap();
    std::fs::write(
        dir.path().join("auth_providers/custom-function.json"),
        r#"{"name": "custom-function", "type": "custom-function", "config": {"authFunctionName": "authFunc"}}"#,
    )
    .unwrap();
    let app = App::load(dir.path()).unwrap().app;
    assert_eq!(
        app.auth_providers["custom-function"].text("authFunctionName"),
        Some("authFunc")
    );
}

#[test]
fn provider_errors_name_file_line_and_column() {
    let err = load("{\n  \"anon-user\": {\"type\": \"anon-usr\"}\n}").unwrap_err();
    assert!(
        err.contains("APP/auth/providers.json:2:25: unknown provider type \"anon-usr\""),
        "{err}"
    );
    assert!(err.contains("did you mean \"anon-user\"?"), "{err}");
    let err = load("{\n  \"custom-function\": {\"type\": \"custom-function\",\n    \"config\": {\"authFunctionName\": \"nope\"}}\n}").unwrap_err();
    assert!(err.contains("APP/auth/providers.json:2:22: provider \"custom-function\": authFunctionName names function \"nope\""), "{err}");
    let err = load(r#"{"custom-token": {"type": "custom-token", "config": {"signingAlgorithm": "ES256"}, "secret_config": {"signingKeys": ["a", "b", "c", "d"]}}}"#).unwrap_err();
    assert!(
        err.contains("signingAlgorithm must be HS256 or RS256"),
        "{err}"
    );
    assert!(err.contains("at most 3 signing keys"), "{err}");
    let err = load(r#"{"custom-token": {"type": "custom-token", "config": {"useJWKURI": true, "jwkURI": "file:x", "signingAlgorithm": "HS256"}}}"#).unwrap_err();
    assert!(err.contains("a JWK URI requires RS256"), "{err}");
    let err =
        load(r#"{"local-userpass": {"type": "local-userpass", "config": {"autoConfirm": false}}}"#)
            .unwrap_err();
    assert!(err.contains("choose a confirmation mode"), "{err}");
    let err = load(r#"{"anon-user": {"type": "anon-user", "disabled": "yes"}}"#).unwrap_err();
    assert!(
        err.contains(":1:49: \"disabled\" must be a boolean"),
        "{err}"
    );
    let err = load(r#"{"custom-token": {"type": "custom-token", "secret_config": {"signingKeys": ["k"]}, "metadata_fields": [{"name": "a", "field_name": "FIELD_NAME_TOO_LONG_FIELD_NAME_TOO_LONG_FIELD_NAME_TOO_LONG_FIELD"}]}}"#).unwrap_err();
    assert!(
        err.contains("field_name must be shorter than 64 characters"),
        "{err}"
    );
    let err = load("[1]").unwrap_err();
    assert!(err.contains("a provider must be an object"), "{err}");
}

/// The indexes the users store creates at start, as the server lists them.
#[tokio::test]
async fn indexes_are_created_at_start_on_the_server() {
    let Some(store) = super::mongo("indexes_are_created_at_start_on_the_server").await else {
        return;
    };
    let test = super::app(super::PROVIDERS);
    let auth = expanse::auth::Auth::new(test.app.clone(), store.clone(), super::issuer());
    auth.start().await.unwrap();
    let db = store
        .client()
        .database(&store.database_name(&expanse::store::Namespace::new("__expanse", "x")));
    let indexes = |coll: &'static str| {
        let db = db.clone();
        async move {
            use futures_util::TryStreamExt;
            db.collection::<bson::Document>(coll)
                .list_indexes()
                .await
                .unwrap()
                .try_collect::<Vec<_>>()
                .await
                .unwrap()
        }
    };
    let sessions = indexes("sessions").await;
    let ttl = sessions
        .iter()
        .find(|i| i.keys == doc! {"expires_at": 1})
        .expect("a TTL index");
    assert_eq!(
        ttl.options.as_ref().unwrap().expire_after,
        Some(std::time::Duration::ZERO)
    );
    assert!(sessions.iter().any(|i| i.keys == doc! {"user_id": 1}));
    let keys = indexes("api_keys").await;
    for k in [doc! {"key_hash": 1}, doc! {"owner": 1, "name": 1}] {
        let i = keys.iter().find(|i| i.keys == k).expect("unique index");
        assert_eq!(i.options.as_ref().unwrap().unique, Some(true));
    }
    let tokens = indexes("userpass_tokens").await;
    assert!(tokens.iter().any(|i| i.keys == doc! {"expires_at": 1}));
    store.drop_prefixed_databases().await.unwrap();
}
