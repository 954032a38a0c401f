//! What a hostile but fair user found, each reproduced against the `trueup` binary and now
//! refused or handled: nothing is destroyed, and bad values are refused at start by key.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn trueup() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trueup"))
}

fn golden(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/late_resolution")
        .join(file)
}

/// A folder with the golden inputs in `in/`, an `out/` folder, a link `link` → `in`, and a hard
/// link `hard.jsonl` to the payments file.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("in")).unwrap();
    std::fs::create_dir_all(root.join("out")).unwrap();
    for file in ["payments.jsonl", "entries.jsonl"] {
        std::fs::copy(golden(file), root.join("in").join(file)).unwrap();
    }
    std::os::unix::fs::symlink(root.join("in"), root.join("link")).unwrap();
    std::fs::hard_link(root.join("in/payments.jsonl"), root.join("hard.jsonl")).unwrap();
    dir
}

/// The config text with these sinks (and store, if any).
fn config(results: &str, dead_letters: &str, summary: &str, store: Option<&str>) -> String {
    let store = store.map_or(String::new(), |s| format!("\n[store]\nurl = \"{s}\"\n"));
    format!(
        r#"[[sources]]
stream = "payments"
path = "in/payments.jsonl"

[[sources]]
stream = "entries"
path = "in/entries.jsonl"

[sinks]
results = "{results}"
dead_letters = "{dead_letters}"
summary = "{summary}"
{store}"#
    )
}

fn run(dir: &Path, text: &str) -> Output {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    // (a relative store URL is taken from the working directory, like any command-line path)
    trueup()
        .args(["run", "--config"])
        .arg(&path)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn an_output_that_resolves_to_an_input_the_store_or_another_output_is_refused_naming_both_keys() {
    let ok = ("out/results.jsonl", "out/dead.jsonl", "out/summary.json");
    let cases: Vec<(String, &str, &str)> = vec![
        // (config, the key refused, the key it collides with)
        (
            config("in/payments.jsonl", ok.1, ok.2, None),
            "sinks.results",
            "sources[0].path",
        ),
        (
            config(ok.0, "in/entries.jsonl", ok.2, None),
            "sinks.dead_letters",
            "sources[1].path",
        ),
        (
            config(ok.0, ok.1, "in/payments.jsonl", None),
            "sinks.summary",
            "sources[0].path",
        ),
        (
            config(ok.0, ok.0, ok.2, None),
            "sinks.results",
            "sinks.dead_letters",
        ),
        (
            config("in/../in/payments.jsonl", ok.1, ok.2, None),
            "sinks.results",
            "sources[0].path",
        ),
        (
            config("link/payments.jsonl", ok.1, ok.2, None),
            "sinks.results",
            "sources[0].path",
        ),
        (
            config("hard.jsonl", ok.1, ok.2, None),
            "sinks.results",
            "sources[0].path",
        ),
        (
            config(ok.0, ok.1, ok.2, Some("in/payments.jsonl")),
            "store.url",
            "sources[0].path",
        ),
        (
            config(ok.0, ok.1, ok.2, Some("out/results.jsonl")),
            "store.url",
            "sinks.results",
        ),
    ];
    for (text, refused, other) in cases {
        let dir = workspace();
        let output = run(dir.path(), &text);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{text}\nran: {stderr}");
        assert!(
            stderr.contains(&format!("`{refused}`")) && stderr.contains(&format!("`{other}`")),
            "{text}\nshould name {refused} and {other}: {stderr}"
        );
        for file in ["payments.jsonl", "entries.jsonl"] {
            assert_eq!(
                std::fs::read(dir.path().join("in").join(file)).unwrap(),
                std::fs::read(golden(file)).unwrap(),
                "{text}\n{file} was altered"
            );
        }
    }
    // the store given on the command line is checked too
    let dir = workspace();
    let output = trueup()
        .args(["run", "--store", "in/entries.jsonl", "--config"])
        .arg({
            let path = dir.path().join("config.toml");
            std::fs::write(&path, config(ok.0, ok.1, ok.2, None)).unwrap();
            path
        })
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("`store.url`"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("in/entries.jsonl")).unwrap(),
        std::fs::read(golden("entries.jsonl")).unwrap()
    );
    // and a config whose paths are apart runs
    let output = run(dir.path(), &config(ok.0, ok.1, ok.2, None));
    assert!(output.status.success(), "{output:?}");
}
