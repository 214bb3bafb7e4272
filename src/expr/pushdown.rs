//! Translating an expression into a MongoDB filter on the document (push-down).
//!
//! Everything that does not depend on the document (`%%user`, `%%values`, `%function` on
//! non-document arguments, `%%prevRoot` on reads) is evaluated first and becomes a constant.
//! What remains becomes query operators whose operands are always in literal positions (`$eq`,
//! `$in`, …), so values can never be read as operators. Where an exact translation is not
//! possible the filter is widened (never narrowed) and marked inexact: callers check every
//! returned document in process anyway.

use bson::{doc, Bson, Document};

use super::ast::{FieldNode, Node, Operand, Subject, Test};
use super::bindings::Bindings;
use super::eval::{eval_fast, resolve};
use super::expansion::Base;
use super::known::KnownFields;
use crate::query::{truthy, Comparison, FieldPath};

/// A MongoDB filter equivalent to (or, when not `exact`, wider than) an expression.
#[derive(Debug, Clone, PartialEq)]
pub struct PushDown {
    /// The filter.
    pub filter: PushedFilter,
    /// Whether the filter matches exactly the documents the expression holds for.
    pub exact: bool,
}

/// A pushed-down filter, kept symbolic so constants fold.
#[derive(Debug, Clone, PartialEq)]
pub enum PushedFilter {
    /// Matches every document.
    All,
    /// Matches no document.
    Nothing,
    /// A MongoDB query document.
    Query(Document),
}

impl PushedFilter {
    /// As a MongoDB query document (`{}` for all, an impossible condition for nothing).
    pub fn to_document(&self) -> Document {
        match self {
            PushedFilter::All => Document::new(),
            PushedFilter::Nothing => doc! {"_id": {"$in": []}},
            PushedFilter::Query(d) => d.clone(),
        }
    }

    /// Conjunction, folding constants.
    pub fn and(parts: Vec<PushedFilter>) -> PushedFilter {
        let mut queries = Vec::new();
        for part in parts {
            match part {
                PushedFilter::All => {}
                PushedFilter::Nothing => return PushedFilter::Nothing,
                PushedFilter::Query(d) => queries.push(Bson::Document(d)),
            }
        }
        match queries.len() {
            0 => PushedFilter::All,
            1 => match queries.pop() {
                Some(Bson::Document(d)) => PushedFilter::Query(d),
                _ => PushedFilter::All,
            },
            _ => PushedFilter::Query(doc! {"$and": queries}),
        }
    }

    /// Disjunction, folding constants.
    pub fn or(parts: Vec<PushedFilter>) -> PushedFilter {
        let mut queries = Vec::new();
        for part in parts {
            match part {
                PushedFilter::All => return PushedFilter::All,
                PushedFilter::Nothing => {}
                PushedFilter::Query(d) => queries.push(Bson::Document(d)),
            }
        }
        match queries.len() {
            0 => PushedFilter::Nothing,
            1 => match queries.pop() {
                Some(Bson::Document(d)) => PushedFilter::Query(d),
                _ => PushedFilter::Nothing,
            },
            _ => PushedFilter::Query(doc! {"$or": queries}),
        }
    }

    /// Negation (only sound for an exact filter).
    pub fn negate(self) -> PushedFilter {
        match self {
            PushedFilter::All => PushedFilter::Nothing,
            PushedFilter::Nothing => PushedFilter::All,
            PushedFilter::Query(d) => PushedFilter::Query(doc! {"$nor": [d]}),
        }
    }
}

impl PushDown {
    fn exact(filter: PushedFilter) -> PushDown {
        PushDown {
            filter,
            exact: true,
        }
    }

    fn widened() -> PushDown {
        PushDown {
            filter: PushedFilter::All,
            exact: false,
        }
    }

    fn constant(value: bool) -> PushDown {
        PushDown::exact(if value {
            PushedFilter::All
        } else {
            PushedFilter::Nothing
        })
    }
}

/// Translates a node; `ctx` carries everything but the document. Without `known` it is for
/// reads (`%%root` and `%%prevRoot` are both the stored document); with it, for a write whose
/// post-image holds the `known` top-level fields as given and the stored values elsewhere.
pub(crate) fn push_down(node: &Node, ctx: &Bindings<'_>, known: Option<&KnownFields>) -> PushDown {
    match node {
        Node::Const(b) => PushDown::constant(*b),
        Node::And(parts, _) => {
            let parts: Vec<PushDown> = parts.iter().map(|p| push_down(p, ctx, known)).collect();
            let exact = parts.iter().all(|p| p.exact);
            PushDown {
                filter: PushedFilter::and(parts.into_iter().map(|p| p.filter).collect()),
                exact,
            }
        }
        Node::Or(parts, _) => {
            let parts: Vec<PushDown> = parts.iter().map(|p| push_down(p, ctx, known)).collect();
            let exact = parts.iter().all(|p| p.exact);
            PushDown {
                filter: PushedFilter::or(parts.into_iter().map(|p| p.filter).collect()),
                exact,
            }
        }
        Node::Nor(parts, _) => {
            let parts: Vec<PushDown> = parts.iter().map(|p| push_down(p, ctx, known)).collect();
            if parts.iter().all(|p| p.exact) {
                PushDown::exact(
                    PushedFilter::or(parts.into_iter().map(|p| p.filter).collect()).negate(),
                )
            } else {
                PushDown::widened()
            }
        }
        Node::Field(field) => push_field(field, node, ctx, known),
    }
}

