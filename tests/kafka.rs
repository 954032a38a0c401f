//! Kafka in and out, against a real Kafka-protocol broker (tansu, started on loopback by
//! `scripts/test.sh`, which exports its address as `TRUEUP_TEST_KAFKA`): generated data
//! produced into topics, `trueup run` reading them and writing result and dead-letter topics,
//! the result topic consumed and folded into the final state; exactly once across SIGKILLs;
//! security properties passed through and never shown.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use trueup::config::fields::Layout;
use trueup::generate::{generate, GenerateOptions, Generated, TruthLine};
use trueup::model::Stream;
use trueup::sources::kafka::KafkaSource;
use trueup::sources::{Polled, Progress, Source};
use trueup::store::db::Db;
use trueup_testing::kafka::{self as tools, Consumed};

mod common;
use common::{commits, kill_repeatedly, ok, ok_within, release_trueup};

fn broker() -> String {
    std::env::var("TRUEUP_TEST_KAFKA")
        .expect("TRUEUP_TEST_KAFKA is not set: run scripts/test.sh, which starts tansu on loopback")
}

/// A topic name no other test (or earlier run of this one) uses.
fn fresh(name: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{name}-{}-{n}-{nanos}", std::process::id())
}

fn create_topics(topics: &[(&str, i32)]) {
    tools::create_topics(&broker(), topics).expect("create topics");
}

/// Every message of `topic`, its value parsed as JSON.
fn consume_all(topic: &str) -> Vec<(Consumed, serde_json::Value)> {
    tools::consume_all(&broker(), topic, Duration::from_secs(120))
        .expect("consume")
        .into_iter()
        .map(|m| {
            let value = serde_json::from_str(&m.value).expect("JSON value");
            (m, value)
        })
        .collect()
}

/// Generated data produced into two new topics: (generated, payments topic, entries topic,
/// messages in the payments topic).
fn produced(
    dir: &Path,
    seed: u64,
    payments: usize,
    partitions: (i32, i32),
) -> (Generated, String, String, usize) {
    let options = GenerateOptions {
        seed,
        payments,
        ..GenerateOptions::default()
    };
    let generated = generate(&dir.join("data"), &options).expect("generate");
    let (p, e) = (fresh("payments"), fresh("entries"));
    create_topics(&[(&p, partitions.0), (&e, partitions.1)]);
    let count =
        tools::produce_lines(&broker(), &p, partitions.0, &generated.payments).expect("produce");
    tools::produce_lines(&broker(), &e, partitions.1, &generated.entries).expect("produce");
    (generated, p, e, count)
}

/// A config reading the two topics and writing to two new output topics (returned).
fn kafka_config(
    dir: &Path,
    name: &str,
    topics: (&str, &str),
    workers: usize,
    store: &str,
) -> (PathBuf, String, String) {
    let (results, dead) = (fresh("results"), fresh("dead"));
    create_topics(&[(&results, 3), (&dead, 2)]);
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            r#"[pipeline]
workers = {workers}

[kafka]
brokers = "{broker}"

[[sources]]
stream = "payments"
topic = "{payments}"

[[sources]]
stream = "entries"
topic = "{entries}"

[sinks]
results_topic = "{results}"
dead_letters_topic = "{dead}"
summary = "{name}-summary.json"

[store]
url = "{store}"
commit_interval_millis = 100
"#,
            broker = broker(),
            payments = topics.0,
            entries = topics.1,
        ),
    )
    .expect("write config");
    (config, results, dead)
}

/// `trueup run --config config` to its end (at most 5 minutes).
fn run(binary: &Path, config: &Path) -> String {
    let mut command = Command::new(binary);
    command.args(["run", "--config"]).arg(config);
    ok_within(command, Duration::from_secs(300))
}

/// The current results a changelog topic folds to: (rule, key, currency, status) per group.
fn final_statuses(messages: &[(Consumed, serde_json::Value)]) -> BTreeSet<TruthLine> {
    let mut state: BTreeMap<String, i64> = BTreeMap::new();
    for (_, value) in messages {
        let mut value = value.clone();
        let diff = value["diff"].as_i64().expect("diff");
        let object = value.as_object_mut().expect("object");
        object.remove("time");
        object.remove("diff");
        *state.entry(value.to_string()).or_default() += diff;
    }
    state
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|(row, n)| {
            assert_eq!(n, 1, "one current result per group: {row}");
            serde_json::from_str(&row).expect("a truth line's fields")
        })
        .collect()
}

