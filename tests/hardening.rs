//! What a hostile but fair user found, each reproduced against the `trueup` binary and now
//! refused or handled: nothing is destroyed, and bad values are refused at start by key.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{trueup, Dice};

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
        (
            config(ok.0, ok.1, ok.2, Some("out/store.db")) + "head_log = \"in/entries.jsonl\"\n",
            "store.head_log",
            "sources[1].path",
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

#[test]
fn workers_and_processes_beyond_their_bounds_are_refused_by_key() {
    let dir = workspace();
    let text = format!(
        "[pipeline]\nworkers = 1000\n{}",
        config("out/r.jsonl", "out/d.jsonl", "out/s.json", None)
    );
    let output = run(dir.path(), &text);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("`pipeline.workers`: must be from 1 to 128"),
        "{stderr}"
    );
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        config("out/r.jsonl", "out/d.jsonl", "out/s.json", None),
    )
    .unwrap();
    let output = trueup()
        .args([
            "run",
            "--processes",
            "1000",
            "--process",
            "0",
            "--hosts",
            "h",
            "--config",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("--processes must be from 1 to 64"),
        "{stderr}"
    );
    // `demo` refuses what `run` refuses, before generating anything
    for workers in ["0", "1000"] {
        let out = dir.path().join(format!("demo-{workers}"));
        let output = trueup()
            .args(["demo", "--payments", "10", "--workers", workers, "--out"])
            .arg(&out)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("`pipeline.workers`: must be from 1 to 128"),
            "{stderr}"
        );
        assert!(!out.join("data").exists(), "nothing generated");
    }
}

