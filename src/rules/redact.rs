//! The read rules as server-side aggregation stages: which documents a user may read and, for
//! each, which fields — so that a user's own pipeline, placed after these stages, only ever
//! sees the documents and fields the user may read.
//!
//! Every role's `apply_when`, document filters and document-level `read`/`write` push down to
//! queries ([`Decider::read_filter`]'s translation); each field rule's permission does too, when
//! it does not read the field's own value (`%%this`, `%%prev`). A field rule that depends on
//! the document splits the role in two: the documents where it holds, where the field is kept,
//! and the others. Each role thus becomes a few *variants*, a query and a static view (the
//! whole document, or which top-level fields to keep, with the embedded fields to keep of
//! each). The documents sharing a view form one *partition*: one query, then one redaction
//! stage (`$project` for top-level fields; `$replaceWith` over `$objectToArray` when embedded
//! field rules apply), then, where a view may leave a document empty, a stage dropping it (a
//! document with no readable field is hidden). Several partitions are joined with `$unionWith`
//! by the caller.
//!
//! When something cannot be said exactly — an expression that pushes down only widened, a
//! field rule on `%%this`, field names MongoDB would read as paths, more than
//! [`MAX_SPLITS`] document-dependent field rules in one role — there is no plan, and the caller
//! decides in process.

use bson::{doc, Bson, Document};

use super::choice::PushedRoles;
use super::decide::Decider;
use super::model::{FieldRule, Permission, Role};
use crate::expr::{Bindings, PushDown, PushedFilter};

/// How many document-dependent field permissions one role may have before its variants (2 to
/// that power) are judged too many to send.
pub const MAX_SPLITS: usize = 3;

/// How many partitions (distinct views) a plan may have.
pub const MAX_PARTITIONS: usize = 8;

/// What one document shows: all of it, or some fields.
#[derive(Debug, Clone, PartialEq)]
pub enum View {
    /// Every field.
    Whole,
    /// The fields a field-level view keeps.
    Fields(FieldsView),
}

/// Which fields of one (embedded) document are kept.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldsView {
    /// Named fields and what is kept of each (sorted by name; see [`FieldsView::normalized`]).
    pub listed: Vec<(String, FieldView)>,
    /// Whether fields not listed are kept.
    pub others: bool,
}

/// What is kept of one named field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldView {
    /// The whole value.
    Keep,
    /// Nothing.
    Hide,
    /// When the value is a document, the fields of it this view keeps (the field goes when none
    /// is left); any other value goes.
    Nested(FieldsView),
}

/// One partition of a plan: the documents `filter` selects (on the stored documents) are shown
/// through `view`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadPartition {
    /// The documents, as a MongoDB query on the stored documents.
    pub filter: Document,
    /// What each of them shows.
    pub view: View,
}

/// Why the read rules cannot be sent to the server exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the read rules cannot be expressed exactly on the server: {0}")]
pub struct NotExact(pub String);

/// A permission's condition on the document.
#[derive(Debug, Clone, PartialEq)]
enum Cond {
    Const(bool),
    /// The index of a document-dependent condition of the role.
    On(usize),
}

/// A field-level view with conditions still open.
#[derive(Debug, Clone)]
struct OpenFields {
    listed: Vec<(String, OpenField)>,
    others: Cond,
}

#[derive(Debug, Clone)]
enum OpenField {
    /// Kept when the condition holds, hidden otherwise.
    When(Cond),
    Nested(OpenFields),
}

/// Collects a role's document-dependent conditions while its field rules are read.
struct Conditions<'c> {
    ctx: &'c Bindings<'c>,
    filters: Vec<PushedFilter>,
}

fn exact(pushed: PushDown, what: impl FnOnce() -> String) -> Result<PushedFilter, NotExact> {
    if pushed.exact {
        Ok(pushed.filter)
    } else {
        Err(NotExact(format!("{} pushes down only widened", what())))
    }
}

/// A field name MongoDB reads as itself in `$project` and `$exists`.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('$') && !name.contains('.') && !name.contains('\0')
}

