//! App Services JavaScript functions, run unchanged.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use crate::common::apps::write_app;
use bson::{bson, doc, Bson};
use expanse::functions::{FunctionError, Functions};
use expanse::store::{MemoryStore, MongoStore, Namespace, Store};
use expanse::{App, User};

fn app_with(functions: &[(&str, &str)], config: &str) -> (tempfile::TempDir, Arc<App>) {
    let mut files: Vec<(String, String)> = vec![
        ("root_config.json".into(), "{}".into()),
        ("functions/config.json".into(), config.into()),
        ("data_sources/mongodb-atlas/config.json".into(), r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#.into()),
        (
            "data_sources/mongodb-atlas/db/notes/rules.json".into(),
            r#"{"database": "db", "collection": "notes", "roles": [{"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true, "write": true}]}"#.into(),
        ),
        ("values/greeting.json".into(), r#"{"name": "greeting", "value": "hi"}"#.into()),
    ];
    for (name, source) in functions {
        files.push((format!("functions/{name}.js"), source.to_string()));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let dir = write_app(&refs);
    let app = Arc::new(App::load(dir.path()).unwrap().app);
    (dir, app)
}

fn build<S: Store + Clone + 'static>(app: Arc<App>, store: S) -> Functions<S> {
    Functions::builder(app, store)
        .time_limit(Duration::from_millis(500))
        .memory_limit(16 * 1024 * 1024)
        .build()
        .unwrap()
        .0
}

#[tokio::test]
async fn the_example_apps_javascript_functions_run_unchanged() {
    let app = Arc::new(App::load("fixtures/app").unwrap().app);
    let store = MemoryStore::new();
    store.seed(&doc! {"notes_app.users": [{"_id": 1, "user_id": "u1", "role": "member", "language": "en"}]}).unwrap();
    let f = build(app, store.clone());
    let alice = User::new("u1");
    assert_eq!(
        f.call(&alice, "setLanguage", vec![bson!("fr")], None)
            .await
            .unwrap(),
        bson!(true)
    );
    assert_eq!(
        store.documents(&Namespace::new("notes_app", "users"))[0]
            .get_str("language")
            .unwrap(),
        "fr"
    );
    let err = f
        .call(&alice, "setLanguage", vec![bson!("xx")], None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "function 'setLanguage' failed: unsupported language: xx (at functions/setLanguage.js:6:46)"
    );
    // the private creation function, as the system would call it
    f.call_as_system("createUserDocument", vec![bson!({"id": "u2"})])
        .await
        .unwrap();
    assert_eq!(
        store.documents(&Namespace::new("notes_app", "users")).len(),
        2
    );
}

const CONFIG: &str = r#"[
  {"name": "ctx", "private": false},
  {"name": "userWrite", "private": false},
  {"name": "systemWrite", "private": false, "run_as_system": true},
  {"name": "chain", "private": false},
  {"name": "helper", "private": true},
  {"name": "many", "private": false},
  {"name": "findAndModify", "private": false},
  {"name": "throws", "private": false},
  {"name": "spin", "private": false},
  {"name": "bomb", "private": false},
  {"name": "ids", "private": false},
  {"name": "scripted", "private": false, "run_as_user_id_script_source": "function() { return 'fixed'; }"},
  {"name": "noExport", "private": false}
]"#;

fn sources() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "ctx",
            r#"exports = function (a, b) {
            console.log("called with", a, b);
            return { user: context.user.id, system: context.runningAsSystem(), greeting: context.values.get("greeting"),
                     missing: context.values.get("nope") === undefined, tag: context.environment.tag,
                     noService: context.services.get("nope") === undefined, sum: a + b };
        };"#,
        ),
        (
            "userWrite",
            r#"exports = async function (id) {
            const notes = context.services.get("mongodb-atlas").db("db").collection("notes");
            const r = await notes.updateOne({ _id: id }, { $set: { touched: true } });
            return r.modifiedCount;
        };"#,
        ),
        (
            "systemWrite",
            r#"exports = async (id) => {
            const notes = context.services.get("mongodb-atlas").db("db").collection("notes");
            return (await notes.updateOne({ _id: id }, { $set: { touched: true } })).modifiedCount;
        };"#,
        ),
        (
            "chain",
            r#"exports = async function () { return await context.functions.execute("helper", 20, 22); };"#,
        ),
        ("helper", r#"exports = function (a, b) { return a + b; };"#),
        (
            "findAndModify",
            r#"exports = async function () {
            const notes = context.services.get("mongodb-atlas").db("db").collection("notes");
            await notes.insertMany([{ _id: "f1", owner: context.user.id, n: 1 }, { _id: "f2", owner: context.user.id, n: 2 }]);
            const updated = await notes.findOneAndUpdate({ _id: "f1" }, { $inc: { n: 10 } }, { returnNewDocument: true });
            const replaced = await notes.findOneAndReplace({ _id: "f2" }, { owner: context.user.id, n: 20 }, { projection: { n: 1 } });
            const deleted = await notes.findOneAndDelete({ _id: "f1" }, { projection: { _id: 1 } });
            const missing = await notes.findOneAndDelete({ _id: "nope" });
            const left = await notes.count({ _id: { $in: ["f1", "f2"] } });
            await notes.deleteOne({ _id: "f2" });
            return { updated: updated.n, replaced: replaced.n, deleted: deleted._id, missing, left };
        };"#,
        ),
        (
            "many",
            r#"exports = async function () {
            const notes = context.services.get("mongodb-atlas").db("db").collection("notes");
            await notes.insertOne({ _id: "j1", owner: context.user.id, n: 1 });
            await notes.insertMany([{ _id: "j2", owner: context.user.id, n: 2 }, { _id: "j3", owner: context.user.id, n: 3 }]);
            const [all, count, one] = await Promise.all([
                notes.find({ n: { $gte: 2 } }).sort({ n: -1 }).limit(1).toArray(),
                notes.count({}),
                notes.findOne({ _id: "j1" }),
            ]);
            const agg = await notes.aggregate([{ $match: { n: { $lt: 3 } } }, { $count: "c" }]).toArray();
            const deleted = await notes.deleteMany({ n: { $gte: 2 } });
            return { top: all[0].n, count, one: one.n, agg: agg[0].c, deleted: deleted.deletedCount };
        };"#,
        ),
        (
            "throws",
            r#"exports = function () { throw new Error("nope"); };"#,
        ),
        ("spin", r#"exports = function () { while (true) {} };"#),
        (
            "bomb",
            r#"exports = function () { const a = []; while (true) { a.push(new Array(100000).fill("x")); } };"#,
        ),
        (
            "ids",
            r#"exports = function (id, when) {
            const again = new BSON.ObjectId(id.toHexString());
            return { same: again.equals(id), id, when, next: new Date(when.getTime() + 1000), text: EJSON.stringify({ id }) };
        };"#,
        ),
        (
            "scripted",
            r#"exports = function () { return context.user.id; };"#,
        ),
        ("noExport", r#"const x = 1;"#),
    ]
}

