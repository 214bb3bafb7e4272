//! MongoDB update semantics pinned case by case.

use bson::{doc, Bson, Document};
use expanse::update::{changed_paths, upsert_seed, Update};

fn apply(update: Document, on: Document) -> Result<Document, String> {
    Update::parse(&update)
        .and_then(|u| u.apply(&on, false))
        .map_err(|e| e.to_string())
}

#[test]
fn field_operators() {
    assert_eq!(
        apply(doc! {"$set": {"a.b": 1}}, doc! {"_id": 1}).unwrap(),
        doc! {"_id": 1, "a": {"b": 1}}
    );
    assert_eq!(
        apply(doc! {"$unset": {"a": ""}}, doc! {"_id": 1, "a": 1}).unwrap(),
        doc! {"_id": 1}
    );
    assert_eq!(
        apply(doc! {"$inc": {"n": 1}}, doc! {"_id": 1, "n": i32::MAX}).unwrap(),
        doc! {"_id": 1, "n": i64::from(i32::MAX) + 1}
    );
    assert_eq!(
        apply(doc! {"$inc": {"n": 0.5}}, doc! {"_id": 1, "n": 1}).unwrap(),
        doc! {"_id": 1, "n": 1.5}
    );
    assert_eq!(
        apply(doc! {"$mul": {"n": 2}}, doc! {"_id": 1}).unwrap(),
        doc! {"_id": 1, "n": 0}
    );
    assert_eq!(
        apply(doc! {"$min": {"n": 1}}, doc! {"_id": 1, "n": 5}).unwrap(),
        doc! {"_id": 1, "n": 1}
    );
    assert_eq!(
        apply(doc! {"$max": {"n": "a"}}, doc! {"_id": 1, "n": 5}).unwrap(),
        doc! {"_id": 1, "n": "a"},
        "strings sort above numbers"
    );
    assert_eq!(
        apply(doc! {"$rename": {"a": "b"}}, doc! {"_id": 1, "a": 1}).unwrap(),
        doc! {"_id": 1, "b": 1}
    );
    assert_eq!(
        apply(doc! {"$setOnInsert": {"a": 1}}, doc! {"_id": 1}).unwrap(),
        doc! {"_id": 1}
    );
    let dated = apply(doc! {"$currentDate": {"at": true}}, doc! {"_id": 1}).unwrap();
    assert!(matches!(dated.get("at"), Some(Bson::DateTime(_))));
}

#[test]
fn array_operators() {
    assert_eq!(
        apply(doc! {"$push": {"a": 3}}, doc! {"_id": 1, "a": [1]}).unwrap(),
        doc! {"_id": 1, "a": [1, 3]}
    );
    assert_eq!(
        apply(
            doc! {"$push": {"a": {"$each": [5, 0], "$sort": 1, "$slice": -2}}},
            doc! {"_id": 1, "a": [3, 1]}
        )
        .unwrap(),
        doc! {"_id": 1, "a": [3, 5]}
    );
    assert_eq!(
        apply(
            doc! {"$push": {"a": {"$each": [9], "$position": 0}}},
            doc! {"_id": 1, "a": [1]}
        )
        .unwrap(),
        doc! {"_id": 1, "a": [9, 1]}
    );
    assert_eq!(
        apply(
            doc! {"$addToSet": {"a": {"$each": [1, 2]}}},
            doc! {"_id": 1, "a": [1]}
        )
        .unwrap(),
        doc! {"_id": 1, "a": [1, 2]}
    );
    assert_eq!(
        apply(
            doc! {"$pull": {"a": {"$gte": 2}}},
            doc! {"_id": 1, "a": [1, 2, 3, [0, 5]]}
        )
        .unwrap(),
        doc! {"_id": 1, "a": [1]}
    );
    assert_eq!(
        apply(
            doc! {"$pull": {"a": {"x": 1}}},
            doc! {"_id": 1, "a": [{"x": 1, "y": 2}, {"x": 2}]}
        )
        .unwrap(),
        doc! {"_id": 1, "a": [{"x": 2}]}
    );
    assert_eq!(
        apply(doc! {"$pop": {"a": -1}}, doc! {"_id": 1, "a": [1, 2]}).unwrap(),
        doc! {"_id": 1, "a": [2]}
    );
    assert!(apply(doc! {"$push": {"a": 1}}, doc! {"_id": 1, "a": 1})
        .unwrap_err()
        .contains("must be an array"));
}

/// MongoDB compares BSON values: a boolean never equals a number and NaN equals NaN. (The test
/// server, written in Python, differs; see `tests/it/update_differential.rs`.)
#[test]
fn array_operators_compare_bson_values() {
    assert_eq!(
        apply(
            doc! {"$pullAll": {"a": [true]}},
            doc! {"_id": 1, "a": [1, true]}
        )
        .unwrap(),
        doc! {"_id": 1, "a": [1]}
    );
    assert_eq!(
        apply(
            doc! {"$pullAll": {"a": [f64::NAN]}},
            doc! {"_id": 1, "a": [f64::NAN, 1]}
        )
        .unwrap(),
        doc! {"_id": 1, "a": [1]}
    );
    assert_eq!(
        apply(doc! {"$addToSet": {"a": 1.0}}, doc! {"_id": 1, "a": [1]}).unwrap(),
        doc! {"_id": 1, "a": [1]}
    );
}

