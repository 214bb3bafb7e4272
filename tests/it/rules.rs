//! Collection rules through guarded collections on the embedded store: each decision of the
//! design, each row of the role table (App Services' role permissions), and the documented patterns (App Services' rule templates).

use std::sync::LazyLock;

use crate::common::apps::{app_with_rules, rules};
use bson::{doc, Bson, Document};
use expanse::guard::{FindOneAndOptions, GuardError};
use expanse::store::{FindOptions, MemoryStore, Namespace, Store};
use expanse::{App, User};

fn store_with(docs: Vec<Document>) -> MemoryStore {
    let store = MemoryStore::new();
    store
        .seed(&doc! {"db.coll": docs.into_iter().map(Bson::Document).collect::<Vec<_>>()})
        .unwrap();
    store
}

async fn ids_seen(app: &App, store: &MemoryStore, user: &User) -> Vec<Bson> {
    let coll = app.collection(store, user, "db", "coll").unwrap();
    coll.find(&doc! {}, &FindOptions::default())
        .await
        .unwrap()
        .iter()
        .map(|d| d.get("_id").cloned().unwrap_or(Bson::Null))
        .collect()
}

async fn seen(app: &App, store: &MemoryStore, user: &User) -> Vec<Document> {
    app.collection(store, user, "db", "coll")
        .unwrap()
        .find(&doc! {}, &FindOptions::default())
        .await
        .unwrap()
}

/// A decider for `user` with no values and no environment.
fn decider_for<'a>(
    rules: &'a expanse::rules::CollectionRules,
    user: &'a User,
    empty: &'a Document,
) -> expanse::rules::Decider<'a> {
    expanse::rules::Decider::new(
        rules,
        expanse::rules::RequestContext {
            user,
            values: empty,
            environment: empty,
            request: None,
            functions: None,
        },
    )
}

fn denied(result: Result<impl std::fmt::Debug, GuardError>) -> String {
    match result {
        Err(GuardError::Denied(d)) => d.to_string(),
        other => panic!("expected a denial, got {other:?}"),
    }
}

fn stored(store: &MemoryStore) -> Vec<Document> {
    store.documents(&Namespace::new("db", "coll"))
}

static ALICE: LazyLock<User> =
    LazyLock::new(|| User::new("alice").with_data(doc! {"email": "alice@example.com"}));
static BOB: LazyLock<User> =
    LazyLock::new(|| User::new("bob").with_data(doc! {"email": "bob@example.com"}));

fn alice() -> &'static User {
    &ALICE
}

fn bob() -> &'static User {
    &BOB
}

// ---- design decisions ----

#[tokio::test]
async fn no_rules_for_a_namespace_is_no_matching_rule_found() {
    let (_d, app) = app_with_rules(&rules("[]", "[]"));
    let store = MemoryStore::new();
    let err = app
        .collection(&store, alice(), "db", "other")
        .err()
        .expect("no rules");
    assert_eq!(err.to_string(), "no rule exists for namespace 'db.other'");
    assert_eq!(expanse::NoMatchingRule::CODE, "NoMatchingRuleFound");
}

#[tokio::test]
async fn reads_are_filtered_silently_per_document_role() {
    let (_d, app) = app_with_rules(&rules(
        r#"[{"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true}]"#,
        "[]",
    ));
    let store = store_with(vec![
        doc! {"_id": 1, "owner": "alice"},
        doc! {"_id": 2, "owner": "bob"},
        doc! {"_id": 3},
    ]);
    assert_eq!(ids_seen(&app, &store, alice()).await, vec![Bson::Int32(1)]);
    assert_eq!(ids_seen(&app, &store, bob()).await, vec![Bson::Int32(2)]);
}

#[tokio::test]
async fn roles_are_tried_in_order_and_the_first_that_applies_wins() {
    let roles = r#"[
        {"name": "readonly", "apply_when": {"team": "red"}, "read": true, "write": false},
        {"name": "editor", "apply_when": {}, "read": true, "write": true}
    ]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let store = store_with(vec![
        doc! {"_id": 1, "team": "red"},
        doc! {"_id": 2, "team": "blue"},
    ]);
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    let err = denied(
        coll.update_one(&doc! {"_id": 1}, &doc! {"$set": {"x": 1}}, false)
            .await,
    );
    assert!(err.contains("role \"readonly\""), "{err}");
    coll.update_one(&doc! {"_id": 2}, &doc! {"$set": {"x": 1}}, false)
        .await
        .unwrap();
}

#[tokio::test]
async fn missing_document_filters_keys_are_no_gate() {
    let roles =
        r#"[{"name": "r", "apply_when": {}, "document_filters": {}, "read": true, "write": true}]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let store = store_with(vec![doc! {"_id": 1}]);
    assert_eq!(ids_seen(&app, &store, alice()).await.len(), 1);
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    coll.update_one(&doc! {"_id": 1}, &doc! {"$set": {"a": 1}}, false)
        .await
        .unwrap();
}

