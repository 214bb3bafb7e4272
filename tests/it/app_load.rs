//! Loading exported apps (current and older layouts) and `expanse check`.

use crate::common;
use crate::common::expanse;

use crate::common::apps::write_app;
use bson::doc;
use expanse::store::{FindOptions, MemoryStore};
use expanse::{App, User};

#[test]
fn the_example_apps_load_and_check_clean() {
    for dir in ["fixtures/app", "fixtures/user-owned-app"] {
        let report = expanse::check::check(std::path::Path::new(dir), true);
        assert!(report.errors.is_empty(), "{dir}: {:?}", report.errors);
        assert!(report.warnings.is_empty(), "{dir}: {:?}", report.warnings);
    }
    let app = App::load("fixtures/app").unwrap().app;
    assert_eq!(app.name, "notes");
    assert_eq!(
        app.values.get_str("supportEmail").unwrap(),
        "support@example.com"
    );
    assert_eq!(app.environment, doc! {"tag": "", "values": {}});
    let cud = app.custom_user_data.as_ref().unwrap();
    assert_eq!(
        (
            cud.database_name.as_str(),
            cud.collection_name.as_str(),
            cud.user_id_field.as_str()
        ),
        ("notes_app", "users", "user_id")
    );
    assert!(app.functions["setLanguage"].run_as_system);
    assert!(app.functions["setLanguage"].source_file.is_some());
    assert_eq!(
        app.triggers["recordLogin"].function_name.as_deref(),
        Some("recordLogin")
    );
    assert_eq!(app.triggers["recordLogin"].operation_types, ["LOGIN"]);
    assert_eq!(
        app.rules("mongodb-atlas", "notes_app", "notes")
            .unwrap()
            .roles
            .len(),
        3
    );
}

#[test]
fn every_problem_is_listed_with_its_location() {
    let dir = write_app(&[
        ("root_config.json", "{\"name\": \"x\"}"),
        (
            "data_sources/mongodb-atlas/db/a/rules.json",
            "{\"roles\": [{\"name\": \"r\", \"apply_when\": {\"o\": \"%%usr.id\"}}]}",
        ),
        (
            "data_sources/mongodb-atlas/db/b/rules.json",
            "{\"roles\": [\n  {\"name\": \"r\", \"reed\": true}\n]}",
        ),
        (
            "data_sources/mongodb-atlas/db/c/rules.json",
            "{\"roles\": [}",
        ),
        (
            "functions/config.json",
            "[{\"name\": \"f\", \"can_evaluate\": {\"%%root.x\": 1}}]",
        ),
        ("values/v.json", "{\"name\": \"v\"}"),
    ]);
    let err = App::load(dir.path()).unwrap_err();
    let text = err.to_string();
    assert_eq!(err.errors.len(), 5, "{text}");
    assert!(
        text.contains("db/a/rules.json:1:46: unknown expansion %%usr (did you mean %%user.id?)"),
        "{text}"
    );
    assert!(
        text.contains(
            "db/b/rules.json:2:17: unknown key \"reed\" in a role (did you mean \"read\"?)"
        ),
        "{text}"
    );
    assert!(
        text.contains("db/c/rules.json:1:12: expected a value"),
        "{text}"
    );
    assert!(text.contains("functions/config.json:1:33: do not know how to expand '%%root' in a function's can_evaluate"), "{text}");
    assert!(
        text.contains("values/v.json:1:1: value \"v\" has no \"value\""),
        "{text}"
    );
}

#[test]
fn default_rules_apply_to_collections_without_their_own() {
    let dir = write_app(&[
        (
            "data_sources/mongodb-atlas/default_rule.json",
            r#"{"roles": [{"name": "all", "apply_when": {}, "read": true}]}"#,
        ),
        (
            "data_sources/mongodb-atlas/db/own/rules.json",
            r#"{"database": "db", "collection": "own", "roles": []}"#,
        ),
    ]);
    let app = App::load(dir.path()).unwrap().app;
    assert_eq!(
        app.rules("mongodb-atlas", "db", "anything")
            .unwrap()
            .roles
            .len(),
        1
    );
    // a collection with its own rules never falls back to the defaults
    assert!(app
        .rules("mongodb-atlas", "db", "own")
        .unwrap()
        .roles
        .is_empty());
}

