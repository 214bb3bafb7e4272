//! Property-driven fuzzing of every parser that takes outside input (through the same entry
//! points, `expanse::fuzzing`, as the coverage-guided targets in `fuzz-afl/`): no input may
//! panic, hang, or take memory out of proportion to its size. Bounded for CI (300 cases per property;
//! `EXPANSE_FUZZ_CASES` raises it).

use expanse::expr::{Bindings, ExprKind, Expression};
use expanse::fuzzing;
use proptest::prelude::*;

/// JSON-ish text built from the pieces rule files, fixtures and queries are made of.
fn json_text() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("\"%%user.id\"".to_owned()),
        Just("\"%%root.a.0.b\"".to_owned()),
        Just("\"%%user.custom_data\"".to_owned()),
        Just("\"%%prevRoot\"".to_owned()),
        Just("\"%%true\"".to_owned()),
        Just("\"%%usr\"".to_owned()),
        Just("\"$in\"".to_owned()),
        Just("\"%or\"".to_owned()),
        Just("\"$and\"".to_owned()),
        Just("\"$elemMatch\"".to_owned()),
        Just("\"$not\"".to_owned()),
        Just("\"%function\"".to_owned()),
        Just("\"%stringToOid\"".to_owned()),
        Just("\"$oid\"".to_owned()),
        Just("\"$date\"".to_owned()),
        Just("\"$numberLong\"".to_owned()),
        Just("\"$regex\"".to_owned()),
        Just("\"$type\"".to_owned()),
        Just("\"$size\"".to_owned()),
        Just("\"$mod\"".to_owned()),
        Just("\"name\"".to_owned()),
        Just("\"roles\"".to_owned()),
        Just("\"apply_when\"".to_owned()),
        Just("\"fields\"".to_owned()),
        Just("\"a\"".to_owned()),
        "\"[a-z$%._0-9]{0,8}\"".prop_map(|s| s),
    ];
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        (-5i64..5).prop_map(|n| n.to_string()),
        Just("1.5e300".to_owned()),
        Just("-0.0".to_owned()),
        Just("\"%%user.id\"".to_owned()),
        Just("\"5f1f1f1f1f1f1f1f1f1f1f1f\"".to_owned()),
        Just("\"\\u0000\\ud800\"".to_owned()),
        "\"[ -~]{0,6}\""
            .prop_map(|s| s.replace(['\\', '"'], ""))
            .prop_map(|s| format!("\"{s}\"")),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(","))),
            proptest::collection::vec((key.clone(), inner), 0..4).prop_map(|members| format!(
                "{{{}}}",
                members
                    .iter()
                    .map(|(k, v)| format!("{k}:{v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
        ]
    })
}

