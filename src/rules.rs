//! The standard reconciliation, built from the operators library: dedupe both streams,
//! then one balance graph per configured rule, aged against its grace period.
//!
//! ```text
//! payments ─ dedupe ─┬─ unique ─ legs by (payment_id, currency) ─┐
//!                    └─ conflicts ─ dedupe results               ├─ balance ─ enrich(merchant) ─ aging ─ results
//! entries ── dedupe ─┬─ unique ─ filter(match accounts) ─────────┘
//!                    │         └ split(debits | credits) ─ balance(journal) ─ aging ─ results
//!                    └─ conflicts ─ dedupe results
//! ```
//!
//! A conservation check watches every stage: accepted records = unique + redeliveries +
//! conflicts, and each rule's legs = the legs reported in its results.

use differential_dataflow::collection::concatenate;
use differential_dataflow::VecCollection;
use trueup_operators::{
    Aging, Amount, Balance, BalanceGroup, BalanceState, Conservation, Dedupe, Joiner, Leg, Measure,
    Route, Splitter, Violation,
};

use crate::config::RuleConfig;
use crate::currency::Currency;
use crate::event_time::{Millis, Tick};
use crate::model::{Direction, Entry, Payment, Stream};
use crate::results::{ResultRow, Status};

/// The dataflow's logical time: event time in Unix milliseconds, coarsened to the tick.
pub type Time = Millis;

/// A balance group's key: the payment or journal id, and the currency.
pub type GroupKey = (String, Currency);

/// One side of a balance rule: legs keyed by group.
pub type Legs<'scope> = VecCollection<'scope, Time, (GroupKey, Leg)>;

/// What a conservation check is keyed by: the stage (an index into [`stage_names`]) and the
/// currency (`None` for `dedupe`, whose versions may differ in currency). Small and `Copy`, as
/// every input record is measured several times.
pub type Stage = (u16, Option<Currency>);

const PAYMENTS_ACCEPTED: u16 = 0;
const ENTRIES_ACCEPTED: u16 = 1;
const DEDUPE: u16 = 2;
const FIRST_RULE: u16 = 3;

/// The names of the conservation stages for `rules`, indexed by [`Stage`]'s first element.
pub fn stage_names(rules: &[RuleConfig]) -> Vec<String> {
    let fixed = ["payments accepted", "entries accepted", "dedupe"].map(String::from);
    fixed
        .into_iter()
        .chain(rules.iter().map(|r| r.name().to_string()))
        .collect()
}

/// The outputs of [`reconcile`].
pub struct Reconciliation<'scope> {
    /// Every group's result, as a changelog.
    pub results: VecCollection<'scope, Time, ResultRow>,
    /// Conservation violations (empty unless an operator lost or created records).
    pub violations: VecCollection<'scope, Time, Violation<Stage>>,
    /// One element per absorbed identical redelivery, by stream.
    pub redeliveries: VecCollection<'scope, Time, Stream>,
}

fn measure_payment(p: Payment) -> (Stage, Measure) {
    (
        (PAYMENTS_ACCEPTED, Some(p.currency)),
        Measure::one(p.signed_amount()),
    )
}

fn measure_entry(e: Entry) -> (Stage, Measure) {
    (
        (ENTRIES_ACCEPTED, Some(e.currency)),
        Measure::one(e.signed_amount()),
    )
}