/// A run stopped by SIGTERM completes what it read before exiting; a second SIGTERM during that
/// exits at once, with status 130.
#[test]
fn a_second_sigterm_forces_the_exit() {
    let dir = tempfile::tempdir().unwrap();
    let options = trueup::generate::GenerateOptions {
        payments: 40_000,
        ..Default::default()
    };
    let generated = trueup::generate::generate(&dir.path().join("in"), &options).unwrap();
    let text = trueup::runtime::job::default_config_toml(
        &generated.payments,
        &generated.entries,
        &dir.path().join("out"),
        1,
    );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    let mut child = trueup()
        .args(["run", "--config"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let results = dir.path().join("out/results.jsonl");
    let started = std::time::Instant::now();
    // well into the run: the first results are out
    while std::fs::metadata(&results).map_or(0, |m| m.len()) == 0 {
        assert!(
            started.elapsed().as_secs() < 120,
            "no results after 2 minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    let term = || {
        let status = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(status.unwrap().success());
    };
    term();
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first SIGTERM's stop completes what was read: it takes a while"
    );
    term();
    let second = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            second.elapsed().as_secs() < 5,
            "still running after the second SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(130), "{status}");
}

#[test]
fn numeric_keys_out_of_range_are_refused_by_key() {
    let dir = workspace();
    let sinks = config("out/r.jsonl", "out/d.jsonl", "out/s.json", None);
    for (pipeline, message) in [
        (
            "tick_millis = 18446744073709551615",
            "`pipeline.tick_millis`: must be from 1 to 86400000",
        ),
        (
            "tick_millis = 0",
            "`pipeline.tick_millis`: must be from 1 to 86400000",
        ),
        (
            "max_future_hours = 0",
            "`pipeline.max_future_hours`: must be from 1 to 87600",
        ),
    ] {
        let output = run(dir.path(), &format!("[pipeline]\n{pipeline}\n{sinks}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(message),
            "{pipeline}: {stderr}"
        );
    }
}

#[test]
fn an_unwritable_summary_path_fails_at_start() {
    let dir = workspace();
    let text = config(
        "out/r.jsonl",
        "out/d.jsonl",
        "in/payments.jsonl/summary.json",
        None,
    );
    let output = run(dir.path(), &text);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("summary.json"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("out/r.jsonl").exists(),
        "nothing was run before the refusal"
    );
}

#[test]
fn an_event_dated_beyond_the_horizon_is_a_dead_letter_and_moves_no_watermark() {
    let dir = workspace();
    let far = r#"{"event_id":"evt_far","payment_id":"pay_far","type":"capture","amount":"1.00","currency":"USD","occurred_at":"9999-12-31T23:59:59Z"}"#;
    let payments = dir.path().join("in/payments.jsonl");
    let mut text = std::fs::read_to_string(&payments).unwrap();
    text.push_str(far);
    text.push('\n');
    std::fs::write(&payments, text).unwrap();
    let sinks = config("out/r.jsonl", "out/d.jsonl", "out/s.json", None);
    let output = run(
        dir.path(),
        &format!("[pipeline]\nmax_future_hours = 24\n{sinks}"),
    );
    assert!(output.status.success(), "{output:?}");
    let dead = std::fs::read_to_string(dir.path().join("out/d.jsonl")).unwrap();
    let refused: Vec<&str> = dead.lines().filter(|l| l.contains("evt_far")).collect();
    assert_eq!(refused.len(), 1, "{dead}");
    assert!(
        refused[0].contains("payments.jsonl:7")
            && refused[0].contains(
                "event time 9999-12-31T23:59:59Z is more than 24 hours ahead of the wall clock"
            ),
        "{}",
        refused[0]
    );
    // the rest reconciles as without it: no result is due in year 9999, none written as `@…ms`
    let results = std::fs::read_to_string(dir.path().join("out/r.jsonl")).unwrap();
    assert!(
        !results.contains("9999") && !results.contains("ms\""),
        "{results}"
    );
    assert!(!results.contains("pay_far"), "{results}");
}

#[test]
fn a_match_account_no_entry_is_booked_on_is_reported_not_silent() {
    let dir = workspace();
    let sinks = config("out/r.jsonl", "out/d.jsonl", "out/s.json", None);
    let rules = "[[rules]]\nkind = \"payment_ledger\"\nmatch_accounts = [\"psp_receivable\", \"psp_receivabel\"]\n";
    let output = run(dir.path(), &format!("{sinks}\n{rules}"));
    assert!(output.status.success(), "{output:?}");
    let warning = r#"match account "psp_receivabel" is on no entry"#;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("warning        {warning}")),
        "{stdout}"
    );
    let summary = std::fs::read_to_string(dir.path().join("out/s.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let warnings = summary["warnings"].as_array().expect("warnings");
    assert_eq!(
        warnings.len(),
        1,
        "{warnings:?}: the account entries are on is not named"
    );
    assert!(warnings[0].as_str().unwrap().starts_with(warning));
}

#[test]
fn an_id_with_a_nul_character_is_a_dead_letter_and_the_store_verifies() {
    let dir = workspace();
    let nul = r#"{"event_id":"evt_\u0000x","payment_id":"pay_9","type":"capture","amount":"1.00","currency":"USD","occurred_at":"2026-11-01T10:00:00Z"}"#;
    let payments = dir.path().join("in/payments.jsonl");
    let mut text = std::fs::read_to_string(&payments).unwrap();
    text.push_str(nul);
    text.push('\n');
    std::fs::write(&payments, text).unwrap();
    let sinks = config(
        "out/r.jsonl",
        "out/d.jsonl",
        "out/s.json",
        Some("out/trueup.db"),
    );
    let output = run(dir.path(), &sinks);
    assert!(output.status.success(), "{output:?}");
    let dead = std::fs::read_to_string(dir.path().join("out/d.jsonl")).unwrap();
    assert!(
        dead.contains("payments.jsonl:7")
            && dead.contains("field `event_id` contains a NUL character (U+0000)"),
        "{dead}"
    );
    let verified = trueup()
        .args(["verify", "--store", "out/trueup.db"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(verified.status.success(), "{verified:?}");
}

/// A TOML value: in range, out of range, of the wrong type, or nested.
fn toml_value(dice: &mut Dice) -> String {
    let values = [
        "0",
        "1",
        "2",
        "-1",
        "1000",
        "65536",
        "9223372036854775807",
        "-9223372036854775808",
        "0.5",
        "-0.0",
        "1e300",
        "nan",
        "inf",
        "true",
        "false",
        "\"\"",
        "\"x\"",
        "\"payments\"",
        "\"entries\"",
        "\"out/r.jsonl\"",
        "\"in/payments.jsonl\"",
        "\"csv\"",
        "\"jsonl\"",
        "\"127.0.0.1:1\"",
        "\"sqlite:x.db\"",
        "\"postgres://127.0.0.1:1/x\"",
        "\"\\u0000\"",
        "\"../../x\"",
        "[]",
        "[1, 2]",
        "[\"a\", \"b\"]",
        "{}",
        "{ x = 1 }",
        "1979-05-27T07:32:00Z",
        "\"psp_receivable\"",
        "\"payment_ledger\"",
        "\"journal_balance\"",
    ];
    dice.pick(&values).to_string()
}

#[test]
fn random_configs_are_refused_or_accepted_never_a_panic() {
    let tables = [
        "[pipeline]",
        "[[sources]]",
        "[sinks]",
        "[store]",
        "[retention]",
        "[[rules]]",
        "[rules.tolerance]",
        "[kafka]",
        "[pipeline.cluster]",
        "[[rules.tolerance.currencies]]",
        "[nonsense]",
    ];
    let keys = [
        "workers",
        "batch_size",
        "tick_millis",
        "follow",
        "max_future_hours",
        "stream",
        "path",
        "format",
        "allowed_lateness_seconds",
        "idle_timeout_seconds",
        "topic",
        "results",
        "dead_letters",
        "summary",
        "results_topic",
        "dead_letters_topic",
        "url",
        "commit_interval_millis",
        "settled_hours",
        "breaks_hours",
        "dedupe_hours",
        "granularity_minutes",
        "kind",
        "name",
        "grace_hours",
        "match_accounts",
        "absolute",
        "relative_bps",
        "brokers",
        "timeout_seconds",
        "properties",
        "hosts",
        "process",
        "unknown_key",
        "currency",
    ];
    let base = Path::new("/nonexistent-base");
    let mut dice = Dice::new(0xC0FF_EE00_D15E_A5E5);
    let mut accepted = 0;
    for case in 0..3000 {
        // half the cases start from a valid config, so that some of them stay valid
        let mut text = match dice.below(2) {
            0 => config("out/r.jsonl", "out/d.jsonl", "out/s.json", None),
            _ => String::new(),
        };
        for _ in 0..dice.below(4) {
            text.push_str(dice.pick(&tables));
            text.push('\n');
            for _ in 0..dice.below(6) {
                text.push_str(&format!(
                    "{} = {}\n",
                    dice.pick(&keys),
                    toml_value(&mut dice)
                ));
            }
        }
        let parsed = std::panic::catch_unwind(|| {
            trueup::config::Config::from_toml(&text, base)
                .map(|c| c.validate().map(|_| c.fingerprint()))
        });
        match parsed {
            Err(_) => panic!("case {case} panicked on:\n{text}"),
            Ok(Ok(Ok(_))) => accepted += 1,
            Ok(_) => {}
        }
    }
    // the generator reaches valid configs too, not only refusals
    assert!(accepted > 0, "no random config was accepted");
}

/// Runs `config` (in `dir`) with the debug binary; the exit status and stderr, which must come
/// within `limit`.
fn run_within(dir: &Path, config: &Path, limit: std::time::Duration) -> (i32, String) {
    let mut child = trueup()
        .args(["run", "--config"])
        .arg(config)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            return (status.code().unwrap_or(-1), stderr);
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            panic!("still running after {limit:?}: a failed write must end the run");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Generated traffic and a config with a SQLite store in `dir`, `workers` workers.
fn store_run(dir: &Path, workers: usize, extra: &str) -> PathBuf {
    if !dir.join("data").exists() {
        let options = trueup::generate::GenerateOptions {
            seed: 3,
            payments: 20000,
            ..trueup::generate::GenerateOptions::default()
        };
        trueup::generate::generate(&dir.join("data"), &options).unwrap();
    }
    let _ = std::fs::remove_dir_all(dir.join("out"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("store.db{suffix}")));
    }
    let config = dir.join(format!("store-{workers}.toml"));
    let text = format!(
        "[pipeline]\nworkers = {workers}\nbatch_size = 500\n\n[[sources]]\nstream = \"payments\"\npath = \"data/payments.jsonl\"\n\n[[sources]]\nstream = \"entries\"\npath = \"data/entries.jsonl\"\n\n[sinks]\nresults = \"out/results.jsonl\"\ndead_letters = \"out/dead.jsonl\"\n\n[store]\nurl = \"{}\"\ncommit_interval_millis = 50\n{extra}\n",
        dir.join("store.db").display()
    );
    std::fs::write(&config, text).unwrap();
    config
}

#[test]
fn a_failed_head_log_write_ends_the_run_with_the_error_on_any_number_of_workers() {
    let dir = tempfile::tempdir().unwrap();
    for workers in [1, 2, 4] {
        let config = store_run(dir.path(), workers, "head_log = \"/dev/full\"");
        let limit = std::time::Duration::from_secs(60);
        let (code, stderr) = run_within(dir.path(), &config, limit);
        assert_eq!(code, 1, "{workers} workers: {stderr}");
        assert!(stderr.contains("/dev/full"), "{workers} workers: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn a_store_locked_by_another_connection_ends_the_run_with_the_error() {
    let dir = tempfile::tempdir().unwrap();
    for workers in [1, 2, 4] {
        let config = store_run(dir.path(), workers, "");
        let url = dir.path().join("store.db").display().to_string();
        let mut child = trueup()
            .args(["run", "--config"])
            .arg(&config)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // once the run has committed, another connection takes the store and holds it
        let started = std::time::Instant::now();
        while common::commits(&url) < 1 {
            assert!(started.elapsed().as_secs() < 60, "no commit");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let mut lock = trueup::store::db::Db::open(&url, false).unwrap();
        lock.batch("BEGIN EXCLUSIVE").unwrap();
        let locked = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                locked.elapsed().as_secs() < 90,
                "{workers} workers: still running"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        drop(lock);
        assert!(
            !status.success(),
            "{workers} workers: finished before the lock: {stderr}"
        );
        assert!(stderr.contains("locked"), "{workers} workers: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
