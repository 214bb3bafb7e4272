//! Decimal128 arithmetic for `$inc` and `$mul`: IEEE 754-2008 decimal addition and
//! multiplication with 34 significant digits, rounding half to even, as MongoDB computes them.
//! A double meets a decimal as MongoDB converts it: rounded to 15 significant digits.

use bson::Decimal128;

/// The largest coefficient a Decimal128 holds (34 nines).
const MAX_DIGITS: usize = 34;
/// The exponent range of a Decimal128 (of its coefficient read as an integer).
const MAX_EXPONENT: i32 = 6111;
const MIN_EXPONENT: i32 = -6176;
const EXPONENT_BIAS: i32 = 6176;

/// A decoded Decimal128.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dec {
    NaN,
    Infinity {
        negative: bool,
    },
    Finite {
        negative: bool,
        coefficient: u128,
        exponent: i32,
    },
}

impl Dec {
    pub(crate) fn decode(d: &Decimal128) -> Dec {
        let x = u128::from_le_bytes(d.bytes());
        let negative = x >> 127 == 1;
        let combination = (x >> 122) & 0b11111;
        if combination == 0b11111 {
            return Dec::NaN;
        }
        if combination == 0b11110 {
            return Dec::Infinity { negative };
        }
        let (biased, coefficient) = if (x >> 125) & 0b11 == 0b11 {
            // A coefficient of 2^113 or more: not canonical, read as zero.
            (((x >> 111) & 0x3FFF) as i32, 0)
        } else {
            let c = x & ((1u128 << 113) - 1);
            (
                ((x >> 113) & 0x3FFF) as i32,
                if c > max_coefficient() { 0 } else { c },
            )
        };
        Dec::Finite {
            negative,
            coefficient,
            exponent: biased - EXPONENT_BIAS,
        }
    }

    pub(crate) fn encode(&self) -> Decimal128 {
        let x: u128 = match self {
            Dec::NaN => 0x7C00_0000_0000_0000_0000_0000_0000_0000,
            Dec::Infinity { negative } => {
                (u128::from(*negative) << 127) | 0x7800_0000_0000_0000_0000_0000_0000_0000
            }
            Dec::Finite {
                negative,
                coefficient,
                exponent,
            } => {
                (u128::from(*negative) << 127)
                    | (((exponent + EXPONENT_BIAS) as u128) << 113)
                    | coefficient
            }
        };
        Decimal128::from_bytes(x.to_le_bytes())
    }

    pub(crate) fn from_i64(v: i64) -> Dec {
        Dec::Finite {
            negative: v < 0,
            coefficient: u128::from(v.unsigned_abs()),
            exponent: 0,
        }
    }

    /// A double as MongoDB converts it: exactly 15 significant digits (zero, infinities and
    /// NaN as they are).
    pub(crate) fn from_f64(v: f64) -> Dec {
        if v.is_nan() {
            return Dec::NaN;
        }
        if v.is_infinite() {
            return Dec::Infinity { negative: v < 0.0 };
        }
        if v == 0.0 {
            return Dec::Finite {
                negative: v.is_sign_negative(),
                coefficient: 0,
                exponent: 0,
            };
        }
        // Rust formats with correct rounding, ties to even.
        let text = format!("{:.14e}", v.abs());
        let (mantissa, exp) = text.split_once('e').unwrap_or((text.as_str(), "0"));
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        let coefficient = digits.parse::<u128>().unwrap_or(0);
        let exponent = exp.parse::<i32>().unwrap_or(0) - 14;
        Dec::Finite {
            negative: v < 0.0,
            coefficient,
            exponent,
        }
    }

    pub(crate) fn add(&self, other: &Dec) -> Dec {
        match (self, other) {
            (Dec::NaN, _) | (_, Dec::NaN) => Dec::NaN,
            (Dec::Infinity { negative: a }, Dec::Infinity { negative: b }) => {
                if a == b {
                    self.clone()
                } else {
                    Dec::NaN
                }
            }
            (Dec::Infinity { .. }, _) => self.clone(),
            (_, Dec::Infinity { .. }) => other.clone(),
            (
                Dec::Finite {
                    negative: n1,
                    coefficient: c1,
                    exponent: e1,
                },
                Dec::Finite {
                    negative: n2,
                    coefficient: c2,
                    exponent: e2,
                },
            ) => {
                let exponent = (*e1).min(*e2);
                let a = Digits::from(*c1).shifted((e1 - exponent) as usize);
                let b = Digits::from(*c2).shifted((e2 - exponent) as usize);
                let (negative, sum) = if n1 == n2 {
                    (*n1, a.add(&b))
                } else if a.cmp_value(&b) == std::cmp::Ordering::Less {
                    (*n2, b.sub(&a))
                } else {
                    (*n1, a.sub(&b))
                };
                // An exact zero from opposite signs is positive (rounding to nearest).
                let negative = if sum.is_zero() && n1 != n2 {
                    false
                } else {
                    negative
                };
                finish(negative, sum, exponent)
            }
        }
    }

