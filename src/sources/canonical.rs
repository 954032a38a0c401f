//! Unknown fields in one canonical form, so that two spellings of one JSON value are one value
//! (SPEC §2, "Identity"): numbers by exact decimal value (`1.0`, `1.00` and `10e-1` are one),
//! object members in key order (a repeated key: the last counts), strings after their escapes,
//! a member whose value is `null` the same as an absent one.
//!
//! A value nested deeper than `serde_json` reads (128 levels) is kept as its text without the
//! whitespace between tokens: such a value is never a reason to refuse a record, and two of
//! them are one value when they are spelled alike but for whitespace.

use std::collections::BTreeMap;

use serde_json::Value;

/// The canonical JSON object of `members` (name, value as JSON text), members whose value is
/// `null` left out; `""` when none is left.
pub fn object<'a>(members: impl IntoIterator<Item = (&'a str, Member<'a>)>) -> String {
    // a repeated key: the last one counts, as in a `serde_json` map
    let members: BTreeMap<&str, Member<'_>> = members.into_iter().collect();
    let mut out = String::new();
    for (name, member) in members {
        let start = out.len();
        out.push(if start == 0 { '{' } else { ',' });
        write_string(&mut out, name);
        out.push(':');
        let before = out.len();
        match member {
            Member::Str(text) => write_string(&mut out, text),
            Member::Json(text) => write_text(&mut out, text),
        }
        if &out[before..] == "null" {
            out.truncate(start);
        }
    }
    if !out.is_empty() {
        out.push('}');
    }
    out
}

/// One member's value: a string's decoded text, or any JSON value's text as written.
#[derive(Clone, Copy, Debug)]
pub enum Member<'a> {
    /// A string's text, escapes already decoded.
    Str(&'a str),
    /// A JSON value's text, as written.
    Json(&'a str),
}

/// Writes the canonical form of the JSON value `text`.
fn write_text(out: &mut String, text: &str) {
    match serde_json::from_str::<Value>(text) {
        Ok(value) => write_value(out, &value),
        // deeper than serde_json reads: the text itself, without insignificant whitespace
        Err(_) => minify(out, text),
    }
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number(n.as_str())),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // `serde_json`'s map is ordered by key; null members are absent ones
            let mut first = true;
            out.push('{');
            for (key, item) in map.iter().filter(|(_, v)| !v.is_null()) {
                if !std::mem::take(&mut first) {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, text: &str) {
    // serializing a `&str` cannot fail
    out.push_str(&serde_json::to_string(text).unwrap_or_default());
}

/// `text` without whitespace outside its strings.
fn minify(out: &mut String, text: &str) {
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        match (in_string, c) {
            (false, ' ' | '\t' | '\n' | '\r') => continue,
            (false, '"') => in_string = true,
            (true, _) if escaped => escaped = false,
            (true, '\\') => escaped = true,
            (true, '"') => in_string = false,
            _ => {}
        }
        out.push(c);
    }
}

/// The canonical text of the JSON number `text`, by exact decimal value: its significant
/// digits, then `e` and the exponent if not zero (`1.50` → `15e-1`, `100` → `1e2`, `-0.0` →
/// `0`). A number whose exponent does not fit 64 bits is kept as written.
pub fn number(text: &str) -> String {
    let Some((negative, digits, exponent)) = decimal_parts(text) else {
        return text.to_string();
    };
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        return "0".to_string();
    }
    let trimmed = significant.trim_end_matches('0');
    let exponent = exponent + (significant.len() - trimmed.len()) as i64;
    let sign = if negative { "-" } else { "" };
    match exponent {
        0 => format!("{sign}{trimmed}"),
        _ => format!("{sign}{trimmed}e{exponent}"),
    }
}

/// A JSON number's sign, its digits without the decimal point, and the power of ten they are
/// scaled by (`-1.25e3` → `(true, "125", 1)`); `None` when it is not a JSON number or its
/// exponent does not fit.
pub fn decimal_parts(text: &str) -> Option<(bool, String, i64)> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => {
            let exp = &unsigned[at + 1..];
            let exp = exp.strip_prefix('+').unwrap_or(exp);
            (&unsigned[..at], exp.parse::<i64>().ok()?)
        }
        None => (unsigned, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let valid = !int.is_empty() && all_digits(int) && all_digits(frac);
    let valid = valid && (frac.is_empty() != mantissa.contains('.'));
    if !valid {
        return None;
    }
    let exponent = exponent.checked_sub(i64::try_from(frac.len()).ok()?)?;
    Some((negative, format!("{int}{frac}"), exponent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_by_exact_value() {
        for (a, b) in [
            ("1.0", "1.00"),
            ("1", "1e0"),
            ("10", "1E+1"),
            ("0.5", "5e-1"),
            ("-0", "0.000"),
            ("123.4500", "1.2345e2"),
        ] {
            assert_eq!(number(a), number(b), "{a} = {b}");
        }
        for (a, b) in [("1", "-1"), ("1.5", "15"), ("1e400", "1e401")] {
            assert_ne!(number(a), number(b), "{a} ≠ {b}");
        }
        assert_eq!(number("1.50"), "15e-1");
        assert_eq!(number("100"), "1e2");
        assert_eq!(number("1e99999999999999999999"), "1e99999999999999999999");
    }

    #[test]
    fn objects_regardless_of_key_order_and_null_as_absent() {
        let one = object([
            ("b", Member::Json(r#"{"y":[1.0,"\u0041"],"x":null}"#)),
            ("a", Member::Str("s")),
            ("n", Member::Json("null")),
        ]);
        let two = object([
            ("a", Member::Json(r#""s""#)),
            ("b", Member::Json(r#"{ "y" : [1, "A"] }"#)),
        ]);
        assert_eq!(one, two);
        assert_eq!(one, r#"{"a":"s","b":{"y":[1,"A"]}}"#);
        assert_eq!(object([("x", Member::Json("null"))]), "");
    }

    #[test]
    fn a_value_deeper_than_serde_json_reads_is_kept_as_text() {
        let deep = format!("{}1{}", "[ ".repeat(300), " ]".repeat(300));
        let kept = object([("deep", Member::Json(&deep))]);
        assert_eq!(
            kept,
            format!(r#"{{"deep":{}1{}}}"#, "[".repeat(300), "]".repeat(300))
        );
    }
}
