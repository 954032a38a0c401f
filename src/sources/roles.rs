//! Reading one role of a record through its source's [`Layout`]: text keys, the amount in its
//! unit and sign (or from a debit and a credit column), the currency in any case, named values
//! through a value map, and the event time in any of its formats and zones. Each reason names
//! the input column it is about.

use std::borrow::Cow;
use std::collections::BTreeMap;

use trueup_operators::Amount;

use crate::config::fields::{zone, TimeFormat};
use crate::config::fields::{AmountColumns, AmountLayout, Named, Text, TimeLayout, Unit, Zone};
use crate::model::currency::{Currency, MAX_INTEGER_DIGITS};
use crate::model::time::{parse_rfc3339_nanos, Millis};
use crate::sources::canonical;
use crate::sources::fields::{FieldValue, Fields};

/// The name of a value's JSON type, for reasons.
pub fn type_name(value: FieldValue<'_>) -> &'static str {
    match value {
        FieldValue::Str(_) => "string",
        FieldValue::Number(_) => "number",
        FieldValue::Other(name) => name,
    }
}

/// The text of the required column `name`.
pub fn required<'a>(fields: &'a dyn Fields, name: &str) -> Result<&'a str, String> {
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

/// The text of the optional column `name` (`None` when absent or empty).
pub fn optional<'a>(fields: &'a dyn Fields, name: &str) -> Result<Option<&'a str>, String> {
    match fields.get(name) {
        None | Some(FieldValue::Str("")) => Ok(None),
        Some(FieldValue::Str(s)) => storable(name, s).map(Some),
        Some(other) => Err(format!(
            "field `{name}` must be a string, got {}",
            type_name(other)
        )),
    }
}

/// A required text role: its column's text, or its fixed value.
pub fn text<'a>(fields: &'a dyn Fields, role: &'a Text) -> Result<&'a str, String> {
    match role {
        Text::Column(column) => required(fields, column),
        Text::Fixed(value) => Ok(value),
    }
}

/// An optional text role.
pub fn optional_text<'a>(
    fields: &'a dyn Fields,
    role: &'a Text,
) -> Result<Option<&'a str>, String> {
    match role {
        Text::Column(column) => optional(fields, column),
        Text::Fixed(value) => Ok(Some(value)),
    }
}

/// `reason`, naming `column` unless the reason already speaks of it by its own name (`own`):
/// today's reasons about `amount` and `currency` stay as they were.
fn about(column: &str, own: &str, reason: String) -> String {
    match column == own {
        true => reason,
        false => format!("field `{column}`: {reason}"),
    }
}

/// The currency: its column's code (in any case when `any_case`), or the fixed one.
pub fn currency(fields: &dyn Fields, role: &Text, any_case: bool) -> Result<Currency, String> {
    let code = text(fields, role)?;
    let upper = match any_case {
        true => Cow::Owned(code.to_ascii_uppercase()),
        false => Cow::Borrowed(code),
    };
    Currency::from_code(&upper).ok_or_else(|| {
        let column = match role {
            Text::Column(column) => column.as_str(),
            Text::Fixed(_) => "currency",
        };
        let reason = format!("unknown currency {code:?} (not an ISO 4217 code)");
        about(column, "currency", reason)
    })
}

/// An amount as read: its magnitude (> 0) and, when the layout reads one, its sign (+1, −1).
pub type Signed = (Amount, Option<i64>);

