//! Read-only questions auditors ask of the store, each as of a committed logical time: one
//! key's result, breaks by filter, the summary, and lineage from a result to its inputs.
//! Every value a caller supplies is bound as a parameter, never spliced into SQL.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trueup_operators::Amount;

use super::db::Value;
use super::{stored_attributes, Store, StoreError};
use crate::model::time::Time;

/// Which current results to return: one filter for `trueup query` and the HTTP API (its
/// query parameters have these names, and unknown ones are refused). Empty fields do not
/// filter.
#[derive(Clone, Debug, Default, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Only this group key (the path of `/v1/results/{key}`, or `trueup query result KEY`).
    #[arg(skip)]
    #[serde(skip)]
    pub key: Option<String>,
    /// Only this rule.
    #[arg(long)]
    pub rule: Option<String>,
    /// Only this status (e.g. `missing_ledger`).
    #[arg(long)]
    pub status: Option<String>,
    /// Only this currency.
    #[arg(long)]
    pub currency: Option<String>,
    /// Only groups whose |difference| is at least this (in the currency's units; not negative).
    #[arg(long, value_parser = parse_amount)]
    #[serde(default, deserialize_with = "non_negative")]
    pub min_amount: Option<Amount>,
    /// Only groups opened at least this many days before `as_of`.
    #[arg(long)]
    pub min_age_days: Option<u64>,
    /// Only breaks (not matched, not pending).
    #[arg(skip)]
    #[serde(skip)]
    pub breaks_only: bool,
    /// At most this many rows (default 1,000).
    #[arg(long)]
    pub limit: Option<u64>,
    /// Only groups after this one, in the answer's order: the `next_after` of the previous
    /// page, to read the next.
    #[arg(long, value_parser = Cursor::parse)]
    #[serde(default, deserialize_with = "cursor")]
    pub after: Option<Cursor>,
    /// As of this logical time (RFC 3339; default: the last committed time). On the command
    /// line it is `trueup query --as-of`, which every question takes.
    #[arg(skip)]
    pub as_of: Option<String>,
}

/// Only a point in time: the parameters of the questions that take no filter.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsOf {
    /// As of this logical time (RFC 3339; default: the last committed time).
    pub as_of: Option<String>,
}

/// An amount as the command line gives it: a decimal, not negative.
fn parse_amount(text: &str) -> Result<Amount, String> {
    match Amount::parse(text) {
        Some(amount) if amount >= Amount::ZERO => Ok(amount),
        Some(_) => Err(format!("{text} is negative: |difference| is never below 0")),
        None => Err(format!("{text:?} is not a decimal amount")),
    }
}

/// `min_amount` as the HTTP API gives it: a decimal, not negative.
fn non_negative<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Amount>, D::Error> {
    let text = String::deserialize(d)?;
    parse_amount(&text)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("min_amount: {e}")))
}

/// `after` as the HTTP API gives it.
fn cursor<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cursor>, D::Error> {
    let text = String::deserialize(d)?;
    Cursor::parse(&text)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("after: {e}")))
}

/// Where a page ends: its last row — (rule, key, currency, seq): a key can have two current
/// rows (a retired generation and a new one), told apart by the change that first asserted
/// each — written as the hex digits of a JSON array so that it passes through URLs and shells
/// untouched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor(String, String, String, i64);

impl Cursor {
    fn of(row: &CurrentRow) -> Cursor {
        let (rule, key, currency) = (row.rule.clone(), row.key.clone(), row.currency.clone());
        Cursor(rule, key, currency, row.seq)
    }

    /// Reads a cursor written by [`Cursor`]'s `Display`.
    pub fn parse(text: &str) -> Result<Cursor, String> {
        let bad = || format!("{text:?} is not a page cursor (a `next_after` value)");
        let bytes: Option<Vec<u8>> = text
            .len()
            .is_multiple_of(2)
            .then(|| text.as_bytes().chunks(2))
            .and_then(|pairs| {
                pairs
                    .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
                    .collect()
            });
        let (rule, key, currency, seq) =
            serde_json::from_slice(&bytes.ok_or_else(bad)?).map_err(|_| bad())?;
        Ok(Cursor(rule, key, currency, seq))
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let json = serde_json::json!([self.0, self.1, self.2, self.3]).to_string();
        f.write_str(&super::db::hex(json.as_bytes()))
    }
}