impl Conditions<'_> {
    fn permission(&self, p: &Permission, label: &str) -> Result<PushedFilter, NotExact> {
        match p {
            Permission::Fixed(true) => Ok(PushedFilter::All),
            Permission::Fixed(false) => Ok(PushedFilter::Nothing),
            Permission::Expr(e) => {
                if e.reads_field_value() {
                    return Err(NotExact(format!("{label} reads the field's own value")));
                }
                exact(e.push_down(self.ctx), || label.to_owned())
            }
        }
    }

    fn cond(&mut self, filter: PushedFilter) -> Cond {
        match filter {
            PushedFilter::All => Cond::Const(true),
            PushedFilter::Nothing => Cond::Const(false),
            other => match self.filters.iter().position(|f| *f == other) {
                Some(i) => Cond::On(i),
                None => {
                    self.filters.push(other);
                    Cond::On(self.filters.len() - 1)
                }
            },
        }
    }

    /// `read` or `write` (write implies read) of a field rule.
    fn readable(&mut self, rule: &FieldRule, label: &str) -> Result<Cond, NotExact> {
        let read = rule
            .read
            .as_ref()
            .map(|p| self.permission(p, &format!("{label}.read")))
            .transpose()?
            .unwrap_or(PushedFilter::Nothing);
        let write = rule
            .write
            .as_ref()
            .map(|p| self.permission(p, &format!("{label}.write")))
            .transpose()?
            .unwrap_or(PushedFilter::Nothing);
        Ok(self.cond(PushedFilter::or(vec![read, write])))
    }

    /// What a listed field rule keeps: its own permissions, or (with none) its embedded rules.
    fn field(&mut self, rule: &FieldRule, label: &str) -> Result<OpenField, NotExact> {
        if rule.read.is_none() && rule.write.is_none() && !rule.fields.is_empty() {
            let mut listed = Vec::with_capacity(rule.fields.len());
            for (name, nested) in &rule.fields {
                if !plain_name(name) {
                    return Err(NotExact(format!("the field name {name:?}")));
                }
                listed.push((
                    name.clone(),
                    self.field(nested, &format!("{label}.{name}"))?,
                ));
            }
            return Ok(OpenField::Nested(OpenFields {
                listed,
                others: Cond::Const(false),
            }));
        }
        Ok(OpenField::When(self.readable(rule, label)?))
    }

    fn role_fields(&mut self, role: &Role) -> Result<OpenFields, NotExact> {
        let mut listed = Vec::with_capacity(role.fields.len());
        for (name, rule) in &role.fields {
            if !plain_name(name) {
                return Err(NotExact(format!("the field name {name:?}")));
            }
            listed.push((name.clone(), self.field(rule, &format!("fields.{name}"))?));
        }
        let others = match &role.additional_fields {
            None => Cond::Const(false),
            Some(rule)
                if rule.read.is_none() && rule.write.is_none() && !rule.fields.is_empty() =>
            {
                return Err(NotExact(
                    "additional_fields with embedded field rules".into(),
                ))
            }
            Some(rule) => self.readable(rule, "additional_fields")?,
        };
        Ok(OpenFields { listed, others })
    }
}

fn settle(cond: &Cond, holds: &[bool]) -> bool {
    match cond {
        Cond::Const(b) => *b,
        Cond::On(i) => holds.get(*i).copied().unwrap_or(false),
    }
}

impl OpenFields {
    fn settle(&self, holds: &[bool]) -> FieldsView {
        let listed = self
            .listed
            .iter()
            .map(|(name, field)| {
                let view = match field {
                    OpenField::When(c) => {
                        if settle(c, holds) {
                            FieldView::Keep
                        } else {
                            FieldView::Hide
                        }
                    }
                    OpenField::Nested(inner) => FieldView::Nested(inner.settle(holds)),
                };
                (name.clone(), view)
            })
            .collect();
        FieldsView {
            listed,
            others: settle(&self.others, holds),
        }
        .normalized()
    }
}

