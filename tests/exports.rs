//! Real exports reconciled by config alone: a Stripe-style balance-transactions JSONL (signed
//! minor units, lowercase currency, Unix seconds), an Adyen-style settlement details CSV (a
//! debit and a credit column, local times with a `TimeZone` column) and a ledger CSV with its
//! own column names (`Dr/Cr`, local time in New York) — checked against results computed by
//! hand, with each bad value a dead letter naming its column.

use std::path::Path;

use trueup::config::{Config, SinksConfig};
use trueup::model::results::ResultRow;
use trueup::model::summary::final_state;
use trueup::runtime::run_collect;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/exports");

fn exports_config(workers: usize, out: &Path) -> Config {
    let mut config = Config::load(&Path::new(FIXTURES).join("exports.toml")).expect("config");
    config.pipeline.workers = workers;
    config.sinks = SinksConfig::files_in(out);
    config
}

/// A result as the hand computation writes it: rule, key, currency, status, expected,
/// actual, merchant.
type Expected = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

fn written(row: &ResultRow) -> (String, String, String, String, String, String, String) {
    let amount = |a: &Option<trueup_operators::Amount>| a.map_or("-".into(), |a| a.to_string());
    (
        row.rule.clone(),
        row.key.clone(),
        row.currency.code().to_string(),
        row.status.as_str().to_string(),
        amount(&row.expected),
        amount(&row.actual),
        row.merchant_id.clone().unwrap_or_else(|| "-".into()),
    )
}

/// Worked out from the three files by hand (see docs/rules.md, "A PSP export against the
/// ledger"): Stripe's ch_2 is a 50.00 capture less a 20.00 refund; Adyen's MR-100 a 100.00
/// settlement less a 30.00 refund; the ledger's 1200 account books each.
const EXPECTED: &[Expected] = &[
    (
        "journal_balance",
        "J1",
        "USD",
        "matched",
        "125.50",
        "125.50",
        "-",
    ),
    (
        "journal_balance",
        "J2",
        "USD",
        "matched",
        "50.00",
        "50.00",
        "-",
    ),
    (
        "journal_balance",
        "J3",
        "USD",
        "matched",
        "20.00",
        "20.00",
        "-",
    ),
    (
        "journal_balance",
        "J4",
        "USD",
        "matched",
        "9.90",
        "9.90",
        "-",
    ),
    (
        "journal_balance",
        "J5",
        "EUR",
        "matched",
        "100.00",
        "100.00",
        "-",
    ),
    (
        "journal_balance",
        "J6",
        "EUR",
        "matched",
        "30.00",
        "30.00",
        "-",
    ),
    (
        "journal_balance",
        "J7",
        "EUR",
        "unbalanced_journal",
        "15.00",
        "14.00",
        "-",
    ),
    (
        "journal_balance",
        "J8",
        "EUR",
        "matched",
        "3.00",
        "3.00",
        "-",
    ),
    (
        "payment_ledger",
        "MR-100",
        "EUR",
        "matched",
        "70.00",
        "70.00",
        "AcmeEU",
    ),
    (
        "payment_ledger",
        "MR-200",
        "EUR",
        "missing_ledger",
        "45.50",
        "0",
        "AcmeEU",
    ),
    (
        "payment_ledger",
        "MR-300",
        "EUR",
        "missing_payment",
        "0",
        "15.00",
        "-",
    ),
    (
        "payment_ledger",
        "ch_1",
        "USD",
        "matched",
        "125.50",
        "125.50",
        "-",
    ),
    (
        "payment_ledger",
        "ch_2",
        "USD",
        "matched",
        "30.00",
        "30.00",
        "-",
    ),
    (
        "payment_ledger",
        "ch_3",
        "USD",
        "amount_mismatch",
        "9.99",
        "9.90",
        "-",
    ),
];

/// Each bad value, where it is and the reason, naming the column.
const DEAD: &[(&str, &str)] = &[
    (
        "stripe_balance_transactions.jsonl:5",
        "field `charge` is empty",
    ),
    (
        "stripe_balance_transactions.jsonl:6",
        "amount \"12.50\" is not a whole number of minor units",
    ),
    (
        "stripe_balance_transactions.jsonl:7",
        "field `created`: \"yesterday\" is not a whole number of Unix seconds",
    ),
    (
        "stripe_balance_transactions.jsonl:8",
        "the amount's sign (+) disagrees with `type` \"refund\"",
    ),
    (
        "adyen_settlement_details.csv:5",
        "both `Gross Debit (GC)` and `Gross Credit (GC)` hold an amount",
    ),
    (
        "adyen_settlement_details.csv:6",
        "field `TimeZone`: \"Mars/Olympus\" is not a time zone",
    ),
    (
        "adyen_settlement_details.csv:7",
        "field `Gross Credit (GC)`: amount has 3 fraction digits; EUR allows 2",
    ),
    (
        "ledger_export.csv:18",
        "field `Dr/Cr`: value \"X\" is not in the field map (C, D)",
    ),
    (
        "ledger_export.csv:19",
        "field `Ccy`: unknown currency \"EURO\"",
    ),
    (
        "ledger_export.csv:20",
        "field `Posting Date`: \"2026-11-31 04:00:00\" is not a local time",
    ),
];

