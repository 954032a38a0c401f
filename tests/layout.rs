//! The crate's layout, checked: the module graph read from the source (every `use` and every
//! `crate::`/`super::` path) has no cycle and no import from a lower layer to a higher one; no
//! function in `src/` is over 100 lines; every folder's `mod.rs` says what the folder is for;
//! and the layout tour in `lib.rs` and the README name every module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first: a module may import from its own layer or a lower one.
const LAYERS: &[&[&str]] = &[
    &["model"],
    &["config"],
    &["kafka"],
    &["sources", "rules", "sinks", "store", "generate"],
    &["runtime"],
];

/// The longest a function in `src/` may be, in lines.
const MAX_FUNCTION_LINES: usize = 100;

/// One source file: its module path (`""` for the crate root) and its code without comments
/// and without its `#[cfg(test)] mod tests`.
struct File {
    path: PathBuf,
    module: String,
    code: String,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file under `src/` defines: `model/mod.rs` → `model`, `model/time.rs` →
/// `model::time`, `lib.rs` → the root.
fn module_of(relative: &Path) -> String {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

fn strip(text: &str) -> String {
    let body = match text.find("#[cfg(test)]\nmod tests") {
        Some(cut) => &text[..cut],
        None => text,
    };
    body.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn library_files() -> Vec<File> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .filter(|p| !p.ends_with("main.rs"))
        .map(|path| {
            let relative = path.strip_prefix(&src).expect("under src").to_path_buf();
            let text = std::fs::read_to_string(&path).expect("read");
            File {
                module: module_of(&relative),
                code: strip(&text),
                path: relative,
            }
        })
        .collect()
}

/// `use a::{b, c::{d, e}};` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    match tree.find('{') {
        None => {
            let item = tree.split(" as ").next().unwrap_or(tree).trim();
            if !item.is_empty() {
                out.push(format!("{prefix}{item}"));
            }
        }
        Some(open) => {
            let head = format!("{prefix}{}", &tree[..open]);
            let inner = &tree[open + 1..tree.rfind('}').expect("closing brace")];
            let (mut depth, mut start) = (0, 0);
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&inner[start..i], &head, out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            expand(&inner[start..], &head, out);
        }
    }
}

/// Every path a file names: its `use` trees expanded, and inline `crate::…`/`super::…` paths.
fn paths_named(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = String::new();
    let mut statement: Option<String> = None;
    for line in code.lines() {
        let trimmed = line.trim_start();
        let starts_use = trimmed.starts_with("use ") || trimmed.starts_with("pub use ");
        if statement.is_none() && starts_use {
            statement = Some(String::new());
        }
        match statement.as_mut() {
            Some(s) => {
                s.push_str(trimmed);
                if trimmed.ends_with(';') {
                    let tree = s.trim_end_matches(';');
                    let tree = tree.split_once("use ").map_or(tree, |(_, t)| t);
                    expand(tree, "", &mut paths);
                    statement = None;
                }
            }
            None => {
                rest.push_str(line);
                rest.push('\n');
            }
        }
    }
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = rest[from..].find(start) {
            let begin = from + at;
            let end = rest[begin..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(rest.len(), |e| begin + e);
            paths.push(rest[begin..end].trim_end_matches(':').to_string());
            from = end;
        }
    }
    paths
}

/// The module a path names from `module`: the longest known module it starts with.
fn resolve(path: &str, module: &str, is_folder: bool, known: &BTreeSet<String>) -> Option<String> {
    let mut segments: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").collect()
    };
    match segments.first().copied() {
        Some("crate") => {
            segments.remove(0);
            base.clear();
        }
        Some("super") => {
            segments.remove(0);
            base.pop();
        }
        Some(first) if is_folder || module.is_empty() => {
            let child = [base.clone(), vec![first]].concat().join("::");
            if !known.contains(&child) {
                return None; // an external crate or std
            }
        }
        _ => return None,
    }
    let full: Vec<&str> = base.into_iter().chain(segments).collect();
    (0..=full.len())
        .rev()
        .map(|n| full[..n].join("::"))
        .find(|candidate| known.contains(candidate))
}

/// Module → the modules it imports from.
fn graph(files: &[File]) -> BTreeMap<String, BTreeSet<String>> {
    let known: BTreeSet<String> = files.iter().map(|f| f.module.clone()).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let is_folder = file.path.ends_with("mod.rs") || file.path.ends_with("lib.rs");
        let targets = edges.entry(file.module.clone()).or_default();
        for path in paths_named(&file.code) {
            if let Some(target) = resolve(&path, &file.module, is_folder, &known) {
                if target != file.module && !target.is_empty() {
                    targets.insert(target);
                }
            }
        }
    }
    edges
}

/// A cycle of the graph, if it has one, as the modules along it.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, bool>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(true) => return None,
            Some(false) => {
                let from = stack.iter().position(|n| n == node).expect("on the stack");
                let mut found = stack[from..].to_vec();
                found.push(node.to_string());
                return Some(found);
            }
            None => {}
        }
        state.insert(node.to_string(), false);
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, edges, state, stack) {
                return Some(found);
            }
        }
        stack.pop();
        state.insert(node.to_string(), true);
        None
    }
    let mut state = BTreeMap::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut state, &mut Vec::new()))
}

