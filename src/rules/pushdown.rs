//! Pushing a user's read permission down into the MongoDB query.

use bson::Document;

use super::choice::PushedRoles;
use super::decide::Decider;
use super::model::{Permission, Role};
use crate::expr::{Bindings, KnownFields, PushDown, PushedFilter};

fn permission(p: &Permission, ctx: &Bindings<'_>) -> PushDown {
    match p {
        Permission::Fixed(b) => PushDown {
            filter: if *b {
                PushedFilter::All
            } else {
                PushedFilter::Nothing
            },
            exact: true,
        },
        Permission::Expr(e) => e.push_down(ctx),
    }
}

fn any(parts: Vec<PushDown>) -> PushDown {
    let exact = parts.iter().all(|p| p.exact);
    PushDown {
        filter: PushedFilter::or(parts.into_iter().map(|p| p.filter).collect()),
        exact,
    }
}

fn all(parts: Vec<PushDown>) -> PushDown {
    let exact = parts.iter().all(|p| p.exact);
    PushDown {
        filter: PushedFilter::and(parts.into_iter().map(|p| p.filter).collect()),
        exact,
    }
}

/// Whether a role lets the user see a document at all (field rules widen to "maybe").
fn role_visibility(role: &Role, ctx: &Bindings<'_>) -> PushDown {
    let gate = match &role.document_filters {
        Some(filters) => match &filters.read {
            None => PushDown {
                filter: PushedFilter::All,
                exact: true,
            },
            Some(read) => any(vec![read.push_down(ctx)]
                .into_iter()
                .chain(filters.write.as_ref().map(|w| w.push_down(ctx)))
                .collect()),
        },
        None => PushDown {
            filter: PushedFilter::All,
            exact: true,
        },
    };
    let write = role.write.as_ref().map(|w| permission(w, ctx));
    let top = match &role.read {
        Some(read) => any(std::iter::once(permission(read, ctx))
            .chain(write)
            .collect()),
        None => any(write
            .into_iter()
            .chain(std::iter::once(fields_visibility(role)))
            .collect()),
    };
    all(vec![gate, top])
}

/// A document is visible through field rules when some field is readable: exactly nothing when
/// no field rule can grant anything, otherwise "maybe" (checked per document).
fn fields_visibility(role: &Role) -> PushDown {
    let grants = |p: &Option<Permission>| p.as_ref().is_some_and(|p| p.fixed() != Some(false));
    let may_grant = role
        .field_rules()
        .into_iter()
        .any(|(_, rule)| grants(&rule.read) || grants(&rule.write));
    if may_grant {
        PushDown {
            filter: PushedFilter::All,
            exact: false,
        }
    } else {
        PushDown {
            filter: PushedFilter::Nothing,
            exact: true,
        }
    }
}

