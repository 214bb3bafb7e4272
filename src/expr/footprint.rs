//! Which parts of a document a rule can look at.

use std::collections::BTreeSet;

/// The top-level fields of a document that rules read: named fields, or the whole document
/// (a rule comparing `%%root` as a whole, or calling a function that may read anything).
///
/// A write guard uses it to decide what must be unchanged for a decision to stay valid.
///
/// ```
/// use expanse::expr::{ExprKind, Expression, Footprint};
///
/// let rule = Expression::parse(
///     r#"{"owner_id": "%%user.id", "%%prevRoot.meta.locked": {"$ne": true}}"#,
///     "rules.json",
///     ExprKind::RolePermission,
/// )?;
/// let mut footprint = Footprint::default();
/// rule.add_footprint(&mut footprint);
/// assert!(!footprint.is_whole());
/// assert_eq!(footprint.fields().collect::<Vec<_>>(), ["meta", "owner_id"]);
/// # Ok::<(), expanse::expr::CompileError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footprint {
    whole: bool,
    fields: BTreeSet<String>,
}

impl Footprint {
    /// The whole document.
    pub fn whole() -> Footprint {
        Footprint {
            whole: true,
            fields: BTreeSet::new(),
        }
    }

    /// Whether the whole document counts.
    pub fn is_whole(&self) -> bool {
        self.whole
    }

    /// The named top-level fields, in order (meaningless when [`Footprint::is_whole`]).
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(String::as_str)
    }

    /// Adds the top-level field of a dotted path (`meta.locked` adds `meta`); an empty path
    /// means the whole document.
    pub fn add_path(&mut self, path: &[String]) {
        match path.first() {
            Some(top) => {
                self.fields.insert(top.clone());
            }
            None => self.whole = true,
        }
    }

    /// Adds the top-level field of a dotted key (`"meta.locked"`); an operator key (`$or`)
    /// counts as the whole document.
    pub fn add_key(&mut self, key: &str) {
        if key.starts_with('$') {
            self.whole = true;
        } else {
            let top = key.split('.').next().unwrap_or(key);
            self.fields.insert(top.to_owned());
        }
    }

    /// Marks the whole document as read.
    pub fn add_whole(&mut self) {
        self.whole = true;
    }

    /// Adds everything `other` reads.
    pub fn extend(&mut self, other: &Footprint) {
        self.whole |= other.whole;
        self.fields.extend(other.fields.iter().cloned());
    }
}