#[test]
fn three_real_exports_are_reconciled_by_config_alone_as_computed_by_hand() {
    for workers in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let output = run_collect(&exports_config(workers, dir.path())).expect("run");
        let state = final_state(&output.changelog);
        let mut got: Vec<_> = state.keys().map(|row| written(row)).collect();
        got.sort();
        let mut want: Vec<_> = EXPECTED
            .iter()
            .map(|e| {
                let s = |t: &str| t.to_string();
                (s(e.0), s(e.1), s(e.2), s(e.3), s(e.4), s(e.5), s(e.6))
            })
            .collect();
        want.sort();
        assert_eq!(got, want, "{workers} workers");
        let mut dead: Vec<_> = output
            .dead_letters
            .iter()
            .map(|d| (d.position.clone(), d.reason.clone()))
            .collect();
        dead.sort();
        assert_eq!(dead.len(), DEAD.len(), "{dead:#?}");
        let mut want_dead = DEAD.to_vec();
        want_dead.sort();
        for ((position, reason), (want_position, want_reason)) in dead.iter().zip(want_dead) {
            assert_eq!(position, want_position);
            assert!(
                reason.contains(want_reason),
                "{position}: {reason:?} should say {want_reason:?}"
            );
        }
    }
}

#[test]
fn mapped_times_units_and_signs_are_read_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_collect(&exports_config(1, dir.path())).expect("run");
    let state = final_state(&output.changelog);
    let opened = |rule: &str, key: &str| {
        let row = state
            .keys()
            .find(|r| r.rule == rule && r.key == key)
            .expect(key);
        trueup::model::time::format_rfc3339(row.opened_at)
    };
    // Unix seconds 1793527200; Adyen's 11:00 CET; the ledger's 05:05 in New York, the first
    // morning after daylight saving time ends (UTC−5)
    assert_eq!(opened("payment_ledger", "ch_1"), "2026-11-01T10:00:00Z");
    assert_eq!(opened("payment_ledger", "MR-100"), "2026-11-01T10:00:00Z");
    assert_eq!(opened("journal_balance", "J1"), "2026-11-01T10:05:00Z");
    assert_eq!(opened("journal_balance", "J8"), "2026-11-02T09:00:00Z");
    assert_eq!(
        output
            .final_watermark
            .map(trueup::model::time::format_rfc3339)
            .as_deref(),
        Some("2026-11-02T09:00:00Z")
    );
}

/// The exports and their config copied into a fresh folder (so that a run's outputs land
/// there), with `edit` applied to the config's text.
fn exports_folder(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(FIXTURES).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let config = dir.path().join("exports.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, edit(text)).unwrap();
    dir
}

fn check(dir: &Path, sample: &str) -> std::process::Output {
    let config = dir.join("exports.toml");
    std::process::Command::new(env!("CARGO_BIN_EXE_trueup"))
        .args([
            "check",
            "--config",
            config.to_str().unwrap(),
            "--sample",
            sample,
        ])
        .output()
        .unwrap()
}

#[test]
fn check_shows_each_columns_role_each_records_fate_and_its_rules_and_writes_nothing() {
    let dir = exports_folder(|text| text);
    let output = check(dir.path(), "8");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    for line in [
        "source 1 of 3: payments from",
        "  kind         ← `type` (charge → capture, refund → refund)",
        "  amount       ← `amount` (minor units, signed)",
        "  time         ← `created` (Unix seconds)",
        "  stripe_balance_transactions.jsonl:3: payment event txn_3 · payment ch_2 · refund 20.00 USD · 2026-11-01T10:30:00Z → payment_ledger (left side of ch_2 USD)",
        "  stripe_balance_transactions.jsonl:5: dead letter: field `charge` is empty",
        "  amount       ← `Gross Debit (GC)` as debit, `Gross Credit (GC)` as credit (decimal)",
        "  time         ← `Creation Date` (local time in the zone named by `TimeZone`)",
        "  adyen_settlement_details.csv:2: payment event 8815000000000001 · payment MR-100 · capture 100.00 EUR · 2026-11-01T10:00:00Z · merchant AcmeEU → payment_ledger (left side of MR-100 EUR)",
        "  direction    ← `Dr/Cr` (C → credit, D → debit)",
        "  ledger_export.csv:2: entry L1 · journal J1 · payment ch_1 · account 1200 · debit 125.50 USD · 2026-11-01T10:05:00Z → payment_ledger (right side of ch_1 USD), journal_balance (left side of J1 USD)",
        "  ledger_export.csv:3: entry L2 · journal J1 · payment ch_1 · account 4000 · credit 125.50 USD · 2026-11-01T10:05:00Z → journal_balance (right side of J1 USD)",
        "15 accepted, 7 dead letters; nothing written",
    ] {
        assert!(stdout.lines().any(|l| l.starts_with(line)), "missing {line:?} in\n{stdout}");
    }
    assert!(!dir.path().join("out").exists(), "check wrote outputs");
    let one = String::from_utf8(check(dir.path(), "1").stdout).unwrap();
    assert!(
        one.ends_with("3 accepted, 0 dead letters; nothing written\n"),
        "{one}"
    );
}

#[test]
fn check_refuses_a_bad_field_map_naming_the_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "id = \"id\"\n",
            "id = \"id\"\nbogus = \"x\"\n",
            "`sources[0].fields`: TOML parse error at line 10",
        ),
        (
            "id = \"id\"\n",
            "id = \"id\"\nid = \"source\"\n",
            "duplicate key",
        ),
        (
            "payment_id = \"charge\"\n",
            "payment_id = \"charge\"\naccount = \"a\"\n",
            "`sources[0].fields.account`: the payments stream has no `account` role",
        ),
        (
            "\"unix_seconds\"",
            "\"unix_second\"",
            "`sources[0].fields.time.format`",
        ),
        (
            "currency = \"Ccy\"",
            "currency = { fixed = \"EURO\" }",
            "`sources[2].fields.currency.fixed`: \"EURO\" is not an ISO 4217 code",
        ),
        (
            "zone = \"America/New_York\"",
            "zone = \"America/Gotham\"",
            "`sources[2].fields.time.zone`: \"America/Gotham\" is not a time zone",
        ),
        (
            "D = \"debit\"",
            "D = \"debet\"",
            "`sources[2].fields.direction.values.D`: \"debet\" is not a direction",
        ),
    ];
    for (from, to, says) in cases {
        let dir = exports_folder(|text| {
            assert!(text.contains(from), "{from}");
            text.replacen(from, to, 1)
        });
        let output = check(dir.path(), "8");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            !output.status.success() && stderr.contains(says),
            "{to}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{to}");
    }
}

