//! The key a TOML parse error is about, named as the config's refusals name keys
//! (`rules[0].tolerance.relative_bps`): a value of the wrong type or out of its type's range
//! is refused by the parser, and the refusal names the key like every other.

use std::collections::BTreeMap;

/// The dotted key of the value at byte `offset` of the TOML `text`: the table it is in (an
/// array of tables with its index), then the keys before it on its line (inline tables
/// too); at a table's header, that table. `None` when nothing names it (the error is about
/// the document, or is outside it).
pub fn key_at(text: &str, offset: usize) -> Option<String> {
    let mut table: Vec<String> = Vec::new();
    let mut arrays: BTreeMap<String, usize> = BTreeMap::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let end = start + line.len();
        let on_header = line.trim_start().starts_with('[');
        if offset < end && !on_header {
            let mut path = table;
            path.extend(keys_before(&line[..offset - start]));
            return (!path.is_empty()).then(|| path.join("."));
        }
        let header = line.trim();
        if let Some(name) = header.strip_prefix("[[").and_then(|h| h.split("]]").next()) {
            let name = name.trim().to_string();
            let index = *arrays
                .entry(name.clone())
                .and_modify(|n| *n += 1)
                .or_insert(0);
            table = indexed(&name, &arrays);
            if let Some(last) = table.last_mut() {
                *last = format!("{last}[{index}]");
            }
        } else if let Some(name) = header.strip_prefix('[').and_then(|h| h.split(']').next()) {
            table = indexed(name.trim(), &arrays);
        }
        if offset < end {
            return (!table.is_empty()).then(|| table.join("."));
        }
        start = end;
    }
    None
}

/// The segments of a table name, each that names an array of tables with its latest index
/// (`rules.tolerance` after two `[[rules]]` → `rules[1]`, `tolerance`).
fn indexed(name: &str, arrays: &BTreeMap<String, usize>) -> Vec<String> {
    let mut prefix = String::new();
    let mut out = Vec::new();
    let segments: Vec<&str> = name.split('.').map(str::trim).collect();
    for (i, segment) in segments.iter().enumerate() {
        prefix = if prefix.is_empty() {
            segment.to_string()
        } else {
            format!("{prefix}.{segment}")
        };
        let last = i + 1 == segments.len();
        match arrays.get(&prefix) {
            Some(index) if !last => out.push(format!("{}[{index}]", unquoted(segment))),
            _ => out.push(unquoted(segment).to_string()),
        }
    }
    out
}

/// The keys that lead to the end of `head`, the start of one line: `a = { b = 1, c = ` →
/// `a`, `c`.
fn keys_before(head: &str) -> Vec<String> {
    let mut stack: Vec<(usize, String)> = Vec::new();
    let (mut depth, mut token) = (0, String::new());
    for c in head.chars() {
        match c {
            '=' => {
                stack.retain(|(d, _)| *d < depth);
                stack.push((depth, unquoted(token.trim()).to_string()));
                token.clear();
            }
            '{' => (depth, token) = (depth + 1, String::new()),
            '}' => {
                depth = depth.saturating_sub(1);
                stack.retain(|(d, _)| *d <= depth);
                token.clear();
            }
            ',' => {
                stack.retain(|(d, _)| *d < depth);
                token.clear();
            }
            _ => token.push(c),
        }
    }
    stack.into_iter().map(|(_, key)| key).collect()
}

fn unquoted(key: &str) -> &str {
    key.trim_matches('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keys_in_tables_arrays_and_inline_tables() {
        let text = "[pipeline]\nworkers = x\n[[rules]]\nkind = 1\n[[rules]]\ntolerance = { absolute = { USD = 0.01 }, relative_bps = -1 }\n[rules.extra]\nz = 1\n";
        let at = |needle: &str| key_at(text, text.find(needle).unwrap());
        assert_eq!(at("x\n").as_deref(), Some("pipeline.workers"));
        assert_eq!(at("1\n[[").as_deref(), Some("rules[0].kind"));
        assert_eq!(
            at("0.01").as_deref(),
            Some("rules[1].tolerance.absolute.USD")
        );
        assert_eq!(at("-1").as_deref(), Some("rules[1].tolerance.relative_bps"));
        assert_eq!(at("1\n",).as_deref(), Some("rules[0].kind"));
        assert_eq!(
            key_at(text, text.rfind("1\n").unwrap()).as_deref(),
            Some("rules[1].extra.z")
        );
        assert_eq!(
            key_at(text, text.find("[[rules]]\ntol").unwrap()).as_deref(),
            Some("rules[1]")
        );
    }
}
