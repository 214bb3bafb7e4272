//! Arithmetic for aggregation expressions and accumulators, with MongoDB's number types: a
//! result is an `int` while it fits, a `long` when an `int` overflows, a `double` when a `long`
//! overflows or a `double` takes part. `null` or missing operands give `null`.

use std::cmp::Ordering;

use bson::{Bson, DateTime};

use super::expression::{compare, Value};
use super::operators::type_name;
use super::{invalid, unsupported};
use crate::store::StoreError;

/// A number as arithmetic sees it.
#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i32),
    Long(i64),
    Double(f64),
}

fn num(value: &Bson) -> Option<Num> {
    match value {
        Bson::Int32(i) => Some(Num::Int(*i)),
        Bson::Int64(i) => Some(Num::Long(*i)),
        Bson::Double(d) => Some(Num::Double(*d)),
        _ => None,
    }
}

fn is_nullish(value: &Value) -> bool {
    matches!(value, None | Some(Bson::Null) | Some(Bson::Undefined))
}

/// The whole number a value holds (an integral double counts), if any.
pub(crate) fn whole(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(d) if d.fract() == 0.0 && d.is_finite() && d.abs() < 9.2e18 => Some(*d as i64),
        _ => None,
    }
}

/// A running sum or product: exact while integers, widened as MongoDB widens.
#[derive(Debug, Clone, Copy)]
enum Acc {
    Int { value: i64, long: bool },
    Double(f64),
}

impl Acc {
    fn zero() -> Acc {
        Acc::Int {
            value: 0,
            long: false,
        }
    }

    fn one() -> Acc {
        Acc::Int {
            value: 1,
            long: false,
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Acc::Int { value, .. } => value as f64,
            Acc::Double(d) => d,
        }
    }

    fn combine(self, n: Num, op: fn(i64, i64) -> Option<i64>, fop: fn(f64, f64) -> f64) -> Acc {
        match (self, n) {
            (Acc::Double(d), n) => Acc::Double(fop(d, num_f64(n))),
            (Acc::Int { .. }, Num::Double(x)) => Acc::Double(fop(self.as_f64(), x)),
            (Acc::Int { value, long }, Num::Int(x)) => match op(value, i64::from(x)) {
                Some(r) => Acc::Int {
                    value: r,
                    long: long || i32::try_from(r).is_err(),
                },
                None => Acc::Double(fop(value as f64, f64::from(x))),
            },
            (Acc::Int { value, .. }, Num::Long(x)) => match op(value, x) {
                Some(r) => Acc::Int {
                    value: r,
                    long: true,
                },
                None => Acc::Double(fop(value as f64, x as f64)),
            },
        }
    }

    fn into_bson(self) -> Bson {
        match self {
            Acc::Int { value, long: false } => match i32::try_from(value) {
                Ok(i) => Bson::Int32(i),
                Err(_) => Bson::Int64(value),
            },
            Acc::Int { value, long: true } => Bson::Int64(value),
            Acc::Double(d) => Bson::Double(d),
        }
    }
}

fn num_f64(n: Num) -> f64 {
    match n {
        Num::Int(i) => f64::from(i),
        Num::Long(i) => i as f64,
        Num::Double(d) => d,
    }
}

/// A number operand, or an error naming the operator and the operand's type.
fn number(value: &Bson, op: &str) -> Result<Num, StoreError> {
    match value {
        Bson::Decimal128(_) => Err(decimal(op)),
        other => num(other).ok_or_else(|| {
            invalid(
                op,
                format!(
                    "{op} only supports numeric types, not {}",
                    type_name(&Some(other.clone()))
                ),
            )
        }),
    }
}

fn decimal(op: &str) -> StoreError {
    unsupported(format!(
        "{op} on decimal values is not supported by the embedded store"
    ))
}

/// The sum of `$sum` and `$avg`, as MongoDB accumulates it (non-numbers are skipped).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sum {
    acc: Acc,
    count: u64,
}

impl Default for Sum {
    fn default() -> Sum {
        Sum {
            acc: Acc::zero(),
            count: 0,
        }
    }
}

