//! The audit store, exactly-once restarts, `query`, `serve` and `verify` — against a real
//! SQLite file and a real PostgreSQL server (started on loopback by `scripts/test.sh`, which
//! exports its URL as `TRUEUP_TEST_POSTGRES`).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sha2::Digest;

use trueup::config::paths::{sqlite_path, SQLITE_FILE_SUFFIXES};
use trueup::runtime::job::default_config_toml;
use trueup::store::db::{Db, Value};
use trueup_testing::http::{exchange, serve, Server};

mod common;
use common::{commits, kill_repeatedly, ok, release_trueup, Dice};

fn trueup() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trueup"))
}

/// A fresh PostgreSQL database on the test server.
fn postgres_database() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let server = std::env::var("TRUEUP_TEST_POSTGRES").expect(
        "TRUEUP_TEST_POSTGRES is not set: run scripts/test.sh, which starts PostgreSQL on loopback",
    );
    let name = format!(
        "trueup_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let mut admin = postgres::Client::connect(&server, postgres::NoTls).expect("connect");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create database");
    let base = server.rsplit_once('/').expect("URL with a database").0;
    format!("{base}/{name}")
}

/// Both backends: a SQLite file in `dir`, and a new PostgreSQL database.
fn backends(dir: &Path) -> Vec<String> {
    vec![
        dir.join("store.db").display().to_string(),
        postgres_database(),
    ]
}

/// Generated data and a config writing to `out/` and committing to `store`.
fn scenario(dir: &Path, payments: usize, store: &str) -> PathBuf {
    if !dir.join("data/payments.jsonl").exists() {
        ok(trueup()
            .args([
                "generate",
                "--seed",
                "5",
                "--payments",
                &payments.to_string(),
                "--out",
            ])
            .arg(dir.join("data"))
            .output()
            .expect("generate"));
    }
    let config = dir.join(format!("config-{}.toml", std::process::id()));
    let out = dir.join("out");
    let data = dir.join("data");
    let (payments, entries) = (data.join("payments.jsonl"), data.join("entries.jsonl"));
    let text = default_config_toml(&payments, &entries, &out, 2)
        + &format!("\n[store]\nurl = \"{store}\"\ncommit_interval_millis = 100\n");
    std::fs::write(&config, text).expect("write config");
    config
}

/// The final state of a changelog file: row (the line without time and diff) → count.
fn final_state(results: &Path) -> BTreeMap<String, i64> {
    let mut state = BTreeMap::new();
    for line in std::fs::read_to_string(results).expect("results").lines() {
        let mut value: serde_json::Value = serde_json::from_str(line).expect("json line");
        let diff = value["diff"].as_i64().expect("diff");
        let object = value.as_object_mut().expect("object");
        object.remove("time");
        object.remove("diff");
        *state.entry(value.to_string()).or_default() += diff;
    }
    state.retain(|_, n| *n != 0);
    state
}

/// Runs `payments` generated payments into `url`; returns the output folder.
fn run_into(dir: &Path, payments: usize, url: &str) -> PathBuf {
    run_config(&scenario(dir, payments, url));
    dir.join("out")
}

/// `trueup run --config config`, which must succeed.
fn run_config(config: &Path) {
    ok(trueup()
        .args(["run", "--config"])
        .arg(config)
        .output()
        .expect("run"));
}

fn query(url: &str, args: &[&str]) -> serde_json::Value {
    let out = ok(trueup()
        .args(["query", "--store", url])
        .args(args)
        .output()
        .expect("query"));
    serde_json::from_str(&out).expect("query prints JSON")
}

fn rows(url: &str, sql: &str) -> Vec<Vec<Value>> {
    Db::open(url, true)
        .expect("open store")
        .query(sql, &[])
        .expect("query")
}

#[test]
fn the_store_holds_inputs_changelog_dead_letters_and_commits_on_both_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in backends(dir.path()) {
        let out = run_into(dir.path(), 3000, &url);
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();

        // every accepted input, with its position
        let inputs = rows(
            &url,
            "SELECT CAST(COUNT(*) AS BIGINT), CAST(COUNT(DISTINCT position) AS BIGINT) FROM inputs",
        );
        let accepted = summary["accepted"]
            .as_object()
            .expect("accepted per stream")
            .values()
            .map(|v| v.as_i64().unwrap())
            .sum::<i64>();
        assert_eq!(inputs[0][0], Value::Int(accepted), "{url}");
        assert_eq!(
            inputs[0][1],
            Value::Int(accepted),
            "{url}: one position per input"
        );

        // the changelog is the results file, line for line
        let lines: Vec<String> = std::fs::read_to_string(out.join("results.jsonl"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let stored = rows(
            &url,
            "SELECT time, diff, rule, key, status FROM results ORDER BY seq",
        );
        assert_eq!(stored.len(), lines.len(), "{url}");
        for (row, line) in stored.iter().zip(&lines) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(row[0].str(), v["time"].as_str());
            assert_eq!(row[1].int(), v["diff"].as_i64());
            assert_eq!(row[3].str(), v["key"].as_str());
            assert_eq!(row[4].str(), v["status"].as_str());
        }

        // dead letters, and commit progress chained by hash
        let dead = std::fs::read_to_string(out.join("dead_letters.jsonl")).unwrap();
        let stored = rows(&url, "SELECT CAST(COUNT(*) AS BIGINT) FROM dead_letters");
        assert_eq!(stored[0][0], Value::Int(dead.lines().count() as i64));
        assert!(
            dead.lines().count() > 0,
            "the generator injects invalid lines"
        );
        let commits = rows(
            &url,
            "SELECT batch, prev_hash, hash, positions FROM commits ORDER BY batch",
        );
        assert!(commits.len() >= 2, "{url}: {} commits", commits.len());
        for pair in commits.windows(2) {
            assert_eq!(
                pair[1][1], pair[0][2],
                "each commit chains to the one before"
            );
        }
        assert!(commits.last().unwrap()[3].str().unwrap().contains("offset"));

        // the view of current results is the final state of the file
        let current = rows(&url, "SELECT CAST(COUNT(*) AS BIGINT) FROM current_results");
        assert_eq!(
            current[0][0],
            Value::Int(final_state(&out.join("results.jsonl")).len() as i64)
        );
        let breaks = rows(&url, "SELECT CAST(COUNT(*) AS BIGINT) FROM open_breaks");
        assert!(breaks[0][0].int().unwrap() > 0);

        let verified = ok(trueup().args(["verify", "--store", &url]).output().unwrap());
        assert!(verified.contains(": 0 problem(s)"), "{verified}");
        std::fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn query_answers_as_of_any_committed_time_on_both_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in backends(dir.path()) {
        run_into(dir.path(), 1500, &url);
        let results = dir.path().join("out/results.jsonl");
        // as of a time in the middle: the file's changes up to then
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&results)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let middle = lines[lines.len() / 2]["time"].as_str().unwrap().to_string();
        let middle_ms = trueup::model::time::parse_rfc3339(&middle).unwrap();
        let mut expected: BTreeMap<(String, String), i64> = BTreeMap::new();
        for v in &lines {
            let t = trueup::model::time::parse_rfc3339(v["time"].as_str().unwrap()).unwrap();
            if t <= middle_ms && v["status"] != "matched" && v["status"] != "pending" {
                *expected
                    .entry((
                        v["key"].as_str().unwrap().into(),
                        v["status"].as_str().unwrap().into(),
                    ))
                    .or_default() += v["diff"].as_i64().unwrap();
            }
        }
        expected.retain(|_, n| *n > 0);
        let answer = query(&url, &["--as-of", &middle, "breaks", "--limit", "100000"]);
        let got: BTreeMap<(String, String), i64> = answer
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    (
                        b["key"].as_str().unwrap().into(),
                        b["status"].as_str().unwrap().into(),
                    ),
                    1,
                )
            })
            .collect();
        assert_eq!(got, expected, "{url}: breaks as of {middle}");
        assert!(!got.is_empty());

        // one key's result, filters, summary and lineage
        let (key, status) = expected.keys().next().unwrap().clone();
        let result = query(&url, &["result", &key]);
        assert!(!result.as_array().unwrap().is_empty());
        let filtered = query(
            &url,
            &[
                "breaks",
                "--status",
                &status,
                "--currency",
                "USD",
                "--min-amount",
                "0.01",
            ],
        );
        assert!(filtered
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["status"] == status.as_str() && b["currency"] == "USD"));
        let summary = query(&url, &["summary"]);
        assert!(summary
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["status"] == "matched"));
        let lineage = query(&url, &["lineage", &key]);
        let inputs = lineage[0]["inputs"].as_array().unwrap();
        assert!(!inputs.is_empty());
        assert!(inputs
            .iter()
            .all(|i| i["position"].as_str().unwrap().contains(".jsonl:")));
        // a time not yet committed is refused
        let refused = trueup()
            .args([
                "query",
                "--store",
                &url,
                "--as-of",
                "2099-01-01T00:00:00Z",
                "summary",
            ])
            .output()
            .unwrap();
        assert!(!refused.status.success());
        assert!(String::from_utf8_lossy(&refused.stderr).contains("not committed yet"));
        std::fs::remove_dir_all(dir.path().join("out")).unwrap();
    }
}

