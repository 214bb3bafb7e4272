//! Rules at scale against the MongoDB-wire test server: a rule-enforced find of one user's
//! documents through push-down vs the raw driver with the same filter (with and without an index
//! on the owner field) vs the naive approach (fetch everything, evaluate each document); a
//! user's `count` and `$group` run on the server behind the rules vs the raw driver; rule-
//! checked writes vs raw writes; loading a 1 000-collection app.
//!
//! Run: `scripts/bench scale` (100 000 documents, 1 000 owners; `EXPANSE_SCALE_DOCUMENTS=1000000`
//! for a million). Under `cargo test` it runs on 2 000 documents so CI exercises it cheaply.
//! Results: BENCHMARKS.md.

// criterion's macros generate undocumented public items; a benchmark whose set-up fails stops.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::{doc, Document};
use criterion::{criterion_group, criterion_main, Criterion};
use expanse::rules::{Decider, RequestContext};
use expanse::store::{FindOptions, MongoStore};
use expanse::{App, User};

fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn write(dir: &std::path::Path, path: &str, text: &str) {
    let full = dir.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, text).unwrap();
}

const RULES: &str = r#"{"database": "scale", "collection": "docs", "roles": [
  {"name": "owner", "apply_when": {"owner_id": "%%user.id"}, "read": true, "write": true},
  {"name": "shared", "apply_when": {"shared_with": "%%user.id"}, "read": true}
]}"#;

/// The owner role reading everything but `body`: a user's pipeline gets a `$project` removing
/// it ahead of its own stages.
const OWNER_FIELDS_RULES: &str = r#"{"database": "scale", "collection": "docs", "roles": [
  {"name": "owner", "apply_when": {"owner_id": "%%user.id"},
   "fields": {"body": {"read": false}}, "additional_fields": {"read": true}}
]}"#;

/// The owner role whose document-level `write` reads `n` on the post-image: a literal `$set`
/// of `n` is decided on its value in the update's filter (one round trip); an `$inc` of `n`
/// must be decided on the document, so it reads, decides and writes (two round trips).
const POST_IMAGE_RULES: &str = r#"{"database": "scale", "collection": "docs", "roles": [
  {"name": "owner", "apply_when": {"owner_id": "%%user.id"}, "read": true, "write": {"n": {"$gte": 0}}}
]}"#;

/// Everyone reads every document: a user's count is the whole collection's.
const READ_ALL_RULES: &str = r#"{"database": "scale", "collection": "docs", "roles": [
  {"name": "reader", "apply_when": {}, "read": true}
]}"#;