/// Builds the standard reconciliation over `payments` and `entries` for `rules`.
pub fn reconcile<'scope>(
    payments: VecCollection<'scope, Time, Payment>,
    entries: VecCollection<'scope, Time, Entry>,
    rules: &[RuleConfig],
    tick: Tick,
) -> Reconciliation<'scope> {
    let scope = payments.inner.scope();
    let p = payments
        .clone()
        .map(|p| (p.event_id.clone(), p))
        .dedupe_named("dedupe payments");
    let e = entries
        .clone()
        .map(|e| (e.entry_id.clone(), e))
        .dedupe_named("dedupe entries");

    // accepted = unique + redeliveries + conflicts, per stream and currency
    let mut checked = vec![payments.map(measure_payment), entries.map(measure_entry)];
    let mut produced = Vec::new();
    for out in [&p.unique, &p.redeliveries, &p.conflicts] {
        produced.push(out.clone().map(|(_, p)| measure_payment(p)));
    }
    for out in [&e.unique, &e.redeliveries, &e.conflicts] {
        produced.push(out.clone().map(|(_, e)| measure_entry(e)));
    }

    let redeliveries = p
        .redeliveries
        .map(|_| Stream::Payments)
        .concat(e.redeliveries.map(|_| Stream::Entries));

    let unique_p = p.unique.map(|(_, p)| p);
    let unique_e = e.unique.map(|(_, e)| e);
    let mut results = vec![duplicate_results(
        p.conflicts,
        e.conflicts,
        &mut checked,
        &mut produced,
    )];

    for (stage, rule) in (FIRST_RULE..).zip(rules) {
        let name = rule.name().to_string();
        let (left, right) = rule_legs(rule, unique_p.clone(), unique_e.clone());
        let tolerance = rule.tolerance().clone();
        let groups =
            left.clone()
                .balance_named(&name, right.clone(), move |(_, ccy): &GroupKey| {
                    tolerance.for_currency(*ccy)
                });
        let groups = match rule {
            RuleConfig::PaymentLedger(_) => with_merchants(groups, unique_p.clone()),
            RuleConfig::JournalBalance(_) => groups.map(|(k, g)| (k, (g, None))),
        };
        let rows = aged_rows(groups, rule, tick);

        checked.push(
            left.concat(right)
                .map(move |((_, ccy), leg)| ((stage, Some(ccy)), Measure::one(leg.amount))),
        );
        produced.push(rows.clone().map(move |row| measure_row(stage, row)));
        results.push(rows);
    }

    let violations = concatenate(scope, checked).conserved_by_named("conservation", produced);
    Reconciliation {
        results: concatenate(scope, results),
        violations,
        redeliveries,
    }
}

/// The two sides of a rule, as legs keyed by group.
fn rule_legs<'scope>(
    rule: &RuleConfig,
    payments: VecCollection<'scope, Time, Payment>,
    entries: VecCollection<'scope, Time, Entry>,
) -> (Legs<'scope>, Legs<'scope>) {
    match rule {
        RuleConfig::PaymentLedger(r) => {
            let accounts = r.match_accounts.clone();
            let left = payments.map(|p| {
                let amount = p.signed_amount();
                (
                    (p.payment_id, p.currency),
                    Leg::new(p.event_id, amount, p.occurred_at),
                )
            });
            // only entries on a match account that reference a payment become legs
            let right = entries.flat_map(move |e| {
                if !accounts.contains(&e.account) {
                    return None;
                }
                let amount = e.signed_amount();
                let key = (e.payment_id?, e.currency);
                Some((key, Leg::new(e.entry_id, amount, e.booked_at)))
            });
            (left, right)
        }
        RuleConfig::JournalBalance(r) => {
            let mut sides = entries.split_named(
                &r.name,
                vec![Route::new("debits", |e: &Entry| {
                    e.direction == Direction::Debit
                })],
            );
            let leg = |e: Entry| {
                (
                    (e.journal_id, e.currency),
                    Leg::new(e.entry_id, e.amount, e.booked_at),
                )
            };
            let debits = sides.take("debits").expect("route declared above").map(leg);
            (debits, sides.rest.map(leg))
        }
    }
}

/// Attaches each payment group's merchant (the smallest merchant id among its events).
fn with_merchants<'scope>(
    groups: VecCollection<'scope, Time, (GroupKey, BalanceGroup)>,
    payments: VecCollection<'scope, Time, Payment>,
) -> VecCollection<'scope, Time, (GroupKey, (BalanceGroup, Option<String>))> {
    let merchants = payments
        .flat_map(|p| p.merchant_id.map(|m| ((p.payment_id, p.currency), m)))
        .reduce_named("merchant per payment", |_key, merchants, out| {
            out.push((merchants[0].0.clone(), 1isize))
        });
    let out = groups.enrich_named("merchants", merchants);
    out.enriched
        .map(|(k, (g, m))| (k, (g, Some(m))))
        .concat(out.unenriched.map(|(k, g)| (k, (g, None))))
}