#[tokio::test]
async fn document_filters_gate_reads_and_writes() {
    let roles = r#"[{"name": "r", "apply_when": {},
        "document_filters": {"read": {"public": true}, "write": {"owner": "%%user.id"}},
        "read": true, "write": true}]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let store = store_with(vec![
        doc! {"_id": 1, "public": true, "owner": "bob"},
        doc! {"_id": 2, "public": false, "owner": "alice"},
        doc! {"_id": 3, "public": false, "owner": "bob"},
    ]);
    // read gate: public, or writable (write implies read)
    assert_eq!(
        ids_seen(&app, &store, alice()).await,
        vec![Bson::Int32(1), Bson::Int32(2)]
    );
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    let err = denied(
        coll.update_one(&doc! {"_id": 1}, &doc! {"$set": {"x": 1}}, false)
            .await,
    );
    assert!(err.contains("document_filters.write"), "{err}");
}

#[tokio::test]
async fn explicit_read_false_denies_before_field_rules_but_absent_read_falls_through() {
    let explicit =
        r#"[{"name": "r", "apply_when": {}, "read": false, "fields": {"a": {"read": true}}}]"#;
    let (_d, app) = app_with_rules(&rules(explicit, "[]"));
    let store = store_with(vec![doc! {"_id": 1, "a": 1, "b": 2}]);
    assert!(seen(&app, &store, alice()).await.is_empty());

    let absent = r#"[{"name": "r", "apply_when": {}, "fields": {"a": {"read": true}}}]"#;
    let (_d, app) = app_with_rules(&rules(absent, "[]"));
    assert_eq!(seen(&app, &store, alice()).await, vec![doc! {"a": 1}]);
}

#[tokio::test]
async fn write_false_denies_before_field_rules_but_absent_write_falls_through() {
    let explicit = r#"[{"name": "r", "apply_when": {}, "read": true, "write": false, "fields": {"a": {"write": true}}}]"#;
    let (_d, app) = app_with_rules(&rules(explicit, "[]"));
    let store = store_with(vec![doc! {"_id": 1, "a": 1}]);
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    let err = denied(
        coll.update_one(&doc! {"_id": 1}, &doc! {"$set": {"a": 2}}, false)
            .await,
    );
    assert!(err.contains("write is false"), "{err}");

    // Read all, write some fields: leave write out.
    let absent =
        r#"[{"name": "r", "apply_when": {}, "read": true, "fields": {"a": {"write": true}}}]"#;
    let (_d, app) = app_with_rules(&rules(absent, "[]"));
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    coll.update_one(&doc! {"_id": 1}, &doc! {"$set": {"a": 2}}, false)
        .await
        .unwrap();
    let err = denied(
        coll.update_one(&doc! {"_id": 1}, &doc! {"$set": {"b": 2}}, false)
            .await,
    );
    assert!(err.contains("field b is not writable"), "{err}");
}

#[tokio::test]
async fn write_implies_read() {
    let roles = r#"[{"name": "w", "apply_when": {}, "write": true}]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let store = store_with(vec![doc! {"_id": 1, "secret": "s"}]);
    assert_eq!(
        seen(&app, &store, alice()).await,
        vec![doc! {"_id": 1, "secret": "s"}]
    );
}

#[tokio::test]
async fn insert_defaults_to_true_and_needs_every_field_writable() {
    let roles = r#"[{"name": "r", "apply_when": {}, "fields": {"title": {"write": true}, "_id": {"write": true}}}]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let store = MemoryStore::new();
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    coll.insert_one(doc! {"_id": 1, "title": "t"})
        .await
        .unwrap();
    let err = denied(
        coll.insert_one(doc! {"_id": 2, "title": "t", "extra": 1})
            .await,
    );
    assert!(err.contains("field extra is not writable"), "{err}");
    // A role that cannot write _id cannot insert at all (App Services: inserting writes _id).
    let roles = r#"[{"name": "r", "apply_when": {}, "fields": {"title": {"write": true}}}]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    let err = denied(coll.insert_one(doc! {"title": "t"}).await);
    assert!(err.contains("field _id is not writable"), "{err}");
}

#[tokio::test]
async fn insert_false_refuses_even_with_write() {
    let roles = r#"[{"name": "r", "apply_when": {}, "write": true, "insert": false}]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let store = MemoryStore::new();
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    let err = denied(coll.insert_one(doc! {"a": 1}).await);
    assert!(err.contains("insert is false"), "{err}");
    assert!(stored(&store).is_empty());
}