    pub(crate) fn mul(&self, other: &Dec) -> Dec {
        let negative = self.is_negative() != other.is_negative();
        match (self, other) {
            (Dec::NaN, _) | (_, Dec::NaN) => Dec::NaN,
            (Dec::Infinity { .. }, o) | (o, Dec::Infinity { .. }) => {
                if o.is_zero() {
                    Dec::NaN
                } else {
                    Dec::Infinity { negative }
                }
            }
            (
                Dec::Finite {
                    coefficient: c1,
                    exponent: e1,
                    ..
                },
                Dec::Finite {
                    coefficient: c2,
                    exponent: e2,
                    ..
                },
            ) => finish(negative, Digits::from(*c1).mul(&Digits::from(*c2)), e1 + e2),
        }
    }

    fn is_negative(&self) -> bool {
        match self {
            Dec::NaN => false,
            Dec::Infinity { negative } | Dec::Finite { negative, .. } => *negative,
        }
    }

    fn is_zero(&self) -> bool {
        matches!(self, Dec::Finite { coefficient: 0, .. })
    }
}

fn max_coefficient() -> u128 {
    10u128.pow(MAX_DIGITS as u32) - 1
}

/// Rounds an exact result to 34 digits and the exponent range.
fn finish(negative: bool, mut digits: Digits, mut exponent: i32) -> Dec {
    digits.trim();
    let excess = digits.len().saturating_sub(MAX_DIGITS);
    let below_range = (MIN_EXPONENT - exponent).max(0) as usize;
    let drop = excess.max(below_range);
    if drop > 0 {
        digits = digits.round_off(drop);
        exponent += drop as i32;
        if digits.len() > MAX_DIGITS {
            // Rounding carried into a 35th digit (all nines): one more place.
            digits = digits.round_off(1);
            exponent += 1;
        }
    }
    if exponent > MAX_EXPONENT {
        // Pad the coefficient with zeros to bring the exponent into range, if it fits.
        let shift = (exponent - MAX_EXPONENT) as usize;
        if digits.is_zero() {
            exponent = MAX_EXPONENT;
        } else if digits.len() + shift <= MAX_DIGITS {
            digits = digits.shifted(shift);
            exponent = MAX_EXPONENT;
        } else {
            return Dec::Infinity { negative };
        }
    }
    Dec::Finite {
        negative,
        coefficient: digits.to_u128(),
        exponent,
    }
}

/// An unsigned integer as decimal digits, most significant first.
#[derive(Debug, Clone)]
struct Digits(Vec<u8>);

impl From<u128> for Digits {
    fn from(v: u128) -> Digits {
        Digits(v.to_string().bytes().map(|b| b - b'0').collect())
    }
}

impl Digits {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_zero(&self) -> bool {
        self.0.iter().all(|d| *d == 0)
    }

    fn trim(&mut self) {
        let leading = self.0.iter().take_while(|d| **d == 0).count();
        let keep = leading.min(self.0.len().saturating_sub(1));
        self.0.drain(..keep);
        if self.0.is_empty() {
            self.0.push(0);
        }
    }

    fn shifted(mut self, places: usize) -> Digits {
        if !self.is_zero() {
            self.0.extend(std::iter::repeat_n(0, places));
        }
        self
    }

    fn cmp_value(&self, other: &Digits) -> std::cmp::Ordering {
        let (mut a, mut b) = (self.clone(), other.clone());
        a.trim();
        b.trim();
        a.len().cmp(&b.len()).then_with(|| a.0.cmp(&b.0))
    }

    fn add(&self, other: &Digits) -> Digits {
        let mut out = Vec::with_capacity(self.len().max(other.len()) + 1);
        let (mut i, mut j, mut carry) = (self.len(), other.len(), 0u8);
        while i > 0 || j > 0 || carry > 0 {
            let a = if i > 0 { self.0[i - 1] } else { 0 };
            let b = if j > 0 { other.0[j - 1] } else { 0 };
            let s = a + b + carry;
            out.push(s % 10);
            carry = s / 10;
            i = i.saturating_sub(1);
            j = j.saturating_sub(1);
        }
        out.reverse();
        let mut d = Digits(out);
        d.trim();
        d
    }