impl FieldsView {
    /// The same view in one canonical form: entries that say what `others` says dropped, nested
    /// views that keep nothing turned into [`FieldView::Hide`], names sorted.
    pub fn normalized(self) -> FieldsView {
        let others = self.others;
        let mut listed: Vec<(String, FieldView)> = self
            .listed
            .into_iter()
            .map(|(name, view)| {
                let view = match view {
                    FieldView::Nested(inner) => {
                        let inner = inner.normalized();
                        if inner.keeps_nothing() {
                            FieldView::Hide
                        } else {
                            FieldView::Nested(inner)
                        }
                    }
                    other => other,
                };
                (name, view)
            })
            .filter(|(_, view)| match view {
                FieldView::Keep => !others,
                FieldView::Hide => others,
                FieldView::Nested(_) => true,
            })
            .collect();
        listed.sort_by(|a, b| a.0.cmp(&b.0));
        FieldsView { listed, others }
    }

    /// Whether no field can be kept.
    pub fn keeps_nothing(&self) -> bool {
        !self.others && self.listed.is_empty()
    }

    fn is_flat(&self) -> bool {
        !self
            .listed
            .iter()
            .any(|(_, v)| matches!(v, FieldView::Nested(_)))
    }

    fn keeps_id(&self) -> bool {
        match self.listed.iter().find(|(n, _)| n == "_id") {
            Some((_, view)) => matches!(view, FieldView::Keep),
            None => self.others,
        }
    }

    fn names(&self, wanted: impl Fn(&FieldView) -> bool) -> Vec<Bson> {
        self.listed
            .iter()
            .filter(|(_, v)| wanted(v))
            .map(|(n, _)| Bson::String(n.clone()))
            .collect()
    }

    /// An expression building, from the document `input` evaluates to, the document this view
    /// shows (`depth` names its variables apart from those of enclosing levels).
    fn expression(&self, input: Bson, depth: usize) -> Bson {
        let var = format!("f{depth}");
        let key = Bson::String(format!("$${var}.k"));
        let value = Bson::String(format!("$${var}.v"));
        let entries = doc! {"$objectToArray": input};
        let nested: Vec<(&String, &FieldsView)> = self
            .listed
            .iter()
            .filter_map(|(n, v)| match v {
                FieldView::Nested(inner) => Some((n, inner)),
                _ => None,
            })
            .collect();
        let mapped = if nested.is_empty() {
            Bson::Document(entries)
        } else {
            let branches: Vec<Bson> = nested
                .iter()
                .map(|(name, inner)| {
                    Bson::Document(doc! {
                        "case": {"$eq": [key.clone(), {"$literal": name.as_str()}]},
                        "then": {"$cond": [
                            {"$eq": [{"$type": value.clone()}, "object"]},
                            inner.expression(value.clone(), depth + 1),
                            "$$REMOVE",
                        ]},
                    })
                })
                .collect();
            Bson::Document(doc! {"$map": {
                "input": entries,
                "as": var.as_str(),
                "in": {"k": key.clone(), "v": {"$switch": {"branches": branches, "default": value.clone()}}},
            }})
        };
        let nested_names = self.names(|v| matches!(v, FieldView::Nested(_)));
        let mut keep = vec![Bson::Document(
            doc! {"$in": [key.clone(), {"$literal": self.names(|v| matches!(v, FieldView::Keep))}]},
        )];
        if self.others {
            let listed: Vec<Bson> = self.names(|_| true);
            keep.push(Bson::Document(
                doc! {"$not": [{"$in": [key.clone(), {"$literal": listed}]}]},
            ));
        }
        if !nested_names.is_empty() {
            keep.push(Bson::Document(doc! {"$and": [
                {"$in": [key.clone(), {"$literal": nested_names}]},
                {"$eq": [{"$type": value.clone()}, "object"]},
                {"$ne": [value.clone(), {"$literal": {}}]},
            ]}));
        }
        Bson::Document(doc! {"$arrayToObject": {"$filter": {
            "input": mapped,
            "as": var.as_str(),
            "cond": {"$or": keep},
        }}})
    }
}