#[tokio::test]
async fn delete_needs_write_on_the_whole_document_then_delete() {
    let store = store_with(vec![doc! {"_id": 1, "owner": "alice", "a": 1}]);
    // delete defaults to true, but without write nothing can be deleted
    let (_d, app) = app_with_rules(&rules(
        r#"[{"name": "r", "apply_when": {}, "read": true}]"#,
        "[]",
    ));
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    denied(coll.delete_one(&doc! {"_id": 1}).await);
    // field-level write on only some fields is not enough (`_id` is hidden here: the query
    // names the readable field)
    let (_d, app) = app_with_rules(&rules(
        r#"[{"name": "r", "apply_when": {}, "fields": {"a": {"write": true}}}]"#,
        "[]",
    ));
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    denied(coll.delete_one(&doc! {"a": 1}).await);
    // write, but delete: false
    let (_d, app) = app_with_rules(&rules(
        r#"[{"name": "r", "apply_when": {}, "write": true, "delete": false}]"#,
        "[]",
    ));
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    assert!(denied(coll.delete_one(&doc! {"_id": 1}).await).contains("delete is false"));
    // an owner rule written against plain fields works for deletes (%%root is the stored document)
    let (_d, app) = app_with_rules(&rules(
        r#"[{"name": "r", "apply_when": {}, "write": {"owner": "%%user.id"}}]"#,
        "[]",
    ));
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    assert_eq!(coll.delete_one(&doc! {"_id": 1}).await.unwrap(), 1);
    assert!(stored(&store).is_empty());
}

#[tokio::test]
async fn updates_choose_the_role_on_the_pre_image_and_write_sees_both_images() {
    // The owner may edit but not give the document away: write checks %%root (post-image).
    let roles = r#"[{"name": "owner", "apply_when": {"owner": "%%user.id"}, "write": {"owner": "%%user.id", "%%prevRoot.owner": "%%user.id"}}]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let store = store_with(vec![doc! {"_id": 1, "owner": "alice", "title": "a"}]);
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    coll.update_one(&doc! {"_id": 1}, &doc! {"$set": {"title": "b"}}, false)
        .await
        .unwrap();
    let err = denied(
        coll.update_one(&doc! {"_id": 1}, &doc! {"$set": {"owner": "bob"}}, false)
            .await,
    );
    assert!(err.contains("role \"owner\""), "{err}");
    assert_eq!(stored(&store)[0].get_str("owner").unwrap(), "alice");
    // Bob has no role on alice's document: he cannot read it, so it is not there to update.
    let coll = app.collection(&store, bob(), "db", "coll").unwrap();
    let result = coll
        .update_one(&doc! {"_id": 1}, &doc! {"$set": {"title": "x"}}, false)
        .await
        .unwrap();
    assert_eq!(result.matched_count, 0);
    assert_eq!(stored(&store)[0].get_str("title").unwrap(), "b");
}

#[tokio::test]
async fn a_multi_document_write_touching_any_denied_document_changes_nothing() {
    let roles = r#"[{"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true, "write": true},
                    {"name": "reader", "apply_when": {"owner": "bob"}, "read": true, "write": false}]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let docs = vec![
        doc! {"_id": 1, "owner": "alice", "n": 0},
        doc! {"_id": 2, "owner": "bob", "n": 0},
        doc! {"_id": 3, "owner": "alice", "n": 0},
        doc! {"_id": 4, "owner": "carol", "n": 0},
    ];
    let store = store_with(docs.clone());
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    denied(
        coll.update_many(&doc! {}, &doc! {"$inc": {"n": 1}}, false)
            .await,
    );
    assert_eq!(stored(&store), docs);
    denied(coll.delete_many(&doc! {}).await);
    assert_eq!(stored(&store), docs);
    let result = coll
        .update_many(&doc! {"owner": "alice"}, &doc! {"$inc": {"n": 1}}, false)
        .await
        .unwrap();
    assert_eq!((result.matched_count, result.modified_count), (2, 2));
    // carol's document is not alice's to read: it is not there to write either
    let result = coll
        .update_many(&doc! {"owner": "carol"}, &doc! {"$inc": {"n": 1}}, false)
        .await
        .unwrap();
    assert_eq!(result.matched_count, 0);
    assert_eq!(coll.delete_many(&doc! {"owner": "carol"}).await.unwrap(), 0);
}

#[tokio::test]
async fn the_system_user_bypasses_rules_and_filters() {
    let (_d, app) = app_with_rules(&rules(
        r#"[]"#,
        r#"[{"name": "none", "apply_when": {}, "query": {"_id": -1}}]"#,
    ));
    let store = store_with(vec![doc! {"_id": 1}]);
    let system = User::system();
    assert_eq!(ids_seen(&app, &store, &system).await.len(), 1);
    let coll = app.collection(&store, &system, "db", "coll").unwrap();
    coll.update_one(&doc! {"_id": 1}, &doc! {"$set": {"a": 1}}, false)
        .await
        .unwrap();
    // and namespaces without rules are open to it
    let other = app.collection(&store, &system, "db", "unruled").unwrap();
    other.insert_one(doc! {"x": 1}).await.unwrap();
    // with no role at all, users see nothing
    assert!(ids_seen(&app, &store, alice()).await.is_empty());
}

// ---- fields ----

#[tokio::test]
async fn field_rules_hide_fields_and_additional_fields_cover_the_rest() {
    let roles = r#"[{"name": "r", "apply_when": {}, "fields": {"secret": {"read": false}, "title": {"read": true}}, "additional_fields": {"read": true}}]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let store = store_with(vec![
        doc! {"_id": 1, "title": "t", "secret": "s", "other": 1},
    ]);
    assert_eq!(
        seen(&app, &store, alice()).await,
        vec![doc! {"_id": 1, "title": "t", "other": 1}]
    );
    // without additional_fields, unlisted fields are hidden
    let roles = r#"[{"name": "r", "apply_when": {}, "fields": {"title": {"read": true}}}]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    assert_eq!(seen(&app, &store, alice()).await, vec![doc! {"title": "t"}]);
}

