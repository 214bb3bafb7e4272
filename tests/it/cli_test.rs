//! `expanse test`: the fixture runner's contract.

use crate::common;
use crate::common::{expanse, expanse_in};

use std::process::Output;

use crate::common::apps::write_files;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const APP: &[(&str, &str)] = &[
    ("app/root_config.json", r#"{"name": "t"}"#),
    (
        "app/data_sources/mongodb-atlas/db/notes/rules.json",
        r#"{"database": "db", "collection": "notes", "roles": [
            {"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true, "write": true},
            {"name": "reader", "apply_when": {"public": true}, "read": true}
        ]}"#,
    ),
];

fn fixture_dir(tests: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), APP);
    let fixture = format!(
        r#"{{
  "app": "app",
  "data": {{"db.notes": [{{"_id": 1, "owner": "u1"}}, {{"_id": 2, "owner": "u2", "public": true}}, {{"_id": 3, "owner": "u2"}}]}},
  "users": {{"alice": {{"id": "u1"}}, "bob": {{"id": "u2"}}}},
  "tests": {tests}
}}"#
    );
    write_files(dir.path(), &[("notes.test.json", &fixture)]);
    dir
}

#[test]
fn the_example_suite_passes_on_the_embedded_store() {
    let out = expanse(&["test", "fixtures"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let last = text.lines().last().unwrap();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
    assert!(text.contains("coverage: 13 of 13"), "{text}");
}

#[test]
fn every_expect_form_passes_when_it_holds() {
    let dir = fixture_dir(
        r#"[
      {"name": "find", "as": "alice", "op": "find", "ns": "db.notes", "query": {},
       "expect": {"allowed": true, "denied": false, "ids": [1, 2], "docs": [{"_id": 2, "owner": "u2", "public": true}, {"_id": 1, "owner": "u1"}], "count": 2}},
      {"name": "count", "as": "bob", "op": "count", "ns": "db.notes", "query": {}, "expect": {"count": 2, "result": 2}},
      {"name": "update", "as": "alice", "op": "updateOne", "ns": "db.notes", "query": {"_id": 1}, "update": {"$set": {"x": 1}},
       "expect": {"result": {"matchedCount": 1, "modifiedCount": 1}, "ids": [1], "data": [{"_id": 1, "owner": "u1", "x": 1}, {"_id": 2, "owner": "u2", "public": true}, {"_id": 3, "owner": "u2"}]}},
      {"name": "denied", "as": "alice", "op": "deleteOne", "ns": "db.notes", "query": {"_id": 2}, "expect": {"denied": true, "allowed": false, "error": "role \"reader\""}},
      {"name": "isolation: the earlier update is gone", "as": "system", "op": "findOne", "ns": "db.notes", "query": {"_id": 1}, "expect": {"docs": [{"_id": 1, "owner": "u1"}]}},
      {"name": "system inserts", "as": "system", "op": "insertMany", "ns": "db.notes", "documents": [{"_id": 9}], "expect": {"result": {"insertedIds": [9]}, "ids": [9]}},
      {"name": "expression", "expr": {"owner": "%%user.id"}, "context": {"user": {"id": "u1"}, "root": {"owner": "u1"}}, "expect": true}
    ]"#,
    );
    let out = expanse_in(dir.path(), &["test"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).ends_with("7 passed, 0 failed\n"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn every_expect_form_fails_when_it_does_not_hold() {
    let dir = fixture_dir(
        r#"[
      {"name": "allowed", "as": "alice", "op": "deleteOne", "ns": "db.notes", "query": {"_id": 2}, "expect": {"allowed": true}},
      {"name": "denied", "as": "alice", "op": "deleteOne", "ns": "db.notes", "query": {"_id": 1}, "expect": {"denied": true}},
      {"name": "ids", "as": "alice", "op": "find", "ns": "db.notes", "query": {}, "expect": {"ids": [1]}},
      {"name": "docs", "as": "alice", "op": "find", "ns": "db.notes", "query": {"_id": 1}, "expect": {"docs": [{"_id": 1}]}},
      {"name": "count", "as": "alice", "op": "count", "ns": "db.notes", "query": {}, "expect": {"count": 3}},
      {"name": "result", "as": "alice", "op": "updateOne", "ns": "db.notes", "query": {"_id": 1}, "update": {"$set": {"a": 1}}, "expect": {"result": {"matchedCount": 0}}},
      {"name": "error", "as": "alice", "op": "deleteOne", "ns": "db.notes", "query": {"_id": 2}, "expect": {"error": "something else"}},
      {"name": "data", "as": "alice", "op": "deleteOne", "ns": "db.notes", "query": {"_id": 1}, "expect": {"data": []}},
      {"name": "expression", "expr": {"owner": "%%user.id"}, "context": {"user": {"id": "u2"}, "root": {"owner": "u1"}}, "expect": true}
    ]"#,
    );
    let out = expanse_in(dir.path(), &["test"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.ends_with("0 passed, 9 failed\n"), "{text}");
    for needle in [
        "expected the operation to be allowed",
        "expected a permission denial",
        "expected ids [1], got [1,2]",
        "expected docs [{\"_id\":1}], got [{\"_id\":1,\"owner\":\"u1\"}]",
        "expected count 3, got 2",
        "expected result {\"matchedCount\":0}",
        "expected an error containing \"something else\"",
        "expected data []",
        "expected true, got false",
        "decision trace:",
        "role \"reader\" applies",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn invalid_fixtures_are_reported_with_locations() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), APP);
    write_files(
        dir.path(),
        &[(
            "bad.test.json",
            "{\n  \"app\": \"app\",\n  \"users\": {\"alice\": {\"id\": \"u1\"}},\n  \"tests\": [\n    {\"name\": \"a\", \"as\": \"alicee\", \"op\": \"find\", \"ns\": \"db.notes\", \"expect\": {\"ids\": []}},\n    {\"name\": \"b\", \"as\": \"alice\", \"op\": \"fnd\", \"ns\": \"db.notes\", \"expect\": {\"ids\": []}},\n    {\"name\": \"c\", \"as\": \"alice\", \"op\": \"find\", \"ns\": \"notes\", \"expect\": {\"ids\": []}},\n    {\"name\": \"d\", \"as\": \"alice\", \"op\": \"find\", \"ns\": \"db.notes\", \"quary\": {}, \"expect\": {\"idz\": []}}\n  ]\n}\n",
        )],
    );
    let out = expanse_in(dir.path(), &["test", "bad.test.json"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    for needle in [
        "bad.test.json:5:25: unknown user \"alicee\" (did you mean \"alice\"?)",
        "bad.test.json:6:40: unknown op \"fnd\" (did you mean \"find\"?)",
        "bad.test.json:7:54: ns \"notes\" must be \"database.collection\"",
        "bad.test.json:8:66: unknown key \"quary\" in a test (did you mean \"query\"?)",
        "unknown key \"idz\" in expect (did you mean \"ids\"?)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    write_files(
        dir.path(),
        &[("json.test.json", "{\"app\": \"app\", \"tests\": [}")],
    );
    let out = expanse_in(dir.path(), &["test", "json.test.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains("json.test.json:1:26: expected a value"),
        "{}",
        stdout(&out)
    );
    write_files(
        dir.path(),
        &[("noapp.test.json", "{\"app\": \"missing\", \"tests\": []}")],
    );
    let out = expanse_in(dir.path(), &["test", "noapp.test.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains("not an app directory"),
        "{}",
        stdout(&out)
    );
    let out = expanse_in(dir.path(), &["test", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn filter_json_and_junit() {
    let dir = fixture_dir(
        r#"[
      {"name": "alice finds", "as": "alice", "op": "find", "ns": "db.notes", "query": {}, "expect": {"count": 2}},
      {"name": "bob <fails>", "as": "bob", "op": "count", "ns": "db.notes", "query": {}, "expect": {"count": 0}}
    ]"#,
    );
    let out = expanse_in(dir.path(), &["test", "--filter", "alice"]);
    assert!(
        stdout(&out).ends_with("1 passed, 0 failed\n"),
        "{}",
        stdout(&out)
    );
    let out = expanse_in(dir.path(), &["test", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (json["passed"].as_u64(), json["failed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(json["coverage"]["total"], 2);
    assert_eq!(json["files"][0]["tests"][1]["passed"], false);
    let out = expanse_in(dir.path(), &["test", "--format", "junit"]);
    let xml = stdout(&out);
    assert!(
        xml.contains("<testsuites tests=\"2\" failures=\"1\">"),
        "{xml}"
    );
    assert!(xml.contains("name=\"bob &lt;fails&gt;\""), "{xml}");
}

#[test]
fn embedded_and_mongodb_runs_agree_on_the_example_suite() {
    let Some(uri) = common::mongodb_uri("embedded_and_mongodb_runs_agree_on_the_example_suite")
    else {
        return;
    };
    let embedded = expanse(&["test", "fixtures", "--format", "json"]);
    let real = expanse(&["test", "fixtures", "--format", "json", "--mongodb", &uri]);
    assert_eq!(real.status.code(), Some(0), "{}", stdout(&real));
    let generated = regex::Regex::new(r#"\{"\$oid":"[0-9a-f]{24}"\}: role"#).unwrap();
    let strip = |o: &Output| {
        let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        for file in v["files"].as_array_mut().unwrap() {
            for t in file["tests"].as_array_mut().unwrap() {
                t.as_object_mut().unwrap().remove("trace");
                // Generated ObjectIds differ between runs.
                let happened = t["happened"].as_str().unwrap().to_owned();
                t["happened"] = serde_json::Value::String(
                    generated
                        .replace_all(&happened, "<generated id>: role")
                        .into_owned(),
                );
            }
        }
        v
    };
    assert_eq!(strip(&embedded), strip(&real));
}

#[test]
fn an_unreachable_mongodb_is_a_clear_error() {
    let out = expanse(&[
        "test",
        "fixtures",
        "--mongodb",
        "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("database unavailable"), "{stderr}");
}

/// A failed operation's error is what the failure says, not "expected docs [], got []"; a
/// `$partial` result matches a document holding at least its fields.
#[test]
fn failures_of_the_operation_show_its_error_and_partial_results_match() {
    let dir = fixture_dir(
        r#"[
      {"name": "refused find", "as": "alice", "op": "find", "ns": "db.notes", "query": {"$where": "1"}, "expect": {"docs": []}},
      {"name": "partial", "as": "alice", "op": "insertOne", "ns": "db.notes", "document": {"owner": "u1", "t": 1},
       "expect": {"result": {"$partial": {}}}},
      {"name": "partial mismatch", "as": "system", "op": "findOne", "ns": "db.notes", "query": {"_id": 2},
       "expect": {"docs": [{"$partial": {"owner": "u1"}}]}},
      {"name": "partial docs", "as": "system", "op": "findOne", "ns": "db.notes", "query": {"_id": 2},
       "expect": {"docs": [{"$partial": {"public": true}}]}}
    ]"#,
    );
    let out = expanse_in(dir.path(), &["test"]);
    let text = stdout(&out);
    assert!(text.ends_with("2 passed, 2 failed\n"), "{text}");
    assert!(
        text.contains("expected docs from the operation, but it was denied: operator $where is only allowed for the system user"),
        "{text}"
    );
    assert!(!text.contains("expected docs [], got []"), "{text}");
    assert!(text.contains("FAIL  partial mismatch"), "{text}");
}

/// An expression test that does not compile makes the fixture invalid (exit 2, located), an
/// invalid fixture prints no coverage line, and a namespace no rule and no data mention is
/// flagged as a likely typo.
#[test]
fn invalid_expressions_invalid_fixtures_and_namespace_typos() {
    let dir = fixture_dir(r#"[{"name": "bad", "expr": {"owner": "%%usr.id"}, "expect": true}]"#);
    let out = expanse_in(dir.path(), &["test"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("notes.test.json:5:47: unknown expansion %%usr (did you mean %%user.id?)"),
        "{text}"
    );
    assert!(!text.contains("coverage:"), "{text}");
    let dir = fixture_dir(
        r#"[{"name": "typo", "as": "system", "op": "find", "ns": "db.note", "query": {}, "expect": {"ids": []}},
            {"name": "seeded", "as": "system", "op": "find", "ns": "db.notes", "query": {"_id": 9}, "expect": {"ids": []}}]"#,
    );
    let out = expanse_in(dir.path(), &["test"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("warning: ") && text.contains("test \"typo\" uses db.note, which no rule and no seeded data mention: a typo? (did you mean db.notes?)"),
        "{text}"
    );
    assert!(!text.contains("test \"seeded\" uses"), "{text}");
}

/// `%function` in `apply_when`, a document filter and a field rule, under `expanse test` (a
/// current-thread runtime) on the embedded store and on the test server. It used to evaluate
/// to false there, silently.
#[test]
fn percent_function_rules_run_under_expanse_test_on_both_stores() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("app/root_config.json", r#"{"name": "f"}"#),
            (
                "app/data_sources/mongodb-atlas/config.json",
                r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
            ),
            (
                "app/data_sources/mongodb-atlas/db/docs/rules.json",
                r#"{"database": "db", "collection": "docs", "roles": [
                  {"name": "editor",
                   "apply_when": {"%%true": {"%function": {"name": "isEditor", "arguments": ["%%user.id"]}}},
                   "document_filters": {"read": {"%%true": {"%function": {"name": "isPublished", "arguments": ["%%root.status"]}}}},
                   "fields": {"secret": {"read": {"%%true": {"%function": {"name": "isEditor", "arguments": ["%%user.id"]}}}},
                              "code": {"read": {"%%true": {"%function": {"name": "isEditor", "arguments": ["nobody"]}}}}},
                   "additional_fields": {"read": true}}
                ]}"#,
            ),
            (
                "app/functions/config.json",
                r#"[{"name": "isEditor", "private": true}, {"name": "isPublished", "private": true}]"#,
            ),
            (
                "app/functions/isEditor.js",
                r#"exports = (id) => id === "u1";"#,
            ),
            (
                "app/functions/isPublished.js",
                r#"exports = async (status) => status === "published";"#,
            ),
            (
                "f.test.json",
                r#"{"app": "app",
                  "data": {"db.docs": [{"_id": 1, "status": "published", "secret": "s", "code": "c"},
                                       {"_id": 2, "status": "draft", "secret": "t"}]},
                  "users": {"editor": {"id": "u1"}, "reader": {"id": "u2"}},
                  "tests": [
                    {"name": "the editor sees published documents, their secret, not their code",
                     "as": "editor", "op": "find", "ns": "db.docs", "query": {},
                     "expect": {"docs": [{"_id": 1, "status": "published", "secret": "s"}]}},
                    {"name": "another user is no editor", "as": "reader", "op": "find", "ns": "db.docs",
                     "query": {}, "expect": {"ids": []}},
                    {"name": "a query on the hidden code matches nothing", "as": "editor", "op": "count",
                     "ns": "db.docs", "query": {"code": "c"}, "expect": {"count": 0}}
                  ]}"#,
            ),
        ],
    );
    let out = expanse_in(dir.path(), &["test", "f.test.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).ends_with("3 passed, 0 failed\n"),
        "{}",
        stdout(&out)
    );
    let Some(uri) =
        common::mongodb_uri("percent_function_rules_run_under_expanse_test_on_both_stores")
    else {
        return;
    };
    let out = expanse_in(dir.path(), &["test", "f.test.json", "--mongodb", &uri]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).ends_with("3 passed, 0 failed\n"),
        "{}",
        stdout(&out)
    );
}

/// A rule denial inside a user-context function counts as `denied`, with the denial's trace;
/// and `data` after a refusal is compared with what the namespace holds (it used to be
/// compared with nothing when the namespace had no rules).
#[test]
fn denials_inside_functions_are_denials_and_data_after_a_refusal_is_real() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), APP);
    write_files(
        dir.path(),
        &[
            ("app/functions/config.json", r#"[{"name": "steal"}]"#),
            (
                "app/functions/steal.js",
                r#"exports = async () => {
                    const notes = context.services.get("mongodb-atlas").db("db").collection("notes");
                    await notes.insertOne({ _id: 7, owner: "u2" });
                    return "stolen";
                };"#,
            ),
            (
                "f.test.json",
                r#"{"app": "app",
                  "data": {"db.notes": [{"_id": 1, "owner": "u1"}], "db.unruled": [{"_id": 5}]},
                  "users": {"alice": {"id": "u1"}},
                  "tests": [
                    {"name": "the function's insert is refused", "as": "alice", "op": "call", "function": "steal",
                     "args": [], "ns": "db.notes", "expect": {"denied": true, "data": [{"_id": 1, "owner": "u1"}]}},
                    {"name": "shown with its trace", "as": "alice", "op": "call", "function": "steal",
                     "args": [], "ns": "db.notes", "expect": {"allowed": true}},
                    {"name": "no rules, and the data is still there", "as": "alice", "op": "deleteMany",
                     "ns": "db.unruled", "query": {}, "expect": {"denied": true, "data": [{"_id": 5}]}}
                  ]}"#,
            ),
        ],
    );
    let out = expanse_in(dir.path(), &["test", "f.test.json"]);
    let text = stdout(&out);
    assert!(text.ends_with("2 passed, 1 failed\n"), "{text}");
    assert!(
        text.contains("ok    the function's insert is refused"),
        "{text}"
    );
    assert!(
        text.contains("ok    no rules, and the data is still there"),
        "{text}"
    );
    assert!(
        text.contains("denied inside the function: insert not permitted"),
        "{text}"
    );
    assert!(text.contains("no role applies"), "{text}");
}