/// Messages ordered by their `trueup-seq` header, which must number them 0, 1, 2, … once each.
fn in_sequence(
    mut messages: Vec<(Consumed, serde_json::Value)>,
    topic: &str,
) -> Vec<(Consumed, serde_json::Value)> {
    messages.sort_by_key(|(m, _)| m.headers["trueup-seq"].parse::<u64>().expect("seq"));
    for (i, (m, _)) in messages.iter().enumerate() {
        assert_eq!(
            m.headers["trueup-seq"],
            i.to_string(),
            "{topic}: sequence numbers are not 0..{} once each",
            messages.len()
        );
    }
    messages
}

#[test]
fn kafka_in_and_out_final_state_equals_the_ground_truth() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 3 workers: worker 2 has no payments partition, and every worker some entries
    let (generated, payments, entries, _) = produced(dir.path(), 11, 2000, (2, 4));
    let store = dir.path().join("store.db").display().to_string();
    let (config, results, dead) = kafka_config(dir.path(), "run", (&payments, &entries), 3, &store);
    run(Path::new(env!("CARGO_BIN_EXE_trueup")), &config);

    let changes = in_sequence(consume_all(&results), &results);
    let want: BTreeSet<TruthLine> = generated.truth.iter().cloned().collect();
    let got = final_statuses(&changes);
    let missing: Vec<_> = want.difference(&got).take(5).collect();
    let extra: Vec<_> = got.difference(&want).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, unexpected {extra:?}"
    );
    let run_id = &changes[0].0.headers["trueup-run"];
    let mut partition_of = BTreeMap::new();
    for (change, v) in &changes {
        let key = format!(
            "{}/{}/{}",
            v["rule"].as_str().unwrap(),
            v["key"].as_str().unwrap(),
            v["currency"].as_str().unwrap()
        );
        assert_eq!(change.key, key, "keyed by rule/key/currency");
        assert_eq!(&change.headers["trueup-run"], run_id);
        assert_eq!(change.headers["trueup-time"], v["time"].as_str().unwrap());
        assert_eq!(change.headers["trueup-diff"], v["diff"].to_string());
        let first = partition_of.entry(key).or_insert(change.partition);
        assert_eq!(
            *first, change.partition,
            "a group's changes share a partition"
        );
    }
    assert!(
        partition_of.values().collect::<BTreeSet<_>>().len() > 1,
        "spread over partitions"
    );

    let dead_letters = in_sequence(consume_all(&dead), &dead);
    assert_eq!(dead_letters.len() as u64, generated.meta.invalid_lines);
    for (letter, value) in &dead_letters {
        let position = value["position"].as_str().unwrap();
        let topic = if value["source"] == "payments" {
            &payments
        } else {
            &entries
        };
        let (partition, offset) = position
            .strip_prefix(&format!("{topic}/"))
            .and_then(|rest| rest.split_once(':'))
            .unwrap_or_else(|| panic!("position {position} is topic/partition:offset"));
        assert!(
            partition.parse::<i32>().is_ok() && offset.parse::<i64>().is_ok(),
            "{position}"
        );
        assert!(!value["reason"].as_str().unwrap().is_empty());
        assert_eq!(letter.key, position);
    }
    let mut db = Db::open(&store, true).expect("store");
    let inputs = db
        .query(
            "SELECT position FROM inputs WHERE position LIKE $1 LIMIT 1",
            &[trueup::store::db::Value::text(format!("{payments}/%"))],
        )
        .expect("inputs");
    assert_eq!(
        inputs.len(),
        1,
        "inputs are recorded with topic/partition:offset positions"
    );
}

