//! Helpers the bench binaries share: settings from the environment, and a process's memory.
//! Every bench that includes them allocates as the `trueup` binary does, with mimalloc: a bench
//! that runs the dataflow in its own process measures what production runs.
#![allow(dead_code)] // each bench uses its own subset

/// The `trueup` binary's allocator (see `src/main.rs`), for the dataflow run in this process.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod peer;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Instant;

use trueup::generate::{generate, GenerateOptions, TruthMeta};
use trueup::model::{Record, Stream};
use trueup::sources::parse::json_line;
use trueup::sources::text;

/// The environment variable `name` as a number, or `default`.
pub fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A field of `/proc/<pid>/status` in KiB: `VmRSS` (resident now) or `VmHWM` (the peak).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The generator's data for `payments` payments (default seed) in `data`, generated only if it
/// is not there yet (`truth-meta.json` is written last); returns its totals.
pub fn generated(data: &Path, payments: usize) -> TruthMeta {
    let meta = data.join("truth-meta.json");
    if !meta.exists() {
        let started = Instant::now();
        let options = GenerateOptions {
            payments,
            ..GenerateOptions::default()
        };
        generate(data, &options).expect("generate");
        eprintln!("generated {payments} payments in {:.1?}", started.elapsed());
    }
    serde_json::from_str(&std::fs::read_to_string(meta).expect("truth-meta.json"))
        .expect("truth meta")
}

/// Every valid record of the JSON-lines file at `path`, parsed by trueup's own parser, in file
/// order (the lines it would refuse are skipped).
pub fn records(path: &Path, stream: Stream) -> Vec<Record> {
    let file = std::fs::File::open(path).expect("input file");
    let mut records = Vec::new();
    for line in BufReader::with_capacity(1 << 20, file).split(b'\n') {
        let line = line.expect("read");
        let parsed = text("line", &line).and_then(|text| json_line(stream, text));
        records.extend(parsed.ok());
    }
    records
}
