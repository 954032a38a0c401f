//! One JSON object read without building a `serde_json` map: keys and escape-free string
//! values are borrowed from the line; other values (rare in input: numbers, booleans, nested
//! values) are read as `serde_json` values. A line this cannot read (not an object, not JSON) is read again as a
//! `serde_json::Value`, whose errors name what is wrong: both readings agree on every field
//! of every object, so the validated record is the same either way.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::sources::fields::{FieldValue, Fields};

/// The fields of one JSON object, in input order (a repeated key: the last one counts, as in a
/// `serde_json` map).
pub struct JsonObject<'a> {
    fields: Vec<(Cow<'a, str>, Field<'a>)>,
}

/// One field's value: a string's text, or any other value as `serde_json` reads it (numbers
/// too: it writes some literals its own way, `1e5` as `1e+5`, and amounts are checked on
/// exactly that text).
enum Field<'a> {
    Str(Cow<'a, str>),
    Other(Value),
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
            Field::Other(Value::Null) => return None,
            Field::Other(Value::Number(n)) => FieldValue::Number(n.as_str()),
            Field::Other(Value::Bool(_)) => FieldValue::Other("boolean"),
            Field::Other(Value::Array(_)) => FieldValue::Other("array"),
            Field::Other(_) => FieldValue::Other("object"),
        })
    }

    fn attributes(&self, known: &[&str]) -> String {
        let mut extra = Map::new();
        for (key, field) in &self.fields {
            if !known.contains(&key.as_ref()) {
                let value = match field {
                    Field::Str(text) => Value::String(text.to_string()),
                    Field::Other(value) => value.clone(),
                };
                extra.insert(key.to_string(), value);
            }
        }
        if extra.is_empty() {
            String::new()
        } else {
            Value::Object(extra).to_string()
        }
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
/// — or any other value, read whole.
fn field<E: serde::de::Error>(raw: &RawValue) -> Result<Field<'_>, E> {
    let text = raw.get();
    let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else {
        return serde_json::from_str(text)
            .map(Field::Other)
            .map_err(E::custom);
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
    use super::*;

    /// Every field, and the attributes, as a `serde_json` map gives them.
    fn as_map(line: &str, names: &[&str]) -> (Vec<String>, String) {
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(line) else {
            panic!("{line} is an object");
        };
        let fields = names.iter().map(|n| format!("{:?}", map.get_field(n)));
        (fields.collect(), map.attributes(&names[..2]))
    }

    fn as_object(line: &str, names: &[&str]) -> (Vec<String>, String) {
        let object = JsonObject::read(line).expect("an object");
        let fields = names.iter().map(|n| format!("{:?}", object.get(n)));
        (fields.collect(), object.attributes(&names[..2]))
    }

    trait GetField {
        fn get_field(&self, name: &str) -> Option<FieldValue<'_>>;
    }

    impl GetField for Map<String, Value> {
        fn get_field(&self, name: &str) -> Option<FieldValue<'_>> {
            Fields::get(self, name)
        }
    }

    #[test]
    fn reads_every_field_as_a_serde_json_map_does() {
        let names = ["a", "b", "c", "d", "é"];
        let lines = [
            r#"{"a":"x","b":"1.50","c":1.50,"d":null}"#,
            r#"{"a":"q\"uote\\d","b":"\u00e9\n","c":-0,"d":1e5,"é":"ü"}"#,
            r#"{"a":1,"a":"last wins","b":[1,{"z":2,"y":[]}],"c":{"k":"v"},"d":true}"#,
            r#" { "c" : 12345678901234567890.000 , "b":false, "zz": {"b":1,"a":[null]}, "a":"" } "#,
            r#"{"x":"\ud83d\ude00","a\u0062":"escaped key","d":"\u0000"}"#,
            r#"{}"#,
            r#"{"a":"x","b":"1.50","d":"","a":"again"}"#,
            r#"{"é":"ü","a":"{\"x\":1}"}"#,
        ];
        for line in lines {
            assert_eq!(as_object(line, &names), as_map(line, &names), "{line}");
        }
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
        ] {
            assert!(JsonObject::read(line).is_none(), "{line}");
        }
    }
}
