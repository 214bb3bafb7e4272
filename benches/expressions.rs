//! Rule evaluation speed, side by side with hand-written Rust computing the same answer.
//!
//! Run: `cargo bench --bench expressions`. Results: BENCHMARKS.md.

// criterion's macros generate undocumented public items; a benchmark whose set-up fails stops.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bson::{doc, Bson, Document};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use expanse::expr::{Bindings, ExprKind, Expression};

const STATUSES: [&str; 20] = [
    "s00", "s01", "s02", "s03", "s04", "s05", "s06", "s07", "s08", "s09", "s10", "s11", "s12",
    "s13", "s14", "s15", "s16", "s17", "s18", "open",
];

fn twenty_field_document() -> Document {
    let mut d = doc! {
        "_id": bson::oid::ObjectId::from_bytes([7; 12]),
        "owner_id": "5f1f1f1f1f1f1f1f1f1f1f1f",
        "status": "open",
        "meta": {"region": "eu", "level": 4, "owner": {"org": "acme"}},
        "team": "blue",
        "archived": false,
        "score": 512,
        "tags": ["public", "news"],
    };
    for i in d.len()..20 {
        d.insert(format!("field{i}"), format!("value {i}"));
    }
    d
}

fn user() -> Document {
    doc! {
        "id": "5f1f1f1f1f1f1f1f1f1f1f1f",
        "type": "normal",
        "data": {"email": "a@example.com"},
        "custom_data": {"region": "eu", "teams": ["red", "blue"], "active": true, "org": "acme"},
        "identities": [],
    }
}

const TEN_CLAUSES: &str = r#"{
  "owner_id": "%%user.id",
  "status": {"$in": ["s00","s01","s02","s03","s04","s05","s06","s07","s08","s09","s10","s11","s12","s13","s14","s15","s16","s17","s18","open"]},
  "meta.region": "%%user.custom_data.region",
  "meta.level": {"$gte": 3},
  "team": "%%user.custom_data.teams",
  "archived": {"$ne": true},
  "%%user.custom_data.active": true,
  "score": {"$lt": 1000},
  "tags": "public",
  "meta.owner.org": "%%user.custom_data.org"
}"#;

fn hand_owner(user: &Document, doc: &Document) -> bool {
    matches!((doc.get("owner_id"), user.get("id")), (Some(Bson::String(a)), Some(Bson::String(b))) if a == b)
}

fn hand_ten(user: &Document, doc: &Document) -> bool {
    let custom = match user.get_document("custom_data") {
        Ok(c) => c,
        Err(_) => return false,
    };
    let meta = match doc.get_document("meta") {
        Ok(m) => m,
        Err(_) => return false,
    };
    hand_owner(user, doc)
        && doc.get_str("status").is_ok_and(|s| STATUSES.contains(&s))
        && meta.get_str("region").ok() == custom.get_str("region").ok()
        && meta.get_i32("level").is_ok_and(|l| l >= 3)
        && custom
            .get_array("teams")
            .is_ok_and(|teams| doc.get("team").is_some_and(|t| teams.contains(t)))
        && doc.get_bool("archived").ok() != Some(true)
        && custom.get_bool("active").ok() == Some(true)
        && doc.get_i32("score").is_ok_and(|s| s < 1000)
        && doc
            .get_array("tags")
            .is_ok_and(|tags| tags.iter().any(|t| t.as_str() == Some("public")))
        && meta
            .get_document("owner")
            .is_ok_and(|o| o.get_str("org").ok() == custom.get_str("org").ok())
}

fn bench(c: &mut Criterion) {
    let doc = twenty_field_document();
    let user = user();
    let owner = Expression::parse(
        r#"{"owner_id": "%%user.id"}"#,
        "owner.json",
        ExprKind::RolePermission,
    )
    .unwrap();
    let ten = Expression::parse(TEN_CLAUSES, "ten.json", ExprKind::RolePermission).unwrap();
    let ctx = Bindings::new().user(&user).root(&doc);
    assert!(owner.evaluate(&ctx) && hand_owner(&user, &doc));
    assert!(
        ten.evaluate(&ctx) && hand_ten(&user, &doc),
        "the benchmark must measure a passing rule"
    );

    let mut group = c.benchmark_group("owner rule");
    group.bench_function("expanse", |b| {
        b.iter(|| {
            black_box(&owner)
                .evaluate(&Bindings::new().user(black_box(&user)).root(black_box(&doc)))
        })
    });
    group.bench_function("hand-written", |b| {
        b.iter(|| hand_owner(black_box(&user), black_box(&doc)))
    });
    group.finish();

    let mut group = c.benchmark_group("ten-clause rule");
    group.bench_function("expanse", |b| {
        b.iter(|| {
            black_box(&ten).evaluate(&Bindings::new().user(black_box(&user)).root(black_box(&doc)))
        })
    });
    group.bench_function("hand-written", |b| {
        b.iter(|| hand_ten(black_box(&user), black_box(&doc)))
    });
    group.finish();

    c.bench_function("compile ten-clause rule", |b| {
        b.iter(|| {
            Expression::parse(black_box(TEN_CLAUSES), "ten.json", ExprKind::RolePermission).unwrap()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
