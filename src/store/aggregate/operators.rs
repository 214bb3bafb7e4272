//! Array, object, string and type operators of aggregation expressions. Error messages name
//! types and operators, never the values.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::expression::{compare, Value};
use super::numbers::whole;
use super::{invalid, unsupported};
use crate::store::StoreError;

/// `$type`'s name for a value (`"missing"` when there is none).
pub(crate) fn type_name(value: &Value) -> &'static str {
    value.as_ref().map_or("missing", crate::query::type_alias)
}

fn nullish(value: &Value) -> bool {
    matches!(value, None | Some(Bson::Null) | Some(Bson::Undefined))
}

fn wrong_type(op: &str, wanted: &str, got: &Value) -> StoreError {
    invalid(
        op,
        format!("{op} requires {wanted}, not {}", type_name(got)),
    )
}

fn array<'v>(op: &str, value: &'v Value) -> Result<&'v Vec<Bson>, StoreError> {
    match value {
        Some(Bson::Array(items)) => Ok(items),
        other => Err(wrong_type(op, "an array", other)),
    }
}

fn string<'v>(op: &str, value: &'v Value) -> Result<&'v str, StoreError> {
    match value {
        Some(Bson::String(s)) => Ok(s),
        other => Err(wrong_type(op, "a string", other)),
    }
}

fn integer(op: &str, value: &Value) -> Result<i64, StoreError> {
    value
        .as_ref()
        .and_then(whole)
        .ok_or_else(|| wrong_type(op, "a whole number", value))
}

/// Applies an array, object, string or type operator to its evaluated arguments.
pub(crate) fn call(name: &str, args: Vec<Value>) -> Result<Value, StoreError> {
    let arg = |i: usize| args.get(i).cloned().flatten();
    let a0 = args.first().cloned().flatten();
    match name {
        "$type" => Ok(Some(Bson::String(type_name(&a0).to_owned()))),
        "$isArray" => Ok(Some(Bson::Boolean(matches!(a0, Some(Bson::Array(_)))))),
        "$isNumber" => Ok(Some(Bson::Boolean(matches!(
            a0,
            Some(Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_))
        )))),
        "$size" => {
            let items = array(name, &a0)?;
            Ok(Some(
                i32::try_from(items.len()).map_or(Bson::Int64(items.len() as i64), Bson::Int32),
            ))
        }
        "$arrayElemAt" => {
            let (a, i) = (a0, arg(1));
            if nullish(&a) || nullish(&i) {
                return Ok(Some(Bson::Null));
            }
            let items = array(name, &a)?;
            let index = integer(name, &i)?;
            let at = if index < 0 {
                items.len() as i64 + index
            } else {
                index
            };
            Ok(usize::try_from(at)
                .ok()
                .and_then(|at| items.get(at).cloned()))
        }
        "$first" | "$last" => {
            if nullish(&a0) {
                return Ok(Some(Bson::Null));
            }
            let items = array(name, &a0)?;
            Ok(if name == "$first" {
                items.first().cloned()
            } else {
                items.last().cloned()
            })
        }
        "$in" => {
            let list = arg(1);
            let items = array(name, &list)?;
            Ok(Some(Bson::Boolean(items.iter().any(|item| {
                compare(&Some(item.clone()), &a0) == Ordering::Equal
            }))))
        }
        "$concatArrays" => {
            let mut out = Vec::new();
            for a in &args {
                if nullish(a) {
                    return Ok(Some(Bson::Null));
                }
                out.extend(array(name, a)?.iter().cloned());
            }
            Ok(Some(Bson::Array(out)))
        }
        "$reverseArray" => {
            if nullish(&a0) {
                return Ok(Some(Bson::Null));
            }
            let mut items = array(name, &a0)?.clone();
            items.reverse();
            Ok(Some(Bson::Array(items)))
        }
        "$slice" => slice(&args),
        "$objectToArray" => match a0 {
            v if nullish(&v) => Ok(Some(Bson::Null)),
            Some(Bson::Document(d)) => Ok(Some(Bson::Array(
                d.into_iter()
                    .map(|(k, v)| Bson::Document(bson::doc! {"k": k, "v": v}))
                    .collect(),
            ))),
            other => Err(wrong_type(name, "an object", &other)),
        },
        "$arrayToObject" => array_to_object(a0),
        "$mergeObjects" => {
            let mut out = Document::new();
            for a in args {
                match a {
                    v if nullish(&v) => {}
                    Some(Bson::Document(d)) => out.extend(d),
                    other => return Err(wrong_type(name, "objects", &other)),
                }
            }
            Ok(Some(Bson::Document(out)))
        }
        "$concat" => {
            let mut out = String::new();
            for a in &args {
                if nullish(a) {
                    return Ok(Some(Bson::Null));
                }
                out.push_str(string(name, a)?);
            }
            Ok(Some(Bson::String(out)))
        }
        "$toLower" | "$toUpper" => {
            if nullish(&a0) {
                return Ok(Some(Bson::String(String::new())));
            }
            let s = string(name, &a0)?;
            Ok(Some(Bson::String(if name == "$toLower" {
                s.to_ascii_lowercase()
            } else {
                s.to_ascii_uppercase()
            })))
        }
        "$strLenCP" => {
            let n = string(name, &a0)?.chars().count();
            Ok(Some(Bson::Int32(i32::try_from(n).unwrap_or(i32::MAX))))
        }
        "$substrCP" => {
            if nullish(&a0) {
                return Ok(Some(Bson::String(String::new())));
            }
            let s = string(name, &a0)?;
            let start = integer(name, &arg(1))?;
            let count = integer(name, &arg(2))?;
            if start < 0 || count < 0 {
                return Err(invalid(
                    name,
                    "$substrCP: start and length must not be negative",
                ));
            }
            Ok(Some(Bson::String(
                s.chars()
                    .skip(start as usize)
                    .take(count as usize)
                    .collect(),
            )))
        }
        "$split" => {
            if nullish(&a0) {
                return Ok(Some(Bson::Null));
            }
            let s = string(name, &a0)?;
            let second = arg(1);
            let delimiter = string(name, &second)?;
            if delimiter.is_empty() {
                return Err(invalid(name, "$split: the delimiter must not be empty"));
            }
            Ok(Some(Bson::Array(
                s.split(delimiter)
                    .map(|p| Bson::String(p.to_owned()))
                    .collect(),
            )))
        }
        _ => Err(unsupported(format!(
            "the aggregation operator {name} is not supported by the embedded store"
        ))),
    }
}

