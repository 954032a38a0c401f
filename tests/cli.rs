//! The `trueup` binary: the golden scenario asserted line by line, `--help` everywhere, and
//! refusal of bad configuration.

use std::path::{Path, PathBuf};
use std::process::Command;

fn trueup() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trueup"))
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Copies a golden scenario's inputs and config into a fresh folder.
fn scenario(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["payments.jsonl", "entries.jsonl", "config.toml"] {
        std::fs::copy(golden(name).join(file), dir.path().join(file)).unwrap();
    }
    dir
}

fn assert_lines_equal(got: &Path, want: &Path) {
    let got = std::fs::read_to_string(got).unwrap();
    let want = std::fs::read_to_string(want).unwrap();
    let (got, want): (Vec<_>, Vec<_>) = (got.lines().collect(), want.lines().collect());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "line {}", i + 1);
    }
    assert_eq!(got.len(), want.len(), "number of lines");
}

#[test]
fn golden_late_resolution_changelog_line_by_line() {
    let dir = scenario("late_resolution");
    for workers in ["1", "2", "4"] {
        let out = trueup()
            .args(["run", "--workers", workers, "--config"])
            .arg(dir.path().join("config.toml"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_lines_equal(
            &dir.path().join("out/results.jsonl"),
            &golden("late_resolution").join("expected_results.jsonl"),
        );
        assert_lines_equal(
            &dir.path().join("out/dead_letters.jsonl"),
            &golden("late_resolution").join("expected_dead_letters.jsonl"),
        );
    }
}

#[test]
fn help_everywhere() {
    for args in [
        vec!["--help"],
        vec!["demo", "--help"],
        vec!["generate", "--help"],
        vec!["run", "--help"],
    ] {
        let out = trueup().args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{args:?}"
        );
    }
}

#[test]
fn bad_config_is_refused_naming_the_key() {
    let dir = scenario("late_resolution");
    let config = dir.path().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    for (edit, key) in [
        (text.replace("batch_size = 2", "batch_sise = 2"), "batch_sise"),
        (text.replace("batch_size = 2", "workers = 0"), "pipeline.workers"),
        (format!("{text}\n[[rules]]\nkind = \"payment_ledger\"\ntolerance = {{ absolute = {{ USD = \"0.001\" }} }}\n"), "rules[0].tolerance.absolute.USD"),
        (format!("{text}\n[[rules]]\nkind = \"fx_rule\"\n"), "fx_rule"),
    ] {
        std::fs::write(&config, edit).unwrap();
        let out = trueup().args(["run", "--config"]).arg(&config).output().unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "{key}: {stderr}");
    }
}

#[test]
fn generate_is_deterministic_by_seed() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for dir in [&a, &b] {
        let out = trueup()
            .args(["generate", "--payments", "300", "--seed", "5", "--out"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    for file in [
        "payments.jsonl",
        "entries.jsonl",
        "truth.jsonl",
        "truth-meta.json",
    ] {
        assert_eq!(
            std::fs::read(a.path().join(file)).unwrap(),
            std::fs::read(b.path().join(file)).unwrap(),
            "{file}"
        );
    }
}

/// The examples are built by `cargo test`; each must run and pass its own checks.
#[test]
fn examples_run() {
    let debug = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    for (name, expect) in [
        ("settlement", "po_2026_11_01 [\"settled\"]"),
        ("invoice_matching", "inv_2 paid by rc_3"),
    ] {
        let exe = debug.join("examples").join(name);
        let out = Command::new(&exe)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", exe.display()));
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(expect),
            "{name}"
        );
    }
}

/// Every TOML block in the docs is a valid configuration.
#[test]
fn toml_blocks_in_docs_are_valid_configs() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut checked = 0;
    for page in std::fs::read_dir(&docs).unwrap() {
        let path = page.unwrap().path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for block in text.split("```toml\n").skip(1) {
            let toml = block.split("```").next().unwrap();
            trueup::config::Config::from_toml(toml, Path::new("."))
                .unwrap_or_else(|e| panic!("{}: {e}\n{toml}", path.display()));
            checked += 1;
        }
    }
    assert!(
        checked >= 2,
        "config.md and getting-started.md hold configs"
    );
}

