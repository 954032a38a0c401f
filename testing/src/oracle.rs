//! A naive reconciliation without dataflow: hash maps over all accepted records, computing the
//! final state directly from SPEC §3–§4. Tests compare the pipeline against it; the
//! performance benchmark uses it as the single-threaded baseline.

use std::collections::{BTreeMap, BTreeSet};

use trueup_operators::Amount;

use trueup::config::balance::{BalanceRule, KeyField};
use trueup::config::RuleConfig;
use trueup::model::currency::Currency;
use trueup::model::results::{ResultRow, Status};
use trueup::model::time::{Millis, Tick};
use trueup::model::{Direction, Record, Stream};

/// The final state of the standard reconciliation of `records` (in any order), with the final
/// watermark at the largest event time.
pub fn final_state(records: &[Record], rules: &[RuleConfig], tick: Tick) -> BTreeSet<ResultRow> {
    let watermark = records.iter().map(Record::event_time).max().unwrap_or(0);
    // dedupe: id → distinct versions
    let mut versions: BTreeMap<(bool, String), BTreeSet<&Record>> = BTreeMap::new();
    for record in records {
        let id = match record {
            Record::Payment(p) => (false, p.event_id.clone()),
            Record::Entry(e) => (true, e.entry_id.clone()),
        };
        versions.entry(id).or_default().insert(record);
    }
    let mut state = BTreeSet::new();
    let mut unique = Vec::new();
    for ((is_entry, id), set) in &versions {
        if set.len() == 1 {
            unique.push(*set.iter().next().expect("one version"));
            continue;
        }
        let first = set.iter().next().expect("versions");
        let (currency, opened_at) = match first {
            Record::Payment(p) => (p.currency, p.occurred_at),
            Record::Entry(e) => (e.currency, e.booked_at),
        };
        let opened_at = set
            .iter()
            .map(|r| r.event_time())
            .min()
            .unwrap_or(opened_at);
        let merchant_id = set.iter().find_map(|r| match r {
            Record::Payment(p) => p.merchant_id.clone(),
            Record::Entry(_) => None,
        });
        state.insert(ResultRow::duplicate(
            "dedupe".to_string(),
            id.clone(),
            currency,
            opened_at,
            (set.len(), *is_entry),
            merchant_id,
        ));
    }

    for rule in rules {
        // group → (left legs, right legs, merchants): legs are (id, signed amount, time)
        type Legs = Vec<(String, Amount, Millis)>;
        let mut groups: BTreeMap<(String, Currency), (Legs, Legs, BTreeSet<String>)> =
            BTreeMap::new();
        for record in &unique {
            match (rule, record) {
                (RuleConfig::PaymentLedger(_), Record::Payment(p)) => {
                    let g = groups
                        .entry((p.payment_id.clone(), p.currency))
                        .or_default();
                    g.0.push((p.event_id.clone(), p.signed_amount(), p.occurred_at));
                    g.2.extend(p.merchant_id.clone());
                }
                (RuleConfig::PaymentLedger(r), Record::Entry(e)) => {
                    if let (Some(pid), true) =
                        (&e.payment_id, r.match_accounts.contains(&e.account))
                    {
                        let g = groups.entry((pid.clone(), e.currency)).or_default();
                        g.1.push((e.entry_id.clone(), e.signed_amount(), e.booked_at));
                    }
                }
                (RuleConfig::JournalBalance(_), Record::Entry(e)) => {
                    let g = groups
                        .entry((e.journal_id.clone(), e.currency))
                        .or_default();
                    let side = if e.direction == Direction::Debit {
                        &mut g.0
                    } else {
                        &mut g.1
                    };
                    side.push((e.entry_id.clone(), e.amount, e.booked_at));
                }
                (RuleConfig::JournalBalance(_), Record::Payment(_)) => {}
                (RuleConfig::Balance(r), record) => {
                    if let Some((left, key, leg)) = declared_side(r, record) {
                        let g = groups.entry((key, leg_currency(record))).or_default();
                        let side = if left { &mut g.0 } else { &mut g.1 };
                        side.push(leg);
                        if let Record::Payment(p) = record {
                            g.2.extend(p.merchant_id.clone());
                        }
                    }
                }
            }
        }
        for ((key, currency), (left, right, merchants)) in groups {
            let expected: Amount = left.iter().map(|l| l.1).sum();
            let actual: Amount = right.iter().map(|r| r.1).sum();
            let difference = expected - actual;
            let tolerance = rule.tolerance().for_currency(currency);
            let relative = Amount(
                expected.abs().0 * rust_decimal::Decimal::from(tolerance.relative_bps)
                    / rust_decimal::Decimal::from(10_000),
            );
            let relative = match tolerance.cap {
                Some(cap) => relative.max(tolerance.floor).min(cap),
                None => relative.max(tolerance.floor),
            };
            let bound = tolerance.absolute.max(relative);
            let times = left.iter().chain(&right).map(|l| l.2);
            let last = times.clone().max().unwrap_or(0);
            let due_at = last + rule.grace_millis();
            let ledger = matches!(rule, RuleConfig::PaymentLedger(_));
            let declared = matches!(rule, RuleConfig::Balance(_));
            let status = if !left.is_empty() && !right.is_empty() && difference.abs() <= bound {
                Status::Matched
            } else if trueup::rules::break_time(tick, due_at) > tick.ceil(watermark) {
                Status::Pending
            } else if declared && right.is_empty() {
                Status::UnmatchedLeft
            } else if declared && left.is_empty() {
                Status::UnmatchedRight
            } else if declared {
                Status::AmountMismatch
            } else if !ledger {
                Status::UnbalancedJournal
            } else if right.is_empty() {
                Status::MissingLedger
            } else if left.is_empty() {
                Status::MissingPayment
            } else {
                Status::AmountMismatch
            };
            let ids = |legs: &Legs| {
                let mut ids: Vec<String> = legs.iter().map(|l| l.0.clone()).collect();
                ids.sort();
                ids
            };
            state.insert(ResultRow {
                rule: rule.name().to_string(),
                key,
                currency,
                status,
                expected: Some(expected),
                actual: Some(actual),
                difference: Some(difference),
                opened_at: times.min().unwrap_or(0),
                due_at,
                left_ids: ids(&left),
                right_ids: ids(&right),
                // only payments bring a merchant
                merchant_id: merchants.into_iter().next(),
            });
        }
    }
    state
}

