//! A write guard MongoDB can plan on `_id` alone: the pre-image's fields compared one by one
//! in ordinary query operators (no `$expr`), and the write sent as the fields that changed.
//!
//! The whole-pre-image guard (`{_id, $expr: {$eq: ["$$ROOT", pre]}}`) detects any change but
//! some servers scan the collection for it. This guard detects every change to a field the
//! pre-image has and every arrival of a field the rules read; a field nobody's rules read may
//! arrive concurrently, and survives the write because only changed fields are written.

use bson::{doc, Bson, Document};

use crate::expr::Footprint;
use crate::query::conjunction::identical;

/// A filter matching the stored document only while each of `pre`'s top-level fields holds
/// the same value (same shape: an array stays an array of the same elements, `null` stays a
/// present `null`) and each watched field `pre` lacks is still missing. `None` when that cannot
/// be said in query operators (the rules read the whole document, or a field name has a dot or
/// starts with `$`).
///
/// Values compare as MongoDB's equality does (`1` and `1.0` are equal), as the `$expr` guard's
/// do.
pub(crate) fn field_guard(pre: &Document, watched: &Footprint) -> Option<Document> {
    if watched.is_whole() {
        return None;
    }
    let mut filter = Document::new();
    for (key, value) in pre {
        if key.contains('.') || key.starts_with('$') || key.is_empty() {
            return None;
        }
        let condition = if key == "_id" {
            doc! {"$eq": value.clone()}
        } else {
            same_value(value)
        };
        filter.insert(key.clone(), condition);
    }
    for field in watched.fields() {
        if !pre.contains_key(field) {
            filter.insert(field, doc! {"$exists": false});
        }
    }
    Some(filter)
}

/// The conditions on one field that hold exactly when it is `value`.
fn same_value(value: &Bson) -> Document {
    let not_array = doc! {"$type": "array"};
    match value {
        // `$eq` alone also matches an array holding the value as an element, and an array
        // of the same length holding it too; no element may equal the whole value.
        Bson::Array(items) => doc! {
            "$eq": value.clone(),
            "$size": items.len() as i64,
            "$not": {"$elemMatch": {"$eq": value.clone()}},
        },
        // `{$eq: null}` also matches a missing field.
        Bson::Null => doc! {"$eq": Bson::Null, "$exists": true, "$not": not_array},
        other => doc! {"$eq": other.clone(), "$not": not_array},
    }
}

/// The update turning `pre` into `post` by the fields that differ: `$set` for changed and new
/// fields, `$unset` for removed ones. `None` when applying it would not give `post` exactly
/// (MongoDB appends new fields in name order; a `post` ordered otherwise needs a replacement).
pub(crate) fn changed_fields_update(pre: &Document, post: &Document) -> Option<Document> {
    let mut set = Document::new();
    let mut unset = Document::new();
    let mut added = Vec::new();
    for (key, value) in post {
        if key.contains('.') || key.starts_with('$') || key.is_empty() {
            return None;
        }
        match pre.get(key) {
            Some(old) if identical(old, value) => {}
            Some(_) => {
                set.insert(key.clone(), value.clone());
            }
            None => {
                set.insert(key.clone(), value.clone());
                added.push(key.as_str());
            }
        }
    }
    for key in pre.keys() {
        if !post.contains_key(key) {
            unset.insert(key.clone(), "");
        }
    }
    // What MongoDB would store: the kept fields in their places, then the new ones by name.
    let mut sorted_added = added.clone();
    sorted_added.sort_unstable();
    let kept = pre
        .keys()
        .filter(|k| post.contains_key(*k))
        .map(String::as_str);
    if !kept.chain(sorted_added).eq(post.keys().map(String::as_str)) {
        return None;
    }
    let mut update = Document::new();
    if !set.is_empty() {
        update.insert("$set", set);
    }
    if !unset.is_empty() {
        update.insert("$unset", unset);
    }
    (!update.is_empty()).then_some(update)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Filter;

    fn fields(names: &[&str]) -> Footprint {
        let mut f = Footprint::default();
        for n in names {
            f.add_key(n);
        }
        f
    }

    #[test]
    fn the_guard_matches_exactly_the_unchanged_document() {
        let pre = doc! {"_id": 1, "owner": "u1", "tags": [1, [1]], "meta": {"a": 1}, "gone": null};
        let guard =
            Filter::parse(&field_guard(&pre, &fields(&["owner", "locked"])).unwrap()).unwrap();
        assert!(guard.matches(&pre));
        let changed = [
            doc! {"_id": 1, "owner": "u2", "tags": [1, [1]], "meta": {"a": 1}, "gone": null},
            doc! {"_id": 1, "owner": ["u1"], "tags": [1, [1]], "meta": {"a": 1}, "gone": null},
            doc! {"_id": 1, "owner": "u1", "tags": [[1], 1], "meta": {"a": 1}, "gone": null},
            doc! {"_id": 1, "owner": "u1", "tags": [[1, [1]], 2], "meta": {"a": 1}, "gone": null},
            doc! {"_id": 1, "owner": "u1", "tags": [1, [1]], "meta": {"a": 2}, "gone": null},
            doc! {"_id": 1, "owner": "u1", "tags": [1, [1]], "meta": {"a": 1}},
            doc! {"_id": 1, "owner": "u1", "tags": [1, [1]], "meta": {"a": 1}, "gone": [null]},
            doc! {"_id": 1, "owner": "u1", "tags": [1, [1]], "meta": {"a": 1}, "gone": null, "locked": true},
            doc! {"_id": 2, "owner": "u1", "tags": [1, [1]], "meta": {"a": 1}, "gone": null},
        ];
        for doc in changed {
            assert!(!guard.matches(&doc), "{doc}");
        }
        // A field no rule reads may arrive.
        let mut added = pre.clone();
        added.insert("note", "x");
        assert!(guard.matches(&added));
    }

    #[test]
    fn whole_document_rules_and_odd_names_have_no_field_guard() {
        assert!(field_guard(&doc! {"_id": 1}, &Footprint::whole()).is_none());
        assert!(field_guard(&doc! {"_id": 1, "a.b": 1}, &Footprint::default()).is_none());
    }

    #[test]
    fn the_update_carries_only_what_changed() {
        let pre = doc! {"_id": 1, "a": 1, "b": 2, "c": 3};
        let post = doc! {"_id": 1, "a": 1, "b": 20, "d": 4, "e": 5};
        assert_eq!(
            changed_fields_update(&pre, &post),
            Some(doc! {"$set": {"b": 20, "d": 4, "e": 5}, "$unset": {"c": ""}})
        );
        // 1 → 1.0 is a change.
        assert_eq!(
            changed_fields_update(&doc! {"a": 1}, &doc! {"a": 1.0}),
            Some(doc! {"$set": {"a": 1.0}})
        );
        // New fields out of name order cannot be produced by `$set`.
        assert_eq!(
            changed_fields_update(
                &pre,
                &doc! {"_id": 1, "a": 1, "b": 2, "c": 3, "z": 1, "y": 2}
            ),
            None
        );
        // Reordered kept fields neither.
        assert_eq!(
            changed_fields_update(&doc! {"a": 1, "b": 2}, &doc! {"b": 2, "a": 1}),
            None
        );
        assert_eq!(changed_fields_update(&pre, &pre), None);
    }
}
