//! The Node suite in `tests/realm-web`: the unmodified `realm-web` 2.0.1 client from the npm
//! registry against the built `expanse serve`. `scripts/test` installs it (`npm ci`); without
//! `node_modules` the test is skipped with a message, except in CI (`CI=true`), where it fails.
//! With `MONGODB_URI` set the servers it starts use the test server (each its own databases).

use std::path::Path;
use std::process::Command;

#[test]
fn realm_web_client_suite() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/realm-web");
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !dir.join("node_modules/realm-web").exists() {
        if in_ci {
            panic!("tests/realm-web/node_modules is missing: scripts/test installs it with npm ci");
        }
        eprintln!("realm_web_client_suite: skipped, tests/realm-web/node_modules is absent (run `npm ci` in tests/realm-web, or scripts/test)");
        return;
    }
    let output = Command::new("node")
        .args([
            "--test",
            "--test-concurrency=1",
            "--test-reporter=spec",
            "test/",
        ])
        .current_dir(&dir)
        .env("EXPANSE_BIN", env!("CARGO_BIN_EXE_expanse"))
        .output()
        .expect("node runs (Node 20 or later)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the realm-web suite failed:\n{stdout}\n{stderr}"
    );
    eprintln!("{stdout}");
}
