//! See `main.rs`. Paths and documents deeper than MongoDB's 100 levels are refused where they
//! enter, with an error naming the (abbreviated) path; at the limit they are written and read
//! back. Each case runs on both stores, as a user and as the system.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bson::{doc, oid::ObjectId, Bson, Document};
use expanse::functions::Functions;
use expanse::guard::{GuardError, GuardedCollection};
use expanse::limits::MAX_DEPTH;
use expanse::store::{FindOptions, MemoryStore, MongoStore, Namespace, Store, Write};
use expanse::{App, User};

use crate::common;
use crate::common::apps::{app_with_rules, write_app, write_files};

const RULES: &str = r#"{"database": "db", "collection": "coll", "roles": [
  {"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true, "write": true, "insert": true}
]}"#;

/// `p.a.a…` with `parts` components.
fn path(first: &str, parts: usize) -> String {
    std::iter::once(first)
        .chain(std::iter::repeat_n("a", parts - 1))
        .collect::<Vec<_>>()
        .join(".")
}

/// `{"a": {"a": … 1}}`, `levels` documents deep (0: the scalar 1).
fn nested(levels: usize) -> Bson {
    let mut value = Bson::Int32(1);
    for _ in 0..levels {
        value = Bson::Document(doc! {"a": value});
    }
    value
}

/// A document `depth` levels deep (itself one of them), owned by `u1`.
fn document_of_depth(id: &str, depth: usize) -> Document {
    doc! {"_id": id, "owner": "u1", "x": nested(depth - 1)}
}

fn show<T: std::fmt::Debug>(result: &Result<T, GuardError>) -> String {
    match result {
        Ok(v) => format!("unexpectedly allowed: {v:?}"),
        Err(e) => e.to_string(),
    }
}

/// A refusal for the limit that names the path, briefly.
fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, GuardError>,
    reason: &str,
    names: &str,
    case: &str,
) {
    let text = show(&result);
    assert!(result.is_err(), "{case}: {text}");
    assert!(text.contains(reason), "{case}: {text}");
    assert!(text.contains(names), "{case}: {text}");
    assert!(text.len() < 300, "{case}: an error of {} bytes", text.len());
}

const TOO_LONG: &str = "more than 100 components";
const TOO_DEEP: &str = "nested deeper than 100 levels";

fn opts(sort: Option<Document>, projection: Option<Document>) -> FindOptions {
    FindOptions {
        sort,
        projection,
        ..FindOptions::default()
    }
}

