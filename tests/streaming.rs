//! Streaming: following growing files (stream = batch), exact aging as the watermark moves,
//! retention that leaves results untouched, and a clean stop on SIGTERM.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use trueup::config::{Config, RetentionConfig};
use trueup::generate::{generate, GenerateOptions};
use trueup::model::summary::final_state;
use trueup::runtime::job::default_config;
use trueup::runtime::{run_collect, run_collect_until, Control, RunOutput};

/// Waits (up to a minute) until `done` holds.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn append(path: &Path, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    file.write_all(bytes).unwrap();
    file.flush().unwrap();
}

/// A following run of `config` in a thread, collecting its outputs.
struct Live {
    control: Control,
    thread: std::thread::JoinHandle<RunOutput>,
}

impl Live {
    fn start(config: &Config) -> Live {
        let mut config = config.clone();
        config.pipeline.follow = true;
        let control = Control::default();
        let worker_control = control.clone();
        let thread =
            std::thread::spawn(move || run_collect_until(&config, &worker_control).unwrap());
        Live { control, thread }
    }

    fn lines_read(&self) -> u64 {
        self.control.lines_read.load(Ordering::Relaxed)
    }

    fn stop(self) -> RunOutput {
        self.control.request_stop();
        self.thread.join().unwrap()
    }
}

fn line_count(path: &Path) -> u64 {
    std::fs::read(path)
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64
}

/// Feeds the generated files into empty ones in random chunks (cut anywhere, even inside a
/// line) at a random pace, alternating between the two, while a following run reads them.
fn feed_live(config: &Config, from: [&Path; 2], seed: u64) -> RunOutput {
    // same file names as the batch input, so positions in dead letters compare equal
    let dir = config.sources[0]
        .path
        .as_ref()
        .unwrap()
        .parent()
        .unwrap()
        .join("live");
    std::fs::create_dir_all(&dir).unwrap();
    let targets: Vec<PathBuf> = from
        .iter()
        .map(|p| dir.join(p.file_name().unwrap()))
        .collect();
    for target in &targets {
        std::fs::write(target, b"").unwrap();
    }
    let mut live_config = config.clone();
    for (source, target) in live_config.sources.iter_mut().zip(&targets) {
        source.path = Some(target.clone());
    }
    let live = Live::start(&live_config);
    let contents: Vec<Vec<u8>> = from.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let mut offsets = [0usize; 2];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    while offsets.iter().zip(&contents).any(|(o, c)| *o < c.len()) {
        let which = rng.random_range(0..2);
        let (offset, content) = (offsets[which], &contents[which]);
        let end = (offset + rng.random_range(1..20_000)).min(content.len());
        append(&targets[which], &content[offset..end]);
        offsets[which] = end;
        if rng.random_range(0..4) == 0 {
            std::thread::sleep(Duration::from_millis(rng.random_range(0..15)));
        }
    }
    let total = from.iter().map(|p| line_count(p)).sum::<u64>();
    wait_for("the live run to read every line", || {
        live.lines_read() == total
    });
    live.stop()
}

fn generated(dir: &Path, seed: u64, payments: usize, days: u64) -> Config {
    let options = GenerateOptions {
        seed,
        payments,
        days,
        ..GenerateOptions::default()
    };
    let g = generate(dir, &options).unwrap();
    default_config(&g.payments, &g.entries, &dir.join("out"), 2)
}

