//! The update operators.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::path::{get, set, unset};
use super::UpdateError;
use crate::query::{
    compare_values, parse_value_tests, values_equal, walk_value, FieldPath, Filter, ValueTest,
};

/// One operator with its per-path arguments.
#[derive(Debug, Clone)]
pub struct Op {
    kind: Kind,
    args: Vec<(FieldPath, Arg)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Set,
    SetOnInsert,
    Unset,
    Inc,
    Mul,
    Min,
    Max,
    Rename,
    CurrentDate,
    Push,
    AddToSet,
    Pull,
    PullAll,
    Pop,
}

#[derive(Debug, Clone)]
enum Arg {
    Value(Bson),
    Rename(FieldPath),
    Push {
        each: Vec<Bson>,
        slice: Option<i64>,
        sort: Option<Bson>,
        position: Option<i64>,
    },
    Pull(PullCondition),
}

#[derive(Debug, Clone)]
enum PullCondition {
    Equals(Bson),
    Operators(Vec<ValueTest>),
    Query(Filter),
}

pub(crate) fn parse(update: &Document) -> Result<Vec<Op>, UpdateError> {
    let mut ops = Vec::new();
    for (name, spec) in update {
        let kind = match name.as_str() {
            "$set" => Kind::Set,
            "$setOnInsert" => Kind::SetOnInsert,
            "$unset" => Kind::Unset,
            "$inc" => Kind::Inc,
            "$mul" => Kind::Mul,
            "$min" => Kind::Min,
            "$max" => Kind::Max,
            "$rename" => Kind::Rename,
            "$currentDate" => Kind::CurrentDate,
            "$push" => Kind::Push,
            "$addToSet" => Kind::AddToSet,
            "$pull" => Kind::Pull,
            "$pullAll" => Kind::PullAll,
            "$pop" => Kind::Pop,
            other => {
                return Err(UpdateError::new(
                    other,
                    format!("Unknown modifier: {other}"),
                ))
            }
        };
        let Bson::Document(fields) = spec else {
            return Err(UpdateError::new(
                name.clone(),
                format!(
                    "Modifiers operate on fields but we found type {} instead",
                    type_name(spec)
                ),
            ));
        };
        let mut args = Vec::with_capacity(fields.len());
        for (field, value) in fields {
            if field.is_empty() || field.split('.').any(str::is_empty) {
                return Err(UpdateError::new(
                    field.clone(),
                    "empty field name in update path",
                ));
            }
            if field.split('.').any(|p| p.starts_with('$')) {
                return Err(UpdateError::new(
                    field.clone(),
                    "positional and $-prefixed update paths are not supported",
                ));
            }
            args.push((FieldPath::parse(field), parse_arg(kind, field, value)?));
        }
        ops.push(Op { kind, args });
    }
    Ok(ops)
}

fn parse_arg(kind: Kind, field: &str, value: &Bson) -> Result<Arg, UpdateError> {
    let err = |m: String| UpdateError::new(field, m);
    Ok(match kind {
        Kind::Inc | Kind::Mul if !is_number(value) => {
            return Err(err(format!("Cannot {} with non-numeric argument of type {}", if kind == Kind::Inc { "increment" } else { "multiply" }, type_name(value))))
        }
        Kind::Rename => match value {
            Bson::String(to) if !to.is_empty() => Arg::Rename(FieldPath::parse(to)),
            _ => return Err(err("The 'to' field for $rename must be a string".into())),
        },
        Kind::CurrentDate => match value {
            Bson::Boolean(true) => Arg::Value(Bson::from("date")),
            Bson::Document(d) => match d.get("$type") {
                Some(Bson::String(t)) if t == "date" || t == "timestamp" => Arg::Value(Bson::String(t.clone())),
                _ => return Err(err("The '$type' string field is required to be 'date' or 'timestamp'".into())),
            },
            _ => return Err(err(format!("{} is not valid type for $currentDate. Please use a boolean ('true') or a $type expression ({{$type: 'timestamp/date'}}).", type_name(value)))),
        },
        Kind::Push | Kind::AddToSet => parse_push(kind, field, value)?,
        Kind::Pull => Arg::Pull(match value {
            Bson::Document(d) if d.keys().next().is_some_and(|k| k.starts_with('$')) => {
                PullCondition::Operators(parse_value_tests(d, field).map_err(|e| err(e.message))?)
            }
            Bson::Document(d) => PullCondition::Query(Filter::parse(d).map_err(|e| err(e.message))?),
            other => PullCondition::Equals(other.clone()),
        }),
        Kind::PullAll => match value {
            Bson::Array(_) => Arg::Value(value.clone()),
            _ => return Err(err("$pullAll requires an array argument".into())),
        },
        Kind::Pop => match value {
            v if is_number(v) && (as_f64(v) == 1.0 || as_f64(v) == -1.0) => Arg::Value(v.clone()),
            _ => return Err(err("$pop expects 1 or -1".into())),
        },
        _ => Arg::Value(value.clone()),
    })
}