#[test]
fn killed_with_sigkill_kafka_consumers_see_each_message_exactly_once() {
    let binary = release_trueup();
    let dir = tempfile::tempdir().expect("tempdir");
    let payments = 40_000;
    let (_, p, e, _) = produced(dir.path(), 12, payments, (3, 3));
    let path = |name: &str| dir.path().join(name).display().to_string();
    let (reference, ref_results, ref_dead) =
        kafka_config(dir.path(), "reference", (&p, &e), 2, &path("reference.db"));
    let started = Instant::now();
    run(&binary, &reference);
    let uninterrupted = started.elapsed();

    let store = path("killed.db");
    let (config, results, dead) = kafka_config(dir.path(), "killed", (&p, &e), 2, &store);
    let kills = kill_repeatedly(&binary, &config, &store, 5, Duration::from_millis(1500), 12);
    run(&binary, &config);
    eprintln!(
        "{payments} payments via Kafka: uninterrupted run {uninterrupted:?}; {kills} kills; {} \
         commits; all in {:?}",
        commits(&store),
        started.elapsed()
    );
    // every committed change exactly once, in the store's order: the store is the record
    let changes = in_sequence(consume_all(&results), &results);
    let committed = trueup::store::Store::open_read_only(&store)
        .and_then(|mut s| s.changes_after(0))
        .expect("the store's changelog");
    assert_eq!(
        changes.len(),
        committed.len(),
        "as many messages as committed changes"
    );
    for ((message, value), (row, time, diff)) in changes.iter().zip(&committed) {
        let line = trueup::model::results::ChangelogLine::new(row, *time, *diff as i64);
        assert_eq!(
            value,
            &serde_json::to_value(&line).unwrap(),
            "message {}",
            message.headers["trueup-seq"]
        );
    }
    // the same final state as the uninterrupted run, and the same dead letters once each
    let reference = in_sequence(consume_all(&ref_results), &ref_results);
    let (got, want) = (final_statuses(&changes), final_statuses(&reference));
    let inputs = |url: &str| {
        Db::open(url, true)
            .and_then(|mut db| {
                db.query(
                    "SELECT CAST(COUNT(*) AS BIGINT), CAST(COUNT(DISTINCT position) AS BIGINT) \
                     FROM inputs",
                    &[],
                )
            })
            .map(|r| (r[0][0].int(), r[0][1].int()))
            .expect("inputs")
    };
    assert!(
        got == want,
        "final state differs: inputs (all, distinct positions) {:?} vs {:?}; missing {:?}, \
         unexpected {:?}",
        inputs(&store),
        inputs(&path("reference.db")),
        want.difference(&got).take(3).collect::<Vec<_>>(),
        got.difference(&want).take(3).collect::<Vec<_>>()
    );
    let positions = |topic: &str| {
        let letters = in_sequence(consume_all(topic), topic);
        letters
            .iter()
            .map(|(m, _)| m.key.clone())
            .collect::<Vec<_>>()
    };
    let (mut got, mut want) = (positions(&dead), positions(&ref_dead));
    got.sort();
    want.sort();
    assert_eq!(got, want, "dead letters");
    assert!(ok(Command::new(&binary)
        .args(["verify", "--store", &store])
        .output()
        .unwrap())
    .contains(": 0 problem(s)"));
}

#[test]
fn security_properties_reach_rdkafka_and_are_never_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = "pa55-w0rd-never-shown";
    for (protocol, expect) in [("nonsense", "security.protocol"), ("SASL_PLAINTEXT", "")] {
        let config = dir.path().join("secure.toml");
        std::fs::write(
            &config,
            format!(
                r#"[kafka]
brokers = "{broker}"
timeout_seconds = 3
properties = {{ "security.protocol" = "{protocol}", "sasl.mechanism" = "PLAIN", "sasl.username" = "trueup", "sasl.password" = "{secret}" }}

[[sources]]
stream = "payments"
topic = "no-such-topic-{protocol}"

[sinks]
results = "out/results.jsonl"
dead_letters = "out/dead.jsonl"
"#,
                broker = broker()
            ),
        )
        .unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_trueup"))
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "trace")
            .output()
            .expect("run");
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!output.status.success(), "{protocol}: {shown}");
        assert!(shown.contains(expect), "{protocol}: {shown}");
        assert!(
            !shown.contains(secret),
            "{protocol}: the password was shown: {shown}"
        );
    }
}

#[test]
fn following_with_more_workers_than_partitions_time_still_advances() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 3 workers, 2 partitions per topic: worker 2 reads nothing and keeps pace with the others
    let (generated, payments, entries, _) = produced(dir.path(), 13, 1000, (2, 2));
    let store = dir.path().join("store.db").display().to_string();
    let (config, results, _) = kafka_config(dir.path(), "follow", (&payments, &entries), 3, &store);
    let child = Command::new(env!("CARGO_BIN_EXE_trueup"))
        .args(["run", "--follow", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start trueup");
    // results arrive while following: the committed frontier moves into the data's days
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let frontier = Db::open(&store, true)
            .and_then(|mut db| {
                db.query(
                    "SELECT CAST(COALESCE(MAX(frontier_ms), 0) AS BIGINT) FROM commits",
                    &[],
                )
            })
            .ok()
            .and_then(|r| r[0][0].int())
            .unwrap_or(0);
        if frontier > 1_000_000_000_000 && !consume_all(&results).is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "no result while following");
        std::thread::sleep(Duration::from_millis(200));
    }
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("SIGTERM");
    assert!(stopped.success());
    let output = child.wait_with_output().expect("trueup exits");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let got = final_statuses(&in_sequence(consume_all(&results), &results));
    let want: BTreeSet<TruthLine> = generated.truth.iter().cloned().collect();
    assert!(
        got == want,
        "the final state after SIGTERM equals the ground truth"
    );
}

