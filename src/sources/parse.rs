//! Validation of one input record (a JSON object or a CSV row) into a [`Payment`] or an
//! [`Entry`], or a precise reason for rejecting it.

use std::borrow::Cow;

use serde_json::Value;

use crate::sources::fields::{FieldValue, Fields};
use trueup_operators::Amount;

use crate::model::currency::Currency;
use crate::model::time::parse_rfc3339_nanos;
use crate::model::{Direction, Entry, Payment, PaymentKind, Record, Stream};
use crate::sources::canonical::{self, Member};
use crate::sources::object::JsonObject;

pub use crate::model::currency::MAX_INTEGER_DIGITS;

/// The fields of a payment event, in the order of SPEC §2.1 (also the CSV column order).
pub const PAYMENT_FIELDS: &[&str] = &[
    "event_id",
    "payment_id",
    "type",
    "amount",
    "currency",
    "occurred_at",
    "merchant_id",
];
/// The fields of a ledger entry, in the order of SPEC §2.2 (also the CSV column order).
pub const ENTRY_FIELDS: &[&str] = &[
    "entry_id",
    "journal_id",
    "payment_id",
    "account",
    "direction",
    "amount",
    "currency",
    "booked_at",
];

/// A CSV row seen through its header.
pub struct CsvRow<'a> {
    /// Column names.
    pub header: &'a [String],
    /// Cell values, as many as the header has columns.
    pub cells: &'a [String],
}

impl Fields for CsvRow<'_> {
    fn get(&self, name: &str) -> Option<FieldValue<'_>> {
        let index = self.header.iter().position(|h| h == name)?;
        let cell = self.cells.get(index)?;
        (!cell.is_empty()).then_some(FieldValue::Str(cell))
    }

    fn attributes(&self, known: &[&str]) -> String {
        let unknown = (self.header.iter().zip(self.cells))
            .filter(|(h, c)| !known.contains(&h.as_str()) && !c.is_empty());
        canonical::object(unknown.map(|(h, c)| (h.as_str(), Member::Str(c))))
    }
}

fn type_name(value: FieldValue<'_>) -> &'static str {
    match value {
        FieldValue::Str(_) => "string",
        FieldValue::Number(_) => "number",
        FieldValue::Other(name) => name,
    }
}

fn required<'a>(fields: &'a dyn Fields, name: &str) -> Result<&'a str, String> {
    match fields.get(name) {
        None => Err(format!("missing required field `{name}`")),
        Some(FieldValue::Str("")) => Err(format!("field `{name}` is empty")),
        Some(FieldValue::Str(s)) => storable(name, s),
        Some(other) => Err(format!(
            "field `{name}` must be a string, got {}",
            type_name(other)
        )),
    }
}

/// `text`, unless it holds a NUL character: a field's text must reach the audit store (and
/// lineage) byte for byte, and PostgreSQL cannot store NUL in text.
fn storable<'a>(name: &str, text: &'a str) -> Result<&'a str, String> {
    match text.contains('\0') {
        false => Ok(text),
        true => Err(format!(
            "field `{name}` contains a NUL character (U+0000), which the audit store cannot hold"
        )),
    }
}

fn optional<'a>(fields: &'a dyn Fields, name: &str) -> Result<Option<&'a str>, String> {
    match fields.get(name) {
        None | Some(FieldValue::Str("")) => Ok(None),
        Some(FieldValue::Str(s)) => storable(name, s).map(Some),
        Some(other) => Err(format!(
            "field `{name}` must be a string, got {}",
            type_name(other)
        )),
    }
}

fn currency(fields: &dyn Fields) -> Result<Currency, String> {
    let code = required(fields, "currency")?;
    Currency::from_code(code)
        .ok_or_else(|| format!("unknown currency {code:?} (not an ISO 4217 code)"))
}

/// Parses and checks an amount: a plain decimal (string or JSON number, or a JSON number in
/// exponent form by its exact value), > 0, with at most the currency's minor-unit digits and
/// at most [`MAX_INTEGER_DIGITS`] integer digits. Reasons quote the amount as written.
pub fn amount(fields: &dyn Fields, currency: Currency) -> Result<Amount, String> {
    let (text, plain) = match fields.get("amount") {
        None => return Err("missing required field `amount`".into()),
        Some(FieldValue::Str(s)) => (s, Cow::Borrowed(s)),
        Some(FieldValue::Number(s)) => (s, exponent_free(s)),
        Some(other) => {
            return Err(format!(
                "field `amount` must be a decimal string or number, got {}",
                type_name(other)
            ))
        }
    };
    let unsigned = plain.strip_prefix('-').unwrap_or(&plain);
    let amount = currency.parse_amount(unsigned, text)?;
    if plain.starts_with('-') || amount.is_zero() {
        return Err(format!("amount must be greater than zero, got {text}"));
    }
    Ok(amount)
}

