//! Validation of one input record (a JSON object or a CSV row) into a [`Payment`] or an
//! [`Entry`], or a precise reason for rejecting it.

use std::sync::LazyLock;

use serde_json::Value;

use crate::config::fields::Layout;
use crate::config::fields::Text;
use crate::model::{Declared, Direction, Entry, Payment, PaymentKind, Record, Stream};
use crate::sources::canonical::{self, Member};
use crate::sources::fields::{FieldValue, Fields};
use crate::sources::object::JsonObject;
use crate::sources::roles::{self, optional_text, text};

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

    fn attributes(&self, known: &[String]) -> String {
        let unknown = (self.header.iter().zip(self.cells))
            .filter(|(h, c)| !known.contains(h) && !c.is_empty());
        canonical::object(unknown.map(|(h, c)| (h.as_str(), Member::Str(c))))
    }
}

/// Validates a payment event read through `layout`.
pub fn payment(layout: &Layout, fields: &dyn Fields) -> Result<Payment, String> {
    let event_id = text(fields, &layout.id)?.to_owned();
    let payment_id = text(fields, &layout.payment_id)?.to_owned();
    let currency = roles::currency(fields, &layout.currency, layout.declared)?;
    let (amount, sign) = roles::amount(fields, &layout.amount, currency, 1)?;
    let kind = roles::named(fields, &layout.kind, sign, &KINDS)?;
    let (occurred_at, time_nanos) = roles::time(fields, &layout.time)?;
    let merchant_id = optional_text(fields, &layout.merchant_id)?.map(str::to_owned);
    Ok(Payment {
        event_id,
        payment_id,
        kind,
        amount,
        currency,
        occurred_at,
        time_nanos,
        merchant_id,
        attributes: fields.attributes(&layout.known),
    })
}

/// Payment kinds by name and sign.
const KINDS: roles::Names<PaymentKind> = roles::Names {
    own: "type",
    parse: PaymentKind::parse,
    unknown: |text| {
        format!("unknown payment type {text:?}; expected capture, refund, chargeback or chargeback_reversal")
    },
    by_sign: |sign| match sign < 0 {
        true => PaymentKind::Refund,
        false => PaymentKind::Capture,
    },
    sign_of: PaymentKind::sign,
};

/// Directions by name and sign.
const DIRECTIONS: roles::Names<Direction> = roles::Names {
    own: "direction",
    parse: Direction::parse,
    unknown: |text| format!("unknown direction {text:?}; expected debit or credit"),
    by_sign: |sign| match sign < 0 {
        true => Direction::Credit,
        false => Direction::Debit,
    },
    sign_of: |direction| match direction {
        Direction::Debit => 1,
        Direction::Credit => -1,
    },
};

/// Validates a ledger entry read through `layout`.
pub fn entry(layout: &Layout, fields: &dyn Fields) -> Result<Entry, String> {
    let entry_id = text(fields, &layout.id)?.to_owned();
    let journal_id = text(fields, &layout.journal_id)?.to_owned();
    let payment_id = optional_text(fields, &layout.payment_id)?.map(str::to_owned);
    let account = text(fields, &layout.account)?.to_owned();
    let currency = roles::currency(fields, &layout.currency, layout.declared)?;
    let (amount, sign) = roles::amount(fields, &layout.amount, currency, -1)?;
    let direction = roles::named(fields, &layout.direction, sign, &DIRECTIONS)?;
    let (booked_at, time_nanos) = roles::time(fields, &layout.time)?;
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
        attributes: fields.attributes(&layout.known),
    })
}

/// Signs by their written form, `+` and `-`.
const SIGNS: roles::Names<i64> = roles::Names {
    own: "sign",
    parse: |text| match text {
        "+" => Some(1),
        "-" => Some(-1),
        _ => None,
    },
    unknown: |text| format!("unknown sign {text:?}; expected + or -"),
    by_sign: |sign| sign,
    sign_of: |sign| sign,
};

/// Validates a record of a declared stream read through `layout`.
pub fn declared(layout: &Layout, fields: &dyn Fields) -> Result<Declared, String> {
    let id = text(fields, &layout.id)?.to_owned();
    let currency = roles::currency(fields, &layout.currency, true)?;
    let (amount, sign) = roles::amount(fields, &layout.amount, currency, 1)?;
    let sign = roles::named(fields, &layout.sign, sign, &SIGNS)?;
    let (at, time_nanos) = roles::time(fields, &layout.time)?;
    let merchant_id = optional_text(fields, &layout.merchant_id)?.map(str::to_owned);
    let present = |named: &[(String, String)]| -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::with_capacity(named.len());
        for (name, column) in named {
            if let Some(value) = optional_text(fields, &Text::Column(column.clone()))? {
                out.push((name.clone(), value.to_owned()));
            }
        }
        Ok(out)
    };
    Ok(Declared {
        stream: layout.stream,
        id,
        keys: present(&layout.keys)?,
        carried: present(&layout.carry)?,
        merchant_id,
        amount: amount.times(sign),
        currency,
        at,
        time_nanos,
        attributes: fields.attributes(&layout.known),
    })
}

/// Validates a record of `layout`'s stream.
pub fn record(layout: &Layout, fields: &dyn Fields) -> Result<Record, String> {
    match layout.stream {
        Stream::Payments => payment(layout, fields).map(Record::Payment),
        Stream::Entries => entry(layout, fields).map(Record::Entry),
        Stream::Declared(_) => declared(layout, fields).map(Record::Declared),
    }
}

/// The stream's own layout (SPEC §2): `None` for a declared stream, which has none of its own
/// (its sources are given the layout their field maps resolve to).
pub fn builtin(stream: Stream) -> Option<&'static Layout> {
    static PAYMENTS: LazyLock<Layout> = LazyLock::new(|| Layout::builtin(Stream::Payments));
    static ENTRIES: LazyLock<Layout> = LazyLock::new(|| Layout::builtin(Stream::Entries));
    match stream {
        Stream::Payments => Some(&PAYMENTS),
        Stream::Entries => Some(&ENTRIES),
        Stream::Declared(_) => None,
    }
}

/// Parses one JSON Lines line of `stream` by its own columns (see [`json_record`]); a declared
/// stream, which has none of its own, is refused.
pub fn json_line(stream: Stream, line: &str) -> Result<Record, String> {
    let layout = builtin(stream).ok_or_else(|| {
        format!(
            "the {} stream is read through its sources' field maps",
            stream.name()
        )
    })?;
    json_record(layout, line)
}

/// Parses one JSON Lines line through `layout`: read in place as an object (see
/// [`JsonObject`]), or, when it is not one, as any JSON value, to say what it is.
pub fn json_record(layout: &Layout, line: &str) -> Result<Record, String> {
    if let Some(object) = JsonObject::read(line) {
        return record(layout, &object);
    }
    match serde_json::from_str::<Value>(line) {
        Err(e) => Err(format!("not valid JSON: {e}")),
        Ok(Value::Object(map)) => record(layout, &map),
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
    use trueup_operators::Amount;

    fn pay(line: &str) -> Result<Payment, String> {
        match json_line(Stream::Payments, line)? {
            Record::Payment(p) => Ok(p),
            Record::Entry(_) | Record::Declared(_) => {
                unreachable!("payments stream yields payments")
            }
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
