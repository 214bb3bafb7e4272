//! The `expanse eval` contract: output, exit codes, and located errors.

use crate::common::expanse_in;
use std::path::PathBuf;
use std::process::Command;

fn files(list: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in list {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let path = dir.path().to_path_buf();
    (dir, path)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn prints_true_or_false_and_exits_zero() {
    let (_guard, dir) = files(&[
        ("owner.json", r#"{"owner_id": "%%user.id"}"#),
        (
            "alice.json",
            r#"{"user": {"id": "u1"}, "root": {"owner_id": "u1"}}"#,
        ),
        (
            "bob.json",
            r#"{"user": {"id": "u2"}, "root": {"owner_id": "u1"}}"#,
        ),
    ]);
    let out = expanse_in(&dir, &["eval", "owner.json", "--context", "alice.json"]);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "true\n".into())
    );
    let out = expanse_in(&dir, &["eval", "owner.json", "--context", "bob.json"]);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "false\n".into())
    );
    // Without a context every expansion is missing: false, not an error.
    let out = expanse_in(&dir, &["eval", "owner.json"]);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "false\n".into())
    );
}

#[test]
fn roots_give_one_line_per_document_in_order() {
    let (_guard, dir) = files(&[
        ("owner.json", r#"{"owner_id": "%%user.id"}"#),
        ("ctx.json", r#"{"user": {"id": "u1"}}"#),
        (
            "docs.jsonl",
            "{\"owner_id\": \"u1\"}\n{\"owner_id\": \"u2\"}\n\n{\"owner_id\": [\"u0\", \"u1\"], \"_id\": {\"$oid\": \"5f1f1f1f1f1f1f1f1f1f1f1f\"}}\n{}\n",
        ),
    ]);
    let out = expanse_in(
        &dir,
        &[
            "eval",
            "owner.json",
            "--context",
            "ctx.json",
            "--roots",
            "docs.jsonl",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "true\nfalse\ntrue\nfalse\n");
}

#[test]
fn explain_traces_on_stderr() {
    let (_guard, dir) = files(&[
        ("rule.json", "{\n  \"%or\": [\n    {\"owner_id\": \"%%user.id\"},\n    {\"%%user.id\": {\"$in\": \"%%values.admins\"}}\n  ]\n}"),
        ("ctx.json", r#"{"user": {"id": "u1"}, "root": {"owner_id": "u2"}, "values": {"admins": ["u1"]}}"#),
    ]);
    let out = expanse_in(
        &dir,
        &["eval", "rule.json", "--context", "ctx.json", "--explain"],
    );
    assert_eq!(text(&out.stdout), "true\n");
    let trace = text(&out.stderr);
    assert!(trace.contains("2:3  %or → true"), "{trace}");
    assert!(
        trace.contains("3:6  \"owner_id\": \"%%user.id\" → false"),
        "{trace}"
    );
    assert!(trace.contains("%%values.admins = [\"u1\"]"), "{trace}");
}

fn fails_with(files_: &[(&str, &str)], args: &[&str], expected_stderr: &str) {
    let (_guard, dir) = files(files_);
    let out = expanse_in(&dir, args);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout {} stderr {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "nothing on stdout for invalid input");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(expected_stderr),
        "expected {expected_stderr:?} in {stderr:?}"
    );
}

#[test]
fn bad_json_is_located() {
    fails_with(
        &[("e.json", "{\n  \"a\": 1,\n  \"b\": \n}")],
        &["eval", "e.json"],
        "e.json:4:1: expected a value",
    );
    fails_with(
        &[("e.json", "{\"a\": 1} trailing")],
        &["eval", "e.json"],
        "e.json:1:10:",
    );
}

#[test]
fn unknown_expansions_and_operators_are_located_with_a_suggestion() {
    fails_with(
        &[("e.json", "{\n  \"owner\": \"%%usr.id\"\n}")],
        &["eval", "e.json"],
        "e.json:2:12: unknown expansion %%usr (did you mean %%user.id?)",
    );
    fails_with(
        &[("e.json", "{\"n\": {\"$gtt\": 1}}")],
        &["eval", "e.json"],
        "e.json:1:8: unknown operator $gtt (did you mean $gt?)",
    );
}

#[test]
fn bad_context_and_roots_are_located() {
    fails_with(
        &[("e.json", "{}"), ("c.json", "{\n \"usr\": {}\n}")],
        &["eval", "e.json", "--context", "c.json"],
        "c.json:2:2: unknown context key \"usr\"",
    );
    fails_with(
        &[
            ("e.json", "{}"),
            ("c.json", r#"{"root": {"_id": {"$oid": "xyz"}}}"#),
        ],
        &["eval", "e.json", "--context", "c.json"],
        "c.json:1:18: invalid Extended JSON",
    );
    fails_with(
        &[("e.json", "{}"), ("d.jsonl", "{}\n{}\n{\"a\": }\n")],
        &["eval", "e.json", "--roots", "d.jsonl"],
        "d.jsonl:3:7:",
    );
    fails_with(
        &[("e.json", "{}"), ("d.jsonl", "[1]\n")],
        &["eval", "e.json", "--roots", "d.jsonl"],
        "d.jsonl:1:1: expected an object",
    );
}

#[test]
fn missing_files_and_wrong_kinds_are_errors() {
    fails_with(
        &[],
        &["eval", "nope.json"],
        "nope.json:1:1: cannot read file",
    );
    fails_with(
        &[("e.json", r#"{"%%root.owner": 1}"#)],
        &["eval", "e.json", "--kind", "filter_apply_when"],
        "do not know how to expand '%%root'",
    );
}

#[test]
fn deeply_nested_input_is_refused_not_crashed() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    fails_with(
        &[("e.json", &deep)],
        &["eval", "e.json"],
        "nesting deeper than",
    );
}

/// A JSON syntax error is reported where the text broke, in plain words — in expressions,
/// rule files, fixtures and Extended JSON arguments alike.
#[test]
fn json_syntax_errors_point_where_the_text_broke() {
    let (_guard, dir) = files(&[
        (
            "comma.json",
            "{\n  \"owner_id\": \"%%user.id\"\n  \"title\": \"x\"\n}\n",
        ),
        ("unclosed.json", "{\n  \"a\": {\n    \"b\": 1\n"),
        ("array.json", "{\"a\": {\"$in\": [1 2]}}"),
        ("accents.json", "{\"a\": \"caf\u{e9}\" \"b\": 1}"),
        ("colon.json", "{\"a\" 1}"),
    ]);
    for (file, at, words) in [
        (
            "comma.json",
            "comma.json:3:3:",
            "expected ',' or '}' after a member",
        ),
        ("unclosed.json", "unclosed.json:4:1:", "a '}' is missing"),
        (
            "array.json",
            "array.json:1:18:",
            "expected ',' or ']' after an element",
        ),
        (
            "accents.json",
            "accents.json:1:14:",
            "expected ',' or '}' after a member",
        ),
        (
            "colon.json",
            "colon.json:1:6:",
            "expected ':' after a member's name",
        ),
    ] {
        let out = expanse_in(&dir, &["eval", file]);
        assert_eq!(out.status.code(), Some(2), "{file}");
        let err = text(&out.stderr);
        assert!(err.starts_with(at), "{file}: {err}");
        assert!(err.contains(words), "{file}: {err}");
    }
    // the same words for a rule file (expanse check), a fixture (expanse test) and --args
    let app = dir.join("app");
    let rules = app.join("data_sources/mongodb-atlas/db/coll");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(app.join("root_config.json"), "{}").unwrap();
    std::fs::write(
        app.join("data_sources/mongodb-atlas/config.json"),
        r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
    )
    .unwrap();
    std::fs::write(
        rules.join("rules.json"),
        "{\"database\": \"db\", \"collection\": \"coll\",\n \"roles\": []\n \"filters\": []}",
    )
    .unwrap();
    let out = expanse_in(&dir, &["check", "app"]);
    let err = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        err.contains("rules.json:3:2") && err.contains("expected ',' or '}' after a member"),
        "{err}"
    );
    std::fs::write(
        dir.join("bad.test.json"),
        "{\"app\": \"app\",\n \"tests\": [\n  {\"name\": \"x\" \"expr\": {}}\n ]\n}",
    )
    .unwrap();
    let out = expanse_in(&dir, &["test", "bad.test.json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        err.contains("bad.test.json:3:16") && err.contains("expected ',' or '}' after a member"),
        "{err}"
    );
    let out = expanse_in(&dir, &["run", "app", "f", "--args", "[1, {\"a\": 2]"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("--args:1:12") && err.contains("expected ',' or '}' after a member"),
        "{err}"
    );
}

#[test]
fn help_lists_the_kinds_and_function_calls_are_flagged() {
    let (_guard, dir) = files(&[(
        "f.json",
        r#"{"%%true": {"%function": {"name": "isAdmin"}}}"#,
    )]);
    let help = expanse_in(&dir, &["eval", "--help"]);
    let help = text(&help.stdout);
    for kind in [
        "apply_when",
        "document_filter",
        "field_permission",
        "can_evaluate",
        "sync_permission",
    ] {
        assert!(help.contains(kind), "{kind} missing from\n{help}");
    }
    let out = expanse_in(&dir, &["eval", "f.json"]);
    assert_eq!(text(&out.stdout), "false\n");
    assert!(
        text(&out.stderr).contains("calls %function, which `expanse eval` cannot run"),
        "{}",
        text(&out.stderr)
    );
    let out = expanse_in(&dir, &["eval", "f.json", "--kind", "nonsense"]);
    assert_eq!(out.status.code(), Some(2));
    let help = expanse_in(&dir, &["test", "--help"]);
    assert!(
        text(&help.stdout).contains(
            "Exit codes: 0 every test passed; 1 some test failed; 2 a fixture is invalid"
        ),
        "{}",
        text(&help.stdout)
    );
}

#[test]
fn token_says_when_custom_data_has_no_source() {
    let (_guard, dir) = files(&[]);
    let app = dir.join("app");
    std::fs::create_dir_all(app.join("auth")).unwrap();
    std::fs::create_dir_all(app.join("data_sources/mongodb-atlas")).unwrap();
    std::fs::write(app.join("root_config.json"), "{}").unwrap();
    std::fs::write(
        app.join("data_sources/mongodb-atlas/config.json"),
        r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
    )
    .unwrap();
    std::fs::write(
        app.join("auth/custom_user_data.json"),
        r#"{"enabled": true, "mongo_service_name": "mongodb-atlas", "database_name": "db", "collection_name": "users", "user_id_field": "user_id"}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_expanse"))
        .args(["token", "app", "--user", "u1"])
        .env("EXPANSE_JWT_SECRET", "0123456789abcdef0123456789abcdef")
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("neither --mongodb nor --seed"),
        "{}",
        text(&out.stderr)
    );
}