#[test]
fn verify_names_the_batch_whose_row_was_altered_on_both_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in backends(dir.path()) {
        run_into(dir.path(), 1000, &url);
        assert!(
            ok(trueup().args(["verify", "--store", &url]).output().unwrap())
                .contains(": 0 problem(s)")
        );
        // behind trueup's back: one matched result becomes a smaller break
        let target = rows(
            &url,
            "SELECT seq, batch FROM results WHERE status = 'matched' ORDER BY seq LIMIT 1",
        );
        let (seq, batch) = (target[0][0].int().unwrap(), target[0][1].int().unwrap());
        let mut db = Db::open(&url, false).unwrap();
        db.query(
            "UPDATE results SET status = 'amount_mismatch' WHERE seq = $1",
            &[Value::Int(seq)],
        )
        .unwrap();
        let out = trueup().args(["verify", "--store", &url]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(
            text.contains(&format!("batch {batch}: content hash")),
            "{url}: {text}"
        );
        std::fs::remove_dir_all(dir.path().join("out")).unwrap();
    }
}

/// The store's content without batch numbers: what an uninterrupted run must equal.
fn content(url: &str) -> Vec<Vec<Vec<Value>>> {
    let mut inputs = rows(
        url,
        "SELECT worker, stream, position, record_id, time_ms, late, record FROM inputs",
    );
    inputs.sort_by_key(|r| format!("{r:?}"));
    let mut dead = rows(
        url,
        "SELECT time_ms, source, position, reason, raw FROM dead_letters",
    );
    dead.sort_by_key(|r| format!("{r:?}"));
    let results = rows(
        url,
        "SELECT time_ms, diff, rule, key, currency, status, expected, actual, difference, \
         opened_at, due_at, left_ids, right_ids, merchant_id FROM results ORDER BY seq",
    );
    vec![inputs, results, dead]
}

fn run_to_end(binary: &Path, config: &Path) {
    ok(Command::new(binary)
        .args(["run", "--config"])
        .arg(config)
        .output()
        .expect("run"));
}

/// The output files a run writes: what an interrupted run must reproduce byte for byte.
const OUTPUT_FILES: [&str; 3] = ["results.jsonl", "dead_letters.jsonl", "summary.json"];

/// Each output file in `out` as compared: the summary's text, a changelog's length and
/// SHA-256 digest.
fn output_fingerprints(out: &Path) -> Vec<String> {
    use sha2::Digest;
    OUTPUT_FILES
        .iter()
        .map(|file| {
            let bytes = std::fs::read(out.join(file)).expect("output file");
            match *file {
                "summary.json" => String::from_utf8_lossy(&bytes).into_owned(),
                _ => format!(
                    "{} bytes, SHA-256 {:x}",
                    bytes.len(),
                    sha2::Sha256::digest(&bytes)
                ),
            }
        })
        .collect()
}

/// Removes the store at `url` — a SQLite file with its journal files, or a PostgreSQL
/// database — so that a long test holds on disk only what it still compares.
fn discard_store(url: &str) {
    match sqlite_path(url) {
        Some(path) => {
            for suffix in SQLITE_FILE_SUFFIXES {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
        None => {
            let (_, name) = url.rsplit_once('/').expect("URL with a database");
            let server = std::env::var("TRUEUP_TEST_POSTGRES").expect("TRUEUP_TEST_POSTGRES");
            postgres::Client::connect(&server, postgres::NoTls)
                .expect("connect")
                .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .expect("drop database");
        }
    }
}

/// Runs `payments` once uninterrupted into `reference_store`, then again into `store`,
/// killing it with SIGKILL `kills` times at random instants (each after the attempt has
/// committed something of its own) and restarting it; then requires identical output files
/// and store content, and a store that verifies. Of the uninterrupted run only digests and
/// the store's content are kept, its files and store removed before the second run.
fn killed_runs_end_as_if_never_interrupted(
    payments: usize,
    kills: usize,
    reference_store: &str,
    store: &str,
) {
    let binary = release_trueup();
    let stores = (reference_store, store);
    killed_runs_with_rules_end_as_if_never_interrupted(&binary, (payments, kills), stores, "");
}

/// [`killed_runs_end_as_if_never_interrupted`] of `binary` (trueup, or a program built on its
/// Pipeline), with `rules` (TOML `[[rules]]`) beside the standard ones.
fn killed_runs_with_rules_end_as_if_never_interrupted(
    binary: &Path,
    (payments, kills): (usize, usize),
    (reference_store, store): (&str, &str),
    rules: &str,
) -> i64 {
    let dir = tempfile::tempdir().expect("tempdir");
    // `{entries}` in the rules: the generated entries file, for a declared stream to read
    let entries = dir.path().join("data/entries.jsonl");
    let rules = &rules.replace("{entries}", &entries.display().to_string());
    let scenario = |store: &str| {
        let config = scenario(dir.path(), payments, store);
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(
            &config,
            text.replacen("\n[store]", &format!("{rules}\n[store]"), 1),
        )
        .unwrap();
        config
    };
    let config = scenario(reference_store);
    let started = Instant::now();
    run_to_end(binary, &config);
    let uninterrupted = started.elapsed();
    let (reference, reference_content) = (
        output_fingerprints(&dir.path().join("out")),
        content(reference_store),
    );
    std::fs::remove_dir_all(dir.path().join("out")).unwrap();
    discard_store(reference_store);

    let config = scenario(store);
    // every commit's head logged, kills landing while commits are made durable included
    let log = dir.path().join("heads.jsonl");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text += &format!("head_log = \"{}\"\n", log.display());
    std::fs::write(&config, text).unwrap();
    let killed = kill_repeatedly(
        binary,
        &config,
        store,
        kills,
        Duration::from_millis(2500),
        payments as u64,
    );
    run_to_end(binary, &config);
    eprintln!(
        "{payments} payments: uninterrupted run {uninterrupted:?}; {killed} kills; {} commits; \
         all in {:?}",
        commits(store),
        started.elapsed()
    );
    let got = output_fingerprints(&dir.path().join("out"));
    for ((file, got), want) in OUTPUT_FILES.iter().zip(got).zip(reference) {
        assert!(
            got == want,
            "{file} differs from the uninterrupted run: {got} instead of {want}"
        );
    }
    assert!(content(store) == reference_content, "store content differs");
    let heads = std::fs::read_to_string(&log).unwrap();
    let commits = rows(store, "SELECT batch, hash FROM commits ORDER BY batch");
    let logged: Vec<(i64, String)> = (heads.lines())
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|h| {
            (
                h["batch"].as_i64().unwrap(),
                h["hash"].as_str().unwrap().into(),
            )
        })
        .collect();
    let committed: Vec<(i64, String)> = (commits.iter())
        .map(|c| (c[0].int().unwrap(), c[1].str().unwrap().into()))
        .collect();
    assert!(
        logged == committed,
        "the head log holds every commit once, in order"
    );
    let (last, count) = (&committed.last().unwrap().1, committed.len().to_string());
    // trueup's own verify, whichever program ran
    assert!(ok(Command::new(release_trueup())
        .args(["verify", "--store", store, "--expect-head", last])
        .args(["--expect-batches", &count])
        .output()
        .unwrap())
    .contains(": 0 problem(s)"));
    let carrying = "SELECT COUNT(*) FROM results WHERE attributes IS NOT NULL";
    let carrying = rows(store, carrying)[0][0].int().unwrap();
    discard_store(store);
    carrying
}

#[test]
fn sqlite_killed_with_sigkill_twenty_times_the_run_ends_as_if_never_interrupted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    killed_runs_end_as_if_never_interrupted(200_000, 20, &path("reference.db"), &path("killed.db"));
}

