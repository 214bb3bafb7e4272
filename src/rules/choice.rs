//! The role-choosing rule of App Services — a document gets the first role whose `apply_when`
//! holds — in its two forms side by side: concretely for one document ([`Decider::role_for`]),
//! and pushed down as the MongoDB condition under which each role is the one chosen
//! ([`PushedRoles`]), which the read filter, the write filter and the server-side read views
//! build on. The property test `pushdown_property` checks that the two agree.

use bson::Document;

use super::coverage::RuleLabel;
use super::decide::{evaluate, step, Decider, Trace};
use super::model::Role;
use crate::expr::{Bindings, PushDown, PushedFilter};

impl<'a> Decider<'a> {
    /// The first role whose `apply_when` holds for `doc` (`prev_root`: the stored document, when
    /// there is one).
    pub fn role_for(
        &self,
        doc: &Document,
        prev_root: Option<&Document>,
        trace: &mut Trace,
    ) -> Option<&'a Role> {
        let ctx = self.request().context(Some(doc), prev_root);
        for role in &self.rules().roles {
            if evaluate(
                &role.apply_when,
                &ctx,
                || format!("role {:?} ({}) apply_when", role.name, role.at),
                trace,
            ) {
                step(trace, || format!("role {:?} applies", role.name));
                self.covered(|| RuleLabel::Role {
                    role: role.name.clone(),
                });
                return Some(role);
            }
        }
        step(trace, || "no role applies".into());
        None
    }
}

/// Every role with its `apply_when` pushed down, in order: the pushed-down form of "the first
/// role whose `apply_when` holds".
pub(crate) struct PushedRoles<'r> {
    roles: Vec<(&'r Role, PushDown)>,
}

impl<'r> PushedRoles<'r> {
    /// Pushes down every role's `apply_when` in `ctx`.
    pub fn new(roles: &'r [Role], ctx: &Bindings<'_>) -> PushedRoles<'r> {
        PushedRoles {
            roles: roles
                .iter()
                .map(|role| (role, role.apply_when.push_down(ctx)))
                .collect(),
        }
    }

    /// The roles with their pushed-down `apply_when`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &'r Role, &PushDown)> + '_ {
        self.roles
            .iter()
            .enumerate()
            .map(|(i, (role, applies))| (i, *role, applies))
    }

    /// Whether every `apply_when` pushed down exactly.
    pub fn all_exact(&self) -> bool {
        self.roles.iter().all(|(_, applies)| applies.exact)
    }

    /// The condition under which role `i` is the one chosen and `extra` holds: it applies, and
    /// each earlier role that `may_claim` says could otherwise take the document does not. An
    /// earlier role whose `apply_when` pushed down widened cannot be negated (the negation
    /// would be too narrow), so it is left out and the condition is wider than the rule; so is
    /// one `may_claim` waives (the caller knows that role's own condition covers the
    /// document anyway).
    pub fn chosen(
        &self,
        i: usize,
        may_claim: impl Fn(usize) -> bool,
        extra: impl IntoIterator<Item = PushedFilter>,
    ) -> PushedFilter {
        let mut parts: Vec<PushedFilter> = self.roles[..i.min(self.roles.len())]
            .iter()
            .enumerate()
            .filter(|(j, (_, applies))| applies.exact && may_claim(*j))
            .map(|(_, (_, applies))| applies.filter.clone().negate())
            .collect();
        if let Some((_, applies)) = self.roles.get(i) {
            parts.push(applies.filter.clone());
        }
        parts.extend(extra);
        PushedFilter::and(parts)
    }
}