/// Ages a rule's groups against its grace period and turns them into result rows.
fn aged_rows<'scope>(
    groups: VecCollection<'scope, Time, (GroupKey, (BalanceGroup, Option<String>))>,
    rule: &RuleConfig,
    tick: Tick,
) -> VecCollection<'scope, Time, ResultRow> {
    let grace = rule.grace_millis();
    let aged = groups.age_named(rule.name(), move |(_, (g, _))| {
        (g.state != BalanceState::Balanced).then(|| tick.ceil(g.last_at.saturating_add(grace)))
    });
    let is_ledger = matches!(rule, RuleConfig::PaymentLedger(_));
    let row = move |name: String, status: Option<Status>| {
        move |((key, currency), (g, merchant_id)): (GroupKey, (BalanceGroup, Option<String>))| {
            let status = status.unwrap_or(match (is_ledger, g.state) {
                (false, _) => Status::UnbalancedJournal,
                (true, BalanceState::LeftOnly) => Status::MissingLedger,
                (true, BalanceState::RightOnly) => Status::MissingPayment,
                (true, _) => Status::AmountMismatch,
            });
            ResultRow {
                rule: name.clone(),
                key,
                currency,
                status,
                expected: Some(g.expected),
                actual: Some(g.actual),
                difference: Some(g.difference),
                opened_at: g.opened_at,
                due_at: g.last_at.saturating_add(grace),
                left_ids: g.left_ids,
                right_ids: g.right_ids,
                merchant_id,
            }
        }
    };
    let name = rule.name().to_string();
    aged.settled
        .map(row(name.clone(), Some(Status::Matched)))
        .concat(aged.on_time.map(row(name.clone(), Some(Status::Pending))))
        .concat(aged.overdue.map(row(name, None)))
}

/// A rule's result row measured as the legs it lists: their count and Σ expected + Σ actual.
fn measure_row(stage: u16, row: ResultRow) -> (Stage, Measure) {
    let count = (row.left_ids.len() + row.right_ids.len()) as i64;
    let amount = row.expected.unwrap_or_default() + row.actual.unwrap_or_default();
    ((stage, Some(row.currency)), Measure { count, amount })
}

/// One `dedupe` result per id with conflicting versions, listing each version's id once.
fn duplicate_results<'scope>(
    payments: VecCollection<'scope, Time, (String, Payment)>,
    entries: VecCollection<'scope, Time, (String, Entry)>,
    checked: &mut Vec<VecCollection<'scope, Time, (Stage, Measure)>>,
    produced: &mut Vec<VecCollection<'scope, Time, (Stage, Measure)>>,
) -> VecCollection<'scope, Time, ResultRow> {
    // (id, (is_entry, currency, event time, merchant)) per version
    type Version = (bool, Currency, Millis, Option<String>);
    let versions: VecCollection<'scope, Time, (String, Version)> = payments
        .map(|(id, p)| (id, (false, p.currency, p.occurred_at, p.merchant_id)))
        .concat(entries.map(|(id, e)| (id, (true, e.currency, e.booked_at, None))));
    // versions of one id may differ in currency: count them under one scope, "*"
    checked.push(
        versions
            .clone()
            .map(|_| ((DEDUPE, None), Measure::one(Amount::ZERO))),
    );
    let rows = versions
        .reduce_named("dedupe results", |id, versions, out| {
            let copies: usize = versions.iter().map(|(_, n)| (*n).max(0) as usize).sum();
            let (is_entry, currency, _, _) = versions[0].0;
            let opened_at = versions.iter().map(|(v, _)| v.2).min().unwrap_or_default();
            let merchant_id = versions.iter().find_map(|(v, _)| v.3.clone());
            let row =
                ResultRow::duplicate(id, *currency, opened_at, copies, *is_entry, merchant_id);
            out.push((row, 1isize));
        })
        .map(|(_, row)| row);
    produced.push(rows.clone().map(|row| {
        let versions = (row.left_ids.len() + row.right_ids.len()) as i64;
        (
            (DEDUPE, None),
            Measure {
                count: versions,
                amount: Amount::ZERO,
            },
        )
    }));
    rows
}
