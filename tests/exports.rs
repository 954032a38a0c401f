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