fn parse_push(kind: Kind, field: &str, value: &Bson) -> Result<Arg, UpdateError> {
    let err = |m: &str| UpdateError::new(field, m);
    let Bson::Document(d) = value else {
        return Ok(push_one(value));
    };
    if !d.contains_key("$each") {
        return Ok(push_one(value));
    }
    let Some(Bson::Array(each)) = d.get("$each") else {
        return Err(err("The argument to $each must be an array"));
    };
    let mut slice = None;
    let mut sort = None;
    let mut position = None;
    for (key, v) in d {
        match (kind, key.as_str()) {
            (_, "$each") => {}
            (Kind::Push, "$slice") => {
                slice = Some(whole(v).ok_or_else(|| err("$slice must be a whole number"))?)
            }
            (Kind::Push, "$position") => {
                position = Some(whole(v).ok_or_else(|| err("$position must be a whole number"))?)
            }
            (Kind::Push, "$sort") => sort = Some(v.clone()),
            (_, other) => {
                return Err(err(&format!(
                    "Unrecognized clause in $push/$addToSet: {other}"
                )))
            }
        }
    }
    Ok(Arg::Push {
        each: each.clone(),
        slice,
        sort,
        position,
    })
}

fn push_one(value: &Bson) -> Arg {
    Arg::Push {
        each: vec![value.clone()],
        slice: None,
        sort: None,
        position: None,
    }
}

fn whole(v: &Bson) -> Option<i64> {
    match v {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(d) if d.fract() == 0.0 && d.is_finite() => Some(*d as i64),
        _ => None,
    }
}

fn is_number(v: &Bson) -> bool {
    matches!(
        v,
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_)
    )
}

fn as_f64(v: &Bson) -> f64 {
    match v {
        Bson::Int32(i) => f64::from(*i),
        Bson::Int64(i) => *i as f64,
        Bson::Double(d) => *d,
        Bson::Decimal128(d) => crate::query::order::decimal_to_f64(d),
        _ => f64::NAN,
    }
}

pub(crate) fn type_name(v: &Bson) -> &'static str {
    match v {
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::String(_) => "string",
        Bson::Null => "null",
        Bson::Boolean(_) => "bool",
        Bson::Int32(_) => "int",
        Bson::Int64(_) => "long",
        Bson::Double(_) => "double",
        _ => "another type",
    }
}

/// Numeric arithmetic with MongoDB's type promotion (int → long on overflow → error beyond).
fn arithmetic(kind: Kind, current: &Bson, arg: &Bson, field: &str) -> Result<Bson, UpdateError> {
    let overflow = || {
        UpdateError::new(
            field,
            format!(
                "Failed to apply {} operations: integer overflow",
                if kind == Kind::Inc { "$inc" } else { "$mul" }
            ),
        )
    };
    let int = |a: i64, b: i64| {
        if kind == Kind::Inc {
            a.checked_add(b)
        } else {
            a.checked_mul(b)
        }
    };
    Ok(match (current, arg) {
        (Bson::Int32(a), Bson::Int32(b)) => match int(i64::from(*a), i64::from(*b)) {
            Some(v) => i32::try_from(v).map(Bson::Int32).unwrap_or(Bson::Int64(v)),
            None => return Err(overflow()),
        },
        (Bson::Int32(_) | Bson::Int64(_), Bson::Int32(_) | Bson::Int64(_)) => {
            let (a, b) = (as_i64(current), as_i64(arg));
            Bson::Int64(int(a, b).ok_or_else(overflow)?)
        }
        (a, b) if matches!(a, Bson::Decimal128(_)) || matches!(b, Bson::Decimal128(_)) => {
            return Err(UpdateError::new(
                field,
                "arithmetic on Decimal128 is not supported by Expanse",
            ));
        }
        (a, b) => {
            let (x, y) = (as_f64(a), as_f64(b));
            Bson::Double(if kind == Kind::Inc { x + y } else { x * y })
        }
    })
}