/// The amount by `layout`: one column (signed or not, major or minor units), or the one of a
/// debit and a credit column that holds it (`credit_sign`: what a credit counts as, +1 or −1;
/// a debit the opposite).
pub fn amount(
    fields: &dyn Fields,
    layout: &AmountLayout,
    currency: Currency,
    credit_sign: i64,
) -> Result<Signed, String> {
    match &layout.columns {
        AmountColumns::One(column) => {
            let value = fields
                .get(column)
                .ok_or_else(|| format!("missing required field `{column}`"))?;
            let (amount, sign) = magnitude(column, value, layout, currency)?;
            match (sign, layout.signed) {
                (-1, false) => Err(about(column, "amount", negative(value))),
                (sign, signed) => Ok((amount, signed.then_some(sign))),
            }
        }
        AmountColumns::Split { debit, credit } => {
            let read = |column: &str| -> Result<Option<Amount>, String> {
                let Some(value) = fields
                    .get(column)
                    .filter(|v| !matches!(v, FieldValue::Str("")))
                else {
                    return Ok(None);
                };
                match magnitude(column, value, layout, currency) {
                    Ok((amount, 1)) => Ok(Some(amount)),
                    Ok(_) => Err(format!("field `{column}`: {}", negative(value))),
                    Err(reason) if reason.contains("greater than zero") => Ok(None),
                    Err(reason) => Err(reason),
                }
            };
            match (read(debit)?, read(credit)?) {
                (Some(amount), None) => Ok((amount, Some(-credit_sign))),
                (None, Some(amount)) => Ok((amount, Some(credit_sign))),
                (Some(_), Some(_)) => Err(format!(
                    "both `{debit}` and `{credit}` hold an amount; a record has one of the two"
                )),
                (None, None) => Err(format!("neither `{debit}` nor `{credit}` holds an amount")),
            }
        }
    }
}

fn negative(value: FieldValue<'_>) -> String {
    let text = match value {
        FieldValue::Str(s) | FieldValue::Number(s) => s,
        FieldValue::Other(name) => name,
    };
    format!("amount must be greater than zero, got {text}")
}

/// A value's magnitude (> 0) and sign in `layout`'s unit; reasons name `column` (but for
/// `amount`, whose reasons say "amount" already).
fn magnitude(
    column: &str,
    value: FieldValue<'_>,
    layout: &AmountLayout,
    currency: Currency,
) -> Result<(Amount, i64), String> {
    let (text, plain) = match value {
        FieldValue::Str(s) => (s, Cow::Borrowed(s)),
        FieldValue::Number(s) => (s, exponent_free(s)),
        other => {
            return Err(format!(
                "field `{column}` must be a decimal string or number, got {}",
                type_name(other)
            ))
        }
    };
    let (sign, unsigned) = match plain.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, &*plain),
    };
    let amount = match layout.unit {
        Unit::Major => currency.parse_amount(unsigned, text),
        Unit::Minor => minor_units(unsigned, text, currency),
    };
    let amount = amount.map_err(|reason| about(column, "amount", reason))?;
    if amount.is_zero() {
        return Err(about(
            column,
            "amount",
            format!("amount must be greater than zero, got {text}"),
        ));
    }
    Ok((amount, sign))
}

/// An unsigned count of `currency`'s minor units (`1250` → 12.50 USD).
fn minor_units(digits: &str, written: &str, currency: Currency) -> Result<Amount, String> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "amount {written:?} is not a whole number of minor units"
        ));
    }
    let scale = currency.minor_units();
    let significant = digits.trim_start_matches('0');
    if significant.len() > MAX_INTEGER_DIGITS + scale as usize {
        return Err(format!(
            "amount {written} is beyond the supported range (at most {MAX_INTEGER_DIGITS} integer digits)"
        ));
    }
    let units: i64 = significant.parse().unwrap_or(0);
    Ok(Amount::from_minor(units, scale))
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

/// How a named value is read by trueup's own names, and what its sign is.
pub struct Names<T> {
    /// The stream's own column for it (`type`, `direction`).
    pub own: &'static str,
    /// trueup's own names.
    pub parse: fn(&str) -> Option<T>,
    /// Why a value is not one of them.
    pub unknown: fn(&str) -> String,
    /// The value of a sign (+1, −1).
    pub by_sign: fn(i64) -> T,
    /// The sign of a value.
    pub sign_of: fn(T) -> i64,
}