#[test]
fn sqlite_killed_with_sigkill_declared_balance_and_match_rules_end_as_if_never_interrupted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    let rules = r#"
[[rules]]
kind = "match"
name = "bookings"
left = { stream = "payments" }
right = { stream = "entries", accounts = ["psp_receivable"] }
key = "payment_id"
window_hours = 72

[[rules]]
kind = "match"
name = "payouts_to_bank"
left = { stream = "entries", accounts = ["merchant_payable"], direction = "debit", signed = false }
right = { stream = "entries", accounts = ["bank_cash"], signed = false }
window_hours = 48

[[rules]]
kind = "balance"
name = "payables"
left = { stream = "entries", key = "journal_id", accounts = ["merchant_payable"], direction = "credit", signed = false }
right = { stream = "entries", key = "journal_id", accounts = ["merchant_payable"], direction = "debit", signed = false }
"#;
    let stores = (path("reference.db"), path("killed.db"));
    let binary = release_trueup();
    killed_runs_with_rules_end_as_if_never_interrupted(
        &binary,
        (60_000, 8),
        (&stores.0, &stores.1),
        rules,
    );
}

#[test]
fn sqlite_killed_with_sigkill_declared_streams_end_as_if_never_interrupted() {
    // the ledger's lines read once more as a declared stream (its keys named as the built-in
    // streams', a sign map, its accounts carried into results), in a balance against payments
    // and, per payment id, a payment's events summed against each of its journals' lines summed
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    let rules = r#"
[[streams]]
name = "ledger"
keys = ["journal_id", "payment_id"]
carry = ["account"]

[[sources]]
stream = "ledger"
path = "{entries}"

[sources.fields]
id = "entry_id"
sign = { column = "direction", values = { debit = "+", credit = "-" } }
time = "booked_at"

[[rules]]
kind = "balance"
name = "payment_lines"
left = { stream = "payments", key = "payment_id" }
right = { stream = "ledger", key = "payment_id" }

[[rules]]
kind = "match"
name = "events_to_journal"
left = { stream = "payments", group_by = "payment_id" }
right = { stream = "ledger", group_by = "journal_id" }
key = "payment_id"
window_hours = 48
"#;
    let stores = (path("reference.db"), path("killed.db"));
    let binary = release_trueup();
    let carrying = killed_runs_with_rules_end_as_if_never_interrupted(
        &binary,
        (40_000, 4),
        (&stores.0, &stores.1),
        rules,
    );
    assert!(
        carrying > 10_000,
        "{carrying} result changes carry accounts"
    );
}

#[test]
fn the_three_way_example_killed_with_sigkill_ends_as_if_never_interrupted() {
    // an engineer's graph (examples/three_way.rs) on the runtime: its outputs and store after
    // kills equal an uninterrupted run's, and trueup's own verify passes on its store
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name).display().to_string();
    let rules = r#"
[[rules]]
kind = "graph"
name = "through_to_bank"
graph = "through_to_bank"
left = "payments"
right = "entries"
"#;
    let stores = (path("reference.db"), path("killed.db"));
    let binary = common::release_three_way();
    killed_runs_with_rules_end_as_if_never_interrupted(
        &binary,
        (150_000, 6),
        (&stores.0, &stores.1),
        rules,
    );
}

#[test]
fn postgres_killed_with_sigkill_the_run_ends_as_if_never_interrupted() {
    killed_runs_end_as_if_never_interrupted(60_000, 5, &postgres_database(), &postgres_database());
}

/// One HTTP/1.1 GET over a real socket: (status, body).
fn get(address: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    request(address, path, &auth)
}

/// One HTTP/1.1 GET with these header lines (each ended by CRLF): (status, body).
fn request(address: &str, path: &str, headers: &str) -> (u16, String) {
    let (status, _, body) = exchange(address, path, headers);
    (status, body)
}

/// Reads every page of `/v1/breaks?{query}` by following `Next-After`: the keys, in order,
/// and the number of pages.
fn all_pages(address: &str, query: &str, token: &str) -> (Vec<String>, usize) {
    let auth = format!("Authorization: Bearer {token}\r\n");
    let (mut keys, mut pages, mut after) = (Vec::new(), 0, String::new());
    loop {
        let (status, head, body) = exchange(address, &format!("/v1/breaks?{query}{after}"), &auth);
        assert_eq!(status, 200, "{body}");
        pages += 1;
        let rows: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        keys.extend(rows.iter().map(|r| format!("{}/{}", r["rule"], r["key"])));
        let next = head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("next-after")
                .then(|| value.trim().to_string())
        });
        match next {
            Some(cursor) => after = format!("&after={cursor}"),
            None => return (keys, pages),
        }
    }
}

/// The bearer token the serve tests use.
const TOKEN: &str = "s3cret-token-for-tests-0123456789";

/// Runs 300 payments into a SQLite store in `dir` and serves it with [`TOKEN`].
fn serve_a_small_store(dir: &Path) -> (Server, String) {
    let url = dir.join("store.db").display().to_string();
    run_into(dir, 300, &url);
    start_serve(&url, TOKEN)
}

/// Starts `trueup serve` over the store at `url` on a free loopback port, once it listens:
/// the server and its address.
fn start_serve(url: &str, token: &str) -> (Server, String) {
    start_serve_with(url, token, None)
}

/// [`start_serve`], with at most `files` file descriptors.
fn start_serve_with(url: &str, token: &str, files: Option<u32>) -> (Server, String) {
    let limit = files.map_or(String::new(), |n| format!("ulimit -n {n} && "));
    serve(&limit, env!("CARGO_BIN_EXE_trueup"), url, token, "")
}