impl View {
    /// The stages that turn each stored document of the partition into what this view shows,
    /// and drop a document left with no field (hidden: no field is readable).
    ///
    /// ```
    /// use bson::doc;
    /// use expanse::rules::{FieldView, FieldsView, View};
    /// let view = View::Fields(FieldsView {
    ///     listed: vec![("secret".into(), FieldView::Hide)],
    ///     others: true,
    /// });
    /// assert_eq!(view.stages(), vec![doc! {"$project": {"secret": 0}}]);
    /// ```
    pub fn stages(&self) -> Vec<Document> {
        let View::Fields(view) = self else {
            return Vec::new();
        };
        let mut stages = Vec::new();
        if view.is_flat() {
            let mut projection = Document::new();
            if view.others {
                for (name, _) in &view.listed {
                    projection.insert(name.clone(), 0);
                }
            } else {
                if !view.keeps_id() {
                    projection.insert("_id", 0);
                }
                for (name, _) in &view.listed {
                    projection.insert(name.clone(), 1);
                }
            }
            if !projection.is_empty() {
                stages.push(doc! {"$project": projection});
            }
            // Without others, `non_empty` said it in the query.
            if view.others && !view.keeps_id() {
                stages.push(non_empty());
            }
        } else {
            stages.push(doc! {"$replaceWith": view.expression(Bson::String("$$ROOT".into()), 0)});
            if !view.keeps_id() {
                stages.push(non_empty());
            }
        }
        stages
    }

    /// A query on the stored document saying the view leaves it some field, when the stages
    /// do not check that themselves (a flat view without `others`: one of its fields exists).
    fn non_empty_query(&self) -> PushedFilter {
        match self {
            View::Fields(view) if view.is_flat() && !view.others && !view.keeps_id() => {
                PushedFilter::or(
                    view.listed
                        .iter()
                        .map(|(name, _)| {
                            PushedFilter::Query(doc! {name.clone(): {"$exists": true}})
                        })
                        .collect(),
                )
            }
            _ => PushedFilter::All,
        }
    }
}

/// `$match` dropping documents with no field left.
fn non_empty() -> Document {
    doc! {"$match": {"$expr": {"$gt": [{"$size": {"$objectToArray": "$$ROOT"}}, 0]}}}
}

/// One role's variants: `(condition beyond apply_when, view)`; and the one view it shows every
/// document it applies to, if there is one.
struct RoleVariants {
    variants: Vec<(PushedFilter, View)>,
    uniform: Option<View>,
}

