//! The same guarded-collection script over the embedded store and the real MongoDB-wire test
//! server gives identical results.

use crate::common;

use bson::{doc, oid::ObjectId, Bson, Document};
use expanse::guard::FindOneAndOptions;
use expanse::store::{FindOptions, MemoryStore, MongoStore, Namespace, Store, Write};
use expanse::{App, User};

fn seed_docs() -> Vec<Document> {
    vec![
        doc! {"_id": "n1", "owner_id": "u1", "title": "a", "n": 1, "tags": ["x"], "internal_notes": "i"},
        doc! {"_id": "n2", "owner_id": "u1", "title": "b", "n": 2, "shared_with": ["bob@example.com"]},
        doc! {"_id": "n3", "owner_id": "u2", "title": "c", "n": 3},
        doc! {"_id": "n4", "owner_id": "u1", "title": "d", "n": 4, "archived": true},
    ]
}

async fn script<S: Store>(app: &App, store: &S) -> Vec<String> {
    let ns = Namespace::new("notes_app", "notes");
    store
        .apply(&ns, seed_docs().into_iter().map(Write::Insert).collect())
        .await
        .unwrap();
    let alice = User::new("u1").with_data(doc! {"email": "alice@example.com"});
    let bob = User::new("u2").with_data(doc! {"email": "bob@example.com"});
    let admin = User::new("u3").with_custom_data(doc! {"role": "admin"});
    let mut log = Vec::new();
    let show = |r: Result<String, expanse::guard::GuardError>| match r {
        Ok(s) => s,
        Err(e) => format!("error: {e}"),
    };
    let docs = |d: Vec<Document>| {
        Bson::Array(d.into_iter().map(Bson::Document).collect())
            .into_relaxed_extjson()
            .to_string()
    };
    for user in [&alice, &bob, &admin] {
        let c = app.collection(store, user, "notes_app", "notes").unwrap();
        log.push(show(
            c.find(
                &doc! {},
                &FindOptions {
                    sort: Some(doc! {"_id": 1}),
                    ..Default::default()
                },
            )
            .await
            .map(docs),
        ));
        log.push(show(
            c.find(
                &doc! {"n": {"$gte": 2}},
                &FindOptions {
                    sort: Some(doc! {"n": -1}),
                    skip: 1,
                    limit: Some(2),
                    projection: Some(doc! {"title": 1}),
                },
            )
            .await
            .map(docs),
        ));
        log.push(show(
            c.count(&doc! {"tags": "x"}).await.map(|n| n.to_string()),
        ));
        log.push(show(
            c.aggregate(&[
                doc! {"$match": {"n": {"$lt": 4}}},
                doc! {"$sort": {"n": 1}},
                doc! {"$project": {"n": 1}},
            ])
            .await
            .map(docs),
        ));
        log.push(show(
            c.aggregate(&[
                doc! {"$sort": {"_id": 1}},
                doc! {"$group": {"_id": "$owner_id", "n": {"$sum": "$n"}, "titles": {"$push": "$title"},
                    "notes": {"$addToSet": "$internal_notes"}}},
                doc! {"$sort": {"_id": 1}},
            ])
            .await
            .map(docs),
        ));
        log.push(show(
            c.count(&doc! {"internal_notes": {"$exists": true}})
                .await
                .map(|n| n.to_string()),
        ));
    }
    // bob reads n2 (shared with him) but may not change it: a denial; n1 is not his to read
    let bob_notes = app.collection(store, &bob, "notes_app", "notes").unwrap();
    for id in ["n2", "n1"] {
        log.push(show(
            bob_notes
                .update_one(&doc! {"_id": id}, &doc! {"$set": {"title": "bob"}}, false)
                .await
                .map(|r| format!("{r:?}")),
        ));
    }
    let alice_notes = app.collection(store, &alice, "notes_app", "notes").unwrap();
    log.push(show(
        alice_notes
            .update_one(
                &doc! {"_id": "n1"},
                &doc! {"$inc": {"n": 10}, "$push": {"tags": "y"}},
                false,
            )
            .await
            .map(|r| format!("{r:?}")),
    ));
    log.push(show(
        alice_notes
            .update_many(&doc! {}, &doc! {"$set": {"seen": true}}, false)
            .await
            .map(|r| format!("{r:?}")),
    ));
    log.push(show(
        alice_notes
            .update_one(
                &doc! {"_id": "n9", "owner_id": "u1"},
                &doc! {"$set": {"title": "up"}},
                true,
            )
            .await
            .map(|r| format!("{r:?}")),
    ));
    log.push(show(
        alice_notes
            .insert_one(doc! {"_id": "n5", "owner_id": "u1", "title": "e"})
            .await
            .map(|r| format!("{r:?}")),
    ));
    log.push(show(
        alice_notes
            .insert_one(doc! {"_id": "n5", "owner_id": "u1", "title": "dup"})
            .await
            .map(|r| format!("{r:?}"))
            .map_err(|e| {
                // duplicate key messages differ between servers; keep the kind
                expanse::guard::GuardError::NotAllowed(
                    if e.to_string().contains("E11000") || e.to_string().contains("duplicate") {
                        "duplicate key".into()
                    } else {
                        e.to_string()
                    },
                )
            }),
    ));
    log.push(show(
        alice_notes
            .replace_one(
                &doc! {"_id": "n2"},
                &doc! {"owner_id": "u1", "title": "B"},
                false,
            )
            .await
            .map(|r| format!("{r:?}")),
    ));
    log.push(show(
        alice_notes
            .find_one_and_update(
                &doc! {"_id": "n1"},
                &doc! {"$set": {"title": "A"}},
                &FindOneAndOptions {
                    return_new_document: true,
                    ..Default::default()
                },
            )
            .await
            .map(|d| format!("{d:?}")),
    ));
    let bob_notes = app.collection(store, &bob, "notes_app", "notes").unwrap();
    log.push(show(
        bob_notes
            .delete_one(&doc! {"_id": "n3"})
            .await
            .map(|n| n.to_string()),
    ));
    log.push(show(
        bob_notes
            .delete_many(&doc! {"shared_with": "bob@example.com"})
            .await
            .map(|n| n.to_string()),
    ));
    let admin_notes = app.collection(store, &admin, "notes_app", "notes").unwrap();
    log.push(show(
        admin_notes
            .find_one_and_delete(&doc! {"_id": "n4"}, &FindOneAndOptions::default())
            .await
            .map(|d| format!("{d:?}")),
    ));
    let system = User::system();
    let all = app
        .collection(store, &system, "notes_app", "notes")
        .unwrap();
    log.push(show(
        all.find(
            &doc! {},
            &FindOptions {
                sort: Some(doc! {"_id": 1}),
                ..Default::default()
            },
        )
        .await
        .map(docs),
    ));
    log
}

