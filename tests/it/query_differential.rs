//! Differential test of the `query` module against the real MongoDB-wire test server.
//!
//! Generated queries (every supported operator, nested `$and`/`$or`/`$nor`, dotted paths through
//! arrays) run over generated documents, once in-process and once on the server; the sets of
//! matching `_id`s must be equal. `EXPANSE_DIFF_SEED` and `EXPANSE_DIFF_QUERIES` make longer runs.

use crate::common;

use std::collections::BTreeSet;

use bson::{doc, Bson, Document};
use expanse::query::{walk_document, Filter, LeafArrays};
use mongodb::Client;

use crate::common::generate;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Where the test server (SecantusDB 0.7.0b3) departs from MongoDB. Expanse follows mongod's
/// own matcher (`src/mongo/db/matcher/path.cpp`, `BSONElementIterator`, and
/// `ElemMatchObjectMatchExpression::matchesArray` in `expression_array.cpp`); each case is pinned
/// by a unit test in `tests/it/query_semantics.rs`:
///
/// 1. A positional component (`a.1`) that names no element yields *missing* on the test server,
///    so `{"a.1": null}` matches `{a: [""]}`; mongod yields nothing and does not match.
/// 2. A path ending at a positional component whose element is itself an array (`a.0` on
///    `{a: [[1, 2]]}`): the test server enters the nested array; mongod tests the element whole.
/// 3. `$elemMatch` with a query matches array elements that are arrays in mongod (seen as
///    documents with keys "0", "1", …); the test server skips them.
/// 4. `$all: [null]`: MongoDB documents `$all` as the `$and` of equalities, and `{f: null}`
///    matches a missing `f`; the test server does not match missing fields with `$all`.
/// 5. `$all` with NaN: `{f: NaN}` matches a NaN in MongoDB (NaN equals NaN in BSON comparison);
///    inside `$all` the test server (written in Python) compares NaN != NaN.
///
/// Returns the reason a difference on `doc` is one of these, or `None` if it is unexplained.
fn known_server_divergence(query: &Document, doc: &Document) -> Option<&'static str> {
    let mut paths = Vec::new();
    collect_paths(&Bson::Document(query.clone()), &mut paths);
    for path in &paths {
        let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
        for (k, part) in parts.iter().enumerate() {
            let Ok(index) = part.parse::<usize>() else {
                continue;
            };
            let mut explained = false;
            let _ = walk_document(doc, &parts[..k], LeafArrays::Whole, &mut |value| {
                if let Some(Bson::Array(items)) = value {
                    match items.get(index) {
                        None => explained = true,
                        Some(Bson::Array(_)) => explained = true,
                        Some(Bson::Document(_)) => {}
                        Some(_) if k + 1 < parts.len() => explained = true,
                        Some(_) => {}
                    }
                }
                std::ops::ControlFlow::Continue(())
            });
            if explained {
                return Some("positional path component (cases 1 and 2)");
            }
        }
    }
    let text = Bson::Document(query.clone())
        .into_relaxed_extjson()
        .to_string();
    if all_with_null(&Bson::Document(query.clone())) {
        return Some("$all with a null element (case 4)");
    }
    if all_with_nan(&Bson::Document(query.clone())) {
        return Some("$all with NaN (case 5)");
    }
    if text.contains("$elemMatch") && has_nested_array(&Bson::Document(doc.clone())) {
        return Some("$elemMatch over nested arrays (case 3)");
    }
    None
}

fn collect_paths(value: &Bson, out: &mut Vec<String>) {
    match value {
        Bson::Document(d) => {
            for (k, v) in d {
                if !k.starts_with('$') {
                    out.push(k.clone());
                }
                collect_paths(v, out);
            }
        }
        Bson::Array(items) => items.iter().for_each(|i| collect_paths(i, out)),
        _ => {}
    }
}

fn all_with_null(value: &Bson) -> bool {
    match value {
        Bson::Document(d) => d.iter().any(|(k, v)| {
            (k == "$all" && matches!(v, Bson::Array(items) if items.contains(&Bson::Null)))
                || all_with_null(v)
        }),
        Bson::Array(items) => items.iter().any(all_with_null),
        _ => false,
    }
}

