//! Per-document decisions: which role applies, what may be read, whether a write is allowed —
//! with a trace of every step when asked.

use std::fmt;

use bson::{Bson, Document};

use super::coverage::{Coverage, RuleLabel};
use super::model::{CollectionRules, FieldRule, FieldRulePath, Permission, Role};
use crate::expr::{Bindings, Expression, FunctionCaller};
use crate::query::FieldPath;
use crate::{Location, User};

/// What a request carries besides the document: the user, values, environment, request
/// metadata, and the function runtime for `%function`.
#[derive(Clone, Copy)]
pub struct RequestContext<'a> {
    /// The requesting user.
    pub user: &'a User,
    /// `%%values`.
    pub values: &'a Document,
    /// `%%environment`.
    pub environment: &'a Document,
    /// `%%request`, when known.
    pub request: Option<&'a Document>,
    /// The function runtime.
    pub functions: Option<&'a dyn FunctionCaller>,
}

impl<'a> RequestContext<'a> {
    /// A context for expressions, with `root` and `prevRoot` as given.
    pub fn context(
        &self,
        root: Option<&'a Document>,
        prev_root: Option<&'a Document>,
    ) -> Bindings<'a> {
        let mut ctx = Bindings::new()
            .user(self.user.document())
            .values(self.values)
            .environment(self.environment);
        if let Some(r) = self.request {
            ctx = ctx.request(r);
        }
        if let Some(f) = self.functions {
            ctx = ctx.functions(f);
        }
        if let Some(r) = root {
            ctx = ctx.root(r);
        }
        if let Some(p) = prev_root {
            ctx = ctx.prev_root(p);
        }
        ctx
    }
}

/// The kinds of writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// A new document.
    Insert,
    /// An update of an existing document.
    Update,
    /// A whole-document replacement.
    Replace,
    /// A delete.
    Delete,
}

impl WriteKind {
    /// `insert`, `update`, `replace`, `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteKind::Insert => "insert",
            WriteKind::Update => "update",
            WriteKind::Replace => "replace",
            WriteKind::Delete => "delete",
        }
    }
}

/// A refused write: which role and which rule refused it.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    /// The kind of write.
    pub kind: WriteKind,
    /// The document's `_id`, when it has one.
    pub id: Option<Bson>,
    /// The role that applied (`None`: no role applied).
    pub role: Option<String>,
    /// The rule that refused (`write`, `insert`, `fields.title.write`, …).
    pub rule: String,
    /// Where that rule is written.
    pub at: Option<Location>,
    /// Every step of the decision.
    pub trace: Vec<String>,
}

/// How a field-level refusal is worded (`field <path> is not writable`).
const FIELD_REFUSAL: (&str, &str) = ("field ", " is not writable");

impl Denial {
    /// The field path a field-level refusal names, if this is one.
    pub fn field(&self) -> Option<&str> {
        self.rule
            .strip_prefix(FIELD_REFUSAL.0)?
            .strip_suffix(FIELD_REFUSAL.1)
    }

    /// Words a field-level refusal without the field's name, for a caller who may not read
    /// the field (its name is then not theirs to learn).
    pub fn hide_field(&mut self) {
        if self.field().is_some() {
            self.rule = "a field the user cannot read is not writable".into();
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} not permitted", self.kind.as_str())?;
        if let Some(id) = &self.id {
            write!(
                f,
                " for document with _id: {}",
                id.clone().into_relaxed_extjson()
            )?;
        }
        match &self.role {
            Some(role) => write!(f, ": role {role:?} denies it ({})", self.rule)?,
            None => write!(f, ": {}", self.rule)?,
        }
        if let Some(at) = &self.at {
            write!(f, " at {at}")?;
        }
        Ok(())
    }
}

/// Decides for one collection's rules and one request.
pub struct Decider<'a> {
    rules: &'a CollectionRules,
    request: RequestContext<'a>,
    coverage: Option<&'a Coverage>,
}

pub(super) type Trace = Option<Vec<String>>;

pub(super) fn step(trace: &mut Trace, text: impl FnOnce() -> String) {
    if let Some(t) = trace {
        t.push(text());
    }
}

/// The first failing sub-expressions of an explained permission, for a trace.
pub(super) fn evaluate(
    expr: &Expression,
    ctx: &Bindings<'_>,
    label: impl FnOnce() -> String,
    trace: &mut Trace,
) -> bool {
    if trace.is_none() {
        return expr.evaluate(ctx);
    }
    let explanation = expr.explain(ctx);
    step(trace, || {
        let mut text = format!("{}: {}", label(), explanation.result);
        for line in explanation
            .lines
            .iter()
            .filter(|l| !l.detail.is_empty())
            .take(3)
        {
            text.push_str(&format!(
                "\n      {} → {} [{}]",
                line.source, line.result, line.detail
            ));
        }
        text
    });
    explanation.result
}