/// Text with random damage: truncated, a character replaced.
fn damaged() -> impl Strategy<Value = String> {
    (json_text(), any::<usize>(), any::<char>(), any::<bool>()).prop_map(
        |(text, at, c, truncate)| {
            let mut chars: Vec<char> = text.chars().collect();
            if chars.is_empty() {
                return text;
            }
            let i = at % chars.len();
            if truncate {
                chars.truncate(i);
            } else {
                chars[i] = c;
            }
            chars.into_iter().collect()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("EXPANSE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300)))]

    #[test]
    fn arbitrary_text_never_panics_the_parsers(text in any::<String>()) {
        fuzzing::everything(&text);
    }

    #[test]
    fn expression_shaped_input_compiles_or_fails_cleanly_and_evaluates_without_panicking(text in prop_oneof![json_text(), damaged()]) {
        fuzzing::expression(&text);
    }

    #[test]
    fn rule_files_and_queries_fail_cleanly(text in prop_oneof![json_text(), damaged()]) {
        fuzzing::rules_file(&text);
        fuzzing::extended_json(&text);
    }

    #[test]
    fn fixture_files_fail_cleanly(text in prop_oneof![json_text(), damaged()]) {
        fuzzing::fixture_file(&text);
    }

    #[test]
    fn updates_apply_or_fail_cleanly(document in prop_oneof![json_text(), damaged()], update in prop_oneof![json_text(), damaged()]) {
        fuzzing::update_apply(&format!("{document}\n{update}"));
    }

    #[test]
    fn tokens_fail_cleanly(text in prop_oneof![json_text(), damaged(), "[A-Za-z0-9_.=-]{0,300}"]) {
        fuzzing::token(&text);
    }
}

#[test]
fn large_inputs_stay_proportionate() {
    // A million-element array parses (and is not refused for its size alone).
    let big = format!("[{}1]", "1,".repeat(1_000_000));
    assert!(expanse::json::parse(&big, "big").is_ok());
    // Deep nesting is refused with a location, not a stack overflow.
    let deep = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let err = Expression::parse(&deep, "deep.json", ExprKind::Any)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nesting deeper than"), "{err}");
    // A long expansion path compiles and evaluates.
    let path = format!("{{\"%%user.custom_data{}\": 1}}", ".a".repeat(5_000));
    let e = Expression::parse(&path, "long.json", ExprKind::Any).unwrap();
    assert!(!e.evaluate(&Bindings::new()));
    // Many roles and a long $in list.
    let list: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
    let e = Expression::parse(
        &format!("{{\"n\": {{\"$in\": [{}]}}}}", list.join(",")),
        "in.json",
        ExprKind::Any,
    )
    .unwrap();
    let root = bson::doc! {"n": 99_999};
    assert!(e.evaluate(&Bindings::new().root(&root)));
}

#[test]
fn the_coverage_guided_fuzzers_seeds_are_valid_inputs() {
    // Seeds that parse let AFL++ start deep inside each parser rather than at its first check.
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-afl/seeds");
    let read = |p: &str| std::fs::read_to_string(seeds.join(p)).unwrap();
    let issuer =
        expanse::auth::TokenIssuer::new(expanse::auth::TokenConfig::hs256(vec![7u8; 32]).unwrap())
            .unwrap();
    let access = issuer.verify_access(read("token/access.jwt").trim());
    assert!(access.is_ok(), "{access:?}");
    let refresh = issuer.verify_refresh(read("token/refresh.jwt").trim());
    assert!(refresh.is_ok(), "{refresh:?}");
    assert!(issuer
        .verify_access(read("token/expired.jwt").trim())
        .is_err());
    for name in ["expression/membership.json", "expression/nested.json"] {
        let parsed = Expression::parse(&read(name), name, ExprKind::Any);
        assert!(parsed.is_ok(), "{name}: {parsed:?}");
    }
    for name in ["extended_json/types.json", "extended_json/query.json"] {
        let json = expanse::json::parse(&read(name), name).unwrap();
        assert!(expanse::json::to_bson(&json).is_ok(), "{name}");
    }
    let fixture = expanse::fixture::parse_fixture(
        &read("fixture_file/small.test.json"),
        &seeds.join("fixture_file/small.test.json"),
    );
    assert!(fixture.is_ok(), "{:?}", fixture.err());
    update_apply_seeds_are_valid(&seeds.join("update_apply"));
}

/// Each `update_apply` seed is a document and an update that parse; those named `*_limit`
/// sit at MongoDB's nesting limit (they apply) or just past it (they are refused).
fn update_apply_seeds_are_valid(dir: &std::path::Path) {
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let (document, update) = text
            .split_once('\n')
            .expect("a document, a line break, an update");
        let parse =
            |t: &str| expanse::json::to_document(&expanse::json::parse(t, &name).unwrap()).unwrap();
        let (document, update) = (parse(document), parse(update));
        let applied =
            expanse::update::Update::parse(&update).and_then(|u| u.apply(&document, false));
        if name.contains("past_limit") {
            let err = applied.expect_err(&name).to_string();
            assert!(err.contains("100"), "{name}: {err}");
        } else {
            assert!(applied.is_ok(), "{name}: {applied:?}");
        }
        fuzzing::update_apply(&text);
        seen += 1;
    }
    assert!(seen >= 6, "{seen} seeds");
}
