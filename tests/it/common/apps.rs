//! Building app directories for tests.
#![allow(dead_code)]

use std::path::Path;

use expanse::App;

/// Writes files (path relative to the app root → contents) into a new temporary app directory.
pub fn write_app(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    write_files(dir.path(), files);
    dir
}

pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, text).expect("write");
    }
}

/// An app whose only collection `db.coll` has these rules (the `rules.json` body).
pub fn app_with_rules(rules: &str) -> (tempfile::TempDir, App) {
    let dir = write_app(&[
        ("root_config.json", r#"{"name": "test"}"#),
        (
            "data_sources/mongodb-atlas/config.json",
            r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
        ),
        ("data_sources/mongodb-atlas/db/coll/rules.json", rules),
    ]);
    let app = App::load(dir.path())
        .unwrap_or_else(|e| panic!("app should load:\n{e}"))
        .app;
    (dir, app)
}

/// `{"roles": [...], "filters": [...]}` for `db.coll`.
pub fn rules(roles: &str, filters: &str) -> String {
    format!(r#"{{"database": "db", "collection": "coll", "roles": {roles}, "filters": {filters}}}"#)
}
