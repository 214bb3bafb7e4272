//! Hidden values never reach a caller: not through error messages, not through write outcomes
//! (a write is no read oracle), not through the documents a query or sort selects. What a caller
//! cannot read behaves as absent. Every test runs on the embedded store and on the test server.

use std::sync::Arc;
use std::time::Duration;

use bson::{bson, doc, oid::ObjectId, Document};
use expanse::functions::Functions;
use expanse::guard::{FindOneAndOptions, GuardError, GuardedCollection};
use expanse::store::{FindOptions, MemoryStore, MongoStore, Namespace, Store};
use expanse::{App, User};

use crate::common;

/// Alice owns `a1`. Bob's `b1` shows others only `title` and `owner_id` (not even `_id`);
/// his `b2` is private: nobody else sees any of it. Alice may edit `e1`'s title, and only
/// that.
const RULES: &str = r#"{
  "database": "db", "collection": "coll",
  "roles": [
    {"name": "owner", "apply_when": {"owner_id": "%%user.id"}, "read": true, "write": true},
    {"name": "private", "apply_when": {"private": true}, "read": false, "write": false},
    {"name": "editor", "apply_when": {"editor": "%%user.id"},
     "fields": {"title": {"write": true}}, "additional_fields": {}},
    {"name": "public", "apply_when": {},
     "fields": {"title": {"read": true}, "owner_id": {"read": true}},
     "additional_fields": {}}
  ]
}"#;

const HIDDEN: [&str; 5] = [
    "bravo-secret",
    "hidden-string-value",
    "zulu",
    "b2",
    "quiet-value",
];

fn seed() -> Vec<Document> {
    vec![
        doc! {"_id": "a1", "owner_id": "alice", "title": "A", "secret": {"x": "alpha-secret"}, "n": 1},
        doc! {"_id": "b1", "owner_id": "bob", "title": "B", "secret": {"x": "bravo-secret"},
        "secretstr": "hidden-string-value", "n": 2},
        doc! {"_id": "b2", "owner_id": "bob", "title": "C", "private": true, "secret": "zulu", "n": 3},
        doc! {"_id": "e1", "owner_id": "bob", "editor": "alice", "title": "E", "hush": "quiet-value"},
    ]
}

fn app() -> (tempfile::TempDir, Arc<App>) {
    let (dir, app) = common::apps::app_with_rules(RULES);
    (dir, Arc::new(app))
}

fn ns() -> Namespace {
    Namespace::new("db", "coll")
}

async fn seeded<S: Store>(store: &S) {
    let system = User::system();
    let (_dir, app) = app();
    let coll = app.collection(store, &system, "db", "coll").unwrap();
    coll.delete_many(&doc! {}).await.unwrap();
    coll.insert_many(seed()).await.unwrap();
}

/// Panics when `text` holds any hidden value (or a hidden document's `_id`).
fn assert_no_hidden(text: &str, what: &str) {
    for hidden in HIDDEN {
        assert!(
            !text.contains(hidden),
            "{what}: {text:?} reveals the hidden value {hidden:?}"
        );
    }
    assert!(
        !text.contains("type string") && !text.contains("of type"),
        "{what}: {text:?} reveals the type of a hidden field"
    );
}

async fn stored<S: Store>(store: &S) -> Vec<Document> {
    let mut docs = store
        .find(&ns(), &doc! {}, &FindOptions::default())
        .await
        .unwrap();
    docs.sort_by_key(|d| d.get_str("_id").unwrap_or_default().to_owned());
    docs
}

fn ids(docs: &[Document]) -> Vec<String> {
    docs.iter()
        .map(|d| d.get_str("title").unwrap_or("?").to_owned())
        .collect()
}

/// Runs `check` on a fresh embedded store and on a fresh database of the test server.
async fn on_both_stores<F, Fut>(test: &str, check: F)
where
    F: Fn(Arc<App>, StoreKind) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (_dir, app) = app();
    let memory = MemoryStore::new();
    seeded(&memory).await;
    check(app.clone(), StoreKind::Memory(memory)).await;
    let Some(uri) = common::mongodb_uri(test) else {
        return;
    };
    let mongo = MongoStore::connect(&uri)
        .await
        .unwrap()
        // No `b` in the prefix: error messages name the namespace, and "b2" is a hidden value.
        .with_database_prefix(format!(
            "sec_{}_",
            ObjectId::new().to_hex().replace('b', "x")
        ));
    seeded(&mongo).await;
    check(app, StoreKind::Mongo(mongo.clone())).await;
    mongo.drop_prefixed_databases().await.unwrap();
}

