//! Evaluation of compiled expressions, with an optional trace for explanations.
//!
//! Evaluation never fails: a missing operand, a conversion error or a throwing function makes
//! the member that needed it false (fail closed), and the trace says why.

use std::borrow::Cow;
use std::ops::ControlFlow;
use std::ops::Deref;

use bson::Bson;

use super::ast::{FieldNode, Node, Operand, Subject, Test};
use super::bindings::{BaseRef, Bindings};
use super::convert::convert;
use super::expansion::{Base, Expansion};
use super::explain::TraceLine;
use crate::query::{
    compare_matches, in_values, resolve_borrowed, truthy, values_equal, walk_document, walk_value,
    Comparison, LeafArrays, ValueTest,
};

/// A resolved operand: borrowed from the context or the expression where possible.
pub(crate) enum Value<'a> {
    Ref(&'a Bson),
    Owned(Box<Bson>),
}

impl Deref for Value<'_> {
    type Target = Bson;
    fn deref(&self) -> &Bson {
        match self {
            Value::Ref(v) => v,
            Value::Owned(v) => v,
        }
    }
}

impl<'a> Value<'a> {
    fn owned(value: Bson) -> Value<'a> {
        Value::Owned(Box::new(value))
    }

    pub(crate) fn into_owned(self) -> Bson {
        match self {
            Value::Ref(v) => v.clone(),
            Value::Owned(v) => *v,
        }
    }

    fn from_cow(value: Cow<'a, Bson>) -> Value<'a> {
        match value {
            Cow::Borrowed(v) => Value::Ref(v),
            Cow::Owned(v) => Value::owned(v),
        }
    }
}

static TRUE: Bson = Bson::Boolean(true);
static FALSE: Bson = Bson::Boolean(false);

/// Evaluates without recording anything (the hot path).
pub(crate) fn eval_fast(node: &Node, ctx: &Bindings<'_>) -> bool {
    match node {
        Node::Const(b) => *b,
        Node::And(parts, _) => parts.iter().all(|p| eval_fast(p, ctx)),
        Node::Or(parts, _) => parts.iter().any(|p| eval_fast(p, ctx)),
        Node::Nor(parts, _) => !parts.iter().any(|p| eval_fast(p, ctx)),
        Node::Field(field) => eval_test(&field.test, &subject_of(field, ctx), ctx, &mut None),
    }
}

fn subject_of<'a>(field: &'a FieldNode, ctx: &Bindings<'a>) -> SubjectValues<'a> {
    match &field.subject {
        Subject::Constant(b) => SubjectValues::Constant(Bson::Boolean(*b)),
        Subject::Path(base, path) => SubjectValues::Base(ctx.base(*base), path.parts()),
    }
}

/// A combinator's parts, location, name and how it folds its parts' results.
type Combinator<'n> = (
    &'n [Node],
    &'n Option<crate::Location>,
    &'static str,
    fn(&[bool]) -> bool,
);