/// One page of current results.
#[derive(Clone, Debug, Serialize)]
pub struct Page {
    /// The groups, in order.
    pub rows: Vec<CurrentRow>,
    /// The `after` of the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// Rows a page holds unless the filter's `limit` says otherwise.
pub const DEFAULT_LIMIT: u64 = 1000;

/// One current result, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CurrentRow {
    /// Rule name.
    pub rule: String,
    /// Group key.
    pub key: String,
    /// Currency code.
    pub currency: String,
    /// Status.
    pub status: String,
    /// Σ expected side.
    pub expected: Option<String>,
    /// Σ actual side.
    pub actual: Option<String>,
    /// expected − actual.
    pub difference: Option<String>,
    /// Earliest event time, RFC 3339.
    pub opened_at: String,
    /// Due time, RFC 3339.
    pub due_at: String,
    /// Expected-side ids.
    pub left_ids: Vec<String>,
    /// Actual-side ids.
    pub right_ids: Vec<String>,
    /// Merchant, if known.
    pub merchant_id: Option<String>,
    /// The attributes its records carry (a declared stream's `carry`): each name's values;
    /// left out when there are none.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Vec<String>>,
    /// The logical time this row was (last) asserted, RFC 3339.
    pub since: String,
    /// The change (the store's `seq`) that first asserted this row: two current rows of one
    /// key — a retired generation and a new one — are told apart and ordered by it.
    pub seq: i64,
}

/// One line of the summary: a rule × status × currency cell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SummaryCell {
    /// Rule name.
    pub rule: String,
    /// Status.
    pub status: String,
    /// Currency code.
    pub currency: String,
    /// Groups.
    pub groups: i64,
    /// Σ difference, exact, with the currency's minor digits (`"99999999999999999.00"`).
    pub difference: String,
}

/// One input behind a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InputLine {
    /// `payments` or `entries`.
    pub stream: String,
    /// The record's id.
    pub record_id: String,
    /// Where it was read: `file:line`.
    pub position: String,
    /// The logical time it entered at, RFC 3339.
    pub time: String,
    /// The batch that committed it.
    pub batch: i64,
    /// The record as accepted (JSON).
    pub record: serde_json::Value,
}

/// A result and the input records it was computed from.
#[derive(Clone, Debug, Serialize)]
pub struct Lineage {
    /// The result.
    pub result: CurrentRow,
    /// Every input listed by the result, with its position (redeliveries included).
    pub inputs: Vec<InputLine>,
}

/// The split of minor units that keeps the store's sums inside 64 bits.
const BILLION: i64 = 1_000_000_000;

/// The minor digits of the currency `code` (2 for one trueup does not know).
fn scale_of(code: &str) -> u32 {
    crate::model::currency::Currency::from_code(code).map_or(2, |c| c.minor_units())
}

const GROUPED: &str = "rule, key, currency, status, expected, actual, difference, \
    difference_minor, opened_at_ms, opened_at, due_at, left_ids, right_ids, merchant_id, \
    attributes";

impl Store {
    /// The last committed frontier: every time before it may be asked about.
    pub fn frontier(&mut self) -> Result<Option<Time>, StoreError> {
        let rows = self.db.query(
            "SELECT frontier_ms FROM commits ORDER BY batch DESC LIMIT 1",
            &[],
        )?;
        Ok(rows.first().and_then(|r| r[0].int()).map(|t| t as Time))
    }

