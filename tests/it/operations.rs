//! One dispatcher: every SDK collection operation gives the same result and leaves the same data
//! whoever makes it — a JavaScript function (positional arguments), a fixture test, a Rust
//! function using the typed `Context` methods, and an App Services service call (named
//! arguments, as realm-web sends them) — as a user the rules apply to.

use std::sync::Arc;

use bson::{bson, doc, Bson, Document};
use expanse::fixture::{parse_fixture, run_fixture, MemorySandbox};
use expanse::functions::{Context, Functions};
use expanse::guard::{FindOneAndOptions, UpdateOptions};
use expanse::operation::{Operation, OperationError, ServiceCall};
use expanse::rules::Coverage;
use expanse::store::{FindOptions, MemoryStore, Namespace};
use expanse::{App, User};

use crate::common::apps::write_app;

const RULES: &str = r#"{
  "database": "db", "collection": "items",
  "roles": [
    {"name": "owner", "apply_when": {"owner": "%%user.id"},
     "read": true, "write": true, "insert": true, "delete": true, "search": true},
    {"name": "others", "apply_when": {},
     "fields": {"title": {"read": true}}, "insert": false, "delete": false, "search": true}
  ],
  "filters": []
}"#;

const JS_OP: &str = r#"exports = async (method, args) => {
  const items = context.services.get("mongodb-atlas").db("db").collection("items");
  const r = items[method](...args);
  return method === "find" || method === "aggregate" ? r.toArray() : r;
};"#;

fn seed() -> Document {
    doc! {"db.items": [
        {"_id": 1, "owner": "u1", "title": "a", "n": 1, "tags": ["x", "y"]},
        {"_id": 2, "owner": "u1", "title": "b", "n": 2, "tags": ["y"]},
        {"_id": 3, "owner": "u2", "title": "c", "n": 3, "secret": "s"},
    ]}
}

fn ns() -> Namespace {
    Namespace::new("db", "items")
}

