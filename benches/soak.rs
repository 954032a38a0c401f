//! Soak benchmark: streams generated traffic through `trueup run --follow` with retention for a
//! long time and records the process's resident memory, to show it stays flat.
//!
//! `cargo bench --bench soak` (defaults: a 12-minute warm-up, then 30 measured minutes, both
//! replayed at 480 simulated seconds per second — about 1,100 input lines/s; 16,000 payments
//! per simulated day; 4 workers, whose arrangements are a quarter of the state each, so that
//! merging one of them briefly doubles less memory than with 2 — see `docs/benchmarks.md`).
//! Settings come from the environment: `SOAK_WARMUP_MINUTES`, `SOAK_WARMUP_SPEED`,
//! `SOAK_MINUTES`, `SOAK_SPEED`, `SOAK_PAYMENTS_PER_DAY`, `SOAK_WORKERS`, `SOAK_DIR`, and
//! `SOAK_LONG_IDS=1`, which lengthens every event, payment, journal and entry id to 36 bytes
//! or more (UUID-like, as real PSP and ledger ids are), so that every id is held by hash and in
//! the run's dictionary of long names, which retention must then keep bounded too. Writes
//! `SOAK_DIR/rss.csv` (one sample every 10 s) and prints a report: resident memory over the
//! measured minutes — mean, minimum, maximum, the spread around the mean, and the mean of each
//! fifth.
//!
//! Traffic: the generator's payments and entries files, appended to the followed files in
//! event-time order as simulated time passes (line by line, cut nowhere). Refunds, chargebacks
//! and late journals trail their payments by up to days, so the line rate climbs for the first
//! simulated days; the warm-up covers most of that climb (12 min × 480 = 4 simulated days; a
//! faster `SOAK_WARMUP_SPEED` covers more, if the machine keeps up), and the traffic is generated
//! for the whole run at one payment rate.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use trueup::generate::{generate, GenerateOptions};
use trueup::model::time::{format_rfc3339, parse_rfc3339, Millis};
use trueup::runtime::job::default_config_toml;

mod common;
use common::{setting, status_kib};

/// A generated file replayed by event time into a followed file.
struct Replay {
    lines: std::io::Lines<BufReader<File>>,
    next: Option<(Option<Millis>, String)>,
    out: File,
    field: &'static str,
    written: u64,
    long_ids: bool,
}

