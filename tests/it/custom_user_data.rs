//! Custom user data and tokens against the real MongoDB-wire test server (App Services' custom user data), and
//! both permission models end to end.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bson::{doc, oid::ObjectId, Bson, Document};
use expanse::auth::{Auth, AuthError, BoxFuture, SystemFunctions, TokenConfig, TokenIssuer};
use expanse::functions::Thrown;
use expanse::store::{FindOptions, MongoStore, Namespace, Store, Write};
use expanse::{App, User};

fn issuer() -> TokenIssuer {
    TokenIssuer::new(TokenConfig::hs256(b"integration-secret-integration-secret".to_vec()).unwrap())
        .unwrap()
}

/// A store with its own database prefix, so tests never see each other's data.
async fn store(test: &str) -> Option<MongoStore> {
    let uri = common::mongodb_uri(test)?;
    let base = MongoStore::connect(&uri)
        .await
        .expect("the test server answers");
    let store =
        base.with_database_prefix(format!("cud_{}_{}_", test.len(), ObjectId::new().to_hex()));
    Some(store)
}

async fn seed(store: &MongoStore, ns: &str, docs: Vec<Document>) {
    let ns = Namespace::parse(ns).unwrap();
    for d in docs {
        store.apply(&ns, vec![Write::Insert(d)]).await.unwrap();
    }
}

fn app(dir: &str) -> Arc<App> {
    Arc::new(App::load(dir).unwrap().app)
}

#[tokio::test]
async fn lookup_rules_first_inserted_string_before_object_id_missing_document() {
    let Some(store) = store("lookup_rules").await else {
        return;
    };
    let id = "64b7f0c2a1b2c3d4e5f60001";
    let oid = ObjectId::parse_str(id).unwrap();
    seed(
        &store,
        "notes_app.users",
        vec![
            doc! {"_id": ObjectId::parse_str("64b7f0c2a1b2c3d4e5f60a05").unwrap(), "user_id": oid, "by": "objectid"},
            doc! {"_id": ObjectId::parse_str("64b7f0c2a1b2c3d4e5f60a02").unwrap(), "user_id": id, "by": "string, first"},
            doc! {"_id": ObjectId::parse_str("64b7f0c2a1b2c3d4e5f60a03").unwrap(), "user_id": id, "by": "string, second"},
            doc! {"_id": ObjectId::parse_str("64b7f0c2a1b2c3d4e5f60a04").unwrap(), "user_id": ObjectId::parse_str("64b7f0c2a1b2c3d4e5f60009").unwrap(), "by": "objectid only"},
        ],
    )
    .await;
    let auth = Auth::new(app("fixtures/app"), store.clone(), issuer());
    let session = auth.login(User::new(id)).await.unwrap();
    assert_eq!(
        session.user.custom_data.get_str("by").unwrap(),
        "string, first",
        "a string id wins, then the smallest _id"
    );
    let claims = auth
        .tokens()
        .verify_access(&session.tokens.access_token)
        .unwrap();
    assert_eq!(claims.user_data.unwrap()["by"], "string, first");
    let session = auth
        .login(User::new("64b7f0c2a1b2c3d4e5f60009"))
        .await
        .unwrap();
    assert_eq!(
        session.user.custom_data.get_str("by").unwrap(),
        "objectid only",
        "an ObjectId id is found too"
    );
    let session = auth
        .login(User::new("64b7f0c2a1b2c3d4e5f60077"))
        .await
        .unwrap();
    assert_eq!(
        session.user.custom_data,
        doc! {},
        "no document: custom data is {{}}"
    );
    assert_eq!(
        auth.tokens()
            .verify_access(&session.tokens.access_token)
            .unwrap()
            .user_data,
        None
    );
    store.drop_prefixed_databases().await.unwrap();
}

