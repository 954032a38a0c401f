//! One JSON object read without building a `serde_json` map: keys and escape-free string
//! values are borrowed from the line; other values are kept as their text as written (a
//! number's literal exactly as it stands, a nested value whole at any depth). A line this
//! cannot read (not an object, not JSON) is read again as a `serde_json::Value`, whose errors
//! name what is wrong.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::sources::canonical::{self, Member};
use crate::sources::fields::{FieldValue, Fields};

/// The fields of one JSON object, in input order (a repeated key: the last one counts, as in a
/// `serde_json` map).
pub struct JsonObject<'a> {
    fields: Vec<(Cow<'a, str>, Field<'a>)>,
}

/// One field's value: a string's text, or any other value's text as written (amounts are
/// checked, and quoted in reasons, exactly as they stand in the input).
enum Field<'a> {
    Str(Cow<'a, str>),
    Other(&'a str),
}

impl<'a> JsonObject<'a> {
    /// Reads `line` as one JSON object; `None` when it is anything else. A flat object of
    /// escape-free strings without whitespace (what most producers write) is scanned
    /// directly; anything else is left to `serde_json`, which reads such objects the same way.
    pub fn read(line: &'a str) -> Option<JsonObject<'a>> {
        flat(line).or_else(|| serde_json::from_str(line).ok())
    }

    fn field(&self, name: &str) -> Option<&Field<'a>> {
        let found = self.fields.iter().rev().find(|(key, _)| key == name);
        found.map(|(_, field)| field)
    }
}

impl Fields for JsonObject<'_> {
    fn get(&self, name: &str) -> Option<FieldValue<'_>> {
        Some(match self.field(name)? {
            Field::Str(text) => FieldValue::Str(text),
            Field::Other(text) => match text.as_bytes()[0] {
                b'n' => return None,
                b't' | b'f' => FieldValue::Other("boolean"),
                b'[' => FieldValue::Other("array"),
                b'{' => FieldValue::Other("object"),
                _ => FieldValue::Number(text),
            },
        })
    }

    fn attributes(&self, known: &[String]) -> String {
        let unknown = self
            .fields
            .iter()
            .filter(|(key, _)| !known.iter().any(|k| k == key));
        canonical::object(unknown.map(|(key, field)| {
            let member = match field {
                Field::Str(text) => Member::Str(text),
                Field::Other(text) => Member::Json(text),
            };
            (&**key, member)
        }))
    }
}

/// `line` as a flat object of escape-free strings with no whitespace between tokens, or
/// `None` for anything else (including what is not JSON at all).
fn flat(line: &str) -> Option<JsonObject<'_>> {
    let mut rest = line.strip_prefix('{')?;
    let mut fields = Vec::with_capacity(10);
    if rest == "}" {
        return Some(JsonObject { fields });
    }
    loop {
        let (key, after) = plain_string(rest)?;
        let (value, after) = plain_string(after.strip_prefix(':')?)?;
        fields.push((Cow::Borrowed(key), Field::Str(Cow::Borrowed(value))));
        match after.as_bytes().first()? {
            b',' => rest = &after[1..],
            b'}' if after.len() == 1 => return Some(JsonObject { fields }),
            _ => return None,
        }
    }
}

/// The text of the string literal `text` starts with, and what follows it, when the literal
/// holds no escape and no control character.
fn plain_string(text: &str) -> Option<(&str, &str)> {
    let body = text.strip_prefix('"')?;
    let end = body
        .bytes()
        .position(|b| b == b'"' || b == b'\\' || b < 0x20)?;
    (body.as_bytes()[end] == b'"').then(|| (&body[..end], &body[end + 1..]))
}

/// A value's field: a string literal's text — borrowed when it holds no escape, else decoded
/// — or any other value's text (already checked to be JSON, at any depth, but for the pairing
/// of surrogate escapes in its strings, checked here).
fn field<E: serde::de::Error>(raw: &RawValue) -> Result<Field<'_>, E> {
    let text = raw.get();
    let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else {
        return match surrogates_paired(text) {
            true => Ok(Field::Other(text)),
            false => Err(E::custom("a lone surrogate in a \\u escape")),
        };
    };
    match inner.contains('\\') {
        false => Ok(Field::Str(Cow::Borrowed(inner))),
        true => serde_json::from_str(text)
            .map(|decoded: String| Field::Str(Cow::Owned(decoded)))
            .map_err(E::custom),
    }
}

