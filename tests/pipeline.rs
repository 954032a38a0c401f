//! End-to-end checks of the standard pipeline: ground truth, determinism across workers and
//! batch sizes, the naive oracle on random inputs, and bad input.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use trueup::config::Config;
use trueup::config::Format;
use trueup::generate::{generate, GenerateOptions, TruthLine};
use trueup::model::results::ResultRow;
use trueup::model::summary::final_state;
use trueup::model::time::Tick;
use trueup::model::Record;
use trueup::runtime::job::default_config;
use trueup::runtime::{run_collect, RunOutput};
use trueup::sources::file::FileSource;
use trueup::sources::{Polled, Progress, Source};
use trueup_testing::oracle;

fn config_for(dir: &Path, payments: &Path, entries: &Path, workers: usize, batch: usize) -> Config {
    let mut config = default_config(payments, entries, &dir.join("out"), workers);
    config.pipeline.batch_size = batch;
    config
}

/// Generates `payments` payments with `seed` and runs them once with 1 worker as a baseline.
fn generated_with_baseline(
    dir: &Path,
    seed: u64,
    payments: usize,
) -> (trueup::generate::Generated, RunOutput) {
    let options = GenerateOptions {
        seed,
        payments,
        ..GenerateOptions::default()
    };
    let generated = generate(dir, &options).unwrap();
    let baseline = run_collect(&config_for(
        dir,
        &generated.payments,
        &generated.entries,
        1,
        10_000,
    ))
    .unwrap();
    (generated, baseline)
}

fn state_of(output: &RunOutput) -> BTreeMap<&ResultRow, isize> {
    final_state(&output.changelog)
}

fn statuses(state: &BTreeMap<&ResultRow, isize>) -> BTreeSet<TruthLine> {
    state
        .iter()
        .map(|(row, n)| {
            assert_eq!(*n, 1, "every group has exactly one current result: {row:?}");
            TruthLine {
                rule: row.rule.clone(),
                key: row.key.clone(),
                currency: row.currency.code().into(),
                status: row.status,
            }
        })
        .collect()
}

#[test]
fn final_state_equals_ground_truth_for_several_seeds() {
    for (seed, csv) in [(1, false), (2, false), (3, true), (4, false)] {
        let dir = tempfile::tempdir().unwrap();
        let options = GenerateOptions {
            seed,
            payments: 1500,
            fault_per_mille: 20,
            csv,
            ..GenerateOptions::default()
        };
        let generated = generate(dir.path(), &options).unwrap();
        let output = run_collect(&config_for(
            dir.path(),
            &generated.payments,
            &generated.entries,
            1,
            1000,
        ))
        .unwrap();
        let got = statuses(&state_of(&output));
        let want: BTreeSet<TruthLine> = generated.truth.iter().cloned().collect();
        let missing: Vec<_> = want.difference(&got).take(5).collect();
        let extra: Vec<_> = got.difference(&want).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "seed {seed}: missing {missing:?}, unexpected {extra:?}"
        );
        assert_eq!(
            output.dead_letters.len() as u64,
            generated.meta.invalid_lines,
            "seed {seed}: dead letters"
        );
        let redelivered: i64 = output.counters.redeliveries.values().sum();
        assert_eq!(
            redelivered as u64, generated.meta.redeliveries,
            "seed {seed}: redeliveries"
        );
        let breaks = want.iter().filter(|t| t.status.is_break()).count();
        assert!(
            breaks > 20,
            "seed {seed}: the data should exercise breaks, got {breaks}"
        );
    }
}

