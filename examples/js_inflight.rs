//! Peak memory of 1 000 JavaScript calls in flight at once: each awaits a Rust function that
//! sleeps 200 ms, so they all hold their QuickJS heap (and thread) at the same time. Prints the
//! process's peak resident memory before and after. Run:
//! `cargo run --release --example js_inflight`. Results: BENCHMARKS.md.

// An example whose set-up fails stops.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::{bson, Bson};
use expanse::functions::{Context, Functions};
use expanse::store::MemoryStore;
use expanse::{App, User};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    };
    write("root_config.json", "{}");
    write(
        "functions/config.json",
        r#"[{"name": "jsWaits"}, {"name": "jsTrivial"}, {"name": "nap"}]"#,
    );
    write(
        "functions/jsWaits.js",
        r#"exports = async function (a) { const held = { a, list: [1, 2, 3] }; await context.functions.execute("nap"); return held.a + 1; };"#,
    );
    write(
        "functions/jsTrivial.js",
        "exports = function (a) { return a + 1; };",
    );
    let app = Arc::new(App::load(dir.path()).unwrap().app);
    let (functions, _) = Functions::builder(app, MemoryStore::new())
        .register("nap", |_: Context<MemoryStore>, _: Vec<Bson>| async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok(Bson::Null)
        })
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(1024)
        .enable_all()
        .build()
        .unwrap();
    let alice = User::new("alice");
    let before = peak_rss_kib();
    for name in ["jsTrivial", "jsWaits"] {
        let started = Instant::now();
        runtime.block_on(async {
            let mut calls = tokio::task::JoinSet::new();
            for i in 0..1000 {
                let (functions, alice) = (functions.clone(), alice.clone());
                calls
                    .spawn(async move { functions.call(&alice, name, vec![bson!(i)], None).await });
            }
            while let Some(result) = calls.join_next().await {
                result.unwrap().unwrap();
            }
        });
        println!(
            "1000 {name} calls at once: {:?}, peak resident {} MiB (before any call: {} MiB)",
            started.elapsed(),
            peak_rss_kib() / 1024,
            before / 1024
        );
    }
}
