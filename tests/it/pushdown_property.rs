//! Push-down and in-process evaluation always agree: over random users, roles and documents,
//! the pushed-down filter never drops a document the rules allow, equals the allowed set when
//! it says it is exact, and a guarded find returns exactly the allowed documents with no field
//! the user may not read. `EXPANSE_PROPERTY_CASES` sets the number of cases (400 by default).

use bson::{doc, Bson, Document};
use expanse::expr::KnownFields;
use expanse::query::{conjoin, Filter};
use expanse::rules::{CollectionRules, Decider, RequestContext, WriteKind};
use expanse::store::{FindOptions, MemoryStore};
use expanse::update::Update;
use expanse::User;
use proptest::prelude::*;

const APPLY_WHEN: &[&str] = &[
    "{}",
    r#"{"owner": "%%user.id"}"#,
    r#"{"team": "%%user.custom_data.team"}"#,
    r#"{"%%user.custom_data.admin": true}"#,
    r#"{"level": {"$gte": 2}}"#,
    r#"{"tags": "%%user.custom_data.tag"}"#,
    r#"{"%or": [{"owner": "%%user.id"}, {"published": true}]}"#,
    r#"{"owner": {"$in": "%%user.custom_data.friends"}}"#,
    r#"{"team": {"$ne": "%%user.custom_data.team"}}"#,
    r#"{"level": {"$nin": [0, 3]}}"#,
    r#"{"%%prevRoot.owner": "%%user.id"}"#,
    r#"{"owner": {"$exists": false}}"#,
];
const PERMISSIONS: &[Option<&str>] = &[
    None,
    Some("true"),
    Some("false"),
    Some(r#"{"published": true}"#),
    Some(r#"{"owner": "%%user.id"}"#),
    Some(r#"{"%%prevRoot": {"%exists": false}}"#),
    Some(r#"{"%%user.custom_data.admin": true}"#),
];
const FIELD_RULES: &[Option<&str>] = &[
    None,
    Some(r#"{"owner": {"read": true}}"#),
    Some(r#"{"secret": {"read": false}, "title": {"read": true}}"#),
    Some(r#"{"title": {"read": {"published": true}}}"#),
    Some(r#"{"title": {"write": true}, "secret": {"write": false}}"#),
    Some(r#"{"title": {"fields": {"sub": {"write": true}}}, "level": {"write": true}}"#),
    Some(r#"{"title": {"write": {"%%this": {"$type": "string"}}}}"#),
];
const ADDITIONAL: &[Option<&str>] = &[
    None,
    Some(r#"{"read": true}"#),
    Some(r#"{"write": true}"#),
    Some("{}"),
];
const GATES: &[Option<&str>] = &[
    None,
    Some(r#"{"read": {"published": true}}"#),
    Some(r#"{"write": {"owner": "%%user.id"}}"#),
    Some(r#"{}"#),
];

fn role_strategy() -> impl Strategy<Value = String> {
    (
        0..APPLY_WHEN.len(),
        0..PERMISSIONS.len(),
        0..PERMISSIONS.len(),
        0..FIELD_RULES.len(),
        0..ADDITIONAL.len(),
        0..GATES.len(),
    )
        .prop_map(|(a, r, w, f, x, g)| {
            let mut role = format!(r#""apply_when": {}"#, APPLY_WHEN[a]);
            if let Some(p) = PERMISSIONS[r] {
                role.push_str(&format!(r#", "read": {p}"#));
            }
            if let Some(p) = PERMISSIONS[w] {
                role.push_str(&format!(r#", "write": {p}"#));
            }
            if let Some(p) = FIELD_RULES[f] {
                role.push_str(&format!(r#", "fields": {p}"#));
            }
            if let Some(p) = ADDITIONAL[x] {
                role.push_str(&format!(r#", "additional_fields": {p}"#));
            }
            if let Some(p) = GATES[g] {
                role.push_str(&format!(r#", "document_filters": {p}"#));
            }
            role
        })
}

/// Document-level `write` permissions that read what an update may write (`%%root` is the
/// post-image, `%%prevRoot` the stored document).
const POST_IMAGE_WRITES: &[&str] = &[
    r#"{"published": true}"#,
    r#"{"owner": "%%user.id"}"#,
    r#"{"level": {"$gte": 2}, "published": {"$ne": false}}"#,
    r#"{"%%prevRoot.level": {"$lt": 3}, "level": {"$lte": 3}}"#,
    r#"{"%or": [{"level": {"$exists": false}}, {"tags": "%%user.custom_data.tag"}]}"#,
    r#"{"%%root.title.sub": {"$exists": true}}"#,
    r#"{"level": {"$gt": "%%prevRoot.level"}}"#,
    r#"{"owner": {"$in": "%%user.custom_data.friends"}}"#,
    r#"{"tags": {"$nin": ["red", 2]}, "team": {"$ne": "%%user.custom_data.team"}}"#,
    r#"{"%%prevRoot.owner": "%%user.id", "owner": {"$exists": true}}"#,
];

/// A role whose document-level `write` reads the post-image.
fn post_image_role_strategy() -> impl Strategy<Value = String> {
    (
        0..APPLY_WHEN.len(),
        0..POST_IMAGE_WRITES.len(),
        0..GATES.len(),
    )
        .prop_map(|(a, w, g)| {
            let mut role = format!(
                r#""apply_when": {}, "write": {}"#,
                APPLY_WHEN[a], POST_IMAGE_WRITES[w]
            );
            if let Some(p) = GATES[g] {
                role.push_str(&format!(r#", "document_filters": {p}"#));
            }
            role
        })
}

/// The roles as a JSON array body, each named by its position so that a role drawn twice
/// still has a unique name.
fn roles_json(roles: &[String]) -> String {
    roles
        .iter()
        .enumerate()
        .map(|(i, body)| format!(r#"{{"name": "r{i}", {body}}}"#))
        .collect::<Vec<_>>()
        .join(",")
}

fn value_strategy() -> impl Strategy<Value = Bson> {
    prop_oneof![
        Just(Bson::String("u1".into())),
        Just(Bson::String("u2".into())),
        Just(Bson::String("red".into())),
        Just(Bson::String("blue".into())),
        Just(Bson::Null),
        (0..4i32).prop_map(Bson::Int32),
        Just(Bson::Array(vec![
            Bson::String("u1".into()),
            Bson::String("u3".into())
        ])),
        Just(Bson::Array(vec![])),
        Just(Bson::Document(doc! {"$ne": null})),
        Just(Bson::String("%%user.id".into())),
        any::<bool>().prop_map(Bson::Boolean),
    ]
}

fn document_strategy() -> impl Strategy<Value = Vec<(usize, Option<Bson>)>> {
    proptest::collection::vec((0..7usize, proptest::option::of(value_strategy())), 0..7)
}

const FIELDS: &[&str] = &[
    "owner",
    "team",
    "level",
    "tags",
    "published",
    "title",
    "secret",
];

fn build_document(id: i32, fields: &[(usize, Option<Bson>)]) -> Document {
    let mut d = doc! {"_id": id};
    for (f, v) in fields {
        if let Some(v) = v {
            d.insert(FIELDS[*f], v.clone());
        }
    }
    d
}

/// The rules file holding `roles`, and its compiled rules.
fn parse_roles(roles: &[String]) -> (String, CollectionRules) {
    let text = format!(r#"{{"roles": [{}]}}"#, roles_json(roles));
    let rules =
        CollectionRules::parse(&text, "rules.json").unwrap_or_else(|e| panic!("{text}: {e:?}"));
    (text, rules)
}

/// A caller's query: a few field conditions, some of them equalities a rule clause may repeat.
fn query_strategy() -> impl Strategy<Value = Document> {
    let clause = (0..7usize, value_strategy(), 0..4usize).prop_map(|(f, v, form)| {
        let field = FIELDS[f];
        match form {
            0 => doc! {field: v},
            1 => doc! {field: {"$eq": v}},
            2 => doc! {field: {"$ne": v}},
            _ => doc! {"$or": [{field: v}, {"level": {"$gt": 1}}]},
        }
    });
    proptest::collection::vec(clause, 0..4).prop_map(|clauses| {
        let mut query = Document::new();
        let mut rest = Vec::new();
        for c in clauses {
            if c.keys().all(|k| !query.contains_key(k)) {
                query.extend(c);
            } else {
                rest.push(Bson::Document(c));
            }
        }
        if !rest.is_empty() {
            query.insert("$and", rest);
        }
        query
    })
}

fn user_strategy() -> impl Strategy<Value = User> {
    (
        prop_oneof![Just("u1"), Just("u2"), Just("u3")],
        proptest::option::of(value_strategy()),
        proptest::option::of(value_strategy()),
        any::<bool>(),
        proptest::option::of(value_strategy()),
    )
        .prop_map(|(id, team, tag, admin, friends)| {
            let mut custom = doc! {"admin": admin};
            if let Some(t) = team {
                custom.insert("team", t);
            }
            if let Some(t) = tag {
                custom.insert("tag", t);
            }
            if let Some(f) = friends {
                custom.insert("friends", f);
            }
            User::new(id).with_custom_data(custom)
        })
}

/// The update of `sets` (a field index, `Some` value to `$set` or `None` to `$unset`; index 7 is
/// the dotted `title.sub`).
fn set_and_unset(sets: &[(usize, Option<Bson>)]) -> Document {
    let mut set = Document::new();
    let mut unset = Document::new();
    for (f, v) in sets {
        let path = if *f == 7 { "title.sub" } else { FIELDS[*f] };
        match v {
            Some(v) => {
                set.insert(path, v.clone());
            }
            None => {
                unset.insert(path, "");
            }
        }
    }
    let mut raw = Document::new();
    if !set.is_empty() {
        raw.insert("$set", set);
    }
    if !unset.is_empty() {
        raw.insert("$unset", unset);
    }
    raw
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("EXPANSE_PROPERTY_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(400)))]

    #[test]
    fn push_down_agrees_with_in_process_evaluation(
        roles in proptest::collection::vec(role_strategy(), 1..4),
        user in user_strategy(),
        docs in proptest::collection::vec(document_strategy(), 1..12),
    ) {
        let (text, rules) = parse_roles(&roles);
        let empty = Document::new();
        let request = RequestContext { user: &user, values: &empty, environment: &empty, request: None, functions: None };
        let decider = Decider::new(&rules, request);
        let documents: Vec<Document> = docs.iter().enumerate().map(|(i, f)| build_document(i as i32, f)).collect();

        let pushed = decider.read_filter();
        let filter = Filter::parse(&pushed.filter.to_document()).expect("pushed filters are valid queries");
        for doc in &documents {
            let allowed = decider.read(doc, &mut None).is_some();
            let matched = filter.matches(doc);
            prop_assert!(!allowed || matched, "pushed filter dropped an allowed document\nrules {}\nuser {:?}\ndoc {}\nfilter {}", text, user.document(), doc, pushed.filter.to_document());
            if pushed.exact {
                prop_assert_eq!(allowed, matched, "exact push-down disagrees\nrules {}\nuser {:?}\ndoc {}\nfilter {}", text, user.document(), doc, pushed.filter.to_document());
            }
        }
    }

    #[test]
    fn conjoining_a_query_with_pushed_rules_keeps_its_meaning(
        roles in proptest::collection::vec(role_strategy(), 1..4),
        user in user_strategy(),
        query in query_strategy(),
        docs in proptest::collection::vec(document_strategy(), 1..12),
    ) {
        let (_, rules) = parse_roles(&roles);
        let empty = Document::new();
        let request = RequestContext { user: &user, values: &empty, environment: &empty, request: None, functions: None };
        let pushed = Decider::new(&rules, request).read_filter().filter.to_document();
        let plain = doc! {"$and": [query.clone(), pushed.clone()]};
        let conjoined = conjoin(vec![query, pushed]);
        let (Ok(plain_filter), Ok(conjoined_filter)) = (Filter::parse(&plain), Filter::parse(&conjoined)) else {
            return Err(TestCaseError::fail(format!("unparsable: {plain} / {conjoined}")));
        };
        for (i, fields) in docs.iter().enumerate() {
            let doc = build_document(i as i32, fields);
            prop_assert_eq!(plain_filter.matches(&doc), conjoined_filter.matches(&doc), "{} vs {} on {}", plain, conjoined, doc);
        }
    }

    /// The one-round-trip update is sound: a document the pushed write filter matches is one
    /// the in-process check lets the user change with that update.
    #[test]
    fn a_document_the_write_filter_matches_may_be_written(
        roles in proptest::collection::vec(role_strategy(), 1..4),
        user in user_strategy(),
        docs in proptest::collection::vec(document_strategy(), 1..10),
        sets in proptest::collection::vec((0..8usize, proptest::option::of(value_strategy())), 1..3),
    ) {
        let (text, rules) = parse_roles(&roles);
        let empty = Document::new();
        let request = RequestContext { user: &user, values: &empty, environment: &empty, request: None, functions: None };
        let decider = Decider::new(&rules, request);
        let raw = set_and_unset(&sets);
        let Ok(update) = Update::parse(&raw) else { return Ok(()); };
        let written = update.written_paths().unwrap();
        let footprint = rules.footprint();
        if footprint.is_whole() || written.iter().any(|p| footprint.fields().any(|f| f == p[0])) {
            return Ok(());
        }
        let Some(filter) = decider.write_filter(&written) else { return Ok(()); };
        let filter = Filter::parse(&filter).expect("write filters are valid queries");
        for (i, fields) in docs.iter().enumerate() {
            let pre = build_document(i as i32, fields);
            if !filter.matches(&pre) {
                continue;
            }
            let Ok(post) = update.apply(&pre, false) else { continue };
            let verdict = decider.check_update(WriteKind::Update, &pre, &post, false);
            prop_assert!(verdict.is_ok(), "write filter allowed a denied write\nrules {}\nuser {:?}\nupdate {}\ndoc {}\n{:?}", text, user.document(), raw, pre, verdict.err());
        }
    }

    /// The same, for updates that write fields the roles' `apply_when`, document filters or
    /// `read` read (the role is chosen on the stored document either way): only a field a
    /// document-level `write` reads (decided on the post-image) keeps the update off the
    /// one-round-trip path (`CollectionRules::post_image_footprint`).
    #[test]
    fn a_document_the_write_filter_matches_may_be_written_even_when_the_role_reads_it(
        roles in proptest::collection::vec(role_strategy(), 1..4),
        user in user_strategy(),
        docs in proptest::collection::vec(document_strategy(), 1..10),
        sets in proptest::collection::vec((0..8usize, proptest::option::of(value_strategy())), 1..3),
    ) {
        let (text, rules) = parse_roles(&roles);
        let empty = Document::new();
        let request = RequestContext { user: &user, values: &empty, environment: &empty, request: None, functions: None };
        let decider = Decider::new(&rules, request);
        let raw = set_and_unset(&sets);
        let Ok(update) = Update::parse(&raw) else { return Ok(()); };
        let written = update.written_paths().unwrap();
        let post_read = rules.post_image_footprint();
        if post_read.is_whole() || written.iter().any(|p| post_read.fields().any(|f| f == p[0])) {
            return Ok(());
        }
        let Some(filter) = decider.write_filter(&written) else { return Ok(()); };
        let filter = Filter::parse(&filter).expect("write filters are valid queries");
        for (i, fields) in docs.iter().enumerate() {
            let pre = build_document(i as i32, fields);
            if !filter.matches(&pre) {
                continue;
            }
            let Ok(post) = update.apply(&pre, false) else { continue };
            let verdict = decider.check_update(WriteKind::Update, &pre, &post, false);
            prop_assert!(verdict.is_ok(), "write filter allowed a denied write\nrules {}\nuser {:?}\nupdate {}\ndoc {}\n{:?}", text, user.document(), raw, pre, verdict.err());
        }
    }

    /// Updates that write fields a document-level `write` reads, as whole top-level fields set
    /// to literals or removed: the write filter decided on those values
    /// ([`Decider::write_filter_with`]) matches a stored document exactly when the in-process
    /// check lets the user change it (both ways, when every role decides by a document-level
    /// `write`; a field-rule role is only checked one way, as above).
    #[test]
    fn the_write_filter_on_the_known_post_image_matches_exactly_the_allowed_documents(
        roles in proptest::collection::vec(post_image_role_strategy(), 1..4),
        user in user_strategy(),
        docs in proptest::collection::vec(document_strategy(), 1..10),
        sets in proptest::collection::vec((0..8usize, proptest::option::of(value_strategy())), 1..3),
        field_roles in any::<bool>(),
        field_role in role_strategy(),
    ) {
        let mut roles = roles;
        if field_roles {
            roles.push(field_role);
        }
        let (text, rules) = parse_roles(&roles);
        let empty = Document::new();
        let request = RequestContext { user: &user, values: &empty, environment: &empty, request: None, functions: None };
        let decider = Decider::new(&rules, request);
        let raw = set_and_unset(&sets);
        let known = KnownFields::of_update(&raw);
        let Ok(update) = Update::parse(&raw) else { return Ok(()); };
        let written = update.written_paths().unwrap();
        // The guard's conditions: every written field `write` reads is known.
        let post_read = rules.post_image_footprint();
        let read_written: Vec<&Vec<String>> = written.iter().filter(|p| post_read.fields().any(|f| f == p[0])).collect();
        if post_read.is_whole() || read_written.iter().any(|p| p.len() != 1 || !known.contains(&p[0])) {
            return Ok(());
        }
        let Some(filter) = decider.write_filter_with(&written, Some(&known)) else { return Ok(()); };
        let filter = Filter::parse(&filter).expect("write filters are valid queries");
        for (i, fields) in docs.iter().enumerate() {
            let pre = build_document(i as i32, fields);
            let Ok(post) = update.apply(&pre, false) else { continue };
            let verdict = decider.check_update(WriteKind::Update, &pre, &post, false);
            let matched = filter.matches(&pre);
            if matched || !field_roles {
                prop_assert_eq!(matched, verdict.is_ok(), "write filter and in-process check disagree\nrules {}\nuser {:?}\nupdate {}\ndoc {}\n{:?}", text, user.document(), raw, pre, verdict.err());
            }
        }
    }

    #[test]
    fn guarded_find_returns_exactly_the_allowed_documents_and_fields(
        roles in proptest::collection::vec(role_strategy(), 1..4),
        user in user_strategy(),
        docs in proptest::collection::vec(document_strategy(), 1..10),
    ) {
        let text = format!(r#"{{"database": "db", "collection": "coll", "roles": [{}]}}"#, roles_json(&roles));
        let dir = tempfile::tempdir().unwrap();
        let rules_dir = dir.path().join("data_sources/mongodb-atlas/db/coll");
        std::fs::create_dir_all(&rules_dir).unwrap();
        std::fs::write(rules_dir.join("rules.json"), &text).unwrap();
        std::fs::write(dir.path().join("root_config.json"), "{}").unwrap();
        let app = expanse::App::load(dir.path()).unwrap().app;
        let documents: Vec<Document> = docs.iter().enumerate().map(|(i, f)| build_document(i as i32, f)).collect();
        let store = MemoryStore::new();
        store.seed(&doc! {"db.coll": documents.iter().cloned().map(Bson::Document).collect::<Vec<_>>()}).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let found = runtime.block_on(async {
            app.collection(&store, &user, "db", "coll").unwrap().find(&doc! {}, &FindOptions::default()).await.unwrap()
        });
        let rules = app.rules("mongodb-atlas", "db", "coll").unwrap();
        let values = Document::new();
        let request = RequestContext { user: &user, values: &values, environment: &app.environment, request: None, functions: None };
        let decider = Decider::new(rules, request);
        let allowed: Vec<(&Document, Document)> = documents
            .iter()
            .filter_map(|d| decider.read(d, &mut None).map(|shown| (d, shown)))
            .collect();
        let expected: Vec<Document> = allowed.iter().map(|(_, shown)| shown.clone()).collect();
        prop_assert_eq!(&found, &expected);
        // No returned field is one the user may not read: every returned field is present in the
        // original document with the same value, and a field rule `read: false` (with no write)
        // never lets its field through. Results come back in insertion order, so each returned
        // document pairs with the allowed original at the same position (a returned document
        // may lack `_id` when a field rule hides it).
        for (returned, (original, _)) in found.iter().zip(&allowed) {
            let original = *original;
            for (k, v) in returned {
                prop_assert_eq!(original.get(k), Some(v));
            }
            if text.contains(r#""secret": {"read": false}"#) && !text.contains(r#""read": true, "write""#) {
                let role = decider.role_for(original, Some(original), &mut None).unwrap();
                let hides_secret = role.read.is_none() && role.write.is_none() && role.field("secret").is_some();
                if hides_secret {
                    prop_assert!(!returned.contains_key("secret"), "secret leaked: {}", returned);
                }
            }
        }
    }
}

#[test]
fn roles_that_show_everything_they_apply_to_need_no_exclusions() {
    let rules = CollectionRules::parse(
        r#"{"roles": [
            {"name": "owner", "apply_when": {"owner_id": "%%user.id"}, "read": true},
            {"name": "shared", "apply_when": {"shared_with": "%%user.id"}, "read": true}
        ]}"#,
        "rules.json",
    )
    .unwrap();
    let user = User::new("u7");
    let (values, environment) = (Document::new(), Document::new());
    let request = RequestContext {
        user: &user,
        values: &values,
        environment: &environment,
        request: None,
        functions: None,
    };
    let pushed = Decider::new(&rules, request).read_filter();
    assert!(pushed.exact);
    assert_eq!(
        pushed.filter.to_document(),
        doc! {"$or": [{"owner_id": {"$eq": "u7"}}, {"shared_with": {"$eq": "u7"}}]}
    );
}