#[tokio::test]
async fn guarded_collections_agree_across_stores() {
    let Some(uri) = common::mongodb_uri("guarded_collections_agree_across_stores") else {
        return;
    };
    let app = App::load("fixtures/app").unwrap().app;
    let memory = MemoryStore::new();
    let mongo = MongoStore::connect(&uri)
        .await
        .unwrap()
        .with_database_prefix(format!("parity_{}_", ObjectId::new().to_hex()));
    let embedded = script(&app, &memory).await;
    let real = script(&app, &mongo).await;
    mongo.drop_prefixed_databases().await.unwrap();
    assert_eq!(embedded.len(), real.len());
    for (i, (a, b)) in embedded.iter().zip(&real).enumerate() {
        assert_eq!(a, b, "step {i} differs");
    }
    assert!(
        embedded
            .iter()
            .any(|l| l.starts_with("error: update not permitted")),
        "the script exercises denials: {embedded:#?}"
    );
}

/// A stale pre-image is refused by every store and write guard, and the refused write leaves
/// nothing behind (under the transaction guard, the findAndModify that already ran is rolled
/// back with the transaction).
async fn stale_writes_conflict_and_change_nothing<S: Store>(store: &S) -> Vec<String> {
    let ns = Namespace::new("stale", "docs");
    let original = doc! {"_id": 1, "owner_id": "u1", "n": 1};
    let changed = doc! {"_id": 1, "owner_id": "u2", "n": 2};
    let mut log = Vec::new();
    store
        .apply(&ns, vec![Write::Insert(original.clone())])
        .await
        .unwrap();
    // Someone else changes the document after our rules saw `original`.
    store
        .apply(
            &ns,
            vec![Write::Replace {
                pre: original.clone(),
                post: changed.clone(),
            }],
        )
        .await
        .unwrap();
    let stale_replace = store
        .apply(
            &ns,
            vec![Write::Replace {
                pre: original.clone(),
                post: doc! {"_id": 1, "owner_id": "u1", "n": 99},
            }],
        )
        .await;
    log.push(format!("stale replace: {stale_replace:?}"));
    let stale_delete = store
        .apply(
            &ns,
            vec![Write::Delete {
                pre: original.clone(),
            }],
        )
        .await;
    log.push(format!("stale delete: {stale_delete:?}"));
    let stale_pair = store
        .apply(
            &ns,
            vec![
                Write::Insert(doc! {"_id": 2, "owner_id": "u1"}),
                Write::Delete { pre: original },
            ],
        )
        .await;
    log.push(format!("stale write in a pair: {stale_pair:?}"));
    let stored = store
        .find(&ns, &doc! {}, &FindOptions::default())
        .await
        .unwrap();
    log.push(format!("stored: {stored:?}"));
    assert_eq!(stored, vec![changed], "a refused write left a trace");
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_writes_are_refused_by_every_store_and_guard() {
    let Some(uri) = common::mongodb_uri("stale_writes_are_refused_by_every_store_and_guard") else {
        return;
    };
    let embedded = stale_writes_conflict_and_change_nothing(&MemoryStore::new()).await;
    let base = MongoStore::connect(&uri).await.unwrap();
    for guard in [
        expanse::store::WriteGuard::ConditionalFilter,
        expanse::store::WriteGuard::Transaction,
    ] {
        let store = base
            .clone()
            .with_write_guard(guard)
            .with_database_prefix(format!("stale_{}_", ObjectId::new().to_hex()));
        let real = stale_writes_conflict_and_change_nothing(&store).await;
        store.drop_prefixed_databases().await.unwrap();
        assert_eq!(embedded, real, "{guard:?}");
    }
    assert!(embedded[0].contains("Conflict"), "{embedded:?}");
}

/// Under the default write guard, the MongoDB store holds a rule-checked write to the fields
/// the rules read (plus the pre-image's own fields) and writes only what changed: a field no
/// rule reads may arrive concurrently and survives; a watched one arriving is a conflict.
#[tokio::test]
async fn writes_watching_the_rules_fields_keep_unrelated_concurrent_fields() {
    let Some(uri) =
        common::mongodb_uri("writes_watching_the_rules_fields_keep_unrelated_concurrent_fields")
    else {
        return;
    };
    let store = MongoStore::connect(&uri)
        .await
        .unwrap()
        .with_database_prefix(format!("watch_{}_", ObjectId::new().to_hex()));
    let ns = Namespace::new("watch", "docs");
    let mut watched = expanse::expr::Footprint::default();
    watched.add_key("owner");
    watched.add_key("locked");
    let seen = doc! {"_id": 1, "owner": "u1", "tags": ["a", ["b"]], "n": 1};
    store
        .apply(&ns, vec![Write::Insert(seen.clone())])
        .await
        .unwrap();
    let raw = store
        .client()
        .database(&store.database_name(&ns))
        .collection::<Document>("docs");
    // An unwatched field arrives after the rules saw `seen`.
    raw.update_one(doc! {"_id": 1}, doc! {"$set": {"note": "x"}})
        .await
        .unwrap();
    let mut post = seen.clone();
    post.insert("n", 2);
    post.insert("added", true);
    store
        .apply_watching(
            &ns,
            vec![Write::Replace {
                pre: seen.clone(),
                post,
            }],
            &watched,
        )
        .await
        .unwrap();
    let stored = raw.find_one(doc! {"_id": 1}).await.unwrap().unwrap();
    assert_eq!(
        stored,
        doc! {"_id": 1, "owner": "u1", "tags": ["a", ["b"]], "n": 2, "note": "x", "added": true}
    );
    // A watched field arrives: the write decided without it is refused, and so is a delete.
    let seen = stored;
    raw.update_one(doc! {"_id": 1}, doc! {"$set": {"locked": true}})
        .await
        .unwrap();
    let mut post = seen.clone();
    post.insert("n", 3);
    let refused = store
        .apply_watching(
            &ns,
            vec![Write::Replace {
                pre: seen.clone(),
                post,
            }],
            &watched,
        )
        .await;
    assert_eq!(refused, Err(expanse::store::StoreError::Conflict));
    let refused = store
        .apply_watching(&ns, vec![Write::Delete { pre: seen.clone() }], &watched)
        .await;
    assert_eq!(refused, Err(expanse::store::StoreError::Conflict));
    // A change inside an array the pre-image has is a conflict too.
    let seen = raw.find_one(doc! {"_id": 1}).await.unwrap().unwrap();
    raw.update_one(doc! {"_id": 1}, doc! {"$set": {"tags": [["a", ["b"]]]}})
        .await
        .unwrap();
    let refused = store
        .apply_watching(&ns, vec![Write::Delete { pre: seen }], &watched)
        .await;
    assert_eq!(refused, Err(expanse::store::StoreError::Conflict));
    let left = raw.find_one(doc! {"_id": 1}).await.unwrap().unwrap();
    assert_eq!(
        left.get_i32("n").unwrap(),
        2,
        "a refused write changed the document"
    );
    store.drop_prefixed_databases().await.unwrap();
}

/// `updateOne` by `_id` rides in one round trip when the rules can be part of the update's
/// filter, and gives the same results and denials as the read-decide-write path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_one_with_the_rules_in_its_filter() {
    let Some(uri) = common::mongodb_uri("update_one_with_the_rules_in_its_filter") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root_config.json"), "{}").unwrap();
    let rules_dir = dir.path().join("data_sources/mongodb-atlas/db/notes");
    std::fs::create_dir_all(&rules_dir).unwrap();
    std::fs::write(
        rules_dir.join("rules.json"),
        r#"{"database": "db", "collection": "notes", "roles": [
            {"name": "owner", "apply_when": {"owner_id": "%%user.id"},
             "fields": {"_id": {"read": true}, "title": {"write": true}, "owner_id": {"write": false}}, "additional_fields": {}}
        ]}"#,
    )
    .unwrap();
    let app = App::load(dir.path()).unwrap().app;
    let mongo = MongoStore::connect(&uri)
        .await
        .unwrap()
        .with_database_prefix(format!("fast_{}_", ObjectId::new().to_hex()));
    let memory = MemoryStore::new();
    let seed = [
        doc! {"_id": 1, "owner_id": "u1", "title": "a"},
        doc! {"_id": 2, "owner_id": "u2", "title": "b"},
    ];
    let ns = Namespace::new("db", "notes");
    for store_writes in [mongo.apply(&ns, seed.iter().cloned().map(Write::Insert).collect())] {
        store_writes.await.unwrap();
    }
    memory
        .apply(&ns, seed.iter().cloned().map(Write::Insert).collect())
        .await
        .unwrap();
    let alice = User::new("u1");
    let steps: Vec<(Document, Document)> = vec![
        (doc! {"_id": 1}, doc! {"$set": {"title": "mine"}}),
        (doc! {"_id": 1}, doc! {"$set": {"title": "mine"}}),
        (doc! {"_id": 2}, doc! {"$set": {"title": "theirs"}}),
        (doc! {"_id": 1}, doc! {"$set": {"owner_id": "u2"}}),
        (doc! {"_id": 1}, doc! {"$set": {"body": "x"}}),
        (doc! {"_id": 9}, doc! {"$set": {"title": "none"}}),
    ];
    let mut outcomes = Vec::new();
    for (i, (query, update)) in steps.iter().enumerate() {
        let on_server = app
            .collection(&mongo, &alice, "db", "notes")
            .unwrap()
            .explained();
        let server = on_server.update_one(query, update, false).await;
        let trace = on_server.take_trace();
        let embedded = app
            .collection(&memory, &alice, "db", "notes")
            .unwrap()
            .explained()
            .update_one(query, update, false)
            .await;
        let (server, embedded) = (format!("{server:?}"), format!("{embedded:?}"));
        assert_eq!(server, embedded, "step {i}");
        let fast = trace.iter().any(|l| l.contains("one round trip"));
        outcomes.push((server, fast));
    }
    // Allowed writes of `title` by its owner ride in the filter; denials and misses fall back
    // to the in-process decision, whose error they report.
    assert!(
        outcomes[0].1 && outcomes[0].0.contains("modified_count: 1"),
        "{outcomes:?}"
    );
    assert!(
        outcomes[1].1 && outcomes[1].0.contains("modified_count: 0"),
        "{outcomes:?}"
    );
    assert!(!outcomes[2].1, "{outcomes:?}");
    assert!(
        !outcomes[3].1 && outcomes[3].0.contains("not writable"),
        "{outcomes:?}"
    );
    assert!(
        !outcomes[4].1 && outcomes[4].0.contains("Denied"),
        "{outcomes:?}"
    );
    assert!(
        !outcomes[5].1 && outcomes[5].0.contains("matched_count: 0"),
        "{outcomes:?}"
    );
    let stored = mongo
        .find(&ns, &doc! {}, &FindOptions::default())
        .await
        .unwrap();
    let embedded = memory
        .find(&ns, &doc! {}, &FindOptions::default())
        .await
        .unwrap();
    assert_eq!(stored, embedded);
    mongo.drop_prefixed_databases().await.unwrap();
}

