//! The summary finance ops read: per rule × status × currency counts and amounts, match rate,
//! break aging buckets, and the counters of a run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trueup_operators::Amount;

use crate::model::currency::Currency;
use crate::model::results::{Change, ResultRow, Status};
use crate::model::time::{format_rfc3339, Millis};
use crate::model::Stream;

/// Counters of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Accepted records per stream (before deduplication).
    pub accepted: BTreeMap<Stream, u64>,
    /// Records that arrived behind the watermark and were processed at the current time.
    pub late: u64,
    /// Identical redeliveries absorbed, per stream.
    pub redeliveries: BTreeMap<Stream, i64>,
    /// Blank and whitespace-only input lines skipped (not dead letters).
    pub blank_lines: u64,
    /// Match accounts that no entry was booked on (a misspelling matches nothing).
    pub unseen_match_accounts: Vec<String>,
}

/// Aging buckets of open breaks, by whole days since the group opened (at the final watermark).
pub const AGING_BUCKETS: [&str; 4] = ["0-1 days", "2-7 days", "8-30 days", ">30 days"];

/// Counts and amounts of one (rule, status, currency) cell.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// Groups.
    pub groups: u64,
    /// Σ expected over the groups.
    pub expected: Amount,
    /// Σ difference over the groups.
    pub difference: Amount,
}

/// The summary of a run's final state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The final watermark (RFC 3339).
    pub watermark: Option<String>,
    /// Accepted records per stream.
    pub accepted: BTreeMap<String, u64>,
    /// Rejected lines (dead letters).
    pub dead_letters: u64,
    /// Identical redeliveries absorbed, per stream.
    pub redeliveries: BTreeMap<String, i64>,
    /// Records processed late (behind the watermark).
    pub late: u64,
    /// Blank and whitespace-only input lines skipped (not dead letters; absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub blank_lines_skipped: u64,
    /// rule → status → currency → cell.
    pub cells: BTreeMap<String, BTreeMap<String, BTreeMap<String, Cell>>>,
    /// rule → matched groups / all groups, as a percentage with two decimals (not for `dedupe`).
    pub match_rate_percent: BTreeMap<String, String>,
    /// Open breaks per aging bucket.
    pub break_aging: BTreeMap<String, u64>,
    /// What the run found doubtful without refusing it (absent when nothing was).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The consolidated final state of a changelog: each row with its net multiplicity.
pub fn final_state(changelog: &[Change]) -> BTreeMap<&ResultRow, isize> {
    let mut state = BTreeMap::new();
    for (row, _, diff) in changelog {
        *state.entry(row).or_insert(0) += diff;
    }
    state.retain(|_, n| *n != 0);
    state
}

/// One cell's running totals: (groups, Σ expected, Σ difference).
type Running = (i64, Amount, Amount);

/// Running totals of a changelog, updated change by change: what a summary is made of.
/// Its size depends on the rules, statuses and currencies seen and on the distinct opening
/// times of breaks, not on the number of groups.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// rule → status → currency → (groups, Σ expected, Σ difference).
    cells: BTreeMap<String, BTreeMap<Status, BTreeMap<Currency, Running>>>,
    /// Breaks by the time their group opened.
    breaks_opened: BTreeMap<Millis, i64>,
    /// Σ over breaks currently asserted.
    open_breaks: i64,
}

impl Tally {
    /// Applies one change: `diff` copies of `row` asserted (+) or retracted (−).
    pub fn apply(&mut self, row: &ResultRow, diff: isize) {
        let diff = diff as i64;
        if !self.cells.contains_key(&row.rule) {
            self.cells.insert(row.rule.clone(), BTreeMap::new());
        }
        let by_status = self.cells.get_mut(&row.rule).expect("inserted above");
        let cell = by_status
            .entry(row.status)
            .or_default()
            .entry(row.currency)
            .or_default();
        cell.0 += diff;
        cell.1 += row.expected.unwrap_or_default().times(diff);
        cell.2 += row.difference.unwrap_or_default().times(diff);
        if row.status.is_break() {
            self.open_breaks += diff;
            let opened = self.breaks_opened.entry(row.opened_at).or_default();
            *opened += diff;
            if *opened == 0 {
                self.breaks_opened.remove(&row.opened_at);
            }
        }
    }

    /// Breaks currently asserted.
    pub fn open_breaks(&self) -> i64 {
        self.open_breaks
    }