#[tokio::test]
async fn documents_with_no_readable_field_are_left_out() {
    let roles = r#"[{"name": "r", "apply_when": {}, "fields": {"title": {"read": true}}}]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let store = store_with(vec![
        doc! {"_id": 1, "body": "b"},
        doc! {"_id": 2, "title": "t"},
    ]);
    assert_eq!(seen(&app, &store, alice()).await, vec![doc! {"title": "t"}]);
}

#[tokio::test]
async fn embedded_field_permissions_and_parents_override_children() {
    let roles = r#"[{"name": "r", "apply_when": {}, "fields": {
        "profile": {"fields": {"name": {"read": true, "write": true}}},
        "locked": {"read": false, "write": false, "fields": {"x": {"read": true, "write": true}}}
    }, "additional_fields": {"read": true}}]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let store = store_with(vec![
        doc! {"_id": 1, "profile": {"name": "n", "age": 3}, "locked": {"x": 1}},
    ]);
    assert_eq!(
        seen(&app, &store, alice()).await,
        vec![doc! {"_id": 1, "profile": {"name": "n"}}]
    );
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    coll.update_one(
        &doc! {"_id": 1},
        &doc! {"$set": {"profile.name": "m"}},
        false,
    )
    .await
    .unwrap();
    denied(
        coll.update_one(&doc! {"_id": 1}, &doc! {"$set": {"profile.age": 4}}, false)
            .await,
    );
    denied(
        coll.update_one(&doc! {"_id": 1}, &doc! {"$set": {"locked.x": 2}}, false)
            .await,
    );
}

#[tokio::test]
async fn field_expressions_see_the_document() {
    // F-FLP: a field readable by everyone only when published, always by the owner.
    let roles = r#"[
        {"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true},
        {"name": "public", "apply_when": {}, "fields": {"body": {"read": {"published": true}}, "title": {"read": true}}}
    ]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let store = store_with(vec![
        doc! {"_id": 1, "owner": "alice", "title": "a", "body": "draft", "published": false},
        doc! {"_id": 2, "owner": "alice", "title": "b", "body": "final", "published": true},
    ]);
    assert_eq!(
        seen(&app, &store, bob()).await,
        vec![doc! {"title": "a"}, doc! {"title": "b", "body": "final"}]
    );
    assert_eq!(seen(&app, &store, alice()).await.len(), 2);
}

// ---- documented patterns ----

#[tokio::test]
async fn insert_only_role() {
    let roles = r#"[{"name": "insertOnly", "apply_when": {}, "insert": true, "delete": false,
        "write": {"%%prevRoot": {"%exists": false}}, "additional_fields": {}}]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let store = MemoryStore::new();
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    coll.insert_one(doc! {"_id": 1, "msg": "hi"}).await.unwrap();
    // It cannot read back what it wrote (write is false for stored documents), so what it
    // wrote is not there for it to update or delete.
    assert!(seen(&app, &store, alice()).await.is_empty());
    let result = coll
        .update_one(&doc! {"_id": 1}, &doc! {"$set": {"msg": "x"}}, false)
        .await
        .unwrap();
    assert_eq!(result.matched_count, 0);
    assert_eq!(coll.delete_one(&doc! {"_id": 1}).await.unwrap(), 0);
    assert_eq!(stored(&store), vec![doc! {"_id": 1, "msg": "hi"}]);
}

#[tokio::test]
async fn employee_and_manager_roles() {
    let roles = r#"[
      {"name": "Manager", "apply_when": {"email": "%%user.custom_data.manages"}, "insert": true, "delete": true, "read": true, "write": true, "search": true, "fields": {}, "additional_fields": {"read": true, "write": true}},
      {"name": "Employee", "apply_when": {"email": "%%user.data.email"}, "insert": false, "delete": false, "read": true, "write": true, "search": true, "fields": {}, "additional_fields": {"read": true, "write": true}}
    ]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let store = store_with(vec![
        doc! {"_id": 1, "email": "alice@example.com"},
        doc! {"_id": 2, "email": "bob@example.com"},
        doc! {"_id": 3, "email": "carol@example.com"},
    ]);
    let manager = User::new("m")
        .with_data(doc! {"email": "mona@example.com"})
        .with_custom_data(doc! {"manages": ["alice@example.com", "bob@example.com"]});
    assert_eq!(
        ids_seen(&app, &store, &manager).await,
        vec![Bson::Int32(1), Bson::Int32(2)]
    );
    assert_eq!(ids_seen(&app, &store, alice()).await, vec![Bson::Int32(1)]);
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    denied(coll.delete_one(&doc! {"_id": 1}).await);
    let coll = app.collection(&store, &manager, "db", "coll").unwrap();
    assert_eq!(coll.delete_one(&doc! {"_id": 2}).await.unwrap(), 1);
}

