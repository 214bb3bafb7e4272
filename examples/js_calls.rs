//! Runs one JavaScript function N times in a row on the embedded store, for counting where a
//! call's instructions go (`valgrind --tool=callgrind`: instruction counts do not depend on the
//! machine's load). Run: `cargo run --release --example js_calls -- jsTrivial 1000`; the
//! functions are `jsTrivial` (`a + 1`), `jsFindOne` (one guarded `findOne`) and `rustTrivial`.
//! Results: BENCHMARKS.md ("Function calls").

// An example whose set-up fails stops.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use bson::{bson, doc, Bson};
use expanse::functions::{Context, Functions};
use expanse::store::MemoryStore;
use expanse::{App, User};

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "jsTrivial".into());
    let count: usize = args.next().map_or(1000, |n| n.parse().unwrap());
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
        r#"[{"name": "jsTrivial"}, {"name": "jsFindOne"}]"#,
    );
    write(
        "functions/jsTrivial.js",
        "exports = function (a) { return a + 1; };",
    );
    write(
        "functions/jsFindOne.js",
        r#"exports = async function (id) { return await context.services.get("mongodb-atlas").db("db").collection("notes").findOne({ _id: id }); };"#,
    );
    let app = Arc::new(App::load(dir.path()).unwrap().app);
    let store = MemoryStore::new();
    store
        .seed(&doc! {"db.notes": (0..100).map(|i| bson!({"_id": i, "owner": "alice", "title": format!("note {i}")})).collect::<Vec<_>>()})
        .unwrap();
    let (functions, _) = Functions::builder(app, store)
        .register(
            "rustTrivial",
            |_: Context<MemoryStore>, args: Vec<Bson>| async move {
                Ok(bson!(args[0].as_i32().unwrap_or(0) + 1))
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
    let started = Instant::now();
    for i in 0..count {
        let result = runtime
            .block_on(functions.call(&alice, &name, vec![bson!(7)], None))
            .unwrap();
        if i == 0 {
            println!("{name}(7) = {result}");
        }
    }
    println!(
        "{count} calls of {name}: {:?} each",
        started.elapsed() / count.max(1) as u32
    );
}