fn all_with_nan(value: &Bson) -> bool {
    match value {
        Bson::Document(d) => d.iter().any(|(k, v)| {
            (k == "$all" && matches!(v, Bson::Array(items) if items.iter().any(|i| matches!(i, Bson::Double(f) if f.is_nan()))))
                || all_with_nan(v)
        }),
        Bson::Array(items) => items.iter().any(all_with_nan),
        _ => false,
    }
}

fn has_nested_array(value: &Bson) -> bool {
    match value {
        Bson::Document(d) => d.values().any(has_nested_array),
        Bson::Array(items) => items
            .iter()
            .any(|i| matches!(i, Bson::Array(_)) || has_nested_array(i)),
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_module_agrees_with_the_server() {
    let Some(uri) = common::mongodb_uri("query_module_agrees_with_the_server") else {
        return;
    };
    let seed = env_number("EXPANSE_DIFF_SEED", 20261126);
    let query_count = env_number("EXPANSE_DIFF_QUERIES", 1500) as usize;
    let mut rng = common::Rng::new(seed);

    let client = Client::with_uri_str(&uri)
        .await
        .expect("connect to the test server");
    let db = client.database(&format!("expanse_diff_{seed}"));
    let coll = db.collection::<Document>("docs");
    coll.drop().await.ok();

    let docs: Vec<Document> = (0..150)
        .map(|i| {
            let mut d = doc! {"_id": i};
            d.extend(generate::document(&mut rng, 2));
            d
        })
        .collect();
    coll.insert_many(docs.clone())
        .await
        .expect("insert generated documents");

    let mut compared = 0;
    let mut both_rejected = 0;
    let mut set_aside = std::collections::BTreeMap::new();
    let mut failures = Vec::new();
    for _ in 0..query_count {
        let query = generate::query(&mut rng, 2);
        let ours = Filter::parse(&query);
        let theirs = match coll.find(query.clone()).projection(doc! {"_id": 1}).await {
            Ok(mut cursor) => {
                let mut ids = BTreeSet::new();
                while cursor.advance().await.expect("cursor") {
                    let d: Document = cursor.deserialize_current().expect("doc");
                    ids.insert(d.get_i32("_id").expect("_id"));
                }
                Ok(ids)
            }
            Err(e) => Err(e.to_string()),
        };
        match (ours, theirs) {
            (Ok(filter), Ok(server_ids)) => {
                compared += 1;
                let our_ids: BTreeSet<i32> = docs
                    .iter()
                    .filter(|d| filter.matches(d))
                    .map(|d| d.get_i32("_id").unwrap())
                    .collect();
                let unexplained: Vec<i32> = our_ids
                    .symmetric_difference(&server_ids)
                    .copied()
                    .filter(
                        |id| match known_server_divergence(&query, &docs[*id as usize]) {
                            Some(reason) => {
                                *set_aside.entry(reason).or_insert(0) += 1;
                                false
                            }
                            None => true,
                        },
                    )
                    .collect();
                if !unexplained.is_empty() {
                    let only_ours: Vec<_> = our_ids.difference(&server_ids).collect();
                    let only_server: Vec<_> = server_ids.difference(&our_ids).collect();
                    let example = only_ours
                        .first()
                        .or(only_server.first())
                        .map(|id| &docs[**id as usize]);
                    failures.push(format!(
                        "query {}\n  only expanse: {only_ours:?}\n  only server: {only_server:?}\n  e.g. {}",
                        Bson::Document(query.clone()).into_relaxed_extjson(),
                        example.map(|d| Bson::Document(d.clone()).into_relaxed_extjson().to_string()).unwrap_or_default()
                    ));
                }
            }
            (Err(_), Err(_)) => both_rejected += 1,
            (Ok(_), Err(e)) => failures.push(format!(
                "query {} rejected by the server only: {e}",
                Bson::Document(query.clone()).into_relaxed_extjson()
            )),
            (Err(e), Ok(_)) => failures.push(format!(
                "query {} rejected by expanse only: {e}",
                Bson::Document(query.clone()).into_relaxed_extjson()
            )),
        }
    }
    db.drop().await.ok();
    eprintln!(
        "seed {seed}: {compared} queries compared over {} documents, {both_rejected} rejected by both, \
         known test-server divergences (document×query) {set_aside:?}, {} unexplained differences",
        docs.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