// ---- filters ----

#[tokio::test]
async fn filters_narrow_reads_and_writes_and_project() {
    let roles = r#"[{"name": "all", "apply_when": {}, "read": true, "write": true}]"#;
    let filters = r#"[
      {"name": "own", "apply_when": {"%%true": true}, "query": {"owner_id": "%%user.id"}, "projection": {"internal": 0}},
      {"name": "never applies", "apply_when": {"%%user.id": "nobody"}, "query": {"_id": -1}}
    ]"#;
    let (_d, app) = app_with_rules(&rules(roles, filters));
    let store = store_with(vec![
        doc! {"_id": 1, "owner_id": "alice", "internal": "x"},
        doc! {"_id": 2, "owner_id": "bob"},
    ]);
    assert_eq!(
        seen(&app, &store, alice()).await,
        vec![doc! {"_id": 1, "owner_id": "alice"}]
    );
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    // Bob's document is filtered out: the write matches nothing rather than failing.
    let r = coll
        .update_many(&doc! {}, &doc! {"$set": {"seen": true}}, false)
        .await
        .unwrap();
    assert_eq!(r.matched_count, 1);
    assert!(stored(&store)[1].get("seen").is_none());
}

#[tokio::test]
async fn a_filter_whose_expansion_is_missing_matches_nothing() {
    let roles = r#"[{"name": "all", "apply_when": {}, "read": true}]"#;
    let filters =
        r#"[{"name": "team", "apply_when": {}, "query": {"team": "%%user.custom_data.team"}}]"#;
    let (_d, app) = app_with_rules(&rules(roles, filters));
    let store = store_with(vec![doc! {"_id": 1}, doc! {"_id": 2, "team": null}]);
    assert!(seen(&app, &store, alice()).await.is_empty());
    let member = User::new("m").with_custom_data(doc! {"team": null});
    assert_eq!(
        ids_seen(&app, &store, &member).await.len(),
        2,
        "a present null compares as MongoDB compares it"
    );
}

// ---- injection ----

#[tokio::test]
async fn operator_shaped_values_never_widen_access() {
    let roles = r#"[{"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true, "write": true},
                    {"name": "team", "apply_when": {"team": "%%user.custom_data.team"}, "read": true}]"#;
    let filters = r#"[{"name": "own", "apply_when": {}, "query": {"owner": "%%user.custom_data.owner_filter"}}]"#;
    let store = store_with(vec![
        doc! {"_id": 1, "owner": "alice", "team": "red"},
        doc! {"_id": 2, "owner": "bob", "team": "blue"},
        doc! {"_id": 3, "owner": "%%user.id", "team": {"$ne": null}},
    ]);
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    for hostile in [
        Bson::Document(doc! {"$ne": null}),
        Bson::Document(doc! {"$gt": ""}),
        Bson::String("%%user.id".into()),
        Bson::String("$where".into()),
    ] {
        let user = User::new(match &hostile {
            Bson::String(s) => s.clone(),
            _ => "mallory".into(),
        })
        .with_custom_data(doc! {"team": hostile.clone(), "owner_filter": hostile.clone()});
        let ids = ids_seen(&app, &store, &user).await;
        assert!(
            ids.iter().all(|id| *id == Bson::Int32(3)),
            "{hostile}: {ids:?}"
        );
        // a document literally holding the operator value is the only possible match
        let coll = app.collection(&store, &user, "db", "coll").unwrap();
        let r = coll
            .update_many(
                &doc! {"owner": "alice"},
                &doc! {"$set": {"owner": "mallory"}},
                false,
            )
            .await;
        assert!(
            r.as_ref().is_ok_and(|r| r.matched_count == 0) || r.is_err(),
            "{hostile}: {r:?}"
        );
        assert_eq!(stored(&store)[0].get_str("owner").unwrap(), "alice");
    }
    let (_d, app) = app_with_rules(&rules(
        r#"[{"name": "all", "apply_when": {}, "read": true}]"#,
        filters,
    ));
    let user = User::new("mallory").with_custom_data(doc! {"owner_filter": {"$ne": null}});
    assert!(ids_seen(&app, &store, &user).await.is_empty());
}

#[tokio::test]
async fn users_cannot_use_system_only_operators() {
    let (_d, app) = app_with_rules(&rules(
        r#"[{"name": "all", "apply_when": {}, "read": true}]"#,
        "[]",
    ));
    let store = store_with(vec![doc! {"_id": 1}]);
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    for query in [
        doc! {"$where": "1"},
        doc! {"a": {"$regex": "x"}},
        doc! {"$expr": {"$eq": [1, 1]}},
    ] {
        match coll.find(&query, &FindOptions::default()).await {
            Err(GuardError::NotAllowed(m)) => assert!(m.contains("system user"), "{m}"),
            other => panic!("{query}: {other:?}"),
        }
    }
    for (pipeline, word) in [
        (doc! {"$lookup": {"from": "x"}}, "$lookup"),
        (doc! {"$unionWith": {"coll": "x"}}, "$unionWith"),
        (doc! {"$facet": {"a": []}}, "$facet"),
        (doc! {"$out": "x"}, "$out"),
        (doc! {"$collStats": {}}, "$collStats"),
        (doc! {"$listSessions": {}}, "$listSessions"),
        (
            doc! {"$set": {"x": {"$function": {"body": "function() {}", "args": [], "lang": "js"}}}},
            "$function",
        ),
        (
            doc! {"$project": {"x": {"$setIsSubset": [["a"], ["a", "b"]]}}},
            "$setIsSubset",
        ),
        (doc! {"$match": {"$where": "1"}}, "$where"),
    ] {
        match coll.aggregate(std::slice::from_ref(&pipeline)).await {
            Err(GuardError::NotAllowed(m)) => assert!(m.contains(word), "{pipeline}: {m}"),
            other => panic!("{pipeline}: {other:?}"),
        }
    }
}