#[tokio::test]
async fn refresh_picks_up_changes_and_staleness_can_be_bounded() {
    let Some(store) = store("refresh_staleness").await else {
        return;
    };
    seed(
        &store,
        "notes_app.users",
        vec![doc! {"user_id": "u1", "language": "en"}],
    )
    .await;
    let users = Namespace::new("notes_app", "users");
    let auth = Auth::new(app("fixtures/app"), store.clone(), issuer());
    let session = auth.login(User::new("u1")).await.unwrap();
    let stored = store
        .find(&users, &doc! {}, &FindOptions::default())
        .await
        .unwrap()
        .remove(0);
    let mut changed = stored.clone();
    changed.insert("language", "fr");
    store
        .apply(
            &users,
            vec![Write::Replace {
                pre: stored,
                post: changed,
            }],
        )
        .await
        .unwrap();
    // App Services behaviour: the token keeps the data it was issued with…
    let user = auth.verify(&session.tokens.access_token).await.unwrap();
    assert_eq!(user.custom_data.get_str("language").unwrap(), "en");
    // …until a refresh, which reads it again.
    let access = auth.refresh(&session.tokens.refresh_token).await.unwrap();
    let user = auth.verify(&access).await.unwrap();
    assert_eq!(user.custom_data.get_str("language").unwrap(), "fr");
    // With a staleness bound, an older token's custom data is read again without a new login.
    let bounded =
        Auth::new(app("fixtures/app"), store.clone(), issuer()).with_max_staleness(Duration::ZERO);
    let session = bounded.login(User::new("u1")).await.unwrap();
    let stored = store
        .find(&users, &doc! {}, &FindOptions::default())
        .await
        .unwrap()
        .remove(0);
    let mut changed = stored.clone();
    changed.insert("language", "de");
    store
        .apply(
            &users,
            vec![Write::Replace {
                pre: stored,
                post: changed,
            }],
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let user = bounded.verify(&session.tokens.access_token).await.unwrap();
    assert_eq!(user.custom_data.get_str("language").unwrap(), "de");
    store.drop_prefixed_databases().await.unwrap();
}

/// Records system calls and runs the fixtures' creation and login functions in Rust.
struct Functions {
    store: MongoStore,
    calls: Mutex<Vec<(String, Bson)>>,
    fail_creation: bool,
}

impl SystemFunctions for Functions {
    fn call_as_system<'a>(
        &'a self,
        name: &'a str,
        args: Vec<Bson>,
    ) -> BoxFuture<'a, Result<Bson, Thrown>> {
        Box::pin(async move {
            self.calls
                .lock()
                .unwrap()
                .push((name.to_owned(), args.first().cloned().unwrap_or(Bson::Null)));
            let users = Namespace::new("notes_app", "users");
            match name {
                "createUserDocument" if self.fail_creation => Err("refused".into()),
                "createUserDocument" => {
                    let user = args[0].as_document().unwrap();
                    let doc = doc! {"user_id": user.get_str("id").unwrap(), "role": "member", "language": "en"};
                    self.store
                        .apply(&users, vec![Write::Insert(doc)])
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok(Bson::Null)
                }
                "recordLogin" => {
                    let event = args[0].as_document().unwrap();
                    let id = event.get_document("user").unwrap().get_str("id").unwrap();
                    let found = self
                        .store
                        .find(&users, &doc! {"user_id": id}, &FindOptions::default())
                        .await
                        .map_err(|e| e.to_string())?;
                    if let Some(pre) = found.into_iter().next() {
                        let mut post = pre.clone();
                        post.insert("lastLogin", event.get("time").cloned().unwrap());
                        self.store
                            .apply(&users, vec![Write::Replace { pre, post }])
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(Bson::Null)
                }
                other => Err(format!("no function {other}").into()),
            }
        })
    }
}

#[tokio::test]
async fn user_creation_function_and_login_trigger() {
    let Some(store) = store("creation_and_triggers").await else {
        return;
    };
    let functions = Arc::new(Functions {
        store: store.clone(),
        calls: Mutex::new(Vec::new()),
        fail_creation: false,
    });
    let auth =
        Auth::new(app("fixtures/app"), store.clone(), issuer()).with_functions(functions.clone());
    let user =
        User::new("u9").with_identities(vec![doc! {"id": "x", "provider_type": "local-userpass"}]);
    let session = auth.create_user(user.clone()).await.unwrap();
    // the creation function ran before the first token: its data is in it
    assert_eq!(session.user.custom_data.get_str("role").unwrap(), "member");
    let calls = functions.calls.lock().unwrap().clone();
    assert_eq!(
        calls.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["createUserDocument", "recordLogin"]
    );
    let event = calls[1].1.as_document().unwrap();
    assert_eq!(event.get_str("operationType").unwrap(), "LOGIN");
    assert_eq!(
        event.get_array("providers").unwrap(),
        &vec![Bson::String("local-userpass".into())]
    );
    // the trigger wrote lastLogin, which the next refresh carries
    let access = auth.refresh(&session.tokens.refresh_token).await.unwrap();
    let user_now = auth.verify(&access).await.unwrap();
    assert!(matches!(
        user_now.custom_data.get("lastLogin"),
        Some(Bson::DateTime(_))
    ));

    // a failing creation function fails the creation: no tokens, no document
    let failing = Auth::new(app("fixtures/app"), store.clone(), issuer()).with_functions(Arc::new(
        Functions {
            store: store.clone(),
            calls: Mutex::new(Vec::new()),
            fail_creation: true,
        },
    ));
    let err = failing.create_user(User::new("u10")).await.unwrap_err();
    assert!(matches!(err, AuthError::CreationFunction { .. }), "{err}");
    let users = Namespace::new("notes_app", "users");
    assert!(store
        .find(&users, &doc! {"user_id": "u10"}, &FindOptions::default())
        .await
        .unwrap()
        .is_empty());
    // without a runtime, a configured creation function is an error, not silently skipped
    let bare = Auth::new(app("fixtures/app"), store.clone(), issuer());
    assert!(matches!(
        bare.create_user(User::new("u11")).await,
        Err(AuthError::NoRuntime(_))
    ));
    store.drop_prefixed_databases().await.unwrap();
}