/// `[kafka]` for the test broker, for sources opened directly.
fn client() -> trueup::config::KafkaConfig {
    trueup::config::KafkaConfig {
        brokers: broker(),
        properties: Default::default(),
        timeout_seconds: 30,
    }
}

/// The offsets a source yields, records and dead letters alike, polled until it is exhausted,
/// has yielded offset `last`, or `wait` has passed; and whether it was exhausted.
fn offsets_read(source: &mut KafkaSource, last: i64, wait: Duration) -> (Vec<i64>, bool) {
    let (deadline, mut offsets, mut polled) = (Instant::now() + wait, Vec::new(), Vec::new());
    while Instant::now() < deadline {
        let progress = source.poll(1000, &mut polled).expect("poll");
        offsets.extend(polled.drain(..).map(|p| match p {
            Polled::Record(_, position) => position.index as i64,
            Polled::Dead(letter) => letter.position.rsplit(':').next().unwrap().parse().unwrap(),
        }));
        if progress == Progress::Exhausted || offsets.last() == Some(&last) {
            return (offsets, progress == Progress::Exhausted);
        }
    }
    (offsets, false)
}

#[test]
fn a_source_resumed_inside_the_last_batch_of_a_partition_reads_the_rest_of_it() {
    // one quick burst of messages: a few batches at most, the last one holding many messages
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, payments, _, count) = produced(dir.path(), 14, 150, (1, 1));
    let (count, kafka) = (count as i64, client());
    for follow in [false, true] {
        for resume in [count / 2, count - 2] {
            let mut source = payments_source(&payments, &kafka, follow);
            source.resume(&serde_json::json!({ "0": resume })).unwrap();
            let (offsets, exhausted) =
                offsets_read(&mut source, count - 1, Duration::from_secs(20));
            let want: Vec<i64> = (resume..count).collect();
            let case = format!("follow {follow}, resumed at {resume} of {count}");
            assert_eq!(offsets, want, "{case}");
            assert_eq!(exhausted, !follow, "{case}");
        }
    }
}