/// A document holding NaN is the same document as itself: writes on it do not conflict with
/// nobody (NaN is not `==` to itself; the stores compare pre-images as stored bytes).
async fn nan_documents_can_be_updated_and_deleted<S: Store>(store: &S) {
    let app = App::load("fixtures/app").unwrap().app;
    let system = User::system();
    let ns = Namespace::new("nan", "docs");
    store
        .apply(
            &ns,
            vec![Write::Insert(doc! {"_id": 1, "x": f64::NAN, "n": 1})],
        )
        .await
        .unwrap();
    let c = app.collection(store, &system, "nan", "docs").unwrap();
    let r = c
        .update_one(&doc! {"_id": 1}, &doc! {"$inc": {"n": 1}}, false)
        .await
        .unwrap();
    assert_eq!((r.matched_count, r.modified_count), (1, 1));
    assert_eq!(c.delete_one(&doc! {"_id": 1}).await.unwrap(), 1);
}

#[tokio::test]
async fn documents_holding_nan_can_be_written() {
    nan_documents_can_be_updated_and_deleted(&MemoryStore::new()).await;
    let Some(uri) = common::mongodb_uri("documents_holding_nan_can_be_written") else {
        return;
    };
    let mongo = MongoStore::connect(&uri)
        .await
        .unwrap()
        .with_database_prefix(format!("nan_{}_", ObjectId::new().to_hex()));
    for guard in [
        expanse::store::WriteGuard::ConditionalFilter,
        expanse::store::WriteGuard::Transaction,
    ] {
        let store = mongo.clone().with_write_guard(guard);
        nan_documents_can_be_updated_and_deleted(&store).await;
    }
    mongo.drop_prefixed_databases().await.unwrap();
}