impl Decider<'_> {
    fn role_variants(&self, role: &Role, ctx: &Bindings<'_>) -> Result<RoleVariants, NotExact> {
        let label = |what: &str| format!("role {:?}: {what}", role.name);
        let mut conditions = Conditions {
            ctx,
            filters: Vec::new(),
        };
        let gate = match role.document_filters.as_ref() {
            Some(f) if f.read.is_some() => {
                let read = f
                    .read
                    .as_ref()
                    .map(|e| exact(e.push_down(ctx), || label("document_filters.read")));
                let write = f
                    .write
                    .as_ref()
                    .map(|e| exact(e.push_down(ctx), || label("document_filters.write")));
                PushedFilter::or(
                    read.into_iter()
                        .chain(write)
                        .collect::<Result<Vec<_>, _>>()?,
                )
            }
            _ => PushedFilter::All,
        };
        let write = role
            .write
            .as_ref()
            .map(|w| conditions.permission(w, &label("write")))
            .transpose()?;
        if let Some(read) = &role.read {
            let read = conditions.permission(read, &label("read"))?;
            let visible = PushedFilter::or(vec![read].into_iter().chain(write).collect());
            let uniform =
                (gate == PushedFilter::All && visible == PushedFilter::All).then_some(View::Whole);
            return Ok(RoleVariants {
                variants: vec![(PushedFilter::and(vec![gate, visible]), View::Whole)],
                uniform,
            });
        }
        let write = write.unwrap_or(PushedFilter::Nothing);
        let fields = conditions.role_fields(role)?;
        let split = conditions.filters;
        if split.len() > MAX_SPLITS {
            return Err(NotExact(label(&format!(
                "more than {MAX_SPLITS} field permissions depend on the document"
            ))));
        }
        let mut variants: Vec<(PushedFilter, View)> = Vec::new();
        let mut push = |condition: PushedFilter, view: View| {
            if condition == PushedFilter::Nothing {
                return;
            }
            match variants.iter_mut().find(|(_, v)| *v == view) {
                Some((c, _)) => *c = PushedFilter::or(vec![c.clone(), condition]),
                None => variants.push((condition, view)),
            }
        };
        push(
            PushedFilter::and(vec![gate.clone(), write.clone()]),
            View::Whole,
        );
        let not_write = write.clone().negate();
        let mut views = Vec::new();
        for mask in 0..(1usize << split.len()) {
            let holds: Vec<bool> = (0..split.len()).map(|i| mask & (1 << i) != 0).collect();
            let view = fields.settle(&holds);
            let mut parts = vec![gate.clone(), not_write.clone()];
            for (i, filter) in split.iter().enumerate() {
                parts.push(if holds[i] {
                    filter.clone()
                } else {
                    filter.clone().negate()
                });
            }
            views.push(view.clone());
            if view.keeps_nothing() {
                continue;
            }
            let view = View::Fields(view);
            let condition =
                PushedFilter::and(vec![PushedFilter::and(parts), view.non_empty_query()]);
            push(condition, view);
        }
        let uniform = match (gate == PushedFilter::All, &write, views.first()) {
            (true, PushedFilter::All, _) => Some(View::Whole),
            (true, PushedFilter::Nothing, Some(first))
                if views.iter().all(|v| v == first) && first.keeps_id() =>
            {
                Some(View::Fields(first.clone()))
            }
            _ => None,
        };
        Ok(RoleVariants { variants, uniform })
    }

    /// The read rules as server-side partitions: for each distinct view, the documents (a
    /// query on stored documents) shown through it. Each document the user may read is in
    /// exactly one partition, and no other document is in any. [`View::stages`] turns a
    /// partition's documents into what the user may read of them. Filters are not included
    /// (their query and projection apply around the partitions).
    ///
    /// ```
    /// use bson::doc;
    /// use expanse::rules::{CollectionRules, Decider, RequestContext, View};
    /// let rules = CollectionRules::parse(
    ///     r#"{"roles": [{"name": "owner", "apply_when": {"owner": "%%user.id"}, "read": true},
    ///                   {"name": "others", "apply_when": {}, "fields": {"title": {"read": true}}}]}"#,
    ///     "rules.json",
    /// )
    /// .unwrap();
    /// let user = expanse::User::new("u1");
    /// let (values, environment) = (doc! {}, doc! {});
    /// let request = RequestContext { user: &user, values: &values, environment: &environment, request: None, functions: None };
    /// let partitions = Decider::new(&rules, request).read_partitions().unwrap();
    /// assert_eq!(partitions.len(), 2);
    /// assert_eq!(partitions[0].view, View::Whole);
    /// assert_eq!(partitions[0].filter, doc! {"owner": {"$eq": "u1"}});
    /// assert_eq!(
    ///     View::stages(&partitions[1].view),
    ///     vec![doc! {"$project": {"_id": 0, "title": 1}}]
    /// );
    /// ```
    pub fn read_partitions(&self) -> Result<Vec<ReadPartition>, NotExact> {
        let ctx = self.request().context(None, None);
        let pushed = PushedRoles::new(&self.rules().roles, &ctx);
        let roles: Vec<RoleVariants> = pushed
            .iter()
            .map(|(_, role, applies)| {
                exact(applies.clone(), || {
                    format!("role {:?}: apply_when", role.name)
                })?;
                self.role_variants(role, &ctx)
            })
            .collect::<Result<_, _>>()?;
        let mut groups: Vec<(View, Vec<PushedFilter>)> = Vec::new();
        for (i, role) in roles.iter().enumerate() {
            for (condition, view) in &role.variants {
                // An earlier role showing every document it applies to as this same view
                // claims none of this view's documents wrongly: no need to exclude it.
                let term = pushed.chosen(
                    i,
                    |j| roles[j].uniform.as_ref() != Some(view),
                    [condition.clone()],
                );
                if term == PushedFilter::Nothing {
                    continue;
                }
                match groups.iter_mut().find(|(v, _)| v == view) {
                    Some((_, terms)) => terms.push(term),
                    None => groups.push((view.clone(), vec![term])),
                }
            }
        }
        if groups.len() > MAX_PARTITIONS {
            return Err(NotExact(format!(
                "the roles show documents in more than {MAX_PARTITIONS} different ways"
            )));
        }
        Ok(groups
            .into_iter()
            .map(|(view, terms)| ReadPartition {
                filter: PushedFilter::or(terms).to_document(),
                view,
            })
            .collect())
    }
}
