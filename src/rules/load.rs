//! Reading rule files (`rules.json`, `default_rule.json`, and the older formats) into
//! [`CollectionRules`], reporting every problem with its location.

use bson::{Bson, Document};

use super::model::{CollectionRules, DocumentFilters, FieldRule, FilterRule, Permission, Role};
use crate::diagnostic::Diagnostics;
use crate::expr::{ExprKind, Expression, QueryTemplate};
use crate::json::{self, Json, JsonKind, Member};
use crate::Location;

const ROLE_KEYS: &[&str] = &[
    "name",
    "apply_when",
    "document_filters",
    "read",
    "write",
    "insert",
    "delete",
    "search",
    "fields",
    "additional_fields",
    "_id",
    "applyWhen",
];
const FILTER_KEYS: &[&str] = &[
    "name",
    "apply_when",
    "query",
    "projection",
    "project",
    "_id",
];
const RULES_KEYS: &[&str] = &[
    "database",
    "collection",
    "roles",
    "filters",
    "schema",
    "_id",
    "id",
];

/// Reads one file, reporting to a shared sink.
pub(crate) struct Reader<'d> {
    pub found: &'d mut Diagnostics,
}

impl Reader<'_> {
    fn error(&mut self, at: &Location, message: impl Into<String>, hint: Option<String>) {
        self.found.error(at, message, hint);
    }

    fn warn(&mut self, at: &Location, message: impl Into<String>, hint: Option<String>) {
        self.found.warn(at, message, hint);
    }

    fn unknown_key(&mut self, member: &Member, known: &[&str], what: &str) {
        self.found
            .unknown_key(&member.key, &member.key_at, known, what);
    }

    fn expression(&mut self, json: &Json, kind: ExprKind) -> Option<Expression> {
        match Expression::compile(json, kind) {
            Ok(e) => Some(e),
            Err(e) => {
                self.found.errors.extend(e.diagnostics);
                None
            }
        }
    }

    fn permission(&mut self, json: &Json, kind: ExprKind) -> Option<Permission> {
        match json.kind {
            JsonKind::Bool(b) => Some(Permission::Fixed(b)),
            _ => self.expression(json, kind).map(Permission::Expr),
        }
    }

    fn string<'j>(&mut self, json: &'j Json, what: &str) -> Option<&'j str> {
        self.found.string(json, what)
    }

    /// A `rules.json` (`default: false`) or `default_rule.json` (`default: true`).
    pub fn rules(&mut self, json: &Json, file: &str, default: bool) -> CollectionRules {
        let mut rules = CollectionRules {
            file: file.to_owned(),
            roles: Vec::new(),
            filters: Vec::new(),
        };
        let Some(members) = json.as_object() else {
            self.error(
                &json.at,
                format!("a rules file must be an object, found {}", json.kind_name()),
                None,
            );
            return rules;
        };
        for m in members {
            match m.key.as_str() {
                "roles" => rules.roles = self.list(&m.value, "roles", |r, j| r.role(j)),
                "filters" => rules.filters = self.list(&m.value, "filters", |r, j| r.filter(j)),
                "database" | "collection" if !default => {
                    self.string(&m.value, &m.key);
                }
                "schema" | "_id" | "id" | "database" | "collection" => {}
                _ => self.unknown_key(m, RULES_KEYS, "a rules file"),
            }
        }
        let mut names: Vec<&str> = Vec::new();
        for role in &rules.roles {
            if names.contains(&role.name.as_str()) {
                self.found.error(
                    &role.at,
                    format!("duplicate role name {:?}", role.name),
                    Some("role names must be unique within a collection".into()),
                );
            }
            names.push(&role.name);
        }
        rules
    }

    fn list<T>(
        &mut self,
        json: &Json,
        what: &str,
        mut item: impl FnMut(&mut Self, &Json) -> Option<T>,
    ) -> Vec<T> {
        match &json.kind {
            JsonKind::Array(items) => items.iter().filter_map(|j| item(self, j)).collect(),
            _ => {
                self.error(
                    &json.at,
                    format!("{what} must be an array, found {}", json.kind_name()),
                    None,
                );
                Vec::new()
            }
        }
    }

    fn role(&mut self, json: &Json) -> Option<Role> {
        let Some(members) = json.as_object() else {
            self.error(
                &json.at,
                format!("a role must be an object, found {}", json.kind_name()),
                None,
            );
            return None;
        };
        let mut role = Role {
            name: String::new(),
            at: json.at.clone(),
            apply_when: Expression::parse("{}", "<default>", ExprKind::RoleApplyWhen).ok()?,
            document_filters: None,
            read: None,
            write: None,
            insert: Permission::Fixed(true),
            delete: Permission::Fixed(true),
            search: Permission::Fixed(true),
            fields: Vec::new(),
            additional_fields: None,
        };
        let mut has_apply_when = false;
        let mut ok = true;
        for m in members {
            let v = &m.value;
            match m.key.as_str() {
                "name" => {
                    if let Some(name) = self.string(v, "a role's name") {
                        if name.chars().count() > 100 {
                            self.error(&v.at, "a role's name is at most 100 characters", None);
                        }
                        role.name = name.to_owned();
                    }
                }
                "apply_when" | "applyWhen" => {
                    has_apply_when = true;
                    match self.expression(v, ExprKind::RoleApplyWhen) {
                        Some(e) => role.apply_when = e,
                        None => ok = false,
                    }
                }
                "document_filters" => role.document_filters = self.document_filters(v),
                "read" => role.read = self.permission(v, ExprKind::RolePermission),
                "write" => role.write = self.permission(v, ExprKind::RolePermission),
                "insert" => {
                    role.insert = self
                        .permission(v, ExprKind::RolePermission)
                        .unwrap_or(Permission::Fixed(false))
                }
                "delete" => {
                    role.delete = self
                        .permission(v, ExprKind::RolePermission)
                        .unwrap_or(Permission::Fixed(false))
                }
                "search" => {
                    role.search = self
                        .permission(v, ExprKind::RolePermission)
                        .unwrap_or(Permission::Fixed(false))
                }
                "fields" => role.fields = self.fields(v),
                "additional_fields" => role.additional_fields = self.field_rule(v, false),
                "_id" => {}
                _ => self.unknown_key(m, ROLE_KEYS, "a role"),
            }
        }
        if role.name.is_empty() {
            self.error(&json.at, "a role needs a \"name\"", None);
        }
        if !has_apply_when {
            self.warn(
                &json.at,
                format!(
                    "role {:?} has no apply_when; it applies to every document",
                    role.name
                ),
                None,
            );
        }
        ok.then_some(role)
    }

    fn document_filters(&mut self, json: &Json) -> Option<DocumentFilters> {
        let members = match json.as_object() {
            Some(m) => m,
            None => {
                self.error(
                    &json.at,
                    "document_filters must be an object with read and/or write",
                    None,
                );
                return None;
            }
        };
        let mut filters = DocumentFilters {
            read: None,
            write: None,
        };
        for m in members {
            match m.key.as_str() {
                "read" => filters.read = self.expression(&m.value, ExprKind::DocumentFilter),
                "write" => filters.write = self.expression(&m.value, ExprKind::DocumentFilter),
                _ => self.unknown_key(m, &["read", "write"], "document_filters"),
            }
        }
        Some(filters)
    }

    fn fields(&mut self, json: &Json) -> Vec<(String, FieldRule)> {
        let Some(members) = json.as_object() else {
            self.error(
                &json.at,
                "fields must be an object of field name → {read, write, fields}",
                None,
            );
            return Vec::new();
        };
        members
            .iter()
            .filter_map(|m| self.field_rule(&m.value, true).map(|r| (m.key.clone(), r)))
            .collect()
    }

    fn field_rule(&mut self, json: &Json, nested_allowed: bool) -> Option<FieldRule> {
        let Some(members) = json.as_object() else {
            self.error(
                &json.at,
                format!("a field rule must be an object, found {}", json.kind_name()),
                None,
            );
            return None;
        };
        let mut rule = FieldRule {
            read: None,
            write: None,
            fields: Vec::new(),
            at: json.at.clone(),
        };
        for m in members {
            match m.key.as_str() {
                "read" => rule.read = self.permission(&m.value, ExprKind::FieldPermission),
                "write" => rule.write = self.permission(&m.value, ExprKind::FieldPermission),
                "fields" if nested_allowed => rule.fields = self.fields(&m.value),
                _ => {
                    let known: &[&str] = if nested_allowed {
                        &["read", "write", "fields"]
                    } else {
                        &["read", "write"]
                    };
                    self.unknown_key(m, known, "a field rule")
                }
            }
        }
        Some(rule)
    }

    fn filter(&mut self, json: &Json) -> Option<FilterRule> {
        let Some(members) = json.as_object() else {
            self.error(
                &json.at,
                format!("a filter must be an object, found {}", json.kind_name()),
                None,
            );
            return None;
        };
        let mut name = String::new();
        let mut apply_when = None;
        let mut has_apply_when = false;
        let mut query = None;
        let mut projection = Document::new();
        for m in members {
            let v = &m.value;
            match m.key.as_str() {
                "name" => {
                    name = self
                        .string(v, "a filter's name")
                        .unwrap_or_default()
                        .to_owned()
                }
                "apply_when" => {
                    has_apply_when = true;
                    apply_when = self.expression(v, ExprKind::FilterApplyWhen);
                }
                "query" => match QueryTemplate::compile(v, ExprKind::FilterApplyWhen) {
                    Ok(t) => query = Some(t),
                    Err(e) => self.found.errors.extend(e.diagnostics),
                },
                "projection" | "project" => match json::to_document(v) {
                    Ok(p) => projection = p,
                    Err(e) => self.error(&e.at, e.message, None),
                },
                "_id" => {}
                _ => self.unknown_key(m, FILTER_KEYS, "a filter"),
            }
        }
        if name.is_empty() {
            self.error(&json.at, "a filter needs a \"name\"", None);
        }
        for (field, value) in &projection {
            if !matches!(
                value,
                Bson::Int32(0 | 1) | Bson::Int64(0 | 1) | Bson::Boolean(_)
            ) {
                self.error(
                    &json.at,
                    format!("filter {name:?}: projection values must be 0 or 1 (field {field:?})"),
                    None,
                );
            }
        }
        if let Err(e) = crate::query::Projection::parse(&projection) {
            self.error(
                &json.at,
                format!(
                    "filter {name:?}: projection mixes inclusion and exclusion ({})",
                    e.message
                ),
                None,
            );
        }
        if has_apply_when && apply_when.is_none() {
            return None;
        }
        let apply_when = apply_when.or_else(|| {
            self.warn(
                &json.at,
                format!("filter {name:?} has no apply_when; it applies to every request"),
                None,
            );
            Expression::parse("{}", "<default>", ExprKind::FilterApplyWhen).ok()
        })?;
        let query = match query {
            Some(q) => q,
            None => QueryTemplate::compile(
                &json::parse("{}", "<default>").ok()?,
                ExprKind::FilterApplyWhen,
            )
            .ok()?,
        };
        Some(FilterRule {
            name,
            at: json.at.clone(),
            apply_when,
            query,
            projection,
        })
    }
}

/// Converts a pre-2023 Flexible Sync role (`{"name", "applyWhen", "read", "write"}`) into the
/// current form: old `read`/`write` become `document_filters`, and the role grants everything
/// within them (App Services: https://www.mongodb.com/docs/atlas/app-services/rules/roles/).
pub(crate) fn flexible_sync_role(json: &Json) -> Json {
    let Some(members) = json.as_object() else {
        return json.clone();
    };
    let at = json.at.clone();
    let make = |kind: JsonKind| Json {
        kind,
        at: at.clone(),
    };
    let member = |key: &str, value: Json| Member {
        key: key.to_owned(),
        key_at: at.clone(),
        value,
    };
    let mut out = Vec::new();
    let mut gates = Vec::new();
    for m in members {
        match m.key.as_str() {
            "applyWhen" | "apply_when" => out.push(member("apply_when", m.value.clone())),
            "read" | "write" => gates.push(member(&m.key, m.value.clone())),
            _ => out.push(m.clone()),
        }
    }
    out.push(member("document_filters", make(JsonKind::Object(gates))));
    for key in ["read", "write", "insert", "delete", "search"] {
        out.push(member(key, make(JsonKind::Bool(true))));
    }
    make(JsonKind::Object(out))
}