#[derive(Clone)]
enum StoreKind {
    Memory(MemoryStore),
    Mongo(MongoStore),
}

/// Calls `$body` with `$coll` bound to alice's guarded collection and `$store` to the store.
macro_rules! as_alice {
    ($kind:expr, $app:expr, |$coll:ident, $store:ident| $body:block) => {{
        let alice = User::new("alice");
        match &$kind {
            StoreKind::Memory($store) => {
                let $coll = $app.collection($store, &alice, "db", "coll").unwrap();
                $body
            }
            StoreKind::Mongo($store) => {
                let $coll = $app.collection($store, &alice, "db", "coll").unwrap();
                $body
            }
        }
    }};
}

fn message(result: Result<impl std::fmt::Debug, GuardError>) -> String {
    match result {
        Ok(v) => panic!("expected a refusal, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

async fn update_errors<S: Store>(coll: &GuardedCollection<'_, S>) -> Vec<String> {
    let mut out = Vec::new();
    let by_title = doc! {"title": "B"};
    for update in [
        doc! {"$set": {"secretstr.x": 1}},
        doc! {"$inc": {"secretstr": 1}},
        doc! {"$push": {"secretstr": 1}},
        doc! {"$addToSet": {"secretstr": 1}},
        doc! {"$rename": {"secretstr.x": "y"}},
        doc! {"$mul": {"secret": 2}},
    ] {
        out.push(message(coll.update_one(&by_title, &update, false).await));
        out.push(message(
            coll.find_one_and_update(&by_title, &update, &FindOneAndOptions::default())
                .await,
        ));
        out.push(message(coll.update_many(&by_title, &update, false).await));
    }
    out
}

#[tokio::test]
async fn update_errors_never_quote_or_type_a_hidden_value() {
    on_both_stores(
        "update_errors_never_quote_or_type_a_hidden_value",
        |app, kind| async move {
            let before = match &kind {
                StoreKind::Memory(s) => stored(s).await,
                StoreKind::Mongo(s) => stored(s).await,
            };
            let errors = as_alice!(kind, app, |coll, _store| { update_errors(&coll).await });
            for e in &errors {
                assert_no_hidden(e, "update error");
                assert!(
                    e.contains("not permitted"),
                    "a denial, not the update engine's words: {e}"
                );
            }
            let after = match &kind {
                StoreKind::Memory(s) => stored(s).await,
                StoreKind::Mongo(s) => stored(s).await,
            };
            assert_eq!(before, after, "refused writes change nothing");
        },
    )
    .await;
}

#[tokio::test]
async fn update_errors_on_what_the_caller_reads_are_reported_without_values() {
    on_both_stores(
        "update_errors_on_what_the_caller_reads_are_reported_without_values",
        |app, kind| async move {
            let e = as_alice!(kind, app, |coll, _store| {
                message(
                    coll.update_one(&doc! {"_id": "a1"}, &doc! {"$set": {"title.x": 1}}, false)
                        .await,
                )
            });
            assert!(e.contains("title"), "{e}");
            assert!(!e.contains("\"A\""), "no value in the message: {e}");
        },
    )
    .await;
}

#[tokio::test]
async fn writes_never_select_what_the_caller_cannot_read() {
    on_both_stores(
        "writes_never_select_what_the_caller_cannot_read",
        |app, kind| async move {
            as_alice!(kind, app, |coll, store| {
                // A private document and a hidden field answer exactly as a wrong guess does.
                for query in [
                    doc! {"_id": "b2"},
                    doc! {"title": "C"},
                    doc! {"secret": "zulu"},
                    doc! {"secret": "wrong"},
                    doc! {"title": "B", "secret.x": "bravo-secret"},
                    doc! {"title": "B", "secret.x": "wrong"},
                    doc! {"title": "B", "secret.x": {"$gte": "b"}},
                    doc! {"title": "B", "secretstr": {"$exists": true}},
                    doc! {"title": "B", "secretstr": {"$type": "string"}},
                ] {
                    let update = doc! {"$set": {"n": 9}};
                    let r = coll.update_one(&query, &update, false).await.unwrap();
                    assert_eq!(r.matched_count, 0, "{query}");
                    let r = coll.update_many(&query, &update, false).await.unwrap();
                    assert_eq!(r.matched_count, 0, "{query}");
                    let r = coll
                        .replace_one(&query, &doc! {"n": 9}, false)
                        .await
                        .unwrap();
                    assert_eq!(r.matched_count, 0, "{query}");
                    assert_eq!(coll.delete_one(&query).await.unwrap(), 0, "{query}");
                    assert_eq!(coll.delete_many(&query).await.unwrap(), 0, "{query}");
                    let none = FindOneAndOptions::default();
                    assert_eq!(coll.find_one_and_delete(&query, &none).await.unwrap(), None);
                    assert_eq!(
                        coll.find_one_and_update(&query, &update, &none)
                            .await
                            .unwrap(),
                        None
                    );
                }
                // A readable document the caller may not change is refused, naming no hidden _id.
                let e = message(
                    coll.update_many(&doc! {}, &doc! {"$set": {"n": 9}}, false)
                        .await,
                );
                assert!(e.contains("not permitted"), "{e}");
                assert_no_hidden(&e, "updateMany denial");
                assert!(!e.contains("b1"), "b1's _id is hidden from alice: {e}");
                let e = message(coll.delete_many(&doc! {}).await);
                assert_no_hidden(&e, "deleteMany denial");
                assert!(!e.contains("b1"), "{e}");
                let e = message(
                    coll.find_one_and_delete(&doc! {"title": "B"}, &FindOneAndOptions::default())
                        .await,
                );
                assert_no_hidden(&e, "findOneAndDelete denial");
                // Nothing changed, and alice's own document is still hers to change.
                let all = stored(store).await;
                assert_eq!(all, seed(), "refused and unmatched writes change nothing");
                let r = coll
                    .update_one(&doc! {"title": "A"}, &doc! {"$set": {"n": 5}}, false)
                    .await
                    .unwrap();
                assert_eq!((r.matched_count, r.modified_count), (1, 1));
            })
        },
    )
    .await;
}

#[tokio::test]
async fn denials_do_not_name_fields_the_caller_cannot_read() {
    on_both_stores(
        "denials_do_not_name_fields_the_caller_cannot_read",
        |app, kind| async move {
            as_alice!(kind, app, |coll, store| {
                // Alice may change e1's title; a replacement would also drop its hidden field.
                let e = message(
                    coll.replace_one(&doc! {"title": "E"}, &doc! {"title": "F"}, false)
                        .await,
                );
                assert!(e.contains("not permitted"), "{e}");
                assert!(!e.contains("hush") && !e.contains("field editor"), "{e}");
                assert_no_hidden(&e, "replacement denial");
                // A new field she may not write is named: it is hers to know.
                let e = message(
                    coll.update_one(&doc! {"title": "E"}, &doc! {"$set": {"mine": 1}}, false)
                        .await,
                );
                assert!(e.contains("field mine is not writable"), "{e}");
                let r = coll
                    .update_one(&doc! {"title": "E"}, &doc! {"$set": {"title": "F"}}, false)
                    .await
                    .unwrap();
                assert_eq!(r.modified_count, 1);
                let e1 = stored(store).await.pop().unwrap();
                assert_eq!(e1.get_str("hush").unwrap(), "quiet-value");
            })
        },
    )
    .await;
}

#[tokio::test]
async fn guessing_a_hidden_field_character_by_character_learns_nothing() {
    on_both_stores(
        "guessing_a_hidden_field_character_by_character_learns_nothing",
        |app, kind| async move {
            as_alice!(kind, app, |coll, _store| {
                // The attack: grow a prefix of b1's hidden secret.x while some write matches.
                let mut outcomes = std::collections::BTreeSet::new();
                for c in ['a', 'b', 'c', 'z'] {
                    let probe = doc! {"owner_id": "bob", "secret.x": {"$gte": c.to_string()}};
                    let r = coll
                        .update_one(&probe, &doc! {"$set": {"n": 1}}, false)
                        .await;
                    outcomes.insert(format!("{:?}", r.map(|r| r.matched_count)));
                    let d = coll.delete_one(&probe).await;
                    outcomes.insert(format!("{:?}", d));
                }
                assert_eq!(
                    outcomes.len(),
                    1,
                    "every probe must answer alike: {outcomes:?}"
                );
            })
        },
    )
    .await;
}

#[tokio::test]
async fn queries_counts_and_sorts_see_only_what_the_caller_reads() {
    on_both_stores(
        "queries_counts_and_sorts_see_only_what_the_caller_reads",
        |app, kind| async move {
            as_alice!(kind, app, |coll, _store| {
                let find = |q: Document| {
                    let coll = &coll;
                    async move { ids(&coll.find(&q, &FindOptions::default()).await.unwrap()) }
                };
                assert_eq!(find(doc! {}).await, ["A", "B", "E"]);
                assert!(find(doc! {"secretstr": "hidden-string-value"})
                    .await
                    .is_empty());
                assert!(find(doc! {"secret": "zulu"}).await.is_empty());
                assert!(find(doc! {"secretstr": {"$exists": true}}).await.is_empty());
                assert_eq!(
                    find(doc! {"secretstr": {"$exists": false}}).await,
                    ["A", "B", "E"]
                );
                assert!(find(doc! {"secretstr": {"$type": "string"}})
                    .await
                    .is_empty());
                assert_eq!(find(doc! {"secret.x": {"$gte": "a"}}).await, ["A"]);
                assert_eq!(
                    find(doc! {"secret.x": {"$ne": "bravo-secret"}}).await,
                    ["A", "B", "E"]
                );
                assert_eq!(
                    coll.count(&doc! {"secretstr": {"$exists": true}})
                        .await
                        .unwrap(),
                    0
                );
                assert_eq!(
                    coll.count(&doc! {"secret.x": {"$lt": "c"}}).await.unwrap(),
                    1
                );
                assert_eq!(coll.count(&doc! {}).await.unwrap(), 3);
                // Sorting by a hidden field sorts b1 as if it lacked the field.
                let sorted = |dir: i32, limit: Option<u64>| {
                    let coll = &coll;
                    async move {
                        let options = FindOptions {
                            sort: Some(doc! {"secret.x": dir, "title": 1}),
                            limit,
                            ..FindOptions::default()
                        };
                        ids(&coll.find(&doc! {}, &options).await.unwrap())
                    }
                };
                assert_eq!(sorted(-1, Some(1)).await, ["A"]);
                assert_eq!(sorted(1, None).await, ["B", "E", "A"]);
                let aggregated = coll
                    .aggregate(&[doc! {"$match": {"secretstr": {"$exists": true}}}])
                    .await
                    .unwrap();
                assert!(aggregated.is_empty());
            })
        },
    )
    .await;
}

#[tokio::test]
async fn duplicate_keys_do_not_echo_the_key() {
    on_both_stores(
        "duplicate_keys_do_not_echo_the_key",
        |app, kind| async move {
            as_alice!(kind, app, |coll, _store| {
                let e = message(
                    coll.insert_one(doc! {"_id": "b2", "owner_id": "alice", "title": "mine"})
                        .await,
                );
                assert!(e.contains("duplicate key"), "{e}");
                assert_no_hidden(&e, "duplicate key");
                let e = message(
                    coll.update_one(
                        &doc! {"_id": "b2", "owner_id": "alice"},
                        &doc! {"$set": {"title": "mine"}},
                        true,
                    )
                    .await,
                );
                assert!(e.contains("duplicate key"), "{e}");
                assert_no_hidden(&e, "duplicate key on upsert");
            })
        },
    )
    .await;
}

/// The same attacks from a user-context JavaScript function.
#[tokio::test]
async fn from_javascript_the_same_answers() {
    let source = r#"exports = async function (probe) {
        const coll = context.services.get("mongodb-atlas").db("db").collection("coll");
        const out = [];
        for (const update of [{$set: {"secretstr.x": 1}}, {$inc: {secretstr: 1}}]) {
            try { await coll.updateOne({title: "B"}, update); out.push("applied"); }
            catch (e) { out.push(String(e.message || e)); }
        }
        const r = await coll.updateOne(probe, {$set: {n: 1}});
        out.push(JSON.stringify(r));
        return out;
    };"#;
    let dir = common::apps::write_app(&[
        ("root_config.json", "{}"),
        (
            "data_sources/mongodb-atlas/config.json",
            r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
        ),
        ("data_sources/mongodb-atlas/db/coll/rules.json", RULES),
        ("functions/config.json", r#"[{"name": "probe"}]"#),
        ("functions/probe.js", source),
    ]);
    let app = Arc::new(App::load(dir.path()).unwrap().app);
    let store = MemoryStore::new();
    seeded(&store).await;
    let functions = Functions::builder(app, store.clone())
        .time_limit(Duration::from_secs(5))
        .build()
        .unwrap()
        .0;
    let alice = User::new("alice");
    let mut answers = Vec::new();
    for probe in [
        bson!({"owner_id": "bob", "secret.x": {"$gte": "b"}}),
        bson!({"owner_id": "bob", "secret.x": {"$gte": "c"}}),
    ] {
        let out = functions
            .call(&alice, "probe", vec![probe], None)
            .await
            .unwrap();
        let text = out.into_relaxed_extjson().to_string();
        assert_no_hidden(&text, "JavaScript");
        answers.push(text);
    }
    assert_eq!(answers[0], answers[1], "the probes answer alike");
    assert_eq!(stored(&store).await, seed());
}
