//! A naive reconciliation without dataflow: hash maps over all accepted records, computing the
//! final state directly from SPEC §3–§4. Tests compare the pipeline against it; the
//! performance benchmark uses it as the single-threaded baseline.

use std::collections::{BTreeMap, BTreeSet};

use trueup_operators::Amount;

use trueup::config::balance::{BalanceRule, KeyField, MatchRule};
use trueup::config::RuleConfig;
use trueup::model::currency::Currency;
use trueup::model::results::{ResultRow, Status, STREAM_ATTRIBUTE};
use trueup::model::time::{Millis, Tick};
use trueup::model::{Direction, Record, Stream};

/// The final state of the standard reconciliation of `records` (in any order), with the final
/// watermark at the largest event time.
pub fn final_state(records: &[Record], rules: &[RuleConfig], tick: Tick) -> BTreeSet<ResultRow> {
    let watermark = records.iter().map(Record::event_time).max().unwrap_or(0);
    // dedupe: id → distinct versions
    let mut versions: BTreeMap<(Stream, String), BTreeSet<&Record>> = BTreeMap::new();
    for record in records {
        versions.entry(identity(record)).or_default().insert(record);
    }
    let mut state = BTreeSet::new();
    let mut unique = Vec::new();
    for ((stream, id), set) in &versions {
        // payments' versions are listed on the left, every other stream's on the right
        let is_entry = *stream != Stream::Payments;
        if set.len() == 1 {
            unique.push(*set.iter().next().expect("one version"));
            continue;
        }
        let first = set.iter().next().expect("versions");
        let (currency, opened_at) = (leg_currency(first), first.event_time());
        let opened_at = set
            .iter()
            .map(|r| r.event_time())
            .min()
            .unwrap_or(opened_at);
        let merchant_id = set.iter().find_map(|r| match r {
            Record::Payment(p) => p.merchant_id.clone(),
            Record::Declared(d) => d.merchant_id.clone(),
            Record::Entry(_) => None,
        });
        let mut row = ResultRow::duplicate(
            "dedupe".to_string(),
            id.clone(),
            currency,
            opened_at,
            (set.len(), is_entry),
            merchant_id,
        );
        if let Stream::Declared(_) = stream {
            row.attributes = vec![(STREAM_ATTRIBUTE.to_string(), stream.name())];
        }
        state.insert(row);
    }

    // what `match` rules claimed, in configuration order: (stream, id)
    let mut claimed: BTreeSet<(Stream, String)> = BTreeSet::new();
    for rule in rules {
        if let RuleConfig::Graph(_) = rule {
            continue; // an engineer's graph: not the oracle's to know
        }
        if let RuleConfig::Match(m) = rule {
            let offered: Vec<&Record> = (unique.iter().copied())
                .filter(|r| !claimed.contains(&identity(r)))
                .collect();
            state.extend(matched(m, &offered, (tick, watermark), &mut claimed));
            continue;
        }
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
                (
                    RuleConfig::JournalBalance(_) | RuleConfig::PaymentLedger(_),
                    Record::Payment(_) | Record::Declared(_),
                ) => {}
                (RuleConfig::Match(_) | RuleConfig::Graph(_), _) => {
                    unreachable!("match and graph rules are handled above")
                }
                (RuleConfig::Balance(r), record) => {
                    if let Some((left, key, leg)) = declared_side(r, record) {
                        let g = groups.entry((key, leg_currency(record))).or_default();
                        let side = if left { &mut g.0 } else { &mut g.1 };
                        side.push(leg);
                        match record {
                            Record::Payment(p) => g.2.extend(p.merchant_id.clone()),
                            Record::Declared(d) => g.2.extend(d.merchant_id.clone()),
                            Record::Entry(_) => {}
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
                attributes: Vec::new(),
            });
        }
    }
    with_carried(state, rules, &unique)
}

/// Each result of a `balance` or `match` rule with the attributes the records it lists on a
/// side carry (looked up in that side's stream): name and value, each pair once, sorted.
fn with_carried(
    state: BTreeSet<ResultRow>,
    rules: &[RuleConfig],
    unique: &[&Record],
) -> BTreeSet<ResultRow> {
    let carried: BTreeMap<(Stream, &str), &[(String, String)]> = (unique.iter())
        .filter_map(|record| match record {
            Record::Declared(d) => Some(((d.stream, d.id.as_str()), d.carried.as_slice())),
            _ => None,
        })
        .collect();
    let sides: BTreeMap<&str, [Stream; 2]> = (rules.iter())
        .filter_map(|rule| match rule {
            RuleConfig::Balance(b) => Some((b.name.as_str(), [b.left.stream, b.right.stream])),
            RuleConfig::Match(m) => Some((m.name.as_str(), [m.left.stream, m.right.stream])),
            _ => None,
        })
        .collect();
    let attach = |mut row: ResultRow| {
        let Some(sides) = sides.get(row.rule.as_str()) else {
            return row;
        };
        let mut pairs = Vec::new();
        for (stream, ids) in sides.iter().zip([&row.left_ids, &row.right_ids]) {
            for id in ids {
                pairs.extend(
                    carried
                        .get(&(*stream, id.as_str()))
                        .into_iter()
                        .copied()
                        .flatten()
                        .cloned(),
                );
            }
        }
        pairs.sort();
        pairs.dedup();
        row.attributes = pairs;
        row
    };
    state.into_iter().map(attach).collect()
}

