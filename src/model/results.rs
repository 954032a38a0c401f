//! Result records: one reconciliation group's status, its changes, and how a change is written
//! as a changelog line.

use serde::{Deserialize, Serialize};
use trueup_operators::Amount;

use crate::model::currency::Currency;
use crate::model::name::{Name, Names, UnknownName};
use crate::model::time::{format_rfc3339, Millis, Time};

/// Where a group stands (SPEC §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Balanced within tolerance.
    Matched,
    /// Not matched, grace period not yet elapsed.
    Pending,
    /// Payment side present, no entry on a match account, grace elapsed.
    MissingLedger,
    /// Entries present, no payment event, grace elapsed.
    MissingPayment,
    /// Both sides present, difference beyond tolerance, grace elapsed.
    AmountMismatch,
    /// A journal's debits and credits differ, grace elapsed.
    UnbalancedJournal,
    /// Two different records share one id; all versions held out of matching.
    ConflictingDuplicate,
    /// A declared rule's left side present, no right side, grace elapsed.
    UnmatchedLeft,
    /// A declared rule's right side present, no left side, grace elapsed.
    UnmatchedRight,
    /// A `match` rule's record with two or more equally good candidates: held with them,
    /// not guessed.
    Ambiguous,
}

impl Status {
    /// Every status, in report order.
    pub const ALL: [Status; 10] = [
        Status::Matched,
        Status::Pending,
        Status::MissingLedger,
        Status::MissingPayment,
        Status::AmountMismatch,
        Status::UnbalancedJournal,
        Status::ConflictingDuplicate,
        Status::UnmatchedLeft,
        Status::UnmatchedRight,
        Status::Ambiguous,
    ];

    /// The status as written in results.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Matched => "matched",
            Status::Pending => "pending",
            Status::MissingLedger => "missing_ledger",
            Status::MissingPayment => "missing_payment",
            Status::AmountMismatch => "amount_mismatch",
            Status::UnbalancedJournal => "unbalanced_journal",
            Status::ConflictingDuplicate => "conflicting_duplicate",
            Status::UnmatchedLeft => "unmatched_left",
            Status::UnmatchedRight => "unmatched_right",
            Status::Ambiguous => "ambiguous",
        }
    }

    /// Parses a status name.
    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// True for the exceptions finance ops must act on (everything but matched and pending).
    pub fn is_break(self) -> bool {
        !matches!(self, Status::Matched | Status::Pending)
    }
}

/// One change of one result: the row, its logical time and +1/−1.
pub type Change = (ResultRow, Time, isize);

/// One group's result, as written: strings throughout.
pub type ResultRow = GroupResult<String, String>;

/// One group's result as the dataflow carries it: names for its strings, its rule by index
/// (see [`DEDUPE_RULE`]). Written out as the [`ResultRow`] [`Outcome::to_row`] gives.
pub type Outcome = GroupResult<u16, Name>;

/// The rule index of `dedupe` results in [`Outcome::rule`]; configured rule `i` is `i + 1`.
pub const DEDUPE_RULE: u16 = 0;

/// The attribute a `dedupe` result of a declared stream names its stream by (ids are unique
/// per stream: one id conflicting in two streams is two results).
pub const STREAM_ATTRIBUTE: &str = "stream";

/// One group's result, its rule held as `R` and its names as `N`: [`ResultRow`] or
/// [`Outcome`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupResult<R, N> {
    /// The rule's name (`payment_ledger`, `journal_balance`, `dedupe`, …) or index.
    pub rule: R,
    /// The group key: payment id, journal id, or the duplicated record id.
    pub key: N,
    /// The group's currency.
    pub currency: Currency,
    /// Where the group stands.
    pub status: Status,
    /// Σ of the expected side (absent for `dedupe` results).
    pub expected: Option<Amount>,
    /// Σ of the actual side (absent for `dedupe` results).
    pub actual: Option<Amount>,
    /// `expected − actual` (absent for `dedupe` results).
    pub difference: Option<Amount>,
    /// The group's earliest event time.
    pub opened_at: Millis,
    /// The group's latest event time plus the rule's grace period.
    pub due_at: Millis,
    /// Ids on the expected side (payment event ids; debit entry ids for journals), sorted.
    pub left_ids: Vec<N>,
    /// Ids on the actual side (entry ids; credit entry ids for journals), sorted.
    pub right_ids: Vec<N>,
    /// The payment's merchant, when known.
    pub merchant_id: Option<N>,
    /// The attributes its records carry into results (a declared stream's `carry`): name and
    /// value, each pair once, sorted.
    pub attributes: Vec<(N, N)>,
}

