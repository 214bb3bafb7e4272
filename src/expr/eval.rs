//! Evaluation of compiled expressions, with an optional trace for explanations.
//!
//! Evaluation never fails: a missing operand, a conversion error or a throwing function makes
//! the member that needed it false (fail closed), and the trace says why.

use std::borrow::Cow;
use std::ops::ControlFlow;

use bson::Bson;

use super::ast::{FieldNode, Node, Operand, Subject, Test};
use super::context::{BaseRef, Context};
use super::convert::convert;
use super::expansion::{Base, Expansion};
use super::explain::TraceLine;
use crate::query::{
    compare_matches, in_values, resolve_borrowed, values_equal, walk_document, walk_value,
    Comparison, LeafArrays, ValueTest,
};

/// Collects trace lines while evaluating (absent on the fast path).
pub(crate) type Trace<'t> = Option<&'t mut Vec<TraceLine>>;

pub(crate) fn eval_node(
    node: &Node,
    ctx: &Context<'_>,
    trace: &mut Trace<'_>,
    depth: usize,
) -> bool {
    match node {
        Node::Const(b) => {
            if let Some(lines) = trace.as_deref_mut() {
                lines.push(TraceLine::new(
                    depth,
                    None,
                    b.to_string(),
                    *b,
                    String::new(),
                ));
            }
            *b
        }
        Node::And(parts, at) => combine(
            parts,
            ctx,
            trace,
            depth,
            at,
            "%and",
            |results| results.iter().all(|r| *r),
            |r| !r,
        ),
        Node::Or(parts, at) => combine(
            parts,
            ctx,
            trace,
            depth,
            at,
            "%or",
            |results| results.iter().any(|r| *r),
            |r| r,
        ),
        Node::Nor(parts, at) => combine(
            parts,
            ctx,
            trace,
            depth,
            at,
            "$nor",
            |results| !results.iter().any(|r| *r),
            |r| r,
        ),
        Node::Field(field) => eval_field(field, ctx, trace, depth),
    }
}

/// Evaluates parts; on the fast path stops at the first part for which `decisive` holds.
fn combine(
    parts: &[Node],
    ctx: &Context<'_>,
    trace: &mut Trace<'_>,
    depth: usize,
    at: &Option<crate::Location>,
    name: &str,
    fold: fn(&[bool]) -> bool,
    decisive: fn(bool) -> bool,
) -> bool {
    if trace.is_none() {
        for part in parts {
            let r = eval_node(part, ctx, trace, depth);
            if decisive(r) {
                return fold(&[r]);
            }
        }
        return fold(&[]);
    }
    let header = trace.as_deref_mut().map(|lines| {
        lines.push(TraceLine::new(
            depth,
            at.clone(),
            name.to_owned(),
            false,
            String::new(),
        ));
        lines.len() - 1
    });
    let results: Vec<bool> = parts
        .iter()
        .map(|p| eval_node(p, ctx, trace, depth + 1))
        .collect();
    let result = fold(&results);
    if let (Some(lines), Some(index)) = (trace.as_deref_mut(), header) {
        lines[index].result = result;
    }
    result
}

/// The values a member's subject reaches.
enum SubjectValues<'a> {
    Base(BaseRef<'a>, &'a [String]),
    Constant(Bson),
}