impl Decider<'_> {
    /// A MongoDB filter for the documents this user may read: for each role in order, "this
    /// role applies, no earlier role does, and it lets the user see the document". Values are
    /// always in literal positions. When not `exact` the filter is wider than the rules; callers
    /// check each returned document in process (they do in any case, to redact fields).
    pub fn read_filter(&self) -> PushDown {
        let ctx = self.request().context(None, None);
        let roles = &self.rules().roles;
        let pushed = PushedRoles::new(roles, &ctx);
        let visibility: Vec<PushDown> = roles.iter().map(|r| role_visibility(r, &ctx)).collect();
        let exact = pushed.all_exact() && visibility.iter().all(|v| v.exact);
        // A later role only matters for documents no earlier role applies to. When an earlier
        // role shows every document it applies to (its visibility is exactly "all"), its
        // exclusion can be left out: such documents are matched by that role's own term
        // anyway. This keeps the filter free of negations (index-friendly) in the common case.
        let shows_all = |j: usize| visibility[j].exact && visibility[j].filter == PushedFilter::All;
        let alternatives = pushed
            .iter()
            .map(|(i, _, _)| pushed.chosen(i, |j| !shows_all(j), [visibility[i].filter.clone()]))
            .collect();
        PushDown {
            filter: PushedFilter::or(alternatives),
            exact,
        }
    }

    /// A MongoDB filter for the documents this user may change by writing exactly the paths in
    /// `written` (each a dotted path as parts), when that can be said exactly; `None` otherwise.
    ///
    /// It is only valid for writes that leave every field the rules read unchanged (the
    /// caller checks this with [`CollectionRules::footprint`](super::CollectionRules::footprint)):
    /// then the role, the document filters and a document-level `write` come out the same on
    /// the stored document as on the written one. Field-level permissions must be literal
    /// booleans, and every prefix of every written path must be writable (the in-process check
    /// walks the paths that actually changed, which may be shorter or longer than the ones
    /// written). A document this filter matches is one the in-process check would let the
    /// user change; a document it does not match may still be allowed (the caller then
    /// decides in process). `None` too when no role could allow the write at all.
    pub fn write_filter(&self, written: &[Vec<String>]) -> Option<Document> {
        self.write_filter_with(written, None)
    }

    /// [`Self::write_filter`] for a write that may change fields a document-level `write`
    /// reads, when those fields are `known`: set to literal values or removed at the top level
    /// ([`KnownFields`]). The document-level `write` is then decided on the post-image —
    /// the known values where it reads a known field, the stored document elsewhere (the
    /// caller checks that the write changes no other field `write` reads) — and `%%prevRoot`
    /// is the stored document, exactly as the in-process check decides it. `None` too when a
    /// `write` calls `%function` (it is then only run in process).
    pub fn write_filter_with(
        &self,
        written: &[Vec<String>],
        known: Option<&KnownFields>,
    ) -> Option<Document> {
        if written.iter().any(|p| p.is_empty()) {
            return None;
        }
        let ctx = self.request().context(None, None);
        let pushed = PushedRoles::new(&self.rules().roles, &ctx);
        if !pushed.all_exact() {
            return None;
        }
        let mut alternatives = Vec::new();
        for (i, role, _) in pushed.iter() {
            let gate = match role
                .document_filters
                .as_ref()
                .and_then(|f| f.write.as_ref())
            {
                // The in-process check decides `document_filters.write` with no `%%prevRoot`
                // (push-down would read it as the stored document): decided in process only.
                Some(gate) if gate.reads_prev_root() => return None,
                Some(gate) => gate.push_down(&ctx),
                None => PushDown {
                    filter: PushedFilter::All,
                    exact: true,
                },
            };
            let writable = match &role.write {
                Some(write) => match (known, write) {
                    (None, _) | (_, Permission::Fixed(_)) => permission(write, &ctx),
                    (Some(_), Permission::Expr(e)) if e.calls_functions() => return None,
                    (Some(known), Permission::Expr(e)) => e.push_down_written(&ctx, known),
                },
                None => PushDown {
                    filter: fields_writable(role, written)?,
                    exact: true,
                },
            };
            if !gate.exact || !writable.exact {
                return None;
            }
            alternatives.push(pushed.chosen(i, |_| true, [gate.filter, writable.filter]));
        }
        // No role lets this write through without looking at the document: nothing to push.
        match PushedFilter::or(alternatives) {
            PushedFilter::Nothing => None,
            filter => Some(filter.to_document()),
        }
    }

    /// A projection equivalent to the field rules, when one role is possible and its field rules
    /// are literal booleans (fields are still redacted per document afterwards).
    pub fn read_projection(&self) -> Option<Document> {
        let [role] = self.rules().roles.as_slice() else {
            return None;
        };
        if role.read.is_some() || role.write.is_some() {
            return None;
        }
        let literal = |p: &Option<Permission>| match p {
            None => Some(false),
            Some(p) => p.fixed(),
        };
        let mut readable = Vec::new();
        let mut hidden = Vec::new();
        for (name, rule) in &role.fields {
            if !rule.fields.is_empty() {
                return None;
            }
            let grants = literal(&rule.read)? || literal(&rule.write)?;
            if grants {
                readable.push(name.clone());
            } else {
                hidden.push(name.clone());
            }
        }
        let others = match &role.additional_fields {
            None => false,
            Some(rule) => literal(&rule.read)? || literal(&rule.write)?,
        };
        // Fields the role's own expressions read must still reach the in-process decision.
        let mut needed: Vec<String> = role.apply_when.document_fields();
        if let Some(filters) = &role.document_filters {
            for e in filters.read.iter().chain(filters.write.iter()) {
                needed.extend(e.document_fields());
            }
        }
        let mut projection = Document::new();
        if others {
            for name in hidden.into_iter().filter(|h| !needed.contains(h)) {
                projection.insert(name, 0);
            }
        } else {
            for name in needed {
                if !readable.contains(&name) {
                    readable.push(name);
                }
            }
            if !readable.iter().any(|n| n == "_id") {
                projection.insert("_id", 0);
            }
            for name in readable {
                projection.insert(name, 1);
            }
            if projection.keys().all(|k| k == "_id") {
                return None;
            }
        }
        (!projection.is_empty()).then_some(projection)
    }
}

/// Whether field rules let a role write every prefix of every path: `All` or `Nothing`, or
/// `None` when a deciding permission is an expression (it depends on the written value).
fn fields_writable(role: &Role, written: &[Vec<String>]) -> Option<PushedFilter> {
    for path in written {
        for end in 1..=path.len() {
            match super::decide::field_write_rule(role, &path[..end]).permission {
                Some(Permission::Fixed(true)) => {}
                Some(Permission::Fixed(false)) | None => return Some(PushedFilter::Nothing),
                Some(Permission::Expr(_)) => return None,
            }
        }
    }
    Some(PushedFilter::All)
}
