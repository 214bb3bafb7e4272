//! Exact comparison of Decimal128 values with each other and with doubles and integers.
//!
//! MongoDB compares numbers of different types by their exact values: `Decimal128("0.3")` is
//! greater than the double `0.3` (which is 0.299999999999999988897769753748…), and
//! `Decimal128("36028797018963967")` differs from the double `36028797018963968`. Every finite
//! decimal, double and integer is a whole number of digits times a power of ten, so each is
//! turned into that form ([`Exact`]) and compared digit by digit.

use std::cmp::Ordering;

/// A decoded Decimal128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decimal {
    /// Not a number (either sign).
    NaN,
    /// An infinity (`true` = negative).
    Infinity(bool),
    /// `(-1)^negative × coefficient × 10^exponent`.
    Finite {
        negative: bool,
        coefficient: u128,
        exponent: i32,
    },
}

/// The largest coefficient a canonical Decimal128 holds (34 digits).
const MAX_COEFFICIENT: u128 = 9_999_999_999_999_999_999_999_999_999_999_999;
const EXPONENT_BIAS: i32 = 6176;

impl Decimal {
    /// Decodes the IEEE 754-2008 binary integer decimal encoding.
    pub(crate) fn decode(value: &bson::Decimal128) -> Decimal {
        let bits = u128::from_le_bytes(value.bytes());
        let negative = bits >> 127 == 1;
        let combination = (bits >> 122) & 0x1f;
        if combination == 0x1f {
            return Decimal::NaN;
        }
        if combination == 0x1e {
            return Decimal::Infinity(negative);
        }
        let (exponent, coefficient) = if (bits >> 125) & 0b11 == 0b11 {
            // The long form: a coefficient of 2^113 or more, never canonical; it reads as zero.
            (((bits >> 111) & 0x3fff) as i32, 0)
        } else {
            (((bits >> 113) & 0x3fff) as i32, bits & ((1u128 << 113) - 1))
        };
        let coefficient = if coefficient > MAX_COEFFICIENT {
            0
        } else {
            coefficient
        };
        Decimal::Finite {
            negative,
            coefficient,
            exponent: exponent - EXPONENT_BIAS,
        }
    }

    /// The nearest double (for arithmetic that is approximate anyway).
    pub(crate) fn to_f64(self) -> f64 {
        match self {
            Decimal::NaN => f64::NAN,
            Decimal::Infinity(true) => f64::NEG_INFINITY,
            Decimal::Infinity(false) => f64::INFINITY,
            Decimal::Finite {
                negative,
                coefficient,
                exponent,
            } => {
                let magnitude: f64 = format!("{coefficient}e{exponent}").parse().unwrap_or(0.0);
                if negative {
                    -magnitude
                } else {
                    magnitude
                }
            }
        }
    }

    /// Truncated toward zero, when the result fits an `i64` (`None` for NaN, infinities and
    /// values out of range).
    pub(crate) fn truncate(self) -> Option<i64> {
        let Decimal::Finite {
            negative,
            coefficient,
            exponent,
        } = self
        else {
            return None;
        };
        let whole = if exponent >= 0 {
            let scale = 10u128.checked_pow(u32::try_from(exponent).ok()?)?;
            coefficient.checked_mul(scale)?
        } else {
            let drop = u32::try_from(-exponent).ok()?;
            10u128.checked_pow(drop).map_or(0, |d| coefficient / d)
        };
        let whole = i128::try_from(whole).ok()?;
        i64::try_from(if negative { -whole } else { whole }).ok()
    }
}

/// A finite number as `sign × digits × 10^exponent`, `digits` without leading or trailing
/// zeros (empty for zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exact {
    negative: bool,
    digits: Vec<u8>,
    exponent: i64,
}

impl Exact {
    fn new(negative: bool, digits: &str, exponent: i64) -> Exact {
        let trimmed = digits.trim_start_matches('0');
        let kept = trimmed.trim_end_matches('0');
        let exponent = exponent + (trimmed.len() - kept.len()) as i64;
        Exact {
            negative: negative && !kept.is_empty(),
            digits: kept.bytes().collect(),
            exponent,
        }
    }

    pub(crate) fn of_int(value: i64) -> Exact {
        Exact::new(value < 0, &value.unsigned_abs().to_string(), 0)
    }

    /// `None` for NaN and infinities.
    pub(crate) fn of_decimal(value: Decimal) -> Option<Exact> {
        match value {
            Decimal::Finite {
                negative,
                coefficient,
                exponent,
            } => Some(Exact::new(
                negative,
                &coefficient.to_string(),
                i64::from(exponent),
            )),
            _ => None,
        }
    }

