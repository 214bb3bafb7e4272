//! See `main.rs`. `expanse check` warns when a role lets its users rewrite a field that an
//! earlier role's `apply_when` reads: roles are tried in order, so writing that field could make
//! the earlier role apply (escalation across roles). Run through the library and the CLI, on
//! `apps/escalation` (three such grants) and `apps/no_escalation` (none: the field is read-only
//! or insert-only, the reading role comes later, the writing role is never reached).

use std::path::{Path, PathBuf};
use std::process::Command;

use expanse::check::check;

const ACROSS: &str = "escalation across roles";

fn app(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/security/apps")
        .join(name)
}

/// The 1-based line of the role named `role` in a collection's `rules.json` (each role is
/// written on one line).
fn role_line(app: &Path, collection: &str, role: &str) -> usize {
    let file = app.join(format!(
        "data_sources/mongodb-atlas/forum/{collection}/rules.json"
    ));
    let text = std::fs::read_to_string(file).unwrap();
    let needle = format!("{{\"name\": \"{role}\"");
    1 + text
        .lines()
        .position(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no role {role:?} in {collection}"))
}

/// (collection, role, field, earlier role) of each expected warning.
const EXPECTED: &[(&str, &str, &str, &str)] = &[
    ("posts", "author", "moderated_by", "moderator"),
    ("tickets", "reporter", "assignee", "assignee"),
    ("tickets", "reporter", "team", "assignee"),
];

fn expected_message(role: &str, field: &str, earlier: &str) -> String {
    format!(
        "role {role:?} lets its users rewrite {field:?}, which the apply_when of the earlier role {earlier:?} reads: writing it can make {earlier:?} apply (escalation across roles)"
    )
}

#[test]
fn a_role_writing_a_field_an_earlier_roles_apply_when_reads_is_warned_about() {
    let dir = app("escalation");
    let report = check(&dir, false);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let mut across: Vec<String> = report
        .warnings
        .iter()
        .filter(|w| w.message.contains(ACROSS))
        .map(|w| format!("{}:{}: {}", w.at.file, w.at.line, w.message))
        .collect();
    across.sort();
    let mut expected: Vec<String> = EXPECTED
        .iter()
        .map(|(collection, role, field, earlier)| {
            let file = dir.join(format!(
                "data_sources/mongodb-atlas/forum/{collection}/rules.json"
            ));
            format!(
                "{}:{}: {}",
                file.display(),
                role_line(&dir, collection, role),
                expected_message(role, field, earlier)
            )
        })
        .collect();
    expected.sort();
    assert_eq!(across, expected);
    // The self-escalation warning still stands on its own.
    assert!(report
        .warnings
        .iter()
        .any(|w| w.message.contains("role \"reporter\"") && w.message.contains("self-escalation")));
}

#[test]
fn read_only_insert_only_later_and_unreachable_roles_are_not_warned_about() {
    let report = check(&app("no_escalation"), false);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let messages: Vec<&str> = report.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(
        messages.iter().all(|m| !m.contains("escalation")),
        "{messages:#?}"
    );
    // Only the unreachable role is worth a word, and not about escalation.
    assert_eq!(
        messages,
        ["role \"never reached\" can never apply: role \"everyone\" before it always applies"]
    );
}

fn expanse_check(dir: &Path, format: &str) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_expanse"))
        .arg("check")
        .arg(dir)
        .args(["--format", format])
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_check_command_prints_the_warning_with_its_location_and_still_succeeds() {
    let dir = app("escalation");
    let (code, stdout) = expanse_check(&dir, "human");
    assert_eq!(code, Some(0), "warnings alone do not fail: {stdout}");
    for (collection, role, field, earlier) in EXPECTED {
        let file = dir.join(format!(
            "data_sources/mongodb-atlas/forum/{collection}/rules.json"
        ));
        let line = role_line(&dir, collection, role);
        let start = format!("warning: {}:{line}:", file.display());
        let message = expected_message(role, field, earlier);
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&start) && l.contains(&message)),
            "{start} … {message}\n{stdout}"
        );
    }
    let (code, stdout) = expanse_check(&dir, "json");
    assert_eq!(code, Some(0));
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let across = json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["message"].as_str().unwrap_or_default().contains(ACROSS))
        .count();
    assert_eq!(across, EXPECTED.len(), "{json}");

    let (code, stdout) = expanse_check(&app("no_escalation"), "human");
    assert_eq!(code, Some(0), "{stdout}");
    assert!(!stdout.contains(ACROSS), "{stdout}");
    assert!(!stdout.contains("self-escalation"), "{stdout}");
    assert!(stdout.contains("0 error(s), 1 warning(s)"), "{stdout}");
}