fn pipeline_seed() -> Vec<Document> {
    vec![
        doc! {"_id": 1, "owner": "u1", "n": 1, "tags": ["a", "b"], "meta": {"sub": 1, "x": 2}, "s": "x", "when": bson::DateTime::from_millis(1_000)},
        doc! {"_id": 2, "owner": "u2", "n": 2.5, "tags": [], "meta": {"x": 3}, "s": "y"},
        doc! {"_id": 3, "owner": "u1", "n": null, "tags": "solo", "meta": [{"sub": 3}]},
        doc! {"_id": 4, "owner": ["u1", "u3"], "n": 4i64, "tags": ["b"], "s": "Zz"},
        doc! {"_id": 5, "owner": "u3", "n": 7, "meta": {"sub": {"deep": true}}},
        doc! {"_id": 6, "owner": "u2", "n": -3, "tags": ["a", "c", "a"], "s": ""},
    ]
}

/// Pipelines users write most, run by the embedded store and by the server over the same
/// documents: the results are the same documents in the same order (each pipeline ends in a
/// total `$sort`, or keeps the documents' order). Known differences of the test server from
/// MongoDB's documented behaviour are left out and noted here:
/// - `$count` over no documents gives `{<field>: 0}` (MongoDB gives no document);
/// - `$addFields`/`$set` of a dotted path (`"a.b"`) leaves a scalar `a` and the elements of
///   an array `a` unchanged (MongoDB replaces the scalar with `{b: …}` and sets `b` in every
///   element: its add_fields_projection_executor tests);
/// - `$project: {a: {b: 1}}` beside a computed field sets `a` to the literal `{b: 1}` (MongoDB
///   reads it as the nested inclusion `a.b`);
/// - `$let` variables used inside an arithmetic operator are refused as objects;
/// - a field path through an array of documents (`"$meta.sub"` on `meta: [{sub: 3}]`) is
///   missing (MongoDB: the array of the documents' values, `[3]`);
/// - `$mergeObjects` given an array merges its documents (MongoDB refuses a non-object);
/// - `$unwind`'s `includeArrayIndex` is an `int` (MongoDB: a `long`, `NumberLong(0)` in its
///   documentation's examples).
fn parity_pipelines() -> Vec<Vec<Document>> {
    vec![
        vec![
            doc! {"$group": {"_id": "$owner", "c": {"$sum": 1}, "s": {"$sum": "$n"}, "a": {"$avg": "$n"},
            "mn": {"$min": "$n"}, "mx": {"$max": "$n"}, "cnt": {"$count": {}}}},
            doc! {"$sort": {"c": -1, "s": 1}},
        ],
        vec![
            doc! {"$sort": {"_id": 1}},
            doc! {"$group": {"_id": null, "f": {"$first": "$s"}, "l": {"$last": "$s"}, "p": {"$push": "$s"},
            "ms": {"$min": "$s"}, "xs": {"$max": "$meta"}}},
        ],
        vec![
            doc! {"$sort": {"_id": 1}},
            doc! {"$group": {"_id": {"$type": "$n"}, "ids": {"$push": "$_id"}, "set": {"$addToSet": {"$gt": ["$n", 1]}}}},
            doc! {"$sort": {"_id": 1}},
        ],
        vec![
            doc! {"$unwind": "$tags"},
            doc! {"$sort": {"_id": 1, "tags": 1}},
        ],
        vec![
            doc! {"$unwind": {"path": "$tags", "preserveNullAndEmptyArrays": true}},
            doc! {"$sort": {"_id": 1}},
        ],
        vec![
            doc! {"$unwind": "$tags"},
            doc! {"$sortByCount": "$tags"},
            doc! {"$sort": {"count": -1, "_id": 1}},
        ],
        vec![
            doc! {"$bucket": {"groupBy": "$n", "boundaries": [-5, 0, 2, 5], "default": "other",
            "output": {"c": {"$sum": 1}, "ids": {"$push": "$_id"}}}},
        ],
        vec![doc! {"$bucket": {"groupBy": "$_id", "boundaries": [0, 3, 10]}}],
        vec![
            doc! {"$sort": {"_id": 1}},
            doc! {"$addFields": {"double": {"$multiply": ["$n", 2]}, "big": {"$gt": ["$n", 2]},
            "label": {"$cond": [{"$eq": [{"$type": "$owner"}, "string"]},
                {"$concat": ["$owner", "-", {"$toUpper": "$s"}]}, "several"]}}},
            doc! {"$set": {"n": "$$REMOVE", "tagCount": {"$size": {"$ifNull": [{"$cond": [{"$isArray": "$tags"}, "$tags", null]}, []]}}}},
        ],
        vec![
            doc! {"$sort": {"_id": 1}},
            doc! {"$project": {"owner": 1, "calc": {"$add": ["$_id", 10]}, "sw": {"$switch": {
            "branches": [{"case": {"$lt": ["$_id", 3]}, "then": "low"}], "default": "high"}}}},
        ],
        vec![
            doc! {"$sort": {"_id": 1}},
            doc! {"$project": {"_id": 0, "m": {"$map": {"input": {"$objectToArray": "$$ROOT"}, "as": "f", "in": "$$f.k"}},
            "kept": {"$arrayToObject": {"$filter": {"input": {"$objectToArray": "$$ROOT"}, "as": "f",
                "cond": {"$in": ["$$f.k", ["_id", "s"]]}}}},
            "first": {"$arrayElemAt": [{"$ifNull": [{"$cond": [{"$isArray": "$tags"}, "$tags", null]}, []]}, 0]}}},
        ],
        vec![
            doc! {"$match": {"meta.x": {"$exists": true}}},
            doc! {"$replaceRoot": {"newRoot": {"$mergeObjects": [{"id": "$_id"}, "$meta"]}}},
            doc! {"$sort": {"id": 1}},
        ],
        vec![
            doc! {"$sort": {"_id": -1}},
            doc! {"$replaceWith": {"o": "$owner", "t": {"$type": "$tags"}}},
            doc! {"$skip": 1},
            doc! {"$limit": 3},
        ],
        vec![
            doc! {"$match": {"n": {"$type": "number"}}},
            doc! {"$project": {"r": {"$round": [{"$divide": ["$n", 3]}, 2]}, "m": {"$mod": ["$n", 2]},
            "abs": {"$abs": "$n"}, "fl": {"$floor": "$n"}, "sub": {"$subtract": ["$n", 1]}}},
            doc! {"$sort": {"_id": 1}},
        ],
        vec![
            doc! {"$match": {"s": {"$exists": true}}},
            doc! {"$project": {"len": {"$strLenCP": "$s"}, "low": {"$toLower": "$s"}, "parts": {"$split": ["$s", "z"]},
            "sliced": {"$slice": [{"$ifNull": [{"$cond": [{"$isArray": "$tags"}, "$tags", null]}, []]}, -1]}}},
            doc! {"$sort": {"_id": 1}},
        ],
        vec![
            doc! {"$match": {"$expr": {"$gt": ["$n", 1]}}},
            doc! {"$count": "big"},
        ],
        vec![
            doc! {"$sort": {"_id": 1}},
            doc! {"$project": {"red": {"$reduce": {"input": {"$cond": [{"$isArray": "$tags"}, "$tags", []]},
            "initialValue": "", "in": {"$concat": ["$$value", "$$this"]}}},
            "any": {"$or": [{"$eq": ["$owner", "u1"]}, {"$in": ["u3", {"$cond": [{"$isArray": "$owner"}, "$owner", []]}]}]},
            "cmp": {"$cmp": ["$n", 2]}}},
        ],
    ]
}

