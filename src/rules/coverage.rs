//! Which roles, filters and field rules requests exercised (for `expanse test` coverage), named
//! by typed labels built in one place.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Mutex;

use super::model::{CollectionRules, FieldRulePath};

/// One item of a rules file that a decision can use.
///
/// ```
/// use expanse::rules::{FieldRulePath, RuleLabel};
/// let title = FieldRulePath::named("title").child("lang");
/// assert_eq!(RuleLabel::Role { role: "owner".into() }.to_string(), "role \"owner\"");
/// assert_eq!(
///     RuleLabel::Field { role: "owner".into(), path: title }.to_string(),
///     "role \"owner\" fields.title.fields.lang"
/// );
/// assert_eq!(RuleLabel::Filter { name: "own".into() }.to_string(), "filter \"own\"");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RuleLabel {
    /// A role (its `apply_when` chose it).
    Role {
        /// The role's name.
        role: String,
    },
    /// A field rule of a role (`fields.…` or `additional_fields`).
    Field {
        /// The role's name.
        role: String,
        /// Where the rule is within the role.
        path: FieldRulePath,
    },
    /// A filter (its `apply_when` held).
    Filter {
        /// The filter's name.
        name: String,
    },
}

impl fmt::Display for RuleLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleLabel::Role { role } => write!(f, "role {role:?}"),
            RuleLabel::Field { role, path } => write!(f, "role {role:?} {path}"),
            RuleLabel::Filter { name } => write!(f, "filter {name:?}"),
        }
    }
}

/// One rule item: the rules file, and the item within it. Items sort by file, then by how they
/// read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RuleItem {
    /// The rules file.
    pub file: String,
    /// The item within it.
    pub item: RuleLabel,
}

impl Ord for RuleItem {
    fn cmp(&self, other: &RuleItem) -> Ordering {
        self.file
            .cmp(&other.file)
            .then_with(|| self.item.to_string().cmp(&other.item.to_string()))
    }
}

impl PartialOrd for RuleItem {
    fn partial_cmp(&self, other: &RuleItem) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Records rule items as requests use them. Shared by reference; thread-safe.
#[derive(Debug, Default)]
pub struct Coverage {
    seen: Mutex<BTreeSet<RuleItem>>,
}

impl Coverage {
    /// An empty record.
    pub fn new() -> Coverage {
        Coverage::default()
    }

    pub(crate) fn record(&self, file: &str, item: impl FnOnce() -> RuleLabel) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert(RuleItem {
                file: file.to_owned(),
                item: item(),
            });
        }
    }

    /// Everything recorded so far.
    pub fn seen(&self) -> BTreeSet<RuleItem> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Every role, filter and field rule of a rules file (the field rules listed under `fields`,
/// nested ones included, and `additional_fields` itself).
pub fn rule_items(rules: &CollectionRules) -> Vec<RuleItem> {
    let item = |label: RuleLabel| RuleItem {
        file: rules.file.clone(),
        item: label,
    };
    let mut out = Vec::new();
    for role in &rules.roles {
        out.push(item(RuleLabel::Role {
            role: role.name.clone(),
        }));
        for (path, _) in role.field_rules() {
            if path.is_additional() && !path.is_top() {
                continue;
            }
            out.push(item(RuleLabel::Field {
                role: role.name.clone(),
                path,
            }));
        }
    }
    for filter in &rules.filters {
        out.push(item(RuleLabel::Filter {
            name: filter.name.clone(),
        }));
    }
    out.sort();
    out
}