/// Every entry point at the limit and one past it, for one caller on one store.
async fn at_and_past_the_limit<S: Store>(c: &GuardedCollection<'_, S>, who: &str) {
    // An inserted document.
    let at = document_of_depth("at", MAX_DEPTH);
    c.insert_one(at.clone()).await.expect(who);
    let found = c.find(&doc! {"_id": "at"}, &FindOptions::default()).await;
    assert_eq!(found.expect(who), vec![at.clone()], "{who}");
    assert_refused(
        c.insert_one(document_of_depth("past", MAX_DEPTH + 1)).await,
        TOO_DEEP,
        "x.a.a.a",
        &format!("{who}: insert"),
    );
    assert_refused(
        c.insert_many(vec![
            doc! {"_id": "ok", "owner": "u1"},
            document_of_depth("past", MAX_DEPTH + 1),
        ])
        .await,
        TOO_DEEP,
        "x.a.a.a",
        &format!("{who}: insertMany"),
    );

    // An update path.
    let at_path = path("p", MAX_DEPTH);
    let r = c
        .update_one(&doc! {"_id": "at"}, &doc! {"$set": {&at_path: 1}}, false)
        .await;
    assert_eq!(r.expect(who).modified_count, 1, "{who}");
    let past_path = path("p", MAX_DEPTH + 1);
    assert_refused(
        c.update_one(&doc! {"_id": "at"}, &doc! {"$set": {&past_path: 2}}, false)
            .await,
        TOO_LONG,
        "p.a.a.a",
        &format!("{who}: $set path"),
    );
    assert_refused(
        c.update_one(
            &doc! {"_id": "at"},
            &doc! {"$rename": {"owner": &past_path}},
            false,
        )
        .await,
        TOO_LONG,
        "p.a.a.a",
        &format!("{who}: $rename target"),
    );

    // A $set value, and the post-image a $rename makes.
    let r = c
        .update_one(
            &doc! {"_id": "at"},
            &doc! {"$set": {"v": nested(MAX_DEPTH - 1)}},
            false,
        )
        .await;
    assert_eq!(r.expect(who).modified_count, 1, "{who}");
    assert_refused(
        c.update_one(
            &doc! {"_id": "at"},
            &doc! {"$set": {"v": nested(MAX_DEPTH)}},
            false,
        )
        .await,
        TOO_DEEP,
        "v.a.a.a",
        &format!("{who}: $set value"),
    );
    assert_refused(
        c.update_one(
            &doc! {"_id": "at"},
            &doc! {"$set": {path("w", 50): nested(51)}},
            false,
        )
        .await,
        TOO_DEEP,
        "w.a.a.a",
        &format!("{who}: $set value under a long path"),
    );
    assert_refused(
        c.update_one(
            &doc! {"_id": "at"},
            &doc! {"$push": {"list": nested(MAX_DEPTH - 1)}},
            false,
        )
        .await,
        TOO_DEEP,
        "list",
        &format!("{who}: $push value"),
    );
    assert_refused(
        c.update_one(&doc! {"_id": "at"}, &doc! {"$rename": {"v": "r.v"}}, false)
            .await,
        TOO_DEEP,
        "r.v.a.a",
        &format!("{who}: post-image of a $rename"),
    );
    assert_refused(
        c.replace_one(
            &doc! {"_id": "at"},
            &document_of_depth("at", MAX_DEPTH + 1),
            false,
        )
        .await,
        TOO_DEEP,
        "x.a.a.a",
        &format!("{who}: replacement"),
    );

    // A query path and a query's nesting.
    let found = c
        .find(&doc! {&at_path: 1}, &FindOptions::default())
        .await
        .expect(who);
    assert_eq!(found.len(), 1, "{who}");
    let found = c
        .find(&doc! {"x": nested(MAX_DEPTH - 1)}, &FindOptions::default())
        .await;
    assert_eq!(found.expect(who).len(), 1, "{who}");
    assert_refused(
        c.find(&doc! {&past_path: 1}, &FindOptions::default()).await,
        TOO_LONG,
        "p.a.a.a",
        &format!("{who}: query path"),
    );
    assert_refused(
        c.find(&doc! {"x": nested(MAX_DEPTH)}, &FindOptions::default())
            .await,
        TOO_DEEP,
        "x.a.a.a",
        &format!("{who}: query nesting"),
    );
    assert_refused(
        c.count(&doc! {&past_path: 1}).await,
        TOO_LONG,
        "p.a.a.a",
        &format!("{who}: count"),
    );

    // A projection.
    let found = c
        .find(&doc! {"_id": "at"}, &opts(None, Some(doc! {&at_path: 1})))
        .await
        .expect(who);
    assert_eq!(found.len(), 1, "{who}");
    assert_eq!(
        expanse::update::get_path(
            &found[0],
            expanse::query::FieldPath::parse(&at_path).parts()
        ),
        Some(&Bson::Int32(1)),
        "{who}"
    );
    assert_refused(
        c.find(&doc! {}, &opts(None, Some(doc! {&past_path: 1})))
            .await,
        TOO_LONG,
        "p.a.a.a",
        &format!("{who}: projection"),
    );

    // A sort.
    let found = c
        .find(&doc! {}, &opts(Some(doc! {&at_path: -1}), None))
        .await
        .expect(who);
    assert_eq!(
        found.first().and_then(|d| d.get("_id")),
        Some(&Bson::from("at")),
        "{who}"
    );
    assert_refused(
        c.find(&doc! {}, &opts(Some(doc! {&past_path: 1}), None))
            .await,
        TOO_LONG,
        "p.a.a.a",
        &format!("{who}: sort"),
    );

    // An upsert seed: the query's equalities become the new document.
    let r = c
        .update_one(
            &doc! {"owner": "u1", path("s", MAX_DEPTH): 1},
            &doc! {"$set": {"up": true}},
            true,
        )
        .await;
    assert!(r.expect(who).upserted_id.is_some(), "{who}");
    assert_refused(
        c.update_one(
            &doc! {"owner": "u1", path("s", MAX_DEPTH + 1): 1},
            &doc! {"$set": {"up": true}},
            true,
        )
        .await,
        TOO_LONG,
        "s.a.a.a",
        &format!("{who}: upsert seed"),
    );
    assert_refused(
        c.update_one(
            &doc! {"owner": "u1", path("s", 60): nested(41)},
            &doc! {"$set": {"up": true}},
            true,
        )
        .await,
        TOO_DEEP,
        "s.a.a.a",
        &format!("{who}: upsert seed's post-image"),
    );

    // Nothing refused was written.
    let all = c.find(&doc! {}, &FindOptions::default()).await.expect(who);
    let ids: Vec<&Bson> = all.iter().filter_map(|d| d.get("_id")).collect();
    assert_eq!(ids.len(), 2, "{who}: {ids:?}");
    assert!(all.iter().all(|d| !d.contains_key("w")), "{who}");
}