fn leg_currency(record: &Record) -> Currency {
    match record {
        Record::Payment(p) => p.currency,
        Record::Entry(e) => e.currency,
        Record::Declared(d) => d.currency,
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
                    let key = match side.key? {
                        KeyField::PaymentId => e.payment_id.clone()?,
                        KeyField::JournalId => e.journal_id.clone(),
                        KeyField::Named(_) => return None,
                    };
                    let amount = if side.signed {
                        e.signed_amount()
                    } else {
                        e.amount
                    };
                    (key, (e.entry_id.clone(), amount, e.booked_at))
                }
                Record::Declared(d) if side.stream == d.stream => {
                    let has = |(key, values): (&String, &Vec<String>)| {
                        (d.keys.iter()).any(|(k, v)| k == key && values.contains(v))
                    };
                    if !side.only.iter().all(has) {
                        return None;
                    }
                    let key = match side.key {
                        None => String::new(),
                        Some(by) => declared_key(d, by)?,
                    };
                    let amount = if side.signed {
                        d.amount
                    } else {
                        d.amount.abs()
                    };
                    (key, (d.id.clone(), amount, d.at))
                }
                _ => return None,
            };
            Some((left, key, leg))
        })
}

/// A leg as the oracle keeps it: id, signed amount, event time, merchant.
type MatchLeg = (String, Amount, Millis, Option<String>);

/// What a side offers to pair: a record, or a grouped side's records of one group value —
/// its id (the record's or the group value), summed amount, latest time and records.
type Candidate = (String, Amount, Millis, Vec<MatchLeg>);

/// The value `record` is grouped by on a side grouped by `by`.
fn group_value(record: &Record, by: KeyField) -> Option<String> {
    match (record, by) {
        (Record::Payment(p), KeyField::PaymentId) => Some(p.payment_id.clone()),
        (Record::Payment(_), KeyField::JournalId) => None,
        (Record::Entry(e), KeyField::PaymentId) => e.payment_id.clone(),
        (Record::Entry(e), KeyField::JournalId) => Some(e.journal_id.clone()),
        (Record::Declared(d), by) => declared_key(d, by),
        (_, KeyField::Named(_)) => None,
    }
}

/// A side's candidates in order of time, then id: each leg alone, or grouped by the value
/// (second element) it was read with.
fn side_candidates(legs: Vec<(MatchLeg, Option<String>)>) -> Vec<Candidate> {
    let by_name = |id: &str| trueup::model::name::Name::unregistered(id);
    let mut groups: BTreeMap<String, Candidate> = BTreeMap::new();
    for (leg, group) in legs {
        let id = group.unwrap_or_else(|| leg.0.clone());
        let c = groups
            .entry(id.clone())
            .or_insert_with(|| (id, Amount::ZERO, 0, Vec::new()));
        c.1 += leg.1;
        c.2 = c.2.max(leg.2);
        c.3.push(leg);
    }
    let mut out: Vec<Candidate> = groups.into_values().collect();
    out.sort_by_key(|c| (c.2, by_name(&c.0)));
    out
}