#[tokio::test]
async fn the_context_and_globals() {
    let (_d, app) = app_with(&sources(), CONFIG);
    let f = build(app, MemoryStore::new());
    let alice = User::new("alice");
    let out = f
        .call(&alice, "ctx", vec![bson!(1), bson!(2.5)], None)
        .await
        .unwrap();
    assert_eq!(
        out,
        bson!({"user": "alice", "system": false, "greeting": "hi", "missing": true, "tag": "", "noService": true, "sum": 3.5})
    );
    assert_eq!(f.take_log(), vec!["called with 1 2.5".to_string()]);
    assert_eq!(
        f.call(&alice, "chain", vec![], None).await.unwrap(),
        bson!(42)
    );
    assert_eq!(
        f.call(&alice, "scripted", vec![], None).await.unwrap(),
        bson!("alice"),
        "context.user is the caller even when running as another user"
    );
    assert!(f
        .call(&alice, "noExport", vec![], None)
        .await
        .unwrap_err()
        .to_string()
        .contains("does not assign a function to exports"));
}

#[tokio::test]
async fn object_ids_and_dates_survive_the_round_trip() {
    let (_d, app) = app_with(&sources(), CONFIG);
    let f = build(app, MemoryStore::new());
    let id = bson::oid::ObjectId::new();
    let when = bson::DateTime::from_millis(1_700_000_000_000);
    let out = f
        .call_as_system("ids", vec![Bson::ObjectId(id), Bson::DateTime(when)])
        .await
        .unwrap();
    let out = out.as_document().unwrap();
    assert!(out.get_bool("same").unwrap());
    assert_eq!(out.get_object_id("id").unwrap(), id);
    assert_eq!(out.get_datetime("when").unwrap(), &when);
    assert_eq!(
        out.get_datetime("next").unwrap().timestamp_millis(),
        1_700_000_001_000
    );
    assert_eq!(
        out.get_str("text").unwrap(),
        format!("{{\"id\":{{\"$oid\":\"{}\"}}}}", id.to_hex())
    );
}