#[tokio::test]
async fn the_embedded_pipeline_agrees_with_the_server() {
    let Some(uri) = common::mongodb_uri("the_embedded_pipeline_agrees_with_the_server") else {
        return;
    };
    let ns = Namespace::new("pipes", "docs");
    let memory = MemoryStore::new();
    let mongo = MongoStore::connect(&uri)
        .await
        .unwrap()
        .with_database_prefix(format!("pipes_{}_", ObjectId::new().to_hex()));
    for store_writes in [memory.apply(
        &ns,
        pipeline_seed().into_iter().map(Write::Insert).collect(),
    )] {
        store_writes.await.unwrap();
    }
    mongo
        .apply(
            &ns,
            pipeline_seed().into_iter().map(Write::Insert).collect(),
        )
        .await
        .unwrap();
    for pipeline in parity_pipelines() {
        let embedded = memory.aggregate(&ns, &pipeline).await;
        let real = mongo.aggregate(&ns, &pipeline).await;
        assert_eq!(
            embedded,
            real,
            "pipeline {}",
            Bson::Array(pipeline.iter().cloned().map(Bson::Document).collect())
                .into_relaxed_extjson()
        );
        assert!(
            embedded.as_ref().is_ok_and(|d| !d.is_empty()),
            "{pipeline:?} gives documents: {embedded:?}"
        );
    }
    mongo.drop_prefixed_databases().await.unwrap();
}