/// The results of a `match` rule, straight from its definition (docs/rules.md): per key (if
/// any) and currency, left records in order of time, then id, each take the unclaimed right
/// records nearest in time, then in amount, within the window and the tolerance — one, or
/// all of a tie (`ambiguous`).
fn matched(
    rule: &MatchRule,
    unique: &[&Record],
    (tick, watermark): (Tick, Millis),
    claimed: &mut BTreeSet<(Stream, String)>,
) -> Vec<ResultRow> {
    // without a key, every record of a side is on it: entries by their journal id (which
    // every entry has), payments by their payment id
    let side = |side| {
        let mut config = rule.side(side);
        match config.stream {
            _ if rule.key.is_some() => {}
            Stream::Entries => config.key = Some(KeyField::JournalId),
            Stream::Declared(_) => config.key = None,
            Stream::Payments => {}
        }
        config
    };
    let as_balance = BalanceRule {
        name: rule.name.clone(),
        left: side(&rule.left),
        right: side(&rule.right),
        tolerance: rule.tolerance.clone(),
        grace_hours: rule.grace_hours,
    };
    let side_stream = |left: bool| {
        if left {
            rule.left.stream
        } else {
            rule.right.stream
        }
    };
    type Legs = Vec<(MatchLeg, Option<String>)>;
    let mut groups: BTreeMap<(String, Currency), (Legs, Legs)> = BTreeMap::new();
    for record in unique {
        let Some((left, key, (id, amount, at))) = declared_side(&as_balance, record) else {
            continue;
        };
        let by = if left {
            rule.left.group_by
        } else {
            rule.right.group_by
        };
        let group = match by {
            None => None,
            Some(by) => match group_value(record, by) {
                Some(value) => Some(value),
                None => continue,
            },
        };
        let key = if rule.key.is_some() {
            key
        } else {
            String::new()
        };
        let merchant = match record {
            Record::Payment(p) => p.merchant_id.clone(),
            Record::Declared(d) => d.merchant_id.clone(),
            Record::Entry(_) => None,
        };
        // a grouped side's records show no merchant
        let merchant = merchant.filter(|_| group.is_none());
        let g = groups.entry((key, leg_currency(record))).or_default();
        let side = if left { &mut g.0 } else { &mut g.1 };
        side.push(((id, amount, at, merchant), group));
    }
    let mut rows = Vec::new();
    for ((_, currency), (lefts, rights)) in groups {
        let (lefts, rights) = (side_candidates(lefts), side_candidates(rights));
        let tolerance = rule.tolerance.for_currency(currency);
        let mut holder: Vec<Option<usize>> = vec![None; rights.len()];
        for (l, left) in lefts.iter().enumerate() {
            let fits = |r: &Candidate| {
                left.2.abs_diff(r.2) <= rule.window_hours * 3_600_000
                    && tolerance.accepts(left.1, r.1)
            };
            let rank = |r: &Candidate| (left.2.abs_diff(r.2), (left.1 - r.1).abs());
            let free: Vec<usize> = (0..rights.len())
                .filter(|&r| holder[r].is_none() && fits(&rights[r]))
                .collect();
            if let Some(best) = free.iter().map(|&r| rank(&rights[r])).min() {
                for r in free {
                    if rank(&rights[r]) == best {
                        holder[r] = Some(l);
                    }
                }
            }
        }
        for (l, left) in lefts.iter().enumerate() {
            let held: Vec<&Candidate> = (0..rights.len())
                .filter(|&r| holder[r] == Some(l))
                .map(|r| &rights[r])
                .collect();
            if !held.is_empty() {
                for leg in &left.3 {
                    claimed.insert((side_stream(true), leg.0.clone()));
                }
                for leg in held.iter().flat_map(|r| &r.3) {
                    claimed.insert((side_stream(false), leg.0.clone()));
                }
            }
            let at = (currency, tick, watermark);
            rows.push(match_row(rule, at, (Some(left), held)));
        }
        for (r, right) in rights.iter().enumerate() {
            if holder[r].is_none() {
                rows.push(match_row(
                    rule,
                    (currency, tick, watermark),
                    (None, vec![right]),
                ));
            }
        }
    }
    rows
}

/// One pair's result row: a left candidate (or none) with the right ones it holds (one, or
/// all of a tie), or an unpaired right candidate.
fn match_row(
    rule: &MatchRule,
    (currency, tick, watermark): (Currency, Tick, Millis),
    (left_candidate, right_candidates): (Option<&Candidate>, Vec<&Candidate>),
) -> ResultRow {
    let status_of = (left_candidate.is_some(), right_candidates.len());
    let left: Vec<&MatchLeg> = left_candidate.iter().flat_map(|c| &c.3).collect();
    let right: Vec<&MatchLeg> = right_candidates.iter().flat_map(|c| &c.3).collect();
    let sum = |legs: &[&MatchLeg]| legs.iter().map(|l| l.1).sum::<Amount>();
    let (expected, actual) = (sum(&left), sum(&right));
    let times = left.iter().chain(&right).map(|l| l.2);
    let last = times.clone().max().unwrap_or(0);
    let due_at = last + rule.grace_hours * 3_600_000;
    let overdue = trueup::rules::break_time(tick, due_at) <= tick.ceil(watermark);
    let status = match status_of {
        (true, r) if r > 1 => Status::Ambiguous,
        (true, 1) => Status::Matched,
        _ if !overdue => Status::Pending,
        (true, _) => Status::UnmatchedLeft,
        _ => Status::UnmatchedRight,
    };
    let ids = |legs: &[&MatchLeg]| {
        let mut ids: Vec<String> = legs.iter().map(|l| l.0.clone()).collect();
        ids.sort();
        ids
    };
    let merchants: BTreeSet<String> = left
        .iter()
        .chain(&right)
        .filter_map(|l| l.3.clone())
        .collect();
    ResultRow {
        rule: rule.name.clone(),
        key: left_candidate
            .or(right_candidates.first().copied())
            .map(|c| c.0.clone())
            .unwrap_or_default(),
        currency,
        status,
        expected: Some(expected),
        actual: Some(actual),
        difference: Some(expected - actual),
        opened_at: times.min().unwrap_or(0),
        due_at,
        left_ids: ids(&left),
        right_ids: ids(&right),
        merchant_id: merchants.into_iter().next(),
        attributes: Vec::new(),
    }
}

/// A record's identity for claims: whether it is an entry, and its id.
fn identity(record: &Record) -> (Stream, String) {
    let (stream, id) = record.identity();
    (stream, id.to_string())
}

/// The value of a declared record's key `by` names, if it has it.
fn declared_key(record: &trueup::model::Declared, by: KeyField) -> Option<String> {
    let name = by.name();
    (record.keys.iter())
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.clone())
}