#[test]
fn same_results_with_1_2_and_4_workers_and_any_batch_size() {
    let dir = tempfile::tempdir().unwrap();
    let (generated, baseline) = generated_with_baseline(dir.path(), 11, 800);
    assert_eq!(
        baseline.counters.late, 0,
        "the generator stays inside the allowed lateness"
    );
    for (workers, batch) in [(2, 10_000), (4, 10_000), (1, 7), (2, 333), (4, 50)] {
        let other = run_collect(&config_for(
            dir.path(),
            &generated.payments,
            &generated.entries,
            workers,
            batch,
        ))
        .unwrap();
        assert_eq!(
            state_of(&other),
            state_of(&baseline),
            "final state, {workers} workers, batch {batch}"
        );
        assert_eq!(
            other.changelog, baseline.changelog,
            "changelog, {workers} workers, batch {batch}"
        );
        // dead letters are delivered at the time they were read, which batching moves
        assert_eq!(
            sorted(other.dead_letters),
            sorted(baseline.dead_letters.clone()),
            "dead letters, {workers} workers, batch {batch}"
        );
    }
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

fn read_all(path: &Path, stream: trueup::model::Stream) -> Vec<Record> {
    read_through(path, trueup::config::fields::Layout::builtin(stream))
}

/// The records of the file at `path` read through `layout` (dead letters left out).
fn read_through(path: &Path, layout: trueup::config::fields::Layout) -> Vec<Record> {
    let layout = std::sync::Arc::new(layout);
    let mut source = FileSource::open(layout, path, Format::from_path(path), 0, 1).unwrap();
    let mut items = Vec::new();
    while source.poll(1000, &mut items).unwrap() == Progress::More {}
    items
        .into_iter()
        .filter_map(|i| match i {
            Polled::Record(r, _) => Some(r),
            Polled::Dead(_) => None,
        })
        .collect()
}

#[test]
fn pipeline_agrees_with_the_naive_oracle() {
    for seed in 20..23 {
        let dir = tempfile::tempdir().unwrap();
        let options = GenerateOptions {
            seed,
            payments: 400,
            fault_per_mille: 40,
            redelivery_per_mille: 50,
            ..GenerateOptions::default()
        };
        let generated = generate(dir.path(), &options).unwrap();
        let config = config_for(dir.path(), &generated.payments, &generated.entries, 2, 500);
        let output = run_collect(&config).unwrap();
        let mut records = read_all(&generated.payments, trueup::model::Stream::Payments);
        records.extend(read_all(&generated.entries, trueup::model::Stream::Entries));
        let want = oracle::final_state(&records, &config.rules, Tick(config.pipeline.tick_millis));
        let got: BTreeSet<ResultRow> = state_of(&output).into_keys().cloned().collect();
        let missing: Vec<_> = want.difference(&got).take(3).collect();
        let extra: Vec<_> = got.difference(&want).take(3).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "seed {seed}: oracle has {missing:#?}\npipeline has {extra:#?}"
        );
    }
}

#[test]
fn tolerances_and_grace_from_config_agree_with_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let options = GenerateOptions {
        seed: 40,
        payments: 500,
        fault_per_mille: 60,
        ..GenerateOptions::default()
    };
    let generated = generate(dir.path(), &options).unwrap();
    let mut config = config_for(dir.path(), &generated.payments, &generated.entries, 2, 300);
    let text = r#"
        [[rules]]
        kind = "payment_ledger"
        grace_hours = 300
        tolerance = { absolute = { USD = "0.50", JPY = "20" }, relative_bps = 5 }
        [[rules]]
        kind = "journal_balance"
        name = "journals"
        grace_hours = 1
    "#;
    #[derive(serde::Deserialize)]
    struct Rules {
        rules: Vec<trueup::config::RuleConfig>,
    }
    config.rules = toml::from_str::<Rules>(text).unwrap().rules;
    let output = run_collect(&config).unwrap();
    let records = [
        read_all(&generated.payments, trueup::model::Stream::Payments),
        read_all(&generated.entries, trueup::model::Stream::Entries),
    ]
    .concat();
    let want = oracle::final_state(&records, &config.rules, Tick(config.pipeline.tick_millis));
    let got: BTreeSet<ResultRow> = state_of(&output).into_keys().cloned().collect();
    assert_eq!(got, want);
    let tolerated = got
        .iter()
        .filter(|r| {
            r.status == trueup::model::results::Status::Matched
                && !r.difference.unwrap_or_default().is_zero()
        })
        .count();
    let pending = got
        .iter()
        .filter(|r| r.status == trueup::model::results::Status::Pending)
        .count();
    assert!(
        tolerated > 0,
        "some differences fall inside the tolerance and still match"
    );
    assert!(pending > 0, "a 300 h grace leaves recent breaks pending");
}