async fn both_callers<S: Store>(app: &App, fresh: impl Fn(&str) -> S) {
    let alice = User::new("u1");
    let store = fresh("user");
    let c = app.collection(&store, &alice, "db", "coll").unwrap();
    at_and_past_the_limit(&c, "user").await;
    let system = User::system();
    let store = fresh("system");
    let c = app.collection(&store, &system, "db", "coll").unwrap();
    at_and_past_the_limit(&c, "system").await;
}

#[tokio::test]
async fn paths_and_documents_at_the_limit_pass_and_one_past_it_are_refused_in_memory() {
    let (_dir, app) = app_with_rules(RULES);
    both_callers(&app, |_| MemoryStore::new()).await;
}

async fn mongo(test: &str) -> Option<MongoStore> {
    let uri = common::mongodb_uri(test)?;
    Some(
        MongoStore::connect(&uri)
            .await
            .unwrap()
            .with_database_prefix(format!("depth_{}_", ObjectId::new().to_hex())),
    )
}

#[tokio::test]
async fn paths_and_documents_at_the_limit_pass_and_one_past_it_are_refused_on_mongodb() {
    let Some(base) = mongo("depth on mongodb").await else {
        return;
    };
    let (_dir, app) = app_with_rules(RULES);
    let prefix = format!("depth_{}_", ObjectId::new().to_hex());
    both_callers(&app, |who| {
        base.with_database_prefix(format!("{prefix}{who}_"))
    })
    .await;
    base.with_database_prefix(prefix)
        .drop_prefixed_databases()
        .await
        .unwrap();
}

/// A 100 000-component path from a user no role applies to: a short error, no crash, on each
/// entry point that takes a path.
async fn huge_path_from_a_stranger<S: Store>(store: &S) {
    let (_dir, app) = app_with_rules(RULES);
    store
        .apply(
            &Namespace::new("db", "coll"),
            vec![Write::Insert(doc! {"_id": 1, "owner": "u1"})],
        )
        .await
        .unwrap();
    let stranger = User::new("nobody");
    let c = app.collection(store, &stranger, "db", "coll").unwrap();
    let huge = path("a", 100_000);
    assert_refused(
        c.update_one(&doc! {"_id": 1}, &doc! {"$set": {&huge: 1}}, false)
            .await,
        TOO_LONG,
        "a.a.a",
        "$set",
    );
    assert_refused(
        c.update_many(&doc! {}, &doc! {"$inc": {&huge: 1}}, true)
            .await,
        TOO_LONG,
        "a.a.a",
        "$inc with upsert",
    );
    assert_refused(
        c.find(&doc! {&huge: 1}, &FindOptions::default()).await,
        TOO_LONG,
        "a.a.a",
        "query",
    );
    assert_refused(
        c.update_one(&doc! {&huge: 1}, &doc! {"$set": {"b": 1}}, true)
            .await,
        TOO_LONG,
        "a.a.a",
        "upsert seed",
    );
    assert_refused(
        c.find(&doc! {}, &opts(Some(doc! {&huge: 1}), None)).await,
        TOO_LONG,
        "a.a.a",
        "sort",
    );
    let system = User::system();
    let c = app.collection(store, &system, "db", "coll").unwrap();
    assert_refused(
        c.update_one(&doc! {"_id": 1}, &doc! {"$set": {&huge: 1}}, false)
            .await,
        TOO_LONG,
        "a.a.a",
        "$set as system",
    );
    let docs = c.find(&doc! {}, &FindOptions::default()).await.unwrap();
    assert_eq!(docs, vec![doc! {"_id": 1, "owner": "u1"}]);
}

#[tokio::test]
async fn a_hundred_thousand_part_path_from_a_user_with_no_role_is_a_clear_error() {
    huge_path_from_a_stranger(&MemoryStore::new()).await;
    if let Some(store) = mongo("huge path on mongodb").await {
        huge_path_from_a_stranger(&store).await;
        store.drop_prefixed_databases().await.unwrap();
    }
}

#[tokio::test]
async fn a_long_path_from_a_javascript_function_is_a_clear_error() {
    let dir = write_app(&[
        ("root_config.json", "{}"),
        (
            "functions/config.json",
            r#"[{"name": "deepSet", "private": false}]"#,
        ),
        (
            "functions/deepSet.js",
            r#"exports = async function (parts) {
                const coll = context.services.get("mongodb-atlas").db("db").collection("coll");
                const path = Array(parts).fill("a").join(".");
                try {
                    await coll.updateOne({ _id: 1 }, { $set: { [path]: 1 } });
                    return "applied";
                } catch (e) {
                    return String(e.message || e);
                }
            };"#,
        ),
        (
            "data_sources/mongodb-atlas/config.json",
            r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
        ),
        ("data_sources/mongodb-atlas/db/coll/rules.json", RULES),
    ]);
    let app = Arc::new(App::load(dir.path()).unwrap().app);
    let store = MemoryStore::new();
    store
        .seed(&doc! {"db.coll": [{"_id": 1, "owner": "u1"}]})
        .unwrap();
    let functions = Functions::builder(app, store.clone())
        .time_limit(Duration::from_secs(5))
        .build()
        .unwrap()
        .0;
    let alice = User::new("u1");
    let out = functions
        .call(&alice, "deepSet", vec![Bson::Int32(3_000)], None)
        .await
        .unwrap();
    let text = out.as_str().unwrap_or_default().to_owned();
    assert!(text.contains(TOO_LONG), "{text}");
    assert!(text.len() < 400, "{text}");
    let out = functions
        .call(&alice, "deepSet", vec![Bson::Int32(MAX_DEPTH as i32)], None)
        .await
        .unwrap();
    assert_eq!(out, Bson::from("applied"));
}