fn as_i64(v: &Bson) -> i64 {
    match v {
        Bson::Int32(i) => i64::from(*i),
        Bson::Int64(i) => *i,
        _ => 0,
    }
}

impl Op {
    pub(crate) fn paths(&self) -> impl Iterator<Item = &FieldPath> {
        self.args.iter().flat_map(|(path, arg)| {
            let to = match arg {
                Arg::Rename(to) => Some(to),
                _ => None,
            };
            std::iter::once(path).chain(to)
        })
    }

    pub(crate) fn apply(&self, doc: &mut Document, inserting: bool) -> Result<(), UpdateError> {
        for (path, arg) in &self.args {
            let parts = path.parts();
            let name = path.to_string();
            let current = get(doc, parts).cloned();
            match (self.kind, arg) {
                (Kind::Set, Arg::Value(v)) => set(doc, parts, v.clone())?,
                (Kind::SetOnInsert, Arg::Value(v)) => {
                    if inserting {
                        set(doc, parts, v.clone())?
                    }
                }
                (Kind::Unset, _) => {
                    unset(doc, parts);
                }
                (Kind::Inc | Kind::Mul, Arg::Value(v)) => {
                    let next = match &current {
                        None => {
                            if self.kind == Kind::Inc {
                                v.clone()
                            } else {
                                arithmetic(Kind::Mul, &zero_like(v), v, &name)?
                            }
                        }
                        Some(c) if is_number(c) => arithmetic(self.kind, c, v, &name)?,
                        Some(c) => {
                            return Err(UpdateError::new(
                                name,
                                format!(
                                    "Cannot apply {} to a value of non-numeric type {}",
                                    if self.kind == Kind::Inc {
                                        "$inc"
                                    } else {
                                        "$mul"
                                    },
                                    type_name(c)
                                ),
                            ))
                        }
                    };
                    set(doc, parts, next)?;
                }
                (Kind::Min | Kind::Max, Arg::Value(v)) => {
                    let replace = match &current {
                        None => true,
                        Some(c) => {
                            let order = compare_values(v, c);
                            (self.kind == Kind::Min && order == Ordering::Less)
                                || (self.kind == Kind::Max && order == Ordering::Greater)
                        }
                    };
                    if replace {
                        set(doc, parts, v.clone())?;
                    }
                }
                (Kind::Rename, Arg::Rename(to)) => {
                    check_traversable(doc, parts)?;
                    if let Some(value) = current {
                        unset(doc, parts);
                        set(doc, to.parts(), value)?;
                    }
                }
                (Kind::CurrentDate, Arg::Value(Bson::String(t))) => {
                    let now = bson::DateTime::now();
                    let value = if t == "timestamp" {
                        Bson::Timestamp(bson::Timestamp {
                            time: (now.timestamp_millis() / 1000) as u32,
                            increment: 1,
                        })
                    } else {
                        Bson::DateTime(now)
                    };
                    set(doc, parts, value)?;
                }
                (
                    Kind::Push | Kind::AddToSet,
                    Arg::Push {
                        each,
                        slice,
                        sort,
                        position,
                    },
                ) => {
                    let mut items = match current {
                        None => Vec::new(),
                        Some(Bson::Array(items)) => items,
                        Some(other) => {
                            return Err(UpdateError::new(
                                name.clone(),
                                format!(
                                "The field '{name}' must be an array but is of type {} in document",
                                type_name(&other)
                            ),
                            ))
                        }
                    };
                    if self.kind == Kind::AddToSet {
                        for v in each {
                            if !items.iter().any(|i| values_equal(i, v)) {
                                items.push(v.clone());
                            }
                        }
                    } else {
                        let at = match position {
                            None => items.len(),
                            Some(p) if *p < 0 => {
                                items.len().saturating_sub(p.unsigned_abs() as usize)
                            }
                            Some(p) => (*p as usize).min(items.len()),
                        };
                        items.splice(at..at, each.iter().cloned());
                        if let Some(spec) = sort {
                            sort_items(&mut items, spec, &name)?;
                        }
                        if let Some(n) = slice {
                            if *n >= 0 {
                                items.truncate(*n as usize);
                            } else {
                                let keep = n.unsigned_abs() as usize;
                                if items.len() > keep {
                                    items.drain(..items.len() - keep);
                                }
                            }
                        }
                    }
                    set(doc, parts, Bson::Array(items))?;
                }
                (Kind::Pull | Kind::PullAll | Kind::Pop, _) => {
                    let Some(existing) = current else { continue };
                    let Bson::Array(mut items) = existing else {
                        return Err(UpdateError::new(
                            name,
                            "Cannot apply $pull/$pullAll/$pop to a non-array value",
                        ));
                    };
                    match arg {
                        Arg::Pull(condition) => items.retain(|item| !condition.matches(item)),
                        Arg::Value(Bson::Array(values)) if self.kind == Kind::PullAll => {
                            items.retain(|item| !values.iter().any(|v| values_equal(item, v)))
                        }
                        Arg::Value(direction) if !items.is_empty() => {
                            if as_f64(direction) > 0.0 {
                                items.pop();
                            } else {
                                items.remove(0);
                            }
                        }
                        _ => {}
                    }
                    set(doc, parts, Bson::Array(items))?;
                }
                _ => return Err(UpdateError::new(name, "malformed update operator argument")),
            }
        }
        Ok(())
    }
}