#[test]
fn late_records_are_counted_and_change_nothing_in_the_final_state() {
    let dir = tempfile::tempdir().unwrap();
    let (generated, baseline) = generated_with_baseline(dir.path(), 31, 600);
    let mut strict = config_for(dir.path(), &generated.payments, &generated.entries, 2, 50);
    for source in &mut strict.sources {
        source.allowed_lateness_seconds = 0;
    }
    let late = run_collect(&strict).unwrap();
    assert!(
        late.counters.late > 10,
        "out-of-order delivery with no allowed lateness makes late records: {}",
        late.counters.late
    );
    assert_eq!(
        late.counters.accepted, baseline.counters.accepted,
        "late records are processed, not dropped"
    );
    assert_eq!(state_of(&late), state_of(&baseline));
}

/// Runs `rules` (TOML `[[rules]]`) over generated data with `seed` on 1, 2 and 4 workers and
/// batch sizes, asserting that each run agrees with the oracle and with the others, and that
/// every `(rule, status)` of `reached` occurs.
/// Runs `rules` over generated data on 1, 2 and 4 workers, checks each final state against the
/// oracle's and that each (rule, status) of `reached` occurs, and returns the final state.
fn declared_rules_agree_with_the_oracle(
    seed: u64,
    rules: &str,
    reached: &[(&str, &str)],
) -> BTreeSet<ResultRow> {
    let dir = tempfile::tempdir().unwrap();
    let options = GenerateOptions {
        seed,
        payments: 500,
        fault_per_mille: 60,
        redelivery_per_mille: 30,
        ..GenerateOptions::default()
    };
    let generated = generate(dir.path(), &options).unwrap();
    /// The rules, and any declared streams with their sources (`{entries}`, `{payments}` in
    /// a path: the generated file).
    #[derive(serde::Deserialize)]
    struct Rules {
        rules: Vec<trueup::config::RuleConfig>,
        #[serde(default)]
        streams: Vec<trueup::config::StreamConfig>,
        #[serde(default)]
        sources: Vec<trueup::config::SourceConfig>,
    }
    let rules = (rules.replace("{entries}", &generated.entries.display().to_string()))
        .replace("{payments}", &generated.payments.display().to_string());
    let declared = toml::from_str::<Rules>(&rules).unwrap();
    let mut records = [
        read_all(&generated.payments, trueup::model::Stream::Payments),
        read_all(&generated.entries, trueup::model::Stream::Entries),
    ]
    .concat();
    for source in &declared.sources {
        let layout = source.layout(&declared.streams);
        records.extend(read_through(source.path.as_ref().unwrap(), layout));
    }
    let rules = declared.rules;
    let (mut outputs, mut last) = (Vec::new(), BTreeSet::new());
    for (workers, batch) in [(1, 10_000), (2, 300), (4, 77)] {
        let mut config = config_for(
            dir.path(),
            &generated.payments,
            &generated.entries,
            workers,
            batch,
        );
        config.rules = rules.clone();
        config.streams = declared.streams.clone();
        config.sources.extend(declared.sources.iter().cloned());
        config.validate().unwrap();
        let output = run_collect(&config).unwrap();
        let want = oracle::final_state(&records, &config.rules, Tick(config.pipeline.tick_millis));
        let got: BTreeSet<ResultRow> = state_of(&output).into_keys().cloned().collect();
        let missing: Vec<_> = want.difference(&got).take(3).collect();
        let extra: Vec<_> = got.difference(&want).take(3).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{workers} workers: oracle has {missing:#?}\npipeline has {extra:#?}"
        );
        let count = |rule: &str, status: &str| {
            got.iter()
                .filter(|r| r.rule == rule && r.status.as_str() == status)
                .count()
        };
        for (rule, status) in reached {
            assert!(
                count(rule, status) > 0,
                "{workers} workers: no {rule} {status}"
            );
        }
        outputs.push(output.changelog);
        last = got;
    }
    assert!(
        outputs.windows(2).all(|w| w[0] == w[1]),
        "the changelog depends on workers or batching"
    );
    last
}