#[test]
fn serve_refuses_bad_parameters_by_name_and_takes_the_scheme_in_any_case() {
    let (dir, token) = (tempfile::tempdir().expect("tempdir"), TOKEN);
    let (mut server, address) = serve_a_small_store(dir.path());
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let auth = format!("Authorization: {scheme} {token}\r\n");
        assert_eq!(request(&address, "/v1/summary", &auth).0, 200, "{scheme}");
    }
    for (path, named) in [
        ("/v1/breaks?staus=missing_ledger", "staus"),
        ("/v1/summary?limit=abc", "limit"),
        ("/v1/breaks?limit=abc", "limit"),
        ("/v1/breaks?min_amount=-5.00", "min_amount"),
        ("/v1/lineage/pay_0000001?rule=payment_ledger", "rule"),
    ] {
        let (status, body) = get(&address, path, Some(token));
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains(named), "{path}: {body}");
    }
    // no rows asked for, no rows given; no break is older than u64::MAX days
    for path in [
        "/v1/breaks?limit=0",
        "/v1/breaks?min_age_days=18446744073709551615",
    ] {
        assert_eq!(
            get(&address, path, Some(token)),
            (200, "[]".into()),
            "{path}"
        );
    }
    let (status, body) = get(&address, "/v1/breaks?limit=1", Some(token));
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(&body)
            .unwrap()
            .len(),
        1
    );
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn serve_answers_over_a_real_socket_only_with_the_token_on_both_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = "s3cret-token-for-tests-0123456789";
    for url in backends(dir.path()) {
        run_into(dir.path(), 1000, &url);
        let (mut server, address) = start_serve(&url, token);
        assert_eq!(get(&address, "/healthz", None), (200, "ok\n".into()));
        assert_eq!(get(&address, "/v1/summary", None).0, 401);
        assert_eq!(get(&address, "/v1/summary", Some("wrong")).0, 401);
        assert_eq!(get(&address, "/metrics", None).0, 401);

        let (status, body) = get(
            &address,
            "/v1/breaks?status=missing_ledger&limit=5",
            Some(token),
        );
        assert_eq!(status, 200, "{body}");
        let breaks: serde_json::Value = serde_json::from_str(&body).unwrap();
        let breaks = breaks.as_array().unwrap();
        assert!(!breaks.is_empty() && breaks.len() <= 5);
        assert!(breaks.iter().all(|b| b["status"] == "missing_ledger"));
        let key = breaks[0]["key"].as_str().unwrap().to_string();

        // paging: pages of 7 following Next-After give exactly the breaks of one large page
        let (whole, one) = all_pages(&address, "limit=100000", token);
        let (paged, pages) = all_pages(&address, "limit=7", token);
        assert_eq!(one, 1);
        assert!(whole.len() > 14, "several pages: {}", whole.len());
        assert_eq!(pages, whole.len().div_ceil(7), "{url}");
        assert_eq!(paged, whole, "{url}");
        let (status, body) = get(&address, "/v1/breaks?after=zz", Some(token));
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("after"), "{body}");
        // and on the command line: the cursor on stderr, the next page after it
        let first = trueup()
            .args(["query", "--store", &url, "breaks", "--limit", "7"])
            .output()
            .unwrap();
        let note = String::from_utf8_lossy(&first.stderr);
        let cursor = note
            .split("--after ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("a cursor on stderr: {note}"));
        let second = query(&url, &["breaks", "--limit", "7", "--after", cursor]);
        let second: Vec<String> = (second.as_array().unwrap().iter())
            .map(|r| format!("{}/{}", r["rule"], r["key"]))
            .collect();
        assert_eq!(second, whole[7..14], "{url}");

        // SQL injection through a filter: bound as a value, so it matches nothing and harms nothing
        for attack in [
            "/v1/breaks?status=missing_ledger%27%20OR%20%271%27%3D%271",
            "/v1/breaks?currency=USD%27%3B%20DROP%20TABLE%20results%3B%20--",
        ] {
            let (status, body) = get(&address, attack, Some(token));
            assert_eq!((status, body.as_str()), (200, "[]"), "{attack}");
        }
        let (status, body) = get(&address, "/v1/summary", Some(token));
        assert_eq!(status, 200);
        assert!(body.contains("\"matched\""), "results still there: {body}");

        let (status, body) = get(&address, &format!("/v1/results/{key}"), Some(token));
        assert_eq!(status, 200);
        assert!(body.contains(&key));
        let (status, body) = get(&address, &format!("/v1/lineage/{key}"), Some(token));
        assert_eq!(status, 200);
        assert!(body.contains("payments.jsonl:"), "{body}");
        let (status, _) = get(
            &address,
            "/v1/summary?as_of=2099-01-01T00:00:00Z",
            Some(token),
        );
        assert_eq!(status, 400);
        let (status, _) = get(&address, "/v1/breaks?min_age_days=many", Some(token));
        assert_eq!(status, 400);

        // the requests the auditor's guide shows
        let guide =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/auditors.md"))
                .unwrap();
        let block = guide
            .split("```http\n")
            .nth(1)
            .expect("an http block")
            .split("```")
            .next()
            .unwrap();
        for line in block.lines() {
            let path = line
                .strip_prefix("GET ")
                .expect("GET lines")
                .replace("{key}", &key);
            let (status, body) = get(&address, &path, Some(token));
            assert_eq!(status, 200, "{path}: {body}");
            assert!(body.len() > 2, "{path}: {body}");
        }

        let (status, metrics) = get(&address, "/metrics", Some(token));
        assert_eq!(status, 200);
        let inputs = rows(&url, "SELECT CAST(COUNT(*) AS BIGINT) FROM inputs")[0][0]
            .int()
            .unwrap();
        assert!(
            metrics.contains(&format!("trueup_records_in_total {inputs}\n")),
            "{metrics}"
        );
        for name in [
            "trueup_dead_letters_total",
            "trueup_blank_lines_skipped_total 0\n",
            "trueup_open_breaks{status=\"missing_ledger\"}",
            "trueup_watermark_lag_seconds",
            "trueup_commit_latency_milliseconds",
        ] {
            assert!(metrics.contains(name), "{name} in {metrics}");
        }
        server.kill().unwrap();
        server.wait().unwrap();
        std::fs::remove_dir_all(dir.path().join("out")).unwrap();
    }
}

