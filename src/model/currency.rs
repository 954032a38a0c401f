//! ISO 4217 currencies: a three-letter code and its minor-unit scale.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use trueup_operators::Amount;

/// Active ISO 4217 alphabetic codes with their number of minor-unit digits.
const TABLE: &[(&str, u32)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLF", 4),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYI", 0),
    ("UYU", 2),
    ("UYW", 4),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

/// An ISO 4217 currency, stored as its three ASCII letters (small and `Copy` for the dataflow).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Every currency trueup knows, in code order.
    pub fn all() -> impl Iterator<Item = Currency> {
        TABLE
            .iter()
            .map(|(code, _)| Currency(code.as_bytes().try_into().expect("three letters")))
    }

    /// The currency with this code, if ISO 4217 lists it (case-sensitive: `"USD"`, not `"usd"`).
    pub fn from_code(code: &str) -> Option<Currency> {
        let letters: [u8; 3] = code.as_bytes().try_into().ok()?;
        let slot = slot(letters)?;
        (SCALES[slot] != UNLISTED).then_some(Currency(letters))
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.0).expect("codes are ASCII")
    }

    /// Number of minor-unit digits: 2 for USD, 0 for JPY, 3 for BHD.
    pub fn minor_units(&self) -> u32 {
        slot(self.0)
            .map(|slot| SCALES[slot])
            .filter(|scale| *scale != UNLISTED)
            .map_or(2, u32::from)
    }

    /// Parses an unsigned plain decimal (`100`, `0.25`) of this currency, as every amount is
    /// read — input amounts and configured tolerances alike: digits with an optional fraction,
    /// at most [`MAX_INTEGER_DIGITS`] integer digits, at most the currency's minor-unit digits.
    /// Reasons quote `written`, the amount as the input or config wrote it.
    pub fn parse_amount(self, plain: &str, written: &str) -> Result<Amount, String> {
        let (int, frac) = plain.split_once('.').unwrap_or((plain, ""));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || (plain.contains('.') && !digits(frac)) {
            return Err(format!("amount {written:?} is not a decimal number"));
        }
        if int.trim_start_matches('0').len() > MAX_INTEGER_DIGITS {
            return Err(format!(
                "amount {written} is beyond the supported range (at most {MAX_INTEGER_DIGITS} integer digits)"
            ));
        }
        let allowed = self.minor_units() as usize;
        if frac.len() > allowed {
            return Err(format!(
                "amount has {} fraction digits; {self} allows {allowed}",
                frac.len()
            ));
        }
        Amount::parse(plain).ok_or_else(|| format!("amount {written:?} is not a decimal number"))
    }

    /// `amount` written with exactly this currency's minor-unit digits (`0` → `0.00` in USD).
    pub fn scaled(self, amount: Amount) -> Amount {
        let mut decimal = amount.0;
        decimal.rescale(self.minor_units());
        Amount(decimal)
    }
}

/// The most integer digits an amount may have (15: up to 999 trillion major units), which
/// keeps every sum of any realistic group far inside the exact decimal range.
pub const MAX_INTEGER_DIGITS: usize = 15;

/// [`SCALES`]' mark for a code ISO 4217 does not list.
const UNLISTED: u8 = u8::MAX;

/// Every three-letter code's minor units ([`UNLISTED`] for most), indexed by [`slot`]: a code
/// is looked up once per record read and per amount written.
static SCALES: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    let mut scales = vec![UNLISTED; 26 * 26 * 26];
    for (code, scale) in TABLE {
        let letters = code.as_bytes().try_into().expect("three letters");
        scales[slot(letters).expect("upper-case letters")] = *scale as u8;
    }
    scales
});

/// The index of three upper-case ASCII letters in [`SCALES`]; `None` for anything else.
fn slot(letters: [u8; 3]) -> Option<usize> {
    letters.iter().try_fold(0usize, |slot, letter| {
        letter
            .is_ascii_uppercase()
            .then(|| slot * 26 + usize::from(letter - b'A'))
    })
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Currency, D::Error> {
        let code = String::deserialize(d)?;
        Currency::from_code(&code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown currency {code:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_scales_are_right() {
        assert!(
            TABLE.windows(2).all(|w| w[0].0 < w[1].0),
            "binary search needs a sorted table"
        );
        let scale = |c| Currency::from_code(c).unwrap().minor_units();
        assert_eq!(
            (scale("USD"), scale("JPY"), scale("BHD"), scale("KWD")),
            (2, 0, 3, 3)
        );
        assert!(Currency::from_code("XYZ").is_none());
        assert!(Currency::from_code("US").is_none() && Currency::from_code("USDX").is_none());
        assert!(Currency::from_code("U\u{1}D").is_none() && Currency::from_code("ÜSD").is_none());
        for currency in Currency::all() {
            assert_eq!(Currency::from_code(currency.code()), Some(currency));
        }
        assert!(Currency::from_code("usd").is_none());
    }
}