/// Whether `permission` holds; `label` names it in the trace (built only when tracing).
fn holds(
    permission: &Permission,
    ctx: &Bindings<'_>,
    label: impl FnOnce() -> String,
    trace: &mut Trace,
) -> bool {
    match permission {
        Permission::Fixed(b) => {
            step(trace, || format!("{}: {b}", label()));
            *b
        }
        Permission::Expr(e) => evaluate(e, ctx, label, trace),
    }
}

impl<'a> Decider<'a> {
    /// A decider for these rules and this request.
    pub fn new(rules: &'a CollectionRules, request: RequestContext<'a>) -> Decider<'a> {
        Decider {
            rules,
            request,
            coverage: None,
        }
    }

    /// Records the roles and field rules decisions use.
    pub fn with_coverage(mut self, coverage: &'a Coverage) -> Decider<'a> {
        self.coverage = Some(coverage);
        self
    }

    pub(super) fn covered(&self, label: impl FnOnce() -> RuleLabel) {
        if let Some(c) = self.coverage {
            c.record(&self.rules.file, label);
        }
    }

    fn covered_field(&self, role: &Role, path: &FieldRulePath) {
        self.covered(|| RuleLabel::Field {
            role: role.name.clone(),
            path: path.clone(),
        });
    }

    /// The rules decided on.
    pub fn rules(&self) -> &'a CollectionRules {
        self.rules
    }

    /// The request context.
    pub fn request(&self) -> &RequestContext<'a> {
        &self.request
    }

    /// The document as the user may read it (fields they cannot read removed), or `None` when
    /// it is hidden. A document with no readable field is hidden. A read changes nothing, so
    /// `%%root` and `%%prevRoot` are both the document (the insert-only pattern
    /// `write: {"%%prevRoot": {"%exists": false}}` therefore grants no reads).
    pub fn read(&self, doc: &Document, trace: &mut Trace) -> Option<Document> {
        let role = self.role_for(doc, Some(doc), trace)?;
        let ctx = self.request.context(Some(doc), Some(doc));
        if let Some(filters) = &role.document_filters {
            let read = filters
                .read
                .as_ref()
                .is_none_or(|e| evaluate(e, &ctx, || "document_filters.read".into(), trace));
            let passes = read
                || filters
                    .write
                    .as_ref()
                    .is_some_and(|e| evaluate(e, &ctx, || "document_filters.write".into(), trace));
            if !passes {
                step(trace, || {
                    "document_filters deny reading the document".into()
                });
                return None;
            }
        }
        match &role.read {
            Some(read) => {
                if holds(read, &ctx, || "read".into(), trace)
                    || role.write.as_ref().is_some_and(|w| {
                        holds(w, &ctx, || "write (write implies read)".into(), trace)
                    })
                {
                    return Some(doc.clone());
                }
                step(trace, || {
                    "read is not granted and write does not grant it: document hidden (field rules are not consulted)".into()
                });
                return None;
            }
            None => {
                if role
                    .write
                    .as_ref()
                    .is_some_and(|w| holds(w, &ctx, || "write (write implies read)".into(), trace))
                {
                    return Some(doc.clone());
                }
            }
        }
        let visible = self.readable_fields(role, None, doc, &ctx, "", trace);
        if visible.is_empty() {
            step(trace, || "no field is readable: document hidden".into());
            None
        } else {
            Some(visible)
        }
    }

    fn readable_fields(
        &self,
        role: &Role,
        parent: Option<(&FieldRule, &FieldRulePath)>,
        doc: &Document,
        ctx: &Bindings<'_>,
        prefix: &str,
        trace: &mut Trace,
    ) -> Document {
        let mut out = Document::new();
        for (key, value) in doc {
            let (rule_path, rule) = match parent {
                Some((p, parent_path)) => (parent_path.child(key), p.field(key)),
                None => role.rule_for(key),
            };
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            let Some(rule) = rule else {
                step(trace, || format!("field {path}: no rule, hidden"));
                continue;
            };
            self.covered_field(role, &rule_path);
            let field_ctx = ctx.this(value);
            let readable = rule
                .read
                .as_ref()
                .is_some_and(|r| holds(r, &field_ctx, || format!("fields.{path}.read"), trace))
                || rule.write.as_ref().is_some_and(|w| {
                    holds(
                        w,
                        &field_ctx,
                        || format!("fields.{path}.write (write implies read)"),
                        trace,
                    )
                });
            if readable {
                out.insert(key.clone(), value.clone());
            } else if let (true, Bson::Document(inner)) = (
                rule.read.is_none() && rule.write.is_none() && !rule.fields.is_empty(),
                value,
            ) {
                let nested =
                    self.readable_fields(role, Some((rule, &rule_path)), inner, ctx, &path, trace);
                if !nested.is_empty() {
                    out.insert(key.clone(), nested);
                }
            } else {
                step(trace, || format!("field {path}: hidden"));
            }
        }
        out
    }

    fn deny(
        &self,
        kind: WriteKind,
        doc: &Document,
        role: Option<&Role>,
        rule: String,
        at: Option<Location>,
        trace: Trace,
    ) -> Box<Denial> {
        Box::new(Denial {
            kind,
            id: doc.get("_id").cloned(),
            role: role.map(|r| r.name.clone()),
            rule,
            at,
            trace: trace.unwrap_or_default(),
        })
    }

    /// Whether `doc` may be inserted.
    pub fn check_insert(&self, doc: &Document, explain: bool) -> Result<(), Box<Denial>> {
        let mut trace: Trace = explain.then(Vec::new);
        let Some(role) = self.role_for(doc, None, &mut trace) else {
            return Err(self.deny(
                WriteKind::Insert,
                doc,
                None,
                "no role applies to the document".into(),
                None,
                trace,
            ));
        };
        let ctx = self.request.context(Some(doc), None);
        if let Err((rule, at)) = self.write_gate(role, &ctx, &mut trace) {
            return Err(self.deny(WriteKind::Insert, doc, Some(role), rule, at, trace));
        }
        // The role's own `insert` decides first, so a refusal names it rather than a field.
        if !holds(&role.insert, &ctx, || "insert".into(), &mut trace) {
            return Err(self.deny(
                WriteKind::Insert,
                doc,
                Some(role),
                "insert is false".into(),
                Some(role.at.clone()),
                trace,
            ));
        }
        let fields: Vec<FieldPath> = doc
            .keys()
            .map(|k| FieldPath::from_parts(vec![k.clone()]))
            .collect();
        if let Err((rule, at)) = self.document_writable(role, &ctx, None, doc, &fields, &mut trace)
        {
            return Err(self.deny(WriteKind::Insert, doc, Some(role), rule, at, trace));
        }
        Ok(())
    }

    /// Whether `pre` may become `post` (an update or replacement). The role is chosen on the
    /// pre-image; `write` sees `%%root` = post-image and `%%prevRoot` = pre-image; field rules
    /// apply to the fields the write really changes.
    pub fn check_update(
        &self,
        kind: WriteKind,
        pre: &Document,
        post: &Document,
        explain: bool,
    ) -> Result<(), Box<Denial>> {
        let mut trace: Trace = explain.then(Vec::new);
        let Some(role) = self.role_for(pre, Some(pre), &mut trace) else {
            return Err(self.deny(
                kind,
                pre,
                None,
                "no role applies to the document".into(),
                None,
                trace,
            ));
        };
        let gate_ctx = self.request.context(Some(pre), None);
        if let Err((rule, at)) = self.write_gate(role, &gate_ctx, &mut trace) {
            return Err(self.deny(kind, pre, Some(role), rule, at, trace));
        }
        let ctx = self.request.context(Some(post), Some(pre));
        let changed = crate::update::changed_paths(pre, post);
        step(&mut trace, || {
            let names: Vec<String> = changed.iter().map(|p| p.to_string()).collect();
            format!(
                "fields changed: {}",
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            )
        });
        if let Err((rule, at)) =
            self.document_writable(role, &ctx, Some(pre), post, &changed, &mut trace)
        {
            return Err(self.deny(kind, pre, Some(role), rule, at, trace));
        }
        Ok(())
    }

    /// Whether `doc` may be deleted: `delete`, and write on the whole document. During a delete
    /// both `%%root` and `%%prevRoot` are the stored document, so owner rules written against
    /// plain fields keep working.
    pub fn check_delete(&self, doc: &Document, explain: bool) -> Result<(), Box<Denial>> {
        let mut trace: Trace = explain.then(Vec::new);
        let Some(role) = self.role_for(doc, Some(doc), &mut trace) else {
            return Err(self.deny(
                WriteKind::Delete,
                doc,
                None,
                "no role applies to the document".into(),
                None,
                trace,
            ));
        };
        let ctx = self.request.context(Some(doc), Some(doc));
        if let Err((rule, at)) = self.write_gate(role, &ctx, &mut trace) {
            return Err(self.deny(WriteKind::Delete, doc, Some(role), rule, at, trace));
        }
        // The role's own `delete` decides first, so a refusal names it rather than a field.
        if !holds(&role.delete, &ctx, || "delete".into(), &mut trace) {
            return Err(self.deny(
                WriteKind::Delete,
                doc,
                Some(role),
                "delete is false".into(),
                Some(role.at.clone()),
                trace,
            ));
        }
        let fields: Vec<FieldPath> = doc
            .keys()
            .map(|k| FieldPath::from_parts(vec![k.clone()]))
            .collect();
        if let Err((rule, at)) =
            self.document_writable(role, &ctx, Some(doc), doc, &fields, &mut trace)
        {
            return Err(self.deny(WriteKind::Delete, doc, Some(role), rule, at, trace));
        }
        Ok(())
    }

    /// `document_filters.write`, when set, must hold.
    fn write_gate(
        &self,
        role: &Role,
        ctx: &Bindings<'_>,
        trace: &mut Trace,
    ) -> Result<(), (String, Option<Location>)> {
        if let Some(gate) = role
            .document_filters
            .as_ref()
            .and_then(|f| f.write.as_ref())
        {
            if !evaluate(gate, ctx, || "document_filters.write".into(), trace) {
                return Err((
                    "document_filters.write is false".into(),
                    Some(role.at.clone()),
                ));
            }
        }
        Ok(())
    }

    /// Document-level `write`, or field-level write on every path in `fields`.
    fn document_writable(
        &self,
        role: &Role,
        ctx: &Bindings<'_>,
        pre: Option<&Document>,
        post: &Document,
        fields: &[FieldPath],
        trace: &mut Trace,
    ) -> Result<(), (String, Option<Location>)> {
        if let Some(write) = &role.write {
            return if holds(write, ctx, || "write".into(), trace) {
                Ok(())
            } else {
                Err((
                    "write is false (field rules are not consulted)".into(),
                    Some(role.at.clone()),
                ))
            };
        }
        for path in fields {
            let parts = path.parts();
            let top = &parts[0];
            let this = post.get(top);
            let prev = pre.and_then(|p| p.get(top));
            let mut field_ctx = *ctx;
            if let Some(v) = this {
                field_ctx = field_ctx.this(v);
            }
            if let Some(v) = prev {
                field_ctx = field_ctx.prev(v);
            }
            let found = field_write_rule(role, parts);
            for path in &found.visited {
                self.covered_field(role, path);
            }
            let allowed = match found.permission {
                Some(w) => holds(w, &field_ctx, || found.label.clone(), trace),
                None => {
                    if found.rule.is_none() {
                        step(trace, || {
                            format!("{}: no rule grants writing {path}", found.label)
                        });
                    }
                    false
                }
            };
            if !allowed {
                let at = found.rule.map(|r| r.at.clone()).or(Some(role.at.clone()));
                return Err((format!("{}{path}{}", FIELD_REFUSAL.0, FIELD_REFUSAL.1), at));
            }
        }
        Ok(())
    }
}

