//! The embedded store's change events, and database triggers settling over it: the seed's
//! pattern, a trigger keeping a custom user data field current, the user's next token carrying it.

use std::sync::Arc;
use std::time::Duration;

use bson::doc;
use expanse::auth::{Auth, TokenConfig, TokenIssuer};
use expanse::functions::Functions;
use expanse::store::{
    ChangeStreams, FindOptions, MemoryStore, Namespace, Store, WatchOptions, Write,
};
use expanse::triggers::Settler;
use expanse::{App, User};

use crate::common::apps::write_app;

#[tokio::test]
async fn the_embedded_store_emits_change_events_and_resumes_from_their_tokens() {
    let store = MemoryStore::new();
    let ns = Namespace::new("db", "c");
    let watch = |resume_after| WatchOptions {
        full_document: true,
        full_document_before_change: true,
        resume_after,
        max_await: Some(Duration::ZERO),
        ..WatchOptions::default()
    };
    let mut stream = store.watch(&ns, watch(None)).await.unwrap();
    store
        .apply(&ns, vec![Write::Insert(doc! {"_id": 1, "a": 1})])
        .await
        .unwrap();
    store
        .apply(
            &ns,
            vec![Write::Replace {
                pre: doc! {"_id": 1, "a": 1},
                post: doc! {"_id": 1, "a": 2, "b": 1},
            }],
        )
        .await
        .unwrap();
    store
        .apply(
            &Namespace::new("db", "other"),
            vec![Write::Insert(doc! {"_id": 5})],
        )
        .await
        .unwrap();
    store
        .apply(
            &ns,
            vec![Write::Delete {
                pre: doc! {"_id": 1, "a": 2, "b": 1},
            }],
        )
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(e) = stream.next().await.unwrap() {
        got.push(e);
    }
    let ops: Vec<&str> = got
        .iter()
        .map(|e| e.get_str("operationType").unwrap())
        .collect();
    assert_eq!(ops, ["insert", "update", "delete"]);
    assert_eq!(
        got[0].get_document("fullDocument").unwrap(),
        &doc! {"_id": 1, "a": 1}
    );
    assert_eq!(
        got[1].get_document("fullDocument").unwrap(),
        &doc! {"_id": 1, "a": 2, "b": 1}
    );
    assert_eq!(
        got[1].get_document("fullDocumentBeforeChange").unwrap(),
        &doc! {"_id": 1, "a": 1}
    );
    assert_eq!(
        got[1].get_document("updateDescription").unwrap(),
        &doc! {"updatedFields": {"a": 2, "b": 1}, "removedFields": [], "truncatedArrays": []}
    );
    assert_eq!(
        got[2].get_document("fullDocumentBeforeChange").unwrap(),
        &doc! {"_id": 1, "a": 2, "b": 1}
    );
    assert_eq!(
        got[2].get_document("ns").unwrap(),
        &doc! {"db": "db", "coll": "c"}
    );
    // Resuming after the first event gives the rest.
    let token = got[0].get_document("_id").unwrap().clone();
    let mut resumed = store.watch(&ns, watch(Some(token))).await.unwrap();
    let mut rest = Vec::new();
    while let Some(e) = resumed.next().await.unwrap() {
        rest.push(e.get_str("operationType").unwrap().to_owned());
    }
    assert_eq!(rest, ["update", "delete"]);
    // A token the store never gave is refused as a resume error.
    let bad = store
        .watch(&ns, watch(Some(doc! {"_data": "ffffffffffffffff"})))
        .await;
    assert!(matches!(bad, Err(expanse::store::WatchError::Resume(_))));
}

const NOTES_APP: &[(&str, &str)] = &[
    ("root_config.json", r#"{"name": "notes"}"#),
    (
        "data_sources/mongodb-atlas/config.json",
        r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
    ),
    (
        "data_sources/mongodb-atlas/notes_app/notes/rules.json",
        r#"{"database": "notes_app", "collection": "notes", "roles": [{"name": "owner", "apply_when": {"owner_id": "%%user.id"}, "insert": true, "read": true, "write": true, "delete": true}], "filters": []}"#,
    ),
    (
        "auth/custom_user_data.json",
        r#"{"enabled": true, "mongo_service_name": "mongodb-atlas", "database_name": "notes_app", "collection_name": "users", "user_id_field": "user_id"}"#,
    ),
    (
        "functions/config.json",
        r#"[{"name": "countNotes", "private": true}, {"name": "addNote"}]"#,
    ),
    (
        "functions/addNote.js",
        r#"exports = async function (title) {
  const notes = context.services.get("mongodb-atlas").db("notes_app").collection("notes");
  return await notes.insertOne({ owner_id: context.user.id, title });
};"#,
    ),
    (
        "functions/countNotes.js",
        r#"exports = async function (event) {
  const users = context.services.get("mongodb-atlas").db("notes_app").collection("users");
  const owner = event.fullDocument.owner_id;
  const count = await context.services.get("mongodb-atlas").db("notes_app").collection("notes").count({ owner_id: owner });
  await users.updateOne({ user_id: owner }, { $set: { note_count: count } });
};"#,
    ),
    (
        "triggers/countNotes.json",
        r#"{"name": "countNotes", "type": "DATABASE", "disabled": false,
  "config": {"service_name": "mongodb-atlas", "database": "notes_app", "collection": "notes", "operation_types": ["INSERT", "DELETE"], "full_document": true, "full_document_before_change": true},
  "event_processors": {"FUNCTION": {"config": {"function_name": "countNotes"}}}}"#,
    ),
];

