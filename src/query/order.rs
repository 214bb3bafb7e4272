//! MongoDB's comparison order for BSON values.
//!
//! MongoDB first compares the *canonical type* of two values (all numbers share one, strings and
//! symbols share one, …) and only compares values of the same canonical type by their contents.
//! This module implements that order exactly, so that `$gt`, `$lt`, sorting and equality agree
//! with the server.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::decimal::{Decimal, Exact};
use crate::limits::MAX_DEPTH;

/// The canonical type rank MongoDB uses to order values of different BSON types.
///
/// A missing value ranks with `undefined` (0), just below `null` (5).
///
/// ```
/// use bson::Bson;
/// use expanse::query::order::canonical_rank;
/// assert_eq!(canonical_rank(Some(&Bson::Int32(1))), canonical_rank(Some(&Bson::Double(2.5))));
/// assert!(canonical_rank(Some(&Bson::Null)) < canonical_rank(Some(&Bson::Int32(0))));
/// assert!(canonical_rank(None) < canonical_rank(Some(&Bson::Null)));
/// ```
pub fn canonical_rank(value: Option<&Bson>) -> i32 {
    let Some(value) = value else { return 0 };
    match value {
        Bson::MinKey => -1,
        Bson::Undefined => 0,
        Bson::Null => 5,
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => 10,
        Bson::String(_) | Bson::Symbol(_) => 15,
        Bson::Document(_) => 20,
        Bson::Array(_) => 25,
        Bson::Binary(_) => 30,
        Bson::ObjectId(_) => 35,
        Bson::Boolean(_) => 40,
        Bson::DateTime(_) => 45,
        Bson::Timestamp(_) => 47,
        Bson::RegularExpression(_) => 50,
        Bson::DbPointer(_) => 55,
        Bson::JavaScriptCode(_) => 60,
        Bson::JavaScriptCodeWithScope(_) => 65,
        Bson::MaxKey => 127,
    }
}

/// A numeric BSON value, kept exact.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Number {
    Int(i64),
    Float(f64),
    Decimal(Decimal),
}

impl Number {
    pub(crate) fn of(value: &Bson) -> Option<Number> {
        match value {
            Bson::Int32(i) => Some(Number::Int(i64::from(*i))),
            Bson::Int64(i) => Some(Number::Int(*i)),
            Bson::Double(d) => Some(Number::Float(*d)),
            Bson::Decimal128(d) => Some(Number::Decimal(Decimal::decode(d))),
            _ => None,
        }
    }

    pub(crate) fn is_nan(self) -> bool {
        match self {
            Number::Float(f) => f.is_nan(),
            Number::Decimal(d) => d == Decimal::NaN,
            Number::Int(_) => false,
        }
    }

    /// Truncates toward zero and saturates at the `i64` range, as MongoDB's `safeNumberLong`.
    pub(crate) fn truncate_to_i64(self) -> i64 {
        match self {
            Number::Int(i) => i,
            Number::Float(f) if f.is_nan() => 0,
            Number::Float(f) => f as i64, // `as` truncates and saturates
            Number::Decimal(d) => d.truncate().unwrap_or_else(|| d.to_f64() as i64),
        }
    }

    /// Truncates toward zero when the result fits an `i64`; `None` for NaN, infinities and
    /// values out of range (a `$mod` dividend MongoDB does not match).
    pub(crate) fn exact_truncation(self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(i),
            Number::Float(f) => {
                let t = f.trunc();
                (t.is_finite()
                    && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&t))
                .then_some(t as i64)
            }
            Number::Decimal(d) => d.truncate(),
        }
    }

    /// The exact finite value; `None` for NaN and infinities.
    fn exact(self) -> Option<Exact> {
        match self {
            Number::Int(i) => Some(Exact::of_int(i)),
            Number::Float(f) => Exact::of_f64(f),
            Number::Decimal(d) => Exact::of_decimal(d),
        }
    }

    /// -1 for negative infinity, 1 for positive infinity, 0 otherwise.
    fn infinity(self) -> i8 {
        match self {
            Number::Float(f) if f == f64::INFINITY => 1,
            Number::Float(f) if f == f64::NEG_INFINITY => -1,
            Number::Decimal(Decimal::Infinity(negative)) => {
                if negative {
                    -1
                } else {
                    1
                }
            }
            _ => 0,
        }
    }
}