#[test]
fn docs_rules_every_config_block_parses_and_the_fixture_config_is_its_example() {
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md"))
        .expect("docs/rules.md");
    let blocks: Vec<&str> = guide
        .split("```toml\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 8, "the guide's config blocks");
    for block in &blocks {
        Config::from_toml(block, Path::new(".")).unwrap_or_else(|e| panic!("{e}\n{block}"));
    }
    // the guide's field maps are the fixture config's, byte for byte
    let fixture = std::fs::read_to_string(Path::new(FIXTURES).join("exports.toml")).unwrap();
    for block in &blocks[..3] {
        let map = block.split("\n[sinks]").next().unwrap();
        assert!(fixture.contains(map), "not in exports.toml:\n{map}");
    }
    let bank = std::fs::read_to_string(Path::new(FIXTURES).join("bank_payouts.toml")).unwrap();
    assert!(
        bank.ends_with(blocks[5]),
        "docs/rules.md's match example is bank_payouts.toml's"
    );
    let batches = std::fs::read_to_string(Path::new(FIXTURES).join("bank_batches.toml")).unwrap();
    assert!(
        batches.ends_with(blocks[6]),
        "docs/rules.md's one-to-many example is bank_batches.toml's"
    );
    let three = std::fs::read_to_string(Path::new(FIXTURES).join("three_way.toml")).unwrap();
    assert!(
        three.ends_with(blocks[7]),
        "docs/rules.md's three-stream example is three_way.toml's"
    );
}

#[test]
fn a_tolerance_floor_matches_a_small_difference_the_relative_part_alone_would_not() {
    // ch_3: 9.99 captured, 9.90 booked; 0.5 % of 9.99 is 0.05, below the 0.09 difference
    for (floor, status) in [("0.08", "amount_mismatch"), ("0.09", "matched")] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = exports_config(1, dir.path());
        let text = format!(
            "relative_bps = 50\nfloor = {{ USD = \"{floor}\" }}\ncap = {{ USD = \"5.00\" }}"
        );
        let tolerance: trueup::config::ToleranceConfig = toml::from_str(&text).unwrap();
        match &mut config.rules[0] {
            trueup::config::RuleConfig::PaymentLedger(rule) => rule.tolerance = tolerance,
            other => panic!("{other:?}"),
        }
        config.validate().unwrap();
        let output = run_collect(&config).expect("run");
        let state = final_state(&output.changelog);
        let ch_3 = state
            .keys()
            .find(|r| r.rule == "payment_ledger" && r.key == "ch_3")
            .unwrap();
        assert_eq!(ch_3.status.as_str(), status, "floor {floor}");
    }
}

/// `payment_ledger` declared as a `balance` of the exports: its breaks carry the declared
/// kind's statuses.
const DECLARED: &str = r#"[[rules]]
kind = "balance"
name = "psp_vs_1200"
left = { stream = "payments", key = "payment_id" }
right = { stream = "entries", key = "payment_id", accounts = ["1200"] }
grace_hours = 1

[[rules]]"#;

