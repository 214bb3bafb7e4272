//! One decision, three ways: Expanse (App Services rules), hand-written Rust computing the same
//! answer, and the `cedar-policy` crate evaluating the equivalent policy set.
//!
//! Run: `scripts/bench cedar` (or `cargo bench --manifest-path bench-cedar/Cargo.toml`).
//! Results: BENCHMARKS.md, "Per decision".
//!
//! Cedar is given every advantage: its policies are parsed, its entities built and its requests
//! constructed once, outside the timed loop; only `is_authorized` is timed. Expanse and the
//! hand-written code read the BSON document and user directly, as they would in a server.

use std::str::FromStr;

use bson::{doc, Bson, Document};
use cedar_policy::{
    Authorizer, Context as CedarContext, Decision, Entities, EntityUid, PolicySet, Request,
};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use expanse::expr::{Bindings, ExprKind, Expression};
use expanse::rules::{CollectionRules, Decider, RequestContext};
use expanse::User;

const USER_ID: &str = "5f1f1f1f1f1f1f1f1f1f1f1f";
const TEAMS: [&str; 10] = ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"];

fn document() -> Document {
    let mut d = doc! {
        "_id": bson::oid::ObjectId::from_bytes([7; 12]),
        "owner_id": USER_ID,
        "team": "t9",
        "group": "blue",
        "title": "quarterly report",
        "secret": "s3cr3t",
        "salary": 123_456,
    };
    for i in d.len()..20 {
        d.insert(format!("field{i}"), format!("value {i}"));
    }
    d
}

fn custom_data() -> Document {
    doc! {"groups": ["red", "green", "blue"], "hr": false}
}

// ---------------------------------------------------------------- hand-written Rust

// Like Expanse, these read the user from its document (`%%user`), not from a constant.

fn hand_owner(user: &Document, doc: &Document) -> bool {
    matches!((doc.get("owner_id"), user.get("id")), (Some(Bson::String(o)), Some(Bson::String(u))) if o == u)
}

fn hand_membership(user: &Document, doc: &Document) -> bool {
    let groups = user
        .get_document("custom_data")
        .ok()
        .and_then(|c| c.get_array("groups").ok());
    match (groups, doc.get("group")) {
        (Some(groups), Some(group)) => groups.contains(group),
        _ => false,
    }
}

fn hand_ten_roles(user: &Document, doc: &Document) -> Option<Document> {
    let team = doc.get_str("team").ok()?;
    TEAMS
        .iter()
        .position(|t| *t == team && hand_owner(user, doc))?;
    let hr = user
        .get_document("custom_data")
        .is_ok_and(|c| c.get_bool("hr").ok() == Some(true));
    let mut shown = Document::new();
    for (k, v) in doc {
        if k == "secret" || (k == "salary" && !hr) {
            continue;
        }
        shown.insert(k.clone(), v.clone());
    }
    Some(shown)
}

// ---------------------------------------------------------------- Expanse

fn ten_roles_json() -> String {
    let roles: Vec<String> = TEAMS
        .iter()
        .map(|t| {
            format!(
                r#"{{"name": "{t}", "apply_when": {{"team": "{t}", "owner_id": "%%user.id"}},
                    "fields": {{"secret": {{"read": false}},
                               "salary": {{"read": {{"%%user.custom_data.hr": true}}}}}},
                    "additional_fields": {{"read": true}}}}"#
            )
        })
        .collect();
    format!(r#"{{"roles": [{}]}}"#, roles.join(","))
}

// ---------------------------------------------------------------- Cedar

/// The owner rule alone.
const OWNER_POLICY: &str = r#"permit(principal, action == Action::"owner", resource)
    when { resource.owner_id == principal.id };"#;

/// The membership rule alone.
const MEMBERSHIP_POLICY: &str = r#"permit(principal, action == Action::"membership", resource)
    when { principal.groups.contains(resource.group) };"#;

/// Ten roles: a document is readable under the first whose condition holds. Of its two field
/// rules, `secret` (never readable) needs no request; `salary` (HR only) is one request.
fn ten_role_policies() -> String {
    let mut text = String::new();
    for t in TEAMS {
        text.push_str(&format!(
            r#"
            @id("read {t}")
            permit(principal, action == Action::"read", resource)
                when {{ resource.team == "{t}" && resource.owner_id == principal.id }};
            @id("salary {t}")
            permit(principal, action == Action::"readSalary", resource)
                when {{ resource.team == "{t}" && resource.owner_id == principal.id && principal.hr }};
            "#
        ));
    }
    text
}

/// Each case gets a policy set of its own, so Cedar never evaluates another case's policies.
fn policy_set(text: &str) -> PolicySet {
    PolicySet::from_str(text).expect("the Cedar policies parse")
}

fn cedar_entities(doc: &Document, custom: &Document) -> Entities {
    let groups: Vec<&str> = custom
        .get_array("groups")
        .unwrap()
        .iter()
        .filter_map(|g| g.as_str())
        .collect();
    let json = serde_json::json!([
        {
            "uid": {"type": "User", "id": USER_ID},
            "attrs": {"id": USER_ID, "groups": groups, "hr": custom.get_bool("hr").unwrap()},
            "parents": []
        },
        {
            "uid": {"type": "Doc", "id": "d"},
            "attrs": {
                "owner_id": doc.get_str("owner_id").unwrap(),
                "team": doc.get_str("team").unwrap(),
                "group": doc.get_str("group").unwrap(),
            },
            "parents": []
        }
    ]);
    Entities::from_json_value(json, None).expect("the Cedar entities parse")
}

