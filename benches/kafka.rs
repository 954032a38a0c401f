//! Kafka in to Kafka out on loopback: throughput and end-to-end latency.
//!
//! Needs a broker: `. scripts/kafka.sh` starts tansu on loopback and exports
//! `TRUEUP_TEST_KAFKA`; then `cargo bench --bench kafka`. Settings from the environment:
//! `KAFKA_BENCH_PAYMENTS` (default 100,000), `KAFKA_BENCH_LATENCY_SECONDS` (default 60),
//! `KAFKA_BENCH_PAYMENTS_PER_SECOND` (default 200), `KAFKA_BENCH_DIR`.
//!
//! 1. Throughput: the generated payments and their entries (about 13 lines per payment) are
//!    produced into two topics of 4 partitions (not timed); then `trueup run` (2 workers, audit
//!    store in SQLite committing every 100 ms, result and dead-letter topics) reads them to the
//!    end and exits. Timed from start to exit: input messages per second.
//! 2. Latency: `trueup run --follow` on new topics (a 10 ms tick, a commit every 20 ms: results
//!    reach a topic one commit after they complete); a producer writes, at a steady pace, a
//!    payment capture and its two balanced ledger entries with event time = now; a consumer on
//!    the result topic notes when each payment's `matched` change arrives. Latency is that
//!    arrival less the moment its last input was handed to the producer: p50, p99, max.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use trueup::generate::{generate, GenerateOptions};
use trueup::model::time::format_rfc3339;
use trueup_testing::kafka::{consumed, create_topics, produce_lines, producer, reader};

mod common;
use common::setting;

/// Topic names unique to this bench run.
fn topic(name: &str) -> String {
    format!("bench-{name}-{}", std::process::id())
}

/// A run's config on new topics `name-*`: its tick and how often it commits.
fn config(
    dir: &Path,
    brokers: &str,
    name: &str,
    (tick_millis, commit_millis): (u64, u64),
) -> (PathBuf, String) {
    let [payments, entries, results, dead] =
        ["payments", "entries", "results", "dead"].map(|t| topic(&format!("{name}-{t}")));
    create_topics(
        brokers,
        &[(&payments, 4), (&entries, 4), (&results, 4), (&dead, 1)],
    )
    .expect("create topics");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"[pipeline]
workers = 2
tick_millis = {tick_millis}

[kafka]
brokers = "{brokers}"

[[sources]]
stream = "payments"
topic = "{payments}"
allowed_lateness_seconds = 0

[[sources]]
stream = "entries"
topic = "{entries}"
allowed_lateness_seconds = 0

[sinks]
results_topic = "{results}"
dead_letters_topic = "{dead}"

[store]
url = "{store}"
commit_interval_millis = {commit_millis}
"#,
            store = dir.join(format!("{name}.db")).display()
        ),
    )
    .expect("write config");
    (path, topic(&format!("{name}-results")))
}

fn throughput(dir: &Path, brokers: &str, payments: usize) {
    let options = GenerateOptions {
        seed: 7,
        payments,
        ..GenerateOptions::default()
    };
    let generated = generate(&dir.join("data"), &options).expect("generate");
    let (config, _) = config(dir, brokers, "throughput", (1000, 100));
    let started = Instant::now();
    let messages = produce_lines(
        brokers,
        &topic("throughput-payments"),
        4,
        &generated.payments,
    )
    .expect("produce payments")
        + produce_lines(brokers, &topic("throughput-entries"), 4, &generated.entries)
            .expect("produce entries");
    println!(
        "produced {messages} input messages in {:.1?} (not part of the figure)",
        started.elapsed()
    );
    let started = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_trueup"))
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .status()
        .expect("run trueup");
    let elapsed = started.elapsed();
    assert!(status.success(), "trueup exited with {status}");
    println!(
        "throughput: {payments} payments, {messages} input messages, Kafka in → Kafka out in {:.2} s: {:.0} input messages/s",
        elapsed.as_secs_f64(),
        messages as f64 / elapsed.as_secs_f64()
    );
}