impl Sum {
    /// Adds a value (numbers only; anything else is ignored).
    pub fn add(&mut self, value: &Value) -> Result<(), StoreError> {
        match value {
            Some(Bson::Decimal128(_)) => Err(decimal("$sum")),
            Some(v) => {
                if let Some(n) = num(v) {
                    self.acc = self.acc.combine(n, i64::checked_add, |a, b| a + b);
                    self.count += 1;
                }
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// `$sum`'s result: `0` when nothing was added.
    pub fn total(&self) -> Bson {
        self.acc.into_bson()
    }

    /// `$avg`'s result: a double, `null` when no number was added.
    pub fn average(&self) -> Bson {
        if self.count == 0 {
            Bson::Null
        } else {
            Bson::Double(self.acc.as_f64() / self.count as f64)
        }
    }
}

/// The values a `$sum`/`$avg`/`$min`/`$max` expression runs over: the elements of its one
/// array argument, or its arguments.
fn operands(args: Vec<Value>) -> Vec<Value> {
    match <[Value; 1]>::try_from(args) {
        Ok([Some(Bson::Array(items))]) => items.into_iter().map(Some).collect(),
        Ok([one]) => vec![one],
        Err(args) => args,
    }
}

/// `$min` / `$max` over values: null and missing are skipped; `null` when nothing is left.
pub(crate) fn extreme(values: impl IntoIterator<Item = Value>, want: Ordering) -> Bson {
    let mut best: Value = None;
    for v in values {
        if is_nullish(&v) {
            continue;
        }
        if best.is_none() || compare(&v, &best) == want {
            best = v;
        }
    }
    best.unwrap_or(Bson::Null)
}

fn date_plus(date: DateTime, millis: f64, op: &str) -> Result<Bson, StoreError> {
    let total = date.timestamp_millis() as f64 + millis.round();
    if !total.is_finite() || total.abs() > 9.2e18 {
        return Err(invalid(op, format!("{op} overflows the date range")));
    }
    Ok(Bson::DateTime(DateTime::from_millis(total as i64)))
}

/// Applies an arithmetic operator to its evaluated arguments.
pub(crate) fn call(name: &str, args: Vec<Value>) -> Result<Value, StoreError> {
    match name {
        "$sum" => {
            let mut sum = Sum::default();
            for v in operands(args) {
                sum.add(&v)?;
            }
            Ok(Some(sum.total()))
        }
        "$avg" => {
            let mut sum = Sum::default();
            for v in operands(args) {
                sum.add(&v)?;
            }
            Ok(Some(sum.average()))
        }
        "$min" => Ok(Some(extreme(operands(args), Ordering::Less))),
        "$max" => Ok(Some(extreme(operands(args), Ordering::Greater))),
        _ if args.iter().any(is_nullish) => Ok(Some(Bson::Null)),
        "$add" => add(args),
        "$multiply" => {
            let mut acc = Acc::one();
            for v in args.iter().flatten() {
                acc = acc.combine(number(v, name)?, i64::checked_mul, |a, b| a * b);
            }
            Ok(Some(acc.into_bson()))
        }
        "$subtract" => subtract(
            &args.first().cloned().flatten(),
            &args.get(1).cloned().flatten(),
        ),
        "$divide" => {
            let (a, b) = pair(&args, name)?;
            let divisor = num_f64(b);
            if divisor == 0.0 {
                return Err(invalid(name, "can't $divide by zero"));
            }
            Ok(Some(Bson::Double(num_f64(a) / divisor)))
        }
        "$mod" => modulo(&args),
        "$abs" => Ok(Some(match number(first(&args), name)? {
            Num::Int(i) => match i.checked_abs() {
                Some(a) => Bson::Int32(a),
                None => Bson::Int64(i64::from(i).abs()),
            },
            Num::Long(i) => Bson::Int64(
                i.checked_abs()
                    .ok_or_else(|| invalid(name, "can't take $abs of the smallest long"))?,
            ),
            Num::Double(d) => Bson::Double(d.abs()),
        })),
        "$ceil" | "$floor" => Ok(Some(match number(first(&args), name)? {
            Num::Double(d) => Bson::Double(if name == "$ceil" { d.ceil() } else { d.floor() }),
            Num::Int(i) => Bson::Int32(i),
            Num::Long(i) => Bson::Int64(i),
        })),
        "$round" | "$trunc" => round(name, &args),
        _ => Err(unsupported(format!(
            "the aggregation operator {name} is not supported by the embedded store"
        ))),
    }
}

fn first(args: &[Value]) -> &Bson {
    args.first().and_then(Option::as_ref).unwrap_or(&Bson::Null)
}

fn pair(args: &[Value], op: &str) -> Result<(Num, Num), StoreError> {
    let get = |i: usize| args.get(i).and_then(Option::as_ref).unwrap_or(&Bson::Null);
    Ok((number(get(0), op)?, number(get(1), op)?))
}

fn add(args: Vec<Value>) -> Result<Value, StoreError> {
    let mut acc = Acc::zero();
    let mut date: Option<DateTime> = None;
    for v in args.into_iter().flatten() {
        if let Bson::DateTime(d) = v {
            if date.is_some() {
                return Err(invalid(
                    "$add",
                    "only one date allowed in an $add expression",
                ));
            }
            date = Some(d);
            continue;
        }
        acc = acc.combine(number(&v, "$add")?, i64::checked_add, |a, b| a + b);
    }
    match date {
        Some(d) => date_plus(d, acc.as_f64(), "$add").map(Some),
        None => Ok(Some(acc.into_bson())),
    }
}

fn subtract(a: &Value, b: &Value) -> Result<Value, StoreError> {
    let (Some(a), Some(b)) = (a, b) else {
        return Ok(Some(Bson::Null));
    };
    match (a, b) {
        (Bson::DateTime(x), Bson::DateTime(y)) => Ok(Some(Bson::Int64(
            x.timestamp_millis().wrapping_sub(y.timestamp_millis()),
        ))),
        (Bson::DateTime(x), other) => {
            date_plus(*x, -num_f64(number(other, "$subtract")?), "$subtract").map(Some)
        }
        (_, Bson::DateTime(_)) => Err(invalid(
            "$subtract",
            "cannot $subtract a date from a non-date",
        )),
        _ => {
            let x = number(a, "$subtract")?;
            let y = number(b, "$subtract")?;
            let start = match x {
                Num::Int(i) => Acc::Int {
                    value: i64::from(i),
                    long: false,
                },
                Num::Long(i) => Acc::Int {
                    value: i,
                    long: true,
                },
                Num::Double(d) => Acc::Double(d),
            };
            Ok(Some(
                start.combine(y, i64::checked_sub, |a, b| a - b).into_bson(),
            ))
        }
    }
}

fn modulo(args: &[Value]) -> Result<Value, StoreError> {
    let (a, b) = pair(args, "$mod")?;
    Ok(Some(match (a, b) {
        (Num::Double(_), _) | (_, Num::Double(_)) => {
            let divisor = num_f64(b);
            if divisor == 0.0 {
                return Err(invalid("$mod", "can't $mod by zero"));
            }
            Bson::Double(num_f64(a) % divisor)
        }
        (Num::Int(x), Num::Int(y)) => {
            if y == 0 {
                return Err(invalid("$mod", "can't $mod by zero"));
            }
            Bson::Int32(x.wrapping_rem(y))
        }
        (x, y) => {
            let (x, y) = (num_f64_to_i64(x), num_f64_to_i64(y));
            if y == 0 {
                return Err(invalid("$mod", "can't $mod by zero"));
            }
            Bson::Int64(x.wrapping_rem(y))
        }
    }))
}

fn num_f64_to_i64(n: Num) -> i64 {
    match n {
        Num::Int(i) => i64::from(i),
        Num::Long(i) => i,
        Num::Double(d) => d as i64,
    }
}

/// `$round` (half to even) and `$trunc`, to `place` decimal places (default 0).
fn round(name: &str, args: &[Value]) -> Result<Value, StoreError> {
    let place = match args.get(1) {
        None => 0,
        Some(Some(p)) => match whole(p) {
            Some(p) if (-20..100).contains(&p) => p as i32,
            _ => {
                return Err(invalid(
                    name,
                    format!("{name}: the place must be a whole number between -20 and 100"),
                ))
            }
        },
        Some(None) => return Ok(Some(Bson::Null)),
    };
    let apply = |x: f64| -> f64 {
        let scale = 10f64.powi(place);
        let scaled = x * scale;
        let r = if name == "$round" {
            scaled.round_ties_even()
        } else {
            scaled.trunc()
        };
        r / scale
    };
    Ok(Some(match number(first(args), name)? {
        Num::Double(d) => Bson::Double(apply(d)),
        Num::Int(i) if place < 0 => Bson::Int32(apply(f64::from(i)) as i32),
        Num::Long(i) if place < 0 => Bson::Int64(apply(i as f64) as i64),
        Num::Int(i) => Bson::Int32(i),
        Num::Long(i) => Bson::Int64(i),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, args: Vec<Bson>) -> Bson {
        call(name, args.into_iter().map(Some).collect())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn integers_widen_on_overflow() {
        assert_eq!(
            run("$add", vec![Bson::Int32(i32::MAX), Bson::Int32(1)]),
            Bson::Int64(2_147_483_648)
        );
        assert_eq!(
            run("$add", vec![Bson::Int64(i64::MAX), Bson::Int32(1)]),
            Bson::Double(9.223372036854776e18)
        );
        assert_eq!(
            run("$multiply", vec![Bson::Int32(2), Bson::Int32(3)]),
            Bson::Int32(6)
        );
        assert_eq!(
            run("$add", vec![Bson::Int32(1), Bson::Double(0.5)]),
            Bson::Double(1.5)
        );
        assert_eq!(
            run("$divide", vec![Bson::Int32(4), Bson::Int32(2)]),
            Bson::Double(2.0)
        );
        assert_eq!(run("$add", vec![Bson::Int32(1), Bson::Null]), Bson::Null);
    }

    #[test]
    fn sums_skip_non_numbers() {
        let mut sum = Sum::default();
        for v in [Some(Bson::Int32(2)), None, Some(Bson::String("x".into()))] {
            sum.add(&v).unwrap();
        }
        assert_eq!(sum.total(), Bson::Int32(2));
        assert_eq!(sum.average(), Bson::Double(2.0));
        assert_eq!(Sum::default().average(), Bson::Null);
    }
}
