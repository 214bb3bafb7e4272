//! Functions: execution users (App Services' execution users), configuration, the context, limits,
//! `%function` in rules, and the two custom user data permission models end to end.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use crate::common::apps::write_app;
use bson::{bson, doc, Bson};
use expanse::auth::{Auth, TokenConfig, TokenIssuer};
use expanse::functions::{Context, FunctionError, Functions, Thrown};
use expanse::store::{FindOptions, MemoryStore, MongoStore, Namespace, Store, Write};
use expanse::{App, User};

const CONFIG: &str = r#"[
  {"name": "whoAmI", "private": false},
  {"name": "asSystem", "private": false, "run_as_system": true},
  {"name": "asFixedUser", "private": false, "run_as_user_id": "fixed"},
  {"name": "secret", "private": true},
  {"name": "adminsOnly", "private": false, "can_evaluate": {"%%user.custom_data.admin": true}},
  {"name": "fromOffice", "private": false, "can_evaluate": {"%%request.remoteIPAddress": {"$in": ["10.0.0.1"]}}},
  {"name": "chain", "private": false},
  {"name": "chainToSystem", "private": false},
  {"name": "recurse", "private": false},
  {"name": "slow", "private": false},
  {"name": "fails", "private": false},
  {"name": "chainToFails", "private": false},
  {"name": "writeOwn", "private": false},
  {"name": "isEditor", "private": true},
  {"name": "scripted", "private": false, "run_as_user_id_script_source": "exports = () => 'x'"}
]"#;

const RULES: &str = r#"{"database": "db", "collection": "docs", "roles": [
  {"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true, "write": true},
  {"name": "editor", "apply_when": {"%%true": {"%function": {"name": "isEditor", "arguments": ["%%user.id"]}}}, "read": true, "write": true}
]}"#;

fn app() -> (tempfile::TempDir, Arc<App>) {
    let dir = write_app(&[
        ("root_config.json", "{}"),
        ("functions/config.json", CONFIG),
        (
            "data_sources/mongodb-atlas/config.json",
            r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
        ),
        ("data_sources/mongodb-atlas/db/docs/rules.json", RULES),
        (
            "values/greeting.json",
            r#"{"name": "greeting", "value": "hello"}"#,
        ),
    ]);
    let app = Arc::new(App::load(dir.path()).unwrap().app);
    (dir, app)
}

/// What a function saw: `[caller id, execution user id, running as system]`.
fn describe(ctx: &Context<impl Store + Clone + 'static>) -> Bson {
    bson!([
        ctx.user().id.clone(),
        ctx.execution_user().id.clone(),
        ctx.running_as_system()
    ])
}

fn functions<S: Store + Clone + 'static>(app: Arc<App>, store: S) -> Functions<S> {
    let (functions, warnings) = Functions::builder(app, store)
        .time_limit(Duration::from_millis(200))
        .max_depth(5)
        .register(
            "whoAmI",
            |ctx: Context<S>, _| async move { Ok(describe(&ctx)) },
        )
        .register("asSystem", |ctx: Context<S>, _| async move {
            Ok(describe(&ctx))
        })
        .register("asFixedUser", |ctx: Context<S>, _| async move {
            Ok(describe(&ctx))
        })
        .register("secret", |_: Context<S>, _| async move { Ok(bson!("s")) })
        .register(
            "adminsOnly",
            |_: Context<S>, _| async move { Ok(bson!("ok")) },
        )
        .register("fromOffice", |ctx: Context<S>, _| async move {
            Ok(ctx.value("greeting").unwrap_or(Bson::Null))
        })
        .register("chain", |ctx: Context<S>, args: Vec<Bson>| async move {
            Ok(ctx.execute("whoAmI", args).await?)
        })
        .register(
            "chainToSystem",
            |ctx: Context<S>, args: Vec<Bson>| async move {
                let inner = ctx.execute("asSystem", args).await?;
                let secret = ctx.execute("secret", vec![]).await?;
                Ok(bson!([inner, secret]))
            },
        )
        .register("recurse", |ctx: Context<S>, _| async move {
            Ok(ctx.execute("recurse", vec![]).await?)
        })
        .register("slow", |_: Context<S>, _| async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(Bson::Null)
        })
        .register(
            "fails",
            |_: Context<S>, _| async move { Err("boom".into()) },
        )
        // `?` on the callee's `FunctionError`
        .register("chainToFails", |ctx: Context<S>, _| async move {
            Ok(ctx.execute("fails", vec![]).await?)
        })
        .register("writeOwn", |ctx: Context<S>, args: Vec<Bson>| async move {
            let docs = ctx
                .services()
                .get("mongodb-atlas")
                .ok_or("no service")?
                .db("db")
                .collection("docs");
            let id = args.first().cloned().unwrap_or(Bson::Null);
            docs.update_one(&doc! {"_id": id}, &doc! {"$set": {"touched": true}}, false)
                .await
                .map(|r| bson!(r.modified_count as i64))
                .map_err(Thrown::from)
        })
        .register("isEditor", |_: Context<S>, args: Vec<Bson>| async move {
            match args.first() {
                Some(Bson::String(id)) if id == "editor" => Ok(bson!(true)),
                Some(Bson::String(id)) if id == "truthy" => Ok(bson!(1)),
                Some(Bson::String(id)) if id == "thrower" => Err("no".into()),
                Some(Bson::String(id)) if id == "sleeper" => {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    Ok(bson!(true))
                }
                _ => Ok(bson!(false)),
            }
        })
        .register("scripted", |ctx: Context<S>, _| async move {
            Ok(describe(&ctx))
        })
        .build()
        .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    functions
}

