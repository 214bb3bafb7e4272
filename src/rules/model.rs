//! Compiled collection rules: roles, filters, field permissions.

use bson::Document;

use crate::expr::{Bindings, Explanation, Expression, Footprint, QueryTemplate};
use crate::Location;

/// A permission: a literal boolean or an expression.
#[derive(Debug, Clone)]
pub enum Permission {
    /// `true` / `false` as written.
    Fixed(bool),
    /// An expression.
    Expr(Expression),
}

impl Permission {
    /// Evaluates the permission.
    pub fn holds(&self, ctx: &Bindings<'_>) -> bool {
        match self {
            Permission::Fixed(b) => *b,
            Permission::Expr(e) => e.evaluate(ctx),
        }
    }

    /// Evaluates with an explanation (`None` for literal booleans).
    pub fn explain(&self, ctx: &Bindings<'_>) -> (bool, Option<Explanation>) {
        match self {
            Permission::Fixed(b) => (*b, None),
            Permission::Expr(e) => {
                let explanation = e.explain(ctx);
                (explanation.result, Some(explanation))
            }
        }
    }

    /// Adds the document fields an expression permission reads.
    pub fn add_footprint(&self, footprint: &mut Footprint) {
        if let Permission::Expr(e) = self {
            e.add_footprint(footprint);
        }
    }

    /// The literal value, if the permission is one.
    pub fn fixed(&self) -> Option<bool> {
        match self {
            Permission::Fixed(b) => Some(*b),
            Permission::Expr(_) => None,
        }
    }
}

/// Field-level permissions for one field (and its embedded fields).
#[derive(Debug, Clone)]
pub struct FieldRule {
    /// `read` (default: not granted).
    pub read: Option<Permission>,
    /// `write` (default: not granted; write implies read).
    pub write: Option<Permission>,
    /// Rules for embedded fields.
    pub fields: Vec<(String, FieldRule)>,
    /// Where the rule is written.
    pub at: Location,
}

impl FieldRule {
    /// The rule for an embedded field.
    pub fn field(&self, name: &str) -> Option<&FieldRule> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }
}

/// Where a field rule sits within its role: under `fields.<name>` or `additional_fields`, then
/// down `fields.<child>`…; shown as written in a rules file (`fields.a.fields.b`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRulePath {
    /// The top-level field's name; `None` for `additional_fields`.
    top: Option<String>,
    /// The embedded fields below it.
    nested: Vec<String>,
}

impl FieldRulePath {
    /// `fields.<name>`.
    pub fn named(name: &str) -> FieldRulePath {
        FieldRulePath {
            top: Some(name.to_owned()),
            nested: Vec::new(),
        }
    }

    /// `additional_fields`.
    pub fn additional() -> FieldRulePath {
        FieldRulePath {
            top: None,
            nested: Vec::new(),
        }
    }

    /// The rule of the embedded field `name` below this one.
    pub fn child(&self, name: &str) -> FieldRulePath {
        let mut child = self.clone();
        child.nested.push(name.to_owned());
        child
    }

    /// Whether the path starts at `additional_fields`.
    pub fn is_additional(&self) -> bool {
        self.top.is_none()
    }

    /// Whether the rule is a role's own (not nested in another field rule).
    pub fn is_top(&self) -> bool {
        self.nested.is_empty()
    }
}

impl std::fmt::Display for FieldRulePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.top {
            Some(name) => write!(f, "fields.{name}")?,
            None => write!(f, "additional_fields")?,
        }
        for name in &self.nested {
            write!(f, ".fields.{name}")?;
        }
        Ok(())
    }
}

/// `document_filters`: gates for a role's read and write permissions.
#[derive(Debug, Clone)]
pub struct DocumentFilters {
    /// `document_filters.read` (a missing key is no gate).
    pub read: Option<Expression>,
    /// `document_filters.write`.
    pub write: Option<Expression>,
}