#[test]
fn declared_balance_rules_agree_with_the_oracle_on_any_number_of_workers() {
    let rules = r#"
        # payment_ledger, declared: payments against the receivable, per payment id
        [[rules]]
        kind = "balance"
        name = "receivable"
        left = { stream = "payments", key = "payment_id" }
        right = { stream = "entries", key = "payment_id", accounts = ["psp_receivable"] }
        grace_hours = 48
        tolerance = { relative_bps = 10, floor = { USD = "0.02" }, cap = { USD = "0.50" } }
        # what is paid out to merchants against what leaves the bank, per journal, as written
        [[rules]]
        kind = "balance"
        name = "payouts"
        left = { stream = "entries", key = "journal_id", accounts = ["merchant_payable"], direction = "debit", signed = false }
        right = { stream = "entries", key = "journal_id", accounts = ["bank_cash"], direction = "credit", signed = false }
        grace_hours = 1
    "#;
    declared_rules_agree_with_the_oracle(
        41,
        rules,
        &[
            ("receivable", "matched"),
            ("receivable", "unmatched_left"),
            ("receivable", "unmatched_right"),
            ("receivable", "amount_mismatch"),
            ("payouts", "matched"),
            ("payouts", "unmatched_left"),
        ],
    );
}

#[test]
fn grouped_match_rules_agree_with_the_oracle_on_any_number_of_workers() {
    let rules = r#"
        # one to many: each payment event against the sum of its payment's receivable
        # bookings, no key (amount within two days)
        [[rules]]
        kind = "match"
        name = "event_to_bookings"
        left = { stream = "payments" }
        right = { stream = "entries", accounts = ["psp_receivable"], group_by = "payment_id" }
        window_hours = 48
        grace_hours = 48
        # many to one, keyed: a payment's events summed against each of its bookings alone
        [[rules]]
        kind = "match"
        name = "events_to_booking"
        left = { stream = "payments", group_by = "payment_id" }
        right = { stream = "entries", accounts = ["psp_receivable"] }
        key = "payment_id"
        window_hours = 72
        # many to many: a payment's net against its bookings' net, within 1 %
        [[rules]]
        kind = "match"
        name = "net_to_net"
        left = { stream = "payments", group_by = "payment_id" }
        right = { stream = "entries", accounts = ["psp_receivable"], group_by = "payment_id" }
        window_hours = 72
        tolerance = { relative_bps = 100 }
    "#;
    let state = declared_rules_agree_with_the_oracle(
        47,
        rules,
        &[
            ("event_to_bookings", "matched"),
            ("event_to_bookings", "unmatched_left"),
            ("events_to_booking", "matched"),
            ("net_to_net", "matched"),
        ],
    );
    // each cardinality occurs: matched pairs with several records on the grouped side
    let many = |rule: &str, left: bool| {
        state.iter().any(|r| {
            let ids = if left { &r.left_ids } else { &r.right_ids };
            r.rule == rule && r.status.as_str() == "matched" && ids.len() > 1
        })
    };
    assert!(many("event_to_bookings", false), "one to many");
    assert!(many("events_to_booking", true), "many to one");
    assert!(
        many("net_to_net", true) && many("net_to_net", false),
        "many to many"
    );
}

