//! Exact money: [`Amount`], a decimal that keeps every digit, and [`Tolerance`].
//!
//! `Amount` wraps [`rust_decimal::Decimal`]. Its serde form is a decimal *string* for
//! human-readable formats (JSON, TOML) and the 16-byte packed decimal for binary formats,
//! so amounts cross timely's bincode exchange between processes bit for bit
//! (`Decimal`'s own `Deserialize` uses `deserialize_any`, which bincode refuses).
//! Arithmetic saturates at ±7.9·10²⁸ instead of panicking; inputs are range-checked far
//! below that at the edges, so saturation is unreachable from valid data.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// An exact decimal amount of money. Equality, ordering and hashing are numeric
/// (`1.0 == 1.00`), so differential consolidates amounts of different scales together.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(pub Decimal);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    /// Parses a plain decimal string such as `"100.25"` or `"-3"`; `None` if it is not one.
    pub fn parse(text: &str) -> Option<Amount> {
        Decimal::from_str_exact(text).ok().map(Amount)
    }

    /// An amount from integer minor units at a scale: `from_minor(12345, 2)` is `123.45`.
    pub fn from_minor(units: i64, scale: u32) -> Amount {
        Amount(Decimal::new(units, scale))
    }

    /// The absolute value.
    pub fn abs(self) -> Amount {
        Amount(self.0.abs())
    }

    /// True when the amount is exactly zero.
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// The amount multiplied by an integer count (saturating).
    pub fn times(self, count: i64) -> Amount {
        Amount(self.0.saturating_mul(Decimal::from(count)))
    }

    /// The amount rendered with exactly `scale` fraction digits (rounding half away from
    /// zero if it had more, which validated money never has).
    pub fn to_string_scaled(self, scale: u32) -> String {
        let mut d = self
            .0
            .round_dp_with_strategy(scale, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        d.rescale(scale);
        d.to_string()
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Add for Amount {
    type Output = Amount;
    fn add(self, rhs: Amount) -> Amount {
        Amount(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for Amount {
    fn add_assign(&mut self, rhs: Amount) {
        *self = *self + rhs;
    }
}

impl Sub for Amount {
    type Output = Amount;
    fn sub(self, rhs: Amount) -> Amount {
        Amount(self.0.saturating_sub(rhs.0))
    }
}

impl Neg for Amount {
    type Output = Amount;
    fn neg(self) -> Amount {
        Amount(-self.0)
    }
}

impl Sum for Amount {
    fn sum<I: Iterator<Item = Amount>>(iter: I) -> Amount {
        iter.fold(Amount::ZERO, Add::add)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(&self.0)
        } else {
            serializer.serialize_bytes(&self.0.serialize())
        }
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
        struct AmountVisitor;
        impl<'de> Visitor<'de> for AmountVisitor {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal string or 16 packed decimal bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Amount, E> {
                Decimal::from_str(v)
                    .map(Amount)
                    .map_err(|e| E::custom(format!("invalid decimal {v:?}: {e}")))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Amount, E> {
                let bytes: [u8; 16] = v
                    .try_into()
                    .map_err(|_| E::invalid_length(v.len(), &self))?;
                Ok(Amount(Decimal::deserialize(bytes)))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Amount, E> {
                self.visit_bytes(&v)
            }
        }
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(AmountVisitor)
        } else {
            deserializer.deserialize_bytes(AmountVisitor)
        }
    }
}

/// How far apart two sums may be and still count as balanced.
///
/// A pair of sums `expected`, `actual` is within tolerance when
/// `|expected − actual| ≤ max(absolute, relative)`, where `relative` is
/// `|expected| × relative_bps / 10 000` raised to `floor` and lowered to `cap` (when set):
/// "0.5 %, at least 0.10, at most 5.00". The default is exact: all zero, no cap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tolerance {
    /// Absolute tolerance in the currency's major unit, e.g. `"0.01"`.
    pub absolute: Amount,
    /// Relative tolerance in basis points of `|expected|` (1 bps = 0.01 %).
    pub relative_bps: u32,
    /// The least the relative tolerance is (zero by default).
    pub floor: Amount,
    /// The most the relative tolerance is (none by default).
    pub cap: Option<Amount>,
}

impl Tolerance {
    /// Exact matching: no difference tolerated.
    pub const fn exact() -> Tolerance {
        Tolerance {
            absolute: Amount::ZERO,
            relative_bps: 0,
            floor: Amount::ZERO,
            cap: None,
        }
    }

    /// True when `expected` and `actual` are within this tolerance of each other.
    pub fn accepts(&self, expected: Amount, actual: Amount) -> bool {
        let difference = (expected - actual).abs();
        let relative = Amount(
            expected
                .abs()
                .0
                .saturating_mul(Decimal::from(self.relative_bps))
                / Decimal::from(10_000),
        );
        let relative = relative.max(self.floor.abs());
        let relative = self.cap.map_or(relative, |cap| relative.min(cap.abs()));
        difference <= self.absolute.abs().max(relative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_bincode_exactly() {
        for text in [
            "0.01",
            "-123456789012.345",
            "1e-28",
            "79228162514264337593543950335",
            "7.10",
        ] {
            let amount = Amount(
                Decimal::from_scientific(text)
                    .or_else(|_| Decimal::from_str(text))
                    .unwrap(),
            );
            let bytes = bincode::serialize(&amount).unwrap();
            let back: Amount = bincode::deserialize(&bytes).unwrap();
            assert_eq!(back.0.serialize(), amount.0.serialize(), "{text}");
        }
    }

    #[test]
    fn json_is_a_string() {
        let amount = Amount::parse("100.50").unwrap();
        assert_eq!(serde_json::to_string(&amount).unwrap(), "\"100.50\"");
        let back: Amount = serde_json::from_str("\"100.50\"").unwrap();
        assert_eq!(back.to_string(), "100.50");
    }

    #[test]
    fn tolerance_absolute_and_relative() {
        let a = |s| Amount::parse(s).unwrap();
        assert!(Tolerance::exact().accepts(a("1.00"), a("1")));
        assert!(!Tolerance::exact().accepts(a("1.00"), a("1.01")));
        let abs = Tolerance {
            absolute: a("0.01"),
            ..Tolerance::exact()
        };
        assert!(abs.accepts(a("1.00"), a("1.01")));
        assert!(!abs.accepts(a("1.00"), a("1.02")));
        let rel = Tolerance {
            relative_bps: 50,
            ..Tolerance::exact()
        };
        assert!(rel.accepts(a("1000.00"), a("995.00")));
        assert!(!rel.accepts(a("1000.00"), a("994.99")));
        // 0.5 %, at least 0.10, at most 5.00
        let bounded = Tolerance {
            relative_bps: 50,
            floor: a("0.10"),
            cap: Some(a("5.00")),
            ..Tolerance::exact()
        };
        assert!(
            bounded.accepts(a("10.00"), a("9.90")),
            "floor: 0.05 raised to 0.10"
        );
        assert!(!bounded.accepts(a("10.00"), a("9.89")));
        assert!(
            bounded.accepts(a("500.00"), a("497.50")),
            "0.5 % of 500 is 2.50"
        );
        assert!(
            bounded.accepts(a("5000.00"), a("4995.00")),
            "25.00 capped to 5.00"
        );
        assert!(!bounded.accepts(a("5000.00"), a("4994.99")));
    }

    #[test]
    fn scaled_rendering() {
        assert_eq!(Amount::parse("5").unwrap().to_string_scaled(2), "5.00");
        assert_eq!(Amount::parse("5").unwrap().to_string_scaled(0), "5");
        assert_eq!(Amount::parse("-1.5").unwrap().to_string_scaled(3), "-1.500");
    }
}
