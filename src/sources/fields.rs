//! Named access to the fields of one input record, whatever its format: a JSON object (read in
//! place, or as a `serde_json` map) or a CSV row seen through its header.

use serde_json::{Map, Value};

use crate::sources::canonical::{self, Member};

/// One field's value as found in the input.
#[derive(Clone, Copy, Debug)]
pub enum FieldValue<'a> {
    /// A string.
    Str(&'a str),
    /// A JSON number, as its exact literal text.
    Number(&'a str),
    /// Anything else, named by its JSON type.
    Other(&'static str),
}

/// Named access to the fields of one input record, whatever its format.
pub trait Fields {
    /// The value of `name`; `None` when absent (or null, or an empty CSV cell).
    fn get(&self, name: &str) -> Option<FieldValue<'_>>;
    /// The fields not in `known`, as canonical JSON ([`canonical::object`]); `""` when there
    /// are none.
    fn attributes(&self, known: &[String]) -> String;
}

impl Fields for Map<String, Value> {
    fn get(&self, name: &str) -> Option<FieldValue<'_>> {
        Some(match Map::get(self, name)? {
            Value::Null => return None,
            Value::String(s) => FieldValue::Str(s),
            Value::Number(n) => FieldValue::Number(n.as_str()),
            Value::Bool(_) => FieldValue::Other("boolean"),
            Value::Array(_) => FieldValue::Other("array"),
            Value::Object(_) => FieldValue::Other("object"),
        })
    }

    fn attributes(&self, known: &[String]) -> String {
        let unknown = self.iter().filter(|(k, _)| !known.contains(k));
        let texts: Vec<(&str, String)> =
            unknown.map(|(k, v)| (k.as_str(), v.to_string())).collect();
        canonical::object(texts.iter().map(|(k, v)| (*k, Member::Json(v))))
    }
}