fn cedar_request(action: &str) -> Request {
    Request::new(
        EntityUid::from_str(&format!(r#"User::"{USER_ID}""#)).unwrap(),
        EntityUid::from_str(&format!(r#"Action::"{action}""#)).unwrap(),
        EntityUid::from_str(r#"Doc::"d""#).unwrap(),
        CedarContext::empty(),
        None,
    )
    .expect("the Cedar request is valid")
}

fn allowed(authorizer: &Authorizer, request: &Request, p: &PolicySet, e: &Entities) -> bool {
    authorizer.is_authorized(request, p, e).decision() == Decision::Allow
}

// ---------------------------------------------------------------- the benchmark

fn bench(c: &mut Criterion) {
    let doc = document();
    let custom = custom_data();
    let user_doc = doc! {"id": USER_ID, "type": "normal", "data": {}, "custom_data": custom.clone(), "identities": []};
    let user = User::new(USER_ID).with_custom_data(custom.clone());

    let owner = Expression::parse(
        r#"{"owner_id": "%%user.id"}"#,
        "owner.json",
        ExprKind::RolePermission,
    )
    .unwrap();
    let membership = Expression::parse(
        r#"{"group": {"$in": "%%user.custom_data.groups"}}"#,
        "membership.json",
        ExprKind::RolePermission,
    )
    .unwrap();
    let rules = CollectionRules::parse(&ten_roles_json(), "rules.json").unwrap();
    let (values, environment) = (Document::new(), Document::new());
    let request = RequestContext {
        user: &user,
        values: &values,
        environment: &environment,
        request: None,
        functions: None,
    };

    let owner_policies = policy_set(OWNER_POLICY);
    let membership_policies = policy_set(MEMBERSHIP_POLICY);
    let role_policies = policy_set(&ten_role_policies());
    let entities = cedar_entities(&doc, &custom);
    let authorizer = Authorizer::new();
    let (owner_request, membership_request, read_request, salary_request) = (
        cedar_request("owner"),
        cedar_request("membership"),
        cedar_request("read"),
        cedar_request("readSalary"),
    );

    // All three agree before anything is timed.
    let ctx = Bindings::new().user(&user_doc).root(&doc);
    assert!(owner.evaluate(&ctx) && hand_owner(&user_doc, &doc));
    assert!(allowed(
        &authorizer,
        &owner_request,
        &owner_policies,
        &entities
    ));
    assert!(membership.evaluate(&ctx) && hand_membership(&user_doc, &doc));
    assert!(allowed(
        &authorizer,
        &membership_request,
        &membership_policies,
        &entities
    ));
    let expanse_shown = Decider::new(&rules, request).read(&doc, &mut None);
    assert_eq!(expanse_shown, hand_ten_roles(&user_doc, &doc));
    assert!(expanse_shown.is_some_and(|d| !d.contains_key("secret") && !d.contains_key("salary")));
    assert!(allowed(
        &authorizer,
        &read_request,
        &role_policies,
        &entities
    ));
    assert!(!allowed(
        &authorizer,
        &salary_request,
        &role_policies,
        &entities
    ));

    let mut group = c.benchmark_group("owner rule");
    group.bench_function("expanse", |b| {
        b.iter(|| {
            black_box(&owner).evaluate(
                &Bindings::new()
                    .user(black_box(&user_doc))
                    .root(black_box(&doc)),
            )
        })
    });
    group.bench_function("hand-written", |b| {
        b.iter(|| hand_owner(black_box(&user_doc), black_box(&doc)))
    });
    group.bench_function("cedar", |b| {
        b.iter(|| {
            allowed(
                &authorizer,
                black_box(&owner_request),
                &owner_policies,
                &entities,
            )
        })
    });
    group.finish();

    let mut group = c.benchmark_group("custom_data membership rule");
    group.bench_function("expanse", |b| {
        b.iter(|| {
            black_box(&membership).evaluate(
                &Bindings::new()
                    .user(black_box(&user_doc))
                    .root(black_box(&doc)),
            )
        })
    });
    group.bench_function("hand-written", |b| {
        b.iter(|| hand_membership(black_box(&user_doc), black_box(&doc)))
    });
    group.bench_function("cedar", |b| {
        b.iter(|| {
            allowed(
                &authorizer,
                black_box(&membership_request),
                &membership_policies,
                &entities,
            )
        })
    });
    group.finish();

    let mut group = c.benchmark_group("ten roles with field rules (read one document)");
    group.bench_function("expanse", |b| {
        b.iter(|| Decider::new(black_box(&rules), request).read(black_box(&doc), &mut None))
    });
    group.bench_function("hand-written", |b| {
        b.iter(|| hand_ten_roles(black_box(&user_doc), black_box(&doc)))
    });
    group.bench_function("cedar (document + one field request)", |b| {
        b.iter(|| {
            allowed(
                &authorizer,
                black_box(&read_request),
                &role_policies,
                &entities,
            ) && !allowed(
                &authorizer,
                black_box(&salary_request),
                &role_policies,
                &entities,
            )
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(std::time::Duration::from_secs(3))
        .warm_up_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