/// One operation, written in each caller's shape.
struct Case {
    name: &'static str,
    /// The positional arguments (JavaScript, the Rust typed methods).
    positional: Bson,
    /// The service call's argument document, without `database` and `collection`.
    service: Bson,
    /// The fixture test's argument keys.
    fixture: Bson,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "find",
            positional: bson!([{"n": {"$gte": 1}}, {"title": 1}, {"sort": {"n": -1}, "limit": 2}]),
            service: bson!({"query": {"n": {"$gte": 1}}, "project": {"title": 1}, "sort": {"n": -1}, "limit": 2}),
            fixture: bson!({"query": {"n": {"$gte": 1}}, "projection": {"title": 1}, "sort": {"n": -1}, "limit": 2}),
        },
        Case {
            name: "findOne",
            positional: bson!([{"owner": "u1"}, {"title": 1, "_id": 0}, {"sort": {"n": -1}}]),
            service: bson!({"query": {"owner": "u1"}, "project": {"title": 1, "_id": 0}, "sort": {"n": -1}}),
            fixture: bson!({"query": {"owner": "u1"}, "projection": {"title": 1, "_id": 0}, "sort": {"n": -1}}),
        },
        Case {
            name: "count",
            positional: bson!([{"n": {"$gt": 1}}]),
            service: bson!({"query": {"n": {"$gt": 1}}}),
            fixture: bson!({"query": {"n": {"$gt": 1}}}),
        },
        Case {
            name: "aggregate",
            positional: bson!([[{"$sort": {"_id": 1}}, {"$project": {"title": 1, "n": 1}}]]),
            service: bson!({"pipeline": [{"$sort": {"_id": 1}}, {"$project": {"title": 1, "n": 1}}]}),
            fixture: bson!({"pipeline": [{"$sort": {"_id": 1}}, {"$project": {"title": 1, "n": 1}}]}),
        },
        Case {
            name: "insertOne",
            positional: bson!([{"_id": 4, "owner": "u1", "title": "d"}]),
            service: bson!({"document": {"_id": 4, "owner": "u1", "title": "d"}}),
            fixture: bson!({"document": {"_id": 4, "owner": "u1", "title": "d"}}),
        },
        Case {
            name: "insertMany",
            positional: bson!([[{"_id": 4, "owner": "u1"}, {"_id": 5, "owner": "u1"}]]),
            service: bson!({"documents": [{"_id": 4, "owner": "u1"}, {"_id": 5, "owner": "u1"}]}),
            fixture: bson!({"documents": [{"_id": 4, "owner": "u1"}, {"_id": 5, "owner": "u1"}]}),
        },
        Case {
            name: "updateOne",
            positional: bson!([{"_id": 1}, {"$set": {"tags.$[t]": "q"}}, {"arrayFilters": [{"t": "x"}]}]),
            service: bson!({"query": {"_id": 1}, "update": {"$set": {"tags.$[t]": "q"}}, "arrayFilters": [{"t": "x"}]}),
            fixture: bson!({"query": {"_id": 1}, "update": {"$set": {"tags.$[t]": "q"}}, "arrayFilters": [{"t": "x"}]}),
        },
        Case {
            name: "updateOne",
            positional: bson!([{"_id": 9, "owner": "u1"}, {"$set": {"title": "new"}}, {"upsert": true}]),
            service: bson!({"query": {"_id": 9, "owner": "u1"}, "update": {"$set": {"title": "new"}}, "upsert": true}),
            fixture: bson!({"query": {"_id": 9, "owner": "u1"}, "update": {"$set": {"title": "new"}}, "upsert": true}),
        },
        Case {
            name: "updateOne",
            positional: bson!([{"title": "c"}, {"$set": {"title": "mine now"}}]),
            service: bson!({"query": {"title": "c"}, "update": {"$set": {"title": "mine now"}}}),
            fixture: bson!({"query": {"title": "c"}, "update": {"$set": {"title": "mine now"}}}),
        },
        Case {
            name: "updateMany",
            positional: bson!([{"owner": "u1"}, {"$inc": {"n": 10}}, {"upsert": false}]),
            service: bson!({"query": {"owner": "u1"}, "update": {"$inc": {"n": 10}}, "upsert": false}),
            fixture: bson!({"query": {"owner": "u1"}, "update": {"$inc": {"n": 10}}, "upsert": false}),
        },
        Case {
            name: "replaceOne",
            positional: bson!([{"_id": 2}, {"owner": "u1", "title": "r"}, {"upsert": true}]),
            service: bson!({"query": {"_id": 2}, "replacement": {"owner": "u1", "title": "r"}, "upsert": true}),
            fixture: bson!({"query": {"_id": 2}, "replacement": {"owner": "u1", "title": "r"}, "upsert": true}),
        },
        Case {
            name: "deleteOne",
            positional: bson!([{"_id": 1}]),
            service: bson!({"query": {"_id": 1}}),
            fixture: bson!({"query": {"_id": 1}}),
        },
        Case {
            name: "deleteMany",
            positional: bson!([{"owner": "u1"}]),
            service: bson!({"query": {"owner": "u1"}}),
            fixture: bson!({"query": {"owner": "u1"}}),
        },
        Case {
            name: "findOneAndUpdate",
            positional: bson!([{"owner": "u1"}, {"$set": {"title": "f"}}, {"sort": {"n": -1}, "projection": {"title": 1}, "returnNewDocument": true}]),
            service: bson!({"filter": {"owner": "u1"}, "update": {"$set": {"title": "f"}}, "sort": {"n": -1}, "projection": {"title": 1}, "returnNewDocument": true}),
            fixture: bson!({"query": {"owner": "u1"}, "update": {"$set": {"title": "f"}}, "sort": {"n": -1}, "projection": {"title": 1}, "returnNewDocument": true}),
        },
        Case {
            name: "findOneAndReplace",
            positional: bson!([{"_id": 1}, {"owner": "u1", "title": "R"}, {"returnNewDocument": true}]),
            service: bson!({"filter": {"_id": 1}, "update": {"owner": "u1", "title": "R"}, "returnNewDocument": true}),
            fixture: bson!({"query": {"_id": 1}, "replacement": {"owner": "u1", "title": "R"}, "returnNewDocument": true}),
        },
        Case {
            name: "findOneAndDelete",
            positional: bson!([{"owner": "u1"}, {"sort": {"n": 1}, "projection": {"n": 1}}]),
            service: bson!({"filter": {"owner": "u1"}, "sort": {"n": 1}, "projection": {"n": 1}}),
            fixture: bson!({"query": {"owner": "u1"}, "sort": {"n": 1}, "projection": {"n": 1}}),
        },
    ]
}

/// What one caller got: the encoded result (or that it was refused), and the data afterwards.
#[derive(Debug, PartialEq)]
struct Outcome {
    result: Result<Bson, ()>,
    data: Vec<Document>,
}