#[test]
fn following_growing_files_gives_the_batch_changelog() {
    let dir = tempfile::tempdir().unwrap();
    let config = generated(dir.path(), 21, 300, 10);
    let batch = run_collect(&config).unwrap();
    assert_eq!(batch.counters.late, 0);
    let from = [
        config.sources[0].path.clone().unwrap(),
        config.sources[1].path.clone().unwrap(),
    ];
    for seed in [1, 2] {
        let live = feed_live(&config, [&from[0], &from[1]], seed);
        assert_eq!(live.counters.late, 0, "no record was late, live either");
        assert_eq!(live.counters.accepted, batch.counters.accepted);
        assert_eq!(
            final_state(&live.changelog),
            final_state(&batch.changelog),
            "final state, feed {seed}"
        );
        assert_eq!(live.changelog, batch.changelog, "changelog, feed {seed}");
        let mut dead = (live.dead_letters, batch.dead_letters.clone());
        dead.0.sort();
        dead.1.sort();
        assert_eq!(dead.0, dead.1, "dead letters, feed {seed}");
    }
}

#[test]
fn following_with_late_records_gives_the_batch_final_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = generated(dir.path(), 22, 600, 10);
    config.pipeline.batch_size = 50;
    for source in &mut config.sources {
        source.allowed_lateness_seconds = 0;
    }
    let batch = run_collect(&config).unwrap();
    assert!(
        batch.counters.late > 0,
        "out-of-order input is late with no allowed lateness"
    );
    let from = [
        config.sources[0].path.clone().unwrap(),
        config.sources[1].path.clone().unwrap(),
    ];
    // (live, how many records are late depends on the pace of the feed)
    let live = feed_live(&config, [&from[0], &from[1]], 3);
    assert_eq!(final_state(&live.changelog), final_state(&batch.changelog));
}

