//! End-to-end benchmark: `trueup run` over generated files, against a naive baseline.
//!
//! `cargo bench --bench e2e` generates `E2E_PAYMENTS` payments (default 1,000,000, about 13M
//! ledger entries) once into `E2E_DIR` (default `target/e2e-<payments>`; kept and reused by
//! later runs), then
//!
//! - runs the release `trueup run` (files in, files out, no store, `E2E_WORKERS` workers,
//!   default 2) and measures its wall time and peak resident memory (`VmHWM`, polled);
//! - runs the baseline in a child process of this bench: the same files parsed by trueup's own
//!   parser, then reconciled by [`trueup_testing::oracle::final_state`] — single-threaded hash maps and
//!   sets over all records, no dataflow, no output files;
//!
//! - runs the DuckDB peer ([`common::peer`]): one batch SQL job over the same files, both
//!   standard rules with exact DECIMAL, in a cached virtualenv with DuckDB from PyPI (skipped,
//!   saying why, only when that cannot be installed);
//!
//! trueup and DuckDB run `E2E_RUNS` times each (default 3), alternating, and their medians are
//! reported. It prints, for each: input lines, wall time, input lines per second, peak resident
//! memory and bytes of it per accepted record (every record is open in a batch run: nothing
//! retires), with trueup's ratios against DuckDB and the baseline; and checks that trueup and
//! DuckDB count the same groups for every rule and status, and the baseline the same groups.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use trueup::config::Config;
use trueup::model::summary::Summary;
use trueup::model::time::Tick;
use trueup::runtime::job::default_config_toml;

mod common;
use common::peer::{self, Counts};
use common::{generated, records, setting, status_kib};

/// Runs `command` to its end, polling its peak resident memory; returns wall time and peak.
fn measured(command: &mut Command) -> (Duration, u64) {
    let started = Instant::now();
    let mut child = command.spawn().expect("start the contender");
    let mut peak = 0;
    loop {
        peak = peak.max(status_kib(child.id(), "VmHWM").unwrap_or(0));
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "{command:?}: {status}");
            return (started.elapsed(), peak);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The baseline, in this (child) process: parse every line, reconcile with the oracle.
fn baseline(config: &Path) {
    let config = Config::load(config).expect("config");
    let records: Vec<_> = (config.sources.iter())
        .flat_map(|s| records(s.path.as_ref().expect("a file source"), s.stream))
        .collect();
    let tick = Tick(config.pipeline.tick_millis);
    let state = trueup_testing::oracle::final_state(&records, &config.rules, tick);
    println!("{}", state.len());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and `cargo test --benches` probe; nothing to list
    }
    if let [_, mode, config] = &args[..] {
        if mode == "baseline" {
            return baseline(Path::new(config));
        }
    }
    let payments = setting("E2E_PAYMENTS", 1_000_000);
    let workers = setting("E2E_WORKERS", 2);
    let dir = std::env::var("E2E_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(format!("target/e2e-{payments}")));
    // (absolute: the config's paths would be taken relative to its own folder)
    let dir = std::path::absolute(dir).expect("E2E_DIR");
    let data = dir.join("data");
    let meta = generated(&data, payments as usize);
    let lines = meta.payment_lines + meta.entry_lines + meta.invalid_lines;
    let accepted = meta.payment_lines + meta.entry_lines;
    let out = dir.join(format!("out-{workers}"));
    let config = dir.join(format!("e2e-{workers}.toml"));
    let (payments_file, entries_file) = (data.join("payments.jsonl"), data.join("entries.jsonl"));
    let text = default_config_toml(&payments_file, &entries_file, &out, workers as usize);
    std::fs::write(&config, text).expect("config");

    let runs = setting("E2E_RUNS", 3).max(1) as usize;
    let loaded = Config::load(&config).expect("config");
    let duckdb = peer::python()
        .map_err(|why| println!("DuckDB peer skipped: {why}"))
        .ok();
    let (mut trueup_runs, mut duckdb_runs) = (Vec::new(), Vec::new());
    let mut duckdb_counts = None;
    for _ in 0..runs {
        trueup_runs.push(measured(
            Command::new(env!("CARGO_BIN_EXE_trueup"))
                .args(["run", "--config"])
                .arg(&config)
                .stdout(Stdio::null()),
        ));
        if let Some(python) = &duckdb {
            let counts_file = dir.join("duckdb-counts.json");
            let stdout = std::fs::File::create(&counts_file).expect("peer output");
            duckdb_runs.push(measured(
                peer::command(python, &loaded, &dir).stdout(stdout),
            ));
            let text = std::fs::read_to_string(&counts_file).expect("peer output");
            duckdb_counts = Some(serde_json::from_str::<Counts>(&text).expect("peer counts"));
        }
    }
    let summary: Summary = serde_json::from_str(
        &std::fs::read_to_string(out.join("summary.json")).expect("summary.json"),
    )
    .expect("summary");
    let trueup_counts = peer::counts(&summary);
    let trueup_groups: u64 = trueup_counts.values().sum();

    let state_file = dir.join("baseline-groups.txt");
    let baseline = measured(
        Command::new(std::env::current_exe().expect("this bench"))
            .arg("baseline")
            .arg(&config)
            .stdout(std::fs::File::create(&state_file).expect("baseline output")),
    );
    let base_groups: u64 = (std::fs::read_to_string(&state_file).expect("baseline output"))
        .trim()
        .parse()
        .expect("group count");

    println!(
        "e2e: {payments} payments, {lines} input lines ({accepted} accepted), trueup on \
         {workers} workers; medians of {runs} runs (the baseline: one)"
    );
    println!("| | wall | input lines/s | peak RSS | bytes per open record | result groups |");
    println!("|---|---|---|---|---|---|");
    let trueup = median(&trueup_runs);
    let mut rows = vec![("trueup run", trueup, trueup_groups)];
    if let Some(counts) = &duckdb_counts {
        rows.push((
            "DuckDB batch SQL",
            median(&duckdb_runs),
            counts.values().sum(),
        ));
    }
    rows.push(("naive baseline", baseline, base_groups));
    for (name, (wall, peak), groups) in &rows {
        println!(
            "| {name} | {:.2} s | {:.0} | {} MiB | {} | {groups} |",
            wall.as_secs_f64(),
            lines as f64 / wall.as_secs_f64(),
            peak / 1024,
            peak * 1024 / accepted.max(1),
        );
    }
    for (name, (wall, peak), _) in &rows[1..] {
        println!(
            "trueup / {name}: wall {:.2}×, peak RSS {:.2}×",
            trueup.0.as_secs_f64() / wall.as_secs_f64(),
            trueup.1 as f64 / (*peak).max(1) as f64
        );
    }
    if let Some(counts) = &duckdb_counts {
        assert_eq!(
            &trueup_counts, counts,
            "trueup and DuckDB disagree on the groups per rule and status"
        );
        println!("trueup and DuckDB agree on every rule and status: {counts:?}");
    }
    assert_eq!(
        trueup_groups, base_groups,
        "trueup and the baseline disagree on the number of result groups"
    );
}

/// The median wall time and the median peak of `runs` (each taken on its own).
fn median(runs: &[(Duration, u64)]) -> (Duration, u64) {
    let mut walls: Vec<Duration> = runs.iter().map(|r| r.0).collect();
    let mut peaks: Vec<u64> = runs.iter().map(|r| r.1).collect();
    walls.sort();
    peaks.sort();
    (walls[walls.len() / 2], peaks[peaks.len() / 2])
}