#[test]
fn the_auditors_guide_sql_runs_on_both_backends() {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/auditors.md"))
        .expect("docs/auditors.md");
    let blocks: Vec<&str> = guide
        .split("```sql\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert!(blocks.len() >= 4, "the guide shows its SQL");
    let dir = tempfile::tempdir().expect("tempdir");
    for url in backends(dir.path()) {
        run_into(dir.path(), 800, &url);
        let frontier = rows(
            &url,
            "SELECT frontier FROM commits ORDER BY batch DESC LIMIT 1",
        )[0][0]
            .str()
            .unwrap()
            .to_string();
        let as_of_ms = trueup::model::time::parse_rfc3339(&frontier).unwrap() - 1;
        for block in &blocks {
            // the guide writes the as-of time as :as_of_ms
            let sql = block.replace(":as_of_ms", &as_of_ms.to_string());
            let answer = rows(&url, sql.trim().trim_end_matches(';'));
            assert!(!answer.is_empty(), "{url}: no rows from\n{sql}");
        }
        std::fs::remove_dir_all(dir.path().join("out")).unwrap();
    }
}

#[test]
fn a_finished_run_started_again_changes_nothing_on_both_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in backends(dir.path()) {
        let out = run_into(dir.path(), 1500, &url);
        let read = |file: &str| std::fs::read(out.join(file)).expect("output file");
        let first: Vec<Vec<u8>> = OUTPUT_FILES.iter().map(|f| read(f)).collect();
        let stored = content(&url);
        // everything is committed: the second run resumes at the end and recomputes only
        run_into(dir.path(), 1500, &url);
        for (file, before) in OUTPUT_FILES.iter().zip(&first) {
            assert!(&read(file) == before, "{url}: {file} changed");
        }
        assert!(content(&url) == stored, "{url}: the store changed");
        std::fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn a_store_made_by_another_version_is_refused_naming_its_columns_on_both_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in backends(dir.path()) {
        let out = run_into(dir.path(), 300, &url);
        // as an earlier version left it: no `attributes` column; and a column unknown here
        let older = match url.starts_with("postgres") {
            true => "ALTER TABLE results DROP COLUMN attributes CASCADE",
            false => {
                "DROP VIEW open_breaks; DROP VIEW current_results; \
                      ALTER TABLE results DROP COLUMN attributes"
            }
        };
        let mut db = Db::open(&url, false).expect("open store");
        db.batch(&format!(
            "{older}; ALTER TABLE commits ADD COLUMN extra TEXT"
        ))
        .expect("alter the store");
        drop(db);
        let results = std::fs::read(out.join("results.jsonl")).expect("results");
        let stored = content(&url);
        let config = dir
            .path()
            .join(format!("config-{}.toml", std::process::id()));
        let commands: [Vec<&std::ffi::OsStr>; 3] = [
            vec!["run".as_ref(), "--config".as_ref(), config.as_os_str()],
            vec![
                "query".as_ref(),
                "--store".as_ref(),
                url.as_ref(),
                "summary".as_ref(),
            ],
            vec!["verify".as_ref(), "--store".as_ref(), url.as_ref()],
        ];
        for args in commands {
            let output = trueup().args(&args).output().expect("trueup");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(!output.status.success(), "{url} {args:?}: {stderr}");
            for named in [
                "the store was made by another version of trueup",
                "its `results` table lacks `attributes`",
                "its `commits` table has `extra`, unknown here",
            ] {
                assert!(stderr.contains(named), "{url} {args:?}: {stderr}");
            }
        }
        // refused before anything was written
        assert!(content(&url) == stored, "{url}: the store changed");
        assert!(
            std::fs::read(out.join("results.jsonl")).expect("results") == results,
            "{url}"
        );
        std::fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn the_store_sums_amounts_beyond_64_bits_exactly_on_both_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // 100 payments of the largest amount, and one payment captured 100 times: the sum is
    // beyond 64-bit minor units, and so is that one group's difference
    let line = |event: String, payment: String| {
        format!(
            r#"{{"event_id":"{event}","payment_id":"{payment}","type":"capture","amount":"999999999999999.99","currency":"USD","occurred_at":"2026-11-01T10:00:00Z"}}"#
        ) + "\n"
    };
    let payments: String = (0..100)
        .map(|i| line(format!("e_{i}"), format!("p_{i}")))
        .chain((0..100).map(|i| line(format!("big_{i}"), "p_big".into())))
        .collect();
    std::fs::write(data.join("payments.jsonl"), payments).unwrap();
    std::fs::write(data.join("entries.jsonl"), "").unwrap();
    for url in backends(dir.path()) {
        let out = dir.path().join("out");
        let config = dir.path().join("config.toml");
        let (p, e) = (data.join("payments.jsonl"), data.join("entries.jsonl"));
        let text = default_config_toml(&p, &e, &out, 2) + &format!("\n[store]\nurl = \"{url}\"\n");
        std::fs::write(&config, text).unwrap();
        run_config(&config);
        let cells = query(&url, &["summary"]);
        let usd: Vec<&serde_json::Value> = (cells.as_array().unwrap().iter())
            .filter(|c| c["rule"] == "payment_ledger" && c["currency"] == "USD")
            .collect();
        assert_eq!(usd.len(), 1, "{cells}");
        assert_eq!(usd[0]["groups"], 101, "{cells}");
        assert_eq!(
            usd[0]["difference"], "199999999999999998.00",
            "{url}: {cells}"
        );
        // the same as the run's own summary
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();
        let status = usd[0]["status"].as_str().unwrap();
        assert_eq!(
            summary["cells"]["payment_ledger"][status]["USD"]["difference"],
            "199999999999999998.00"
        );
        std::fs::remove_dir_all(&out).unwrap();
    }
}

/// The statement trueup's schema creates view `name` with, as SQLite records it.
fn sqlite_view_statement(name: &str) -> String {
    let schema = include_str!("../src/store/schema.sql");
    let start = format!("CREATE VIEW IF NOT EXISTS {name} AS");
    let text = &schema[schema.find(&start).unwrap()..];
    text[..text.find(';').unwrap()].replacen("IF NOT EXISTS ", "", 1)
}

/// `trueup verify --store url` with `extra` arguments: (exit code, stdout).
fn verify_with(url: &str, extra: &[&str]) -> (Option<i32>, String) {
    let out = trueup()
        .args(["verify", "--store", url])
        .args(extra)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code(), text)
}

#[test]
fn verify_is_not_fooled_by_rows_outside_batches_blobs_or_dropped_batches_on_both_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in backends(dir.path()) {
        run_into(dir.path(), 300, &url);
        let (code, text) = verify_with(&url, &[]);
        assert_eq!(code, Some(0), "{text}");
        let head = text.split("head ").nth(1).unwrap().trim().to_string();
        let batches = text.split_whitespace().nth(1).unwrap().to_string();
        let (code, text) = verify_with(
            &url,
            &["--expect-head", &head, "--expect-batches", &batches],
        );
        assert_eq!(
            code,
            Some(0),
            "the printed head and count check out: {text}"
        );

        let mut db = Db::open(&url, false).unwrap();
        let columns = "seq, batch, time_ms, time, diff, rule, key, currency, status, expected, \
            actual, difference, expected_minor, actual_minor, difference_minor, opened_at_ms, \
            opened_at, due_at, left_ids, right_ids, merchant_id";
        let copy = columns
            .replacen("seq", "seq + 1000000", 1)
            .replacen("batch", "NULL", 1)
            .replacen("status", "'matched'", 1);
        if url.starts_with("postgres") {
            // a row outside every batch (the schema forbids it; an intruder can lift that)
            db.query("ALTER TABLE results ALTER COLUMN batch DROP NOT NULL", &[])
                .unwrap();
            let sql = format!(
                "INSERT INTO results ({columns}) SELECT {copy} FROM results \
                 WHERE status = 'missing_ledger' ORDER BY seq LIMIT 1"
            );
            db.query(&sql, &[]).unwrap();
            let (code, text) = verify_with(&url, &[]);
            assert_eq!(code, Some(1), "{text}");
            assert!(
                text.contains("results: 1 rows belong to no committed batch"),
                "{text}"
            );
            db.query("DELETE FROM results WHERE batch IS NULL", &[])
                .unwrap();
            db.query("ALTER TABLE results ALTER COLUMN batch SET NOT NULL", &[])
                .unwrap();
        } else {
            // a BLOB where trueup wrote NULL: not the same as NULL
            let sql = "UPDATE results SET merchant_id = x'00' WHERE seq = \
                (SELECT MIN(seq) FROM results WHERE merchant_id IS NULL) RETURNING batch";
            let batch = db.query(sql, &[]).unwrap()[0][0].int().unwrap();
            let (code, text) = verify_with(&url, &[]);
            assert_eq!(code, Some(1), "{text}");
            assert!(
                text.contains(&format!("batch {batch}: content hash")),
                "{text}"
            );
            db.query(
                "UPDATE results SET merchant_id = NULL WHERE merchant_id = x'00'",
                &[],
            )
            .unwrap();
        }
        assert_eq!(verify_with(&url, &[]).0, Some(0), "restored");
        // a redefined view that hides every break
        let breaks = rows(&url, "SELECT CAST(COUNT(*) AS BIGINT) FROM open_breaks")[0][0].int();
        assert!(breaks.unwrap() > 0, "the scenario has breaks");
        let hide = "AS SELECT * FROM current_results WHERE 1 = 0";
        if url.starts_with("postgres") {
            db.query(&format!("CREATE OR REPLACE VIEW open_breaks {hide}"), &[])
                .unwrap();
        } else {
            db.query("DROP VIEW open_breaks", &[]).unwrap();
            db.query(&format!("CREATE VIEW open_breaks {hide}"), &[])
                .unwrap();
        }
        let (code, text) = verify_with(&url, &[]);
        assert_eq!(code, Some(1), "{text}");
        assert!(
            text.contains("the view open_breaks differs from its definition"),
            "{text}"
        );
        let restore = "AS SELECT * FROM current_results WHERE status NOT IN ('matched', 'pending')";
        if url.starts_with("postgres") {
            db.query(
                &format!("CREATE OR REPLACE VIEW open_breaks {restore}"),
                &[],
            )
            .unwrap();
        } else {
            db.query("DROP VIEW open_breaks", &[]).unwrap();
            // as trueup's schema spells it, which is what the schema check compares
            db.query(&sqlite_view_statement("open_breaks"), &[])
                .unwrap();
        }
        assert_eq!(verify_with(&url, &[]).0, Some(0), "the view restored");
        // the last batch removed whole: the chain still holds, the published head does not
        let last = rows(&url, "SELECT MAX(batch) FROM commits")[0][0]
            .int()
            .unwrap();
        for table in ["inputs", "results", "dead_letters", "commits"] {
            let sql = format!("DELETE FROM {table} WHERE batch = $1");
            db.query(&sql, &[Value::Int(last)]).unwrap();
        }
        let (code, text) = verify_with(&url, &["--expect-head", &head]);
        assert_eq!(code, Some(1), "{text}");
        assert!(text.contains(&format!("not the expected {head}")), "{text}");
        let (code, text) = verify_with(&url, &["--expect-batches", &batches]);
        assert_eq!(code, Some(1), "{text}");
        assert!(
            text.contains(&format!("not the expected {batches}")),
            "{text}"
        );
        std::fs::remove_dir_all(dir.path().join("out")).unwrap();
    }
}

/// Applies `tamper` to the store at `url`, expects `verify` to fail naming `found`, then
/// applies `undo` and expects it to pass again.
fn tampered(url: &str, tamper: &[&str], found: &str, undo: &[&str]) {
    let mut db = Db::open(url, false).unwrap();
    for sql in tamper {
        db.query(sql, &[]).unwrap();
    }
    let (code, text) = verify_with(url, &[]);
    assert_eq!(code, Some(1), "{tamper:?}: {text}");
    assert!(text.contains(found), "{tamper:?}: {text}");
    for sql in undo {
        db.query(sql, &[]).unwrap();
    }
    let (code, text) = verify_with(url, &[]);
    assert_eq!(code, Some(0), "{undo:?} restores it: {text}");
}