    /// The exact value of a finite double (`None` for NaN and infinities).
    pub(crate) fn of_f64(value: f64) -> Option<Exact> {
        if !value.is_finite() {
            return None;
        }
        let bits = value.to_bits();
        let negative = bits >> 63 == 1;
        let biased = ((bits >> 52) & 0x7ff) as i64;
        let fraction = bits & ((1u64 << 52) - 1);
        let (mantissa, power) = if biased == 0 {
            (fraction, -1074)
        } else {
            (fraction | (1u64 << 52), biased - 1075)
        };
        let mut number = Big::from(mantissa);
        let exponent = if power >= 0 {
            number.mul_pow(2, power as u32);
            0
        } else {
            // m × 2^-k = m × 5^k × 10^-k
            number.mul_pow(5, (-power) as u32);
            power
        };
        Some(Exact::new(negative, &number.to_decimal(), exponent))
    }

    /// Orders two exact numbers.
    pub(crate) fn compare(&self, other: &Exact) -> Ordering {
        let sign = |e: &Exact| match (e.digits.is_empty(), e.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        };
        let (a, b) = (sign(self), sign(other));
        if a != b || a == 0 {
            return a.cmp(&b);
        }
        let magnitude = self.magnitude_cmp(other);
        if a < 0 {
            magnitude.reverse()
        } else {
            magnitude
        }
    }

    fn magnitude_cmp(&self, other: &Exact) -> Ordering {
        // The position of the leading digit decides first; then the digits themselves.
        let lead = |e: &Exact| e.digits.len() as i64 + e.exponent;
        lead(self)
            .cmp(&lead(other))
            .then_with(|| self.digits.cmp(&other.digits))
    }
}

/// A small unsigned big integer (base 10^9 limbs, least significant first), enough to write a
/// double's exact value in decimal.
struct Big(Vec<u32>);

const LIMB: u64 = 1_000_000_000;

impl Big {
    fn from(value: u64) -> Big {
        let mut limbs = Vec::new();
        let mut v = value;
        while v > 0 {
            limbs.push((v % LIMB) as u32);
            v /= LIMB;
        }
        Big(limbs)
    }

    fn mul_small(&mut self, factor: u64) {
        let mut carry = 0u64;
        for limb in &mut self.0 {
            let product = u64::from(*limb) * factor + carry;
            *limb = (product % LIMB) as u32;
            carry = product / LIMB;
        }
        while carry > 0 {
            self.0.push((carry % LIMB) as u32);
            carry /= LIMB;
        }
    }

    /// Multiplies by `base^power` (`base` 2 or 5), a few factors at a time.
    fn mul_pow(&mut self, base: u64, mut power: u32) {
        let step = if base == 2 { 29 } else { 12 };
        while power > 0 {
            let now = power.min(step);
            self.mul_small(base.pow(now));
            power -= now;
        }
    }

    fn to_decimal(&self) -> String {
        let mut text = String::new();
        for (i, limb) in self.0.iter().rev().enumerate() {
            if i == 0 {
                text.push_str(&limb.to_string());
            } else {
                text.push_str(&format!("{limb:09}"));
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(text: &str) -> Decimal {
        Decimal::decode(&bson::Decimal128::from_str(text).expect("decimal"))
    }

    #[test]
    fn decodes_specials_and_finite_values() {
        assert_eq!(dec("NaN"), Decimal::NaN);
        assert_eq!(dec("-Infinity"), Decimal::Infinity(true));
        assert_eq!(
            dec("-1.25"),
            Decimal::Finite {
                negative: true,
                coefficient: 125,
                exponent: -2
            }
        );
        assert_eq!(dec("1E-6176").truncate(), Some(0));
        assert_eq!(dec("-14.9").truncate(), Some(-14));
        assert_eq!(dec("1E+19").truncate(), None);
        let big = dec("12345678901234567890.12345678901234");
        assert!(
            matches!(big, Decimal::Finite { coefficient, .. } if coefficient == 1_234_567_890_123_456_789_012_345_678_901_234)
        );
    }

    #[test]
    fn doubles_are_exact() {
        let point3 = Exact::of_f64(0.3).expect("finite");
        let decimal = Exact::of_decimal(dec("0.3")).expect("finite");
        assert_eq!(point3.compare(&decimal), Ordering::Less);
        let big = Exact::of_f64(36_028_797_018_963_968.0).expect("finite");
        let odd = Exact::of_decimal(dec("36028797018963967")).expect("finite");
        assert_eq!(big.compare(&odd), Ordering::Greater);
        assert_eq!(
            Exact::of_f64(-0.0)
                .expect("finite")
                .compare(&Exact::of_int(0)),
            Ordering::Equal
        );
        assert_eq!(
            Exact::of_decimal(dec("1.000"))
                .expect("finite")
                .compare(&Exact::of_int(1)),
            Ordering::Equal
        );
        assert_eq!(
            Exact::of_f64(5e-324)
                .expect("finite")
                .compare(&Exact::of_int(0)),
            Ordering::Greater
        );
    }
}