fn trueup(args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_trueup"))
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn a_declared_balance_is_stored_queried_traced_and_verified() {
    let dir = exports_folder(|text| {
        let ledger = "[[rules]]\nkind = \"payment_ledger\"\nmatch_accounts = [\"1200\"]\ngrace_hours = 1\n\n[[rules]]";
        assert!(text.contains(ledger));
        text.replacen(ledger, DECLARED, 1)
    });
    let (config, store) = (dir.path().join("exports.toml"), dir.path().join("audit.db"));
    let (config, store) = (config.to_str().unwrap(), store.to_str().unwrap());
    let (ok, out) = trueup(&["run", "--config", config, "--store", store]);
    assert!(ok, "{out}");
    assert!(out.contains("psp_vs_1200"), "{out}");
    let (ok, out) = trueup(&["verify", "--store", store]);
    assert!(ok && out.contains(": 0 problem(s)"), "{out}");
    let query = |args: &[&str]| {
        let (ok, out) = trueup(&[&["query", "--store", store], args].concat());
        assert!(ok, "{out}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let statuses = |answer: &serde_json::Value| -> Vec<String> {
        let rows = answer
            .as_array()
            .cloned()
            .or_else(|| answer["results"].as_array().cloned());
        rows.unwrap_or_default()
            .iter()
            .map(|r| format!("{} {}", r["rule"], r["status"]))
            .collect()
    };
    for (key, status) in [
        ("MR-200", "unmatched_left"),
        ("MR-300", "unmatched_right"),
        ("ch_3", "amount_mismatch"),
        ("ch_2", "matched"),
    ] {
        let answer = query(&["result", key, "--rule", "psp_vs_1200"]);
        assert_eq!(
            statuses(&answer),
            [format!("\"psp_vs_1200\" \"{status}\"")],
            "{key}: {answer}"
        );
    }
    let lineage = query(&["lineage", "ch_2"]).to_string();
    for traced in [
        "txn_2",
        "txn_3",
        "L3",
        "L5",
        "stripe_balance_transactions.jsonl",
        "ledger_export.csv",
    ] {
        assert!(
            lineage.contains(traced),
            "lineage of ch_2 lacks {traced}: {lineage}"
        );
    }
    let breaks = query(&["breaks", "--rule", "psp_vs_1200"]).to_string();
    for key in ["MR-200", "MR-300", "ch_3"] {
        assert!(breaks.contains(key), "{breaks}");
    }
    assert!(!breaks.contains("\"ch_2\""), "{breaks}");
    let served = served_breaks(store, "psp_vs_1200");
    for key in ["MR-200", "MR-300", "ch_3"] {
        assert!(
            served.contains(&format!("\"{key}\"")),
            "{key} not served: {served}"
        );
    }
    assert!(
        served.contains("\"unmatched_left\"") && !served.contains("\"ch_2\""),
        "{served}"
    );
}

/// `/v1/breaks?rule={rule}` of a `trueup serve` of `store`, over a real socket.
fn served_breaks(store: &str, rule: &str) -> String {
    let binary = env!("CARGO_BIN_EXE_trueup");
    let token = "t0ken-for-the-exports-tests";
    let (_server, address) = trueup_testing::http::serve("", binary, store, token, "");
    let auth = format!("Authorization: Bearer {token}\r\n");
    let path = format!("/v1/breaks?rule={rule}&limit=100");
    let (status, _, body) = trueup_testing::http::exchange(&address, &path, &auth);
    assert_eq!(status, 200, "{body}");
    body
}

fn bank_payouts_config(workers: usize, out: &Path) -> Config {
    fixture_config("bank_payouts.toml", workers, out)
}

/// The fixture config `name` on `workers` workers, writing into `out`.
fn fixture_config(name: &str, workers: usize, out: &Path) -> Config {
    let mut config = Config::load(&Path::new(FIXTURES).join(name)).expect("config");
    config.pipeline.workers = workers;
    config.sinks = SinksConfig::files_in(out);
    config
}

/// Worked out by hand from psp_payouts.csv and bank_statement.csv (docs/rules.md, "Bank lines
/// against payouts"): key, status, expected, actual, left ids, right ids.
const PAIRS: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("b5", "unmatched_right", "0", "75.00", "", "b5"),
    ("b6", "unmatched_right", "0", "500.00", "", "b6"),
    ("b7", "unmatched_right", "0", "12.00", "", "b7"),
    ("b8", "pending", "0", "30.00", "", "b8"),
    ("po_1", "matched", "1000.00", "1000.00", "po_1", "b1"),
    ("po_2", "ambiguous", "250.00", "500.00", "po_2", "b2 b3"),
    ("po_3", "unmatched_left", "250.00", "0", "po_3", ""),
    ("po_4", "matched", "75.00", "75.00", "po_4", "b4"),
    ("po_5", "unmatched_left", "500.00", "0", "po_5", ""),
];

#[test]
fn bank_lines_are_paired_with_payouts_by_amount_within_two_days_as_computed_by_hand() {
    assert_pairs("bank_payouts.toml", PAIRS);
}

/// Worked out by hand from bank_batches.csv and settlement_details.csv (docs/rules.md, "One
/// to many"): key, status, expected, actual, left ids, right ids.
const BATCHES: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("B4", "unmatched_right", "0", "100.00", "", "sd_7 sd_8"),
    ("B7", "pending", "0", "10.00", "", "sd_11"),
    ("k1", "matched", "950.00", "950.00", "k1", "sd_1 sd_2 sd_3"),
    ("k2", "matched", "500.00", "500.00", "k2", "sd_4 sd_5"),
    ("k3", "matched", "120.00", "120.00", "k3", "sd_6"),
    ("k4", "unmatched_left", "100.00", "0", "k4", ""),
    ("k5", "ambiguous", "40.00", "80.00", "k5", "sd_10 sd_9"),
];