    /// The current results as of logical time `as_of` (changes at times ≤ `as_of`) that pass
    /// `filter`, ordered by rule, key, currency.
    pub fn current_as_of(
        &mut self,
        as_of: Time,
        filter: &Filter,
    ) -> Result<Vec<CurrentRow>, StoreError> {
        let mut params = vec![Value::Int(as_of as i64)];
        let mut conditions = vec!["time_ms <= $1".to_string()];
        let mut bind = |column: &str, value: &Option<String>| {
            if let Some(v) = value {
                params.push(Value::text(v.clone()));
                conditions.push(format!("{column} = ${}", params.len()));
            }
        };
        bind("key", &filter.key);
        bind("rule", &filter.rule);
        bind("status", &filter.status);
        bind("currency", &filter.currency);
        let mut after = String::new();
        if let Some(Cursor(rule, key, currency, seq)) = &filter.after {
            let first = params.len() + 1;
            for value in [rule, key, currency] {
                params.push(Value::text(value.clone()));
            }
            params.push(Value::Int(*seq));
            after = format!(
                " AND (rule, key, currency, MIN(seq)) > (${first}, ${}, ${}, ${})",
                first + 1,
                first + 2,
                first + 3
            );
        }
        if filter.breaks_only {
            conditions.push("status NOT IN ('matched', 'pending')".into());
        }
        if let Some(days) = filter.min_age_days {
            // (a number of days no group can be that old opens before any time: no rows)
            let span = i64::try_from(days)
                .unwrap_or(i64::MAX)
                .saturating_mul(86_400_000);
            params.push(Value::Int((as_of as i64).saturating_sub(span)));
            conditions.push(format!("opened_at_ms <= ${}", params.len()));
        }
        // ordered by (rule, key, currency, first seq): unique, so every sequence of pages
        // holds every current row exactly once
        let sql = format!(
            "SELECT {GROUPED}, CAST(MAX(time_ms) AS BIGINT), CAST(MIN(seq) AS BIGINT) \
             FROM results WHERE {} GROUP BY {GROUPED} HAVING SUM(diff) > 0{after} \
             ORDER BY rule, key, currency, MIN(seq)",
            conditions.join(" AND ")
        );
        let limit = usize::try_from(filter.limit.unwrap_or(DEFAULT_LIMIT)).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        for r in self.db.query(&sql, &params)? {
            if out.len() >= limit {
                break;
            }
            let row = current_row(&r)?;
            let passes = filter.min_amount.is_none_or(|min| {
                row.difference
                    .as_deref()
                    .and_then(Amount::parse)
                    .is_some_and(|d| d.abs() >= min)
            });
            if passes {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// A page of [`current_as_of`](Store::current_as_of): `filter.limit` groups (default
    /// [`DEFAULT_LIMIT`]), and where the next page starts if there is one.
    pub fn page_as_of(&mut self, as_of: Time, filter: &Filter) -> Result<Page, StoreError> {
        let limit = filter.limit.unwrap_or(DEFAULT_LIMIT);
        let one_more = Filter {
            limit: Some(limit.saturating_add(1)),
            ..filter.clone()
        };
        let mut rows = self.current_as_of(as_of, &one_more)?;
        let more = rows.len() as u64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_after = rows
            .last()
            .filter(|_| more)
            .map(|last| Cursor::of(last).to_string());
        Ok(Page { rows, next_after })
    }

    /// Groups and Σ difference by rule, status and currency, as of `as_of`. The sums are
    /// exact whatever their size: the stored minor units are summed in two parts that cannot
    /// overflow (billions and the rest), and the few groups whose difference is beyond 64-bit
    /// minor units (stored as text only) are added from their text.
    pub fn summary_as_of(&mut self, as_of: Time) -> Result<Vec<SummaryCell>, StoreError> {
        let current = format!(
            "SELECT {GROUPED} FROM results WHERE time_ms <= $1 \
             GROUP BY {GROUPED} HAVING SUM(diff) > 0"
        );
        let sql = format!(
            "SELECT rule, status, currency, CAST(COUNT(*) AS BIGINT), \
             CAST(COALESCE(SUM(difference_minor / {BILLION}), 0) AS BIGINT), \
             CAST(COALESCE(SUM(difference_minor % {BILLION}), 0) AS BIGINT) \
             FROM ({current}) AS current \
             GROUP BY rule, status, currency ORDER BY rule, status, currency"
        );
        let at = [Value::Int(as_of as i64)];
        let mut cells = Vec::new();
        for r in self.db.query(&sql, &at)? {
            let (rule, status, currency) = (text(&r[0])?, text(&r[1])?, text(&r[2])?);
            let scale = scale_of(&currency);
            let part = |v: &Value| Amount::from_minor(v.int().unwrap_or(0), scale);
            let sum = part(&r[4]).times(BILLION) + part(&r[5]);
            cells.push(((rule, status, currency), r[3].int().unwrap_or(0), sum));
        }
        let wide = format!(
            "SELECT rule, status, currency, difference FROM ({current}) AS current \
             WHERE difference_minor IS NULL AND difference IS NOT NULL"
        );
        for r in self.db.query(&wide, &at)? {
            let cell = (text(&r[0])?, text(&r[1])?, text(&r[2])?);
            let difference = Amount::parse(&text(&r[3])?)
                .ok_or_else(|| StoreError::Corrupt("a difference is not a decimal".into()))?;
            if let Some((_, _, sum)) = cells.iter_mut().find(|(c, _, _)| *c == cell) {
                *sum += difference;
            }
        }
        Ok(cells
            .into_iter()
            .map(|((rule, status, currency), groups, sum)| SummaryCell {
                difference: sum.to_string_scaled(scale_of(&currency)),
                rule,
                status,
                currency,
                groups,
            })
            .collect())
    }

    /// The results for `key` as of `as_of`, each with the input records it lists.
    pub fn lineage(&mut self, key: &str, as_of: Time) -> Result<Vec<Lineage>, StoreError> {
        let filter = Filter {
            key: Some(key.to_string()),
            ..Filter::default()
        };
        let results = self.current_as_of(as_of, &filter)?;
        let mut out = Vec::new();
        for result in results {
            let mut inputs = Vec::new();
            let ids: std::collections::BTreeSet<&String> =
                result.left_ids.iter().chain(&result.right_ids).collect();
            for id in ids {
                let rows = self.db.query(
                    "SELECT stream, record_id, position, time_ms, batch, record FROM inputs \
                     WHERE record_id = $1 ORDER BY seq",
                    &[Value::text(id.clone())],
                )?;
                for r in rows {
                    inputs.push(InputLine {
                        stream: text(&r[0])?,
                        record_id: text(&r[1])?,
                        position: text(&r[2])?,
                        time: crate::model::time::format_rfc3339(r[3].int().unwrap_or(0) as Time),
                        batch: r[4].int().unwrap_or(0),
                        record: serde_json::from_str(r[5].str().unwrap_or("null"))
                            .unwrap_or_default(),
                    });
                }
            }
            out.push(Lineage { result, inputs });
        }
        Ok(out)
    }

    /// Counts for monitoring: inputs, dead letters, open breaks by status, the last frontier
    /// and the last commit's latency in milliseconds.
    pub fn metrics(&mut self) -> Result<Metrics, StoreError> {
        let count = |store: &mut Store, table: &str| -> Result<i64, StoreError> {
            let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}");
            Ok(store.db.query(&sql, &[])?[0][0].int().unwrap_or(0))
        };
        let inputs = count(self, "inputs")?;
        let dead_letters = count(self, "dead_letters")?;
        let breaks = self
            .db
            .query(
                "SELECT status, CAST(COUNT(*) AS BIGINT) FROM open_breaks GROUP BY status \
                 ORDER BY status",
                &[],
            )?
            .into_iter()
            .map(|r| Ok((text(&r[0])?, r[1].int().unwrap_or(0))))
            .collect::<Result<_, StoreError>>()?;
        let last = self.db.query(
            "SELECT frontier_ms, commit_ms, batch, positions FROM commits \
             ORDER BY batch DESC LIMIT 1",
            &[],
        )?;
        let last = last.first();
        Ok(Metrics {
            inputs,
            dead_letters,
            blank_lines: last.and_then(|r| r[3].str()).map_or(0, blank_lines),
            open_breaks: breaks,
            frontier: last.and_then(|r| r[0].int()),
            commit_ms: last.and_then(|r| r[1].int()),
            batches: last.and_then(|r| r[2].int()).unwrap_or(0),
        })
    }
}

/// What `/metrics` reports.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Accepted input records committed.
    pub inputs: i64,
    /// Dead letters committed.
    pub dead_letters: i64,
    /// Blank and whitespace-only input lines skipped, up to the committed positions.
    pub blank_lines: i64,
    /// Open breaks by status.
    pub open_breaks: Vec<(String, i64)>,
    /// The last committed frontier (Unix ms).
    pub frontier: Option<i64>,
    /// How long the last commit took (ms).
    pub commit_ms: Option<i64>,
    /// Commits so far.
    pub batches: i64,
}

/// The blank lines skipped up to committed `positions` (one entry per worker, each with its
/// sources' own positions as JSON text, a file's with its count of blank lines).
fn blank_lines(positions: &str) -> i64 {
    let workers: serde_json::Value = serde_json::from_str(positions).unwrap_or_default();
    let sources = (workers.as_array().into_iter().flatten())
        .filter_map(|w| w["sources"].as_array())
        .flatten();
    let counts = sources.filter_map(|s| {
        let position: serde_json::Value = serde_json::from_str(s["position"].as_str()?).ok()?;
        position["blank"].as_i64()
    });
    counts.sum()
}

fn text(v: &Value) -> Result<String, StoreError> {
    v.str()
        .map(str::to_string)
        .ok_or_else(|| StoreError::Corrupt("a text column is NULL".into()))
}

fn current_row(r: &[Value]) -> Result<CurrentRow, StoreError> {
    let ids = |v: &Value| -> Vec<String> {
        serde_json::from_str(v.str().unwrap_or("[]")).unwrap_or_default()
    };
    Ok(CurrentRow {
        rule: text(&r[0])?,
        key: text(&r[1])?,
        currency: text(&r[2])?,
        status: text(&r[3])?,
        expected: r[4].str().map(str::to_string),
        actual: r[5].str().map(str::to_string),
        difference: r[6].str().map(str::to_string),
        opened_at: text(&r[9])?,
        due_at: text(&r[10])?,
        left_ids: ids(&r[11]),
        right_ids: ids(&r[12]),
        merchant_id: r[13].str().map(str::to_string),
        attributes: stored_attributes(&r[14])
            .ok_or_else(|| StoreError::Corrupt("results: attributes".into()))?
            .into_iter()
            .fold(BTreeMap::new(), |mut by_name, (name, value)| {
                by_name.entry(name).or_insert_with(Vec::new).push(value);
                by_name
            }),
        since: crate::model::time::format_rfc3339(r[15].int().unwrap_or(0) as Time),
        seq: r.get(16).and_then(Value::int).unwrap_or(0),
    })
}

/// Why a question cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A parameter is malformed.
    #[error("{0}")]
    BadRequest(String),
}

impl Store {
    /// The logical time to answer at: `as_of` (RFC 3339) if given — it must be before the
    /// committed frontier — else the last committed time (the frontier less 1 ms).
    pub fn resolve_as_of(&mut self, as_of: Option<&str>) -> Result<Time, AskError> {
        let frontier = self
            .frontier()?
            .ok_or_else(|| AskError::BadRequest("nothing is committed yet".into()))?;
        let Some(text) = as_of else {
            return Ok(frontier.saturating_sub(1));
        };
        let at = crate::model::time::parse_rfc3339(text)
            .map_err(|e| AskError::BadRequest(format!("as_of {text:?}: {e}")))?;
        if at >= frontier {
            return Err(AskError::BadRequest(format!(
                "as_of {text} is not committed yet: the committed frontier is {}",
                crate::model::time::format_rfc3339(frontier)
            )));
        }
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_are_summed_over_every_workers_committed_sources() {
        let positions = r#"[{"sources":[{"position":"{\"offset\":10,\"blank\":2}"},{"position":"{\"offset\":3}"}]},null,{"sources":[{"position":"{\"blank\":5}"}]}]"#;
        assert_eq!(blank_lines(positions), 7);
        assert_eq!(blank_lines("not json"), 0);
    }
}