/// A JSON number in exponent form written as the plain decimal of its exact value, without
/// trailing fraction zeros (`1E+1` → `10`, `1.250e1` → `12.5`); any other text as it is. An
/// exponent that would write more than 64 digits leaves the text as it is (it is then
/// refused as not a decimal number, or as beyond the range).
fn exponent_free(text: &str) -> Cow<'_, str> {
    if !text.contains(['e', 'E']) {
        return Cow::Borrowed(text);
    }
    let Some((negative, digits, exponent)) = canonical::decimal_parts(text) else {
        return Cow::Borrowed(text);
    };
    let digits = digits.trim_start_matches('0');
    let sign = if negative { "-" } else { "" };
    let plain = match exponent {
        _ if digits.is_empty() => "0".to_string(),
        e if e.unsigned_abs() as usize + digits.len() > 64 => return Cow::Borrowed(text),
        e if e >= 0 => format!("{sign}{digits}{}", "0".repeat(e as usize)),
        e => {
            let point = e.unsigned_abs() as usize;
            let padded = format!("{:0>width$}", digits, width = point + 1);
            let (int, frac) = padded.split_at(padded.len() - point);
            let frac = frac.trim_end_matches('0');
            match frac.is_empty() {
                true => format!("{sign}{int}"),
                false => format!("{sign}{int}.{frac}"),
            }
        }
    };
    Cow::Owned(plain)
}

fn timestamp(fields: &dyn Fields, name: &str) -> Result<(u64, u32), String> {
    parse_rfc3339_nanos(required(fields, name)?).map_err(|e| format!("field `{name}`: {e}"))
}

/// Validates a payment event.
pub fn payment(fields: &dyn Fields) -> Result<Payment, String> {
    let event_id = required(fields, "event_id")?.to_owned();
    let payment_id = required(fields, "payment_id")?.to_owned();
    let kind_text = required(fields, "type")?;
    let kind = PaymentKind::parse(kind_text).ok_or_else(|| {
        format!("unknown payment type {kind_text:?}; expected capture, refund, chargeback or chargeback_reversal")
    })?;
    let currency = currency(fields)?;
    let amount = amount(fields, currency)?;
    let (occurred_at, time_nanos) = timestamp(fields, "occurred_at")?;
    let merchant_id = optional(fields, "merchant_id")?.map(str::to_owned);
    Ok(Payment {
        event_id,
        payment_id,
        kind,
        amount,
        currency,
        occurred_at,
        time_nanos,
        merchant_id,
        attributes: fields.attributes(PAYMENT_FIELDS),
    })
}

/// Validates a ledger entry.
pub fn entry(fields: &dyn Fields) -> Result<Entry, String> {
    let entry_id = required(fields, "entry_id")?.to_owned();
    let journal_id = required(fields, "journal_id")?.to_owned();
    let payment_id = optional(fields, "payment_id")?.map(str::to_owned);
    let account = required(fields, "account")?.to_owned();
    let direction_text = required(fields, "direction")?;
    let direction = Direction::parse(direction_text)
        .ok_or_else(|| format!("unknown direction {direction_text:?}; expected debit or credit"))?;
    let currency = currency(fields)?;
    let amount = amount(fields, currency)?;
    let (booked_at, time_nanos) = timestamp(fields, "booked_at")?;
    Ok(Entry {
        entry_id,
        journal_id,
        payment_id,
        account,
        direction,
        amount,
        currency,
        booked_at,
        time_nanos,
        attributes: fields.attributes(ENTRY_FIELDS),
    })
}

/// Validates a record of `stream`.
pub fn record(stream: Stream, fields: &dyn Fields) -> Result<Record, String> {
    match stream {
        Stream::Payments => payment(fields).map(Record::Payment),
        Stream::Entries => entry(fields).map(Record::Entry),
    }
}

