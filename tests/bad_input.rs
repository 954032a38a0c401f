//! Bad input never panics and is never dropped: every class of SPEC §7 becomes a dead letter
//! with its reason and `file:line`, and random bytes only ever produce records or dead letters.

use std::io::Write;

use proptest::prelude::*;
use trueup::config::Format;
use trueup::model::Stream;
use trueup::sources::file::FileSource;
use trueup::sources::{parse, Polled, Progress, Source};

/// The stream's own layout, to open a source with.
fn own(stream: Stream) -> std::sync::Arc<trueup::config::fields::Layout> {
    std::sync::Arc::new(trueup::config::fields::Layout::builtin(stream))
}

fn read(bytes: &[u8], stream: Stream, format: Format) -> Vec<Polled> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    let mut source = FileSource::open(own(stream), file.path(), format, 0, 1).unwrap();
    let mut items = Vec::new();
    while source.poll(7, &mut items).unwrap() == Progress::More {}
    items
}

const GOOD: &str = r#"{"event_id":"e1","payment_id":"p1","type":"capture","amount":"100.00","currency":"USD","occurred_at":"2026-11-01T10:00:00Z"}"#;

#[test]
fn every_bad_input_class_is_a_dead_letter_with_reason_and_position() {
    let huge = format!(r#"{{"event_id":"{}"}}"#, "x".repeat(1 << 20));
    let lines: Vec<(Vec<u8>, &str)> = vec![
        (b"not json".to_vec(), "not valid JSON"),
        (b"42".to_vec(), "not a JSON object"),
        (
            br#"{"event_id":"e"}"#.to_vec(),
            "missing required field `payment_id`",
        ),
        (
            GOOD.replace(r#""p1""#, "[1]").into(),
            "field `payment_id` must be a string, got array",
        ),
        (
            GOOD.replace(r#""e1""#, r#""""#).into(),
            "field `event_id` is empty",
        ),
        (
            GOOD.replace("capture", "tip").into(),
            "unknown payment type",
        ),
        (
            GOOD.replace(r#""100.00""#, r#""ten""#).into(),
            "is not a decimal number",
        ),
        (
            GOOD.replace(r#""100.00""#, "-1").into(),
            "greater than zero",
        ),
        (
            GOOD.replace(r#""100.00""#, r#""1.234""#).into(),
            "amount has 3 fraction digits; USD allows 2",
        ),
        (
            GOOD.replace(r#""100.00""#, "1e400").into(),
            "is not a decimal number",
        ),
        (
            GOOD.replace(r#""100.00""#, r#""10000000000000000""#).into(),
            "beyond the supported range",
        ),
        (GOOD.replace("USD", "ABC").into(), "unknown currency"),
        (
            GOOD.replace("2026-11-01T10:00:00Z", "2026-02-30T10:00:00Z")
                .into(),
            "not an RFC 3339 timestamp",
        ),
        ([GOOD.as_bytes(), b"\xc3\x28"].concat(), "not valid UTF-8"),
        (huge.into_bytes(), "over the 1 MiB limit"),
    ];
    let mut file = Vec::new();
    for (line, _) in &lines {
        file.extend_from_slice(line);
        file.push(b'\n');
    }
    file.extend_from_slice(GOOD.as_bytes());
    let items = read(&file, Stream::Payments, Format::Jsonl);
    assert_eq!(
        items.len(),
        lines.len() + 1,
        "every line yields exactly one item"
    );
    for (i, ((_, reason), item)) in lines.iter().zip(&items).enumerate() {
        let Polled::Dead(dead) = item else {
            panic!("line {} was accepted", i + 1)
        };
        assert!(
            dead.reason.contains(reason),
            "line {}: {:?} should contain {reason:?}",
            i + 1,
            dead.reason
        );
        assert!(
            dead.position.ends_with(&format!(":{}", i + 1)),
            "{}",
            dead.position
        );
        assert!(
            dead.raw.len() <= 1 << 20,
            "raw is cut at the 1 MiB line limit"
        );
        assert_eq!(dead.source, "payments");
    }
    assert!(
        matches!(items.last(), Some(Polled::Record(..))),
        "the good last line, without newline, is read"
    );
}

#[test]
fn blank_and_whitespace_only_lines_are_skipped_and_counted_not_dead_letters() {
    for format in [Format::Jsonl, Format::Csv] {
        let (header, good) = match format {
            Format::Jsonl => ("", GOOD.to_string()),
            Format::Csv => (
                "event_id,payment_id,type,amount,currency,occurred_at\n",
                "e1,p1,capture,1.00,USD,2026-11-01T10:00:00Z".to_string(),
            ),
        };
        let file = format!("{header}\n{good}\n \t \r\n\n{good}\n\n");
        let mut source = {
            let mut f = tempfile::NamedTempFile::new().unwrap();
            f.write_all(file.as_bytes()).unwrap();
            let path = f.into_temp_path();
            let source = FileSource::open(own(Stream::Payments), &path, format, 0, 1).unwrap();
            (source, path)
        };
        let mut items = Vec::new();
        while source.0.poll(3, &mut items).unwrap() == Progress::More {}
        assert_eq!(items.len(), 2, "{format:?}: {items:?}");
        assert!(items.iter().all(|i| matches!(i, Polled::Record(..))));
        assert_eq!(source.0.blank_lines(), 4, "{format:?}");
        // the count is part of the position a restart resumes from
        assert_eq!(source.0.position()["blank"], 4);
    }
}

#[test]
fn csv_rows_with_the_wrong_column_count_are_dead_letters() {
    let csv = "event_id,payment_id,type,amount,currency,occurred_at,note\n\
               e1,p1,capture,100.00,USD,2026-11-01T10:00:00Z,hello\n\
               e2,p2,capture,1.00\n\
               e3,p3,refund,5.00,EUR,2026-11-01T10:00:00Z,,extra\n";
    let items = read(csv.as_bytes(), Stream::Payments, Format::Csv);
    assert_eq!(items.len(), 3);
    let Polled::Record(trueup::model::Record::Payment(p), _) = &items[0] else {
        panic!("row 1 is valid")
    };
    assert_eq!(
        p.attributes, r#"{"note":"hello"}"#,
        "unknown columns are kept"
    );
    for (item, line, columns) in [(&items[1], 3, 4), (&items[2], 4, 8)] {
        let Polled::Dead(dead) = item else {
            panic!("row {line} must be rejected")
        };
        assert_eq!(
            dead.reason,
            format!("row has {columns} columns; the header has 7")
        );
        assert!(dead.position.ends_with(&format!(":{line}")));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic_the_json_parser(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse::json_line(Stream::Payments, &text);
        let _ = parse::json_line(Stream::Entries, &text);
    }

    #[test]
    fn mutated_records_never_panic_and_every_line_is_accounted(
        cuts in prop::collection::vec((0usize..140, any::<u8>()), 1..20),
        csv in any::<bool>(),
    ) {
        let mut file = if csv { b"event_id,payment_id,type,amount,currency,occurred_at\n".to_vec() } else { Vec::new() };
        for (at, byte) in &cuts {
            let mut line = if csv { b"e1,p1,capture,1.00,USD,2026-11-01T10:00:00Z".to_vec() } else { GOOD.as_bytes().to_vec() };
            let at = at % line.len();
            line[at] = if *byte == b'\n' { b' ' } else { *byte };
            file.extend_from_slice(&line);
            file.push(b'\n');
        }
        let format = if csv { Format::Csv } else { Format::Jsonl };
        let items = read(&file, Stream::Payments, format);
        // one item per line; in CSV, at most one per line and at least one per record as the
        // csv crate reads the whole file (a quote that opens a field can carry a record over a
        // newline; when the record it makes is not the header's width, its lines are records
        // of their own)
        match csv {
            false => prop_assert_eq!(items.len(), cuts.len()),
            true => {
                let records = csv::ReaderBuilder::new()
                    .flexible(true)
                    .terminator(csv::Terminator::Any(b'\n'))
                    .from_reader(&file[..])
                    .byte_records()
                    .count();
                prop_assert!(records <= items.len() && items.len() <= cuts.len());
            }
        }
    }
}

#[test]
fn a_csv_header_naming_a_column_twice_is_refused_naming_it() {
    let csv = b"event_id,payment_id,type,amount,amount,currency,occurred_at\ne1,p1,capture,1.00,2.00,USD,2026-11-01T10:00:00Z\n";
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(csv).unwrap();
    let mut source =
        FileSource::open(own(Stream::Payments), file.path(), Format::Csv, 0, 1).unwrap();
    let err = source.poll(10, &mut Vec::new()).unwrap_err();
    assert!(
        err.to_string()
            .contains("the CSV header names the column \"amount\" twice"),
        "{err}"
    );
}

#[test]
fn an_unreadable_csv_header_is_a_dead_letter_and_no_row_is_dropped() {
    let csv = b"event_id,\"payment_id\xff\n e1,p1\n";
    let items = read(csv, Stream::Payments, Format::Csv);
    let reasons: Vec<String> = items
        .iter()
        .map(|i| match i {
            Polled::Dead(d) => format!("{} {}", d.position.rsplit(':').next().unwrap(), d.reason),
            Polled::Record(..) => "record".into(),
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "1 unreadable CSV header row",
            "2 row has 2 columns; the header has 0"
        ]
    );
}
