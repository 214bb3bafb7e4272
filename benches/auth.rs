//! Login (custom data lookup + signing) and token verification, beside the raw driver
//! `find_one` by the same field in the same run. Needs MONGODB_URI (scripts/bench starts the
//! test server); without it the database benchmarks are skipped.
//!
//! Run: `scripts/bench auth`. Results: BENCHMARKS.md.

// criterion's macros generate undocumented public items; a benchmark whose set-up fails stops.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use bson::{doc, Document};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use expanse::auth::{Auth, TokenConfig, TokenIssuer};
use expanse::store::MongoStore;
use expanse::{App, User};

fn issuer() -> TokenIssuer {
    TokenIssuer::new(TokenConfig::hs256(b"benchmark-secret-benchmark-secret!!".to_vec()).unwrap())
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let tokens = issuer();
    let user = User::new("64b7f0c2a1b2c3d4e5f60001").with_data(doc! {"email": "a@example.com"});
    let custom = doc! {"user_id": "64b7f0c2a1b2c3d4e5f60001", "role": "member", "language": "en", "teams": ["red", "blue"]};
    let token = tokens.issue(&user, &custom).unwrap().access_token;
    c.bench_function("verify access token", |b| {
        b.iter(|| tokens.verify_access(black_box(&token)).unwrap())
    });
    c.bench_function("sign token pair", |b| {
        b.iter(|| tokens.issue(black_box(&user), black_box(&custom)).unwrap())
    });

    let Ok(uri) = std::env::var("MONGODB_URI") else {
        eprintln!("MONGODB_URI is not set: skipping the database benchmarks (run scripts/bench)");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let prefix = format!("bench_auth_{}_", bson::oid::ObjectId::new().to_hex());
    let store = runtime.block_on(async {
        MongoStore::connect(&uri)
            .await
            .unwrap()
            .with_database_prefix(prefix.clone())
    });
    let raw = store
        .client()
        .database(&format!("{prefix}notes_app"))
        .collection::<Document>("users");
    runtime.block_on(async {
        let users: Vec<Document> = (0..1000)
            .map(|i| doc! {"user_id": format!("{i:024x}"), "role": "member", "language": "en"})
            .collect();
        raw.insert_many(users).await.unwrap();
        raw.create_index(
            mongodb::IndexModel::builder()
                .keys(doc! {"user_id": 1})
                .build(),
        )
        .await
        .unwrap();
    });
    let app = Arc::new(App::load("fixtures/app").unwrap().app);
    let auth = Auth::new(app, store.clone(), issuer());
    let mut group = c.benchmark_group("login");
    let mut i = 0u32;
    group.bench_function("raw driver find_one by user_id (floor)", |b| {
        b.iter(|| {
            i = (i + 1) % 1000;
            runtime
                .block_on(async {
                    raw.find_one(doc! {"user_id": format!("{i:024x}")})
                        .sort(doc! {"_id": 1})
                        .await
                })
                .unwrap()
        })
    });
    group.bench_function("expanse login (lookup + sign)", |b| {
        b.iter(|| {
            i = (i + 1) % 1000;
            runtime
                .block_on(auth.login(User::new(format!("{i:024x}"))))
                .unwrap()
        })
    });
    group.finish();
    runtime.block_on(store.drop_prefixed_databases()).unwrap();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(4)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