impl<'a> SubjectValues<'a> {
    /// Whether any reached value satisfies `test`.
    fn any(&self, leaf: LeafArrays, test: &mut dyn FnMut(Option<&Bson>) -> bool) -> bool {
        let mut found = false;
        let mut visit = |v: Option<&Bson>| {
            if test(v) {
                found = true;
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let _ = match self {
            SubjectValues::Constant(value) => visit(Some(value)),
            SubjectValues::Base(BaseRef::Doc(doc), path) if !path.is_empty() => {
                walk_document(doc, path, leaf, &mut visit)
            }
            SubjectValues::Base(BaseRef::Doc(doc), _) => {
                let whole = Bson::Document((*doc).clone());
                visit(Some(&whole))
            }
            SubjectValues::Base(BaseRef::Value(value), path) => {
                walk_value(Some(value), path, leaf, &mut visit)
            }
            SubjectValues::Base(BaseRef::Missing, _) => visit(None),
        };
        found
    }

    fn is_constant(&self) -> bool {
        matches!(self, SubjectValues::Constant(_))
    }

    /// Up to five reached values, for explanations.
    fn describe(&self) -> String {
        let mut seen = Vec::new();
        self.any(LeafArrays::Whole, &mut |v| {
            seen.push(v.map_or("missing".to_owned(), show));
            seen.len() >= 5
        });
        seen.join(" | ")
    }
}

fn show(value: &Bson) -> String {
    let text = value.clone().into_relaxed_extjson().to_string();
    if text.len() > 120 {
        format!(
            "{}…",
            &text[..text.char_indices().nth(117).map_or(text.len(), |(i, _)| i)]
        )
    } else {
        text
    }
}

fn eval_field(field: &FieldNode, ctx: &Context<'_>, trace: &mut Trace<'_>, depth: usize) -> bool {
    let subject = match &field.subject {
        Subject::Constant(b) => SubjectValues::Constant(Bson::Boolean(*b)),
        Subject::Path(base, path) => SubjectValues::Base(ctx.base(*base), path.parts()),
    };
    let mut notes = trace.is_some().then(Vec::new);
    let result = eval_test(&field.test, &subject, ctx, &mut notes);
    if let Some(lines) = trace.as_deref_mut() {
        let subject_text = match &field.subject {
            Subject::Constant(b) => format!("%%{b}"),
            Subject::Path(base, path) if path.is_empty() => format!("%%{}", base.name()),
            Subject::Path(base, path) => format!("%%{}.{path}", base.name()),
        };
        let mut detail = format!("{subject_text} = {}", subject.describe());
        for note in notes.unwrap_or_default() {
            detail.push_str("; ");
            detail.push_str(&note);
        }
        lines.push(TraceLine::new(
            depth,
            Some(field.at.clone()),
            field.source.clone(),
            result,
            detail,
        ));
    }
    result
}

type Notes = Option<Vec<String>>;

fn note(notes: &mut Notes, text: impl FnOnce() -> String) {
    if let Some(n) = notes {
        n.push(text());
    }
}

/// Resolves an operand for a test; a missing or failing operand is noted and yields `None`.
fn operand_value<'a>(
    operand: &'a Operand,
    ctx: &Context<'a>,
    notes: &mut Notes,
) -> Option<Cow<'a, Bson>> {
    match resolve(operand, ctx) {
        Ok(Some(value)) => {
            if let (
                Some(n),
                Operand::Expansion(_) | Operand::Function { .. } | Operand::Convert(..),
            ) = (notes.as_mut(), operand)
            {
                n.push(format!("{} = {}", describe_operand(operand), show(&value)));
            }
            Some(value)
        }
        Ok(None) => {
            note(notes, || {
                format!(
                    "{} is missing, so the comparison fails",
                    describe_operand(operand)
                )
            });
            None
        }
        Err(e) => {
            note(notes, || format!("error: {e}"));
            None
        }
    }
}

fn describe_operand(operand: &Operand) -> String {
    match operand {
        Operand::Literal(v) => show(v),
        Operand::Expansion(e) => e.to_string(),
        Operand::Convert(c, inner) => format!("{}({})", c.name(), describe_operand(inner)),
        Operand::Function { name, .. } => format!("%function {name}"),
        Operand::Array(_) | Operand::Document(_) => "the value".into(),
    }
}

fn eval_test(
    test: &Test,
    subject: &SubjectValues<'_>,
    ctx: &Context<'_>,
    notes: &mut Notes,
) -> bool {
    match test {
        Test::Equals(operand) => {
            operand_value(operand, ctx, notes).is_some_and(|v| equals(subject, &v))
        }
        Test::NotEquals(operand) => {
            operand_value(operand, ctx, notes).is_some_and(|v| !equals(subject, &v))
        }
        Test::Compare(op, operand) => operand_value(operand, ctx, notes).is_some_and(|v| {
            subject.any(LeafArrays::Traverse, &mut |x| compare_matches(*op, x, &v))
        }),
        Test::In(operand) | Test::NotIn(operand) => {
            let Some(list) = operand_value(operand, ctx, notes) else {
                return false;
            };
            let Bson::Array(items) = list.as_ref() else {
                note(notes, || {
                    format!("$in/$nin needs an array, got {}", show(&list))
                });
                return false;
            };
            let found = subject.any(LeafArrays::Traverse, &mut |x| in_values(x, items));
            found == matches!(test, Test::In(_))
        }
        Test::Exists(operand) => {
            let Some(wanted) = operand_value(operand, ctx, notes) else {
                return false;
            };
            subject.any(LeafArrays::Traverse, &mut |x| x.is_some()) == truthy(&wanted)
        }
        Test::All(tests) => tests.iter().all(|t| eval_test(t, subject, ctx, notes)),
        Test::Any(tests) => tests.iter().any(|t| eval_test(t, subject, ctx, notes)),
        Test::Not(inner) => !eval_test(inner, subject, ctx, notes),
        Test::Query(tests) => tests.iter().all(|t| value_test(t, subject)),
    }
}