#[tokio::test]
async fn execution_users_follow_the_configuration() {
    let (_d, app) = app();
    let f = functions(app, MemoryStore::new());
    let alice = User::new("alice");
    // Application authentication: runs as the caller.
    assert_eq!(
        f.call(&alice, "whoAmI", vec![], None).await.unwrap(),
        bson!(["alice", "alice", false])
    );
    // System: rules bypassed, but context.user is still the caller.
    assert_eq!(
        f.call(&alice, "asSystem", vec![], None).await.unwrap(),
        bson!(["alice", "", true])
    );
    // User ID: always that user.
    assert_eq!(
        f.call(&alice, "asFixedUser", vec![], None).await.unwrap(),
        bson!(["alice", "fixed", false])
    );
    // Script: the script (JavaScript) names the user.
    assert_eq!(
        f.call(&alice, "scripted", vec![], None).await.unwrap(),
        bson!(["alice", "x", false])
    );
    // The system caller (CLI, triggers): no caller id, running as system.
    assert_eq!(
        f.call_as_system("whoAmI", vec![]).await.unwrap(),
        bson!(["", "", true])
    );
}

#[tokio::test]
async fn clients_cannot_call_private_functions_but_functions_and_operators_can() {
    let (_d, app) = app();
    let f = functions(app, MemoryStore::new());
    let alice = User::new("alice");
    let err = f.call(&alice, "secret", vec![], None).await.unwrap_err();
    assert_eq!(err.code(), "NotCallable");
    assert_eq!(
        f.call_as_system("secret", vec![]).await.unwrap(),
        bson!("s")
    );
    assert_eq!(
        f.call_as_user(&alice, "secret", vec![]).await.unwrap(),
        bson!("s")
    );
    let chained = f.call(&alice, "chainToSystem", vec![], None).await.unwrap();
    assert_eq!(
        chained,
        bson!([["alice", "", true], "s"]),
        "execute reaches private functions; a system callee runs as system"
    );
    assert_eq!(
        f.call(&alice, "nope", vec![], None)
            .await
            .unwrap_err()
            .code(),
        "FunctionNotFound"
    );
}

#[tokio::test]
async fn can_evaluate_is_checked_on_every_client_call() {
    let (_d, app) = app();
    let f = functions(app, MemoryStore::new());
    let admin = User::new("a").with_custom_data(doc! {"admin": true});
    let member = User::new("m").with_custom_data(doc! {"admin": false});
    assert_eq!(
        f.call(&admin, "adminsOnly", vec![], None).await.unwrap(),
        bson!("ok")
    );
    let err = f
        .call(&member, "adminsOnly", vec![], None)
        .await
        .unwrap_err();
    assert!(matches!(err, FunctionError::CannotEvaluate(_)));
    assert_eq!(err.code(), "NotCallable");
    let office = doc! {"remoteIPAddress": "10.0.0.1"};
    let cafe = doc! {"remoteIPAddress": "192.0.2.7"};
    assert_eq!(
        f.call(&member, "fromOffice", vec![], Some(office))
            .await
            .unwrap(),
        bson!("hello"),
        "context.values.get"
    );
    assert!(f
        .call(&member, "fromOffice", vec![], Some(cafe))
        .await
        .is_err());
    assert!(
        f.call(&member, "fromOffice", vec![], None).await.is_err(),
        "no request metadata: fails closed"
    );
}