/// The field rule deciding whether a path may be written under a role.
pub(crate) struct FieldWriteRule<'r> {
    /// The permission that decides (a parent's own `write` overrides its embedded fields'
    /// rules); `None` when no rule grants writing the path.
    pub permission: Option<&'r Permission>,
    /// The last rule on the way (`None` when the top-level field has none).
    pub rule: Option<&'r FieldRule>,
    /// `fields.<top>(.<child>)*.write`, for traces.
    pub label: String,
    /// The rules visited, for coverage.
    pub visited: Vec<FieldRulePath>,
}

/// Walks `fields.<top>` (or `additional_fields`) down the path's parts to the first rule with a
/// `write` permission.
pub(crate) fn field_write_rule<'r>(role: &'r Role, parts: &[String]) -> FieldWriteRule<'r> {
    let top = &parts[0];
    let (mut rule_path, mut rule) = role.rule_for(top);
    let mut depth = 0;
    let mut label = format!("fields.{top}.write");
    let mut visited = Vec::new();
    loop {
        let Some(r) = rule else {
            return FieldWriteRule {
                permission: None,
                rule: None,
                label,
                visited,
            };
        };
        visited.push(rule_path.clone());
        if let Some(w) = &r.write {
            return FieldWriteRule {
                permission: Some(w),
                rule: Some(r),
                label,
                visited,
            };
        }
        depth += 1;
        match parts.get(depth) {
            Some(child) if !r.fields.is_empty() => {
                label = format!("{}.{child}.write", label.trim_end_matches(".write"));
                rule_path = rule_path.child(child);
                rule = r.field(child);
            }
            _ => {
                return FieldWriteRule {
                    permission: None,
                    rule: Some(r),
                    label,
                    visited,
                }
            }
        }
    }
}