#[test]
fn a_run_without_follow_over_a_topic_being_produced_to_reads_up_to_where_it_started() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (generated, payments, _, _) = produced(dir.path(), 15, 100, (2, 1));
    let lines = std::fs::read(&generated.payments).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // a producer that keeps both partitions busy the whole time
    let producing = {
        let (stop, topic) = (stop.clone(), payments.clone());
        std::thread::spawn(move || {
            let producer = tools::producer(&broker()).unwrap();
            for (i, line) in lines.split(|b| *b == b'\n').cycle().enumerate() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let record = rdkafka::producer::BaseRecord::<(), [u8]>::to(&topic)
                    .payload(line)
                    .partition(i as i32 % 2);
                trueup::kafka::produce(&producer, record).unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let kafka = client();
    let opened = Instant::now();
    let mut source = payments_source(&payments, &kafka, false);
    let opening = opened.elapsed();
    let (offsets, exhausted) = offsets_read(&mut source, i64::MAX, Duration::from_secs(30));
    stop.store(true, Ordering::SeqCst);
    producing.join().unwrap();
    assert!(opening < Duration::from_secs(5), "opening took {opening:?}");
    assert!(
        exhausted,
        "still reading after 30 s: {} read",
        offsets.len()
    );
    assert!(offsets.len() > 100, "{} read", offsets.len());
}

/// The export fixtures' folder, and a copy of it.
fn exports_copied() -> (std::path::PathBuf, tempfile::TempDir) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/exports");
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    (fixtures, dir)
}

#[test]
fn a_topic_is_read_through_its_field_map_as_its_file_is() {
    // the Stripe-style export of tests/fixtures/exports as a topic of 2 partitions, the
    // Adyen report and the ledger as files: the results are those of the files alone
    let (fixtures, dir) = exports_copied();
    let topic = fresh("stripe");
    create_topics(&[(&topic, 2)]);
    let stripe = fixtures.join("stripe_balance_transactions.jsonl");
    assert_eq!(
        tools::produce_lines(&broker(), &topic, 2, &stripe).expect("produce"),
        8
    );
    let text = std::fs::read_to_string(fixtures.join("exports.toml")).unwrap();
    let from_files = dir.path().join("files.toml");
    std::fs::write(&from_files, &text).unwrap();
    let as_topic = text.replace(
        "path = \"stripe_balance_transactions.jsonl\"",
        &format!("topic = \"{topic}\""),
    );
    let from_topic = dir.path().join("topic.toml");
    std::fs::write(
        &from_topic,
        format!("[kafka]\nbrokers = \"{}\"\n\n{as_topic}", broker()),
    )
    .unwrap();
    let state = |config: &Path| {
        let config = trueup::config::Config::load(config).expect("config");
        let output = trueup::runtime::run_collect(&config).expect("run");
        let rows: BTreeSet<String> = trueup::model::summary::final_state(&output.changelog)
            .keys()
            .map(|r| {
                format!(
                    "{} {} {} {:?} {:?}",
                    r.rule,
                    r.key,
                    r.status.as_str(),
                    r.expected,
                    r.left_ids
                )
            })
            .collect();
        let reasons: BTreeSet<String> = output
            .dead_letters
            .iter()
            .map(|d| d.reason.clone())
            .collect();
        (rows, reasons)
    };
    let (files, topic_state) = (state(&from_files), state(&from_topic));
    assert_eq!(files.0.len(), 14);
    assert_eq!(
        topic_state, files,
        "the topic read through the map as the file is"
    );
    assert!(
        topic_state.1.iter().any(|r| r.contains("field `created`")),
        "{:?}",
        topic_state.1
    );
}

#[test]
fn a_declared_stream_is_read_from_a_topic_as_from_its_file() {
    // the bank statement of tests/fixtures/exports/bank_batches.toml (a declared stream) as
    // JSON records in a topic of 2 partitions: the results are those of the CSV file
    let (fixtures, dir) = exports_copied();
    let csv = std::fs::read_to_string(fixtures.join("bank_batches.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let json: String = lines
        .map(|line| {
            let record: serde_json::Map<String, serde_json::Value> = (header.iter())
                .zip(line.split(','))
                .map(|(k, v)| (k.to_string(), serde_json::Value::from(v)))
                .collect();
            format!("{}\n", serde_json::Value::Object(record))
        })
        .collect();
    let jsonl = dir.path().join("bank_batches.jsonl");
    std::fs::write(&jsonl, json).unwrap();
    let topic = fresh("bank");
    create_topics(&[(&topic, 2)]);
    let produced = tools::produce_lines(&broker(), &topic, 2, &jsonl).expect("produce");
    assert_eq!(produced, 5);
    let text = std::fs::read_to_string(fixtures.join("bank_batches.toml")).unwrap();
    let from_files = dir.path().join("files.toml");
    std::fs::write(&from_files, &text).unwrap();
    let as_topic = text.replace(
        "path = \"bank_batches.csv\"",
        &format!("topic = \"{topic}\""),
    );
    assert_ne!(as_topic, text);
    let from_topic = dir.path().join("topic.toml");
    let kafka = format!("[kafka]\nbrokers = \"{}\"\n\n{as_topic}", broker());
    std::fs::write(&from_topic, kafka).unwrap();
    let state = |config: &Path| {
        let config = trueup::config::Config::load(config).expect("config");
        let output = trueup::runtime::run_collect(&config).expect("run");
        assert!(output.dead_letters.is_empty(), "{:?}", output.dead_letters);
        let rows: BTreeSet<String> = trueup::model::summary::final_state(&output.changelog)
            .keys()
            .map(|r| {
                format!(
                    "{} {} {:?} {:?}",
                    r.key,
                    r.status.as_str(),
                    r.left_ids,
                    r.right_ids
                )
            })
            .collect();
        rows
    };
    let (files, from_topic) = (state(&from_files), state(&from_topic));
    assert_eq!(files.len(), 7, "{files:?}");
    assert_eq!(
        from_topic, files,
        "the topic read through the map as the file is"
    );
}

/// The whole of `topic` (one worker) read as payments by their own fields.
fn payments_source(topic: &str, kafka: &trueup::config::KafkaConfig, follow: bool) -> KafkaSource {
    let layout = std::sync::Arc::new(Layout::builtin(Stream::Payments));
    KafkaSource::open(layout, topic, kafka, 0, 1, follow).unwrap()
}
