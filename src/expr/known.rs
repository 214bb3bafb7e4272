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
}
