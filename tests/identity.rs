//! Record identity end to end: which versions of one id are the same record, which conflict,
//! and that ids are unique per stream, not across streams (SPEC §2, "Identity").

use std::path::Path;

use trueup::model::results::{ResultRow, Status};
use trueup::model::summary::final_state;
use trueup::runtime::job::default_config;
use trueup::runtime::{run_collect, RunOutput};

/// Runs the default pipeline over the given payment and entry lines (one worker).
fn run_lines(dir: &Path, payments: &[String], entries: &[String]) -> RunOutput {
    let (p, e) = (dir.join("payments.jsonl"), dir.join("entries.jsonl"));
    std::fs::write(&p, payments.concat()).unwrap();
    std::fs::write(&e, entries.concat()).unwrap();
    let config = default_config(&p, &e, &dir.join("out"), 1);
    run_collect(&config).unwrap()
}

fn payment(id: &str, amount: &str, at: &str, extra: &str) -> String {
    format!(
        r#"{{"event_id":"{id}","payment_id":"p_{id}","type":"capture","amount":{amount},"currency":"USD","occurred_at":"{at}"{extra}}}"#
    ) + "\n"
}

fn entry(id: &str, amount: &str, at: &str) -> String {
    format!(
        r#"{{"entry_id":"{id}","journal_id":"j_{id}","payment_id":"p_{id}","account":"psp_receivable","direction":"debit","amount":{amount},"currency":"USD","booked_at":"{at}"}}"#
    ) + "\n"
}

/// The current rows of `rule`.
fn current<'a>(output: &'a RunOutput, rule: &str) -> Vec<&'a ResultRow> {
    let state = final_state(&output.changelog);
    let rows = state.into_iter().filter(|(_, n)| *n > 0).map(|(r, _)| r);
    rows.filter(|r| r.rule == rule).collect()
}

const T: &str = "2026-11-01T10:00:00Z";