impl<'de> Deserialize<'de> for JsonObject<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = JsonObject<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonObject<'de>, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(Key(key)) = map.next_key()? {
            let raw: &'de RawValue = map.next_value()?;
            fields.push((key, field(raw)?));
        }
        Ok(JsonObject { fields })
    }
}

/// Whether every UTF-16 surrogate escape in the strings of the JSON text `text` is a high
/// one followed at once by a low one, as decoding them to text requires.
fn surrogates_paired(text: &str) -> bool {
    let bytes = text.as_bytes();
    let unit = |at: usize| -> Option<u16> {
        let hex = std::str::from_utf8(bytes.get(at..at + 4)?).ok()?;
        u16::from_str_radix(hex, 16).ok()
    };
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) != Some(&b'u') {
            i += 2; // any other escape (outside strings there is no backslash)
            continue;
        }
        match unit(i + 2) {
            Some(0xD800..=0xDBFF) => {
                let low = (bytes.get(i + 6..i + 8) == Some(&b"\\u"[..])).then(|| unit(i + 8));
                if !matches!(low, Some(Some(0xDC00..=0xDFFF))) {
                    return false;
                }
                i += 12;
            }
            Some(0xDC00..=0xDFFF) | None => return false,
            Some(_) => i += 6,
        }
    }
    true
}

