//! Entry points for fuzzers: each takes one outside input and runs it through a parser and
//! everything that consumes the parser's output. None may panic, hang or allocate out of
//! proportion to the input, whatever the input is; any panic is a bug.
//!
//! The property tests (`tests/it/fuzz.rs`) and the coverage-guided AFL++ targets (`fuzz-afl/`)
//! both call these, so the two kinds of fuzzing exercise the same code.
//!
//! ```
//! expanse::fuzzing::expression(r#"{"owner_id": "%%user.id"}"#);
//! expanse::fuzzing::expression("{\"%%usr.id\": ");
//! expanse::fuzzing::token("not.a.token");
//! expanse::fuzzing::update_apply("{\"_id\": 1, \"a\": [1]}\n{\"$push\": {\"a\": 2}}");
//! ```

// A harness: a broken invariant here must stop the fuzzer loudly.
#![allow(clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::OnceLock;

use bson::{Bson, Document};

use crate::auth::{TokenConfig, TokenIssuer};
use crate::expr::{BindingsData, ExprKind, Expression};
use crate::query::{Filter, Projection, SortSpec};
use crate::rules::CollectionRules;
use crate::store::{FindOptions, MemoryStore, Namespace, Store, Write};
use crate::update::{changed_paths, Update};
use crate::App;

/// The context expressions are evaluated in: a user with custom data, a root and a previous
/// root with arrays and nested documents, and values.
fn context() -> &'static BindingsData {
    static CONTEXT: OnceLock<BindingsData> = OnceLock::new();
    CONTEXT.get_or_init(|| {
        let json = crate::json::parse(
            r#"{"user": {"id": "u1", "custom_data": {"a": [1, {"b": 2}]}, "data": {}},
                "root": {"a": [{"b": 1}, 2], "_id": {"$oid": "5f1f1f1f1f1f1f1f1f1f1f1f"}},
                "prevRoot": {"a": null}, "values": {"x": [1, 2]}}"#,
            "fuzz-context",
        )
        .expect("the fuzzing context is valid JSON");
        BindingsData::from_json(&json).expect("the fuzzing context is a valid context")
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

/// A document and an update applied to it. The input is the document, a line break, and the
/// update, both Extended JSON (a document alone is updated by `{}`). The update is parsed and
/// applied (as an update and as an upsert's insert) and the change diffed; the same update
/// then runs as the system through a guarded collection on the embedded store, over the
/// document and as an upsert seeded from it.
///
/// # Panics
/// Only on a bug: a post-image past MongoDB's nesting limit, a changed path that no path of
/// the update names, or the store storing something other than the post-image.
pub fn update_apply(text: &str) {
    let (document, update) = text.split_once('\n').unwrap_or((text, "{}"));
    let (Some(document), Some(update)) = (json_document(document), json_document(update)) else {
        return;
    };
    let document = crate::store::ensure_id(document);
    let Ok(parsed) = Update::parse(&update) else {
        return;
    };
    if let Ok(post) = parsed.apply(&document, false) {
        check_post_image(&parsed, &document, &post);
        if !update.contains_key("$currentDate") {
            check_through_the_store(&document, &update, &post);
        }
    }
    let _ = parsed.apply(&document, true);
    let _ = crate::update::upsert_seed(&document);
    upsert_through_the_store(&document, &update);
}

/// Extended JSON text as a document, if it is one.
fn json_document(text: &str) -> Option<Document> {
    let json = crate::json::parse(text, "fuzz").ok()?;
    crate::json::to_document(&json).ok()
}

/// What an applied update must satisfy: within the nesting limit, and every changed path on a
/// path the update names (rules judge an update by the paths it names).
fn check_post_image(update: &Update, pre: &Document, post: &Document) {
    assert!(
        crate::limits::check_document_depth(post).is_ok(),
        "a post-image past the nesting limit"
    );
    let changed = changed_paths(pre, post);
    if let Some(written) = update.written_paths() {
        for path in &changed {
            let parts = path.parts();
            assert!(
                written
                    .iter()
                    .any(|w| w.starts_with(parts) || parts.starts_with(w)),
                "{path} changed but the update names no path over it"
            );
        }
    }
}

/// The system user's guarded collection on a fresh embedded store holding `documents`.
fn system_app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| App {
        dir: std::path::PathBuf::from("fuzz"),
        name: "fuzz".into(),
        environment_tag: String::new(),
        values: Document::new(),
        environment: Document::new(),
        data_sources: Default::default(),
        functions: Default::default(),
        custom_user_data: None,
        triggers: Default::default(),
        auth_providers: Default::default(),
        app_id: String::new(),
        query: Default::default(),
        endpoints: Vec::new(),
        http: Default::default(),
    })
}

fn namespace() -> Namespace {
    Namespace::new("fuzz", "docs")
}

/// `updateOne` by `_id` on a store holding `pre` stores exactly `post`.
fn check_through_the_store(pre: &Document, update: &Document, post: &Document) {
    let store = MemoryStore::new();
    if block_on(store.apply(&namespace(), vec![Write::Insert(pre.clone())])).is_err() {
        return;
    }
    let system = crate::User::system();
    let Ok(coll) = system_app().collection(&store, &system, "fuzz", "docs") else {
        return;
    };
    let id = pre.get("_id").cloned().unwrap_or(bson::Bson::Null);
    let query = bson::doc! {"_id": {"$eq": id}};
    if block_on(coll.update_one(&query, update, false)).is_ok() {
        let stored = block_on(store.find(&namespace(), &query, &FindOptions::default()));
        assert_eq!(stored.ok(), Some(vec![post.clone()]), "the store disagrees");
    }
}

/// `updateOne` with upsert on an empty store, the document as the query.
fn upsert_through_the_store(query: &Document, update: &Document) {
    let store = MemoryStore::new();
    let system = crate::User::system();
    if let Ok(coll) = system_app().collection(&store, &system, "fuzz", "docs") {
        let _ = block_on(coll.update_one(query, update, true));
    }
}

/// Runs a future that never waits to completion: the embedded store answers at once, so a
/// guarded write on it waits only to retry a conflict, which a single writer never meets.
///
/// # Panics
/// When the future waits (a conflict with nobody: a bug).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(future).as_mut().poll(&mut cx) {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => panic!("a write on the embedded store waited"),
    }
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
    update_apply(text);
}