/// The changelog lines of one group, as (time, diff, status).
fn lines_of(results: &Path, rule: &str, key: &str) -> Vec<(String, i64, String)> {
    std::fs::read_to_string(results)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["rule"] == rule && v["key"] == key)
        .map(|v| {
            (
                v["time"].as_str().unwrap().to_string(),
                v["diff"].as_i64().unwrap(),
                v["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn payment(id: &str, at: &str) -> String {
    format!(
        r#"{{"event_id":"evt_{id}","payment_id":"{id}","type":"capture","amount":"10.00","currency":"USD","occurred_at":"{at}"}}"#
    ) + "\n"
}

fn journal(id: &str, at: &str) -> String {
    let entry = |n: u8, account: &str, direction: &str| {
        format!(
            r#"{{"entry_id":"ent_{id}_{n}","journal_id":"j_{id}","payment_id":"{id}","account":"{account}","direction":"{direction}","amount":"10.00","currency":"USD","booked_at":"{at}"}}"#
        ) + "\n"
    };
    entry(0, "psp_receivable", "debit") + &entry(1, "merchant_payable", "credit")
}

#[test]
fn a_group_breaks_once_the_watermark_passes_due_at_and_a_late_record_resolves_it() {
    let dir = tempfile::tempdir().unwrap();
    let (payments, entries) = (dir.path().join("p.jsonl"), dir.path().join("e.jsonl"));
    std::fs::write(&payments, b"").unwrap();
    std::fs::write(&entries, b"").unwrap();
    // one worker: with several, each takes every n-th line of a file, and its watermark
    // follows only its share — a worker whose last line is old holds time back until more
    // arrives (or its idle timeout passes)
    let mut config = default_config(&payments, &entries, &dir.path().join("out"), 1);
    config.pipeline.follow = true;
    for source in &mut config.sources {
        source.allowed_lateness_seconds = 0;
    }
    let results = config.sinks.results.clone().unwrap();
    let control = Control::default();
    let run_control = control.clone();
    let run_config = config.clone();
    let thread = std::thread::spawn(move || {
        trueup::runtime::job::execute(&run_config, &run_control).unwrap()
    });
    let lines = std::cell::Cell::new(0);
    // feeds one filler payment with its journal at `at`, moving both watermarks to `at`
    let advance = |n: &str, at: &str| {
        append(&payments, payment(n, at).as_bytes());
        append(&entries, journal(n, at).as_bytes());
        lines.set(lines.get() + 3);
        wait_for("the filler to be read", || {
            control.lines_read.load(Ordering::Relaxed) == lines.get()
        });
    };
    let ledger = |key: &str| lines_of(&results, "payment_ledger", key);

    // pay_a: captured at 00:00, never booked; its due_at is 72 h later
    append(
        &payments,
        payment("pay_a", "2026-11-01T00:00:00Z").as_bytes(),
    );
    lines.set(1);
    advance("fill_1", "2026-11-01T01:00:00Z");
    advance("fill_2", "2026-11-03T23:59:59Z");
    wait_for("fill_1 delivered", || !ledger("fill_1").is_empty());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        ledger("pay_a"),
        vec![("2026-11-01T00:00:00Z".into(), 1, "pending".into())],
        "one second before due_at, still pending"
    );
    advance("fill_3", "2026-11-04T00:00:00Z");
    advance("fill_4", "2026-11-04T00:00:02Z");
    wait_for("the break", || ledger("pay_a").len() == 3);
    assert_eq!(
        ledger("pay_a")[1..],
        [
            ("2026-11-04T00:00:01Z".into(), -1, "pending".into()),
            ("2026-11-04T00:00:01Z".into(), 1, "missing_ledger".into()),
        ],
        "the break at the tick boundary after due_at's tick (docs/architecture.md, Aging)"
    );
    // the ledger journal, booked at 00:00 on day 1, arrives three days late
    append(
        &entries,
        journal("pay_a", "2026-11-01T00:00:00Z").as_bytes(),
    );
    lines.set(lines.get() + 2);
    advance("fill_5", "2026-11-04T00:00:05Z");
    wait_for("the resolution", || ledger("pay_a").len() == 5);
    assert_eq!(
        ledger("pay_a")[3..],
        [
            ("2026-11-04T00:00:02Z".into(), -1, "missing_ledger".into()),
            ("2026-11-04T00:00:02Z".into(), 1, "matched".into()),
        ],
        "retraction and new assertion at one time: the input time the late entries met"
    );
    control.request_stop();
    let report = thread.join().unwrap();
    assert_eq!(report.counters.late, 2, "the two late entries were counted");
}

fn with_retention(config: &Config, hours: [u64; 3]) -> Config {
    let mut config = config.clone();
    config.retention = Some(RetentionConfig {
        settled_hours: hours[0],
        breaks_hours: hours[1],
        dedupe_hours: hours[2],
        granularity_minutes: 60,
    });
    config.validate().unwrap();
    config
}

#[test]
fn retention_leaves_the_changelog_unchanged_when_no_record_comes_back() {
    // 60 days of payments; a group's records span at most about 30 days, so a 35-day horizon
    // retires every group whose last event is more than 35 days before the end, and no record
    // arrives for a group after it retired
    let dir = tempfile::tempdir().unwrap();
    let config = generated(dir.path(), 23, 500, 60);
    let baseline = run_collect(&config).unwrap();
    for workers in [1, 2] {
        let mut retained = with_retention(&config, [840, 840, 840]);
        retained.pipeline.workers = workers;
        let out = run_collect(&retained).unwrap();
        assert_eq!(out.changelog, baseline.changelog, "{workers} workers");
        assert_eq!(out.summary, baseline.summary);
    }
}

#[test]
fn a_record_for_a_retired_group_starts_a_new_generation() {
    let dir = tempfile::tempdir().unwrap();
    let (payments, entries) = (dir.path().join("p.jsonl"), dir.path().join("e.jsonl"));
    let refund = r#"{"event_id":"evt_r","payment_id":"pay_a","type":"refund","amount":"4.00","currency":"USD","occurred_at":"2026-11-01T00:00:10Z"}"#;
    // pay_a matches at 00:00; fillers move the watermark 3 days on (read one line per source
    // at a time, the refund comes after both sources have moved); then a refund for pay_a
    // (event time 00:00:10, far behind the watermark) is delivered
    let text = [
        payment("pay_a", "2026-11-01T00:00:00Z"),
        payment("fill_1", "2026-11-04T00:00:00Z"),
        payment("fill_1b", "2026-11-04T00:00:00Z"),
        payment("fill_1c", "2026-11-04T00:00:00Z"),
        refund.to_string() + "\n",
        payment("fill_2", "2026-11-04T00:10:00Z"),
    ]
    .concat();
    std::fs::write(&payments, text).unwrap();
    let journals = [
        journal("pay_a", "2026-11-01T00:00:00Z"),
        journal("fill_1", "2026-11-04T00:00:00Z"),
        journal("fill_2", "2026-11-04T00:10:00Z"),
    ]
    .concat();
    std::fs::write(&entries, journals).unwrap();
    let mut config = default_config(&payments, &entries, &dir.path().join("out"), 1);
    config.pipeline.batch_size = 1;
    let ledger = |out: &RunOutput| {
        let state = final_state(&out.changelog);
        let mut rows: Vec<String> = state
            .keys()
            .filter(|r| r.rule == "payment_ledger" && r.key == "pay_a")
            .map(|r| format!("{} {}", r.status.as_str(), r.expected.unwrap()))
            .collect();
        rows.sort();
        rows
    };
    // without retention the refund joins the group: expected 6, actual 10, past its grace
    let kept_all = run_collect(&config).unwrap();
    assert_eq!(ledger(&kept_all), ["amount_mismatch 6.00"]);
    // with a 24 h horizon the matched group retired on day 2: its result stays as it was, and
    // the refund starts a new generation of pay_a on its own
    let retired = run_collect(&with_retention(&config, [24, 48, 48])).unwrap();
    assert_eq!(ledger(&retired), ["matched 10.00", "missing_ledger -4.00"]);
    let retractions = retired
        .changelog
        .iter()
        .filter(|(row, _, diff)| {
            row.key == "pay_a" && row.status.as_str() == "matched" && *diff < 0
        })
        .count();
    assert_eq!(
        retractions, 0,
        "retirement never retracts the matched result"
    );
}

#[test]
fn a_quiet_source_stops_holding_the_watermark_back_after_its_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (payments, entries) = (dir.path().join("p.jsonl"), dir.path().join("e.jsonl"));
    // entries go quiet after one journal at 00:00; payments keep coming
    std::fs::write(&entries, journal("pay_a", "2026-11-01T00:00:00Z")).unwrap();
    std::fs::write(&payments, payment("pay_a", "2026-11-01T00:00:00Z")).unwrap();
    let mut config = default_config(&payments, &entries, &dir.path().join("out"), 1);
    config.pipeline.follow = true;
    for source in &mut config.sources {
        source.allowed_lateness_seconds = 0;
        source.idle_timeout_seconds = 2;
    }
    let results = config.sinks.results.clone().unwrap();
    let control = Control::default();
    let (run_control, run_config) = (control.clone(), config.clone());
    let thread = std::thread::spawn(move || {
        trueup::runtime::job::execute(&run_config, &run_control).unwrap()
    });
    let started = Instant::now();
    append(
        &payments,
        payment("pay_b", "2026-11-01T05:00:00Z").as_bytes(),
    );
    // pay_b's result (time 05:00) needs the watermark past 05:00, which the entries source
    // (newest 00:00) holds back until it has been quiet for 2 s; payments keep arriving
    let mut minute = 0;
    wait_for("pay_b delivered", || {
        minute += 1;
        let at = format!("2026-11-01T06:{:02}:00Z", minute % 60);
        append(
            &payments,
            payment(&format!("pay_c{minute}"), &at).as_bytes(),
        );
        std::thread::sleep(Duration::from_millis(100));
        !lines_of(&results, "payment_ledger", "pay_b").is_empty()
    });
    let waited = started.elapsed();
    control.request_stop();
    thread.join().unwrap();
    assert!(
        waited >= Duration::from_millis(1500),
        "delivered after {waited:?}: before the idle timeout the quiet source held time back"
    );
}