/// Parses one JSON Lines line of `stream`: read in place as an object (see [`JsonObject`]), or,
/// when it is not one, as any JSON value, to say what it is.
pub fn json_line(stream: Stream, line: &str) -> Result<Record, String> {
    if let Some(object) = JsonObject::read(line) {
        return record(stream, &object);
    }
    match serde_json::from_str::<Value>(line) {
        Err(e) => Err(format!("not valid JSON: {e}")),
        Ok(Value::Object(map)) => record(stream, &map),
        Ok(other) => Err(format!(
            "not a JSON object (got {})",
            match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pay(line: &str) -> Result<Payment, String> {
        match json_line(Stream::Payments, line)? {
            Record::Payment(p) => Ok(p),
            Record::Entry(_) => unreachable!("payments stream yields payments"),
        }
    }

    const GOOD: &str = r#"{"event_id":"e1","payment_id":"p1","type":"capture","amount":"100.00","currency":"USD","occurred_at":"2026-11-01T10:00:00Z"}"#;

    #[test]
    fn accepts_a_payment_with_attributes() {
        let line = GOOD.replace('}', r#","zz":1,"channel":"web"}"#);
        let p = pay(&line).unwrap();
        assert_eq!(p.amount.to_string(), "100.00");
        assert_eq!(p.attributes, r#"{"channel":"web","zz":1}"#);
    }

    #[test]
    fn json_numbers_are_exact() {
        let p = pay(&GOOD.replace(r#""100.00""#, "0.1")).unwrap();
        assert_eq!(p.amount, Amount::parse("0.1").unwrap());
        let jpy = GOOD.replace(r#""100.00""#, "1500").replace("USD", "JPY");
        assert_eq!(pay(&jpy).unwrap().amount.to_string(), "1500");
    }

    #[test]
    fn every_bad_input_class_has_a_precise_reason() {
        let cases: &[(&str, &str)] = &[
            ("{not json", "not valid JSON"),
            ("[1,2]", "not a JSON object (got an array)"),
            (r#"{"payment_id":"p"}"#, "missing required field `event_id`"),
            (
                &GOOD.replace(r#""e1""#, "7"),
                "field `event_id` must be a string, got number",
            ),
            (
                &GOOD.replace(r#""e1""#, r#""""#),
                "field `event_id` is empty",
            ),
            (
                &GOOD.replace("capture", "gift"),
                "unknown payment type \"gift\"",
            ),
            (
                &GOOD.replace(r#""100.00""#, r#""12abc""#),
                "is not a decimal number",
            ),
            (
                &GOOD.replace(r#""100.00""#, r#""-5.00""#),
                "greater than zero",
            ),
            (
                &GOOD.replace(r#""100.00""#, r#""0.00""#),
                "greater than zero",
            ),
            (
                &GOOD.replace(r#""100.00""#, r#""1.005""#),
                "amount has 3 fraction digits; USD allows 2",
            ),
            (
                &GOOD.replace(r#""100.00""#, r#""1234567890123456.00""#),
                "beyond the supported range",
            ),
            (&GOOD.replace("USD", "XYZ"), "unknown currency \"XYZ\""),
            (
                &GOOD.replace("2026-11-01T10:00:00Z", "yesterday"),
                "field `occurred_at`: \"yesterday\" is not an RFC 3339",
            ),
            (
                &GOOD.replace(r#""100.00""#, "true"),
                "must be a decimal string or number, got boolean",
            ),
        ];
        for (line, reason) in cases {
            let err = pay(line).expect_err(line);
            assert!(
                err.contains(reason),
                "{line}: {err:?} should contain {reason:?}"
            );
        }
    }

    #[test]
    fn three_digit_and_zero_digit_currencies() {
        let bhd = GOOD
            .replace("USD", "BHD")
            .replace(r#""100.00""#, r#""1.125""#);
        assert_eq!(pay(&bhd).unwrap().amount.to_string(), "1.125");
        let jpy = GOOD.replace("USD", "JPY");
        assert_eq!(
            pay(&jpy).unwrap_err(),
            "amount has 2 fraction digits; JPY allows 0"
        );
    }

    #[test]
    fn entries_validate_direction_and_optional_payment() {
        let line = r#"{"entry_id":"n1","journal_id":"j1","account":"fees","direction":"credit","amount":"1.00","currency":"EUR","booked_at":"2026-11-01T10:00:00Z"}"#;
        let Record::Entry(e) = json_line(Stream::Entries, line).unwrap() else {
            panic!("entry")
        };
        assert_eq!(
            (e.payment_id.clone(), e.signed_amount().to_string()),
            (None, "-1.00".to_string())
        );
        let bad = line.replace("credit", "sideways");
        assert!(json_line(Stream::Entries, &bad)
            .unwrap_err()
            .contains("unknown direction"));
    }
}