/// Worked out by hand from psp_transactions.csv, payouts.csv and bank_lines.csv (docs/rules.md,
/// "Three streams"): rule and key, status, expected, actual, left ids, right ids.
const THREE_WAY: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "payout_totals P1",
        "matched",
        "120.00",
        "120.00",
        "P1",
        "t1 t2 t3",
    ),
    (
        "payout_totals P2",
        "amount_mismatch",
        "190.00",
        "200.00",
        "P2",
        "t4",
    ),
    ("payout_totals P3", "matched", "80.00", "80.00", "P3", "t5"),
    (
        "payouts_to_bank P1",
        "matched",
        "120.00",
        "120.00",
        "P1",
        "k1",
    ),
    (
        "payouts_to_bank P2",
        "matched",
        "190.00",
        "190.00",
        "P2",
        "k2",
    ),
    (
        "payouts_to_bank P3",
        "unmatched_left",
        "80.00",
        "0",
        "P3",
        "",
    ),
    ("payouts_to_bank k3", "pending", "0", "15.00", "", "k3"),
];

#[test]
fn three_streams_payouts_against_the_bank_and_their_transactions_as_computed_by_hand() {
    assert_pairs("three_way.toml", THREE_WAY);
}

#[test]
fn bank_lines_are_paired_with_the_sum_of_a_settlement_batch_as_computed_by_hand() {
    assert_pairs("bank_batches.toml", BATCHES);
}