/// An update of a field the roles' `apply_when` reads also rides in one round trip: the role is
/// chosen on the stored document on both paths. A field a document-level `write` reads is
/// decided on the post-image: set to a literal or removed, that too rides in one round trip
/// (see `update_one_decided_on_the_post_image_in_one_round_trip`). Both stores give the same
/// results and denials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_one_of_a_field_the_role_reads_in_one_round_trip() {
    let Some(uri) = common::mongodb_uri("update_one_of_a_field_the_role_reads_in_one_round_trip")
    else {
        return;
    };
    let (_dir, app) = app_with_roles(&[
        (
            "notes",
            r#"[{"name": "owner", "apply_when": {"owner_id": "%%user.id"}, "read": true, "write": true},
                {"name": "shared", "apply_when": {"shared_with": "%%user.id"}, "read": true}]"#,
        ),
        (
            "locks",
            r#"[{"name": "owner", "apply_when": {"owner_id": "%%user.id"}, "read": true,
                 "write": {"locked": {"$ne": true}}}]"#,
        ),
    ]);
    let mongo = MongoStore::connect(&uri)
        .await
        .unwrap()
        .with_database_prefix(format!("fast_role_{}_", ObjectId::new().to_hex()));
    let memory = MemoryStore::new();
    let notes = Namespace::new("db", "notes");
    let locks = Namespace::new("db", "locks");
    let seed = |ns: &Namespace| {
        if ns.collection == "notes" {
            vec![
                doc! {"_id": 1, "owner_id": "u1", "shared_with": ["u3"], "title": "a"},
                doc! {"_id": 2, "owner_id": "u2", "shared_with": ["u3"], "title": "b"},
            ]
        } else {
            vec![doc! {"_id": 1, "owner_id": "u1", "locked": false, "title": "l"}]
        }
    };
    for ns in [&notes, &locks] {
        let writes = || seed(ns).into_iter().map(Write::Insert).collect::<Vec<_>>();
        mongo.apply(ns, writes()).await.unwrap();
        memory.apply(ns, writes()).await.unwrap();
    }
    let (alice, carol) = (User::new("u1"), User::new("u3"));
    let steps: Vec<(&User, &str, Document, Document)> = vec![
        // 0: the owner shares her note: `shared_with` is read by the shared role's apply_when.
        (
            &alice,
            "notes",
            doc! {"_id": 1},
            doc! {"$set": {"shared_with": ["u3", "u4"]}},
        ),
        // 1: someone the note is shared with may read it, not write it.
        (
            &carol,
            "notes",
            doc! {"_id": 1},
            doc! {"$set": {"shared_with": ["u3", "u5"]}},
        ),
        // 2: not her note: falls back and is not matched (she cannot read it).
        (
            &alice,
            "notes",
            doc! {"_id": 2},
            doc! {"$set": {"shared_with": []}},
        ),
        // 3: the owner gives her note away (`owner_id`, read by apply_when): the role is
        //    chosen on the stored document, where she owns it.
        (
            &alice,
            "notes",
            doc! {"_id": 1},
            doc! {"$set": {"owner_id": "u2"}},
        ),
        // 4: it is no longer hers.
        (
            &alice,
            "notes",
            doc! {"_id": 1},
            doc! {"$set": {"title": "x"}},
        ),
        // 5: `title` is read by no `write`: one round trip.
        (
            &alice,
            "locks",
            doc! {"_id": 1},
            doc! {"$set": {"title": "m"}},
        ),
        // 6: `locked` is read by `write`, on the post-image: locking is refused (the filter
        //    does not match, and the in-process decision gives the denial).
        (
            &alice,
            "locks",
            doc! {"_id": 1},
            doc! {"$set": {"locked": true}},
        ),
        // 7: an `$unset` of a field a `write` reads is decided on the post-image in one round
        //    trip too (here allowed: a missing `locked` is not `true`).
        (
            &alice,
            "locks",
            doc! {"_id": 1},
            doc! {"$unset": {"locked": ""}},
        ),
    ];
    let mut outcomes = Vec::new();
    for (i, (user, collection, query, update)) in steps.iter().enumerate() {
        let on_server = app
            .collection(&mongo, user, "db", collection)
            .unwrap()
            .explained();
        let server = on_server.update_one(query, update, false).await;
        let trace = on_server.take_trace();
        let embedded = app
            .collection(&memory, user, "db", collection)
            .unwrap()
            .explained()
            .update_one(query, update, false)
            .await;
        let (server, embedded) = (format!("{server:?}"), format!("{embedded:?}"));
        assert_eq!(server, embedded, "step {i}");
        let fast = trace.iter().any(|l| l.contains("one round trip"));
        outcomes.push((server, fast));
    }
    let fast = |i: usize, expected: &str| {
        assert!(
            outcomes[i].1 && outcomes[i].0.contains(expected),
            "step {i}: {outcomes:?}"
        )
    };
    let slow = |i: usize, expected: &str| {
        assert!(
            !outcomes[i].1 && outcomes[i].0.contains(expected),
            "step {i}: {outcomes:?}"
        )
    };
    fast(0, "modified_count: 1");
    slow(1, "Denied");
    slow(2, "matched_count: 0");
    fast(3, "modified_count: 1");
    slow(4, "matched_count: 0");
    fast(5, "modified_count: 1");
    slow(6, "Denied");
    fast(7, "modified_count: 1");
    for ns in [&notes, &locks] {
        let on_server = mongo
            .find(ns, &doc! {}, &FindOptions::default())
            .await
            .unwrap();
        assert_eq!(on_server, memory.documents(ns), "{ns}");
    }
    mongo.drop_prefixed_databases().await.unwrap();
}

/// Writes the rules files of a throwaway app, one `(collection, roles)` pair each, in database
/// `db`.
fn app_with_roles(collections: &[(&str, &str)]) -> (tempfile::TempDir, App) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root_config.json"), "{}").unwrap();
    for (collection, roles) in collections {
        let rules_dir = dir
            .path()
            .join(format!("data_sources/mongodb-atlas/db/{collection}"));
        std::fs::create_dir_all(&rules_dir).unwrap();
        std::fs::write(
            rules_dir.join("rules.json"),
            format!(r#"{{"database": "db", "collection": "{collection}", "roles": {roles}}}"#),
        )
        .unwrap();
    }
    let app = App::load(dir.path()).unwrap().app;
    (dir, app)
}