#[tokio::test]
async fn pre_2023_flexible_sync_permissions_are_imported() {
    let dir = write_app(&[
        (
            "data_sources/mongodb-atlas/config.json",
            r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
        ),
        (
            "sync/config.json",
            r#"{"type": "flexible", "database_name": "db", "permissions": {
                "rules": {"Task": [{"name": "owner", "applyWhen": {}, "read": {"owner_id": "%%user.id"}, "write": {"owner_id": "%%user.id"}}]},
                "defaultRoles": [{"name": "owner-read-write", "applyWhen": {}, "read": {"owner_id": "%%user.id"}, "write": {"owner_id": "%%user.id"}}]
            }}"#,
        ),
    ]);
    let app = App::load(dir.path()).unwrap().app;
    let store = MemoryStore::new();
    store
        .seed(&doc! {"db.Task": [{"_id": 1, "owner_id": "u1"}, {"_id": 2, "owner_id": "u2"}]})
        .unwrap();
    let user = User::new("u1");
    let tasks = app.collection(&store, &user, "db", "Task").unwrap();
    let seen = tasks.find(&doc! {}, &FindOptions::default()).await.unwrap();
    assert_eq!(seen, vec![doc! {"_id": 1, "owner_id": "u1"}]);
    tasks
        .update_one(&doc! {"_id": 1}, &doc! {"$set": {"done": true}}, false)
        .await
        .unwrap();
    // u2's task is not u1's to read: it behaves as absent.
    let other = tasks
        .update_one(&doc! {"_id": 2}, &doc! {"$set": {"done": true}}, false)
        .await
        .unwrap();
    assert_eq!(other.matched_count, 0);
    assert_eq!(
        app.rules("mongodb-atlas", "db", "Other").unwrap().roles[0].name,
        "owner-read-write"
    );
}

#[test]
fn legacy_service_rules_and_older_root_configs_load() {
    let dir = write_app(&[
        (
            "config.json",
            r#"{"name": "legacy", "config_version": 20180301}"#,
        ),
        (
            "services/mongodb-atlas/rules/notes.json",
            r#"{"id": "5f", "database": "db", "collection": "notes", "roles": [{"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true, "write": true}], "schema": {}}"#,
        ),
    ]);
    let app = App::load(dir.path()).unwrap().app;
    assert_eq!(app.name, "legacy");
    assert_eq!(
        app.rules("mongodb-atlas", "db", "notes").unwrap().roles[0].name,
        "owner"
    );
}