    /// `self - other`, for `self >= other`.
    fn sub(&self, other: &Digits) -> Digits {
        let mut out = Vec::with_capacity(self.len());
        let (mut i, mut j, mut borrow) = (self.len(), other.len(), 0i8);
        while i > 0 {
            let a = self.0[i - 1] as i8;
            let b = if j > 0 { other.0[j - 1] as i8 } else { 0 };
            let mut d = a - b - borrow;
            borrow = 0;
            if d < 0 {
                d += 10;
                borrow = 1;
            }
            out.push(d as u8);
            i -= 1;
            j = j.saturating_sub(1);
        }
        out.reverse();
        let mut d = Digits(out);
        d.trim();
        d
    }

    fn mul(&self, other: &Digits) -> Digits {
        let mut acc = vec![0u32; self.len() + other.len()];
        for (i, a) in self.0.iter().rev().enumerate() {
            for (j, b) in other.0.iter().rev().enumerate() {
                acc[i + j] += u32::from(*a) * u32::from(*b);
            }
        }
        let mut carry = 0u32;
        for slot in acc.iter_mut() {
            let v = *slot + carry;
            *slot = v % 10;
            carry = v / 10;
        }
        while carry > 0 {
            acc.push(carry % 10);
            carry /= 10;
        }
        let mut d = Digits(acc.into_iter().rev().map(|v| v as u8).collect());
        d.trim();
        d
    }

    /// Drops the last `places` digits, rounding half to even.
    fn round_off(&self, places: usize) -> Digits {
        if places > self.len() {
            return Digits(vec![0]);
        }
        let keep_len = self.len().saturating_sub(places);
        let kept = Digits(if keep_len == 0 {
            vec![0]
        } else {
            self.0[..keep_len].to_vec()
        });
        let dropped = &self.0[keep_len..];
        let first = dropped.first().copied().unwrap_or(0);
        let rest_nonzero = dropped.iter().skip(1).any(|d| *d != 0);
        let last_kept_odd = kept.0.last().is_some_and(|d| d % 2 == 1);
        let round_up = first > 5 || (first == 5 && (rest_nonzero || last_kept_odd));
        if round_up {
            kept.add(&Digits(vec![1]))
        } else {
            kept
        }
    }

    fn to_u128(&self) -> u128 {
        self.0.iter().fold(0u128, |acc, d| {
            acc.saturating_mul(10).saturating_add(u128::from(*d))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Dec {
        Dec::decode(&Decimal128::from_str(s).unwrap())
    }

    fn show(x: Dec) -> String {
        x.encode().to_string()
    }

    #[test]
    fn round_trips_through_bytes() {
        for s in [
            "1.0",
            "0.00",
            "-12.345",
            "1E+3",
            "NaN",
            "Infinity",
            "-Infinity",
        ] {
            assert_eq!(
                show(d(s)),
                Decimal128::from_str(s).unwrap().to_string(),
                "{s}"
            );
        }
    }

    #[test]
    fn adds_at_the_smaller_exponent() {
        assert_eq!(show(d("1.0").add(&d("10"))), "11.0");
        assert_eq!(show(d("1.00").add(&d("10"))), "11.00");
        assert_eq!(show(d("1.0").add(&d("-1.0"))), "0.0");
        assert_eq!(show(Dec::from_i64(1).add(&d("10"))), "11");
        assert_eq!(show(Dec::from_f64(1.0).add(&d("10"))), "11.00000000000000");
    }

    #[test]
    fn multiplies_adding_exponents() {
        assert_eq!(show(d("1.0").mul(&d("2"))), "2.0");
        assert_eq!(show(d("1.5").mul(&Dec::from_i64(0))), "0.0");
        assert_eq!(show(d("1.00").mul(&d("1.1"))), "1.100");
    }

    #[test]
    fn rounds_to_34_digits_half_even() {
        let big = d("9999999999999999999999999999999999");
        assert_eq!(
            show(big.add(&d("1"))),
            "1.000000000000000000000000000000000E+34"
        );
        let x = d("1234567890123456789012345678901234");
        assert_eq!(show(x.add(&d("0.5"))), "1234567890123456789012345678901234");
        assert_eq!(
            show(x.add(&d("0.51"))),
            "1234567890123456789012345678901235"
        );
    }

    #[test]
    fn doubles_convert_with_15_digits() {
        assert_eq!(show(Dec::from_f64(0.1)), "0.100000000000000");
        assert_eq!(show(Dec::from_f64(2.5)), "2.50000000000000");
    }
}