fn notes_app() -> (tempfile::TempDir, Arc<App>) {
    let dir = write_app(NOTES_APP);
    let app = App::load(dir.path()).unwrap_or_else(|e| panic!("{e}")).app;
    (dir, Arc::new(app))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_trigger_keeps_custom_user_data_current_for_the_next_token() {
    let (_dir, app) = notes_app();
    let store = MemoryStore::new();
    store
        .seed(&doc! {"notes_app.users": [{"_id": "d1", "user_id": "u1", "note_count": 0}]})
        .unwrap();
    let (functions, _) = Functions::builder(app.clone(), store.clone())
        .build()
        .unwrap();
    let mut settler = Settler::open(&app, &store, functions).await.unwrap();
    let issuer = || {
        TokenIssuer::new(
            TokenConfig::hs256(b"trigger-test-secret-trigger-test-secret".to_vec()).unwrap(),
        )
        .unwrap()
    };
    let auth = Auth::new(app.clone(), store.clone(), issuer());
    let before = auth.login(User::new("u1")).await.unwrap();
    // The user writes a note through the rules, as a client would.
    let alice = User::new("u1");
    let notes = app
        .collection(&store, &alice, "notes_app", "notes")
        .unwrap();
    notes
        .insert_one(doc! {"_id": "n1", "owner_id": "u1", "title": "hello"})
        .await
        .unwrap();
    let settled = settler.settle().await.unwrap();
    assert_eq!(
        (settled.runs, settled.errors.clone()),
        (1, Vec::<String>::new())
    );
    let users = store
        .find(
            &Namespace::new("notes_app", "users"),
            &doc! {},
            &FindOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(count(&users[0]), Some(1));
    // The next token carries it (in its user_data claim); the one issued before does not.
    let next = auth.login(User::new("u1")).await.unwrap();
    let claims = issuer().verify_access(&next.tokens.access_token).unwrap();
    assert_eq!(
        claims
            .user_data
            .as_ref()
            .and_then(|d| d.get("note_count"))
            .and_then(|c| c.as_i64()),
        Some(1)
    );
    let verified = auth.verify(&next.tokens.access_token).await.unwrap();
    assert_eq!(count(&verified.custom_data), Some(1));
    let old = auth.verify(&before.tokens.access_token).await.unwrap();
    assert_eq!(count(&old.custom_data), Some(0));
}

fn count(d: &bson::Document) -> Option<i64> {
    d.get_i64("note_count")
        .ok()
        .or(d.get_i32("note_count").ok().map(i64::from))
        .or(d.get_f64("note_count").ok().map(|f| f as i64))
}

/// A fixture: a note inserted through the rules, and one inserted by a function, with the
/// users collection checked after the trigger settled.
const COUNTING_FIXTURE: &str = r#"{
  "app": "app",
  "data": {"notes_app.users": [{"_id": "d1", "user_id": "u1", "note_count": 0}],
           "notes_app.notes": [{"_id": "n0", "owner_id": "u1", "title": "old"}]},
  "users": {"alice": {"id": "u1"}},
  "tests": [
    {"name": "alice inserts a note through the rules", "as": "alice", "op": "insertOne",
     "ns": "notes_app.notes", "document": {"_id": "n1", "owner_id": "u1", "title": "new"},
     "expect": {"ids": ["n1"], "data": [{"_id": "n0", "owner_id": "u1", "title": "old"}, {"_id": "n1", "owner_id": "u1", "title": "new"}],
                "data_of": {"notes_app.users": [{"_id": "d1", "user_id": "u1", "note_count": 2}]}}},
    {"name": "the trigger keeps her note count current", "as": "alice", "op": "call",
     "function": "addNote", "args": ["from a function"], "ns": "notes_app.users",
     "expect": {"data": [{"_id": "d1", "user_id": "u1", "note_count": 2}]}}
  ]
}"#;

/// `expanse test`: after an operation the app's database triggers settle, so a fixture sees
/// what they wrote in another namespace.
#[test]
fn fixtures_see_what_database_triggers_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let app_files: Vec<(String, &str)> = NOTES_APP
        .iter()
        .map(|(p, t)| (format!("app/{p}"), *t))
        .collect();
    let mut files: Vec<(&str, &str)> = app_files.iter().map(|(p, t)| (p.as_str(), *t)).collect();
    files.push(("counting.test.json", COUNTING_FIXTURE));
    crate::common::apps::write_files(dir.path(), &files);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_expanse"))
        .args(["test", "counting.test.json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("2 passed, 0 failed"), "{text}");

    // Expecting another count fails, naming the namespace.
    let wrong = COUNTING_FIXTURE.replace(
        "\"data_of\": {\"notes_app.users\": [{\"_id\": \"d1\", \"user_id\": \"u1\", \"note_count\": 2}",
        "\"data_of\": {\"notes_app.users\": [{\"_id\": \"d1\", \"user_id\": \"u1\", \"note_count\": 5}",
    );
    assert_ne!(wrong, COUNTING_FIXTURE);
    crate::common::apps::write_files(dir.path(), &[("counting.test.json", wrong.as_str())]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_expanse"))
        .args(["test", "counting.test.json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("expected data of notes_app.users"), "{text}");
}