/// A user's pipeline sees only what the user may read: hidden fields are missing for every
/// stage (a `$group` sums nothing from them, `$objectToArray` does not list them), hidden
/// documents are absent; `count` judges the query on the same view.
#[tokio::test]
async fn user_pipelines_see_only_what_the_user_may_read() {
    let roles = r#"[
        {"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true},
        {"name": "colleague", "apply_when": {"team": "%%user.custom_data.team"},
         "fields": {"owner": {"read": true}, "team": {"read": true}, "pay": {"read": false},
                    "profile": {"fields": {"city": {"read": true}}}},
         "additional_fields": {}}
    ]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let store = store_with(vec![
        doc! {"_id": 1, "owner": "alice", "team": "t", "pay": 10, "profile": {"city": "a", "phone": "1"}},
        doc! {"_id": 2, "owner": "bob", "team": "t", "pay": 20, "profile": {"city": "b", "phone": "2"}},
        doc! {"_id": 3, "owner": "carol", "team": "other", "pay": 40},
    ]);
    let alice = User::new("alice").with_custom_data(doc! {"team": "t"});
    let coll = app.collection(&store, &alice, "db", "coll").unwrap();
    let out = coll
        .aggregate(&[
            doc! {"$group": {"_id": "$team", "pay": {"$sum": "$pay"}, "n": {"$sum": 1},
            "cities": {"$push": "$profile.city"}, "phones": {"$push": "$profile.phone"}}},
        ])
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![doc! {"_id": "t", "pay": 10, "n": 2, "cities": ["a", "b"], "phones": ["1"]}]
    );
    let out = coll
        .aggregate(&[
            doc! {"$match": {"owner": "bob"}},
            doc! {"$project": {"keys": {"$map": {"input": {"$objectToArray": "$$ROOT"}, "as": "f", "in": "$$f.k"}}}},
        ])
        .await
        .unwrap();
    assert_eq!(out, vec![doc! {"keys": ["owner", "team", "profile"]}]);
    assert_eq!(
        coll.count(&doc! {"pay": {"$exists": true}}).await.unwrap(),
        1
    );
    assert_eq!(coll.count(&doc! {"team": "t"}).await.unwrap(), 2);
    assert_eq!(coll.count(&doc! {}).await.unwrap(), 2);
    let trace = app
        .collection(&store, &alice, "db", "coll")
        .unwrap()
        .explained();
    trace
        .aggregate(&[doc! {"$sortByCount": "$team"}])
        .await
        .unwrap();
    let lines = trace.take_trace();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("behind the read rules") && l.contains("$unionWith")),
        "{lines:?}"
    );
}