impl<R, N: Clone> GroupResult<R, N> {
    /// The `dedupe` result (under `rule`) for an id delivered in `versions` different
    /// versions: each listed once, on the left for payment events and on the right for
    /// entries; no amounts, no grace.
    pub fn duplicate(
        rule: R,
        id: N,
        currency: Currency,
        opened_at: Millis,
        (versions, is_entry): (usize, bool),
        merchant_id: Option<N>,
    ) -> GroupResult<R, N> {
        let ids = vec![id.clone(); versions];
        let (left_ids, right_ids) = if is_entry {
            (Vec::new(), ids)
        } else {
            (ids, Vec::new())
        };
        GroupResult {
            rule,
            key: id,
            currency,
            status: Status::ConflictingDuplicate,
            expected: None,
            actual: None,
            difference: None,
            opened_at,
            due_at: opened_at,
            left_ids,
            right_ids,
            merchant_id,
            attributes: Vec::new(),
        }
    }
}

impl Outcome {
    /// The row as written: names read back from the run's `names`, ids sorted as strings, the
    /// rule named from `rules` (indexed by [`Outcome::rule`]).
    pub fn to_row(&self, rules: &[String], names: &Names) -> Result<ResultRow, UnknownName> {
        let text = |name: &Name| names.text(name);
        let ids = |list: &[Name]| -> Result<Vec<String>, UnknownName> {
            let mut ids = list.iter().map(text).collect::<Result<Vec<_>, _>>()?;
            ids.sort();
            Ok(ids)
        };
        Ok(GroupResult {
            rule: rules[usize::from(self.rule)].clone(),
            key: text(&self.key)?,
            currency: self.currency,
            status: self.status,
            expected: self.expected,
            actual: self.actual,
            difference: self.difference,
            opened_at: self.opened_at,
            due_at: self.due_at,
            left_ids: ids(&self.left_ids)?,
            right_ids: ids(&self.right_ids)?,
            merchant_id: self.merchant_id.as_ref().map(text).transpose()?,
            attributes: {
                let pair = |(name, value): &(Name, Name)| Ok((text(name)?, text(value)?));
                let mut pairs = (self.attributes.iter())
                    .map(pair)
                    .collect::<Result<Vec<_>, UnknownName>>()?;
                pairs.sort();
                pairs.dedup();
                pairs
            },
        })
    }
}

/// The JSON shape of one changelog line (SPEC §3.2), borrowing from the row it renders.
#[derive(Serialize, Debug)]
pub struct ChangelogLine<'a> {
    /// Logical time, RFC 3339.
    pub time: String,
    /// +1 asserted, −1 retracted.
    pub diff: i64,
    /// See [`ResultRow::rule`].
    pub rule: &'a str,
    /// See [`ResultRow::key`].
    pub key: &'a str,
    /// See [`ResultRow::currency`].
    pub currency: &'a str,
    /// See [`ResultRow::status`].
    pub status: Status,
    /// Amount string at the currency's minor-unit scale.
    pub expected: Option<String>,
    /// Amount string at the currency's minor-unit scale.
    pub actual: Option<String>,
    /// Amount string at the currency's minor-unit scale.
    pub difference: Option<String>,
    /// RFC 3339.
    pub opened_at: String,
    /// RFC 3339.
    pub due_at: String,
    /// See [`ResultRow::left_ids`].
    pub left_ids: &'a [String],
    /// See [`ResultRow::right_ids`].
    pub right_ids: &'a [String],
    /// See [`ResultRow::merchant_id`].
    pub merchant_id: Option<&'a str>,
    /// See [`ResultRow::attributes`]: written as an object of each name's values, and only
    /// when there are any.
    #[serde(skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes<'a>,
}