/// The generator's id prefixes, and what `SOAK_LONG_IDS` makes of them: 24 more bytes.
const LONG_IDS: [(&str, &str); 3] = [
    (r#":"evt_"#, r#":"evt_9f0a2f1c-6d8e-4b37-0b9f-"#),
    (r#":"pay_"#, r#":"pay_3e6a41d7-9f0a-4c2e-8b1d-"#),
    (r#":"j_"#, r#":"j_2c3e6a41-4d7e-9f0a-2f1c-6d8e-"#),
];

impl Replay {
    fn open(from: &Path, to: &Path, field: &'static str, long_ids: bool) -> Replay {
        Replay {
            lines: BufReader::new(File::open(from).expect("generated file")).lines(),
            next: None,
            out: File::create(to).expect("followed file"),
            field,
            written: 0,
            long_ids,
        }
    }

    /// `line` as fed: with long ids, every id lengthened.
    fn fed(&self, line: String) -> String {
        match self.long_ids {
            false => line,
            true => (LONG_IDS.iter()).fold(line, |line, (from, to)| line.replace(from, to)),
        }
    }

    /// The event time of a line (`None` for a line without one: it goes at once).
    fn time_of(&self, line: &str) -> Option<Millis> {
        let key = format!("\"{}\":\"", self.field);
        let start = line.find(&key)? + key.len();
        let end = start + line[start..].find('"')?;
        parse_rfc3339(&line[start..end]).ok()
    }

    /// Appends every line whose event time is at or before `now`; false once exhausted.
    fn until(&mut self, now: Millis) -> bool {
        let mut batch = String::new();
        loop {
            if self.next.is_none() {
                let Some(Ok(line)) = self.lines.next() else {
                    break;
                };
                self.next = Some((self.time_of(&line), self.fed(line)));
            }
            let (at, line) = self.next.as_ref().expect("filled above");
            if at.is_some_and(|at| at > now) {
                break;
            }
            batch.push_str(line);
            batch.push('\n');
            self.written += 1;
            self.next = None;
        }
        self.out
            .write_all(batch.as_bytes())
            .expect("append to the followed file");
        self.next.is_some()
    }
}

/// The followed pipeline: the standard rules with 6 h grace, retention, `workers` workers.
fn config_text(dir: &Path, workers: u64) -> String {
    let live = dir.join("live");
    let (payments, entries) = (live.join("payments.jsonl"), live.join("entries.jsonl"));
    default_config_toml(&payments, &entries, &dir.join("out"), workers as usize)
        + r#"
[[rules]]
kind = "payment_ledger"
grace_hours = 6

[[rules]]
kind = "journal_balance"
grace_hours = 6

[retention]
settled_hours = 6
breaks_hours = 12
dedupe_hours = 24
"#
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and `cargo test --benches` probe; nothing to list
    }
    let warmup = setting("SOAK_WARMUP_MINUTES", 12);
    let minutes = setting("SOAK_MINUTES", 30);
    let per_day = setting("SOAK_PAYMENTS_PER_DAY", 16_000);
    let speed = setting("SOAK_SPEED", 480);
    let warmup_speed = setting("SOAK_WARMUP_SPEED", speed);
    let workers = setting("SOAK_WORKERS", 4);
    let long_ids = setting("SOAK_LONG_IDS", 0) == 1;
    // payments for every simulated day of the run, and one more
    let days = (warmup * warmup_speed + minutes * speed) * 60 / 86_400 + 2;
    let payments = (per_day * days) as usize;
    let dir = std::env::var("SOAK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("soak"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("live")).expect("soak folder");

    let options = GenerateOptions {
        seed: 7,
        payments,
        days,
        ..GenerateOptions::default()
    };
    let generated = generate(&dir.join("data"), &options).expect("generate traffic");
    let config = dir.join("config.toml");
    std::fs::write(&config, config_text(&dir, workers)).expect("write config");
    let mut feeds = [
        Replay::open(
            &generated.payments,
            &dir.join("live/payments.jsonl"),
            "occurred_at",
            long_ids,
        ),
        Replay::open(
            &generated.entries,
            &dir.join("live/entries.jsonl"),
            "booked_at",
            long_ids,
        ),
    ];

    let log = File::create(dir.join("trueup.log")).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_trueup"))
        .args(["run", "--follow", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start trueup");
    let pid = child.id();

    let start_event = parse_rfc3339("2026-11-01T00:00:00Z").expect("constant");
    let warmup_end = Duration::from_secs(warmup * 60);
    let simulated = |elapsed: Duration| -> Millis {
        let fast = elapsed.min(warmup_end).as_millis() as u64 * warmup_speed;
        let steady = elapsed.saturating_sub(warmup_end).as_millis() as u64 * speed;
        start_event + fast + steady
    };
    let started = Instant::now();
    let mut samples: Vec<(u64, u64, u64)> = Vec::new(); // (seconds, lines written, RSS KiB)
    let mut csv = File::create(dir.join("rss.csv")).expect("rss.csv");
    writeln!(csv, "seconds,simulated_time,lines_written,rss_mib").expect("write");
    let mut next_sample = Duration::ZERO;
    let duration = Duration::from_secs((warmup + minutes) * 60);
    while started.elapsed() < duration {
        let now = simulated(started.elapsed());
        let more = feeds.iter_mut().fold(false, |more, f| f.until(now) | more);
        if started.elapsed() >= next_sample {
            let lines: u64 = feeds.iter().map(|f| f.written).sum();
            let rss = status_kib(pid, "VmRSS").unwrap_or(0);
            let seconds = started.elapsed().as_secs();
            writeln!(
                csv,
                "{seconds},{},{lines},{}",
                format_rfc3339(now),
                rss / 1024
            )
            .expect("write");
            println!(
                "{seconds:>5} s  {}  {lines:>9} lines  {:>6} MiB",
                format_rfc3339(now),
                rss / 1024
            );
            samples.push((seconds, lines, rss));
            next_sample += Duration::from_secs(10);
        }
        if !more {
            println!("traffic exhausted after {:?}", started.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let stopped = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(stopped.success());
    let output = child.wait_with_output().expect("trueup exits");
    assert!(
        output.status.success(),
        "trueup exited with {}",
        output.status
    );

    let steady: Vec<u64> = samples
        .iter()
        .filter(|s| s.0 >= warmup * 60)
        .map(|s| s.2)
        .collect();
    let mean = steady.iter().sum::<u64>() / steady.len().max(1) as u64;
    let (min, max) = (
        steady.iter().copied().min().unwrap_or(0),
        steady.iter().copied().max().unwrap_or(0),
    );
    let lines: u64 = feeds.iter().map(|f| f.written).sum();
    println!(
        "\nsoak: {warmup} min warm-up at {warmup_speed}x + {minutes} min measured at {speed}x, \
         {workers} workers, {lines} lines fed, {payments} payments over {days} days generated, \
         {} ids",
        if long_ids {
            "long (36+ byte)"
        } else {
            "short (under 16 byte)"
        }
    );
    println!(
        "after warm-up ({} samples): RSS mean {} MiB, min {} MiB ({}), max {} MiB ({})",
        steady.len(),
        mean / 1024,
        min / 1024,
        percent(min, mean),
        max / 1024,
        percent(max, mean)
    );
    let fifths: Vec<String> = steady
        .chunks(steady.len().div_ceil(5).max(1))
        .map(|part| {
            let m = part.iter().sum::<u64>() / part.len() as u64;
            format!("{} MiB ({})", m / 1024, percent(m, mean))
        })
        .collect();
    println!("mean of each fifth: {}", fifths.join(", "));
    print!("{}", String::from_utf8_lossy(&output.stdout));
}

/// `value` relative to `base`, as a signed percentage with one decimal.
fn percent(value: u64, base: u64) -> String {
    let tenths = (value as i64 - base as i64) * 1000 / base.max(1) as i64;
    let sign = if tenths < 0 { "-" } else { "+" };
    format!("{sign}{}.{}%", tenths.abs() / 10, tenths.abs() % 10)
}
