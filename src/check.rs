//! `expanse check`: load an app and look for what App Services users commonly got wrong.

use crate::app::{App, LoadError};
use crate::diagnostic::Diagnostic;
use crate::query::Projection;
use crate::rules::{CollectionRules, Permission, Role};

/// The outcome of checking an app.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Problems that make the app unusable (or, with `strict`, extensions).
    pub errors: Vec<Diagnostic>,
    /// Likely mistakes.
    pub warnings: Vec<Diagnostic>,
}

/// Loads and checks an app directory. With `strict`, operators App Services did not document
/// for rule expressions are errors.
pub fn check(dir: &std::path::Path, strict: bool) -> Report {
    match App::load(dir) {
        Err(LoadError { errors, warnings }) => Report { errors, warnings },
        Ok(loaded) => {
            let mut report = Report {
                errors: Vec::new(),
                warnings: loaded.warnings,
            };
            lint(&loaded.app, strict, &mut report);
            report
        }
    }
}

fn lint(app: &App, strict: bool, report: &mut Report) {
    for source in app.data_sources.values() {
        let all = source
            .collections
            .values()
            .chain(source.default_rules.iter());
        for rules in all {
            lint_rules(rules, strict, report);
            escalation_across_roles(rules, report);
        }
    }
    for endpoint in &app.endpoints {
        if let Some(e) = &endpoint.can_evaluate {
            extensions(e, strict, report);
        }
    }
    for function in app.functions.values() {
        if let Some(e) = &function.can_evaluate {
            extensions(e, strict, report);
        }
        if let (Some(source), Some(file)) = (&function.source, &function.source_file) {
            if let Some(e) = crate::functions::js::syntax_error(source, &file.display().to_string())
            {
                report.errors.push(Diagnostic {
                    at: e.at,
                    message: format!("JavaScript syntax error: {}", e.message),
                    hint: None,
                });
            }
        }
    }
}

fn warn(report: &mut Report, at: &crate::Location, message: String, hint: Option<&str>) {
    report.warnings.push(Diagnostic {
        at: at.clone(),
        message,
        hint: hint.map(str::to_owned),
    });
}

fn lint_rules(rules: &CollectionRules, strict: bool, report: &mut Report) {
    let mut shadowing: Option<&Role> = None;
    for role in &rules.roles {
        if let Some(earlier) = shadowing {
            warn(
                report,
                &role.at,
                format!(
                    "role {:?} can never apply: role {:?} before it always applies",
                    role.name, earlier.name
                ),
                Some("roles are tried in order; put the most specific first"),
            );
        } else if role.apply_when.is_always_true() {
            shadowing = Some(role);
        }
        for field in role.apply_when.document_fields() {
            if writes_freely(role, &field) {
                warn(
                    report,
                    &role.at,
                    format!("role {:?} lets its users rewrite {field:?}, which its own apply_when reads (self-escalation)", role.name),
                    Some("make the field read-only for this role, or write-only on insert with {\"%%prevRoot\": {\"%exists\": false}}"),
                );
            }
        }
        for expression in role.expressions() {
            extensions(expression, strict, report);
        }
    }
    let mut kinds: Vec<(bool, &str)> = Vec::new();
    for filter in &rules.filters {
        extensions(&filter.apply_when, strict, report);
        if let Ok(p) = Projection::parse(&filter.projection) {
            if filter.projection.keys().any(|k| k != "_id") {
                kinds.push((p.is_inclusion(), &filter.name));
            }
        }
    }
    if let (Some(first), Some(other)) = (kinds.first(), kinds.iter().find(|k| k.0 != kinds[0].0)) {
        let at = rules
            .filters
            .iter()
            .find(|f| f.name == other.1)
            .map(|f| f.at.clone());
        if let Some(at) = at {
            warn(
                report,
                &at,
                format!("filters {:?} and {:?} use different kinds of projection; a request both apply to fails", first.1, other.1),
                None,
            );
        }
    }
}

