//! What an update's post-image is known to hold before the stored document is read: the
//! top-level fields a `$set` sets to a literal value or an `$unset` removes.

use bson::{Bson, Document};

use crate::expr::KnownFields;

/// The top-level fields `update` (an update document of operators) sets or removes whatever
/// the stored document holds. A dotted path is left out (what it makes of its top-level field
/// depends on the stored value), and so is every other operator (`$inc`, `$push`, … compute
/// from the stored value).
pub(super) fn known_fields(update: &Document) -> KnownFields {
    let mut known = KnownFields::default();
    let top_level = |fields: Option<&Bson>| match fields {
        Some(Bson::Document(d)) => d
            .iter()
            .filter(|(k, _)| !k.contains('.') && !k.starts_with('$'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        _ => Vec::new(),
    };
    for (name, value) in top_level(update.get("$set")) {
        known.set(&name, value);
    }
    for (name, _) in top_level(update.get("$unset")) {
        known.unset(&name);
    }
    known
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::known_fields;

    #[test]
    fn only_top_level_set_and_unset_are_known() {
        let known = known_fields(&doc! {
            "$set": {"n": 1, "a.b": 2},
            "$unset": {"tag": "", "m.x": ""},
            "$inc": {"c": 1},
        });
        assert!(known.contains("n"));
        assert!(known.contains("tag"));
        assert!(!known.contains("a"));
        assert!(!known.contains("m"));
        assert!(!known.contains("c"));
        assert_eq!(known.values(), &doc! {"n": 1});
    }
}