/// A named value (a kind, a direction): from its column through the value map (or by
/// trueup's own names), or from the amount's `sign`. A value read from a column must agree
/// with a sign the amount carries.
pub fn named<T: Copy>(
    fields: &dyn Fields,
    role: &Named<T>,
    sign: Option<i64>,
    names: &Names<T>,
) -> Result<T, String> {
    let Names {
        own,
        parse,
        unknown,
        by_sign,
        sign_of,
    } = names;
    let (column, values) = match role {
        Named::Sign => return Ok(by_sign(sign.unwrap_or(1))),
        Named::Column { column, values } => (column, values),
    };
    let value = required(fields, column)?;
    let named = match values.is_empty() {
        true => parse(value).ok_or_else(|| about(column, own, unknown(value)))?,
        false => mapped(values, value, column)?,
    };
    match sign {
        Some(sign) if sign != sign_of(named) => Err(format!(
            "the amount's sign ({}) disagrees with `{column}` {value:?}",
            if sign < 0 { "−" } else { "+" }
        )),
        _ => Ok(named),
    }
}

fn mapped<T: Copy>(values: &BTreeMap<String, T>, value: &str, column: &str) -> Result<T, String> {
    values.get(value).copied().ok_or_else(|| {
        let known: Vec<&str> = values.keys().map(String::as_str).collect();
        format!(
            "field `{column}`: value {value:?} is not in the field map ({})",
            known.join(", ")
        )
    })
}

/// The event time by `layout`: Unix milliseconds and the nanoseconds below them.
pub fn time(fields: &dyn Fields, layout: &TimeLayout) -> Result<(Millis, u32), String> {
    let column = &layout.column;
    let in_column = |reason: String| format!("field `{column}`: {reason}");
    if layout.format == TimeFormat::Rfc3339 {
        return parse_rfc3339_nanos(required(fields, column)?).map_err(in_column);
    }
    if let TimeFormat::UnixSeconds | TimeFormat::UnixMillis = layout.format {
        let scale = if layout.format == TimeFormat::UnixSeconds {
            1000
        } else {
            1
        };
        return unix(fields, column, scale).map_err(in_column);
    }
    let text = required(fields, column)?;
    let zone = match &layout.zone {
        Zone::Fixed(zone) => Cow::Borrowed(zone),
        Zone::Column(name) => {
            let named = required(fields, name)?;
            Cow::Owned(zone(named).map_err(|reason| format!("field `{name}`: {reason}"))?)
        }
    };
    local(text, layout.format, &zone).map_err(in_column)
}

fn unix(fields: &dyn Fields, column: &str, scale: u64) -> Result<(Millis, u32), String> {
    let text = match fields.get(column) {
        Some(FieldValue::Str(s) | FieldValue::Number(s)) => s,
        Some(other) => return Err(format!("must be an integer, got {}", type_name(other))),
        None => return Err("missing".into()),
    };
    let whole = (!text.is_empty() && text.len() <= 15 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse::<u64>().ok())
        .flatten();
    match whole {
        Some(n) => Ok((n * scale, 0)),
        None => Err(format!(
            "{text:?} is not a whole number of Unix {}",
            if scale == 1 {
                "milliseconds"
            } else {
                "seconds"
            }
        )),
    }
}

/// A date or a civil time in `zone`, as an instant.
fn local(
    text: &str,
    format: TimeFormat,
    zone: &jiff::tz::TimeZone,
) -> Result<(Millis, u32), String> {
    let civil = match format {
        TimeFormat::Date => text
            .parse::<jiff::civil::Date>()
            .map(|d| d.to_datetime(jiff::civil::Time::midnight())),
        _ => text.parse::<jiff::civil::DateTime>(),
    };
    let what = if format == TimeFormat::Date {
        "a date (YYYY-MM-DD)"
    } else {
        "a local time (YYYY-MM-DD HH:MM:SS)"
    };
    let civil = civil.map_err(|_| format!("{text:?} is not {what}"))?;
    let instant = zone
        .to_ambiguous_timestamp(civil)
        .compatible()
        .map_err(|e| format!("{text:?}: {e}"))?;
    let nanos = instant.as_nanosecond();
    let millis = u64::try_from(nanos.div_euclid(1_000_000))
        .map_err(|_| format!("{text:?} is before 1970-01-01T00:00:00Z"))?;
    Ok((millis, nanos.rem_euclid(1_000_000) as u32))
}