#[test]
fn one_id_text_in_two_streams_with_conflicts_is_two_dedupe_results() {
    let dir = tempfile::tempdir().unwrap();
    let payments = [
        payment("same", r#""10.00""#, T, ""),
        payment("same", r#""11.00""#, T, ""),
    ];
    let entries = [
        entry("same", r#""10.00""#, T),
        entry("same", r#""12.00""#, T),
    ];
    let output = run_lines(dir.path(), &payments, &entries);
    let rows = current(&output, "dedupe");
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let (left, right): (Vec<&ResultRow>, Vec<&ResultRow>) =
        rows.iter().partition(|r| r.right_ids.is_empty());
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].left_ids, ["same", "same"]);
    assert_eq!(right[0].right_ids, ["same", "same"]);
    assert!(right[0].left_ids.is_empty());
    for row in &rows {
        assert_eq!(row.status, Status::ConflictingDuplicate);
    }
    let dedupe = &output.summary.cells["dedupe"]["conflicting_duplicate"]["USD"];
    assert_eq!(dedupe.groups, 2, "{:#?}", output.summary);
    // a zero sum is written at the currency's scale
    let written = serde_json::to_value(dedupe).unwrap();
    assert_eq!(written["expected"], "0.00", "{written}");
}

/// Spellings of values of one field, by class: spellings in one class are one value, spellings
/// in different classes different values (SPEC §2, "Identity").
struct Field {
    /// The field's name, and whether it is known (else: an unknown field, kept as attribute).
    name: &'static str,
    classes: &'static [&'static [&'static str]],
}

/// `None` for "absent": the field is left out of the line.
const FIELDS: &[Field] = &[
    Field {
        name: "amount",
        classes: &[
            &[
                r#""10""#,
                r#""10.0""#,
                r#""10.00""#,
                "10",
                "10.0",
                "1E+1",
                "1.0e1",
                "100e-1",
            ],
            &[r#""10.01""#, "10.01", "1001e-2"],
            &[r#""0.5""#, "5e-1", "0.50"],
        ],
    },
    Field {
        name: "occurred_at",
        classes: &[
            &[
                r#""2026-11-01T10:00:00Z""#,
                r#""2026-11-01T10:00:00+00:00""#,
                r#""2026-11-01T12:00:00+02:00""#,
                r#""2026-11-01T10:00:00.000Z""#,
                r#""2026-11-01t10:00:00z""#,
            ],
            &[
                r#""2026-11-01T10:00:00.0001Z""#,
                r#""2026-11-01T10:00:00.000100Z""#,
            ],
            &[
                r#""2026-11-01T10:00:00.0009Z""#,
                r#""2026-11-01T09:00:00.0009-01:00""#,
            ],
            &[r#""2026-11-01T10:00:00.001Z""#],
        ],
    },
    Field {
        name: "merchant_id",
        classes: &[
            &["absent", "null"],
            &[r#""m_1""#, r#""m\u005f1""#],
            &[r#""m_2""#],
        ],
    },
    Field {
        name: "note",
        classes: &[
            &["absent", "null"],
            &[r#""""#],
            &["1", "1.0", "1.00", "10e-1", "0.1e1"],
            &["2", "2E0"],
            &[r#""1""#, r#""\u0031""#],
            &[
                r#"{"a":1,"b":[1,"x"]}"#,
                r#"{ "b" : [1.0, "\u0078"], "a" : 1 }"#,
                r#"{"b":[1,"x"],"a":1,"c":null}"#,
            ],
            &[r#"{"a":1,"b":["x",1]}"#],
            &[r#"[1,2]"#, r#"[ 1.0 , 2 ]"#],
            &["true"],
        ],
    },
];

/// A payment line with `field` spelt `spelling` (left out when `absent`).
fn line_with(field: &str, spelling: &str) -> String {
    let mut members = vec![
        ("event_id", r#""e1""#),
        ("payment_id", r#""p1""#),
        ("type", r#""capture""#),
        ("amount", r#""10.00""#),
        ("currency", r#""USD""#),
        ("occurred_at", r#""2026-11-01T10:00:00Z""#),
    ];
    members.retain(|(name, _)| *name != field);
    if spelling != "absent" {
        members.push((field, spelling));
    }
    let members: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect();
    format!("{{{}}}", members.join(","))
}

/// The row the dataflow compares versions of one id by.
fn row_of(line: &str) -> trueup::model::rows::PaymentRow {
    let record = trueup::sources::parse::json_line(trueup::model::Stream::Payments, line)
        .unwrap_or_else(|reason| panic!("{line}: {reason}"));
    let trueup::model::Record::Payment(payment) = record else {
        panic!("a payment")
    };
    let names = trueup::model::name::Names::default();
    trueup::model::rows::PaymentRow::of(&payment, (&names, 0), &mut None).unwrap()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]

    #[test]
    fn two_versions_are_one_record_exactly_when_their_values_are_equal(
        field in proptest::sample::select(FIELDS.iter().map(|f| f.name).collect::<Vec<_>>()),
        picks in proptest::prelude::any::<[proptest::sample::Index; 4]>(),
    ) {
        let classes = FIELDS.iter().find(|f| f.name == field).unwrap().classes;
        let (a, b) = (picks[0].index(classes.len()), picks[1].index(classes.len()));
        let spell = |class: usize, pick: &proptest::sample::Index| {
            classes[class][pick.index(classes[class].len())]
        };
        let (one, two) = (line_with(field, spell(a, &picks[2])), line_with(field, spell(b, &picks[3])));
        let absorbed = row_of(&one) == row_of(&two);
        proptest::prop_assert_eq!(absorbed, a == b, "{} / {}", one, two);
    }
}

#[test]
fn nanoseconds_tell_versions_apart_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let payments = [
        payment("e1", r#""10.00""#, "2026-11-01T10:00:00.0001Z", ""),
        payment("e1", r#""10.00""#, "2026-11-01T10:00:00.0009Z", ""),
        payment("e2", "1E+1", T, r#","x":1.0"#),
        payment(
            "e2",
            r#""10.0""#,
            "2026-11-01T10:00:00+00:00",
            r#","x":1.00"#,
        ),
    ];
    let output = run_lines(dir.path(), &payments, &[]);
    let dedupe = current(&output, "dedupe");
    assert_eq!(dedupe.len(), 1, "{dedupe:#?}");
    assert_eq!(dedupe[0].key, "e1");
    let redeliveries = &output.summary.redeliveries;
    assert_eq!(redeliveries.get("payments"), Some(&1), "{redeliveries:?}");
}

#[test]
fn an_exponent_amount_is_read_by_its_exact_value_and_refused_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let payments = [
        payment("e1", "1E+1", T, ""),
        payment("e2", "1.5e-3", T, ""),
        payment("e3", "1e+16", T, ""),
    ];
    let output = run_lines(dir.path(), &payments, &[]);
    let ledger = current(&output, "payment_ledger");
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].expected.unwrap().to_string(), "10");
    let reasons: Vec<&str> = output
        .dead_letters
        .iter()
        .map(|d| d.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        [
            "amount has 4 fraction digits; USD allows 2",
            "amount 1e+16 is beyond the supported range (at most 15 integer digits)"
        ]
    );
}

#[test]
fn an_unknown_field_of_any_depth_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    for depth in [127, 128, 129, 4000] {
        let deep = format!(r#","deep":{}1{}"#, "[".repeat(depth), "]".repeat(depth));
        let output = run_lines(dir.path(), &[payment("e1", r#""1.00""#, T, &deep)], &[]);
        assert!(
            output.dead_letters.is_empty(),
            "{depth}: {:?}",
            output.dead_letters
        );
        assert_eq!(current(&output, "payment_ledger").len(), 1, "{depth}");
    }
}

#[test]
fn a_group_is_a_break_only_once_the_watermark_reaches_its_due_time() {
    let dir = tempfile::tempdir().unwrap();
    // due 72 h after 10:00:00.500; the tick is one second
    let capture = payment("cap", r#""1.00""#, "2026-11-01T10:00:00.500Z", "");
    for (last, status) in [
        ("2026-11-04T10:00:00.200Z", Status::Pending),
        ("2026-11-04T10:00:00.500Z", Status::Pending),
        ("2026-11-04T10:00:01Z", Status::Pending),
        ("2026-11-04T10:00:01.001Z", Status::MissingLedger),
    ] {
        let other = entry("other", r#""1.00""#, last);
        let output = run_lines(dir.path(), std::slice::from_ref(&capture), &[other]);
        let rows = current(&output, "payment_ledger");
        let row = rows.iter().find(|r| r.key == "p_cap").unwrap();
        assert_eq!(row.status, status, "last event {last}");
    }
}

/// A hash under which every id starting `collide-` is one: a collision, forced.
fn colliding(text: &str) -> trueup::model::name::NameHash {
    match text.starts_with("collide-") {
        true => [7; 15],
        false => trueup::model::name::hash_of(text),
    }
}

#[test]
fn a_hash_collision_never_stops_the_run_nor_merges_two_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (p, e) = (
        dir.path().join("payments.jsonl"),
        dir.path().join("entries.jsonl"),
    );
    let first = "collide-0b9f2c3e-6a41-4d7e-9f0a-2f1c6d8e4b37";
    let second = "collide-7d2e1b6a-93c4-4f08-b5e2-8a1c0f6d3e59";
    let lines = [
        payment(first, r#""1.00""#, T, ""),
        payment(second, r#""2.00""#, T, ""),
    ];
    std::fs::write(&p, lines.concat()).unwrap();
    std::fs::write(&e, "").unwrap();
    let config = default_config(&p, &e, &dir.path().join("out"), 2);
    let names = std::sync::Arc::new(trueup::model::name::Names::with_hash(colliding));
    let control = trueup::runtime::Control::default();
    let collected = trueup::sinks::Collected::default();
    let (report, collected) =
        trueup::runtime::run_with_names(&config, collected, &control, names).unwrap();
    assert_eq!(report.counters.accepted.values().sum::<u64>(), 1);
    let [dead] = &collected.dead_letters[..] else {
        panic!("one dead letter: {:?}", collected.dead_letters)
    };
    // which of the two came first depends on the workers' pace; the other is refused, naming both
    assert!(
        dead.reason.contains(first) && dead.reason.contains(second),
        "{}",
        dead.reason
    );
    assert!(
        dead.reason.contains("cannot tell them apart"),
        "{}",
        dead.reason
    );
    let state = final_state(&collected.changelog);
    let keys: Vec<&str> = state.keys().map(|r| r.key.as_str()).collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0] == format!("p_{first}") || keys[0] == format!("p_{second}"));
    assert!(state.keys().all(|r| r.left_ids.len() == 1), "never merged");
}

#[test]
fn retention_releases_the_long_names_of_retired_records() {
    let dir = tempfile::tempdir().unwrap();
    let (p, e) = (
        dir.path().join("payments.jsonl"),
        dir.path().join("entries.jsonl"),
    );
    let (mut payments, mut entries) = (String::new(), String::new());
    let hours = 200;
    for h in 0..hours {
        let id = format!("{h:04}-0b9f2c3e-6a41-4d7e-9f0a-2f1c6d8e");
        let at = format!("2026-11-{:02}T{:02}:00:00Z", 1 + h / 24, h % 24);
        payments += &format!(
            r#"{{"event_id":"evt-{id}","payment_id":"pay-{id}","type":"capture","amount":"10.00","currency":"USD","occurred_at":"{at}"}}"#
        );
        payments.push('\n');
        for (n, account, direction) in [(1, "psp_receivable", "debit"), (2, "sales", "credit")] {
            entries += &format!(
                r#"{{"entry_id":"ent-{id}-{n}","journal_id":"jnl-{id}","payment_id":"pay-{id}","account":"{account}","direction":"{direction}","amount":"10.00","currency":"USD","booked_at":"{at}"}}"#
            );
            entries.push('\n');
        }
    }
    std::fs::write(&p, payments).unwrap();
    std::fs::write(&e, entries).unwrap();
    let mut config = default_config(&p, &e, &dir.path().join("out"), 2);
    config.retention = Some(trueup::config::RetentionConfig {
        settled_hours: 1,
        breaks_hours: 1,
        dedupe_hours: 1,
        granularity_minutes: 60,
    });
    config.validate().unwrap();
    let names = std::sync::Arc::new(trueup::model::name::Names::default());
    let (_, collected) = trueup::runtime::run_with_names(
        &config,
        trueup::sinks::Collected::default(),
        &trueup::runtime::Control::default(),
        names.clone(),
    )
    .unwrap();
    let state = final_state(&collected.changelog);
    let matched = state.keys().filter(|r| r.status == Status::Matched).count();
    assert_eq!(
        matched,
        2 * hours,
        "every group matched, its names written back"
    );
    // 5 long names a payment (event, payment, journal, two entries): 1,000 registered in all;
    // those of the last hours' records are still held
    assert!(
        names.len() <= 5 * 4,
        "{} long names still held",
        names.len()
    );
    assert!(!names.is_empty());
}
