//! Entry points for fuzzers: each takes one outside input and runs it through a parser and
//! everything that consumes the parser's output. None may panic, hang or allocate out of
//! proportion to the input, whatever the input is; any panic is a bug.
//!
//! The property tests (`tests/fuzz.rs`) and the coverage-guided AFL++ targets (`fuzz-afl/`)
//! both call these, so the two kinds of fuzzing exercise the same code.
//!
//! ```
//! expanse::fuzzing::expression(r#"{"owner_id": "%%user.id"}"#);
//! expanse::fuzzing::expression("{\"%%usr.id\": ");
//! expanse::fuzzing::token("not.a.token");
//! ```

use std::path::Path;
use std::sync::OnceLock;

use bson::{Bson, Document};

use crate::auth::{TokenConfig, TokenIssuer};
use crate::expr::{ContextData, ExprKind, Expression};
use crate::query::{Filter, Projection, SortSpec};
use crate::rules::CollectionRules;
use crate::update::Update;

/// The context expressions are evaluated in: a user with custom data, a root and a previous
/// root with arrays and nested documents, and values.
fn context() -> &'static ContextData {
    static CONTEXT: OnceLock<ContextData> = OnceLock::new();
    CONTEXT.get_or_init(|| {
        let json = crate::json::parse(
            r#"{"user": {"id": "u1", "custom_data": {"a": [1, {"b": 2}]}, "data": {}},
                "root": {"a": [{"b": 1}, 2], "_id": {"$oid": "5f1f1f1f1f1f1f1f1f1f1f1f"}},
                "prevRoot": {"a": null}, "values": {"x": [1, 2]}}"#,
            "fuzz-context",
        )
        .expect("the fuzzing context is valid JSON");
        ContextData::from_json(&json).expect("the fuzzing context is a valid context")
    })
}

/// A rule expression: compiled for each expression kind, then evaluated, explained (which must
/// agree with evaluation) and pushed down.
///
/// # Panics
/// Only on a bug: when evaluation and explanation disagree.
pub fn expression(text: &str) {
    let data = context();
    for kind in [
        ExprKind::Any,
        ExprKind::RoleApplyWhen,
        ExprKind::FilterApplyWhen,
        ExprKind::FieldPermission,
    ] {
        if let Ok(expression) = Expression::parse(text, "fuzz", kind) {
            let ctx = data.context();
            let value = expression.evaluate(&ctx);
            let explained = expression.explain(&ctx);
            assert_eq!(value, explained.result, "evaluate and explain disagree");
            let _ = expression.push_down(&ctx);
        }
    }
    let _ = crate::expr::parse_expansion(text);
}

/// Extended JSON: parsed, converted to BSON, and the result used as a query, an update, a
/// projection and a sort.
pub fn extended_json(text: &str) {
    let Ok(json) = crate::json::parse(text, "fuzz") else {
        return;
    };
    let Ok(Bson::Document(doc)) = crate::json::to_bson(&json) else {
        return;
    };
    query_document(&doc);
}

/// A document used as a query, an update, a projection and a sort.
pub fn query_document(doc: &Document) {
    if let Ok(filter) = Filter::parse(doc) {
        let sample = bson::doc! {"a": [{"b": 1}, 2, null], "b": {"c": "x"}};
        let _ = filter.matches(&sample);
    }
    if let Ok(update) = Update::parse(doc) {
        let _ = update.apply(&bson::doc! {"_id": 1, "a": [1, {"b": 2}], "n": 1}, false);
    }
    let _ = Projection::parse(doc);
    let _ = SortSpec::parse(doc);
}

/// A collection's `rules.json`, as the whole file and with the input in every expression slot.
pub fn rules_file(text: &str) {
    let _ = CollectionRules::parse(text, "fuzz");
    let embedded = format!(
        r#"{{"roles": [{{"name": "r", "apply_when": {text}, "read": {text}, "fields": {{"a": {{"read": {text}}}}}}}], "filters": [{{"name": "f", "query": {text}}}]}}"#
    );
    let _ = CollectionRules::parse(&embedded, "fuzz");
}

/// A fixture file, as the whole file and with the input as its data, users and a test.
pub fn fixture_file(text: &str) {
    let path = Path::new("fuzz/f.test.json");
    let _ = crate::fixture::parse_fixture(text, path);
    let embedded = format!(r#"{{"app": ".", "data": {text}, "users": {text}, "tests": [{text}]}}"#);
    let _ = crate::fixture::parse_fixture(&embedded, path);
}

/// An access or refresh token, verified by an HS256 issuer.
pub fn token(text: &str) {
    static ISSUER: OnceLock<Option<TokenIssuer>> = OnceLock::new();
    let issuer = ISSUER.get_or_init(|| {
        TokenConfig::hs256(vec![7u8; 32])
            .ok()
            .and_then(|c| TokenIssuer::new(c).ok())
    });
    if let Some(issuer) = issuer {
        let _ = issuer.verify_access(text);
        let _ = issuer.verify_refresh(text);
    }
}

/// Every entry point above on the same input (what the coverage-guided target runs).
pub fn everything(text: &str) {
    expression(text);
    extended_json(text);
    rules_file(text);
    fixture_file(text);
    token(text);
}