#[test]
fn check_command_reports_and_exits_by_errors() {
    let out = expanse(&["check", "fixtures/app"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 error(s), 0 warning(s)"));

    let dir = write_app(&[
        ("root_config.json", "{}"),
        (
            "data_sources/mongodb-atlas/db/c/rules.json",
            r#"{"roles": [
            {"name": "owner", "apply_when": {"owner": "%%user.id"}, "write": true, "read": {"n": {"$size": 1}}},
            {"name": "all", "apply_when": {}, "read": true},
            {"name": "never", "apply_when": {"x": 1}, "read": true}
        ]}"#,
        ),
    ]);
    let path = dir.path().to_str().unwrap();
    let out = expanse(&["check", path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "warnings alone do not fail: {stdout}"
    );
    assert!(stdout.contains("self-escalation"), "{stdout}");
    assert!(
        stdout.contains("role \"never\" can never apply"),
        "{stdout}"
    );
    let out = expanse(&["check", path, "--strict"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("$size is an Expanse extension"));
    let out = expanse(&["check", path, "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["warnings"].as_array().unwrap().len(), 2, "{json}");
    assert_eq!(json["warnings"][0]["line"], 2);

    let out = expanse(&["check", "/nonexistent/app"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not an app directory"));
}

#[test]
fn schemas_load_and_their_validate_expressions_are_checked() {
    let dir = write_app(&[
        (
            "data_sources/mongodb-atlas/db/c/schema.json",
            r#"{"title": "c", "bsonType": "object", "properties": {"name": {"bsonType": "string", "validate": {"%or": [{"%%prev": {"%exists": false}}, {"%%prev": "%%this"}]}}}}"#,
        ),
        (
            "data_sources/mongodb-atlas/db/c/rules.json",
            r#"{"roles": []}"#,
        ),
    ]);
    let app = App::load(dir.path()).unwrap().app;
    assert!(app.data_sources["mongodb-atlas"]
        .schemas
        .contains_key(&("db".to_owned(), "c".to_owned())));
    let dir = write_app(&[(
        "data_sources/mongodb-atlas/db/c/schema.json",
        r#"{"validate": {"%%args.x": 1}}"#,
    )]);
    let err = App::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("schema.json:1:15: do not know how to expand '%%args'"),
        "{err}"
    );
}

#[tokio::test]
async fn check_advises_indexes_for_pushed_down_rules() {
    let Some(uri) = common::mongodb_uri("check_advises_indexes_for_pushed_down_rules") else {
        return;
    };
    let db = format!("advice_{}", bson::oid::ObjectId::new().to_hex());
    let rules = format!(
        r#"{{"database": "{db}", "collection": "c", "roles": [{{"name": "owner", "apply_when": {{"owner_id": "%%user.id"}}, "read": true}}]}}"#
    );
    let dir = write_app(&[
        ("root_config.json", "{}"),
        (
            &format!("data_sources/mongodb-atlas/{db}/c/rules.json"),
            &rules,
        ),
    ]);
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let coll = client.database(&db).collection::<bson::Document>("c");
    coll.insert_one(doc! {"owner_id": "u1"}).await.unwrap();
    let path = dir.path().to_str().unwrap().to_owned();
    let run = |path: String, uri: String| {
        tokio::task::spawn_blocking(move || expanse(&["check", &path, "--mongodb", &uri]))
    };
    let out = run(path.clone(), uri.clone()).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "rules on {db}.c filter on \"owner_id\", which no index supports"
        )),
        "{text}"
    );
    coll.create_index(
        mongodb::IndexModel::builder()
            .keys(doc! {"owner_id": 1})
            .build(),
    )
    .await
    .unwrap();
    let out = run(path, uri).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains("no index supports"), "{text}");
    client.database(&db).drop().await.unwrap();
}

/// What `expanse check` used to miss: a data source that does not exist, a misspelled custom
/// user data key, a function with neither source nor Rust registration, triggers Expanse does
/// not run yet, and the missing root config named by the directory it is missing from.
#[test]
fn check_reports_dangling_names_and_triggers_that_do_not_run() {
    let dir = write_app(&[
        (
            "data_sources/mongodb-atlas/config.json",
            r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
        ),
        (
            "auth/custom_user_data.json",
            "{\"enabled\": true, \"mongo_service_name\": \"mongodb-atlsa\",\n \"database_name\": \"db\", \"collection_name\": \"users\", \"user_id_feild\": \"x\", \"user_id_field\": \"user_id\"}",
        ),
        ("functions/config.json", r#"[{"name": "onChange"}, {"name": "nightly"}]"#),
        ("functions/nightly.js", "exports = () => 1;"),
        (
            "triggers/db.json",
            r#"{"name": "keep", "type": "DATABASE", "config": {"service_name": "mongodb-atlas", "operation_types": ["INSERT"]}, "event_processors": {"FUNCTION": {"config": {"function_name": "onChange"}}}}"#,
        ),
        (
            "triggers/cron.json",
            r#"{"name": "night", "type": "SCHEDULED", "config": {"schedule": "0 0 * * *"}, "function_name": "nigthly"}"#,
        ),
        (
            "triggers/other.json",
            r#"{"name": "elsewhere", "type": "DATABASE", "disabled": true, "config": {"service_name": "cluster9"}, "function_name": "nightly"}"#,
        ),
    ]);
    let report = expanse::check::check(dir.path(), false);
    let all: Vec<String> = report
        .errors
        .iter()
        .chain(&report.warnings)
        .map(|d| format!("{d}"))
        .collect();
    let text = all.join("\n");
    let has = |needle: &str| assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    has("custom_user_data.json:1:41: custom user data reads data source \"mongodb-atlsa\", which the app does not have");
    has("custom_user_data.json:2:53: unknown key \"user_id_feild\" in custom user data (did you mean \"user_id_field\"?)");
    has("function \"onChange\" has no source (functions/onChange.js)");
    // Database and scheduled triggers run (`expanse triggers`); one whose configuration cannot
    // run is reported, a valid one is not.
    has("trigger \"keep\": a database trigger needs config.database");
    has("`expanse triggers` and `expanse serve` will not run it");
    assert!(!text.contains("trigger \"night\": "), "{text}");
    assert!(!text.contains("does not run it yet"), "{text}");
    has("trigger \"night\" calls function \"nigthly\", which is not configured (did you mean \"nightly\"?)");
    has("trigger \"elsewhere\" watches data source \"cluster9\", which the app does not have");
    assert!(
        !text.contains("trigger \"elsewhere\" is a DATABASE"),
        "{text}"
    );
    assert!(
        !text.contains("function \"nightly\" has no source"),
        "{text}"
    );
    has(&format!(
        "{}/: the app directory has no root_config.json",
        dir.path().display()
    ));
    assert!(!text.contains("root_config.json:1:1"), "{text}");
    assert!(!report.errors.is_empty());
}

#[test]
fn check_reports_javascript_syntax_errors_with_their_location() {
    let dir = write_app(&[
        ("root_config.json", "{}"),
        (
            "functions/config.json",
            r#"[{"name": "ok"}, {"name": "broken"}]"#,
        ),
        ("functions/ok.js", "exports = (a) => a + 1;"),
        (
            "functions/broken.js",
            "exports = function (a) {\n  const x = {a: 1,,};\n  return x;\n};\n",
        ),
    ]);
    let report = expanse::check::check(dir.path(), false);
    let errors: Vec<String> = report.errors.iter().map(|d| d.to_string()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("functions/broken.js:2:")
            && errors[0].contains("JavaScript syntax error"),
        "{errors:?}"
    );
}
