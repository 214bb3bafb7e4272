//! `%%request` reaches the rules evaluated inside a function: the collections a function
//! reads and writes (JavaScript or Rust) are guarded with the client request the call serves.

use std::sync::Arc;

use bson::{bson, doc, Bson, Document};
use expanse::functions::{Context, Functions};
use expanse::store::{FindOptions, MemoryStore, Namespace};
use expanse::{App, User};

use crate::common::apps::write_app;

/// Only requests from the office's address may read or write the notes.
const RULES: &str = r#"{
  "database": "db", "collection": "notes",
  "roles": [
    {"name": "in the office", "apply_when": {"%%request.remoteIPAddress": "10.0.0.1"},
     "read": true, "write": true, "insert": true, "delete": true, "search": true}
  ],
  "filters": []
}"#;

fn setup() -> (tempfile::TempDir, Functions<MemoryStore>, MemoryStore) {
    let dir = write_app(&[
        ("root_config.json", r#"{"name": "office"}"#),
        (
            "data_sources/mongodb-atlas/config.json",
            r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
        ),
        ("data_sources/mongodb-atlas/db/notes/rules.json", RULES),
        (
            "functions/config.json",
            r#"[{"name": "readNotes", "private": false}, {"name": "touchNotes", "private": false},
                {"name": "countNotes", "private": false}]"#,
        ),
        (
            "functions/readNotes.js",
            r#"exports = () => context.services.get("mongodb-atlas").db("db").collection("notes").find({}).toArray();"#,
        ),
        (
            "functions/touchNotes.js",
            r#"exports = () => context.services.get("mongodb-atlas").db("db").collection("notes").updateOne({_id: 1}, {$set: {seen: true}});"#,
        ),
        (
            "functions/countNotes.js",
            r#"exports = () => { throw new Error("registered in Rust"); };"#,
        ),
    ]);
    let app = Arc::new(App::load(dir.path()).expect("app loads").app);
    let store = MemoryStore::new();
    store
        .seed(&doc! {"db.notes": [{"_id": 1, "text": "plans"}]})
        .expect("seeded");
    let functions = Functions::builder(app, store.clone())
        .register(
            "countNotes",
            |ctx: Context<MemoryStore>, _: Vec<Bson>| async move {
                let notes = ctx
                    .services()
                    .get("mongodb-atlas")
                    .ok_or("no data source")?
                    .db("db")
                    .collection("notes");
                let n = notes.count(&doc! {}).await.map_err(|e| e.to_string())?;
                let found = notes
                    .find(&doc! {}, &FindOptions::default())
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(bson!({"count": n as i64, "found": found.len() as i64}))
            },
        )
        .build()
        .expect("functions build")
        .0;
    (dir, functions, store)
}

fn from(ip: &str) -> Option<Document> {
    Some(doc! {"remoteIPAddress": ip, "requestHeaders": {}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_rule_is_met_inside_a_javascript_function() {
    let (_dir, f, _store) = setup();
    let user = User::new("u1");
    let office = f.call(&user, "readNotes", vec![], from("10.0.0.1")).await;
    assert_eq!(office.unwrap(), bson!([{"_id": 1, "text": "plans"}]));
    let cafe = f.call(&user, "readNotes", vec![], from("192.0.2.7")).await;
    assert_eq!(cafe.unwrap(), bson!([]), "another address sees nothing");
    let none = f.call(&user, "readNotes", vec![], None).await;
    assert_eq!(none.unwrap(), bson!([]), "no request: %%request is missing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_rule_guards_writes_inside_a_function() {
    let (_dir, f, store) = setup();
    let user = User::new("u1");
    let cafe = f.call(&user, "touchNotes", vec![], from("192.0.2.7")).await;
    assert_eq!(
        cafe.unwrap(),
        bson!({"matchedCount": 0, "modifiedCount": 0}),
        "what the caller cannot read is not matched"
    );
    let office = f.call(&user, "touchNotes", vec![], from("10.0.0.1")).await;
    assert_eq!(
        office.unwrap(),
        bson!({"matchedCount": 1, "modifiedCount": 1})
    );
    assert_eq!(
        store.documents(&Namespace::new("db", "notes")),
        vec![doc! {"_id": 1, "text": "plans", "seen": true}]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_rule_is_met_inside_a_rust_function() {
    let (_dir, f, _store) = setup();
    let user = User::new("u1");
    let office = f.call(&user, "countNotes", vec![], from("10.0.0.1")).await;
    assert_eq!(office.unwrap(), bson!({"count": 1_i64, "found": 1_i64}));
    let cafe = f.call(&user, "countNotes", vec![], from("192.0.2.7")).await;
    assert_eq!(cafe.unwrap(), bson!({"count": 0_i64, "found": 0_i64}));
}