/// A result's carried attributes as a changelog line writes them: `{"name": ["value", …]}`,
/// names and values in order.
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a>(pub &'a [(String, String)]);

impl<'a> Attributes<'a> {
    /// Whether there are none (the line then has no `attributes` field).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each name with its values, in order (the pairs are sorted).
    pub fn by_name(&self) -> Vec<(&'a str, Vec<&'a str>)> {
        let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
        for (name, value) in self.0 {
            match out.last_mut() {
                Some((last, values)) if last == name => values.push(value),
                _ => out.push((name, vec![value])),
            }
        }
        out
    }

    /// The pairs back from the object [`Attributes`] serializes to.
    pub fn parse(text: &str) -> Option<Vec<(String, String)>> {
        let map: std::collections::BTreeMap<String, Vec<String>> =
            serde_json::from_str(text).ok()?;
        let pairs = map
            .into_iter()
            .flat_map(|(name, values)| values.into_iter().map(move |value| (name.clone(), value)));
        Some(pairs.collect())
    }
}

impl Serialize for Attributes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let by_name = self.by_name();
        let mut map = serializer.serialize_map(Some(by_name.len()))?;
        for (name, values) in by_name {
            map.serialize_entry(name, &values)?;
        }
        map.end()
    }
}

impl ChangelogLine<'_> {
    /// Appends the line as JSON to `out`: byte for byte what `serde_json` writes for it,
    /// without its per-character escaping of strings that need none.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        use JsonValue::{Int, List, Opt, Str};
        let fields = [
            ("time", Str(&self.time)),
            ("diff", Int(self.diff)),
            ("rule", Str(self.rule)),
            ("key", Str(self.key)),
            ("currency", Str(self.currency)),
            ("status", Str(self.status.as_str())),
            ("expected", Opt(self.expected.as_deref())),
            ("actual", Opt(self.actual.as_deref())),
            ("difference", Opt(self.difference.as_deref())),
            ("opened_at", Str(&self.opened_at)),
            ("due_at", Str(&self.due_at)),
            ("left_ids", List(self.left_ids)),
            ("right_ids", List(self.right_ids)),
            ("merchant_id", Opt(self.merchant_id)),
        ];
        for (i, (name, value)) in fields.into_iter().enumerate() {
            out.push(if i == 0 { b'{' } else { b',' });
            json_str(out, name);
            out.push(b':');
            match value {
                Str(text) | Opt(Some(text)) => json_str(out, text),
                Opt(None) => out.extend_from_slice(b"null"),
                Int(n) => {
                    use std::io::Write as _;
                    write!(out, "{n}").expect("writing to memory");
                }
                List(items) => {
                    out.push(b'[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        json_str(out, item);
                    }
                    out.push(b']');
                }
            }
        }
        if !self.attributes.is_empty() {
            out.extend_from_slice(b",\"attributes\":");
            serde_json::to_writer(&mut *out, &self.attributes).expect("writing to memory");
        }
        out.push(b'}');
    }
}