/// The layer of a module: its top-level folder's index in [`LAYERS`] (the root is above all).
fn layer(module: &str) -> usize {
    let top = module.split("::").next().unwrap_or_default();
    LAYERS
        .iter()
        .position(|layer| layer.contains(&top))
        .unwrap_or_else(|| {
            assert!(module.is_empty(), "{module}: its folder is in no layer");
            LAYERS.len()
        })
}

#[test]
fn the_module_graph_has_no_cycle_and_no_upward_import() {
    let edges = graph(&library_files());
    assert!(edges.len() > 30, "read only {} modules", edges.len());
    // the reader sees `use` trees, relative child paths and inline paths alike
    for (from, to) in [
        ("store::verify", "store::query"),
        ("store", "store::db"),
        ("runtime::worker", "rules"),
        ("sinks", "sinks::file"),
    ] {
        assert!(edges[from].contains(to), "{from} -> {to} not seen");
    }
    if let Some(found) = cycle(&edges) {
        panic!("import cycle: {}", found.join(" -> "));
    }
    let upward: Vec<String> = edges
        .iter()
        .flat_map(|(from, to)| to.iter().map(move |to| (from, to)))
        .filter(|(from, to)| layer(from) < layer(to))
        .map(|(from, to)| format!("{from} -> {to}"))
        .collect();
    assert!(
        upward.is_empty(),
        "imports from a lower layer up: {upward:?}"
    );
}

#[test]
fn the_checker_finds_cycles_and_reads_use_trees() {
    let mut paths = Vec::new();
    expand(
        "crate::model::{Stream, time::{Tick, Time as T}}",
        "",
        &mut paths,
    );
    assert_eq!(
        paths,
        [
            "crate::model::Stream",
            "crate::model::time::Tick",
            "crate::model::time::Time"
        ]
    );
    let known: BTreeSet<String> = ["", "store", "store::db", "store::query"]
        .map(String::from)
        .into();
    let resolved = |path, module, folder| resolve(path, module, folder, &known);
    assert_eq!(
        resolved("super::db::Value", "store::query", false),
        Some("store::db".into())
    );
    assert_eq!(
        resolved("db::Rows", "store", true),
        Some("store::db".into())
    );
    assert_eq!(resolved("serde::Serialize", "store", true), None);
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(
        cycle(&edges),
        Some(["a", "b", "c", "a"].map(String::from).into())
    );
}

#[test]
fn no_function_in_src_is_over_100_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let mut long = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let words: Vec<&str> = trimmed.split_whitespace().collect();
            let is_fn = words
                .iter()
                .take_while(|w| !w.starts_with("fn"))
                .all(|w| w.starts_with("pub") || ["async", "const", "unsafe"].contains(w))
                && words.contains(&"fn");
            if !is_fn || trimmed.ends_with(';') {
                continue;
            }
            let indent = &line[..line.len() - trimmed.len()];
            let closing = format!("{indent}}}");
            let Some(end) = lines[i..].iter().position(|l| *l == closing) else {
                continue;
            };
            if end + 1 > MAX_FUNCTION_LINES {
                long.push(format!("{}:{}: {} lines", path.display(), i + 1, end + 1));
            }
        }
    }
    assert!(long.is_empty(), "functions over 100 lines: {long:#?}");
}

/// The paths under `src/` that the README's Layout block names, from its indentation:
/// `  model/` then `    time.rs` is `model/time.rs`.
fn readme_tree(readme: &str) -> BTreeSet<String> {
    let layout = readme.split("## Layout").nth(1).expect("a Layout section");
    let block = layout.split("```").nth(1).expect("a code block");
    let mut paths = BTreeSet::new();
    let mut folder = String::new();
    let mut in_src = false;
    for line in block.lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let indent = line.len() - line.trim_start().len();
        match indent {
            0 => in_src = name == "src/",
            2 if in_src => {
                folder = if name.ends_with('/') {
                    name.to_string()
                } else {
                    String::new()
                };
                paths.insert(name.to_string());
            }
            4 if in_src => {
                paths.insert(format!("{folder}{name}"));
            }
            _ => {}
        }
    }
    paths
}

#[test]
fn every_folder_says_what_it_is_for_and_the_tours_name_every_module() {
    let files = library_files();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).expect("lib.rs");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let tree = readme_tree(&readme);
    for file in &files {
        let text = std::fs::read_to_string(root.join("src").join(&file.path)).expect("read");
        assert!(
            text.starts_with("//!"),
            "{} does not open with what it is for",
            file.path.display()
        );
        if file.module.is_empty() {
            continue;
        }
        assert!(
            lib.contains(&format!("[`{}`]", file.module)),
            "the layout tour in lib.rs does not name {}",
            file.module
        );
        let shown = match file.path.ends_with("mod.rs") {
            true => format!("{}/", file.path.parent().expect("a folder").display()),
            false => file.path.display().to_string(),
        };
        assert!(
            tree.contains(&shown),
            "the README's Layout section does not name src/{shown}"
        );
    }
}