/// The same collection with the owner role alone: its push-down is a single field equality.
const OWNER_ONLY_RULES: &str = r#"{"database": "scale", "collection": "docs", "roles": [
  {"name": "owner", "apply_when": {"owner_id": "%%user.id"}, "read": true, "write": true}
]}"#;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    // Loading a generated 1 000-collection app (no database needed).
    let big = tempfile::tempdir().unwrap();
    write(big.path(), "root_config.json", "{}");
    for i in 0..1000 {
        let rules = RULES.replace("\"docs\"", &format!("\"c{i}\""));
        write(
            big.path(),
            &format!("data_sources/mongodb-atlas/scale/c{i}/rules.json"),
            &rules,
        );
    }
    let before = rss_kib();
    let loaded = App::load(big.path()).unwrap().app;
    let after = rss_kib();
    eprintln!(
        "1 000-collection app: resident memory grew by {} KiB while loading",
        after.saturating_sub(before)
    );
    drop(loaded);
    c.bench_function("load a 1 000-collection app", |b| {
        b.iter(|| App::load(big.path()).unwrap())
    });
    c.bench_function("expanse check a 1 000-collection app", |b| {
        b.iter(|| expanse::check::check(big.path(), false))
    });

    let Ok(uri) = std::env::var("MONGODB_URI") else {
        eprintln!(
            "MONGODB_URI is not set: skipping the database benchmarks (run scripts/bench scale)"
        );
        return;
    };
    let (documents, owners) = if benchmarking() {
        let documents = std::env::var("EXPANSE_SCALE_DOCUMENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000usize);
        (documents, 1_000usize)
    } else {
        (2_000, 100)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let prefix = format!("bench_scale_{}_", bson::oid::ObjectId::new().to_hex());
    let store = runtime.block_on(async {
        MongoStore::connect(&uri)
            .await
            .unwrap()
            .with_database_prefix(prefix.clone())
    });
    let raw = store
        .client()
        .database(&format!("{prefix}scale"))
        .collection::<Document>("docs");
    let started = Instant::now();
    runtime.block_on(async {
        for chunk in (0..documents).collect::<Vec<_>>().chunks(10_000) {
            let batch: Vec<Document> = chunk
                .iter()
                .map(|i| doc! {"_id": *i as i64, "owner_id": format!("u{}", i % owners), "title": format!("document {i}"), "n": *i as i64, "body": "x".repeat(64)})
                .collect();
            raw.insert_many(batch).await.unwrap();
        }
    });
    eprintln!(
        "loaded {documents} documents for {owners} owners in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let app_dir = tempfile::tempdir().unwrap();
    write(app_dir.path(), "root_config.json", "{}");
    write(
        app_dir.path(),
        "data_sources/mongodb-atlas/scale/docs/rules.json",
        RULES,
    );
    let app = Arc::new(App::load(app_dir.path()).unwrap().app);
    let owner_only_dir = tempfile::tempdir().unwrap();
    write(owner_only_dir.path(), "root_config.json", "{}");
    write(
        owner_only_dir.path(),
        "data_sources/mongodb-atlas/scale/docs/rules.json",
        OWNER_ONLY_RULES,
    );
    let owner_only_app = App::load(owner_only_dir.path()).unwrap().app;
    let owner_fields_dir = tempfile::tempdir().unwrap();
    write(owner_fields_dir.path(), "root_config.json", "{}");
    write(
        owner_fields_dir.path(),
        "data_sources/mongodb-atlas/scale/docs/rules.json",
        OWNER_FIELDS_RULES,
    );
    let owner_fields_app = App::load(owner_fields_dir.path()).unwrap().app;
    let read_all_dir = tempfile::tempdir().unwrap();
    write(read_all_dir.path(), "root_config.json", "{}");
    write(
        read_all_dir.path(),
        "data_sources/mongodb-atlas/scale/docs/rules.json",
        READ_ALL_RULES,
    );
    let read_all_app = App::load(read_all_dir.path()).unwrap().app;
    let post_image_dir = tempfile::tempdir().unwrap();
    write(post_image_dir.path(), "root_config.json", "{}");
    write(
        post_image_dir.path(),
        "data_sources/mongodb-atlas/scale/docs/rules.json",
        POST_IMAGE_RULES,
    );
    let post_image_app = App::load(post_image_dir.path()).unwrap().app;
    let user = User::new("u7");
    let filter = doc! {"owner_id": "u7"};

    let mut group = c.benchmark_group(format!("find one user's documents among {documents}"));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));
    let run_finds =
        |group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
         label: &str| {
            group.bench_function(format!("raw driver find, {label}"), |b| {
                b.iter(|| {
                    runtime.block_on(async {
                        futures_util::TryStreamExt::try_collect::<Vec<Document>>(
                            raw.find(filter.clone()).await.unwrap(),
                        )
                        .await
                        .unwrap()
                    })
                })
            });
            // The owner role alone: the rules push down to `{owner_id: {$eq: "u7"}}`.
            group.bench_function(
                format!("expanse guarded find {{}}, owner role alone, {label}"),
                |b| {
                    b.iter(|| {
                        let coll = owner_only_app
                            .collection(&store, &user, "scale", "docs")
                            .unwrap();
                        let found = runtime
                            .block_on(coll.find(&doc! {}, &FindOptions::default()))
                            .unwrap();
                        assert_eq!(found.len(), documents / owners);
                    })
                },
            );
            // Owner and shared roles, the caller asking for its own documents: the rules'
            // `$or` is implied by the query and dropped, so the server sees the raw filter.
            group.bench_function(
                format!("expanse guarded find {{owner_id}}, owner + shared roles, {label}"),
                |b| {
                    b.iter(|| {
                        let coll = app.collection(&store, &user, "scale", "docs").unwrap();
                        let found = runtime
                            .block_on(coll.find(&filter, &FindOptions::default()))
                            .unwrap();
                        assert_eq!(found.len(), documents / owners);
                    })
                },
            );
            // Owner and shared roles, the caller asking for everything it may see: the
            // server receives `{$or: [{owner_id: …}, {shared_with: …}]}`.
            group.bench_function(
                format!("expanse guarded find {{}}, owner + shared roles ($or), {label}"),
                |b| {
                    b.iter(|| {
                        let coll = app.collection(&store, &user, "scale", "docs").unwrap();
                        let found = runtime
                            .block_on(coll.find(&doc! {}, &FindOptions::default()))
                            .unwrap();
                        assert_eq!(found.len(), documents / owners);
                    })
                },
            );
        };
    run_finds(&mut group, "no index");
    let values = Document::new();
    let rules = app.rules("mongodb-atlas", "scale", "docs").unwrap();
    let request = RequestContext {
        user: &user,
        values: &values,
        environment: &app.environment,
        request: None,
        functions: None,
    };
    group.bench_function("naive: fetch all, evaluate each, no index", |b| {
        b.iter(|| {
            let all = runtime.block_on(async {
                futures_util::TryStreamExt::try_collect::<Vec<Document>>(
                    raw.find(doc! {}).await.unwrap(),
                )
                .await
                .unwrap()
            });
            let decider = Decider::new(rules, request);
            let visible = all
                .iter()
                .filter_map(|d| decider.read(d, &mut None))
                .count();
            assert_eq!(visible, documents / owners);
        })
    });
    group.finish();

    // A user's `count` and `$group` run on the server behind the rules, beside the raw driver
    // sending the owner's filter itself.
    let per_owner = (documents / owners) as i64;
    let total: i64 = (0..documents as i64)
        .filter(|i| i % owners as i64 == 7)
        .sum();
    let group_stage = doc! {"$group": {"_id": null, "total": {"$sum": "$n"}, "c": {"$sum": 1}}};
    let expected = vec![doc! {"_id": null, "total": total, "c": per_owner as i32}];
    let agg_group_name = format!("user count and $group among {documents}");
    let run_aggregations = |group: &mut criterion::BenchmarkGroup<
        '_,
        criterion::measurement::WallTime,
    >,
                            label: &str| {
        group.bench_function(format!("raw driver count_documents, {label}"), |b| {
            b.iter(|| {
                let n = runtime
                    .block_on(async { raw.count_documents(filter.clone()).await })
                    .unwrap();
                assert_eq!(n as i64, per_owner);
            })
        });
        group.bench_function(
            format!("expanse guarded count {{}}, owner role alone, {label}"),
            |b| {
                b.iter(|| {
                    let coll = owner_only_app
                        .collection(&store, &user, "scale", "docs")
                        .unwrap();
                    let n = runtime.block_on(coll.count(&doc! {})).unwrap();
                    assert_eq!(n as i64, per_owner);
                })
            },
        );
        group.bench_function(
            format!("expanse guarded count {{}}, owner + shared roles ($or), {label}"),
            |b| {
                b.iter(|| {
                    let coll = app.collection(&store, &user, "scale", "docs").unwrap();
                    let n = runtime.block_on(coll.count(&doc! {})).unwrap();
                    assert_eq!(n as i64, per_owner);
                })
            },
        );
        let raw_pipeline = vec![doc! {"$match": filter.clone()}, group_stage.clone()];
        group.bench_function(format!("raw driver $match + $group, {label}"), |b| {
            b.iter(|| {
                let out = runtime.block_on(async {
                    futures_util::TryStreamExt::try_collect::<Vec<Document>>(
                        raw.aggregate(raw_pipeline.clone()).await.unwrap(),
                    )
                    .await
                    .unwrap()
                });
                assert_eq!(out, expected);
            })
        });
        for (name, rules_app) in [
            ("owner role alone", &owner_only_app),
            ("owner role hiding a field ($project)", &owner_fields_app),
        ] {
            group.bench_function(format!("expanse guarded $group, {name}, {label}"), |b| {
                b.iter(|| {
                    let coll = rules_app
                        .collection(&store, &user, "scale", "docs")
                        .unwrap();
                    let out = runtime
                        .block_on(coll.aggregate(std::slice::from_ref(&group_stage)))
                        .unwrap();
                    assert_eq!(out, expected);
                })
            });
        }
        // What a user's `$group` did before it ran on the server: fetch the readable
        // documents, run the pipeline in process.
        group.bench_function(
            format!("before: guarded find, then $group in process, owner role alone, {label}"),
            |b| {
                b.iter(|| {
                    let coll = owner_only_app
                        .collection(&store, &user, "scale", "docs")
                        .unwrap();
                    let visible = runtime
                        .block_on(coll.find(&doc! {}, &FindOptions::default()))
                        .unwrap();
                    let out =
                        expanse::store::run_pipeline(visible, std::slice::from_ref(&group_stage))
                            .unwrap();
                    assert_eq!(out, expected);
                })
            },
        );
    };
    let mut group = c.benchmark_group(&agg_group_name);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));
    run_aggregations(&mut group, "no index");
    // A user who may read every document counts them all: the server counts, where a count
    // fetched every readable document before.
    group.bench_function("raw driver count_documents({}), every document", |b| {
        b.iter(|| {
            let n = runtime
                .block_on(async { raw.count_documents(doc! {}).await })
                .unwrap();
            assert_eq!(n as usize, documents);
        })
    });
    group.bench_function(
        "expanse guarded count {}, a role reading every document",
        |b| {
            b.iter(|| {
                let coll = read_all_app
                    .collection(&store, &user, "scale", "docs")
                    .unwrap();
                let n = runtime.block_on(coll.count(&doc! {})).unwrap();
                assert_eq!(n as usize, documents);
            })
        },
    );
    group.bench_function(
        "before: guarded find of every readable document, counted in process",
        |b| {
            b.iter(|| {
                let coll = read_all_app
                    .collection(&store, &user, "scale", "docs")
                    .unwrap();
                let n = runtime
                    .block_on(coll.find(&doc! {}, &FindOptions::default()))
                    .unwrap()
                    .len();
                assert_eq!(n, documents);
            })
        },
    );
    group.finish();

    runtime
        .block_on(async {
            raw.create_index(
                mongodb::IndexModel::builder()
                    .keys(doc! {"owner_id": 1})
                    .build(),
            )
            .await
        })
        .unwrap();
    runtime
        .block_on(async {
            raw.create_index(
                mongodb::IndexModel::builder()
                    .keys(doc! {"shared_with": 1})
                    .build(),
            )
            .await
        })
        .unwrap();
    let mut group = c.benchmark_group(format!("find one user's documents among {documents}"));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));
    run_finds(&mut group, "indexed");
    group.finish();
    let mut group = c.benchmark_group(&agg_group_name);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));
    run_aggregations(&mut group, "indexed");
    group.finish();

    let mut group = c.benchmark_group("writes");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    let mut n = 0i64;
    group.bench_function("raw driver update_one by _id", |b| {
        b.iter(|| {
            n += 1;
            runtime
                .block_on(async {
                    raw.update_one(doc! {"_id": 7i64}, doc! {"$set": {"n": n}})
                        .await
                })
                .unwrap()
        })
    });
    // `n` is read by no rule: the rules ride in the update's filter (one round trip).
    group.bench_function(
        "expanse rule-checked update_one by _id, rules in the filter",
        |b| {
            let coll = app.collection(&store, &user, "scale", "docs").unwrap();
            b.iter(|| {
                n += 1;
                let r = runtime
                    .block_on(coll.update_one(&doc! {"_id": 7i64}, &doc! {"$set": {"n": n}}, false))
                    .unwrap();
                assert_eq!(r.modified_count, 1);
            })
        },
    );
    // `n` is read by the document-level `write` (on the post-image): a literal `$set` is
    // decided on its value, in the update's filter (one round trip).
    group.bench_function(
        "expanse rule-checked update_one by _id, write rule reads the written field",
        |b| {
            let coll = post_image_app
                .collection(&store, &user, "scale", "docs")
                .unwrap();
            b.iter(|| {
                n += 1;
                let r = runtime
                    .block_on(coll.update_one(&doc! {"_id": 7i64}, &doc! {"$set": {"n": n}}, false))
                    .unwrap();
                assert_eq!(r.modified_count, 1);
            })
        },
    );
    // The same rule with an `$inc` of `n`, whose result depends on the stored value: read,
    // decide, conditional write (two round trips), the path the `$set` above took before.
    group.bench_function(
        "expanse rule-checked update_one by _id, write rule reads the written field, $inc (read-decide-write)",
        |b| {
            let coll = post_image_app
                .collection(&store, &user, "scale", "docs")
                .unwrap();
            b.iter(|| {
                let r = runtime
                    .block_on(coll.update_one(&doc! {"_id": 7i64}, &doc! {"$inc": {"n": 1}}, false))
                    .unwrap();
                assert_eq!(r.modified_count, 1);
            })
        },
    );
    // `shared_with` is read by the shared role's `apply_when`. This was the read-decide-write
    // case; since the role is known to be chosen on the stored document on both paths, it
    // rides in the update's filter too (only a field a document-level `write` reads keeps an
    // update to read-decide-write). The labels are kept so the runs compare; see BENCHMARKS.md.
    let mut read_decide_write = |b: &mut criterion::Bencher<'_>, store: &MongoStore| {
        let coll = app.collection(store, &user, "scale", "docs").unwrap();
        b.iter(|| {
            n += 1;
            let r = runtime
                .block_on(coll.update_one(
                    &doc! {"_id": 7i64},
                    &doc! {"$set": {"shared_with": [format!("v{n}")]}},
                    false,
                ))
                .unwrap();
            assert_eq!(r.modified_count, 1);
        })
    };
    group.bench_function(
        "expanse rule-checked update_one by _id, read-decide-write, default guard",
        |b| read_decide_write(b, &store),
    );
    let guarded_by_transaction = store
        .clone()
        .with_write_guard(expanse::store::WriteGuard::Transaction);
    group.bench_function(
        "expanse rule-checked update_one by _id, read-decide-write, transaction guard",
        |b| read_decide_write(b, &guarded_by_transaction),
    );
    let mut next = documents as i64;
    group.bench_function("raw driver insert_one", |b| {
        b.iter(|| {
            next += 1;
            runtime
                .block_on(async {
                    raw.insert_one(doc! {"_id": next, "owner_id": "u7", "title": "new"})
                        .await
                })
                .unwrap()
        })
    });
    group.bench_function("expanse rule-checked insert_one", |b| {
        let coll = app.collection(&store, &user, "scale", "docs").unwrap();
        b.iter(|| {
            next += 1;
            runtime
                .block_on(coll.insert_one(doc! {"_id": next, "owner_id": "u7", "title": "new"}))
                .unwrap()
        })
    });
    group.finish();
    runtime.block_on(store.drop_prefixed_databases()).unwrap();
}

criterion_group!(benches, bench);
criterion_main!(benches);