/// Evaluates every part (no short-circuit, so the trace is complete) and records a line for each.
pub(crate) fn eval_traced(
    node: &Node,
    ctx: &Bindings<'_>,
    lines: &mut Vec<TraceLine>,
    depth: usize,
) -> bool {
    let (parts, at, name, fold): Combinator<'_> = match node {
        Node::Const(b) => {
            lines.push(TraceLine::new(
                depth,
                None,
                b.to_string(),
                *b,
                String::new(),
            ));
            return *b;
        }
        Node::Field(field) => return eval_field_traced(field, ctx, lines, depth),
        Node::And(parts, at) => (parts, at, "%and", |r| r.iter().all(|r| *r)),
        Node::Or(parts, at) => (parts, at, "%or", |r| r.iter().any(|r| *r)),
        Node::Nor(parts, at) => (parts, at, "$nor", |r| !r.iter().any(|r| *r)),
    };
    let header = lines.len();
    lines.push(TraceLine::new(
        depth,
        at.clone(),
        name.to_owned(),
        false,
        String::new(),
    ));
    let results: Vec<bool> = parts
        .iter()
        .map(|p| eval_traced(p, ctx, lines, depth + 1))
        .collect();
    let result = fold(&results);
    lines[header].result = result;
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

    /// Whether the subject reaches any value (`$exists`), without copying a whole document.
    fn present(&self) -> bool {
        match self {
            SubjectValues::Constant(_) => true,
            SubjectValues::Base(BaseRef::Doc(_), []) => true,
            SubjectValues::Base(BaseRef::Missing, _) => false,
            _ => self.any(LeafArrays::Traverse, &mut |x| x.is_some()),
        }
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

fn eval_field_traced(
    field: &FieldNode,
    ctx: &Bindings<'_>,
    lines: &mut Vec<TraceLine>,
    depth: usize,
) -> bool {
    let subject = subject_of(field, ctx);
    let mut notes = Some(Vec::new());
    let result = eval_test(&field.test, &subject, ctx, &mut notes);
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
    ctx: &Bindings<'a>,
    notes: &mut Notes,
) -> Option<Value<'a>> {
    if let Operand::Literal(value) = operand {
        return Some(Value::Ref(value));
    }
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
    ctx: &Bindings<'_>,
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
        Test::InSet(set, negate) => {
            subject.any(LeafArrays::Traverse, &mut |x| set.contains(x)) != *negate
        }
        Test::In(operand) | Test::NotIn(operand) => {
            let Some(list) = operand_value(operand, ctx, notes) else {
                return false;
            };
            let Bson::Array(items) = &*list else {
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
            subject.present() == truthy(&wanted)
        }
        Test::All(tests) => tests.iter().all(|t| eval_test(t, subject, ctx, notes)),
        Test::Any(tests) => tests.iter().any(|t| eval_test(t, subject, ctx, notes)),
        Test::Not(inner) => !eval_test(inner, subject, ctx, notes),
        Test::Query(tests, _) => tests.iter().all(|t| value_test(t, subject)),
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
    let Bson::Array(items) = operand else {
        return subject.any(LeafArrays::Traverse, &mut |x| {
            compare_matches(Comparison::Eq, x, operand)
        });
    };
    // MongoDB equality (a leaf array's elements, then the array itself), plus membership of a
    // non-array subject in the array operand (`{"email": "%%user.custom_data.manages"}`), in one
    // walk. Arrays are not compared element against element: two lists never match by overlap.
    subject.any(LeafArrays::Whole, &mut |x| match x {
        Some(Bson::Array(elements)) => {
            elements
                .iter()
                .any(|e| compare_matches(Comparison::Eq, Some(e), operand))
                || compare_matches(Comparison::Eq, x, operand)
        }
        _ => compare_matches(Comparison::Eq, x, operand) || in_values(x, items),
    })
}

/// The value of an operand (`None` when an expansion is missing).
pub(crate) fn resolve<'a>(
    operand: &'a Operand,
    ctx: &Bindings<'a>,
) -> Result<Option<Value<'a>>, String> {
    match operand {
        Operand::Literal(value) => Ok(Some(Value::Ref(value))),
        Operand::Expansion(expansion) => Ok(resolve_expansion(expansion, ctx)),
        Operand::Convert(conversion, inner) => match resolve(inner, ctx)? {
            Some(value) => convert(*conversion, &value).map(|v| Some(Value::owned(v))),
            None => Ok(None),
        },
        Operand::Function { name, args } => {
            let caller = ctx
                .function_caller()
                .ok_or_else(|| format!("%function {name}: no function runtime is configured"))?;
            let mut values = Vec::with_capacity(args.len());
            for arg in args {
                values.push(resolve(arg, ctx)?.map_or(Bson::Null, Value::into_owned));
            }
            caller
                .call(name, values, ctx)
                .map(|v| Some(Value::owned(v)))
                .map_err(|e| format!("%function {name} failed: {e}"))
        }
        Operand::Array(parts) => {
            let mut items = Vec::with_capacity(parts.len());
            for part in parts {
                items.push(resolve(part, ctx)?.map_or(Bson::Null, Value::into_owned));
            }
            Ok(Some(Value::owned(Bson::Array(items))))
        }
        Operand::Document(parts) => {
            let mut doc = bson::Document::new();
            for (key, part) in parts {
                if let Some(value) = resolve(part, ctx)? {
                    doc.insert(key.clone(), value.into_owned());
                }
            }
            Ok(Some(Value::owned(Bson::Document(doc))))
        }
    }
}

fn resolve_expansion<'a>(expansion: &Expansion, ctx: &Bindings<'a>) -> Option<Value<'a>> {
    let path = expansion.path.parts();
    match expansion.base {
        Base::True => return Some(Value::Ref(&TRUE)),
        Base::False => return Some(Value::Ref(&FALSE)),
        _ => {}
    }
    match ctx.base(expansion.base) {
        BaseRef::Missing => None,
        BaseRef::Value(value) => resolve_borrowed(value, path).map(Value::from_cow),
        BaseRef::Doc(doc) => match path.split_first() {
            None => Some(Value::owned(Bson::Document(doc.clone()))),
            Some((first, rest)) => resolve_borrowed(doc.get(first)?, rest).map(Value::from_cow),
        },
    }
}
