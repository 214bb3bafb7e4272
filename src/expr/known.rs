//! The part of a write's post-image known before the write: top-level fields set to literal
//! values or removed, whatever the stored document holds.

use std::collections::BTreeSet;

use bson::{Bson, Document};

/// Top-level fields a write sets to known values or removes. Push-down for a write
/// ([`Expression::push_down_written`](super::Expression::push_down_written)) decides what a
/// rule reads of these fields in process, on these values, and leaves the rest of the document
/// to the server.
///
/// ```
/// use bson::{doc, Bson};
/// use expanse::expr::KnownFields;
///
/// let mut known = KnownFields::default();
/// known.set("n", Bson::Int32(3));
/// known.unset("tag");
/// assert!(known.contains("n") && known.contains("tag") && !known.contains("title"));
/// assert_eq!(known.values(), &doc! {"n": 3});
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KnownFields {
    values: Document,
    names: BTreeSet<String>,
}

impl KnownFields {
    /// The field `name` is `value` after the write.
    pub fn set(&mut self, name: &str, value: Bson) {
        self.names.insert(name.to_owned());
        self.values.insert(name, value);
    }

    /// The field `name` is absent after the write.
    pub fn unset(&mut self, name: &str) {
        self.names.insert(name.to_owned());
        self.values.remove(name);
    }

    /// Whether the write decides the top-level field `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// The known fields that hold a value after the write, as a document (the removed ones
    /// are absent from it, as from the post-image).
    pub fn values(&self) -> &Document {
        &self.values
    }

    /// The top-level fields `update` (an update document of operators) sets or removes whatever
    /// the stored document holds. A dotted path is left out (what it makes of its top-level
    /// field depends on the stored value), and so is every other operator (`$inc`, `$push`, …
    /// compute from the stored value).
    ///
    /// ```
    /// use bson::doc;
    /// use expanse::expr::KnownFields;
    ///
    /// let known = KnownFields::of_update(&doc! {
    ///     "$set": {"n": 1, "a.b": 2},
    ///     "$unset": {"tag": "", "m.x": ""},
    ///     "$inc": {"c": 1},
    /// });
    /// assert!(known.contains("n") && known.contains("tag"));
    /// assert!(!known.contains("a") && !known.contains("m") && !known.contains("c"));
    /// assert_eq!(known.values(), &doc! {"n": 1});
    /// ```
    pub fn of_update(update: &Document) -> KnownFields {
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
}