#[test]
fn the_embedded_store_refuses_documents_past_the_limit_when_seeded_or_opened() {
    let store = MemoryStore::new();
    let err = store
        .seed(&doc! {"db.coll": [document_of_depth("d", MAX_DEPTH + 1)]})
        .unwrap_err()
        .to_string();
    assert!(err.contains(TOO_DEEP) && err.contains("x.a.a"), "{err}");
    assert!(store.documents(&Namespace::new("db", "coll")).is_empty());
    store
        .seed(&doc! {"db.coll": [document_of_depth("d", MAX_DEPTH)]})
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("store.json");
    let deep = Bson::Document(document_of_depth("d", MAX_DEPTH + 1)).into_canonical_extjson();
    std::fs::write(&file, format!("{{\"db.coll\": [{deep}]}}")).unwrap();
    let err = MemoryStore::open(&file).unwrap_err().to_string();
    assert!(err.contains(TOO_DEEP), "{err}");
}

#[tokio::test]
async fn a_document_past_the_limit_stored_by_another_client_is_refused_on_read_not_crashed_on() {
    let Some(store) = mongo("deep stored document").await else {
        return;
    };
    let (_dir, app) = app_with_rules(RULES);
    let ns = Namespace::new("db", "coll");
    // Written past Expanse, straight through the driver.
    store
        .client()
        .database(&store.database_name(&ns))
        .collection::<Document>("coll")
        .insert_many(vec![
            doc! {"_id": 1, "owner": "u1"},
            document_of_depth("deep", 150),
        ])
        .await
        .unwrap();
    for user in [User::new("u1"), User::system()] {
        let c = app.collection(&store, &user, "db", "coll").unwrap();
        let err = show(&c.find(&doc! {}, &FindOptions::default()).await);
        assert!(err.contains(TOO_DEEP) && err.contains("x.a.a"), "{err}");
        let one = c.find(&doc! {"_id": 1}, &FindOptions::default()).await;
        assert_eq!(one.unwrap().len(), 1);
    }
    store.drop_prefixed_databases().await.unwrap();
}

#[test]
fn a_twelve_thousand_part_path_in_a_fixture_is_reported_with_its_location() {
    let dir = write_app(&[
        ("app/root_config.json", "{}"),
        (
            "app/data_sources/mongodb-atlas/config.json",
            r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
        ),
        ("app/data_sources/mongodb-atlas/db/coll/rules.json", RULES),
    ]);
    let huge = path("a", 12_000);
    let fixture = format!(
        r#"{{"app": "app",
  "data": {{"db.coll": [{{"_id": 1, "owner": "u1"}}]}},
  "tests": [
    {{"name": "deep", "as": "system", "op": "updateOne", "ns": "db.coll", "query": {{"_id": 1}},
      "update": {{"$set": {{"{huge}": 1}}}}, "expect": {{"allowed": true}}}}
  ]}}"#
    );
    write_files(dir.path(), &[("deep.test.json", &fixture)]);
    let file = dir.path().join("deep.test.json");
    let out = Command::new(env!("CARGO_BIN_EXE_expanse"))
        .arg("test")
        .arg(&file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("deep.test.json:5:27"), "{text}");
    assert!(text.contains(TOO_LONG), "{text}");
    assert!(text.len() < 2_000, "{} bytes of output", text.len());

    // Fixture data past the depth limit too.
    let deep = Bson::Document(document_of_depth("d", MAX_DEPTH + 1)).into_relaxed_extjson();
    let fixture = format!(
        r#"{{"app": "app",
  "data": {{"db.coll": [{deep}]}},
  "tests": [{{"name": "t", "as": "system", "op": "count", "ns": "db.coll", "expect": {{"count": 1}}}}]}}"#
    );
    write_files(dir.path(), &[("deep.test.json", &fixture)]);
    let out = Command::new(env!("CARGO_BIN_EXE_expanse"))
        .arg("test")
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("deep.test.json:2:"), "{text}");
    assert!(text.contains(TOO_DEEP), "{text}");
}