#[test]
fn verify_covers_the_config_commit_times_schema_types_and_output_files_on_both_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in backends(dir.path()) {
        let out = run_into(dir.path(), 300, &url);
        assert_eq!(verify_with(&url, &[]).0, Some(0));
        // the run's configuration is what the first batch chains to
        tampered(
            &url,
            &["UPDATE run SET value = value || ' ' WHERE name = 'config'"],
            "batch 1: prev_hash does not chain to the run",
            &["UPDATE run SET value = RTRIM(value) WHERE name = 'config'"],
        );
        // every column of a commit is in its hash, its time too
        let at = rows(&url, "SELECT committed_at FROM commits WHERE batch = 1");
        let undo = format!(
            "UPDATE commits SET committed_at = '{}' WHERE batch = 1",
            at[0][0].str().unwrap()
        );
        tampered(
            &url,
            &["UPDATE commits SET committed_at = '2020-01-01T00:00:00Z' WHERE batch = 1"],
            "batch 1: content hash",
            &[&undo],
        );
        // an object trueup did not create: an index, as a trigger or a rule would be
        tampered(
            &url,
            &["CREATE INDEX intruder ON results (status)"],
            "the schema differs from the one trueup created",
            &["DROP INDEX intruder"],
        );
        if !url.starts_with("postgres") {
            // an index B-tree that is not the index its catalog text describes (two indexes'
            // pages swapped, every line of the catalog as trueup wrote it): queries would read
            // through it
            let root = |name: &str| {
                let sql = format!("SELECT rootpage FROM sqlite_master WHERE name = '{name}'");
                rows(&url, &sql)[0][0].int().unwrap()
            };
            let (key, time) = (root("results_key"), root("results_time"));
            let swap = |(to_key, to_time): (i64, i64)| {
                format!(
                    "UPDATE sqlite_master SET rootpage = CASE name WHEN 'results_key' \
                     THEN {to_key} ELSE {to_time} END WHERE name IN ('results_key', 'results_time')"
                )
            };
            let (forge, restore) = (swap((time, key)), swap((key, time)));
            tampered(
                &url,
                &[
                    "PRAGMA writable_schema = ON",
                    &forge,
                    "PRAGMA writable_schema = OFF",
                ],
                "the database file is not consistent (SQLite integrity_check:",
                &[
                    "PRAGMA writable_schema = ON",
                    &restore,
                    "PRAGMA writable_schema = OFF",
                ],
            );
            // SQLite keeps text in an integer column; PostgreSQL's column types refuse it
            let diff = rows(&url, "SELECT diff FROM results WHERE seq = 1")[0][0].int();
            tampered(
                &url,
                &["UPDATE results SET diff = 'one' WHERE seq = 1"],
                "results: a value of a kind trueup does not write in diff",
                &[&format!(
                    "UPDATE results SET diff = {} WHERE seq = 1",
                    diff.unwrap()
                )],
            );
        }
        // a same-length edit of the results file
        let results = out.join("results.jsonl");
        let original = std::fs::read(&results).unwrap();
        let mut edited = original.clone();
        let at = edited.len() / 2;
        edited[at] = if edited[at] == b'1' { b'2' } else { b'1' };
        std::fs::write(&results, &edited).unwrap();
        let (code, text) = verify_with(&url, &[]);
        assert_eq!(code, Some(1), "{text}");
        assert!(text.contains("bytes differ from what batch"), "{text}");
        std::fs::write(&results, &original).unwrap();
        assert_eq!(verify_with(&url, &[]).0, Some(0), "the file restored");
        output_edits_are_named_and_refused(&url, &out);
        std::fs::remove_dir_all(&out).unwrap();
    }
}

/// After a finished run into `url` writing to `out`: a line appended to the results, an edited
/// summary — each named by verify; an edited committed prefix — refused by the next run, which
/// leaves the file as it found it.
fn output_edits_are_named_and_refused(url: &str, out: &Path) {
    let results = out.join("results.jsonl");
    let original = std::fs::read(&results).unwrap();
    let mut appended = original.clone();
    appended.extend_from_slice(&original[..original.iter().position(|b| *b == b'\n').unwrap() + 1]);
    std::fs::write(&results, &appended).unwrap();
    let (code, text) = verify_with(url, &[]);
    assert_eq!(code, Some(1), "{text}");
    let after = format!("bytes after the {} the last commit", original.len());
    assert!(text.contains(&after), "{text}");
    std::fs::write(&results, &original).unwrap();
    // the summary's digest is the last commit's
    let summary = out.join("summary.json");
    let text = std::fs::read(&summary).unwrap();
    let recorded = rows(
        url,
        "SELECT summary_sha256 FROM commits ORDER BY batch DESC LIMIT 1",
    );
    let digest = format!("{:x}", sha2::Sha256::digest(&text));
    assert_eq!(recorded[0][0].str(), Some(digest.as_str()));
    let edited = String::from_utf8(text.clone())
        .unwrap()
        .replacen("1", "2", 1);
    std::fs::write(&summary, edited).unwrap();
    let (code, found) = verify_with(url, &[]);
    assert_eq!(code, Some(1), "{found}");
    assert!(
        found.contains("sinks.summary") && found.contains("the file was altered"),
        "{found}"
    );
    std::fs::write(&summary, &text).unwrap();
    assert_eq!(verify_with(url, &[]).0, Some(0), "the summary restored");
    // an edit inside what was committed: the next run refuses, naming the file
    let mut edited = original.clone();
    let at = edited.len() / 3;
    edited[at] = if edited[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(&results, &edited).unwrap();
    let config = out
        .parent()
        .unwrap()
        .join(format!("config-{}.toml", std::process::id()));
    let run = trueup()
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(
        stderr.contains("results.jsonl") && stderr.contains("differ from what the last commit"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&results).unwrap(), edited, "left as it was");
    std::fs::write(&results, &original).unwrap();
    run_config(&config);
    assert_eq!(
        verify_with(url, &[]).0,
        Some(0),
        "restored, the run resumes"
    );
}

#[test]
fn the_head_log_holds_each_commit_head_and_verify_checks_against_the_last() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = dir.path().join("store.db").display().to_string();
    let config = scenario(dir.path(), 2000, &url);
    let log = dir.path().join("heads.jsonl");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text += &format!("head_log = \"{}\"\n", log.display());
    std::fs::write(&config, text).unwrap();
    run_config(&config);
    let heads: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let commits = rows(&url, "SELECT batch, hash FROM commits ORDER BY batch");
    assert_eq!(heads.len(), commits.len(), "one line per commit");
    for (head, commit) in heads.iter().zip(&commits) {
        assert_eq!(head["batch"].as_i64(), commit[0].int());
        assert_eq!(head["hash"].as_str(), commit[1].str());
    }
    let last = heads.last().unwrap();
    let (code, text) = verify_with(
        &url,
        &[
            "--expect-head",
            last["hash"].as_str().unwrap(),
            "--expect-batches",
            &last["batch"].to_string(),
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    // heads lost from the log (a crash between a commit and its head's line): the next run
    // of the same config appends them at its start, before anything else
    let full = std::fs::read_to_string(&log).unwrap();
    let kept: String = (full.lines().take(heads.len() - 1))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&log, kept).unwrap();
    run_config(&config);
    let again = std::fs::read_to_string(&log).unwrap();
    assert!(
        again.starts_with(&full),
        "the lost heads appended, in order:\n{full}\n---\n{again}"
    );
    let last = again.lines().last().unwrap();
    let store_head = rows(&url, "SELECT hash FROM commits ORDER BY batch DESC LIMIT 1");
    assert!(last.contains(store_head[0][0].str().unwrap()), "{last}");
}

#[test]
fn serve_survives_running_out_of_file_descriptors_and_answers_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = dir.path().join("store.db").display().to_string();
    run_into(dir.path(), 100, &url);
    // 64 file descriptors, and more idle connections than that: accept() fails with EMFILE
    let token = "s3cret-token-for-tests-0123456789";
    let (mut server, address) = start_serve_with(&url, token, Some(64));
    let idle: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(&address).expect("the backlog takes them"))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        server.try_wait().unwrap().is_none(),
        "the server is still running"
    );
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(answer) = std::panic::catch_unwind(|| get(&address, "/healthz", None)) {
            assert_eq!(answer, (200, "ok\n".into()));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no answer after the idle connections closed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(server.try_wait().unwrap().is_none(), "still running");
    server.kill().unwrap();
    server.wait().unwrap();
}

/// `n` connections to `address`, each having sent `bytes` (for at most 5 s) and nothing since.
fn clients_sending(address: &str, n: usize, bytes: &[u8]) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut stream = TcpStream::connect(address).expect("connect");
            stream
                .set_write_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            stream.write_all(bytes).expect("sent");
            stream
        })
        .collect()
}