/// The three input lines of payment `i` at event time `at`: (payment, [entries]).
fn payment_lines(i: u64, at: u64) -> (String, [String; 2]) {
    let at = format_rfc3339(at);
    let payment = format!(
        r#"{{"amount":"100.00","currency":"EUR","event_id":"lat_{i}_c","merchant_id":"m_1","occurred_at":"{at}","payment_id":"lat_{i}","type":"capture"}}"#
    );
    let entry = |n: u32, account: &str, direction: &str| {
        format!(
            r#"{{"account":"{account}","amount":"100.00","booked_at":"{at}","currency":"EUR","direction":"{direction}","entry_id":"lat_{i}_{n}","journal_id":"lat_{i}_j","payment_id":"lat_{i}"}}"#
        )
    };
    (
        payment,
        [
            entry(1, "psp_receivable", "debit"),
            entry(2, "merchant_payable", "credit"),
        ],
    )
}

fn latency(dir: &Path, brokers: &str, seconds: u64, per_second: u64) {
    let (config, results) = config(dir, brokers, "latency", (10, 20));
    let mut child = Command::new(env!("CARGO_BIN_EXE_trueup"))
        .args(["run", "--follow", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start trueup");

    // the consumer: when each payment's match arrives
    let arrived: Arc<Mutex<BTreeMap<String, Instant>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (arrived, stop, brokers, results) = (
            arrived.clone(),
            stop.clone(),
            brokers.to_string(),
            results.clone(),
        );
        std::thread::spawn(move || {
            let consumer: BaseConsumer = reader(&brokers).expect("consumer");
            let mut list = TopicPartitionList::new();
            for p in 0..4 {
                list.add_partition_offset(&results, p, Offset::Beginning)
                    .expect("partition");
            }
            consumer.assign(&list).expect("assign");
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let Some(Ok(message)) = consumer.poll(Duration::from_millis(5)) else {
                    continue;
                };
                let at = Instant::now();
                let message = consumed(&message);
                let value: serde_json::Value = serde_json::from_str(&message.value).expect("json");
                if value["rule"] == "payment_ledger"
                    && value["status"] == "matched"
                    && value["diff"] == 1
                {
                    let key = value["key"].as_str().unwrap_or_default().to_string();
                    arrived.lock().unwrap().entry(key).or_insert(at);
                }
            }
        })
    };

    let producer = producer(brokers).expect("producer");
    let (payments, entries) = (topic("latency-payments"), topic("latency-entries"));
    let mut sent: BTreeMap<String, Instant> = BTreeMap::new();
    let started = Instant::now();
    let total = seconds * per_second;
    let warmup = per_second * 5; // the first 5 s are not measured
    for i in 0..total {
        let due = started + Duration::from_micros(i * 1_000_000 / per_second);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let (payment, lines) = payment_lines(i, now);
        let partition = (i % 4) as i32;
        let send = |topic: &str, line: &str| {
            let record = BaseRecord::<(), str>::to(topic)
                .payload(line)
                .partition(partition);
            trueup::kafka::produce(&producer, record).expect("produce");
        };
        send(&payments, &payment);
        for line in &lines {
            send(&entries, line);
        }
        producer.poll(Duration::ZERO);
        if i >= warmup {
            sent.insert(format!("lat_{i}"), Instant::now());
        }
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    std::thread::sleep(Duration::from_secs(5));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    watcher.join().expect("consumer thread");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("SIGTERM");
    child.wait().expect("trueup exits");

    let arrived = arrived.lock().unwrap();
    let mut latencies: Vec<Duration> = sent
        .iter()
        .filter_map(|(key, at)| {
            arrived
                .get(key)
                .map(|got| got.saturating_duration_since(*at))
        })
        .collect();
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    assert!(!latencies.is_empty(), "no match arrived");
    println!(
        "latency: {} payments at {per_second}/s ({} inputs/s) over {seconds} s, {} measured, {} matched: \
         p50 {:.1?}, p99 {:.1?}, max {:.1?}",
        total,
        per_second * 3,
        sent.len(),
        latencies.len(),
        pick(0.50),
        pick(0.99),
        latencies[latencies.len() - 1]
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and `cargo test --benches` probe; nothing to list
    }
    let brokers = std::env::var("TRUEUP_TEST_KAFKA").expect(
        "TRUEUP_TEST_KAFKA is not set: `. scripts/kafka.sh` starts a broker on loopback and sets it",
    );
    let dir = std::env::var("KAFKA_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("kafka-bench"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench folder");
    throughput(
        &dir,
        &brokers,
        setting("KAFKA_BENCH_PAYMENTS", 100_000) as usize,
    );
    latency(
        &dir,
        &brokers,
        setting("KAFKA_BENCH_LATENCY_SECONDS", 60),
        setting("KAFKA_BENCH_PAYMENTS_PER_SECOND", 200),
    );
}