/// Worked out by hand from the same files: each result's key and the attributes its records
/// carry (the bank line's `Booking Text` as `text`, the settlement lines' `Description` as
/// `description`).
const CARRIED: &[(&str, &str)] = &[
    ("B4", r#"{"description":["capture"]}"#),
    ("B7", r#"{"description":["capture"]}"#),
    (
        "k1",
        r#"{"description":["capture","refund"],"text":["PSP BATCH B1"]}"#,
    ),
    (
        "k2",
        r#"{"description":["capture"],"text":["PSP BATCH B2"]}"#,
    ),
    (
        "k3",
        r#"{"description":["capture"],"text":["PSP BATCH B3"]}"#,
    ),
    ("k4", r#"{"text":["PSP BATCH B4"]}"#),
    ("k5", r#"{"description":["capture"],"text":["PSP BATCH"]}"#),
];

#[test]
fn declared_attributes_are_carried_into_results_as_computed_by_hand() {
    for workers in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let config = fixture_config("bank_batches.toml", workers, dir.path());
        let output = run_collect(&config).expect("run");
        let mut got: Vec<(String, String)> = final_state(&output.changelog)
            .keys()
            .map(|r| {
                let attributes = trueup::model::results::Attributes(&r.attributes);
                (r.key.clone(), serde_json::to_string(&attributes).unwrap())
            })
            .collect();
        got.sort();
        let want: Vec<_> = (CARRIED.iter())
            .map(|(key, carried)| (key.to_string(), carried.to_string()))
            .collect();
        assert_eq!(got, want, "{workers} workers");
        // as the changelog line writes them, after the merchant
        let (k1, time, diff) = (output.changelog.iter())
            .find(|(row, _, diff)| row.key == "k1" && *diff == 1)
            .expect("k1 asserted");
        let mut line = Vec::new();
        trueup::model::results::ChangelogLine::new(k1, *time, *diff as i64).write_json(&mut line);
        let carried = r#""merchant_id":null,"attributes":{"description":["capture","refund"],"text":["PSP BATCH B1"]}}"#;
        let line = String::from_utf8(line).unwrap();
        assert!(line.ends_with(carried), "{line}");
    }
}

/// Runs the fixture config `name` on 1 and 2 workers; its final results must be `pairs`
/// (keyed by the result's key, preceded by its rule's name when the config has several).
fn assert_pairs(name: &str, pairs: &[(&str, &str, &str, &str, &str, &str)]) {
    let several = fixture_config(name, 1, Path::new(".")).rules.len() > 1;
    let key_of = |r: &ResultRow| match several {
        true => format!("{} {}", r.rule, r.key),
        false => r.key.clone(),
    };
    for workers in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let output = run_collect(&fixture_config(name, workers, dir.path())).expect("run");
        assert!(output.dead_letters.is_empty(), "{:?}", output.dead_letters);
        let state = final_state(&output.changelog);
        let mut got: Vec<_> = state
            .keys()
            .map(|r| {
                let amount = |a: &Option<trueup_operators::Amount>| a.unwrap().to_string();
                (
                    key_of(r),
                    r.status.as_str().to_string(),
                    amount(&r.expected),
                    amount(&r.actual),
                    r.left_ids.join(" "),
                    r.right_ids.join(" "),
                )
            })
            .collect();
        got.sort();
        let want: Vec<_> = pairs
            .iter()
            .map(|p| {
                let s = |t: &str| t.to_string();
                (s(p.0), s(p.1), s(p.2), s(p.3), s(p.4), s(p.5))
            })
            .collect();
        assert_eq!(got, want, "{workers} workers");
    }
}

#[test]
fn a_better_candidate_arriving_later_re_pairs_retracting_the_first_pair() {
    // po_4 (Nov 5) first meets b5 (Nov 3, two days off); b4 (Nov 6, one day off) comes after
    let dir = tempfile::tempdir().unwrap();
    let output = run_collect(&bank_payouts_config(1, dir.path())).expect("run");
    let changes: Vec<(String, String, isize)> = output
        .changelog
        .iter()
        .filter(|(row, _, _)| row.key == "po_4" || row.key == "b5")
        .map(|(row, _, diff)| {
            let pair = format!(
                "{} {} [{}]",
                row.key,
                row.status.as_str(),
                row.right_ids.join(" ")
            );
            (
                pair,
                trueup::model::time::format_rfc3339(row.opened_at),
                *diff,
            )
        })
        .collect();
    let first_pair = changes
        .iter()
        .position(|c| c.0 == "po_4 matched [b5]" && c.2 == 1);
    let retracted = changes
        .iter()
        .position(|c| c.0 == "po_4 matched [b5]" && c.2 == -1);
    let second_pair = changes
        .iter()
        .position(|c| c.0 == "po_4 matched [b4]" && c.2 == 1);
    assert!(
        matches!((first_pair, retracted, second_pair), (Some(a), Some(b), Some(c)) if a < b && b <= c + 1),
        "{changes:#?}"
    );
    assert!(
        changes
            .iter()
            .any(|c| c.0 == "b5 unmatched_right [b5]" && c.2 == 1),
        "{changes:#?}"
    );
}

#[test]
fn a_match_rule_is_stored_queried_traced_and_verified() {
    let (_dir, store, (ok, out)) = bank_payouts_stored();
    let store = store.as_str();
    assert!(ok && out.contains("ambiguous"), "{out}");
    let (ok, out) = trueup(&["verify", "--store", store]);
    assert!(ok && out.contains(": 0 problem(s)"), "{out}");
    let (ok, out) = trueup(&["query", "--store", store, "result", "po_2"]);
    assert!(ok, "{out}");
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = answer
        .as_array()
        .cloned()
        .or_else(|| answer["results"].as_array().cloned())
        .unwrap();
    assert_eq!(rows.len(), 1, "{answer}");
    assert_eq!(
        (
            rows[0]["status"].as_str(),
            rows[0]["right_ids"].to_string().as_str()
        ),
        (Some("ambiguous"), r#"["b2","b3"]"#)
    );
    let (ok, lineage) = trueup(&["query", "--store", store, "lineage", "po_2"]);
    assert!(ok, "{lineage}");
    for traced in [
        "psp_payouts.csv:3",
        "bank_statement.csv:3",
        "bank_statement.csv:4",
    ] {
        assert!(
            lineage.contains(traced),
            "lineage of po_2 lacks {traced}: {lineage}"
        );
    }
    let (ok, breaks) = trueup(&[
        "query",
        "--store",
        store,
        "breaks",
        "--rule",
        "payouts_to_bank",
    ]);
    assert!(ok, "{breaks}");
    for key in ["po_2", "po_3", "po_5", "b5", "b6", "b7"] {
        assert!(
            breaks.contains(&format!("\"{key}\"")),
            "{key} not a break: {breaks}"
        );
    }
    assert!(
        !breaks.contains("\"po_1\"") && !breaks.contains("\"b8\""),
        "{breaks}"
    );
    // the same over HTTP
    let binary = env!("CARGO_BIN_EXE_trueup");
    let (_server, address) =
        trueup_testing::http::serve("", binary, store, "t0ken-for-the-exports-tests", "");
    let auth = "Authorization: Bearer t0ken-for-the-exports-tests\r\n";
    let get = |path: &str| {
        let (status, _, body) = trueup_testing::http::exchange(&address, path, auth);
        assert_eq!(status, 200, "{path}: {body}");
        body
    };
    let result = get("/v1/results/po_2");
    assert!(
        result.contains("\"ambiguous\"") && result.contains("\"b3\""),
        "{result}"
    );
    let served = get("/v1/breaks?rule=payouts_to_bank&limit=100");
    for key in ["po_2", "po_3", "po_5", "b5", "b6", "b7"] {
        assert!(
            served.contains(&format!("\"{key}\"")),
            "{key} not a break: {served}"
        );
    }
    assert!(!served.contains("\"po_1\""), "{served}");
    let lineage = get("/v1/lineage/po_2");
    assert!(lineage.contains("bank_statement.csv:4"), "{lineage}");
    let summary = get("/v1/summary");
    assert!(
        summary.contains("unmatched_right") && summary.contains("ambiguous"),
        "{summary}"
    );
}

#[test]
fn a_later_match_rule_is_offered_only_what_earlier_ones_did_not_claim() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = bank_payouts_config(2, dir.path());
    let text = r#"
        kind = "match"
        name = "within_five_days"
        left = { stream = "entries", accounts = ["psp_payouts"] }
        right = { stream = "entries", accounts = ["bank"] }
        window_hours = 120
        grace_hours = 24
    "#;
    config.rules.push(toml::from_str(text).unwrap());
    config.validate().unwrap();
    let output = run_collect(&config).expect("run");
    let state = final_state(&output.changelog);
    let mut second: Vec<String> = state
        .keys()
        .filter(|r| r.rule == "within_five_days")
        .map(|r| {
            format!(
                "{} {} [{}]",
                r.key,
                r.status.as_str(),
                r.right_ids.join(" ")
            )
        })
        .collect();
    second.sort();
    // po_1, po_2 (with b2, b3) and po_4 (with b4) were claimed by payouts_to_bank; po_5 and b6,
    // four days apart, pair under the wider window; po_3's 250.00 finds no 250.00 line left
    assert_eq!(
        second,
        [
            "b5 unmatched_right [b5]",
            "b7 unmatched_right [b7]",
            "b8 pending [b8]",
            "po_3 unmatched_left []",
            "po_5 matched [b6]",
        ]
    );
    let first = state.keys().filter(|r| r.rule == "payouts_to_bank").count();
    assert_eq!(
        first,
        PAIRS.len(),
        "the first rule's results are as without the second"
    );
}

#[test]
fn a_rule_or_source_naming_an_undeclared_stream_is_refused_naming_the_key() {
    for (from, to, says) in [
        (
            "left = { stream = \"entries\", accounts = [\"psp_payouts\"] }",
            "left = { stream = \"bank\", accounts = [\"psp_payouts\"] }",
            "`rules[0].left.stream`",
        ),
        (
            "stream = \"entries\"\npath = \"bank",
            "stream = \"bank\"\npath = \"bank",
            "`sources[1].stream`",
        ),
    ] {
        let says = [says, "no [[streams]] entry declares \"bank\""];
        let dir = exports_folder(|text| text);
        let config = dir.path().join("bank_payouts.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        assert!(text.contains(from), "{from}");
        std::fs::write(&config, text.replacen(from, to, 1)).unwrap();
        let (ok, out) = trueup(&["check", "--config", config.to_str().unwrap()]);
        assert!(!ok && says.iter().all(|s| out.contains(s)), "{to}: {out}");
    }
}

#[test]
fn docs_pipeline_config_block_parses_and_is_the_examples() {
    let guide = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/operators/pipeline.md"
    ))
    .expect("docs/operators/pipeline.md");
    let blocks: Vec<&str> = guide
        .split("```toml\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 1);
    let config = Config::from_toml(blocks[0], Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.rules.len(), 2);
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/three_way.toml"
    ))
    .unwrap();
    assert!(
        example.ends_with(blocks[0]),
        "docs/operators/pipeline.md's config is examples/three_way.toml's"
    );
    let code = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/three_way.rs"
    ))
    .unwrap();
    let squeeze = |text: &str| text.split_whitespace().collect::<String>();
    let graph = guide
        .split("```rust\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    for line in graph
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("tallied("))
    {
        assert!(
            squeeze(&code).contains(&squeeze(line)),
            "not in examples/three_way.rs: {line}"
        );
    }
}

