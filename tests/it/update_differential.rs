//! Update operators applied in process agree with the real MongoDB-wire test server: the same
//! generated update on the same generated document gives the same post-image, or both refuse it.

use crate::common;

use bson::{doc, Bson, Document};
use expanse::update::Update;
use mongodb::Client;

use crate::common::{generate, Rng};

fn path(rng: &mut Rng) -> String {
    rng.pick(&["a", "b", "c", "a.b", "a.c", "b.x", "d", "a.0", "c.1"])
        .to_string()
}

fn update(rng: &mut Rng) -> Document {
    let mut update = Document::new();
    let ops = 1 + rng.below(2);
    for _ in 0..ops {
        let p = path(rng);
        let (op, arg) = match rng.below(14) {
            0 => ("$set", generate::value(rng, 1)),
            1 => ("$unset", Bson::String(String::new())),
            2 => (
                "$inc",
                rng.pick(&[
                    Bson::Int32(1),
                    Bson::Int64(2),
                    Bson::Double(0.5),
                    Bson::Int32(-3),
                ])
                .clone(),
            ),
            3 => (
                "$mul",
                rng.pick(&[Bson::Int32(2), Bson::Double(1.5), Bson::Int32(0)])
                    .clone(),
            ),
            4 => ("$min", generate::scalar(rng)),
            5 => ("$max", generate::scalar(rng)),
            6 => ("$push", generate::scalar(rng)),
            7 => (
                "$push",
                Bson::Document(
                    doc! {"$each": [generate::scalar(rng), generate::scalar(rng)], "$slice": rng.below(5) as i32 - 2},
                ),
            ),
            8 => ("$addToSet", generate::scalar(rng)),
            9 => ("$pull", generate::scalar(rng)),
            10 => (
                "$pullAll",
                Bson::Array(vec![generate::scalar(rng), generate::scalar(rng)]),
            ),
            11 => ("$pop", rng.pick(&[Bson::Int32(1), Bson::Int32(-1)]).clone()),
            12 => (
                "$rename",
                Bson::String(rng.pick(&["z", "y", "a.z"]).to_string()),
            ),
            _ => ("$pull", Bson::Document(doc! {"$gte": 1})),
        };
        let entry = update
            .entry(op.to_string())
            .or_insert_with(|| Bson::Document(Document::new()));
        if let Bson::Document(d) = entry {
            d.insert(p, arg);
        }
    }
    update
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_operators_agree_with_the_server() {
    let Some(uri) = common::mongodb_uri("update_operators_agree_with_the_server") else {
        return;
    };
    let seed = std::env::var("EXPANSE_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7u64);
    let cases: usize = std::env::var("EXPANSE_DIFF_UPDATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let mut rng = Rng::new(seed);
    let client = Client::with_uri_str(&uri).await.unwrap();
    let db = client.database(&format!("expanse_update_diff_{seed}"));
    let coll = db.collection::<Document>("docs");
    coll.drop().await.ok();

    let (mut compared, mut both_refused) = (0, 0);
    let mut set_aside = Vec::new();
    let mut failures = Vec::new();
    for i in 0..cases {
        let mut original = doc! {"_id": i as i32};
        original.extend(generate::document(&mut rng, 2));
        let update = update(&mut rng);
        coll.insert_one(original.clone()).await.unwrap();
        let server = coll
            .update_one(doc! {"_id": i as i32}, update.clone())
            .await;
        let ours = Update::parse(&update).and_then(|u| u.apply(&original, false));
        if let Some(reason) = known_server_divergence(&update)
            .or_else(|| blocked_removal(&update, &original))
            .or_else(|| boolean_or_nan_elements(&update, &original))
        {
            set_aside.push(reason);
            continue;
        }
        match (server, ours) {
            (Ok(_), Ok(post)) => {
                compared += 1;
                let stored = coll.find_one(doc! {"_id": i as i32}).await.unwrap().unwrap();
                if !same(&stored, &post) {
                    failures.push(format!("update {update}\n  on {original}\n  server {stored}\n  expanse {post}"));
                }
            }
            (Err(_), Err(_)) => both_refused += 1,
            (Ok(_), Err(e)) => failures.push(format!("update {update} on {original}: only expanse refused: {e}")),
            (Err(e), Ok(post)) => failures.push(format!("update {update} on {original}: only the server refused: {e}\n  expanse gave {post}")),
        }
    }
    db.drop().await.ok();
    eprintln!(
        "seed {seed}: {compared} updates compared, {both_refused} refused by both, {} set aside (known test-server divergences), {} differences",
        set_aside.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Array-removing and array-adding operators whose operands hold a boolean or NaN: the test
/// server (written in Python) compares `true == 1` and `NaN != NaN`, where MongoDB compares BSON
/// values (a boolean never equals a number; NaN equals NaN, `BSONElement::woCompare`). Expanse
/// follows MongoDB; `tests/it/update_semantics.rs` pins it.
fn known_server_divergence(update: &Document) -> Option<&'static str> {
    let suspicious = |v: &Bson| match v {
        Bson::Boolean(_) => true,
        Bson::Double(d) => d.is_nan(),
        _ => false,
    };
    for op in ["$pull", "$pullAll", "$addToSet", "$push"] {
        if let Ok(fields) = update.get_document(op) {
            for value in fields.values() {
                let values: Vec<&Bson> = match value {
                    Bson::Array(items) => items.iter().collect(),
                    Bson::Document(d) => d
                        .values()
                        .flat_map(|v| match v {
                            Bson::Array(items) => items.iter().collect::<Vec<_>>(),
                            other => vec![other],
                        })
                        .collect(),
                    other => vec![other],
                };
                if values.into_iter().any(suspicious) {
                    return Some("boolean/NaN equality in array operators");
                }
            }
        }
    }
    None
}

/// Equal documents, NaN equal to NaN.
fn same(a: &Document, b: &Document) -> bool {
    Bson::Document(a.clone()).into_canonical_extjson()
        == Bson::Document(b.clone()).into_canonical_extjson()
}

/// `$pop`, `$pull` and `$pullAll` on a path a scalar blocks, or an array entered by a field
/// name: MongoDB refuses them (PathNotViable: `jstests/core/query/update/update_modifier_pop.js`;
/// only `$unset` may name a path that could not be created), the test server does nothing.
/// Expanse follows MongoDB; `tests/it/mongo_conformance` pins it.
fn blocked_removal(update: &Document, doc: &Document) -> Option<&'static str> {
    for op in ["$pop", "$pull", "$pullAll"] {
        let Ok(fields) = update.get_document(op) else {
            continue;
        };
        for path in fields.keys() {
            let parts: Vec<&str> = path.split('.').collect();
            let mut current = Bson::Document(doc.clone());
            for (i, part) in parts.iter().enumerate() {
                let next = match &current {
                    Bson::Document(d) => d.get(*part).cloned(),
                    Bson::Array(items) => match part.parse::<usize>() {
                        Ok(p) => items.get(p).cloned(),
                        Err(_) => return Some("$pop/$pull through an array by name"),
                    },
                    _ if i > 0 => return Some("$pop/$pull through a scalar"),
                    _ => None,
                };
                match next {
                    Some(v) => current = v,
                    None => break,
                }
            }
        }
    }
    None
}

/// The same test-server divergence as [`known_server_divergence`], from the document's side: an
/// array the array operators compare against holds a boolean or NaN.
fn boolean_or_nan_elements(update: &Document, doc: &Document) -> Option<&'static str> {
    for op in ["$pull", "$pullAll", "$addToSet"] {
        let Ok(fields) = update.get_document(op) else {
            continue;
        };
        for path in fields.keys() {
            let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
            if let Some(Bson::Array(items)) = expanse::update::get_path(doc, &parts) {
                let odd = |v: &Bson| match v {
                    Bson::Boolean(_) => true,
                    Bson::Double(d) => d.is_nan(),
                    _ => false,
                };
                if items.iter().any(odd) {
                    return Some("boolean/NaN equality in array operators");
                }
            }
        }
    }
    None
}
