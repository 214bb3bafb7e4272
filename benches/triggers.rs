//! Database triggers on the MongoDB-wire test server: events per second through an ordered
//! trigger running a trivial JavaScript function (beside the raw change stream read alone), and
//! the latency from a write to its function's start. Needs `MONGODB_URI` (`scripts/test-server
//! start` prints a port). Run: `cargo bench --bench triggers`. Results: BENCHMARKS.md.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bson::{doc, oid::ObjectId, Bson, Document};
use expanse::functions::{Context, Functions};
use expanse::store::{ChangeStreams, MongoStore, Namespace, WatchOptions};
use expanse::triggers::{TriggerOptions, Triggers};
use expanse::App;

const EVENTS: i64 = 2_000;
const PINGS: i64 = 300;

fn write(root: &std::path::Path, path: &str, text: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, text).unwrap();
}

async fn processed(app: &App, store: &MongoStore, name: &str) -> i64 {
    expanse::triggers::status(app, store)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == name)
        .and_then(|s| s.state)
        .map_or(0, |s| s.events_processed)
}

async fn until(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo test --all-targets` runs bench targets without `--bench`: nothing to measure then.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("triggers bench: run it with `cargo bench --bench triggers`");
        return;
    }
    let Ok(uri) = std::env::var("MONGODB_URI") else {
        eprintln!("triggers bench: skipped, MONGODB_URI is not set");
        return;
    };
    let store = MongoStore::connect(&uri)
        .await
        .unwrap()
        .with_database_prefix(format!("bench_{}_", ObjectId::new().to_hex()));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "root_config.json", r#"{"name": "bench"}"#);
    write(
        root,
        "data_sources/mongodb-atlas/config.json",
        r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
    );
    write(
        root,
        "functions/config.json",
        r#"[{"name": "trivial"}, {"name": "stamp"}]"#,
    );
    write(
        root,
        "functions/trivial.js",
        "exports = function (event) { return event.fullDocument.n; };",
    );
    for (name, coll, function) in [
        ("ordered", "events", "trivial"),
        ("latency", "pings", "stamp"),
    ] {
        write(
            root,
            &format!("triggers/{name}.json"),
            &format!(
                r#"{{"name": "{name}", "type": "DATABASE", "config": {{"service_name": "mongodb-atlas", "database": "bench", "collection": "{coll}", "operation_types": ["INSERT"], "full_document": true}}, "event_processors": {{"FUNCTION": {{"config": {{"function_name": "{function}"}}}}}}}}"#
            ),
        );
    }
    let app = Arc::new(App::load(root).unwrap().app);
    let started: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let seen = started.clone();
    let (functions, _) = Functions::builder(app.clone(), store.clone())
        .register(
            "stamp",
            move |_ctx: Context<MongoStore>, args: Vec<Bson>| {
                let now = Instant::now();
                let seen = seen.clone();
                async move {
                    if let Some(Bson::Document(e)) = args.first() {
                        let n = e
                            .get_document("fullDocument")
                            .unwrap()
                            .get_i64("n")
                            .unwrap();
                        seen.lock().unwrap().insert(n, now);
                    }
                    Ok(Bson::Null)
                }
            },
        )
        .build()
        .unwrap();
    let options = TriggerOptions {
        poll_interval: Duration::from_millis(100),
        ..TriggerOptions::default()
    };
    let db = store
        .client()
        .database(&store.database_name(&Namespace::new("bench", "x")));

    // The raw change stream alone: the same number of inserts read back through `watch`.
    let raw_ns = Namespace::new("bench", "raw");
    let mut raw = store
        .watch(
            &raw_ns,
            WatchOptions {
                max_await: Some(Duration::from_millis(100)),
                ..WatchOptions::default()
            },
        )
        .await
        .unwrap();
    let docs: Vec<Document> = (0..EVENTS).map(|n| doc! {"n": n}).collect();
    let t0 = Instant::now();
    db.collection::<Document>("raw")
        .insert_many(docs.clone())
        .await
        .unwrap();
    let mut read = 0;
    while read < EVENTS {
        if raw.next().await.unwrap().is_some() {
            read += 1;
        }
    }
    let raw_rate = EVENTS as f64 / t0.elapsed().as_secs_f64();

    let running = Triggers::start(app.clone(), store.clone(), functions, options);
    until("the triggers to start", async || {
        let s = expanse::triggers::status(&app, &store).await.unwrap();
        s.iter()
            .all(|t| t.state.as_ref().is_some_and(|st| st.heartbeat.is_some()))
    })
    .await;

    // Throughput: a backlog of inserts through the ordered trigger.
    let t0 = Instant::now();
    db.collection::<Document>("events")
        .insert_many(docs)
        .await
        .unwrap();
    let inserted = t0.elapsed();
    until("every event", async || {
        processed(&app, &store, "ordered").await >= EVENTS
    })
    .await;
    let total = t0.elapsed();
    let rate = EVENTS as f64 / total.as_secs_f64();

    // Latency: one write every 20 ms, the function's start stamped.
    let mut written = HashMap::new();
    let pings = db.collection::<Document>("pings");
    for n in 0..PINGS {
        written.insert(n, Instant::now());
        pings.insert_one(doc! {"n": n}).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    until("every ping", async || {
        started.lock().unwrap().len() as i64 >= PINGS
    })
    .await;
    running.stop().await;
    let starts = started.lock().unwrap().clone();
    let mut latencies: Vec<Duration> = (0..PINGS)
        .map(|n| starts[&n].duration_since(written[&n]))
        .collect();
    latencies.sort();
    println!(
        "raw change stream read: {EVENTS} inserts (insert_many) read back in {:.0} events/s",
        raw_rate
    );
    println!(
        "ordered trigger, trivial JavaScript function: {EVENTS} events in {:.2} s ({:.0} events/s; inserting took {:.2} s)",
        total.as_secs_f64(),
        rate,
        inserted.as_secs_f64()
    );
    println!(
        "write → function start ({PINGS} writes, one per 20 ms): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies[latencies.len() - 1].as_secs_f64() * 1e3
    );
    store.drop_prefixed_databases().await.unwrap();
}