/// `/healthz` at `address` answers `ok` within 2 seconds.
fn healthz_answers_within_2_seconds(address: &str) {
    let asked = Instant::now();
    assert_eq!(get(address, "/healthz", None), (200, "ok\n".into()));
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn serve_answers_healthz_past_1000_idle_connections_and_closes_half_sent_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = dir.path().join("store.db").display().to_string();
    run_into(dir.path(), 100, &url);
    let (mut server, address) = start_serve(&url, "s3cret-token-for-tests-0123456789");
    let idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(&address).expect("connect"))
        .collect();
    let mut half_sent = clients_sending(&address, 20, b"GET /v1/summary HTTP/1.1\r\nHost: x\r\n");
    healthz_answers_within_2_seconds(&address);
    // the headers never finish: each half-sent request is closed after the header timeout
    for stream in &mut half_sent {
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let mut rest = Vec::new();
        let started = Instant::now();
        let _ = stream.read_to_end(&mut rest);
        assert!(
            started.elapsed() < Duration::from_secs(14),
            "closed by the server"
        );
    }
    assert!(server.try_wait().unwrap().is_none(), "still running");
    drop(idle);
    server.kill().unwrap();
    server.wait().unwrap();
}

/// A value for a parameter: plausible, extreme, malformed or random bytes, percent-encoded.
fn parameter_value(dice: &mut Dice) -> String {
    let fixed = [
        "",
        "0",
        "1",
        "-1",
        "7",
        "abc",
        "1e9",
        "99999999999999999999999",
        "-0.00",
        "12.345",
        "18446744073709551615",
        "-9223372036854775808",
        "NaN",
        "%00",
        "2026-11-01T00:00:00Z",
        "2026-13-45T99:99:99Z",
        "9999-12-31T23:59:59Z",
        "1970-01-01",
        "missing_ledger",
        "matched",
        "payment_ledger",
        "journal_balance",
        "USD",
        "xyz",
        "pay_0000001",
        "%FF%FE",
        "%ZZ",
        "a%20b",
        "..%2F..%2Fetc%2Fpasswd",
        "' OR 1=1 --",
    ];
    if dice.below(4) > 0 {
        return dice.pick(&fixed).to_string();
    }
    let len = dice.below(40);
    (0..len)
        .map(|_| format!("%{:02X}", dice.below(256)))
        .collect()
}

#[test]
fn random_requests_to_serve_find_no_500_and_no_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut server, address) = serve_a_small_store(dir.path());
    let paths = [
        "/healthz",
        "/metrics",
        "/v1/summary",
        "/v1/breaks",
        "/v1/results/",
        "/v1/lineage/",
        "/v1/",
        "/",
        "/v1/breaks/",
        "/v2/summary",
        "/v1/summary/x",
        "//v1//breaks",
    ];
    let names = [
        "as_of",
        "status",
        "rule",
        "currency",
        "limit",
        "after",
        "min_age_days",
        "min_amount",
        "merchant_id",
        "key",
        "staus",
        "",
        "as_of[]",
        "limit%00",
    ];
    let headers = [
        "",
        "Authorization: Bearer s3cret-token-for-tests-0123456789\r\n",
        "Authorization: bearer s3cret-token-for-tests-0123456789\r\n",
        "Authorization: Bearer\r\n",
        "Authorization: Basic dTpw\r\n",
        "Authorization: \r\n",
        "Accept: */*\r\nX-Junk: \u{1}\r\n",
        "Content-Length: 5\r\n",
        "Authorization: Bearer s3cret-token-for-tests-0123456789x\r\n",
    ];
    let mut dice = Dice::new(0x5EED_CAFE_F00D_1234);
    let started = Instant::now();
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..400 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the fuzz loop is bounded"
        );
        let mut path = dice.pick(&paths).to_string();
        if path.ends_with("/results/") || path.ends_with("/lineage/") {
            path.push_str(&parameter_value(&mut dice));
        }
        let params: Vec<String> = (0..dice.below(5))
            .map(|_| format!("{}={}", dice.pick(&names), parameter_value(&mut dice)))
            .collect();
        if !params.is_empty() {
            path = format!("{path}?{}", params.join("&"));
        }
        let header = dice.pick(&headers);
        let (status, _, body) = exchange(&address, &path, header);
        assert_ne!(status, 500, "GET {path} with {header:?}: {body}");
        *statuses.entry(status).or_insert(0) += 1;
    }
    // every kind of answer was met, and the server still answers
    for status in [200, 400, 401, 404] {
        assert!(statuses.contains_key(&status), "{statuses:?}");
    }
    assert_eq!(get(&address, "/healthz", None), (200, "ok\n".into()));
    assert!(
        server.try_wait().unwrap().is_none(),
        "serve is still running"
    );
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn pages_hold_every_current_row_once_with_retention_generations_on_both_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let at =
        |minutes: u64| trueup::model::time::format_rfc3339(1_793_491_200_000 + minutes * 60_000);
    // each key breaks (no ledger), retires, and breaks again in a second generation
    let mut payments = String::new();
    for (k, minutes) in (0..6).flat_map(|k| [(k, k), (k, 600 + k)]) {
        payments += &format!(
            r#"{{"event_id":"e{k}_{minutes}","payment_id":"pay_{k}","type":"capture","amount":"1.00","currency":"USD","occurred_at":"{}"}}"#,
            at(minutes)
        );
        payments.push('\n');
    }
    payments += &format!(
        r#"{{"event_id":"late","payment_id":"zz","type":"capture","amount":"1.00","currency":"USD","occurred_at":"{}"}}"#,
        at(1500)
    );
    std::fs::write(dir.path().join("p.jsonl"), payments).unwrap();
    std::fs::write(dir.path().join("e.jsonl"), "").unwrap();
    for url in backends(dir.path()) {
        let config = dir.path().join("paging.toml");
        std::fs::write(
            &config,
            format!(
                "[[sources]]\nstream = \"payments\"\npath = \"p.jsonl\"\n[[sources]]\nstream = \"entries\"\npath = \"e.jsonl\"\n\
                 [[rules]]\nkind = \"payment_ledger\"\ngrace_hours = 1\n\
                 [retention]\nsettled_hours = 1\nbreaks_hours = 1\ndedupe_hours = 1\n\
                 [sinks]\nresults = \"out/r.jsonl\"\ndead_letters = \"out/d.jsonl\"\n[store]\nurl = \"{url}\"\n"
            ),
        )
        .unwrap();
        run_config(&config);
        let mut store = trueup::store::Store::open_read_only(&url).unwrap();
        let as_of = store.frontier().unwrap().unwrap();
        let filter = |limit: Option<u64>, after: Option<&String>| trueup::store::query::Filter {
            breaks_only: true,
            limit,
            after: after.map(|a| trueup::store::query::Cursor::parse(a).unwrap()),
            ..Default::default()
        };
        let all = store
            .page_as_of(as_of, &filter(Some(1000), None))
            .unwrap()
            .rows;
        let keys = |rows: &[trueup::store::query::CurrentRow]| {
            rows.iter()
                .map(|r| (r.key.clone(), r.seq))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            all.len(),
            12,
            "two generations of six keys: {:?}",
            keys(&all)
        );
        for limit in 1..=5 {
            let (mut paged, mut after) = (Vec::new(), None);
            loop {
                let page = store
                    .page_as_of(as_of, &filter(Some(limit), after.as_ref()))
                    .unwrap();
                paged.extend(page.rows);
                match page.next_after {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            assert_eq!(keys(&paged), keys(&all), "pages of {limit}");
        }
        std::fs::remove_dir_all(dir.path().join("out")).unwrap();
    }
}

/// Changes the declared type of `table`'s `column` in a SQLite store's catalog from `from` to
/// `to` (as a hostile user can, with `writable_schema`), on a connection of its own.
fn redeclare_sqlite_column(url: &str, table: &str, column: &str, from: &str, to: &str) {
    let mut db = Db::open(url, false).unwrap();
    let version = db.query("PRAGMA schema_version", &[]).unwrap()[0][0].int();
    for sql in [
        "PRAGMA writable_schema = ON".to_string(),
        format!(
            "UPDATE sqlite_master SET sql = replace(sql, '{column} {from}', '{column} {to}') \
             WHERE name = '{table}'"
        ),
        // the connections that open the file next read the changed catalog
        format!("PRAGMA schema_version = {}", version.unwrap() + 1),
        "PRAGMA writable_schema = OFF".to_string(),
    ] {
        db.query(&sql, &[]).unwrap();
    }
}

/// Stores `value` (SQL) in `table.column` of the row `seq` with the column's affinity lifted
/// for the write (so a REAL stays a REAL in a TEXT column), the catalog restored after: every
/// line of the schema as trueup wrote it.
fn store_with_any_class(url: &str, table: &str, column: &str, declared: &str, value: &str) {
    redeclare_sqlite_column(url, table, column, declared, "BLOB");
    let sql = format!("UPDATE {table} SET {column} = {value} WHERE seq = 1");
    Db::open(url, false).unwrap().query(&sql, &[]).unwrap();
    redeclare_sqlite_column(url, table, column, "BLOB", declared);
}

#[test]
fn verify_reads_values_by_storage_class_and_bytes_as_stored_on_both_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in backends(dir.path()) {
        let config = scenario(dir.path(), 200, &url);
        // a line with an invalid byte: its dead letter's raw text holds U+FFFD in its place
        let payments = dir.path().join("data/payments.jsonl");
        let bad = b"{\"event_id\":\"bad\xff\"}\n";
        if !std::fs::read(&payments).unwrap().ends_with(bad) {
            let mut file = std::fs::OpenOptions::new().append(true).open(&payments);
            file.as_mut().unwrap().write_all(bad).unwrap();
        }
        run_config(&config);
        assert_eq!(verify_with(&url, &[]).0, Some(0));
        let where_swapped = match url.starts_with("postgres") {
            true => "WHERE strpos(raw, chr(65533)) > 0",
            false => "WHERE instr(raw, char(65533)) > 0",
        };
        let count = format!("SELECT CAST(COUNT(*) AS BIGINT) FROM dead_letters {where_swapped}");
        let swapped = rows(&url, &count);
        assert_eq!(swapped[0][0].int(), Some(1), "the dead letter holds U+FFFD");
        if url.starts_with("postgres") {
            // a column retyped (PostgreSQL keeps each column's type): named, not a crash
            let retype = |to: &str| {
                around_views(&format!(
                    "ALTER TABLE results ALTER COLUMN merchant_id TYPE {to}"
                ))
            };
            let forge = retype("bytea USING convert_to(merchant_id, 'UTF8')");
            let undo = retype("text USING convert_from(merchant_id, 'UTF8')");
            tampered(
                &url,
                &forge.iter().map(String::as_str).collect::<Vec<_>>(),
                "BYTEA where it writes TEXT",
                &undo.iter().map(String::as_str).collect::<Vec<_>>(),
            );
        } else {
            let difference = rows(&url, "SELECT difference FROM results WHERE seq = 1");
            let restore = match &difference[0][0] {
                Value::Text(text) => format!("'{text}'"),
                _ => "NULL".to_string(),
            };
            for (column, declared, value, kind) in [
                ("difference", "TEXT", "-0.13", "REAL where it writes TEXT"),
                ("difference", "TEXT", "-13", "INTEGER where it writes TEXT"),
                (
                    "difference",
                    "TEXT",
                    "x'2d302e3133'",
                    "BLOB where it writes TEXT",
                ),
                ("diff", "BIGINT", "1.5", "REAL where it writes INTEGER"),
                ("diff", "BIGINT", "x'31'", "BLOB where it writes INTEGER"),
            ] {
                store_with_any_class(&url, "results", column, declared, value);
                let (code, text) = verify_with(&url, &[]);
                assert_eq!(code, Some(1), "{value} in {column}: {text}");
                let named = format!("results: a value of a kind trueup does not write in {column}");
                assert!(
                    text.contains(&format!("{named}: {kind}")),
                    "{value}: {text}"
                );
                let undo = if column == "diff" { "1" } else { &restore };
                store_with_any_class(&url, "results", column, declared, undo);
                assert_eq!(verify_with(&url, &[]).0, Some(0), "{value} undone");
            }
            // U+FFFD as stored swapped for the invalid byte it stood for: it would decode to
            // the same text, but the bytes differ
            let bytes = |from: &str, to: &str| {
                format!(
                    "UPDATE dead_letters SET raw = CAST(replace(CAST(raw AS BLOB), x'{from}', \
                     x'{to}') AS TEXT) {where_swapped}"
                )
            };
            tampered(
                &url,
                &[&bytes("efbfbd", "ff")],
                "TEXT with bytes that are not UTF-8 where it writes TEXT",
                &[&bytes("ff", "efbfbd").replace(where_swapped, "")],
            );
        }
        std::fs::remove_dir_all(dir.path().join("out")).unwrap();
    }
}

