//! `$group` accumulators (`$sum $avg $min $max $first $last $push $addToSet $count
//! $mergeObjects`): parsed from `{"<field>": {"$acc": <expr>}}`, fed one document at a time.

use std::cmp::Ordering;
use std::collections::HashSet;

use bson::{Bson, Document};

use super::expression::{compare, compile, Env, Expr, Value};
use super::numbers::Sum;
use super::operators::type_name;
use super::{invalid, unsupported};
use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sum,
    Avg,
    Min,
    Max,
    First,
    Last,
    Push,
    AddToSet,
    Count,
    MergeObjects,
}

/// One output field of a `$group` (or `$bucket`'s `output`): its name, accumulator and
/// expression.
#[derive(Debug, Clone)]
pub(crate) struct Accumulator {
    pub field: String,
    kind: Kind,
    expr: Expr,
}

/// The running state of one accumulator in one group.
#[derive(Debug, Clone)]
pub(crate) enum State {
    Sum(Sum),
    Extreme(Value),
    First(Option<Bson>),
    Last(Bson),
    Push(Vec<Bson>),
    Set(Vec<Bson>, HashSet<String>),
    Merge(Document),
}

/// Parses the accumulators of `spec` (every field but `skip`, e.g. `_id`), for the stage `at`.
pub(crate) fn parse(spec: &Document, skip: &str, at: &str) -> Result<Vec<Accumulator>, StoreError> {
    let mut out = Vec::new();
    for (field, value) in spec {
        if field == skip {
            continue;
        }
        if field.contains('.') || field.starts_with('$') {
            return Err(invalid(
                at,
                "a group output field name must not hold '.' or start with '$'",
            ));
        }
        let Bson::Document(d) = value else {
            return Err(invalid(
                at,
                format!("the field '{field}' must be an accumulator object"),
            ));
        };
        let mut entries = d.iter();
        let (Some((op, arg)), None) = (entries.next(), entries.next()) else {
            return Err(invalid(
                at,
                format!("the field '{field}' must specify one accumulator"),
            ));
        };
        let kind = match op.as_str() {
            "$sum" => Kind::Sum,
            "$avg" => Kind::Avg,
            "$min" => Kind::Min,
            "$max" => Kind::Max,
            "$first" => Kind::First,
            "$last" => Kind::Last,
            "$push" => Kind::Push,
            "$addToSet" => Kind::AddToSet,
            "$count" => Kind::Count,
            "$mergeObjects" => Kind::MergeObjects,
            other => {
                return Err(unsupported(format!(
                    "the accumulator {other} is not supported by the embedded store"
                )))
            }
        };
        let expr = if kind == Kind::Count {
            if !matches!(arg, Bson::Document(a) if a.is_empty()) {
                return Err(invalid(at, "$count takes no arguments, i.e. $count: {}"));
            }
            Expr::Literal(Bson::Int32(1))
        } else {
            if matches!(arg, Bson::Array(_)) {
                return Err(invalid(
                    at,
                    format!("the {op} accumulator is a unary operator"),
                ));
            }
            compile(arg, at)?
        };
        out.push(Accumulator {
            field: field.clone(),
            kind,
            expr,
        });
    }
    Ok(out)
}

impl Accumulator {
    /// A fresh state.
    pub fn start(&self) -> State {
        match self.kind {
            Kind::Sum | Kind::Avg | Kind::Count => State::Sum(Sum::default()),
            Kind::Min | Kind::Max => State::Extreme(None),
            Kind::First => State::First(None),
            Kind::Last => State::Last(Bson::Null),
            Kind::Push => State::Push(Vec::new()),
            Kind::AddToSet => State::Set(Vec::new(), HashSet::new()),
            Kind::MergeObjects => State::Merge(Document::new()),
        }
    }