#[tokio::test]
async fn nested_calls_inherit_the_execution_user_and_are_bounded() {
    let (_d, app) = app();
    let f = functions(app, MemoryStore::new());
    let alice = User::new("alice");
    assert_eq!(
        f.call(&alice, "chain", vec![], None).await.unwrap(),
        bson!(["alice", "alice", false])
    );
    assert_eq!(
        f.call_as_system("chain", vec![]).await.unwrap(),
        bson!(["", "", true])
    );
    let err = f.call(&alice, "recurse", vec![], None).await.unwrap_err();
    assert!(err.to_string().contains("nested deeper than 5"), "{err}");
}

#[tokio::test]
async fn time_limits_and_failures_are_errors_with_codes() {
    let (_d, app) = app();
    let f = functions(app, MemoryStore::new());
    let alice = User::new("alice");
    let started = std::time::Instant::now();
    let err = f.call(&alice, "slow", vec![], None).await.unwrap_err();
    assert_eq!(err.code(), "ExecutionTimeLimitExceeded");
    assert!(started.elapsed() < Duration::from_secs(2));
    let err = f.call(&alice, "fails", vec![], None).await.unwrap_err();
    assert_eq!(
        (err.code(), err.to_string()),
        (
            "FunctionExecutionError",
            "function 'fails' failed: boom".into()
        )
    );
}

/// What a function threw reaches callers as its text, however it crossed a boundary: a Rust
/// function's `Err`, the `?` of a nested call's `FunctionError`, and the bridges that call by
/// name (`SystemFunctions`, `%function`'s `FunctionCaller`), which keep the failed call's code.
#[tokio::test]
async fn errors_cross_the_function_boundaries_typed_and_unchanged() {
    use expanse::auth::SystemFunctions;
    use expanse::expr::{Bindings, FunctionCaller};

    let (_d, app) = app();
    let f = functions(app, MemoryStore::new());
    let alice = User::new("alice");
    let err = f
        .call(&alice, "chainToFails", vec![], None)
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.to_string()),
        (
            "FunctionExecutionError",
            "function 'chainToFails' failed: function 'fails' failed: boom".into()
        )
    );
    // the user creation function's bridge
    let thrown = SystemFunctions::call_as_system(&f, "fails", vec![])
        .await
        .unwrap_err();
    assert_eq!(
        thrown,
        Thrown::Call(FunctionError::Execution {
            name: "fails".into(),
            message: "boom".into()
        })
    );
    assert_eq!(thrown.to_string(), "function 'fails' failed: boom");
    let thrown = SystemFunctions::call_as_system(&f, "nope", vec![])
        .await
        .unwrap_err();
    assert_eq!(
        (thrown.code(), thrown.to_string()),
        ("FunctionNotFound", "function not found: 'nope'".into())
    );
    // `%function`'s bridge: as a future, and blocking (which needs the multi-threaded runtime,
    // so on this current-thread one it fails with a plain message)
    let rules = f.for_rules(&alice);
    let thrown = rules
        .call_later("nope", vec![])
        .expect("the registry calls later")
        .await
        .unwrap_err();
    assert_eq!(thrown, Thrown::Call(FunctionError::NotFound("nope".into())));
    let thrown = rules.call("fails", vec![], &Bindings::new()).unwrap_err();
    assert_eq!(
        (thrown.code(), thrown.to_string()),
        (
            "FunctionExecutionError",
            "%function needs tokio's multi-threaded runtime".into()
        )
    );
    // what embedders write
    let from_str: Thrown = "message".into();
    let from_string: Thrown = String::from("message").into();
    assert_eq!(from_str, from_string);
    assert_eq!(from_str, Thrown::Message("message".into()));
}

#[tokio::test]
async fn user_functions_are_bound_by_rules_and_system_functions_are_not() {
    let (_d, app) = app();
    let store = MemoryStore::new();
    store
        .seed(&doc! {"db.docs": [{"_id": 1, "owner": "alice"}, {"_id": 2, "owner": "bob"}]})
        .unwrap();
    let f = functions(app, store.clone());
    let alice = User::new("alice");
    assert_eq!(
        f.call(&alice, "writeOwn", vec![bson!(1)], None)
            .await
            .unwrap(),
        bson!(1_i64)
    );
    // the other user's document is not alice's to read: nothing matches
    assert_eq!(
        f.call(&alice, "writeOwn", vec![bson!(2)], None)
            .await
            .unwrap(),
        bson!(0_i64)
    );
    assert_eq!(
        f.call_as_system("writeOwn", vec![bson!(2)]).await.unwrap(),
        bson!(1_i64)
    );
}