/// An update that writes a field a document-level `write` reads (on the post-image) rides in one
/// round trip when it sets that field to a literal value or removes it: `write` is decided on
/// the update's values, in process, and on the stored document for the rest, in the filter.
/// Every decision is the one the read-decide-write path takes (the embedded store, which has no
/// one-round-trip update, always takes that path), allowed or denied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_one_decided_on_the_post_image_in_one_round_trip() {
    let Some(uri) = common::mongodb_uri("update_one_decided_on_the_post_image_in_one_round_trip")
    else {
        return;
    };
    let (_dir, app) = app_with_roles(&[
        // The written `n` and the unwritten `locked`, both on the post-image.
        (
            "counts",
            r#"[{"name": "owner", "apply_when": {"owner_id": "%%user.id"}, "read": true,
                 "write": {"n": {"$gte": 0, "$lt": 10}, "locked": {"$ne": true}}}]"#,
        ),
        // `%%prevRoot` is the stored document; `%%root` the post-image.
        (
            "prev",
            r#"[{"name": "owner", "apply_when": {"owner_id": "%%user.id"}, "read": true,
                 "write": {"%%prevRoot.n": {"$lt": 100}, "n": {"$lte": 100}}}]"#,
        ),
        // A written field compared with the stored one: decided in process.
        (
            "monotonic",
            r#"[{"name": "owner", "apply_when": {"owner_id": "%%user.id"}, "read": true,
                 "write": {"n": {"$gt": "%%prevRoot.n"}}}]"#,
        ),
        // An embedded path and an array membership on the post-image.
        (
            "nested",
            r#"[{"name": "owner", "apply_when": {"owner_id": "%%user.id"}, "read": true,
                 "write": {"meta.level": {"$lte": 3}, "tags": "public"}}]"#,
        ),
    ]);
    let mongo = MongoStore::connect(&uri)
        .await
        .unwrap()
        .with_database_prefix(format!("post_image_{}_", ObjectId::new().to_hex()));
    let memory = MemoryStore::new();
    let seeds: [(&str, Vec<Document>); 4] = [
        (
            "counts",
            vec![
                doc! {"_id": 1, "owner_id": "u1", "n": 1, "locked": false},
                doc! {"_id": 2, "owner_id": "u1", "n": 1, "locked": true},
                doc! {"_id": 3, "owner_id": "u2", "n": 1},
            ],
        ),
        (
            "prev",
            vec![
                doc! {"_id": 1, "owner_id": "u1", "n": 50},
                doc! {"_id": 2, "owner_id": "u1", "n": 150},
            ],
        ),
        ("monotonic", vec![doc! {"_id": 1, "owner_id": "u1", "n": 5}]),
        (
            "nested",
            vec![doc! {"_id": 1, "owner_id": "u1", "meta": {"level": 1}, "tags": ["public"]}],
        ),
    ];
    for (collection, docs) in &seeds {
        let ns = Namespace::new("db", *collection);
        let writes = || docs.iter().cloned().map(Write::Insert).collect::<Vec<_>>();
        mongo.apply(&ns, writes()).await.unwrap();
        memory.apply(&ns, writes()).await.unwrap();
    }
    let alice = User::new("u1");
    // (collection, _id, update, one round trip, what the result shows)
    let steps: Vec<(&str, i32, Document, bool, &str)> = vec![
        // 0–1: a value the write rule allows; the same value again (matched, unchanged).
        (
            "counts",
            1,
            doc! {"$set": {"n": 5}},
            true,
            "modified_count: 1",
        ),
        (
            "counts",
            1,
            doc! {"$set": {"n": 5}},
            true,
            "modified_count: 0",
        ),
        // 2–4: values it refuses: below, above, of another type.
        ("counts", 1, doc! {"$set": {"n": -1}}, false, "Denied"),
        ("counts", 1, doc! {"$set": {"n": 10}}, false, "Denied"),
        ("counts", 1, doc! {"$set": {"n": "7"}}, false, "Denied"),
        // 5: removing `n`: a missing `n` is not `$gte: 0`.
        ("counts", 1, doc! {"$unset": {"n": ""}}, false, "Denied"),
        // 6: an allowed `n` on a locked document: the unwritten `locked` refuses it.
        ("counts", 2, doc! {"$set": {"n": 4}}, false, "Denied"),
        // 7: unlocking in the same update: `locked` is decided on the written value.
        (
            "counts",
            2,
            doc! {"$set": {"n": 4, "locked": false}},
            true,
            "modified_count: 1",
        ),
        // 8: locking in the same update is refused.
        (
            "counts",
            1,
            doc! {"$set": {"n": 6, "locked": true}},
            false,
            "Denied",
        ),
        // 9: removing `locked` (a missing `locked` is not `true`) with a written field no rule reads.
        (
            "counts",
            1,
            doc! {"$set": {"n": 7, "title": "t"}, "$unset": {"locked": ""}},
            true,
            "modified_count: 1",
        ),
        // 10: an `$inc` of `n` depends on the stored value: read, decide, write.
        (
            "counts",
            1,
            doc! {"$inc": {"n": 1}},
            false,
            "modified_count: 1",
        ),
        // 11: another user's document: not hers to read, so nothing matches.
        (
            "counts",
            3,
            doc! {"$set": {"n": 2}},
            false,
            "matched_count: 0",
        ),
        // 12–14: `%%prevRoot` is the stored document, `%%root` the written one.
        (
            "prev",
            1,
            doc! {"$set": {"n": 99}},
            true,
            "modified_count: 1",
        ),
        ("prev", 1, doc! {"$set": {"n": 101}}, false, "Denied"),
        ("prev", 2, doc! {"$set": {"n": 50}}, false, "Denied"),
        // 15–16: comparing the written value with the stored one: read, decide, write.
        (
            "monotonic",
            1,
            doc! {"$set": {"n": 6}},
            false,
            "modified_count: 1",
        ),
        ("monotonic", 1, doc! {"$set": {"n": 1}}, false, "Denied"),
        // 17–18: an embedded path read within a field set as a whole.
        (
            "nested",
            1,
            doc! {"$set": {"meta": {"level": 2}}},
            true,
            "modified_count: 1",
        ),
        (
            "nested",
            1,
            doc! {"$set": {"meta": {"level": 5}}},
            false,
            "Denied",
        ),
        // 19: a dotted path into a field the rule reads: read, decide, write.
        (
            "nested",
            1,
            doc! {"$set": {"meta.level": 3}},
            false,
            "modified_count: 1",
        ),
        // 20–21: array membership on the written array.
        (
            "nested",
            1,
            doc! {"$set": {"tags": ["new", "public"]}},
            true,
            "modified_count: 1",
        ),
        (
            "nested",
            1,
            doc! {"$set": {"tags": ["new"]}},
            false,
            "Denied",
        ),
    ];
    for (i, (collection, id, update, one_trip, expected)) in steps.iter().enumerate() {
        let query = doc! {"_id": id};
        let on_server = app
            .collection(&mongo, &alice, "db", collection)
            .unwrap()
            .explained();
        let server = on_server.update_one(&query, update, false).await;
        let trace = on_server.take_trace();
        let embedded = app
            .collection(&memory, &alice, "db", collection)
            .unwrap()
            .explained()
            .update_one(&query, update, false)
            .await;
        let (server, embedded) = (format!("{server:?}"), format!("{embedded:?}"));
        assert_eq!(server, embedded, "step {i}");
        let fast = trace
            .iter()
            .any(|l| l.contains("updated in one round trip"));
        assert_eq!(fast, *one_trip, "step {i}: {server} {trace:?}");
        assert!(server.contains(expected), "step {i}: {server}");
        for (collection, _) in &seeds {
            let ns = Namespace::new("db", *collection);
            let on_server = mongo
                .find(&ns, &doc! {}, &FindOptions::default())
                .await
                .unwrap();
            assert_eq!(on_server, memory.documents(&ns), "step {i}: {ns}");
        }
    }
    mongo.drop_prefixed_databases().await.unwrap();
}