/// A Decimal128 as the nearest `f64` (for arithmetic that is approximate anyway; comparisons
/// are exact, see [`compare_numbers`]).
pub(crate) fn decimal_to_f64(d: &bson::Decimal128) -> f64 {
    Decimal::decode(d).to_f64()
}

/// Compares two numbers the way MongoDB does: exactly across integer, floating and decimal
/// types, with NaN below every other number.
pub(crate) fn compare_numbers(a: Number, b: Number) -> Ordering {
    match (a, b) {
        (Number::Int(x), Number::Int(y)) => x.cmp(&y),
        (Number::Float(x), Number::Float(y)) => compare_floats(x, y),
        (Number::Int(x), Number::Float(y)) => compare_int_float(x, y),
        (Number::Float(x), Number::Int(y)) => compare_int_float(y, x).reverse(),
        _ => compare_exactly(a, b),
    }
}

/// Any two numbers, one of them a decimal: NaN lowest, then infinities, then exact values.
fn compare_exactly(a: Number, b: Number) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        (false, false) => {}
    }
    let (ia, ib) = (a.infinity(), b.infinity());
    if ia != 0 || ib != 0 {
        return ia.cmp(&ib);
    }
    match (a.exact(), b.exact()) {
        (Some(x), Some(y)) => x.compare(&y),
        _ => Ordering::Equal,
    }
}

fn compare_floats(x: f64, y: f64) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
    }
}