async fn percent_function_in_rules_calls_the_registry() {
    let (_d, app) = app();
    let store = MemoryStore::new();
    store
        .seed(&doc! {"db.docs": [{"_id": 1, "owner": "someone"}]})
        .unwrap();
    let f = functions(app.clone(), store.clone());
    for (id, expected) in [
        ("editor", 1),
        ("truthy", 0),
        ("thrower", 0),
        ("sleeper", 0),
        ("nobody", 0),
    ] {
        let user = User::new(id);
        let rules = f.for_rules(&user);
        let coll = app
            .collection(&store, &user, "db", "docs")
            .unwrap()
            .with_functions(&rules);
        let seen = coll.find(&doc! {}, &FindOptions::default()).await.unwrap();
        assert_eq!(
            seen.len(),
            expected,
            "{id}: only a result that is exactly true counts; errors and timeouts deny"
        );
        // `count` and `aggregate` settle the calls before the rules go to the store.
        assert_eq!(coll.count(&doc! {}).await.unwrap(), expected as u64, "{id}");
        let grouped = coll
            .aggregate(&[doc! {"$group": {"_id": null, "n": {"$sum": 1}}}])
            .await
            .unwrap();
        let n = grouped.first().map_or(0, |d| d.get_i32("n").unwrap());
        assert_eq!(n as usize, expected, "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percent_function_in_rules_on_the_multi_threaded_runtime() {
    percent_function_in_rules_calls_the_registry().await;
}

/// `%function` works the same on the current-thread runtime (it used to fail closed there).
#[tokio::test]
async fn percent_function_in_rules_on_the_current_thread_runtime() {
    percent_function_in_rules_calls_the_registry().await;
}

#[tokio::test]
async fn both_custom_user_data_models_end_to_end_on_the_server() {
    let Some(uri) = common::mongodb_uri("both_custom_user_data_models_end_to_end_on_the_server")
    else {
        return;
    };
    let store = MongoStore::connect(&uri)
        .await
        .unwrap()
        .with_database_prefix(format!("fn_{}_", bson::oid::ObjectId::new().to_hex()));
    let users = Namespace::new("notes_app", "users");
    store
        .apply(
            &users,
            vec![Write::Insert(
                doc! {"user_id": "u1", "role": "member", "language": "en"},
            )],
        )
        .await
        .unwrap();
    let app = Arc::new(App::load("fixtures/app").unwrap().app);
    type S = MongoStore;
    let (functions, warnings) = Functions::builder(app.clone(), store.clone())
        .register(
            "setLanguage",
            |ctx: Context<S>, args: Vec<Bson>| async move {
                let users = ctx
                    .services()
                    .get("mongodb-atlas")
                    .ok_or("no data source")?
                    .db("notes_app")
                    .collection("users");
                let id = ctx.user().id.clone();
                let r = users
                    .update_one(
                        &doc! {"user_id": id},
                        &doc! {"$set": {"language": args[0].clone()}},
                        false,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(bson!(r.matched_count == 1))
            },
        )
        .register(
            "setLanguageAsUser",
            |ctx: Context<S>, args: Vec<Bson>| async move {
                let users = ctx
                    .services()
                    .get("mongodb-atlas")
                    .ok_or("no data source")?
                    .db("notes_app")
                    .collection("users");
                let id = ctx.user().id.clone();
                users
                    .update_one(
                        &doc! {"user_id": id},
                        &doc! {"$set": {"language": args[0].clone()}},
                        false,
                    )
                    .await
                    .map(|_| bson!(true))
                    .map_err(Thrown::from)
            },
        )
        .build()
        .unwrap();
    assert_eq!(
        warnings.len(),
        1,
        "setLanguageAsUser has no entry in functions/config.json: {warnings:?}"
    );
    let auth = Auth::new(
        app.clone(),
        store.clone(),
        TokenIssuer::new(
            TokenConfig::hs256(b"functions-secret-functions-secret!!".to_vec()).unwrap(),
        )
        .unwrap(),
    );
    let session = auth.login(User::new("u1")).await.unwrap();
    let user = auth.verify(&session.tokens.access_token).await.unwrap();
    // the user's own function (application authentication) is refused by the rules
    let err = functions
        .call(&user, "setLanguageAsUser", vec![bson!("de")], None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("update not permitted"), "{err}");
    // the system function writes it for them, by context.user.id
    assert_eq!(
        functions
            .call(&user, "setLanguage", vec![bson!("fr")], None)
            .await
            .unwrap(),
        bson!(true)
    );
    // a user cannot call a private function
    assert!(matches!(
        functions
            .call(&user, "createUserDocument", vec![], None)
            .await,
        Err(FunctionError::Private(_))
    ));
    // the change appears in the next refreshed token
    let access = auth.refresh(&session.tokens.refresh_token).await.unwrap();
    assert_eq!(
        auth.verify(&access)
            .await
            .unwrap()
            .custom_data
            .get_str("language")
            .unwrap(),
        "fr"
    );
    store.drop_prefixed_databases().await.unwrap();
}
