//! Collection rules: roles, filters, document- and field-level permissions
//! (App Services: https://www.mongodb.com/docs/atlas/app-services/rules/roles/).

mod choice;
mod coverage;
mod decide;
mod error;
mod filters;
mod load;
mod model;
mod pushdown;
mod redact;
mod restrictions;

pub use coverage::{rule_items, Coverage, RuleItem, RuleLabel};
pub use decide::{Decider, Denial, RequestContext, WriteKind};
pub use error::{FilterError, NotAllowed};
pub(crate) use filters::{apply_filters, AppliedFilters};
pub(crate) use load::{flexible_sync_role, Reader};
pub use model::{
    CollectionRules, DocumentFilters, FieldRule, FieldRulePath, FilterRule, Permission, Role,
};
pub use redact::{
    FieldView, FieldsView, NotExact, ReadPartition, View, MAX_PARTITIONS, MAX_SPLITS,
};
pub use restrictions::{check_user_pipeline, check_user_query};

use crate::diagnostic::{Diagnostic, Diagnostics};

impl CollectionRules {
    /// Reads a `rules.json` body (as text); `file` names it in diagnostics.
    ///
    /// ```
    /// let rules = expanse::rules::CollectionRules::parse(
    ///     r#"{"roles": [{"name": "owner", "apply_when": {"owner_id": "%%user.id"}, "read": true}]}"#,
    ///     "rules.json",
    /// )
    /// .unwrap();
    /// assert_eq!(rules.roles[0].name, "owner");
    /// ```
    pub fn parse(text: &str, file: &str) -> Result<CollectionRules, Vec<Diagnostic>> {
        let json = crate::json::parse(text, file).map_err(|e| vec![Diagnostic::from(e)])?;
        let mut found = Diagnostics::default();
        let rules = Reader { found: &mut found }.rules(&json, file, false);
        if found.is_ok() {
            Ok(rules)
        } else {
            Err(found.errors)
        }
    }
}