#[tokio::test]
async fn model_one_users_edit_only_their_own_document() {
    let Some(store) = store("model_one").await else {
        return;
    };
    seed(
        &store,
        "selfserve.profiles",
        vec![
            doc! {"_id": 1, "user_id": "u1", "language": "en", "plan": "free"},
            doc! {"_id": 2, "user_id": "u2", "language": "fr", "plan": "pro"},
        ],
    )
    .await;
    let app = app("fixtures/user-owned-app");
    let auth = Auth::new(app.clone(), store.clone(), issuer());
    let session = auth.login(User::new("u1")).await.unwrap();
    let user = auth.verify(&session.tokens.access_token).await.unwrap();
    let profiles = app
        .collection(&store, &user, "selfserve", "profiles")
        .unwrap();
    profiles
        .update_one(
            &doc! {"user_id": "u1"},
            &doc! {"$set": {"language": "es"}},
            false,
        )
        .await
        .unwrap();
    assert!(profiles
        .update_one(
            &doc! {"user_id": "u1"},
            &doc! {"$set": {"plan": "pro"}},
            false
        )
        .await
        .is_err());
    // u2's profile is not u1's to read: it is not there for u1 to write
    let other = profiles
        .update_one(
            &doc! {"user_id": "u2"},
            &doc! {"$set": {"language": "es"}},
            false,
        )
        .await
        .unwrap();
    assert_eq!(other.matched_count, 0);
    let access = auth.refresh(&session.tokens.refresh_token).await.unwrap();
    assert_eq!(
        auth.verify(&access)
            .await
            .unwrap()
            .custom_data
            .get_str("language")
            .unwrap(),
        "es"
    );
    store.drop_prefixed_databases().await.unwrap();
}

#[tokio::test]
async fn model_two_only_the_system_writes_custom_data() {
    let Some(store) = store("model_two").await else {
        return;
    };
    seed(
        &store,
        "notes_app.users",
        vec![doc! {"_id": 1, "user_id": "u1", "role": "member", "language": "en"}],
    )
    .await;
    let app = app("fixtures/app");
    let auth = Auth::new(app.clone(), store.clone(), issuer());
    let session = auth.login(User::new("u1")).await.unwrap();
    let user = auth.verify(&session.tokens.access_token).await.unwrap();
    let users = app.collection(&store, &user, "notes_app", "users").unwrap();
    assert_eq!(
        users
            .find(&doc! {}, &FindOptions::default())
            .await
            .unwrap()
            .len(),
        1
    );
    for update in [
        doc! {"$set": {"role": "admin"}},
        doc! {"$set": {"language": "fr"}},
    ] {
        assert!(users
            .update_one(&doc! {"user_id": "u1"}, &update, false)
            .await
            .is_err());
    }
    assert!(users
        .insert_one(doc! {"user_id": "u1", "role": "admin"})
        .await
        .is_err());
    // the system writes it for the user, using their id
    let system = User::system();
    let as_system = app
        .collection(&store, &system, "notes_app", "users")
        .unwrap();
    as_system
        .update_one(
            &doc! {"user_id": user.id.as_str()},
            &doc! {"$set": {"language": "fr"}},
            false,
        )
        .await
        .unwrap();
    let access = auth.refresh(&session.tokens.refresh_token).await.unwrap();
    let refreshed = auth.verify(&access).await.unwrap();
    assert_eq!(refreshed.custom_data.get_str("language").unwrap(), "fr");
    assert_eq!(refreshed.custom_data.get_str("role").unwrap(), "member");
    store.drop_prefixed_databases().await.unwrap();
}

#[tokio::test]
async fn the_example_apps_javascript_creation_function_and_login_trigger_run() {
    let Some(store) = store("js_hooks").await else {
        return;
    };
    let app = app("fixtures/app");
    let (functions, _) = expanse::functions::Functions::builder(app.clone(), store.clone())
        .build()
        .unwrap();
    let auth = Auth::new(app, store.clone(), issuer()).with_functions(Arc::new(functions));
    let user =
        User::new("u7").with_identities(vec![doc! {"id": "x", "provider_type": "local-userpass"}]);
    let session = auth.create_user(user).await.unwrap();
    assert_eq!(
        session.user.custom_data.get_str("role").unwrap(),
        "member",
        "createUserDocument.js ran before the first token"
    );
    let access = auth.refresh(&session.tokens.refresh_token).await.unwrap();
    let refreshed = auth.verify(&access).await.unwrap();
    assert!(
        matches!(
            refreshed.custom_data.get("lastLogin"),
            Some(Bson::DateTime(_))
        ),
        "recordLogin.js wrote lastLogin: {:?}",
        refreshed.custom_data
    );
    store.drop_prefixed_databases().await.unwrap();
}