#[test]
fn a_command_whose_reader_has_gone_ends_quietly() {
    // `trueup query … | head`: the reader closes before the output is written
    let (dir, store, (ok, out)) = bank_payouts_stored();
    let (store, config) = (store.as_str(), dir.path().join("bank_payouts.toml"));
    let config = config.to_str().unwrap();
    assert!(ok, "{out}");
    for args in [
        &["query", "--store", store, "lineage", "po_2"][..],
        &["verify", "--store", store],
        &["check", "--config", config],
        &["run", "--config", config],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_trueup"))
            .args(args)
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && !stderr.contains("panicked") && !stderr.contains("error"),
            "{args:?}: {output:?}"
        );
    }
}

/// The bank fixture run into a SQLite store in a fresh folder: the folder (kept while the
/// test runs), the store's path, and the run's success and output.
fn bank_payouts_stored() -> (tempfile::TempDir, String, (bool, String)) {
    fixture_stored("bank_payouts.toml", |_| {})
}

/// The fixtures copied to a folder, `edit` applied to it, the config `name` run with a store
/// there: the folder, the store's path, and the run's success and output.
fn fixture_stored(name: &str, edit: impl Fn(&Path)) -> (tempfile::TempDir, String, (bool, String)) {
    let dir = exports_folder(|text| text);
    edit(dir.path());
    let config = dir.path().join(name);
    let store = dir.path().join("audit.db").display().to_string();
    let run = trueup(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--store",
        &store,
    ]);
    (dir, store, run)
}

/// Appends `lines` to the fixture file `name` in `dir`.
fn append(dir: &Path, name: &str, lines: &str) {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).unwrap() + lines;
    std::fs::write(path, text).unwrap();
}

