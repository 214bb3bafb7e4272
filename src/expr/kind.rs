//! Where an expression is used decides which expansions it may use.

use super::expansion::Base;

/// The place an expression comes from (App Services: https://www.mongodb.com/docs/atlas/app-services/rules/expressions/).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExprKind {
    /// Anything goes (the `expanse eval` default): every expansion, plain keys read `%%root`.
    Any,
    /// A role's `apply_when`.
    RoleApplyWhen,
    /// `document_filters.read` / `.write`.
    DocumentFilter,
    /// A role's `read`, `write`, `insert`, `delete`, `search`.
    RolePermission,
    /// `fields.<name>.read/write`, `additional_fields.read/write`.
    FieldPermission,
    /// A filter's `apply_when`: runs before any document is read.
    FilterApplyWhen,
    /// A function's `can_evaluate`.
    CanEvaluate,
    /// A schema `validate` expression.
    SchemaValidate,
    /// A (deprecated) third-party service rule: plain keys read `%%args`.
    ServiceRule,
    /// A Partition-Based Sync permission.
    SyncPermission,
}

impl ExprKind {
    /// All kinds, with their command-line names.
    pub const ALL: &'static [(&'static str, ExprKind)] = &[
        ("any", ExprKind::Any),
        ("apply_when", ExprKind::RoleApplyWhen),
        ("document_filter", ExprKind::DocumentFilter),
        ("permission", ExprKind::RolePermission),
        ("field_permission", ExprKind::FieldPermission),
        ("filter_apply_when", ExprKind::FilterApplyWhen),
        ("can_evaluate", ExprKind::CanEvaluate),
        ("schema_validate", ExprKind::SchemaValidate),
        ("service_rule", ExprKind::ServiceRule),
        ("sync_permission", ExprKind::SyncPermission),
    ];

    /// A readable name for messages.
    pub fn describe(self) -> &'static str {
        match self {
            ExprKind::Any => "an expression",
            ExprKind::RoleApplyWhen => "a role's apply_when",
            ExprKind::DocumentFilter => "a role's document_filters",
            ExprKind::RolePermission => "a role permission",
            ExprKind::FieldPermission => "a field permission",
            ExprKind::FilterApplyWhen => "a filter's apply_when",
            ExprKind::CanEvaluate => "a function's can_evaluate",
            ExprKind::SchemaValidate => "a schema validate expression",
            ExprKind::ServiceRule => "a service rule",
            ExprKind::SyncPermission => "a sync permission",
        }
    }

    /// Whether expressions of this kind may use the expansion.
    pub fn allows(self, base: Base) -> bool {
        use Base::*;
        let always = matches!(base, True | False | User | Values | Environment);
        always
            || match self {
                ExprKind::Any => true,
                ExprKind::RoleApplyWhen | ExprKind::DocumentFilter | ExprKind::RolePermission => {
                    matches!(base, Root | PrevRoot | Request)
                }
                ExprKind::FieldPermission | ExprKind::SchemaValidate => {
                    matches!(base, Root | PrevRoot | This | Prev | Request)
                }
                ExprKind::FilterApplyWhen | ExprKind::CanEvaluate => matches!(base, Request),
                ExprKind::ServiceRule => matches!(base, Args | Request),
                ExprKind::SyncPermission => matches!(base, Partition),
            }
    }

    /// What a plain (non-`%%`) key reads: `%%root` in MongoDB rules, `%%args` in service rules,
    /// nothing where no document exists.
    pub fn implicit_base(self) -> Option<Base> {
        match self {
            ExprKind::ServiceRule => Some(Base::Args),
            ExprKind::FilterApplyWhen | ExprKind::CanEvaluate | ExprKind::SyncPermission => None,
            _ => Some(Base::Root),
        }
    }

    /// Whether `%function` may be used (not in Sync permissions).
    pub fn allows_functions(self) -> bool {
        self != ExprKind::SyncPermission
    }
}