/// Rules that cannot be said exactly on the server (a field rule on `%%this`) are decided in
/// process, the pipeline then running in process over the documents as the user may read them.
#[tokio::test]
async fn rules_on_a_fields_own_value_run_the_pipeline_in_process() {
    let roles = r#"[{"name": "r", "apply_when": {},
        "fields": {"title": {"read": {"%%this": {"$type": "string"}}}, "n": {"read": true}}}]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let store = store_with(vec![
        doc! {"_id": 1, "title": "t", "n": 1},
        doc! {"_id": 2, "title": 5, "n": 2},
    ]);
    let coll = app
        .collection(&store, alice(), "db", "coll")
        .unwrap()
        .explained();
    let out = coll
        .aggregate(&[
            doc! {"$group": {"_id": {"$type": "$title"}, "n": {"$sum": "$n"}}},
            doc! {"$sort": {"n": 1}},
        ])
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![
            doc! {"_id": "string", "n": 1},
            doc! {"_id": "missing", "n": 2}
        ]
    );
    let lines = coll.take_trace();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("in process") && l.contains("own value")),
        "{lines:?}"
    );
    match coll.aggregate(&[doc! {"$sample": {"size": 1}}]).await {
        Err(GuardError::NotAllowed(m)) => {
            assert!(m.contains("$sample") && m.contains("in process"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}

// ---- operations ----

#[tokio::test]
async fn every_sdk_operation_goes_through_the_rules() {
    let roles =
        r#"[{"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true, "write": true}]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let store = store_with(vec![
        doc! {"_id": 1, "owner": "alice", "n": 1},
        doc! {"_id": 2, "owner": "bob", "n": 2},
    ]);
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    assert_eq!(coll.count(&doc! {}).await.unwrap(), 1);
    assert_eq!(
        coll.find_one(&doc! {"n": 2}, &FindOptions::default())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        coll.aggregate(&[doc! {"$count": "n"}]).await.unwrap(),
        vec![doc! {"n": 1}]
    );
    let ids = coll
        .insert_many(vec![
            doc! {"_id": 3, "owner": "alice"},
            doc! {"_id": 4, "owner": "alice"},
        ])
        .await
        .unwrap();
    assert_eq!(ids, vec![Bson::Int32(3), Bson::Int32(4)]);
    denied(
        coll.insert_many(vec![
            doc! {"_id": 5, "owner": "alice"},
            doc! {"_id": 6, "owner": "bob"},
        ])
        .await,
    );
    assert_eq!(stored(&store).len(), 4, "insertMany is all or nothing");
    let r = coll
        .replace_one(
            &doc! {"_id": 3},
            &doc! {"owner": "alice", "replaced": true},
            false,
        )
        .await
        .unwrap();
    assert_eq!(r.modified_count, 1);
    let before = coll
        .find_one_and_update(
            &doc! {"_id": 1},
            &doc! {"$inc": {"n": 10}},
            &FindOneAndOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(before.unwrap().get_i32("n").unwrap(), 1);
    let after = coll
        .find_one_and_replace(
            &doc! {"_id": 4},
            &doc! {"owner": "alice", "v": 2},
            &FindOneAndOptions {
                return_new_document: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(after, Some(doc! {"_id": 4, "owner": "alice", "v": 2}));
    let deleted = coll
        .find_one_and_delete(&doc! {"_id": 4}, &FindOneAndOptions::default())
        .await
        .unwrap();
    assert!(deleted.is_some());
    // upsert: inserts when nothing matches, provided insert and write allow it
    let r = coll
        .update_one(
            &doc! {"_id": 9, "owner": "alice"},
            &doc! {"$set": {"n": 9}},
            true,
        )
        .await
        .unwrap();
    assert_eq!(r.upserted_id, Some(Bson::Int32(9)));
    denied(
        coll.update_one(
            &doc! {"_id": 10, "owner": "bob"},
            &doc! {"$set": {"n": 9}},
            true,
        )
        .await,
    );
    // find options: sort, skip, limit, projection
    let page = coll
        .find(
            &doc! {},
            &FindOptions {
                sort: Some(doc! {"_id": -1}),
                skip: 1,
                limit: Some(2),
                projection: Some(doc! {"n": 1}),
            },
        )
        .await
        .unwrap();
    assert_eq!(page, vec![doc! {"_id": 3}, doc! {"_id": 1, "n": 11}]);
}

#[tokio::test]
async fn denials_name_the_role_and_the_rule_and_explain_themselves() {
    let roles = r#"[{"name": "reader", "apply_when": {}, "read": true, "fields": {"title": {"write": {"%%user.custom_data.editor": true}}}}]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let store = store_with(vec![doc! {"_id": 1, "title": "t"}]);
    let coll = app
        .collection(&store, alice(), "db", "coll")
        .unwrap()
        .explained();
    let message = denied(
        coll.update_one(&doc! {"_id": 1}, &doc! {"$set": {"title": "x"}}, false)
            .await,
    );
    assert!(message.starts_with("update not permitted for document with _id: 1: role \"reader\" denies it (field title is not writable)"), "{message}");
    assert!(message.contains("rules.json:"), "{message}");
    let trace = coll.take_trace().join("\n");
    assert!(trace.contains("fields.title.write: false"), "{trace}");
    assert!(
        trace.contains("%%user.custom_data.editor = missing"),
        "{trace}"
    );
}

#[tokio::test]
async fn store_seed_and_unique_indexes() {
    let store = MemoryStore::new();
    let ns = Namespace::new("db", "coll");
    store
        .create_unique_index(&ns, &["email".into()])
        .await
        .unwrap();
    store
        .seed(&doc! {"db.coll": [{"_id": 1, "email": "a"}]})
        .unwrap();
    let err = store
        .seed(&doc! {"db.coll": [{"_id": 2, "email": "a"}]})
        .unwrap_err();
    assert!(
        err.to_string().starts_with("E11000 duplicate key error"),
        "{err}"
    );
    let err = store.seed(&doc! {"db.coll": [{"_id": 1}]}).unwrap_err();
    assert!(err.to_string().contains("_id_"), "{err}");
}

#[test]
fn the_rules_footprint_names_what_decisions_read() {
    let footprint = |text: &str| {
        expanse::rules::CollectionRules::parse(text, "rules.json")
            .unwrap()
            .footprint()
    };
    let f = footprint(
        r#"{"roles": [
            {"name": "new", "apply_when": {"%%prevRoot": {"%exists": false}}, "insert": true},
            {"name": "owner", "apply_when": {"%%root.owner_id": "%%user.id"},
             "write": {"%%prevRoot.meta.locked": {"$ne": true}},
             "fields": {"title": {"write": {"%%this": {"$type": "string"}}}}}
        ], "filters": [{"name": "live", "apply_when": {}, "query": {"archived": {"$ne": true}}}]}"#,
    );
    assert!(!f.is_whole());
    assert_eq!(
        f.fields().collect::<Vec<_>>(),
        ["archived", "meta", "owner_id", "title"]
    );
    // Rules that compare the whole document, or hand it to a function, read everything.
    assert!(footprint(
        r#"{"roles": [{"name": "r", "apply_when": {"%%root": {"$eq": {"a": 1}}}, "write": true}]}"#
    )
    .is_whole());
    assert!(footprint(
        r#"{"roles": [{"name": "r", "apply_when": {"%%true": {"%function": {"name": "f", "arguments": ["%%root.a"]}}}, "write": true}]}"#
    )
    .is_whole());
}

#[test]
fn the_write_filter_never_allows_what_the_in_process_check_denies() {
    use expanse::rules::WriteKind;
    use expanse::update::Update;
    let rules = expanse::rules::CollectionRules::parse(
        r#"{"roles": [
            {"name": "editor", "apply_when": {"owner_id": "%%user.id"},
             "fields": {"title": {"fields": {"sub": {"write": true}}}, "n": {"write": true}}},
            {"name": "owner", "apply_when": {"%%user.custom_data.admin": true}, "write": {"locked": {"$ne": true}}}
        ]}"#,
        "rules.json",
    )
    .unwrap();
    let user = expanse::User::new("u1").with_custom_data(bson::doc! {"admin": true});
    let empty = bson::Document::new();
    let decider = decider_for(&rules, &user, &empty);
    let written = |update: &bson::Document| Update::parse(update).unwrap().written_paths().unwrap();
    // Writing `title.sub` where `title` is missing changes `title` as a whole, which only
    // `fields.title.write` could allow: the filter must not claim the editor may.
    let filter = decider
        .write_filter(&written(&bson::doc! {"$set": {"title.sub": 1}}))
        .unwrap();
    let pre = bson::doc! {"_id": 1, "owner_id": "u1"};
    let update = Update::parse(&bson::doc! {"$set": {"title.sub": 1}}).unwrap();
    let post = update.apply(&pre, false).unwrap();
    assert!(decider
        .check_update(WriteKind::Update, &pre, &post, false)
        .is_err());
    assert!(!expanse::query::Filter::parse(&filter)
        .unwrap()
        .matches(&pre));
    // `n` is writable for the editor; for anyone else the second role decides on `locked`.
    let filter = decider
        .write_filter(&written(&bson::doc! {"$inc": {"n": 1}}))
        .unwrap();
    assert_eq!(
        filter,
        bson::doc! {"$or": [
            {"owner_id": {"$eq": "u1"}},
            {"$and": [{"$nor": [{"owner_id": {"$eq": "u1"}}]}, {"locked": {"$ne": true}}]}
        ]}
    );
    // An expression field rule depends on the written value: no filter.
    let rules = expanse::rules::CollectionRules::parse(
        r#"{"roles": [{"name": "r", "apply_when": {}, "fields": {"n": {"write": {"%%this": {"$gt": 0}}}}}]}"#,
        "rules.json",
    )
    .unwrap();
    let decider = decider_for(&rules, &user, &empty);
    assert!(decider
        .write_filter(&written(&bson::doc! {"$set": {"n": 1}}))
        .is_none());
    // `document_filters.write` sees no `%%prevRoot` in process: not pushed down (a filter
    // reading it as the stored document would allow what the in-process check refuses).
    let rules = expanse::rules::CollectionRules::parse(
        r#"{"roles": [{"name": "r", "apply_when": {}, "write": true,
            "document_filters": {"write": {"%%prevRoot.owner_id": "%%user.id"}}}]}"#,
        "rules.json",
    )
    .unwrap();
    let decider = decider_for(&rules, &user, &empty);
    let pre = bson::doc! {"_id": 1, "owner_id": "u1", "n": 0};
    let post = bson::doc! {"_id": 1, "owner_id": "u1", "n": 1};
    assert!(decider
        .check_update(WriteKind::Update, &pre, &post, false)
        .is_err());
    assert!(decider
        .write_filter(&written(&bson::doc! {"$set": {"n": 1}}))
        .is_none());
}

#[tokio::test]
async fn insert_and_delete_refusals_name_the_roles_own_permission() {
    // The role may write some fields only; its own insert/delete is false.
    let roles = r#"[{"name": "clerk", "apply_when": {}, "insert": false, "delete": false,
        "fields": {"title": {"write": true}}, "additional_fields": {"read": true}}]"#;
    let (_d, app) = app_with_rules(&rules(roles, "[]"));
    let store = store_with(vec![doc! {"_id": 1, "title": "a"}]);
    let coll = app.collection(&store, alice(), "db", "coll").unwrap();
    let err = denied(coll.insert_one(doc! {"_id": 2, "title": "b"}).await);
    assert!(err.contains("insert is false"), "{err}");
    let err = denied(coll.delete_one(&doc! {"_id": 1}).await);
    assert!(err.contains("delete is false"), "{err}");
}