/// A query-module test at path level: a predicate holds for some reached value; a negation
/// holds when its tests do not all hold.
fn value_test(test: &ValueTest, subject: &SubjectValues<'_>) -> bool {
    match test {
        ValueTest::Is(p) => subject.any(p.leaf_arrays(), &mut |x| p.matches(x)),
        ValueTest::Not(inner) => !inner.iter().all(|t| value_test(t, subject)),
    }
}

/// Rule equality: MongoDB equality on the subject's values, plus membership of the subject in
/// an array operand. `%%true`/`%%false` subjects compare strictly.
fn equals(subject: &SubjectValues<'_>, operand: &Bson) -> bool {
    if subject.is_constant() {
        return subject.any(LeafArrays::Whole, &mut |x| {
            x.is_some_and(|x| values_equal(x, operand))
        });
    }
    if subject.any(LeafArrays::Traverse, &mut |x| {
        compare_matches(Comparison::Eq, x, operand)
    }) {
        return true;
    }
    // Membership of a non-array subject in an array operand (`{"email": "%%user.custom_data.manages"}`).
    // Arrays are not compared element against element, so two lists never match by overlap.
    match operand {
        Bson::Array(items) => subject.any(LeafArrays::Whole, &mut |x| {
            !matches!(x, Some(Bson::Array(_))) && in_values(x, items)
        }),
        _ => false,
    }
}

fn truthy(value: &Bson) -> bool {
    match value {
        Bson::Boolean(b) => *b,
        Bson::Int32(i) => *i != 0,
        Bson::Int64(i) => *i != 0,
        Bson::Double(d) => *d != 0.0,
        Bson::Null | Bson::Undefined => false,
        _ => true,
    }
}

/// The value of an operand (`None` when an expansion is missing).
pub(crate) fn resolve<'a>(
    operand: &'a Operand,
    ctx: &Context<'a>,
) -> Result<Option<Cow<'a, Bson>>, String> {
    match operand {
        Operand::Literal(value) => Ok(Some(Cow::Borrowed(value))),
        Operand::Expansion(expansion) => Ok(resolve_expansion(expansion, ctx)),
        Operand::Convert(conversion, inner) => match resolve(inner, ctx)? {
            Some(value) => convert(*conversion, &value).map(|v| Some(Cow::Owned(v))),
            None => Ok(None),
        },
        Operand::Function { name, args } => {
            let caller = ctx
                .function_caller()
                .ok_or_else(|| format!("%function {name}: no function runtime is configured"))?;
            let mut values = Vec::with_capacity(args.len());
            for arg in args {
                values.push(resolve(arg, ctx)?.map_or(Bson::Null, Cow::into_owned));
            }
            caller
                .call(name, values, ctx)
                .map(|v| Some(Cow::Owned(v)))
                .map_err(|e| format!("%function {name} failed: {e}"))
        }
        Operand::Array(parts) => {
            let mut items = Vec::with_capacity(parts.len());
            for part in parts {
                items.push(resolve(part, ctx)?.map_or(Bson::Null, Cow::into_owned));
            }
            Ok(Some(Cow::Owned(Bson::Array(items))))
        }
        Operand::Document(parts) => {
            let mut doc = bson::Document::new();
            for (key, part) in parts {
                if let Some(value) = resolve(part, ctx)? {
                    doc.insert(key.clone(), value.into_owned());
                }
            }
            Ok(Some(Cow::Owned(Bson::Document(doc))))
        }
    }
}

fn resolve_expansion<'a>(expansion: &Expansion, ctx: &Context<'a>) -> Option<Cow<'a, Bson>> {
    let path = expansion.path.parts();
    match expansion.base {
        Base::True => return Some(Cow::Owned(Bson::Boolean(true))),
        Base::False => return Some(Cow::Owned(Bson::Boolean(false))),
        _ => {}
    }
    match ctx.base(expansion.base) {
        BaseRef::Missing => None,
        BaseRef::Value(value) => resolve_borrowed(value, path),
        BaseRef::Doc(doc) => match path.split_first() {
            None => Some(Cow::Owned(Bson::Document(doc.clone()))),
            Some((first, rest)) => resolve_borrowed(doc.get(first)?, rest),
        },
    }
}