#[tokio::test]
async fn rules_bind_user_functions_and_not_system_functions() {
    let (_d, app) = app_with(&sources(), CONFIG);
    let store = MemoryStore::new();
    store
        .seed(&doc! {"db.notes": [{"_id": 1, "owner": "alice"}, {"_id": 2, "owner": "bob"}]})
        .unwrap();
    let f = build(app, store.clone());
    let alice = User::new("alice");
    assert_eq!(
        f.call(&alice, "userWrite", vec![bson!(1)], None)
            .await
            .unwrap(),
        bson!(1)
    );
    // the other user's document is not alice's to read: nothing matches
    assert_eq!(
        f.call(&alice, "userWrite", vec![bson!(2)], None)
            .await
            .unwrap(),
        bson!(0)
    );
    assert_eq!(
        f.call(&alice, "systemWrite", vec![bson!(2)], None)
            .await
            .unwrap(),
        bson!(1)
    );
    let out = f.call(&alice, "findAndModify", vec![], None).await.unwrap();
    assert_eq!(
        out,
        bson!({"updated": 11, "replaced": 2, "deleted": "f1", "missing": null, "left": 1})
    );
    let out = f.call(&alice, "many", vec![], None).await.unwrap();
    assert_eq!(
        out,
        bson!({"top": 3, "count": 4, "one": 1, "agg": 2, "deleted": 2})
    );
}

#[tokio::test]
async fn errors_infinite_loops_and_memory_bombs_are_stopped() {
    let (_d, app) = app_with(&sources(), CONFIG);
    let f = build(app, MemoryStore::new());
    let alice = User::new("alice");
    let err = f.call(&alice, "throws", vec![], None).await.unwrap_err();
    assert_eq!(
        (err.code(), err.to_string()),
        (
            "FunctionExecutionError",
            "function 'throws' failed: nope (at functions/throws.js:1:35)".into()
        )
    );
    let started = std::time::Instant::now();
    let err = f.call(&alice, "spin", vec![], None).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            err,
            FunctionError::Execution { .. } | FunctionError::Timeout { .. }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("time limit") || err.to_string().contains("interrupted"),
        "{err}"
    );
    let err = f.call(&alice, "bomb", vec![], None).await.unwrap_err();
    assert!(err.to_string().to_lowercase().contains("memory"), "{err}");
    // nothing leaks between calls: a fresh runtime each time
    assert_eq!(
        f.call(&alice, "chain", vec![], None).await.unwrap(),
        bson!(42)
    );
}