/// A role.
#[derive(Debug, Clone)]
pub struct Role {
    /// `name`.
    pub name: String,
    /// Where the role is written.
    pub at: Location,
    /// `apply_when`.
    pub apply_when: Expression,
    /// `document_filters`.
    pub document_filters: Option<DocumentFilters>,
    /// Document-level `read` (undefined: field rules decide).
    pub read: Option<Permission>,
    /// Document-level `write` (undefined: field rules decide).
    pub write: Option<Permission>,
    /// `insert` (default true).
    pub insert: Permission,
    /// `delete` (default true).
    pub delete: Permission,
    /// `search` (default true).
    pub search: Permission,
    /// `fields`.
    pub fields: Vec<(String, FieldRule)>,
    /// `additional_fields` (missing: other fields get nothing).
    pub additional_fields: Option<FieldRule>,
}

impl FieldRule {
    /// Adds what the rule's expression permissions read and, when it has any, the field
    /// itself (named `name` at the top level): `%%this` and `%%prev` read its value. Returns
    /// whether it has an expression. Literal booleans depend on no value.
    fn add_footprint(&self, name: Option<&str>, footprint: &mut Footprint) -> bool {
        let mut has_expression = false;
        for p in [&self.read, &self.write].into_iter().flatten() {
            if let Permission::Expr(e) = p {
                e.add_footprint(footprint);
                has_expression = true;
            }
        }
        for (_, nested) in &self.fields {
            has_expression |= nested.add_footprint(None, footprint);
        }
        if has_expression {
            if let Some(name) = name {
                footprint.add_key(name);
            }
        }
        has_expression
    }
}

impl Role {
    /// The rule for a top-level field, if listed.
    pub fn field(&self, name: &str) -> Option<&FieldRule> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }

    /// The rule deciding a top-level field: its `fields` entry, else `additional_fields` (if
    /// any), with where that rule is.
    pub fn rule_for(&self, name: &str) -> (FieldRulePath, Option<&FieldRule>) {
        match self.field(name) {
            Some(rule) => (FieldRulePath::named(name), Some(rule)),
            None => (FieldRulePath::additional(), self.additional_fields.as_ref()),
        }
    }

    /// Every field rule of the role with where it is: each `fields` entry and the rules nested
    /// in it, then `additional_fields` and its nested rules. The one walk over a role's field
    /// rules (coverage, push-down and lints use it).
    ///
    /// ```
    /// let rules = expanse::rules::CollectionRules::parse(
    ///     r#"{"roles": [{"name": "r", "apply_when": {},
    ///                    "fields": {"a": {"fields": {"b": {"read": true}}}},
    ///                    "additional_fields": {"read": false}}]}"#,
    ///     "rules.json",
    /// )
    /// .unwrap();
    /// let paths: Vec<String> = rules.roles[0].field_rules().iter().map(|(p, _)| p.to_string()).collect();
    /// assert_eq!(paths, ["fields.a", "fields.a.fields.b", "additional_fields"]);
    /// ```
    pub fn field_rules(&self) -> Vec<(FieldRulePath, &FieldRule)> {
        let mut out = Vec::new();
        let tops = self
            .fields
            .iter()
            .map(|(name, rule)| (FieldRulePath::named(name), rule))
            .chain(
                self.additional_fields
                    .iter()
                    .map(|rule| (FieldRulePath::additional(), rule)),
            );
        for (path, rule) in tops {
            let mut stack = vec![(path, rule)];
            while let Some((path, rule)) = stack.pop() {
                for (name, nested) in rule.fields.iter().rev() {
                    stack.push((path.child(name), nested));
                }
                out.push((path, rule));
            }
        }
        out
    }

    /// Every expression of the role: `apply_when`, the document filters, the document-level
    /// permissions, then the field rules' permissions (in [`Role::field_rules`] order).
    pub fn expressions(&self) -> Vec<&Expression> {
        let mut out = vec![&self.apply_when];
        if let Some(f) = &self.document_filters {
            out.extend(f.read.iter().chain(f.write.iter()));
        }
        let document_level = [&self.read, &self.write].into_iter().flatten().chain([
            &self.insert,
            &self.delete,
            &self.search,
        ]);
        let field_level = self
            .field_rules()
            .into_iter()
            .flat_map(|(_, rule)| [&rule.read, &rule.write].into_iter().flatten());
        for permission in document_level.chain(field_level) {
            if let Permission::Expr(e) = permission {
                out.push(e);
            }
        }
        out
    }

    /// Whether every document this role lets its user see shows the value at `path` whole,
    /// whoever the user and whatever the document: the role grants document-level `read`
    /// (whole document or nothing), `write` is literally `true`, or the field rules on the way
    /// of the path's top-level field grant `read` or `write` literally. A query or sort on such a path gives the
    /// same answer on the stored document as on the document as the user may read it.
    ///
    /// ```
    /// let rules = expanse::rules::CollectionRules::parse(
    ///     r#"{"roles": [{"name": "r", "apply_when": {}, "fields": {"title": {"read": true}},
    ///                    "additional_fields": {"read": false}}]}"#,
    ///     "rules.json",
    /// )
    /// .unwrap();
    /// let role = &rules.roles[0];
    /// assert!(role.shows_whole(&["title".into()]));
    /// assert!(!role.shows_whole(&["secret".into()]));
    /// ```
    pub fn shows_whole(&self, path: &[String]) -> bool {
        if self.read.is_some() || self.write.as_ref().and_then(Permission::fixed) == Some(true) {
            return true;
        }
        // Embedded field rules show a field in part (and an array under them not at all), so
        // only a top-level literal grant keeps a path whole.
        let literal = |p: &Option<Permission>| p.as_ref().and_then(Permission::fixed);
        path.first()
            .and_then(|top| self.field(top).or(self.additional_fields.as_ref()))
            .is_some_and(|r| literal(&r.read) == Some(true) || literal(&r.write) == Some(true))
    }
}