#[test]
fn verify_names_row_security_policies_functions_and_collations_on_postgres() {
    let url = postgres_database();
    let dir = tempfile::tempdir().expect("tempdir");
    run_into(dir.path(), 200, &url);
    assert_eq!(verify_with(&url, &[]).0, Some(0));
    // a forced policy hides every break from every statement of the store's owner
    tampered(
        &url,
        &[
            "ALTER TABLE results ENABLE ROW LEVEL SECURITY",
            "ALTER TABLE results FORCE ROW LEVEL SECURITY",
            "CREATE POLICY hide_breaks ON results USING (status IN ('matched', 'pending'))",
        ],
        "hide_breaks PERMISSIVE",
        &[
            "DROP POLICY hide_breaks ON results",
            "ALTER TABLE results NO FORCE ROW LEVEL SECURITY",
            "ALTER TABLE results DISABLE ROW LEVEL SECURITY",
        ],
    );
    tampered(
        &url,
        &["ALTER TABLE results ENABLE ROW LEVEL SECURITY"],
        "\"row security\\tresults\\ttrue false\"",
        &["ALTER TABLE results DISABLE ROW LEVEL SECURITY"],
    );
    tampered(
        &url,
        &["CREATE FUNCTION lower(text) RETURNS text LANGUAGE sql AS 'SELECT $1'"],
        "CREATE OR REPLACE FUNCTION",
        &["DROP FUNCTION public.lower(text)"],
    );
    let collate = |name: &str| {
        around_views(&format!(
            "ALTER TABLE results ALTER COLUMN status TYPE text COLLATE \"{name}\""
        ))
    };
    let (forge, undo) = (collate("POSIX"), collate("default"));
    tampered(
        &url,
        &forge.iter().map(String::as_str).collect::<Vec<_>>(),
        "status text YES  POSIX",
        &undo.iter().map(String::as_str).collect::<Vec<_>>(),
    );
}

/// `statement` between dropping trueup's views and creating them again as its schema spells
/// them (PostgreSQL refuses to retype a column a view reads).
fn around_views(statement: &str) -> Vec<String> {
    vec![
        "DROP VIEW open_breaks".to_string(),
        "DROP VIEW current_results".to_string(),
        statement.to_string(),
        sqlite_view_statement("current_results"),
        sqlite_view_statement("open_breaks"),
    ]
}

#[test]
fn serve_closes_connections_whose_clients_do_not_read_and_answers_healthz_meanwhile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = dir.path().join("store.db").display().to_string();
    run_into(dir.path(), 300, &url);
    let bin = env!("CARGO_BIN_EXE_trueup");
    let (mut server, address) = serve("", bin, &url, TOKEN, "--write-timeout-seconds 2");
    // each client sends 600 requests at once, their answers megabytes more than the socket
    // buffers hold, and reads nothing
    let (requests, clients) = (600, 20);
    let ask = format!(
        "GET /v1/breaks?limit=1000 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    );
    let one = get(&address, "/v1/breaks?limit=1000", Some(TOKEN));
    assert!(one.1.len() > 4000, "a large answer: {} bytes", one.1.len());
    let mut silent = clients_sending(&address, clients, ask.repeat(requests).as_bytes());
    healthz_answers_within_2_seconds(&address);
    std::thread::sleep(Duration::from_secs(5));
    // by now the server has given up on every one: what it wrote before is there to read,
    // then the end of the connection, long before every answer
    for stream in &mut silent {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut got = Vec::new();
        let started = Instant::now();
        let _ = stream.read_to_end(&mut got);
        let answered = String::from_utf8_lossy(&got)
            .matches("HTTP/1.1 200")
            .count();
        assert!(
            answered < requests,
            "{answered} of {requests} answered: the connection was not closed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "closed by the server"
        );
    }
    assert_eq!(get(&address, "/healthz", None), (200, "ok\n".into()));
    assert!(server.try_wait().unwrap().is_none(), "still running");
    server.kill().unwrap();
    server.wait().unwrap();
}