#[tokio::test]
async fn javascript_runs_against_the_real_server() {
    let Some(uri) = common::mongodb_uri("javascript_runs_against_the_real_server") else {
        return;
    };
    let (_d, app) = app_with(&sources(), CONFIG);
    let store = MongoStore::connect(&uri)
        .await
        .unwrap()
        .with_database_prefix(format!("js_{}_", bson::oid::ObjectId::new().to_hex()));
    let f = build(app, store.clone());
    let out = f
        .call(&User::new("alice"), "many", vec![], None)
        .await
        .unwrap();
    assert_eq!(
        out,
        bson!({"top": 3, "count": 3, "one": 1, "agg": 2, "deleted": 2})
    );
    store.drop_prefixed_databases().await.unwrap();
}

/// A thrown error or a syntax error names `functions/<name>.js:line:col`, with the stack's
/// frames in the app's functions.
#[tokio::test]
async fn javascript_errors_carry_their_location_and_stack() {
    let (_d, app) = app_with(
        &[
            ("bad", "exports = function (a) {\n  return a +;\n};\n"),
            (
                "outer",
                "function helper(a) {\n  return a.b.c;\n}\nexports = function () {\n  return helper({});\n};\n",
            ),
        ],
        r#"[{"name": "bad"}, {"name": "outer"}]"#,
    );
    let f = build(app, MemoryStore::new());
    let err = f
        .call_as_system("bad", vec![])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("(at functions/bad.js:2:13)"), "{err}");
    let err = f
        .call_as_system("outer", vec![])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("(at functions/outer.js:2:"), "{err}");
    assert!(err.contains("at helper (functions/outer.js:2:"), "{err}");
    assert!(err.contains("at exports (functions/outer.js:5:"), "{err}");
}

/// `arrayFilters` and the positional operators reach the update engine from JavaScript (they
/// were refused until the update engine had them).
async fn array_filters_from_javascript<S: Store + Clone + 'static>(store: S) {
    let (_d, app) = app_with(
        &[(
            "tick",
            r#"exports = async (id) => {
                const notes = context.services.get("mongodb-atlas").db("db").collection("notes");
                const one = await notes.updateOne({ _id: 1 },
                    { $set: { "items.$[i].done": true } }, { arrayFilters: [{ "i.id": id }] });
                const all = await notes.updateMany({ _id: 1, "items.id": 3 }, { $inc: { "items.$.n": 5 } });
                const after = await notes.findOneAndUpdate({ _id: 1 }, { $set: { "items.$[].seen": 1 } },
                    { returnNewDocument: true, arrayFilters: [] });
                return [one.modifiedCount, all.modifiedCount, after.items];
            };"#,
        )],
        r#"[{"name": "tick"}]"#,
    );
    let notes = Namespace::new("db", "notes");
    store
        .apply(
            &notes,
            vec![expanse::store::Write::Insert(doc! {
                "_id": 1, "owner": "alice",
                "items": [{"id": 2, "n": 0}, {"id": 3, "n": 0}]
            })],
        )
        .await
        .unwrap();
    let f = build(app, store.clone());
    let out = f
        .call(&User::new("alice"), "tick", vec![bson!(2)], None)
        .await
        .unwrap();
    assert_eq!(
        out,
        bson!([1, 1, [
            {"id": 2, "n": 0, "done": true, "seen": 1},
            {"id": 3, "n": 5, "seen": 1}
        ]])
    );
}

#[tokio::test]
async fn array_filters_from_javascript_on_the_embedded_store() {
    array_filters_from_javascript(MemoryStore::new()).await;
}

#[tokio::test]
async fn array_filters_from_javascript_on_the_server() {
    let Some(uri) = common::mongodb_uri("array_filters_from_javascript_on_the_server") else {
        return;
    };
    let store = MongoStore::connect(&uri)
        .await
        .unwrap()
        .with_database_prefix(format!("af_{}_", bson::oid::ObjectId::new().to_hex()));
    array_filters_from_javascript(store.clone()).await;
    store.drop_prefixed_databases().await.unwrap();
}