fn leg_currency(record: &Record) -> Currency {
    match record {
        Record::Payment(p) => p.currency,
        Record::Entry(e) => e.currency,
    }
}

/// The side of a declared balance `record` is on (`true`: left), its key and its leg: the
/// first side whose stream, accounts and direction take it and whose key it has.
fn declared_side(
    rule: &BalanceRule,
    record: &Record,
) -> Option<(bool, String, (String, Amount, Millis))> {
    [(true, &rule.left), (false, &rule.right)]
        .into_iter()
        .find_map(|(left, side)| {
            let (key, leg) = match record {
                Record::Payment(p) if side.stream == Stream::Payments => {
                    let amount = if side.signed {
                        p.signed_amount()
                    } else {
                        p.amount
                    };
                    (
                        p.payment_id.clone(),
                        (p.event_id.clone(), amount, p.occurred_at),
                    )
                }
                Record::Entry(e) if side.stream == Stream::Entries => {
                    let on_account = side.accounts.is_empty() || side.accounts.contains(&e.account);
                    if !on_account || side.direction.is_some_and(|d| d != e.direction) {
                        return None;
                    }
                    let key = match side.key {
                        KeyField::PaymentId => e.payment_id.clone()?,
                        KeyField::JournalId => e.journal_id.clone(),
                    };
                    let amount = if side.signed {
                        e.signed_amount()
                    } else {
                        e.amount
                    };
                    (key, (e.entry_id.clone(), amount, e.booked_at))
                }
                _ => return None,
            };
            Some((left, key, leg))
        })
}