/// Warns when a role lets its users rewrite a field that an earlier role's `apply_when` reads:
/// roles are tried in order, so by writing that field a user could make the earlier role apply
/// to the document, with its permissions (escalation across roles). A role that never applies
/// (an earlier one always does) is left to the shadowing warning.
fn escalation_across_roles(rules: &CollectionRules, report: &mut Report) {
    for (i, role) in rules.roles.iter().enumerate() {
        let earlier = &rules.roles[..i];
        if earlier.iter().any(|r| r.apply_when.is_always_true()) {
            continue;
        }
        for higher in earlier {
            for field in higher.apply_when.document_fields() {
                if writes_freely(role, &field) {
                    warn(
                        report,
                        &role.at,
                        format!(
                            "role {:?} lets its users rewrite {field:?}, which the apply_when of the earlier role {:?} reads: writing it can make {:?} apply (escalation across roles)",
                            role.name, higher.name, higher.name
                        ),
                        Some("make the field read-only for this role, or have the earlier role's apply_when read what users cannot write (%%user, custom user data)"),
                    );
                }
            }
        }
    }
}

/// Whether the role grants writing `field` unconditionally (document-level `write: true`, or a
/// literal `true` field rule).
fn writes_freely(role: &Role, field: &str) -> bool {
    match &role.write {
        Some(Permission::Fixed(b)) => return *b,
        Some(Permission::Expr(_)) => return false,
        None => {}
    }
    let rule = role.field(field).or(role.additional_fields.as_ref());
    matches!(
        rule.and_then(|r| r.write.as_ref()),
        Some(Permission::Fixed(true))
    )
}

fn extensions(expression: &crate::expr::Expression, strict: bool, report: &mut Report) {
    for (at, operator) in expression.extensions() {
        let diagnostic = Diagnostic {
            at: at.clone(),
            message: format!("{operator} is an Expanse extension: App Services did not accept it in rule expressions"),
            hint: None,
        };
        if strict {
            report.errors.push(diagnostic);
        }
    }
}

/// Fields the pushed-down rules of a collection filter on (what `apply_when` and the read
/// permissions read from the document).
pub fn pushed_down_fields(rules: &CollectionRules) -> Vec<String> {
    let mut fields = Vec::new();
    for role in &rules.roles {
        fields.extend(role.apply_when.document_fields());
        for p in [&role.read, &role.write].into_iter().flatten() {
            if let Permission::Expr(e) = p {
                fields.extend(e.document_fields());
            }
        }
        if let Some(f) = &role.document_filters {
            for e in f.read.iter().chain(f.write.iter()) {
                fields.extend(e.document_fields());
            }
        }
    }
    fields.sort();
    fields.dedup();
    fields
}

/// Warnings for fields pushed-down rules filter on that no index of the live collection
/// supports (as its first key). Collections that do not exist yet are skipped.
pub async fn index_advice(
    app: &App,
    store: &crate::store::MongoStore,
) -> Result<Vec<Diagnostic>, crate::store::StoreError> {
    use futures_util::TryStreamExt;
    let mut warnings = Vec::new();
    for source in app.data_sources.values() {
        for ((database, collection), rules) in &source.collections {
            let fields = pushed_down_fields(rules);
            if fields.is_empty() {
                continue;
            }
            let db = store.client().database(
                &store.database_name(&crate::store::Namespace::new(database, collection)),
            );
            let existing = db
                .list_collection_names()
                .await
                .map_err(crate::store::mongo_error)?;
            if !existing.contains(collection) {
                continue;
            }
            let indexes: Vec<mongodb::IndexModel> = db
                .collection::<bson::Document>(collection)
                .list_indexes()
                .await
                .map_err(crate::store::mongo_error)?
                .try_collect()
                .await
                .map_err(crate::store::mongo_error)?;
            let leading: Vec<String> = indexes
                .iter()
                .filter_map(|i| i.keys.keys().next().cloned())
                .collect();
            for field in fields.iter().filter(|f| !leading.contains(f)) {
                let at = crate::Location::new(rules.file.clone(), 1, 1);
                warnings.push(Diagnostic {
                    at,
                    message: format!("rules on {database}.{collection} filter on {field:?}, which no index supports: pushed-down reads scan the collection"),
                    hint: Some(format!("db.{collection}.createIndex({{\"{field}\": 1}})")),
                });
            }
        }
    }
    Ok(warnings)
}