/// One field's value in [`ChangelogLine::write_json`].
enum JsonValue<'a> {
    Str(&'a str),
    Opt(Option<&'a str>),
    Int(i64),
    List(&'a [String]),
}

/// Appends `text` as a JSON string: copied between quotes when nothing in it needs escaping,
/// else as `serde_json` escapes it.
fn json_str(out: &mut Vec<u8>, text: &str) {
    if text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        serde_json::to_writer(&mut *out, text).expect("writing to memory");
        return;
    }
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

impl<'a> ChangelogLine<'a> {
    /// The line for one change of one row.
    pub fn new(row: &'a ResultRow, time: Millis, diff: i64) -> ChangelogLine<'a> {
        let scale = row.currency.minor_units();
        let money = |a: Option<Amount>| a.map(|a| a.to_string_scaled(scale));
        ChangelogLine {
            time: format_rfc3339(time),
            diff,
            rule: &row.rule,
            key: &row.key,
            currency: row.currency.code(),
            status: row.status,
            expected: money(row.expected),
            actual: money(row.actual),
            difference: money(row.difference),
            opened_at: format_rfc3339(row.opened_at),
            due_at: format_rfc3339(row.due_at),
            left_ids: &row.left_ids,
            right_ids: &row.right_ids,
            merchant_id: row.merchant_id.as_deref(),
            attributes: Attributes(&row.attributes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_written_as_serde_json_writes_it() {
        let pairs = |pairs: &[(&str, &str)]| {
            let pairs = pairs.iter().map(|(n, v)| (n.to_string(), v.to_string()));
            pairs.collect::<Vec<_>>()
        };
        let row = |key: &str, amounts: Option<Amount>, merchant: Option<&str>| ResultRow {
            rule: "payment_ledger".into(),
            key: key.into(),
            currency: Currency::from_code("JPY").expect("a currency"),
            status: Status::AmountMismatch,
            expected: amounts,
            actual: amounts.map(|a| -a),
            difference: amounts,
            opened_at: 1_700_000_000_000,
            due_at: 1_700_000_000_250,
            left_ids: vec!["evt_1".into(), "q\"uote\\d\u{1}é".into()],
            right_ids: Vec::new(),
            merchant_id: merchant.map(String::from),
            attributes: Vec::new(),
        };
        let amount = Amount::parse("-1250").expect("an amount");
        let carrying = ResultRow {
            attributes: pairs(&[("memo", "a\"b"), ("memo", "c"), ("ref", "INV-1")]),
            ..row("pay_2", Some(amount), None)
        };
        for row in [
            row("pay_1", Some(amount), Some("m_1")),
            row("tab\there", None, None),
            carrying.clone(),
        ] {
            let line = ChangelogLine::new(&row, 1_700_000_000_001, -1);
            let mut direct = Vec::new();
            line.write_json(&mut direct);
            let serde = serde_json::to_vec(&line).expect("serializable");
            assert_eq!(String::from_utf8(direct), String::from_utf8(serde));
        }
        let mut line = Vec::new();
        ChangelogLine::new(&carrying, 0, 1).write_json(&mut line);
        let parsed: serde_json::Value = serde_json::from_slice(&line).expect("valid JSON");
        let written = &parsed["attributes"];
        let expected = serde_json::json!({"memo": ["a\"b", "c"], "ref": ["INV-1"]});
        assert_eq!(written, &expected);
        let back = Attributes::parse(&written.to_string()).expect("the object parses back");
        assert_eq!(back, carrying.attributes);
    }

    /// Any text: plain, quotes, backslashes, controls, non-ASCII, astral characters.
    fn text() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::string::string_regex(
            "([a-z_0-9]|[\"\\\\/]|[\\x00-\\x1f]|[é€😀\\u{7f}\\u{2028}])*",
        )
        .expect("a regex")
    }

    proptest::proptest! {
        #[test]
        fn every_line_written_parses_with_serde_json_to_the_values_written(
            key in text(),
            ids in proptest::collection::vec(text(), 0..4),
            merchant in proptest::option::of(text()),
            minor in proptest::prelude::any::<i64>(),
            diff in proptest::prelude::any::<bool>(),
        ) {
            let currency = Currency::from_code("USD").expect("a currency");
            let amount = Amount::from_minor(minor, 2);
            let row = ResultRow {
                rule: "payment_ledger".into(),
                key: key.clone(),
                currency,
                status: Status::Matched,
                expected: Some(amount),
                actual: None,
                difference: Some(-amount),
                opened_at: 1_700_000_000_000,
                due_at: 1_700_000_000_250,
                left_ids: ids.clone(),
                right_ids: Vec::new(),
                merchant_id: merchant.clone(),
                attributes: Vec::new(),
            };
            let diff = if diff { 1 } else { -1 };
            let mut line = Vec::new();
            ChangelogLine::new(&row, 1_700_000_000_001, diff).write_json(&mut line);
            let parsed: serde_json::Value = serde_json::from_slice(&line).expect("valid JSON");
            proptest::prop_assert_eq!(&parsed["key"], &serde_json::json!(key));
            proptest::prop_assert_eq!(&parsed["left_ids"], &serde_json::json!(ids));
            proptest::prop_assert_eq!(&parsed["merchant_id"], &serde_json::json!(merchant));
            proptest::prop_assert!(parsed.get("attributes").is_none());
            proptest::prop_assert_eq!(&parsed["diff"], &serde_json::json!(diff));
            let expected = amount.to_string_scaled(2);
            proptest::prop_assert_eq!(&parsed["expected"], &serde_json::json!(expected));
            proptest::prop_assert_eq!(&parsed["actual"], &serde_json::Value::Null);
            proptest::prop_assert_eq!(&parsed["time"], &serde_json::json!("2023-11-14T22:13:20.001Z"));
        }
    }
}