fn app() -> (tempfile::TempDir, Arc<App>) {
    let dir = write_app(&[
        ("root_config.json", r#"{"name": "ops"}"#),
        (
            "data_sources/mongodb-atlas/config.json",
            r#"{"name": "mongodb-atlas", "type": "mongodb-atlas"}"#,
        ),
        ("data_sources/mongodb-atlas/db/items/rules.json", RULES),
        (
            "functions/config.json",
            r#"[{"name": "jsOp", "private": false}, {"name": "rustOp", "private": false}]"#,
        ),
        ("functions/jsOp.js", JS_OP),
        // Registered in Rust by the tests (a Rust implementation wins); the fixture runner,
        // which registers nothing, needs a source to load the app's functions.
        (
            "functions/rustOp.js",
            r#"exports = () => { throw new Error("registered in Rust"); };"#,
        ),
    ]);
    let app = Arc::new(App::load(dir.path()).expect("app loads").app);
    (dir, app)
}

fn store() -> MemoryStore {
    let store = MemoryStore::new();
    store.seed(&seed()).expect("seeded");
    store
}

fn functions(app: &Arc<App>, store: &MemoryStore) -> Functions<MemoryStore> {
    Functions::builder(app.clone(), store.clone())
        .register(
            "rustOp",
            |ctx: Context<MemoryStore>, args: Vec<Bson>| async move {
                let method = args
                    .first()
                    .and_then(Bson::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let given = match args.get(1) {
                    Some(Bson::Array(a)) => a.clone(),
                    _ => Vec::new(),
                };
                Ok(rust_typed(&ctx, &method, &given).await?)
            },
        )
        .build()
        .expect("functions build")
        .0
}

/// The positional arguments mapped by hand onto the typed `Context` methods (not through the
/// parser), the result encoded by hand as App Services returns it.
async fn rust_typed(
    ctx: &Context<MemoryStore>,
    method: &str,
    args: &[Bson],
) -> Result<Bson, String> {
    let coll = ctx
        .services()
        .get("mongodb-atlas")
        .ok_or("no data source")?
        .db("db")
        .collection("items");
    let doc_at = |i: usize| -> Document {
        args.get(i)
            .and_then(Bson::as_document)
            .cloned()
            .unwrap_or_default()
    };
    let docs_at = |i: usize| -> Vec<Document> {
        match args.get(i) {
            Some(Bson::Array(items)) => items
                .iter()
                .filter_map(|d| d.as_document().cloned())
                .collect(),
            _ => Vec::new(),
        }
    };
    let options = |i: usize| doc_at(i);
    let flag = |o: &Document, key: &str| o.get_bool(key).unwrap_or(false);
    let and_options = |o: &Document| FindOneAndOptions {
        sort: o.get_document("sort").ok().cloned(),
        projection: o.get_document("projection").ok().cloned(),
        upsert: flag(o, "upsert"),
        return_new_document: flag(o, "returnNewDocument"),
    };
    let update_options = |o: &Document| UpdateOptions {
        upsert: flag(o, "upsert"),
        array_filters: o
            .get_array("arrayFilters")
            .map(|a| a.iter().filter_map(|d| d.as_document().cloned()).collect())
            .unwrap_or_default(),
    };
    let n = |n: u64| Bson::Int32(n as i32);
    let update_doc = |r: expanse::guard::UpdateResult| {
        let mut d = doc! {"matchedCount": n(r.matched_count), "modifiedCount": n(r.modified_count)};
        if let Some(id) = r.upserted_id {
            d.insert("upsertedId", id);
        }
        Bson::Document(d)
    };
    let one = |d: Option<Document>| d.map_or(Bson::Null, Bson::Document);
    let many = |d: Vec<Document>| Bson::Array(d.into_iter().map(Bson::Document).collect());
    let e = |e: expanse::guard::GuardError| e.to_string();
    Ok(match method {
        "find" | "findOne" => {
            let o = options(2);
            let find = FindOptions {
                sort: o.get_document("sort").ok().cloned(),
                skip: 0,
                limit: o.get_i32("limit").ok().map(|l| l as u64),
                projection: args.get(1).and_then(Bson::as_document).cloned(),
            };
            if method == "find" {
                many(coll.find(&doc_at(0), &find).await.map_err(e)?)
            } else {
                one(coll.find_one(&doc_at(0), &find).await.map_err(e)?)
            }
        }
        "count" => n(coll.count(&doc_at(0)).await.map_err(e)?),
        "aggregate" => many(coll.aggregate(&docs_at(0)).await.map_err(e)?),
        "insertOne" => bson!({"insertedId": coll.insert_one(doc_at(0)).await.map_err(e)?}),
        "insertMany" => bson!({"insertedIds": coll.insert_many(docs_at(0)).await.map_err(e)?}),
        "updateOne" => update_doc(
            coll.update_one_with(&doc_at(0), &doc_at(1), &update_options(&options(2)))
                .await
                .map_err(e)?,
        ),
        "updateMany" => update_doc(
            coll.update_many_with(&doc_at(0), &doc_at(1), &update_options(&options(2)))
                .await
                .map_err(e)?,
        ),
        "replaceOne" => update_doc(
            coll.replace_one(&doc_at(0), &doc_at(1), flag(&options(2), "upsert"))
                .await
                .map_err(e)?,
        ),
        "deleteOne" => bson!({"deletedCount": n(coll.delete_one(&doc_at(0)).await.map_err(e)?)}),
        "deleteMany" => bson!({"deletedCount": n(coll.delete_many(&doc_at(0)).await.map_err(e)?)}),
        "findOneAndUpdate" => one(coll
            .find_one_and_update_with(
                &doc_at(0),
                &doc_at(1),
                &and_options(&options(2)),
                &update_options(&options(2)).array_filters,
            )
            .await
            .map_err(e)?),
        "findOneAndReplace" => one(coll
            .find_one_and_replace(&doc_at(0), &doc_at(1), &and_options(&options(2)))
            .await
            .map_err(e)?),
        "findOneAndDelete" => one(coll
            .find_one_and_delete(&doc_at(0), &and_options(&options(1)))
            .await
            .map_err(e)?),
        other => return Err(format!("no case for {other}")),
    })
}

fn user() -> User {
    User::new("u1")
}

async fn by_service_call(app: &Arc<App>, case: &Case) -> Outcome {
    let store = store();
    let mut argument = doc! {"database": "db", "collection": "items"};
    argument.extend(case.service.as_document().cloned().unwrap_or_default());
    let call =
        ServiceCall::parse(case.name, &[Bson::Document(argument)]).expect("service call parses");
    let user = user();
    let coll = app
        .collection(&store, &user, &call.database, &call.collection)
        .expect("rules exist");
    let result = coll
        .perform(&call.operation)
        .await
        .map(|r| r.to_bson())
        .map_err(|_| ());
    Outcome {
        result,
        data: store.documents(&ns()),
    }
}

async fn by_function(app: &Arc<App>, case: &Case, function: &str) -> Outcome {
    let store = store();
    let functions = functions(app, &store);
    let result = functions
        .call(
            &user(),
            function,
            vec![bson!(case.name), case.positional.clone()],
            None,
        )
        .await
        .map_err(|_| ());
    Outcome {
        result,
        data: store.documents(&ns()),
    }
}

/// The case as a fixture test expecting `reference`: the fixture runner must agree.
async fn fixture_agrees(dir: &tempfile::TempDir, app: &Arc<App>, case: &Case, reference: &Outcome) {
    let mut test = doc! {"name": case.name, "as": "u1", "op": case.name, "ns": "db.items"};
    test.extend(case.fixture.as_document().cloned().unwrap_or_default());
    let data: Vec<Bson> = reference.data.iter().cloned().map(Bson::Document).collect();
    let mut expect = doc! {"data": data};
    match &reference.result {
        Err(()) => {
            expect.insert("allowed", false);
        }
        Ok(Bson::Array(docs)) => {
            expect.insert("docs", docs.clone());
        }
        Ok(Bson::Int32(n)) => {
            expect.insert("count", *n);
        }
        Ok(other) => {
            expect.insert("result", other.clone());
        }
    }
    test.insert("expect", expect);
    let fixture = doc! {
        "app": ".",
        "data": seed(),
        "users": {"u1": {"id": "u1"}},
        "tests": [test],
    };
    let text = Bson::Document(fixture).into_canonical_extjson().to_string();
    let path = dir.path().join("ops.test.json");
    let fixture = parse_fixture(&text, &path).unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let outcomes = run_fixture(&fixture, app, &MemorySandbox, None, &Coverage::new()).await;
    assert_eq!(outcomes.len(), 1);
    assert!(
        outcomes[0].passed,
        "{}: the fixture disagrees: {:?} ({})",
        case.name, outcomes[0].failures, outcomes[0].happened
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_gives_the_same_result_through_every_caller() {
    let (dir, app) = app();
    for case in cases() {
        let reference = by_service_call(&app, &case).await;
        let js = by_function(&app, &case, "jsOp").await;
        let rust = by_function(&app, &case, "rustOp").await;
        assert_eq!(
            js, reference,
            "{}: JavaScript and the service call differ",
            case.name
        );
        assert_eq!(
            rust, reference,
            "{}: the Rust Context and the service call differ",
            case.name
        );
        fixture_agrees(&dir, &app, &case, &reference).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cases_do_what_they_say() {
    // The comparison above is only worth something if the operations did their work, the
    // rules included: spot-check the reference results.
    let (_dir, app) = app();
    let cases = cases();
    let result = |i: usize| {
        let app = app.clone();
        let case = &cases[i];
        async move { by_service_call(&app, case).await }
    };
    // find: the projection, and the rules: the sort reads `n`, which the others' document
    // hides, so it sorts last (as missing) and the limit cuts it.
    assert_eq!(
        result(0).await.result,
        Ok(bson!([{"_id": 2, "title": "b"}, {"_id": 1, "title": "a"}]))
    );
    // findOne keeps its projection and sort.
    assert_eq!(result(1).await.result, Ok(bson!({"title": "b"})));
    // count judges `n` as the user reads it: the others' document hides it.
    assert_eq!(result(2).await.result, Ok(bson!(1)));
    // The update of someone else's document is refused, and changes nothing.
    let denied = result(8).await;
    assert_eq!(denied.result, Err(()));
    assert_eq!(denied.data, store().documents(&ns()));
    assert_eq!(
        result(15).await.result,
        Ok(bson!({"_id": 1, "n": 1})),
        "findOneAndDelete sorts and projects"
    );
}

#[test]
fn every_operation_reads_the_same_from_each_shape() {
    for case in cases() {
        let positional = match &case.positional {
            Bson::Array(a) => a.clone(),
            _ => Vec::new(),
        };
        let from_positional = Operation::from_positional(case.name, positional).unwrap();
        let mut argument = doc! {"database": "db", "collection": "items"};
        argument.extend(case.service.as_document().cloned().unwrap_or_default());
        let call = ServiceCall::parse(case.name, &[Bson::Document(argument)]).unwrap();
        let from_fixture = Operation::from_named(
            case.name,
            case.fixture.as_document().unwrap(),
            expanse::operation::Shape::Fixture,
        )
        .unwrap();
        assert_eq!(from_positional, call.operation, "{}", case.name);
        assert_eq!(from_positional, from_fixture, "{}", case.name);
    }
}

#[test]
fn realm_web_sends_find_one_and_delete_as_find_one_and_replace_without_update() {
    let call = ServiceCall::parse(
        "findOneAndReplace",
        &[bson!({"database": "db", "collection": "items", "filter": {"_id": 1}})],
    )
    .unwrap();
    assert!(matches!(call.operation, Operation::FindOneAndDelete { .. }));
}

#[test]
fn errors_name_the_argument_and_never_the_value() {
    let secret = "s3cr3t-value";
    let refusals: Vec<OperationError> = vec![
        Operation::from_positional("findOne", vec![bson!(secret)]).unwrap_err(),
        Operation::from_positional("findOne", vec![bson!({}), bson!([secret])]).unwrap_err(),
        Operation::from_positional(
            "find",
            vec![bson!({}), Bson::Null, bson!({"limit": secret})],
        )
        .unwrap_err(),
        Operation::from_positional(
            "updateOne",
            vec![bson!({"a": secret}), bson!([{"$set": {"a": secret}}])],
        )
        .unwrap_err(),
        Operation::from_positional(
            "deleteMany",
            vec![bson!({"a": {"b": Bson::Undefined}, "c": secret})],
        )
        .unwrap_err(),
        Operation::from_positional("count", vec![bson!({}), bson!({"hint": secret})]).unwrap_err(),
        ServiceCall::parse(
            "find",
            &[bson!({"database": "db", "collection": "c", "project": secret})],
        )
        .unwrap_err(),
        ServiceCall::parse(
            "find",
            &[bson!({"database": "db", "collection": "c", "collation": {"locale": secret}})],
        )
        .unwrap_err(),
        ServiceCall::parse(
            "updateOne",
            &[bson!({"database": "db", "collection": "c", "query": {}, "update": secret})],
        )
        .unwrap_err(),
        ServiceCall::parse("insertOne", &[bson!({"database": secret, "collection": 1})])
            .unwrap_err(),
    ];
    let messages: Vec<String> = refusals.iter().map(ToString::to_string).collect();
    for m in &messages {
        assert!(!m.contains(secret), "{m}");
    }
    assert_eq!(
        messages,
        [
            "findOne: the filter must be a document",
            "findOne: the projection must be a document",
            "find: the option \"limit\" must be a non-negative whole number",
            "updateOne: update pipelines (an array of stages as the update) are not supported; use update operators such as $set",
            "deleteMany: the filter holds undefined at a.b, which MongoDB cannot compare to",
            "count: the option \"hint\" is not supported",
            "find: the field \"project\" must be a document",
            "find: the field \"collation\" is not supported",
            "updateOne: the field \"update\" must be a document",
            "insertOne: \"collection\" must be a non-empty string",
        ]
    );
}