#[test]
fn declared_streams_are_stored_queried_traced_and_verified_with_their_dead_letters() {
    // a copy of sd_1 (absorbed), a conflicting version of sd_2, and four bad lines
    let bad = "sd_1,B1,2026-11-01,600.00,EUR,capture\n\
               sd_2,B1,2026-11-01,401.00,EUR,capture\n\
               sd_12,B8,2026-11-12,5.00,EUR,chargeback\n\
               sd_13,B8,2026-11-12,5.0x,EUR,capture\n\
               sd_14,B8,2026-13-12,5.00,EUR,capture\n\
               sd_15,B8,2026-11-12,5.00,XYZ,capture\n";
    // and two versions of a bank line whose id is also a settlement line's: two conflicts
    let bank = "sd_2,2026-11-03,DUPLICATE,1.00,EUR\nsd_2,2026-11-03,DUPLICATE,2.00,EUR\n";
    let (dir, store, (ok, out)) = fixture_stored("bank_batches.toml", |dir| {
        append(dir, "settlement_details.csv", bad);
        append(dir, "bank_batches.csv", bank);
    });
    let store = store.as_str();
    assert!(ok, "{out}");
    let letters = std::fs::read_to_string(dir.path().join("out/dead_letters.jsonl")).unwrap();
    for (line, says) in [
        (
            15,
            "field `Description`: value \\\"chargeback\\\" is not in the field map",
        ),
        (16, "field `Net`: amount"),
        (17, "field `Booked`: \\\"2026-13-12\\\" is not a date"),
        (18, "field `Currency`: unknown currency \\\"XYZ\\\""),
    ] {
        let position = format!("settlement_details.csv:{line}");
        let letter = letters.lines().find(|l| l.contains(&position));
        assert!(
            letter.is_some_and(|l| l.contains(says) && l.contains("\"source\":\"settlement\"")),
            "{position} should say {says}: {letters}"
        );
    }
    let summary = std::fs::read_to_string(dir.path().join("out/summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["accepted"]["settlement"], 13, "{summary}");
    assert_eq!(summary["accepted"]["bank"], 7, "{summary}");
    assert_eq!(summary["redeliveries"]["settlement"], 1, "{summary}");
    let (ok, out) = trueup(&["verify", "--store", store]);
    assert!(ok && out.contains(": 0 problem(s)"), "{out}");
    // sd_2's two versions are a dedupe conflict; B1 is then 600.00 − 50.00, k1 unpaired
    // one result per stream, each naming it
    let (ok, out) = trueup(&["query", "--store", store, "result", "sd_2"]);
    let results: serde_json::Value = serde_json::from_str(&out).expect(&out);
    let mut streams: Vec<_> = (results.as_array().into_iter().flatten())
        .map(|r| (r["status"].as_str(), r["attributes"]["stream"][0].as_str()))
        .collect();
    streams.sort();
    let conflict = |stream| (Some("conflicting_duplicate"), Some(stream));
    assert!(
        ok && streams == [conflict("bank"), conflict("settlement")],
        "{out}"
    );
    let (ok, out) = trueup(&["query", "--store", store, "result", "k2"]);
    assert!(
        ok && out.contains("\"matched\"") && out.contains("sd_5"),
        "{out}"
    );
    let carried = r#""attributes": {
      "description": [
        "capture"
      ],
      "text": [
        "PSP BATCH B2"
      ]
    }"#;
    assert!(out.contains(carried), "k2's carried attributes: {out}");
    // and over HTTP: k4, unpaired, with its bank line's text
    let served = served_breaks(store, "bank_to_batches");
    let rows: serde_json::Value = serde_json::from_str(&served).expect(&served);
    let k4 = (rows.as_array().into_iter().flatten()).find(|row| row["key"] == "k4");
    let text = k4.map(|row| row["attributes"]["text"].clone());
    assert_eq!(text, Some(serde_json::json!(["PSP BATCH B4"])), "{served}");
    let (ok, lineage) = trueup(&["query", "--store", store, "lineage", "k2"]);
    assert!(ok, "{lineage}");
    for traced in [
        "bank_batches.csv:3",
        "settlement_details.csv:5",
        "settlement_details.csv:6",
    ] {
        assert!(
            lineage.contains(traced),
            "lineage of k2 lacks {traced}: {lineage}"
        );
    }
}

#[test]
fn check_shows_a_declared_streams_roles_keys_sign_and_rules() {
    let config = Path::new(FIXTURES).join("bank_batches.toml");
    let (ok, out) = trueup(&[
        "check",
        "--config",
        config.to_str().unwrap(),
        "--sample",
        "3",
    ]);
    assert!(ok, "{out}");
    for line in [
        "source 2 of 2: settlement from ",
        "  key          ← batch: `Batch` (optional)",
        "  sign         ← `Description` (capture → +, refund → -)",
        "  carry        ← description: `Description` (optional), into results",
        "  amount       ← `Net` (decimal, > 0)",
        "  settlement_details.csv:4: settlement sd_3 · batch B1 · description refund · -50.00 EUR · 2026-11-01T23:00:00Z → bank_to_batches (right side, EUR)",
        "  bank_batches.csv:2: bank k1 · text PSP BATCH B1 · 950.00 EUR · 2026-11-02T23:00:00Z → bank_to_batches (left side, EUR)",
        "6 accepted, 0 dead letters; nothing written",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}