/// Exact comparison of an `i64` with an `f64`.
fn compare_int_float(x: i64, y: f64) -> Ordering {
    if y.is_nan() {
        return Ordering::Greater;
    }
    // 2^63 as f64 is exact; every i64 is below it.
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if y >= TWO_POW_63 {
        return Ordering::Less;
    }
    if y < -TWO_POW_63 {
        return Ordering::Greater;
    }
    let truncated = y.trunc();
    let whole = truncated as i64; // exact: |truncated| < 2^63 or == -2^63
    match x.cmp(&whole) {
        Ordering::Equal => {
            let fraction = y - truncated;
            if fraction > 0.0 {
                Ordering::Less
            } else if fraction < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        other => other,
    }
}

/// Compares two values in MongoDB's order (`BSONElement::woCompare` without field names):
/// canonical type first, then contents.
///
/// ```
/// use std::cmp::Ordering;
/// use bson::Bson;
/// use expanse::query::order::compare_values;
/// assert_eq!(compare_values(&Bson::Int32(1), &Bson::Double(1.0)), Ordering::Equal);
/// assert_eq!(compare_values(&Bson::Int64(5), &Bson::String("a".into())), Ordering::Less);
/// ```
pub fn compare_values(a: &Bson, b: &Bson) -> Ordering {
    compare_values_below(a, b, 0)
}

/// [`compare_values`] for values `depth` documents or arrays below the values first compared.
fn compare_values_below(a: &Bson, b: &Bson, depth: usize) -> Ordering {
    let rank = canonical_rank(Some(a)).cmp(&canonical_rank(Some(b)));
    if rank != Ordering::Equal {
        return rank;
    }
    same_rank_below(a, b, depth)
}

/// Compares two values of the same canonical rank by their contents.
pub(crate) fn compare_same_rank(a: &Bson, b: &Bson) -> Ordering {
    same_rank_below(a, b, 0)
}

/// [`compare_same_rank`] at `depth`. Documents and arrays more than [`MAX_DEPTH`] levels down
/// compare equal: the recursion stays bounded whatever the values, and values within the limit
/// (all Expanse accepts) compare exactly.
fn same_rank_below(a: &Bson, b: &Bson, depth: usize) -> Ordering {
    if let (Some(x), Some(y)) = (Number::of(a), Number::of(b)) {
        return compare_numbers(x, y);
    }
    let nested = depth + 1;
    if nested > MAX_DEPTH
        && matches!(
            a,
            Bson::Document(_) | Bson::Array(_) | Bson::JavaScriptCodeWithScope(_)
        )
    {
        return Ordering::Equal;
    }
    match (a, b) {
        (Bson::String(_) | Bson::Symbol(_), Bson::String(_) | Bson::Symbol(_)) => {
            text_of(a).as_bytes().cmp(text_of(b).as_bytes())
        }
        (Bson::Document(x), Bson::Document(y)) => documents_below(x, y, nested),
        (Bson::Array(x), Bson::Array(y)) => arrays_below(x, y, nested),
        (Bson::Binary(x), Bson::Binary(y)) => x
            .bytes
            .len()
            .cmp(&y.bytes.len())
            .then_with(|| u8::from(x.subtype).cmp(&u8::from(y.subtype)))
            .then_with(|| x.bytes.cmp(&y.bytes)),
        (Bson::ObjectId(x), Bson::ObjectId(y)) => x.bytes().cmp(&y.bytes()),
        (Bson::Boolean(x), Bson::Boolean(y)) => x.cmp(y),
        (Bson::DateTime(x), Bson::DateTime(y)) => x.timestamp_millis().cmp(&y.timestamp_millis()),
        (Bson::Timestamp(x), Bson::Timestamp(y)) => {
            (x.time, x.increment).cmp(&(y.time, y.increment))
        }
        (Bson::RegularExpression(x), Bson::RegularExpression(y)) => x
            .pattern
            .as_str()
            .as_bytes()
            .cmp(y.pattern.as_str().as_bytes())
            .then_with(|| x.options.as_str().cmp(y.options.as_str())),
        (Bson::JavaScriptCode(x), Bson::JavaScriptCode(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Bson::JavaScriptCodeWithScope(x), Bson::JavaScriptCodeWithScope(y)) => x
            .code
            .as_bytes()
            .cmp(y.code.as_bytes())
            .then_with(|| documents_below(&x.scope, &y.scope, nested)),
        (Bson::DbPointer(x), Bson::DbPointer(y)) => format!("{x:?}").cmp(&format!("{y:?}")),
        // MinKey, MaxKey, Null, Undefined: all values of the type are equal.
        _ => Ordering::Equal,
    }
}

fn text_of(value: &Bson) -> &str {
    match value {
        Bson::String(s) | Bson::Symbol(s) => s,
        _ => "",
    }
}

/// Compares documents element by element: canonical type, then field name, then value; a
/// document that runs out first is smaller.
pub fn compare_documents(a: &Document, b: &Document) -> Ordering {
    documents_below(a, b, 1)
}

/// [`compare_documents`] for documents `depth` levels down (the values first compared are
/// level 1).
fn documents_below(a: &Document, b: &Document, depth: usize) -> Ordering {
    let mut left = a.iter();
    let mut right = b.iter();
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some((ka, va)), Some((kb, vb))) => {
                let order = canonical_rank(Some(va))
                    .cmp(&canonical_rank(Some(vb)))
                    .then_with(|| ka.as_bytes().cmp(kb.as_bytes()))
                    .then_with(|| same_rank_below(va, vb, depth));
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

fn arrays_below(a: &[Bson], b: &[Bson], depth: usize) -> Ordering {
    for (x, y) in a.iter().zip(b.iter()) {
        let order = compare_values_below(x, y, depth);
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

/// MongoDB equality of two present values: same canonical type and equal contents.
///
/// ```
/// use bson::{bson, Bson};
/// use expanse::query::order::values_equal;
/// assert!(values_equal(&bson!(1), &bson!(1.0)));
/// assert!(!values_equal(&bson!({"a": 1, "b": 2}), &bson!({"b": 2, "a": 1})));
/// ```
pub fn values_equal(a: &Bson, b: &Bson) -> bool {
    match (a, b) {
        (Bson::String(x), Bson::String(y)) => return x == y,
        (Bson::Int32(x), Bson::Int32(y)) => return x == y,
        (Bson::Boolean(x), Bson::Boolean(y)) => return x == y,
        (Bson::ObjectId(x), Bson::ObjectId(y)) => return x == y,
        _ => {}
    }

    if canonical_rank(Some(a)) != canonical_rank(Some(b)) {
        return false;
    }
    if let (Some(x), Some(y)) = (Number::of(a), Number::of(b)) {
        // NaN equals NaN in MongoDB equality.
        if x.is_nan() || y.is_nan() {
            return x.is_nan() && y.is_nan();
        }
    }
    compare_same_rank(a, b) == Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::bson;

    #[test]
    fn numbers_compare_exactly_across_types() {
        assert_eq!(
            compare_values(
                &Bson::Int64(9_007_199_254_740_993),
                &Bson::Double(9_007_199_254_740_992.0)
            ),
            Ordering::Greater
        );
        assert_eq!(
            compare_values(&Bson::Int32(2), &Bson::Double(2.5)),
            Ordering::Less
        );
        assert_eq!(
            compare_values(&Bson::Int32(-2), &Bson::Double(-2.5)),
            Ordering::Greater
        );
        assert_eq!(
            compare_values(&Bson::Double(f64::NAN), &Bson::Int32(i32::MIN)),
            Ordering::Less
        );
        assert_eq!(
            compare_values(&Bson::Int64(i64::MAX), &Bson::Double(9.3e18)),
            Ordering::Less
        );
    }

    #[test]
    fn canonical_type_order_is_mongodb_order() {
        let ascending = [
            Bson::MinKey,
            Bson::Null,
            bson!(1),
            bson!("a"),
            bson!({}),
            bson!([]),
            Bson::ObjectId(bson::oid::ObjectId::from_bytes([0; 12])),
            bson!(false),
            Bson::DateTime(bson::DateTime::from_millis(0)),
            Bson::MaxKey,
        ];
        for pair in ascending.windows(2) {
            assert_eq!(
                compare_values(&pair[0], &pair[1]),
                Ordering::Less,
                "{pair:?}"
            );
        }
    }

    /// `levels` arrays around `leaf`, and a way to drop it without deep recursion.
    fn arrays(levels: usize, leaf: i32) -> Bson {
        let mut value = Bson::Int32(leaf);
        for _ in 0..levels {
            value = Bson::Array(vec![value]);
        }
        value
    }

    fn unwind(mut value: Bson) {
        while let Bson::Array(mut items) = value {
            value = items.pop().unwrap_or(Bson::Null);
        }
    }

    #[test]
    fn comparison_recursion_is_bounded_and_exact_within_the_limit() {
        let (a, b) = (arrays(MAX_DEPTH, 1), arrays(MAX_DEPTH, 2));
        assert_eq!(compare_values(&a, &b), Ordering::Less);
        assert!(!values_equal(&a, &b));
        unwind(a);
        unwind(b);
        // Past the limit, what differs deeper than it is not looked at (and nothing overflows).
        let (a, b) = (arrays(20_000, 1), arrays(20_000, 2));
        assert_eq!(compare_values(&a, &b), Ordering::Equal);
        unwind(a);
        unwind(b);
    }

    #[test]
    fn documents_compare_by_type_then_name_then_value() {
        assert_eq!(
            compare_documents(&bson::doc! {"a": 1}, &bson::doc! {"a": "x"}),
            Ordering::Less
        );
        assert_eq!(
            compare_documents(&bson::doc! {"a": 1}, &bson::doc! {"b": 0}),
            Ordering::Less
        );
        assert_eq!(
            compare_documents(&bson::doc! {}, &bson::doc! {"a": 1}),
            Ordering::Less
        );
    }
}