#[test]
fn refusals_match_mongodb() {
    assert!(apply(doc! {"$set": {"_id": 2}}, doc! {"_id": 1})
        .unwrap_err()
        .contains("immutable field '_id'"));
    assert!(
        apply(doc! {"$set": {"a": 1}, "$inc": {"a": 1}}, doc! {"_id": 1})
            .unwrap_err()
            .contains("conflict")
    );
    assert!(apply(
        doc! {"$set": {"a": 1}, "$unset": {"a.b": 1}},
        doc! {"_id": 1}
    )
    .unwrap_err()
    .contains("conflict"));
    assert!(apply(doc! {"$inc": {"a": "x"}}, doc! {"_id": 1})
        .unwrap_err()
        .contains("non-numeric"));
    assert!(apply(doc! {"$inc": {"a": 1}}, doc! {"_id": 1, "a": "x"})
        .unwrap_err()
        .contains("non-numeric type"));
    assert!(apply(doc! {"$set": {"a.b": 1}}, doc! {"_id": 1, "a": 5})
        .unwrap_err()
        .contains("Cannot create field"));
    assert!(
        apply(doc! {"$rename": {"a.b": "c"}}, doc! {"_id": 1, "a": 5})
            .unwrap_err()
            .contains("to traverse the element")
    );
    assert!(apply(doc! {"$foo": {"a": 1}}, doc! {"_id": 1})
        .unwrap_err()
        .contains("Unknown modifier"));
    assert!(apply(doc! {"$set": {"a": 1}, "b": 2}, doc! {"_id": 1})
        .unwrap_err()
        .contains("mix"));
    assert!(Update::replacement(&doc! {"$set": {"a": 1}}).is_err());
}

#[test]
fn replacements_keep_the_id() {
    let u = Update::replacement(&doc! {"title": "x"}).unwrap();
    assert_eq!(
        u.apply(&doc! {"_id": 7, "old": 1}, false).unwrap(),
        doc! {"_id": 7, "title": "x"}
    );
    let u = Update::replacement(&doc! {"_id": 8}).unwrap();
    assert!(u.apply(&doc! {"_id": 7}, false).is_err());
}

#[test]
fn changed_paths_are_what_really_changed() {
    let pre = doc! {"_id": 1, "a": {"b": 1, "c": 2}, "n": 1};
    let post = apply(
        doc! {"$set": {"a.b": 1, "a.c": 3}, "$inc": {"n": 0}},
        pre.clone(),
    )
    .unwrap();
    let changed: Vec<String> = changed_paths(&pre, &post)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(changed, ["a.c"]);
    let post = apply(doc! {"$set": {"n": 1.0}}, pre.clone()).unwrap();
    let changed: Vec<String> = changed_paths(&pre, &post)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(changed, ["n"], "1 and 1.0 are stored differently");
}

#[test]
fn upserts_start_from_the_query_equalities() {
    let seed = upsert_seed(
        &doc! {"owner": "u1", "n": {"$gt": 1}, "$and": [{"team": {"$eq": "red"}}], "tag.name": "x"},
    )
    .unwrap();
    assert_eq!(
        seed,
        doc! {"owner": "u1", "team": "red", "tag": {"name": "x"}}
    );
    let u = Update::parse(&doc! {"$setOnInsert": {"created": true}, "$set": {"n": 5}}).unwrap();
    assert_eq!(
        u.apply(&seed, true).unwrap(),
        doc! {"owner": "u1", "team": "red", "tag": {"name": "x"}, "created": true, "n": 5}
    );
}

/// A path with `$`, `$[]` or `$[<id>]` writes some element of its array: the array's path
/// stands for it among the written paths, so every path the update changes lies below one.
#[test]
fn positional_updates_change_only_below_their_written_paths() {
    use expanse::query::Filter;
    let pre = doc! {"_id": 1, "a": [{"b": 1, "c": [1, 2]}, {"b": 2, "c": [3]}], "n": 0};
    let cases = [
        (doc! {"$set": {"a.$.b": 9}, "$inc": {"n": 1}}, vec![]),
        (doc! {"$push": {"a.$[].c": 4}}, vec![]),
        (doc! {"$unset": {"a.$[x].c": ""}}, vec![doc! {"x.b": 2}]),
        (doc! {"$pull": {"a.$[x].c.$[]": 1}}, vec![doc! {"x.b": 1}]),
    ];
    let query = Filter::parse(&doc! {"a.b": 2}).unwrap();
    for (update, filters) in cases {
        let parsed =
            Update::parse_with(&update, &filters).unwrap_or_else(|e| panic!("{update}: {e}"));
        let post = match parsed.apply_matched(&pre, &query) {
            Ok(post) => post,
            Err(e) => {
                assert!(update.contains_key("$pull"), "{update}: {e}");
                continue;
            }
        };
        let written = parsed.written_paths().unwrap();
        for changed in changed_paths(&pre, &post) {
            assert!(
                written
                    .iter()
                    .any(|w| changed.parts().starts_with(w) || w.starts_with(changed.parts())),
                "{update}: {changed} changed outside {written:?}"
            );
        }
    }
}
