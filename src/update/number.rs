//! Arithmetic for `$inc`, `$mul` and `$bit` with MongoDB's type rules: a decimal operand makes a
//! decimal result, else a double makes a double; two 32-bit integers give a 32-bit integer, or a
//! 64-bit one when the result does not fit; a 64-bit overflow is an error.

use bson::Bson;

use super::decimal::Dec;

/// `+` or `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arith {
    Add,
    Mul,
}

/// A bitwise operation of `$bit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BitOp {
    And,
    Or,
    Xor,
}

/// Whether a value is a number `$inc` and `$mul` accept.
pub(crate) fn is_number(v: &Bson) -> bool {
    matches!(
        v,
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_)
    )
}

/// `a (op) b`, or `None` on a 64-bit integer overflow.
pub(crate) fn arith(op: Arith, a: &Bson, b: &Bson) -> Option<Bson> {
    match (a, b) {
        (Bson::Decimal128(_), _) | (_, Bson::Decimal128(_)) => {
            let (x, y) = (to_dec(a)?, to_dec(b)?);
            Some(Bson::Decimal128(
                match op {
                    Arith::Add => x.add(&y),
                    Arith::Mul => x.mul(&y),
                }
                .encode(),
            ))
        }
        (Bson::Double(_), _) | (_, Bson::Double(_)) => {
            let (x, y) = (to_f64(a)?, to_f64(b)?);
            Some(Bson::Double(match op {
                Arith::Add => x + y,
                Arith::Mul => x * y,
            }))
        }
        (Bson::Int32(x), Bson::Int32(y)) => {
            let wide = match op {
                Arith::Add => i64::from(*x) + i64::from(*y),
                Arith::Mul => i64::from(*x) * i64::from(*y),
            };
            Some(
                i32::try_from(wide)
                    .map(Bson::Int32)
                    .unwrap_or(Bson::Int64(wide)),
            )
        }
        _ => {
            let (x, y) = (to_i64(a)?, to_i64(b)?);
            match op {
                Arith::Add => x.checked_add(y),
                Arith::Mul => x.checked_mul(y),
            }
            .map(Bson::Int64)
        }
    }
}

/// A zero of the type `$mul` creates a missing field with: `arg * 0` (a 32-bit zero).
pub(crate) fn zero_times(arg: &Bson) -> Option<Bson> {
    arith(Arith::Mul, arg, &Bson::Int32(0))
}

/// Applies `$bit` operations in order to an integer (`Int32` or `Int64`).
pub(crate) fn bits(start: &Bson, ops: &[(BitOp, Bson)]) -> Option<Bson> {
    let mut value = start.clone();
    for (op, operand) in ops {
        value = match (&value, operand) {
            (Bson::Int32(a), Bson::Int32(b)) => Bson::Int32(bit(*op, *a, *b)),
            _ => Bson::Int64(bit(*op, to_i64(&value)?, to_i64(operand)?)),
        };
    }
    Some(value)
}

fn bit<T>(op: BitOp, a: T, b: T) -> T
where
    T: std::ops::BitAnd<Output = T> + std::ops::BitOr<Output = T> + std::ops::BitXor<Output = T>,
{
    match op {
        BitOp::And => a & b,
        BitOp::Or => a | b,
        BitOp::Xor => a ^ b,
    }
}

fn to_i64(v: &Bson) -> Option<i64> {
    match v {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        _ => None,
    }
}

fn to_f64(v: &Bson) -> Option<f64> {
    match v {
        Bson::Int32(i) => Some(f64::from(*i)),
        Bson::Int64(i) => Some(*i as f64),
        Bson::Double(d) => Some(*d),
        _ => None,
    }
}

fn to_dec(v: &Bson) -> Option<Dec> {
    match v {
        Bson::Int32(i) => Some(Dec::from_i64(i64::from(*i))),
        Bson::Int64(i) => Some(Dec::from_i64(*i)),
        Bson::Double(d) => Some(Dec::from_f64(*d)),
        Bson::Decimal128(d) => Some(Dec::decode(d)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_widen_then_overflow() {
        assert_eq!(
            arith(Arith::Add, &Bson::Int32(i32::MAX), &Bson::Int32(1)),
            Some(Bson::Int64(i64::from(i32::MAX) + 1))
        );
        assert_eq!(
            arith(Arith::Add, &Bson::Int64(i64::MAX), &Bson::Int32(1)),
            None
        );
        assert_eq!(
            arith(Arith::Mul, &Bson::Int32(3), &Bson::Double(0.5)),
            Some(Bson::Double(1.5))
        );
        assert_eq!(zero_times(&Bson::Int64(5)), Some(Bson::Int64(0)));
    }

    #[test]
    fn bits_keep_the_narrowest_type() {
        let ops = [(BitOp::Or, Bson::Int32(4))];
        assert_eq!(bits(&Bson::Int32(2), &ops), Some(Bson::Int32(6)));
        let ops = [(BitOp::And, Bson::Int64(1))];
        assert_eq!(bits(&Bson::Int64(2), &ops), Some(Bson::Int64(0)));
    }
}
