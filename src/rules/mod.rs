//! Collection rules: roles, filters, document- and field-level permissions (reference §2).

mod decide;
mod load;
mod model;
mod pushdown;

pub use decide::{Decider, Denial, RequestContext, WriteKind};
pub(crate) use load::{flexible_sync_role, Reader};
pub use model::{CollectionRules, DocumentFilters, FieldRule, FilterRule, Permission, Role};