    /// Feeds one document.
    pub fn add(&self, state: &mut State, env: &mut Env<'_>) -> Result<(), StoreError> {
        let value = self.expr.evaluate(env)?;
        match state {
            State::Sum(sum) => sum.add(&value)?,
            State::Extreme(best) => {
                if !matches!(value, None | Some(Bson::Null) | Some(Bson::Undefined)) {
                    let want = if self.kind == Kind::Min {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    };
                    if best.is_none() || compare(&value, best) == want {
                        *best = value;
                    }
                }
            }
            State::First(first) => {
                if first.is_none() {
                    *first = Some(value.unwrap_or(Bson::Null));
                }
            }
            State::Last(last) => *last = value.unwrap_or(Bson::Null),
            State::Push(items) => items.extend(value),
            State::Set(items, seen) => {
                if let Some(v) = value {
                    if seen.insert(key(&v)) {
                        items.push(v);
                    }
                }
            }
            State::Merge(merged) => match value {
                None | Some(Bson::Null) | Some(Bson::Undefined) => {}
                Some(Bson::Document(d)) => merged.extend(d),
                other => {
                    return Err(invalid(
                        "$mergeObjects",
                        format!(
                            "$mergeObjects requires object inputs, not {}",
                            type_name(&other)
                        ),
                    ))
                }
            },
        }
        Ok(())
    }

    /// The accumulated value.
    pub fn result(&self, state: State) -> Bson {
        match state {
            State::Sum(sum) if self.kind == Kind::Avg => sum.average(),
            State::Sum(sum) => sum.total(),
            State::Extreme(best) => best.unwrap_or(Bson::Null),
            State::First(first) => first.unwrap_or(Bson::Null),
            State::Last(last) => last,
            State::Push(items) | State::Set(items, _) => Bson::Array(items),
            State::Merge(merged) => Bson::Document(merged),
        }
    }
}

/// A key equal for values MongoDB groups together (`1`, `1.0` and `NumberLong(1)` alike;
/// documents by field order and values).
pub(crate) fn key(value: &Bson) -> String {
    let mut out = String::new();
    write_key(value, &mut out);
    out
}

fn write_key(value: &Bson, out: &mut String) {
    use std::fmt::Write;
    let number = |f: f64, out: &mut String| {
        if f.is_nan() {
            out.push_str("n:nan;");
        } else if f.fract() == 0.0 && f.abs() < 9.2e18 {
            let _ = write!(out, "n:{};", f as i64);
        } else {
            let _ = write!(out, "n:{:e};", f);
        }
    };
    match value {
        Bson::Int32(i) => {
            let _ = write!(out, "n:{i};");
        }
        Bson::Int64(i) => {
            let _ = write!(out, "n:{i};");
        }
        Bson::Double(d) => number(*d, out),
        Bson::Decimal128(d) => number(crate::query::order::decimal_to_f64(d), out),
        Bson::String(s) | Bson::Symbol(s) => {
            let _ = write!(out, "s{}:{s};", s.len());
        }
        Bson::Document(d) => {
            out.push('{');
            for (k, v) in d {
                let _ = write!(out, "{}:{k}=", k.len());
                write_key(v, out);
            }
            out.push('}');
        }
        Bson::Array(items) => {
            out.push('[');
            for v in items {
                write_key(v, out);
            }
            out.push(']');
        }
        Bson::Null | Bson::Undefined => out.push_str("null;"),
        other => {
            let text = other.clone().into_canonical_extjson().to_string();
            let _ = write!(out, "x{}:{text};", text.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn equal_numbers_share_a_key() {
        assert_eq!(key(&Bson::Int32(1)), key(&Bson::Double(1.0)));
        assert_eq!(key(&Bson::Int64(1)), key(&Bson::Int32(1)));
        assert_ne!(key(&Bson::Int32(1)), key(&Bson::String("1".into())));
        assert_ne!(
            key(&Bson::Document(doc! {"a": 1, "b": 2})),
            key(&Bson::Document(doc! {"b": 2, "a": 1}))
        );
    }
}
