//! `expanse run`: functions from the command line, on the embedded store and on MongoDB.

use crate::common;
use crate::common::expanse_in;

use crate::common::apps::write_files;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn app() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("app/root_config.json", "{}"),
            (
                "app/data_sources/mongodb-atlas/config.json",
                r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
            ),
            (
                "app/data_sources/mongodb-atlas/db/notes/rules.json",
                r#"{"database": "db", "collection": "notes", "roles": [{"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true, "write": true}]}"#,
            ),
            (
                "app/functions/config.json",
                r#"[{"name": "touch", "private": true}, {"name": "count", "private": false, "can_evaluate": {"%%user.id": {"$in": ["alice", "carol"]}}}]"#,
            ),
            (
                "app/functions/touch.js",
                r#"exports = async function (id) {
                    console.log("touching", id);
                    const notes = context.services.get("mongodb-atlas").db("db").collection("notes");
                    const r = await notes.updateOne({ _id: id }, { $set: { touched: new Date(0) } });
                    return { modified: r.modifiedCount, system: context.runningAsSystem(), id: new BSON.ObjectId("5f1f1f1f1f1f1f1f1f1f1f1f") };
                };"#,
            ),
            (
                "app/functions/count.js",
                r#"exports = async () => context.services.get("mongodb-atlas").db("db").collection("notes").count({});"#,
            ),
            (
                "seed.json",
                r#"{"db.notes": [{"_id": 1, "owner": "alice"}, {"_id": 2, "owner": "bob"}]}"#,
            ),
        ],
    );
    dir
}

#[test]
fn runs_as_system_by_default_and_prints_one_line_of_extended_json() {
    let dir = app();
    let out = expanse_in(
        dir.path(),
        &[
            "run",
            "app",
            "touch",
            "--args",
            "[2]",
            "--data",
            "seed.json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "{\"modified\":1,\"system\":true,\"id\":{\"$oid\":\"5f1f1f1f1f1f1f1f1f1f1f1f\"}}\n"
    );
    assert_eq!(
        text(&out.stderr),
        "touching 2\n",
        "the function's log goes to stderr"
    );
}

#[test]
fn as_a_user_rules_apply() {
    let dir = app();
    let out = expanse_in(
        dir.path(),
        &[
            "run",
            "app",
            "touch",
            "--as",
            "alice",
            "--args",
            "[1]",
            "--data",
            "seed.json",
        ],
    );
    assert_eq!(
        text(&out.stdout),
        "{\"modified\":1,\"system\":false,\"id\":{\"$oid\":\"5f1f1f1f1f1f1f1f1f1f1f1f\"}}\n"
    );
    let out = expanse_in(
        dir.path(),
        &[
            "run",
            "app",
            "touch",
            "--as",
            "alice",
            "--args",
            "[2]",
            "--data",
            "seed.json",
        ],
    );
    // bob's note is not alice's to read, so it is not there for her to update
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("{\"modified\":0,\"system\":false"),
        "{}",
        text(&out.stdout)
    );
    let out = expanse_in(
        dir.path(),
        &[
            "run",
            "app",
            "count",
            "--as",
            "alice",
            "--data",
            "seed.json",
        ],
    );
    assert_eq!(text(&out.stdout), "1\n");
}

/// `--as` is an operator acting for a user; `--client` is the user's own client call.
#[test]
fn as_a_client_private_functions_and_can_evaluate_refuse() {
    let dir = app();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "app"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--data", "seed.json"]);
        expanse_in(dir.path(), &args)
    };
    // an operator may run a private function for alice
    let out = run(&["touch", "--as", "alice", "--args", "[1]"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // alice's client may not
    let out = run(&["touch", "--as", "alice", "--client", "--args", "[1]"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("NotCallable"),
        "{}",
        text(&out.stderr)
    );
    // can_evaluate lets alice's client call count, and refuses bob's
    let out = run(&["count", "--as", "alice", "--client"]);
    assert_eq!(text(&out.stdout), "1\n", "{}", text(&out.stderr));
    let out = run(&["count", "--as", "bob", "--client"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("can_evaluate") || text(&out.stderr).contains("NotCallable"),
        "{}",
        text(&out.stderr)
    );
    // as an operator, can_evaluate does not stand in the way
    let out = run(&["count", "--as", "bob"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // --client needs --as
    let out = run(&["count", "--client"]);
    assert_eq!(out.status.code(), Some(2));
    let help = expanse_in(dir.path(), &["run", "--help"]);
    assert!(text(&help.stdout).contains("--client"));
}

#[test]
fn failures_are_reported_with_codes() {
    let dir = app();
    let out = expanse_in(dir.path(), &["run", "app", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("(FunctionNotFound)"));
    let out = expanse_in(dir.path(), &["run", "app", "tuoch"]);
    assert!(
        text(&out.stderr).contains("did you mean touch?"),
        "{}",
        text(&out.stderr)
    );
    let out = expanse_in(dir.path(), &["run", "app", "touch", "--args", "{}"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("must be a JSON array"));
    let out = expanse_in(dir.path(), &["run", "missing", "touch"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn runs_against_the_real_server() {
    let Some(uri) = common::mongodb_uri("runs_against_the_real_server") else {
        return;
    };
    let dir = app();
    let out = expanse_in(dir.path(), &["run", "app", "count", "--mongodb", &uri]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "0\n");
    let out = expanse_in(
        dir.path(),
        &[
            "run",
            "app",
            "count",
            "--mongodb",
            "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("database unavailable"),
        "{}",
        text(&out.stderr)
    );
}