fn slice(args: &[Value]) -> Result<Value, StoreError> {
    let a0 = args.first().cloned().flatten();
    let at = |i: usize| args.get(i).cloned().flatten();
    if args.iter().any(nullish) {
        return Ok(Some(Bson::Null));
    }
    let items = array("$slice", &a0)?;
    let len = items.len() as i64;
    let (start, count) = match args.len() {
        2 => {
            let n = integer("$slice", &at(1))?;
            if n >= 0 {
                (0, n)
            } else {
                ((len + n).max(0), -n)
            }
        }
        _ => {
            let position = integer("$slice", &at(1))?;
            let n = integer("$slice", &at(2))?;
            if n <= 0 {
                return Err(invalid("$slice", "$slice: the count must be positive"));
            }
            let start = if position < 0 {
                (len + position).max(0)
            } else {
                position.min(len)
            };
            (start, n)
        }
    };
    Ok(Some(Bson::Array(
        items
            .iter()
            .skip(start as usize)
            .take(count as usize)
            .cloned()
            .collect(),
    )))
}

fn array_to_object(value: Value) -> Result<Value, StoreError> {
    const OP: &str = "$arrayToObject";
    if nullish(&value) {
        return Ok(Some(Bson::Null));
    }
    let items = array(OP, &value)?;
    let mut out = Document::new();
    for item in items {
        let (k, v) = match item {
            Bson::Array(pair) if pair.len() == 2 => (&pair[0], pair[1].clone()),
            Bson::Document(d) if d.len() == 2 && d.contains_key("k") && d.contains_key("v") => {
                (&d["k"], d["v"].clone())
            }
            _ => {
                return Err(invalid(
                    OP,
                    "$arrayToObject requires an array of [key, value] pairs or {k, v} objects",
                ))
            }
        };
        let Bson::String(k) = k else {
            return Err(invalid(OP, "$arrayToObject requires string keys"));
        };
        if k.contains('\0') {
            return Err(invalid(
                OP,
                "$arrayToObject: a key must not hold a null byte",
            ));
        }
        out.insert(k.clone(), v);
    }
    Ok(Some(Bson::Document(out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::bson;

    #[test]
    fn objects_round_trip_through_arrays() {
        let d = bson!({"a": 1, "b": [2]});
        let arr = call("$objectToArray", vec![Some(d.clone())]).unwrap();
        assert_eq!(arr, Some(bson!([{"k": "a", "v": 1}, {"k": "b", "v": [2]}])));
        assert_eq!(call("$arrayToObject", vec![arr]).unwrap(), Some(d));
        assert_eq!(
            call("$arrayToObject", vec![Some(bson!([["x", 1], ["x", 2]]))]).unwrap(),
            Some(bson!({"x": 2}))
        );
    }

    #[test]
    fn arrays() {
        let a = Some(bson!([1, 2, 3]));
        assert_eq!(
            call("$arrayElemAt", vec![a.clone(), Some(bson!(-1))]).unwrap(),
            Some(bson!(3))
        );
        assert_eq!(
            call("$arrayElemAt", vec![a.clone(), Some(bson!(5))]).unwrap(),
            None
        );
        assert_eq!(
            call("$slice", vec![a.clone(), Some(bson!(-2))]).unwrap(),
            Some(bson!([2, 3]))
        );
        assert_eq!(
            call("$in", vec![Some(bson!(2.0)), a.clone()]).unwrap(),
            Some(bson!(true))
        );
        assert!(call("$size", vec![None]).is_err());
        assert_eq!(call("$type", vec![None]).unwrap(), Some(bson!("missing")));
    }
}