fn zero_like(v: &Bson) -> Bson {
    match v {
        Bson::Int32(_) => Bson::Int32(0),
        Bson::Int64(_) => Bson::Int64(0),
        _ => Bson::Double(0.0),
    }
}

fn sort_items(items: &mut [Bson], spec: &Bson, field: &str) -> Result<(), UpdateError> {
    match spec {
        Bson::Int32(1) | Bson::Int64(1) => items.sort_by(compare_values),
        Bson::Int32(-1) | Bson::Int64(-1) => items.sort_by(|a, b| compare_values(b, a)),
        Bson::Document(keys) => {
            let keys: Vec<(FieldPath, bool)> = keys
                .iter()
                .map(|(k, v)| (FieldPath::parse(k), matches!(v, Bson::Int32(-1) | Bson::Int64(-1))))
                .collect();
            items.sort_by(|a, b| {
                for (path, descending) in &keys {
                    let get_key = |v: &Bson| match v {
                        Bson::Document(d) => get(d, path.parts()).cloned().unwrap_or(Bson::Null),
                        _ => Bson::Null,
                    };
                    let order = compare_values(&get_key(a), &get_key(b));
                    let order = if *descending { order.reverse() } else { order };
                    if order != Ordering::Equal {
                        return order;
                    }
                }
                Ordering::Equal
            });
        }
        _ => return Err(UpdateError::new(field, "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields")),
    }
    Ok(())
}

impl PullCondition {
    fn matches(&self, item: &Bson) -> bool {
        match self {
            PullCondition::Equals(v) => values_equal(item, v),
            // mongod wraps the element as {"": element} and matches the operators on that path,
            // so an element that is an array is entered.
            PullCondition::Operators(tests) => tests.iter().all(|t| test_on_value(t, item)),
            PullCondition::Query(filter) => matches!(item, Bson::Document(d) if filter.matches(d)),
        }
    }
}

fn test_on_value(test: &ValueTest, item: &Bson) -> bool {
    match test {
        ValueTest::Is(p) => {
            let mut found = false;
            let _ = walk_value(Some(item), &[], p.leaf_arrays(), &mut |v| {
                if p.matches(v) {
                    found = true;
                    std::ops::ControlFlow::Break(())
                } else {
                    std::ops::ControlFlow::Continue(())
                }
            });
            found
        }
        ValueTest::Not(inner) => !inner.iter().all(|t| test_on_value(t, item)),
    }
}

/// `$rename` refuses a source path that runs through anything but documents (mongod's
/// "cannot use the part … to traverse the element").
fn check_traversable(doc: &Document, parts: &[String]) -> Result<(), UpdateError> {
    let mut current = doc;
    for (i, part) in parts.iter().enumerate().take(parts.len().saturating_sub(1)) {
        match current.get(part) {
            None => return Ok(()),
            Some(Bson::Document(inner)) => current = inner,
            // A position past the end of an array names nothing: nothing to rename.
            Some(Bson::Array(items))
                if parts[i + 1]
                    .parse::<usize>()
                    .is_ok_and(|p| p >= items.len()) =>
            {
                return Ok(())
            }
            Some(other) => {
                return Err(UpdateError::new(
                    parts.join("."),
                    format!(
                        "cannot use the part ({part} of {}) to traverse the element of type {}",
                        parts.join("."),
                        type_name(other)
                    ),
                ))
            }
        }
    }
    Ok(())
}