/// A key, borrowed when it holds no escape.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(text.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    /// A field as `serde_json` reads it, in the form [`JsonObject::get`] gives: strings by
    /// their text, numbers by exact value, other values by their type.
    fn expected(value: Option<&Value>) -> Option<String> {
        Some(match value? {
            Value::Null => return None,
            Value::String(s) => format!("str {s}"),
            Value::Number(n) => format!("number {}", canonical::number(n.as_str())),
            Value::Bool(_) => "boolean".into(),
            Value::Array(_) => "array".into(),
            Value::Object(_) => "object".into(),
        })
    }

    fn got(value: Option<FieldValue<'_>>) -> Option<String> {
        Some(match value? {
            FieldValue::Str(s) => format!("str {s}"),
            FieldValue::Number(n) => format!("number {}", canonical::number(n)),
            FieldValue::Other(kind) => kind.into(),
        })
    }

    /// Checks the in-place reading of `line` against `serde_json`'s: every key's value, and
    /// the attributes (every field unknown) as the canonical form of `serde_json`'s map.
    fn agrees_with_serde_json(line: &str) -> Result<(), TestCaseError> {
        let library = serde_json::from_str::<Value>(line);
        let object = JsonObject::read(line);
        let Ok(Value::Object(map)) = library else {
            prop_assert!(object.is_none(), "{line} is not an object");
            return Ok(());
        };
        let object = object.expect("an object serde_json reads");
        for key in map.keys().map(String::as_str).chain(["absent"]) {
            prop_assert_eq!(
                got(object.get(key)),
                expected(map.get(key)),
                "{} in {}",
                key,
                line
            );
        }
        prop_assert_eq!(object.attributes(&[]), map.attributes(&[]), "{}", line);
        Ok(())
    }

    #[test]
    fn reads_every_field_as_serde_json_does() {
        let lines = [
            r#"{"a":"x","b":"1.50","c":1.50,"d":null}"#,
            r#"{"a":"q\"uote\\d","b":"\u00e9\n","c":-0,"d":1e5,"é":"ü"}"#,
            r#"{"a":1,"a":"last wins","b":[1,{"z":2,"y":[]}],"c":{"k":"v"},"d":true}"#,
            r#" { "c" : 12345678901234567890.000 , "b":false, "zz": {"b":1,"a":[null]}, "a":"" } "#,
            r#"{"x":"\ud83d\ude00","a\u0062":"escaped key","d":"\u0000"}"#,
            r#"{}"#,
            r#"{"a":"x","b":"1.50","d":"","a":"again"}"#,
            r#"{"é":"ü","a":"{\"x\":1}","e":1E+1,"f":-2.50e-3}"#,
        ];
        for line in lines {
            agrees_with_serde_json(line).unwrap();
        }
    }

    #[test]
    fn keeps_a_number_as_written_and_a_value_of_any_depth() {
        let object = JsonObject::read(r#"{"amount":1E+1}"#).unwrap();
        assert!(matches!(
            object.get("amount"),
            Some(FieldValue::Number("1E+1"))
        ));
        let deep = format!(
            r#"{{"a":"x","deep":{}1{}}}"#,
            "[".repeat(5000),
            "]".repeat(5000)
        );
        let object = JsonObject::read(&deep).expect("read at any depth");
        assert!(matches!(object.get("a"), Some(FieldValue::Str("x"))));
        assert!(object
            .attributes(&["a".to_string()])
            .starts_with(r#"{"deep":[[[["#));
    }

    #[test]
    fn reads_no_other_value_as_an_object() {
        for line in [
            "[1]",
            "\"s\"",
            "1",
            "null",
            "{\"a\":1",
            "{\"a\":1} x",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":\"x\",}",
            "{\"a\":\"x\"}}",
            "{\"a\"\"x\"}",
            "{\"a\":\"x\u{1}\"}",
            "{\"a\":\"x\"",
            "{\"a\"}",
            "{\"a\":\"x\",\"b\"}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":[1,]}",
        ] {
            assert!(JsonObject::read(line).is_none(), "{line}");
        }
    }

    /// Whitespace JSON allows between tokens: none mostly, sometimes some.
    fn space() -> impl Strategy<Value = String> {
        prop_oneof![4 => Just(String::new()), 1 => "[ \t\r\n]{1,3}"]
    }

    /// A string literal: plain text, or text with escapes of every kind (surrogate pairs too).
    fn string_literal() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            "[a-z0-9_ ]{0,6}",
            "[é€😀ü]{1,2}",
            Just(r#"\""#.to_string()),
            Just(r"\\".to_string()),
            Just(r"\/".to_string()),
            Just(r"\n\t\r\b\f".to_string()),
            Just(r"\u0041\u00e9\u20ac".to_string()),
            Just(r"\ud83d\ude00".to_string()),
            Just(r"\u0000".to_string()),
        ];
        prop::collection::vec(piece, 0..4).prop_map(|p| format!("\"{}\"", p.concat()))
    }

    /// A number literal in any form JSON allows.
    fn number_literal() -> impl Strategy<Value = String> {
        (
            "-?",
            "(0|[1-9][0-9]{0,20})",
            "(\\.[0-9]{1,12})?",
            "([eE][+-]?[0-9]{1,3})?",
        )
            .prop_map(|(sign, int, frac, exp)| format!("{sign}{int}{frac}{exp}"))
    }

    fn value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            string_literal(),
            number_literal(),
            Just("true".to_string()),
            Just("false".to_string()),
            Just("null".to_string()),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec((space(), inner.clone()), 0..4).prop_map(|items| {
                    let items: Vec<String> = items.into_iter().map(|(s, v)| s + &v).collect();
                    format!("[{}]", items.join(","))
                }),
                prop::collection::vec((string_literal(), inner), 0..4).prop_map(|members| {
                    let members: Vec<String> = members
                        .into_iter()
                        .map(|(k, v)| format!("{k}:{v}"))
                        .collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    /// An object line, keys often repeated, with whitespace between tokens.
    fn object_line() -> impl Strategy<Value = String> {
        let key = prop_oneof![3 => Just("\"a\"".to_string()), 1 => Just("\"\\u0061\"".to_string()), 3 => string_literal()];
        let member = (space(), key, space(), space(), value(), space());
        prop::collection::vec(member, 0..8).prop_map(|members| {
            let members: Vec<String> = members
                .into_iter()
                .map(|(s1, k, s2, s3, v, s4)| format!("{s1}{k}{s2}:{s3}{v}{s4}"))
                .collect();
            format!("{{{}}}", members.join(","))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn generated_objects_read_as_serde_json_reads_them(line in object_line()) {
            agrees_with_serde_json(&line)?;
        }

        #[test]
        fn damaged_objects_are_refused_exactly_when_serde_json_refuses(
            line in object_line(),
            cut in any::<prop::sample::Index>(),
            byte in prop::sample::select(vec![b'"', b'\\', b',', b':', b'{', b'}', b'1', b' ', b'e']),
        ) {
            let mut bytes = line.into_bytes();
            let at = cut.index(bytes.len());
            bytes[at] = byte;
            if let Ok(line) = String::from_utf8(bytes) {
                agrees_with_serde_json(&line)?;
            }
        }
    }
}
