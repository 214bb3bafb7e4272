//! Logins per provider, refresh and access-token verification (with its session check),
//! beside the raw driver's `find_one` by `_id` in the same run, on the MongoDB-wire test
//! server; and one Argon2id hash. Needs MONGODB_URI (scripts/bench starts the test server).
//!
//! Run: `scripts/bench users`. Results: BENCHMARKS.md.

// criterion's macros generate undocumented public items; a benchmark whose set-up fails stops.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bson::{doc, Document};
use criterion::{criterion_group, criterion_main, Criterion};
use expanse::auth::{Auth, Credential, Passwords, TokenConfig, TokenIssuer};
use expanse::functions::Functions;
use expanse::store::MongoStore;
use expanse::App;

const PROVIDERS: &str = r#"{
  "anon-user": {"name": "anon-user", "type": "anon-user"},
  "local-userpass": {"name": "local-userpass", "type": "local-userpass", "config": {"autoConfirm": true, "resetPasswordUrl": "https://x"}},
  "api-key": {"name": "api-key", "type": "api-key"},
  "custom-token": {"name": "custom-token", "type": "custom-token",
    "config": {"audience": ["bench"], "signingAlgorithm": "HS256"}, "secret_config": {"signingKeys": ["k"]},
    "metadata_fields": [{"required": true, "name": "name"}]},
  "custom-function": {"name": "custom-function", "type": "custom-function", "config": {"authFunctionName": "authFunc"}}
}"#;
const KEY: &str = "benchmark-jwt-key-benchmark-jwt-key-0";

fn app(dir: &std::path::Path) -> Arc<App> {
    let w = |p: &str, t: &str| {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, t).unwrap();
    };
    w("root_config.json", r#"{"name": "bench"}"#);
    w(
        "functions/config.json",
        r#"[{"name": "authFunc", "private": true, "run_as_system": true}]"#,
    );
    w(
        "functions/authFunc.js",
        "exports = (payload) => payload.user;",
    );
    w("auth/providers.json", PROVIDERS);
    Arc::new(App::load(dir).unwrap().app)
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let passwords = Passwords::default();
    c.bench_function("users/argon2id hash (m=19456 KiB, t=2, p=1)", |b| {
        b.iter(|| {
            runtime
                .block_on(passwords.hash("correct horse battery"))
                .unwrap()
        })
    });
    let Ok(uri) = std::env::var("MONGODB_URI") else {
        eprintln!("MONGODB_URI is not set: skipping the database benchmarks (run scripts/bench)");
        return;
    };
    let prefix = format!("bench_users_{}_", bson::oid::ObjectId::new().to_hex());
    let store = runtime.block_on(async {
        MongoStore::connect(&uri)
            .await
            .unwrap()
            .with_database_prefix(prefix.clone())
    });
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let (functions, _) = Functions::builder(app.clone(), store.clone())
        .build()
        .unwrap();
    let tokens = TokenIssuer::new(
        TokenConfig::hs256(b"benchmark-secret-benchmark-secret!!".to_vec()).unwrap(),
    )
    .unwrap();
    let secrets: HashMap<String, String> = [("k".to_owned(), KEY.to_owned())].into_iter().collect();
    let auth = Auth::new(app, store.clone(), tokens)
        .with_functions(Arc::new(functions))
        .with_secrets(secrets);
    let (api_key, session) = runtime.block_on(async {
        auth.register("bench@example.com", "bench-password")
            .await
            .unwrap();
        let s = auth
            .login_with(
                Credential::UserPassword {
                    username: "bench@example.com".into(),
                    password: "bench-password".into(),
                },
                None,
            )
            .await
            .unwrap();
        let key = auth.create_user_api_key(&s.user.id, "bench").await.unwrap();
        (key.key.unwrap(), s)
    });
    let raw = store
        .client()
        .database(&format!("{prefix}__expanse"))
        .collection::<Document>("users");
    let user_oid = bson::oid::ObjectId::parse_str(&session.user.id).unwrap();
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({"sub": "jwt-user", "aud": "bench", "exp": 4_000_000_000i64, "name": "B"}),
        &jsonwebtoken::EncodingKey::from_secret(KEY.as_bytes()),
    )
    .unwrap();

    let mut group = c.benchmark_group("users");
    group.bench_function("raw driver find_one by _id (floor)", |b| {
        b.iter(|| {
            runtime
                .block_on(async { raw.find_one(doc! {"_id": user_oid}).await })
                .unwrap()
        })
    });
    group.bench_function("refresh", |b| {
        b.iter(|| {
            runtime
                .block_on(auth.refresh(&session.tokens.refresh_token))
                .unwrap()
        })
    });
    group.bench_function("verify access token (session checked, cached)", |b| {
        b.iter(|| {
            runtime
                .block_on(auth.verify(&session.tokens.access_token))
                .unwrap()
        })
    });
    let uncached = Auth::new(
        auth.app().clone(),
        store.clone(),
        TokenIssuer::new(
            TokenConfig::hs256(b"benchmark-secret-benchmark-secret!!".to_vec()).unwrap(),
        )
        .unwrap(),
    )
    .with_revocation_bound(Duration::ZERO);
    group.bench_function("verify access token (session read every time)", |b| {
        b.iter(|| {
            runtime
                .block_on(uncached.verify(&session.tokens.access_token))
                .unwrap()
        })
    });
    group.bench_function("login anon-user (new user)", |b| {
        b.iter(|| {
            runtime
                .block_on(auth.login_with(Credential::Anonymous, None))
                .unwrap()
        })
    });
    group.bench_function("login api-key", |b| {
        b.iter(|| {
            runtime
                .block_on(auth.login_with(
                    Credential::ApiKey {
                        key: api_key.clone(),
                    },
                    None,
                ))
                .unwrap()
        })
    });
    group.bench_function("login custom-token", |b| {
        b.iter(|| {
            runtime
                .block_on(auth.login_with(Credential::CustomToken { token: jwt.clone() }, None))
                .unwrap()
        })
    });
    group.bench_function("login custom-function", |b| {
        b.iter(|| {
            runtime
                .block_on(auth.login_with(
                    Credential::CustomFunction {
                        payload: doc! {"user": "fn-user"},
                    },
                    None,
                ))
                .unwrap()
        })
    });
    group.sample_size(10);
    group.bench_function("login local-userpass (one Argon2id hash)", |b| {
        b.iter(|| {
            runtime
                .block_on(auth.login_with(
                    Credential::UserPassword {
                        username: "bench@example.com".into(),
                        password: "bench-password".into(),
                    },
                    None,
                ))
                .unwrap()
        })
    });
    group.finish();
    runtime.block_on(store.drop_prefixed_databases()).unwrap();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
