//! Which roles, filters and field rules requests exercised (for `expanse test` coverage).

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::model::{CollectionRules, FieldRule};

/// One rule item: the rules file, and the item within it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleItem {
    /// The rules file.
    pub file: String,
    /// `role "owner"`, `filter "own"`, `role "owner" fields.title`, `role "owner" additional_fields`.
    pub item: String,
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

    pub(crate) fn record(&self, file: &str, item: impl FnOnce() -> String) {
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

/// Every role, filter and field rule of a rules file.
pub fn rule_items(rules: &CollectionRules) -> Vec<RuleItem> {
    let item = |text: String| RuleItem {
        file: rules.file.clone(),
        item: text,
    };
    let mut out = Vec::new();
    for role in &rules.roles {
        out.push(item(format!("role {:?}", role.name)));
        let mut stack: Vec<(String, &FieldRule)> = role
            .fields
            .iter()
            .map(|(n, r)| (format!("fields.{n}"), r))
            .collect();
        while let Some((path, rule)) = stack.pop() {
            out.push(item(format!("role {:?} {path}", role.name)));
            stack.extend(
                rule.fields
                    .iter()
                    .map(|(n, r)| (format!("{path}.fields.{n}"), r)),
            );
        }
        if role.additional_fields.is_some() {
            out.push(item(format!("role {:?} additional_fields", role.name)));
        }
    }
    for filter in &rules.filters {
        out.push(item(format!("filter {:?}", filter.name)));
    }
    out.sort();
    out
}