/// A filter: merged into every rule-governed request when its `apply_when` holds.
#[derive(Debug, Clone)]
pub struct FilterRule {
    /// `name`.
    pub name: String,
    /// Where it is written.
    pub at: Location,
    /// `apply_when` (no document expansions).
    pub apply_when: Expression,
    /// `query`, with expansions.
    pub query: QueryTemplate,
    /// `projection` (`project` accepted too).
    pub projection: Document,
}

impl CollectionRules {
    /// The top-level document fields any role, field rule or filter reads (a field with an
    /// expression field rule counts: `%%this`/`%%prev` read it): a write decided under these
    /// rules stays valid while those fields (and the ones it writes) are unchanged.
    ///
    /// ```
    /// use expanse::rules::CollectionRules;
    ///
    /// let rules = CollectionRules::parse(
    ///     r#"{"roles": [{"name": "owner", "apply_when": {"owner_id": "%%user.id"},
    ///                    "write": {"status": {"$ne": "locked"}}, "fields": {"title": {"write": true}}}]}"#,
    ///     "rules.json",
    /// )
    /// .unwrap();
    /// let footprint = rules.footprint();
    /// assert_eq!(footprint.fields().collect::<Vec<_>>(), ["owner_id", "status"]);
    /// ```
    pub fn footprint(&self) -> Footprint {
        let mut footprint = Footprint::default();
        for role in &self.roles {
            role.apply_when.add_footprint(&mut footprint);
            if let Some(gates) = &role.document_filters {
                for e in [&gates.read, &gates.write].into_iter().flatten() {
                    e.add_footprint(&mut footprint);
                }
            }
            for p in [&role.read, &role.write].into_iter().flatten() {
                p.add_footprint(&mut footprint);
            }
            for p in [&role.insert, &role.delete, &role.search] {
                p.add_footprint(&mut footprint);
            }
            for (name, rule) in &role.fields {
                rule.add_footprint(Some(name), &mut footprint);
            }
            // An expression for every unlisted field may read any field's value.
            if let Some(rule) = &role.additional_fields {
                if rule.add_footprint(None, &mut footprint) {
                    footprint.add_whole();
                }
            }
        }
        for filter in &self.filters {
            filter.apply_when.add_footprint(&mut footprint);
            for key in filter.query.keys() {
                footprint.add_key(key);
            }
        }
        footprint
    }
}

/// The rules of one collection (or the data source's default rules).
#[derive(Debug, Clone)]
pub struct CollectionRules {
    /// The file they came from.
    pub file: String,
    /// Roles, in evaluation order.
    pub roles: Vec<Role>,
    /// Filters.
    pub filters: Vec<FilterRule>,
}