fn push_field(
    field: &FieldNode,
    node: &Node,
    ctx: &Bindings<'_>,
    known: Option<&KnownFields>,
) -> PushDown {
    let reads_document = test_reads_document(&field.test);
    if let (Some(known), Subject::Path(Base::Root, path)) = (known, &field.subject) {
        if path.parts().first().is_some_and(|top| known.contains(top)) {
            // The value at the path lies within a known field of the post-image: the test is
            // decided here, on the known values, as the in-process check decides it on the
            // whole post-image — unless it also compares with another document value.
            if reads_document {
                return PushDown::widened();
            }
            return PushDown::constant(eval_fast(node, &ctx.root(known.values())));
        }
    }
    let path = match &field.subject {
        // During reads %%prevRoot is the document itself.
        Subject::Path(Base::Root | Base::PrevRoot, path) if !path.is_empty() => path,
        Subject::Path(Base::Root | Base::PrevRoot, _) => return PushDown::widened(),
        _ if !reads_document => return PushDown::constant(eval_fast(node, ctx)),
        _ => return PushDown::widened(),
    };
    if reads_document {
        return PushDown::widened();
    }
    push_test(&field.test, path, ctx)
}

fn push_test(test: &Test, path: &FieldPath, ctx: &Bindings<'_>) -> PushDown {
    let field = path.to_string();
    let value = |operand: &Operand| resolve(operand, ctx).ok().flatten().map(|v| v.into_owned());
    let on = |condition: Document| PushedFilter::Query(doc! {field.clone(): condition});
    match test {
        Test::Equals(operand) => match value(operand) {
            None => PushDown::constant(false),
            Some(Bson::Array(items)) => PushDown {
                filter: PushedFilter::or(vec![
                    on(doc! {"$eq": Bson::Array(items.clone())}),
                    in_list(&field, &items),
                ]),
                exact: false,
            },
            Some(v) => PushDown::exact(on(doc! {"$eq": v})),
        },
        Test::NotEquals(operand) => match value(operand) {
            None => PushDown::constant(false),
            Some(v @ Bson::Array(_)) => PushDown {
                filter: on(doc! {"$ne": v}),
                exact: false,
            },
            Some(v) => PushDown::exact(on(doc! {"$ne": v})),
        },
        Test::Compare(op, operand) => match value(operand) {
            None => PushDown::constant(false),
            Some(v) => {
                let name = match op {
                    Comparison::Eq => "$eq",
                    Comparison::Gt => "$gt",
                    Comparison::Gte => "$gte",
                    Comparison::Lt => "$lt",
                    Comparison::Lte => "$lte",
                };
                PushDown::exact(on(doc! {name: v}))
            }
        },
        Test::InSet(set, negate) => {
            let items = set.values();
            let filter = in_list(&field, &items);
            PushDown::exact(if *negate { filter.negate() } else { filter })
        }
        Test::In(operand) | Test::NotIn(operand) => match value(operand) {
            Some(Bson::Array(items)) => {
                let filter = in_list(&field, &items);
                PushDown::exact(if matches!(test, Test::NotIn(_)) {
                    filter.negate()
                } else {
                    filter
                })
            }
            _ => PushDown::constant(false),
        },
        Test::Exists(operand) => match value(operand) {
            None => PushDown::constant(false),
            Some(v) => PushDown::exact(on(doc! {"$exists": truthy(&v)})),
        },
        Test::All(tests) => {
            let parts: Vec<PushDown> = tests.iter().map(|t| push_test(t, path, ctx)).collect();
            let exact = parts.iter().all(|p| p.exact);
            PushDown {
                filter: PushedFilter::and(parts.into_iter().map(|p| p.filter).collect()),
                exact,
            }
        }
        Test::Any(tests) => {
            let parts: Vec<PushDown> = tests.iter().map(|t| push_test(t, path, ctx)).collect();
            let exact = parts.iter().all(|p| p.exact);
            PushDown {
                filter: PushedFilter::or(parts.into_iter().map(|p| p.filter).collect()),
                exact,
            }
        }
        Test::Not(inner) => {
            let inner = push_test(inner, path, ctx);
            if inner.exact {
                PushDown::exact(inner.filter.negate())
            } else {
                PushDown::widened()
            }
        }
        Test::Query(_, operators) => PushDown::exact(on(operators.clone())),
    }
}

/// `{field: {$in: items}}`, or an `$or` of `$eq` when an element would be read as an operator
/// or a pattern inside `$in` (a regular expression, a document with `$` keys).
fn in_list(field: &str, items: &[Bson]) -> PushedFilter {
    let literal_in_in = |v: &Bson| match v {
        Bson::RegularExpression(_) => false,
        Bson::Document(d) => !d.keys().any(|k| k.starts_with('$')),
        _ => true,
    };
    if items.iter().all(literal_in_in) {
        return PushedFilter::Query(doc! {field: {"$in": items.to_vec()}});
    }
    PushedFilter::or(
        items
            .iter()
            .map(|v| PushedFilter::Query(doc! {field: {"$eq": v.clone()}}))
            .collect(),
    )
}

/// Whether any operand of a test reads the document (`%%root…`, `%%this`, `%%prev`).
fn test_reads_document(test: &Test) -> bool {
    let operand_reads = |o: &Operand| {
        let mut expansions = Vec::new();
        o.collect_expansions(&mut expansions);
        expansions.iter().any(|e| {
            matches!(
                e.base,
                Base::Root | Base::PrevRoot | Base::This | Base::Prev
            )
        })
    };
    match test {
        Test::Equals(o)
        | Test::NotEquals(o)
        | Test::Compare(_, o)
        | Test::In(o)
        | Test::NotIn(o)
        | Test::Exists(o) => operand_reads(o),
        Test::All(tests) | Test::Any(tests) => tests.iter().any(test_reads_document),
        Test::Not(inner) => test_reads_document(inner),
        Test::InSet(..) | Test::Query(..) => false,
    }
}
