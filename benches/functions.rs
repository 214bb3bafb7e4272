//! Function calls: a trivial function and one doing a `findOne`, in JavaScript and in Rust, on
//! the embedded store. Run: `cargo bench --bench functions`. Results: BENCHMARKS.md.

// criterion's macros generate undocumented public items; a benchmark whose set-up fails stops.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use bson::{bson, doc, Bson};
use criterion::{criterion_group, criterion_main, Criterion};
use expanse::functions::{Context, Functions};
use expanse::store::{FindOptions, MemoryStore};
use expanse::{App, User};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    };
    write("root_config.json", "{}");
    write(
        "data_sources/mongodb-atlas/config.json",
        r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
    );
    write(
        "data_sources/mongodb-atlas/db/notes/rules.json",
        r#"{"database": "db", "collection": "notes", "roles": [{"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true}]}"#,
    );
    write(
        "functions/config.json",
        r#"[{"name": "jsTrivial"}, {"name": "jsFindOne"}, {"name": "rustTrivial"}, {"name": "rustFindOne"}, {"name": "jsUtils"}, {"name": "jsLong"}]"#,
    );
    write(
        "functions/jsTrivial.js",
        "exports = function (a) { return a + 1; };",
    );
    // The same trivial work, touching the lazily compiled parts of the prelude.
    write(
        "functions/jsUtils.js",
        r#"exports = function (a) { return utils.crypto.hash("sha256", String(a)).length() + a; };"#,
    );
    write(
        "functions/jsLong.js",
        "exports = function (a) { return BSON.Long.fromNumber(a).add(1).toNumber(); };",
    );
    write(
        "functions/jsFindOne.js",
        r#"exports = async function (id) { return await context.services.get("mongodb-atlas").db("db").collection("notes").findOne({ _id: id }); };"#,
    );
    let app = Arc::new(App::load(dir.path()).unwrap().app);
    let store = MemoryStore::new();
    store.seed(&doc! {"db.notes": (0..100).map(|i| bson!({"_id": i, "owner": "alice", "title": format!("note {i}")})).collect::<Vec<_>>()}).unwrap();
    let (functions, _) = Functions::builder(app, store)
        .register(
            "rustTrivial",
            |_: Context<MemoryStore>, args: Vec<Bson>| async move {
                Ok(bson!(args[0].as_i32().unwrap_or(0) + 1))
            },
        )
        .register(
            "rustFindOne",
            |ctx: Context<MemoryStore>, args: Vec<Bson>| async move {
                let notes = ctx
                    .services()
                    .get("mongodb-atlas")
                    .ok_or("no service")?
                    .db("db")
                    .collection("notes");
                Ok(notes
                    .find_one(&doc! {"_id": args[0].clone()}, &FindOptions::default())
                    .await?
                    .map(Bson::Document)
                    .unwrap_or(Bson::Null))
            },
        )
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let alice = User::new("alice");
    let mut group = c.benchmark_group("function call");
    for name in [
        "rustTrivial",
        "jsTrivial",
        "rustFindOne",
        "jsFindOne",
        "jsUtils",
        "jsLong",
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime
                    .block_on(functions.call(&alice, name, vec![bson!(7)], None))
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