#[test]
fn a_missing_input_file_is_a_clear_error_not_a_panic() {
    let dir = scenario("late_resolution");
    std::fs::remove_file(dir.path().join("entries.jsonl")).unwrap();
    let out = trueup()
        .args(["run", "--config"])
        .arg(dir.path().join("config.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: cannot read") && stderr.contains("entries.jsonl"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `run --follow` of the scenario in `dir`, once results have appeared (and a moment more):
/// the process is following its (finished) files.
fn following(dir: &Path) -> std::process::Child {
    let child = trueup()
        .args(["run", "--follow", "--config"])
        .arg(dir.join("config.toml"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let results = dir.join("out/results.jsonl");
    let started = std::time::Instant::now();
    while std::fs::read_to_string(&results).map_or(true, |t| t.is_empty()) {
        assert!(
            started.elapsed().as_secs() < 60,
            "no results while following"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    child
}

#[test]
fn follow_streams_until_sigterm_then_flushes_and_exits_cleanly() {
    let dir = scenario("late_resolution");
    let child = following(dir.path());
    let results = dir.path().join("out/results.jsonl");
    let stop = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stop.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped by signal"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("match rate"));
    assert!(dir.path().join("out/summary.json").exists());
    // stopping after the last line completes the same times as the end of a finite input
    assert_lines_equal(
        &results,
        &golden("late_resolution").join("expected_results.jsonl"),
    );
}

#[test]
fn a_last_line_without_newline_is_taken_at_sigterm_accepted_or_dead() {
    let tail_record = r#"{"event_id":"evt_tail","payment_id":"pay_tail","type":"capture","amount":"1.00","currency":"USD","occurred_at":"2026-11-01T11:00:00Z"}"#;
    for (tail, complete) in [(tail_record, true), (&tail_record[..40], false)] {
        let dir = scenario("late_resolution");
        let payments = dir.path().join("payments.jsonl");
        let mut text = std::fs::read_to_string(&payments).unwrap();
        let lines = text.lines().count();
        text.push_str(tail);
        std::fs::write(&payments, text).unwrap();
        let child = following(dir.path());
        let results = dir.path().join("out/results.jsonl");
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let results = std::fs::read_to_string(&results).unwrap();
        let dead = std::fs::read_to_string(dir.path().join("out/dead_letters.jsonl")).unwrap();
        let position = format!("payments.jsonl:{}", lines + 1);
        assert_eq!(results.contains("pay_tail"), complete, "{results}");
        assert_eq!(dead.contains(&position), !complete, "{dead}");
    }
}

/// Follows the late-resolution scenario for `seconds` (progress speaks every 2 s), then stops
/// it with SIGTERM; `wrap` puts the command under another (a terminal emulator).
fn follow_for(seconds: u32, dir: &Path, wrap: Option<&str>) -> std::process::Output {
    let config = dir.join("config.toml");
    let run = format!(
        "timeout -s TERM {seconds} {} run --follow --config {}",
        env!("CARGO_BIN_EXE_trueup"),
        config.display()
    );
    let command = match wrap {
        Some(wrapper) => format!("{wrapper} '{run}' /dev/null"),
        None => run,
    };
    Command::new("sh").args(["-c", &command]).output().unwrap()
}

#[test]
fn progress_is_a_live_line_on_a_terminal_and_a_tracing_event_otherwise() {
    // not a terminal: structured `progress` events with the three fields
    let dir = scenario("late_resolution");
    let out = follow_for(5, dir.path(), None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let events: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(" progress "))
        .collect();
    assert!(events.len() >= 2, "{stderr}");
    for event in &events {
        for field in [
            "records_in=10",
            "watermark=2026-11-01T10:55:00Z",
            "open_breaks=",
            "INFO",
        ] {
            assert!(event.contains(field), "{field} missing from {event}");
        }
    }
    assert!(!stderr.contains(" records in · "), "{stderr}");

    // a terminal (util-linux `script` gives the run a pseudo-terminal): one line redrawn in
    // place, no progress events
    let dir = scenario("late_resolution");
    let out = follow_for(5, dir.path(), Some("script -qefc"));
    let screen = String::from_utf8_lossy(&out.stdout);
    let redrawn: Vec<&str> = screen
        .split('\r')
        .filter(|l| l.starts_with("10 records in · watermark 2026-11-01T10:55:00Z"))
        .collect();
    assert!(redrawn.len() >= 2, "{screen:?}");
    assert!(
        redrawn.iter().all(|l| l.contains(" open breaks")),
        "{screen:?}"
    );
    assert!(!screen.contains(" progress "), "{screen:?}");
}