/// A document locked while updates of a field the `write` rule reads are under way: no update
/// that starts after the lock has landed is allowed, and the allowed ones are the updates before
/// it (the unwritten `locked` is checked by the server, atomically with the write, or on the
/// document version the write is applied to).
async fn no_write_after_the_lock<S: Store>(app: &App, store: &S) {
    use std::sync::atomic::{AtomicI32, Ordering};
    let ns = Namespace::new("db", "counts");
    store
        .apply(
            &ns,
            vec![Write::Insert(
                doc! {"_id": 1, "owner_id": "u1", "n": 0, "locked": false},
            )],
        )
        .await
        .unwrap();
    let alice = User::new("u1");
    let system = User::system();
    // The update under way, and the one under way when the lock had landed (0: not yet).
    let started = AtomicI32::new(0);
    let landed = AtomicI32::new(0);
    let writes = async {
        let coll = app.collection(store, &alice, "db", "counts").unwrap();
        let mut outcomes = Vec::new();
        for n in 1..=2000 {
            let after_lock = landed.load(Ordering::SeqCst);
            if after_lock != 0 && n > after_lock + 10 {
                break;
            }
            started.store(n, Ordering::SeqCst);
            tokio::task::yield_now().await;
            match coll
                .update_one(&doc! {"_id": 1}, &doc! {"$set": {"n": n}}, false)
                .await
            {
                Ok(r) if r.modified_count == 1 => outcomes.push((n, true)),
                Ok(r) => panic!("matched but unchanged: {r:?}"),
                Err(expanse::guard::GuardError::Denied(_)) => outcomes.push((n, false)),
                Err(e) => panic!("{e}"),
            }
        }
        outcomes
    };
    let lock = async {
        // The lock goes out while the 20th update is under way, in one write where the store
        // has one (the read-decide-write of a system user's update could be outrun by the
        // one-round-trip updates forever).
        while started.load(Ordering::SeqCst) < 20 {
            tokio::task::yield_now().await;
        }
        let set = doc! {"$set": {"locked": true}};
        let matched = match store.update_one_where(&ns, &doc! {"_id": 1}, &set).await {
            Ok(Some((matched, _))) => matched,
            Ok(None) => {
                let coll = app.collection(store, &system, "db", "counts").unwrap();
                coll.update_one(&doc! {"_id": 1}, &set, false)
                    .await
                    .unwrap()
                    .matched_count
            }
            Err(e) => panic!("{e}"),
        };
        assert_eq!(matched, 1);
        landed.store(started.load(Ordering::SeqCst), Ordering::SeqCst);
    };
    let (outcomes, ()) = tokio::join!(writes, lock);
    let landed = landed.load(Ordering::SeqCst);
    let allowed: Vec<i32> = outcomes
        .iter()
        .filter(|(_, a)| *a)
        .map(|(n, _)| *n)
        .collect();
    // Every update before the lock went out was allowed, none started after it landed was,
    // and none was allowed after one was denied.
    assert!(allowed.len() >= 19, "{outcomes:?}");
    assert!(
        allowed.iter().all(|n| *n <= landed),
        "landed at {landed}: {outcomes:?}"
    );
    assert_eq!(
        allowed,
        (1..=allowed.len() as i32).collect::<Vec<_>>(),
        "{outcomes:?}"
    );
    assert!(
        outcomes.len() as i32 > landed,
        "updates went on after the lock"
    );
    let last = app
        .collection(store, &system, "db", "counts")
        .unwrap()
        .find_one(&doc! {"_id": 1}, &Default::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.get_i32("n").unwrap(), allowed.len() as i32);
    assert!(last.get_bool("locked").unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_between_updates_decided_on_the_post_image_stops_them() {
    let (_dir, app) = app_with_roles(&[(
        "counts",
        r#"[{"name": "owner", "apply_when": {"owner_id": "%%user.id"}, "read": true,
             "write": {"n": {"$gte": 0}, "locked": {"$ne": true}}}]"#,
    )]);
    no_write_after_the_lock(&app, &MemoryStore::new()).await;
    let Some(uri) =
        common::mongodb_uri("a_lock_between_updates_decided_on_the_post_image_stops_them")
    else {
        return;
    };
    let mongo = MongoStore::connect(&uri)
        .await
        .unwrap()
        .with_database_prefix(format!("post_lock_{}_", ObjectId::new().to_hex()));
    no_write_after_the_lock(&app, &mongo).await;
    mongo.drop_prefixed_databases().await.unwrap();
}