    /// The summary of the changes applied so far, with a run's counters, at `watermark`.
    pub fn summary(
        &self,
        counters: &Counters,
        dead_letters: u64,
        watermark: Option<Millis>,
    ) -> Summary {
        let mut summary = Summary {
            watermark: watermark.map(format_rfc3339),
            accepted: counters
                .accepted
                .iter()
                .map(|(s, n)| (s.name().to_string(), *n))
                .collect(),
            dead_letters,
            redeliveries: counters
                .redeliveries
                .iter()
                .map(|(s, n)| (s.name().to_string(), *n))
                .collect(),
            late: counters.late,
            blank_lines_skipped: counters.blank_lines,
            warnings: (counters.unseen_match_accounts.iter())
                .map(|a| format!("match account {a:?} is on no entry: no entry matched through it"))
                .collect(),
            ..Summary::default()
        };
        for bucket in AGING_BUCKETS {
            summary.break_aging.insert(bucket.to_string(), 0);
        }
        for (opened_at, copies) in &self.breaks_opened {
            let age_days = watermark.unwrap_or(0).saturating_sub(*opened_at) / 86_400_000;
            let bucket = match age_days {
                0..=1 => 0,
                2..=7 => 1,
                8..=30 => 2,
                _ => 3,
            };
            *summary
                .break_aging
                .entry(AGING_BUCKETS[bucket].to_string())
                .or_default() += (*copies).max(0) as u64;
        }
        for (rule, by_status) in &self.cells {
            let (mut matched, mut all) = (0u64, 0u64);
            for (status, by_currency) in by_status {
                for (currency, (groups, expected, difference)) in by_currency {
                    let groups = (*groups).max(0) as u64;
                    if groups == 0 {
                        continue;
                    }
                    all += groups;
                    if *status == Status::Matched {
                        matched += groups;
                    }
                    summary
                        .cells
                        .entry(rule.clone())
                        .or_default()
                        .entry(status.as_str().to_string())
                        .or_default()
                        .insert(
                            currency.code().to_string(),
                            Cell {
                                groups,
                                expected: currency.scaled(*expected),
                                difference: currency.scaled(*difference),
                            },
                        );
                }
            }
            if rule != "dedupe" {
                let basis_points = (matched * 10_000).checked_div(all).unwrap_or(0);
                summary.match_rate_percent.insert(
                    rule.clone(),
                    format!("{}.{:02}", basis_points / 100, basis_points % 100),
                );
            }
        }
        summary
    }
}

/// The summary as a readable table.
pub fn render_table(summary: &Summary) -> String {
    let mut out = String::new();
    let push = |out: &mut String, line: String| {
        out.push_str(&line);
        out.push('\n');
    };
    push(
        &mut out,
        format!(
            "watermark      {}",
            summary.watermark.as_deref().unwrap_or("-")
        ),
    );
    for (stream, n) in &summary.accepted {
        let again = summary.redeliveries.get(stream).copied().unwrap_or(0);
        push(
            &mut out,
            format!("{stream:<14} {n} accepted, {again} identical redeliveries absorbed"),
        );
    }
    push(&mut out, format!("dead letters   {}", summary.dead_letters));
    push(&mut out, format!("late records   {}", summary.late));
    if summary.blank_lines_skipped > 0 {
        let blank = summary.blank_lines_skipped;
        push(&mut out, format!("blank lines skipped {blank}"));
    }
    push(&mut out, String::new());
    push(
        &mut out,
        format!(
            "{:<16} {:<22} {:<4} {:>9} {:>20} {:>16}",
            "rule", "status", "ccy", "groups", "expected", "difference"
        ),
    );
    for (rule, statuses) in &summary.cells {
        for status in Status::ALL {
            for (ccy, cell) in statuses.get(status.as_str()).into_iter().flatten() {
                let scale = Currency::from_code(ccy).map_or(2, |c| c.minor_units());
                push(
                    &mut out,
                    format!(
                        "{rule:<16} {:<22} {ccy:<4} {:>9} {:>20} {:>16}",
                        status.as_str(),
                        cell.groups,
                        cell.expected.to_string_scaled(scale),
                        cell.difference.to_string_scaled(scale)
                    ),
                );
            }
        }
    }
    push(&mut out, String::new());
    for (rule, rate) in &summary.match_rate_percent {
        push(&mut out, format!("match rate     {rule}: {rate}%"));
    }
    let aging: Vec<String> = AGING_BUCKETS
        .iter()
        .map(|b| format!("{b}: {}", summary.break_aging[*b]))
        .collect();
    push(&mut out, format!("open breaks    {}", aging.join(", ")));
    for warning in &summary.warnings {
        push(&mut out, format!("warning        {warning}"));
    }
    out
}