#[test]
fn declared_streams_agree_with_the_oracle_on_any_number_of_workers() {
    let rules = r#"
        # the ledger's lines once more, as a declared stream of their own: keys by name, the
        # sign from the direction column
        [[streams]]
        name = "ledger"
        keys = ["journal", "payment", "account"]
        carry = ["account", "side"]

        [[sources]]
        stream = "ledger"
        path = "{entries}"

        [sources.fields]
        id = "entry_id"
        keys = { journal = "journal_id", payment = "payment_id" }
        carry = { side = "direction" }
        sign = { column = "direction", values = { debit = "+", credit = "-" } }
        time = "booked_at"

        # the PSP's events once more, as a declared stream: the sign from the type, the
        # merchant (its own column's name) and the type carried into results
        [[streams]]
        name = "psp"
        keys = ["payment_id"]
        carry = ["type"]

        [[sources]]
        stream = "psp"
        path = "{payments}"

        [sources.fields]
        id = "event_id"
        sign = { column = "type", values = { capture = "+", chargeback_reversal = "+", refund = "-", chargeback = "-" } }
        time = "occurred_at"

        [[rules]]
        kind = "balance"
        name = "psp_receivable"
        left = { stream = "psp", key = "payment_id" }
        right = { stream = "ledger", key = "payment", only = { account = ["psp_receivable"] } }

        # each payment's events against all its ledger lines, signed
        [[rules]]
        kind = "balance"
        name = "payment_lines"
        left = { stream = "payments", key = "payment_id" }
        right = { stream = "ledger", key = "payment" }
        tolerance = { relative_bps = 10000 }

        # per journal, the receivable's lines against the payable's, as written
        [[rules]]
        kind = "balance"
        name = "receivable_journals"
        left = { stream = "ledger", key = "journal", only = { account = ["psp_receivable"] }, signed = false }
        right = { stream = "ledger", key = "journal", only = { account = ["merchant_payable", "fee_revenue"] }, signed = false }

        # each journal's lines, as written, against the payment events of one currency, summed
        # per payment, by amount within three days (many to many)
        [[rules]]
        kind = "match"
        name = "journals_to_payments"
        left = { stream = "ledger", group_by = "journal", signed = false }
        right = { stream = "payments", group_by = "payment_id" }
        window_hours = 72
        tolerance = { relative_bps = 10000 }
    "#;
    let state = declared_rules_agree_with_the_oracle(
        53,
        rules,
        &[
            ("receivable_journals", "amount_mismatch"),
            ("psp_receivable", "matched"),
            ("payment_lines", "matched"),
            ("payment_lines", "unmatched_left"),
            ("journals_to_payments", "matched"),
            ("journals_to_payments", "unmatched_left"),
        ],
    );
    let ledger_ids = |rule: &str| {
        (state.iter())
            .filter(|r| r.rule == rule)
            .map(|r| r.right_ids.len() + r.left_ids.len())
            .sum::<usize>()
    };
    assert!(
        ledger_ids("payment_lines") > 1000,
        "the declared stream's records are members"
    );
    let merchants = (state.iter())
        .filter(|r| r.rule == "psp_receivable" && r.merchant_id.is_some())
        .count();
    assert!(
        merchants > 100,
        "the psp stream's merchants are carried into results"
    );
    let carrying = |rule: &str, pair: (&str, &str)| {
        let pair = (pair.0.to_string(), pair.1.to_string());
        (state.iter())
            .filter(|r| r.rule == rule && r.attributes.contains(&pair))
            .count()
    };
    assert!(carrying("psp_receivable", ("type", "refund")) > 10);
    assert!(carrying("psp_receivable", ("account", "psp_receivable")) > 100);
    assert!(carrying("receivable_journals", ("side", "credit")) > 100);
    assert!(carrying("journals_to_payments", ("account", "fee_revenue")) > 100);
    assert_eq!(
        carrying("payment_lines", ("type", "capture")),
        0,
        "payments carry none"
    );
}

#[test]
fn match_rules_agree_with_the_oracle_on_any_number_of_workers() {
    let rules = r#"
        # captures and refunds against the receivable's bookings, one to one by payment id
        [[rules]]
        kind = "match"
        name = "bookings"
        left = { stream = "payments" }
        right = { stream = "entries", accounts = ["psp_receivable"] }
        key = "payment_id"
        window_hours = 72
        grace_hours = 48
        # then, by the same key, what is within 5 % (what the first rule paired is not offered)
        [[rules]]
        kind = "match"
        name = "bookings_near"
        left = { stream = "payments" }
        right = { stream = "entries", accounts = ["psp_receivable"] }
        key = "payment_id"
        window_hours = 72
        tolerance = { relative_bps = 500 }
        # payouts to merchants against bank lines, by equal amount within two days, no key
        [[rules]]
        kind = "match"
        name = "bank"
        left = { stream = "entries", accounts = ["merchant_payable"], direction = "debit", signed = false }
        right = { stream = "entries", accounts = ["bank_cash"], signed = false }
        window_hours = 48
        grace_hours = 24
        # the same within 0.05 USD, after it: one group per currency
        [[rules]]
        kind = "match"
        name = "bank_tolerant"
        left = { stream = "entries", accounts = ["merchant_payable"], direction = "debit", signed = false }
        right = { stream = "entries", accounts = ["bank_cash"], signed = false }
        window_hours = 48
        tolerance = { absolute = { USD = "0.05" } }
    "#;
    declared_rules_agree_with_the_oracle(
        43,
        rules,
        &[
            ("bookings", "matched"),
            ("bookings", "unmatched_left"),
            ("bookings", "unmatched_right"),
            ("bank", "matched"),
            ("bank", "unmatched_left"),
            ("bookings_near", "matched"),
            ("bank_tolerant", "unmatched_left"),
        ],
    );
}
