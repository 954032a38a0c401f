//! The `match` rule kind: records of a left side paired with records of a right side. Two
//! records may pair when they share the rule's key (if it has one) and currency, their amounts
//! are within the tolerance and their event times within the window. A side with `group_by`
//! offers, instead of each record, the records sharing that key as one candidate — their
//! amounts summed, at the latest of their times — so one record pairs with many
//! (one-to-many), many with one (many-to-one), or many with many.
//!
//! Within each group (key and currency; without a key and with an exact tolerance on
//! ungrouped sides, also the amount) the left candidates choose in event-time order (then id):
//! each takes the unclaimed right candidate nearest in time, then in amount. Two or more
//! candidates equal on both are a tie: the left candidate holds them all, reported `ambiguous`
//! — never guessed. A pair is a group of its own (keyed by the left candidate's id, or group
//! key) balanced within the tolerance: `matched`; a candidate left unpaired is `pending`, then,
//! past its grace, `unmatched_left` or `unmatched_right`.
//!
//! The pairing is a function of the group's records alone, so it does not depend on arrival
//! order, batching or workers; a record arriving later that pairs better (or completes a
//! grouped candidate's sum) changes it, and the changelog retracts the old pairs' results and
//! asserts the new ones.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trueup_operators::{Amount, BalanceState, Tolerance};

use super::balance::{entry_key, payment_key, Balance};
use super::kind::{GroupKey, Member, Pairing, RuleKind};
use crate::config::balance::{BalanceRule, KeyField, MatchRule};
use crate::config::ToleranceConfig;
use crate::model::currency::Currency;
use crate::model::name::Name;
use crate::model::results::Status;
use crate::model::rows::{EntryRow, PaymentRow, RecordRow};
use crate::model::time::{Millis, HOUR};
use crate::model::Stream;

/// A pair's group: the left candidate's id (or an unpaired right candidate's) and the
/// currency, and what the pair is.
pub type PairKey = (GroupKey, PairTag);

/// What a pair's group is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PairTag {
    /// A left candidate, with the right one it took (or none yet).
    Pair,
    /// A right candidate no left one took (its id may be a left record's text too).
    UnpairedRight,
    /// A left candidate holding every right candidate it ties between: `ambiguous`.
    Tie,
}

/// A `match` rule. See the [module documentation](self).
pub struct Match {
    /// The sides, filters, signs, tolerance, grace and overdue statuses, as a balance has them.
    sides: Balance,
    pairing: Pairing,
    /// Whether records are grouped by the rule's key.
    keyed: bool,
    /// The key each side's records are summed by before pairing (left, right), if any.
    group_by: [Option<KeyField>; 2],
    /// Whether no currency tolerates a difference: then an unkeyed group is also per amount.
    exact: ExactIn,
}

/// The currencies whose amounts must be equal.
enum ExactIn {
    /// Every currency but these.
    AllBut(Vec<Currency>),
    /// None (a relative tolerance applies everywhere).
    None,
}

impl Match {
    /// The rule `rule` configures.
    pub fn new(rule: &MatchRule) -> Match {
        let sides = Balance::declared(&BalanceRule {
            name: rule.name.clone(),
            left: rule.side(&rule.left),
            right: rule.side(&rule.right),
            tolerance: rule.tolerance.clone(),
            grace_hours: rule.grace_hours,
        });
        let keyed = rule.key.is_some();
        let group_by = [rule.left.group_by, rule.right.group_by];
        // a grouped candidate's sum is not any one record's amount: no grouping by amount
        let exact = match group_by {
            [None, None] => exact_in(&rule.tolerance),
            _ => ExactIn::None,
        };
        Match {
            sides: if keyed { sides } else { sides.unkeyed() },
            pairing: Pairing {
                window_millis: rule.window_hours.saturating_mul(HOUR),
                grouped: group_by.map(|by| by.is_some()),
            },
            keyed,
            group_by,
            exact,
        }
    }

    /// `member` with its group value (the key its side sums by, as `value` reads it from the
    /// record) where it should be paired by one; `None` for a record of a grouped side
    /// without it.
    fn grouped(
        &self,
        (key, (left, leg, merchant)): (GroupKey, Member),
        value: impl Fn(KeyField) -> Option<Name>,
    ) -> Option<(GroupKey, Member)> {
        let merchant = match self.group_by[usize::from(!left)] {
            None => merchant,
            Some(by) => Some(value(by)?),
        };
        Some((key, (left, leg, merchant)))
    }

    /// The group a member is paired within: its key and currency, and, for an unkeyed rule
    /// in a currency without tolerance, its amount (two records of different amounts never
    /// pair there, so they need not meet).
    fn group(&self, ((key, currency), member): (GroupKey, Member)) -> (GroupKey, Member) {
        let by_amount = !self.keyed
            && match &self.exact {
                ExactIn::AllBut(inexact) => !inexact.contains(&currency),
                ExactIn::None => false,
            };
        let key = match by_amount {
            true => Name::unregistered(&member.1.amount.0.normalize().to_string()),
            false => key,
        };
        ((key, currency), member)
    }
}

/// The currencies in which `tolerance` accepts only equal amounts.
fn exact_in(tolerance: &ToleranceConfig) -> ExactIn {
    if tolerance.relative_bps > 0 {
        return ExactIn::None;
    }
    let inexact = (tolerance.absolute.keys().chain(tolerance.floor.keys()))
        .filter_map(|code| Currency::from_code(code))
        .filter(|c| tolerance.for_currency(*c) != Tolerance::exact())
        .collect();
    ExactIn::AllBut(inexact)
}

impl RuleKind for Match {
    fn name(&self) -> &str {
        self.sides.name()
    }

    fn takes(&self, stream: Stream) -> bool {
        self.sides.takes(stream)
    }

    /// As the sides would for a balance, where each side of `stream` offers every record (one
    /// grouped by a key every record of its stream has): each record offered is in a pair, a
    /// tie or unpaired, and one an earlier `match` rule claimed is in that rule's result.
    fn covers(&self, stream: Stream) -> bool {
        let offers_all = |left: bool| {
            let side_stream = self.sides.side_stream(left);
            side_stream != stream
                || match self.group_by[usize::from(!left)] {
                    None => true,
                    Some(by) => matches!(
                        (side_stream, by),
                        (Stream::Payments, KeyField::PaymentId)
                            | (Stream::Entries, KeyField::JournalId)
                    ),
                }
        };
        offers_all(true) && offers_all(false) && self.sides.covers(stream)
    }

    fn side_stream(&self, left: bool) -> Stream {
        self.sides.side_stream(left)
    }

    fn payment_member(&self, p: &PaymentRow) -> Option<(GroupKey, Member)> {
        let member = self.sides.payment_member(p)?;
        let member = self.grouped(member, |by| payment_key(p, by))?;
        Some(self.group(member))
    }

    fn entry_member(&self, e: &EntryRow) -> Option<(GroupKey, Member)> {
        let member = self.sides.entry_member(e)?;
        let member = self.grouped(member, |by| entry_key(e, by))?;
        Some(self.group(member))
    }

    fn record_member(&self, r: &RecordRow) -> Option<(GroupKey, Member)> {
        let member = self.sides.record_member(r)?;
        let member = self.grouped(member, |by| r.key(by.declared_name()))?;
        Some(self.group(member))
    }

    fn overdue(&self, state: BalanceState) -> Status {
        self.sides.overdue(state)
    }

    fn tolerance(&self) -> &ToleranceConfig {
        self.sides.tolerance()
    }

    fn grace_millis(&self) -> u64 {
        self.sides.grace_millis()
    }

    fn pairing(&self) -> Option<&Pairing> {
        Some(&self.pairing)
    }
}

/// A member as paired: the pair it belongs to, the member and its multiplicity, and whether
/// the rule claims it (it is in a pair, or a tie, with a candidate of the other side).
pub type Paired = (PairKey, (Member, isize), bool);

/// What one side offers: a record, or a grouped side's records sharing a group value, as one.
struct Candidate<'a> {
    /// The record's id, or the group value.
    id: Name,
    /// The amount, or the sum of the group's.
    amount: Amount,
    /// The event time, or the group's latest.
    at: Millis,
    /// The records it stands for, with their multiplicities.
    members: Vec<(&'a Member, isize)>,
}

/// The candidates of one side of a group's members, in event-time order (then id); grouped,
/// one per group value (the member's third element).
fn candidates<'a>(
    members: &[(&'a Member, isize)],
    left: bool,
    grouped: bool,
) -> Vec<Candidate<'a>> {
    let mut by_id: BTreeMap<Name, Candidate<'a>> = BTreeMap::new();
    for &(member, copies) in members.iter().filter(|((l, ..), n)| *l == left && *n > 0) {
        let leg = member.1;
        let id = if grouped {
            member.2.unwrap_or(leg.id)
        } else {
            leg.id
        };
        let candidate = by_id.entry(id).or_insert_with(|| Candidate {
            id,
            amount: Amount::ZERO,
            at: 0,
            members: Vec::new(),
        });
        candidate.amount += leg.amount.times(copies as i64);
        candidate.at = candidate.at.max(leg.at);
        candidate.members.push((member, copies));
    }
    let mut out: Vec<Candidate<'a>> = by_id.into_values().collect();
    out.sort_by_key(|c| (c.at, c.id));
    out
}

/// Pairs the members of one group (see the [module documentation](self)): each member with
/// the pair it belongs to — its left candidate's id, or for a right candidate left unpaired
/// its own.
pub fn pair(
    currency: Currency,
    members: &[(&Member, isize)],
    pairing: &Pairing,
    tolerance: Tolerance,
) -> Vec<Paired> {
    let lefts = candidates(members, true, pairing.grouped[0]);
    let rights = candidates(members, false, pairing.grouped[1]);
    let mut claimed: Vec<Option<PairKey>> = vec![None; rights.len()];
    let mut out = Vec::with_capacity(members.len());
    for left in &lefts {
        let rank = |i: usize| {
            let other = &rights[i];
            (
                left.at.abs_diff(other.at),
                (left.amount - other.amount).abs(),
            )
        };
        let candidates: Vec<usize> = (0..rights.len())
            .filter(|&i| claimed[i].is_none())
            .filter(|&i| left.at.abs_diff(rights[i].at) <= pairing.window_millis)
            .filter(|&i| tolerance.accepts(left.amount, rights[i].amount))
            .collect();
        let best = candidates.iter().map(|&i| rank(i)).min();
        let held: Vec<usize> = candidates
            .into_iter()
            .filter(|&i| Some(rank(i)) == best)
            .collect();
        let tag = if held.len() > 1 {
            PairTag::Tie
        } else {
            PairTag::Pair
        };
        let key = ((left.id, currency), tag);
        for &i in &held {
            claimed[i] = Some(key);
        }
        let claims = !held.is_empty();
        out.extend(left.members.iter().map(|&(m, n)| (key, (*m, n), claims)));
    }
    for (right, claim) in rights.iter().zip(claimed) {
        let key = claim.unwrap_or(((right.id, currency), PairTag::UnpairedRight));
        let claims = claim.is_some();
        out.extend(right.members.iter().map(|&(m, n)| (key, (*m, n), claims)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use trueup_operators::{Amount, Leg};

    fn member(left: bool, id: &str, amount: &str, hour: u64) -> (Member, isize) {
        let leg = Leg::with_id(
            Name::unregistered(id),
            Amount::parse(amount).unwrap(),
            hour * HOUR,
        );
        ((left, leg, None), 1)
    }

    /// A member of a grouped side: its group value where a payment has its merchant.
    fn in_group(group: &str, (member, n): (Member, isize)) -> (Member, isize) {
        ((member.0, member.1, Some(Name::unregistered(group))), n)
    }

    /// Each member's id and its pair's key, marked `*` for an unpaired right candidate and
    /// `?` for a tie.
    fn paired_by(
        members: &[(Member, isize)],
        window_hours: u64,
        grouped: [bool; 2],
    ) -> Vec<(String, String)> {
        let usd = Currency::from_code("USD").unwrap();
        let pairing = Pairing {
            window_millis: window_hours * HOUR,
            grouped,
        };
        let text = |n: Name| format!("{n:?}");
        let members: Vec<(&Member, isize)> = members.iter().map(|(m, n)| (m, *n)).collect();
        let mut out: Vec<(String, String)> = pair(usd, &members, &pairing, Tolerance::exact())
            .into_iter()
            .map(|(((key, _), tag), ((_, leg, _), _), _)| {
                let mark = match tag {
                    PairTag::Pair => "",
                    PairTag::UnpairedRight => "*",
                    PairTag::Tie => "?",
                };
                (text(leg.id), format!("{}{mark}", text(key)))
            })
            .collect();
        out.sort();
        out
    }

    fn paired(members: &[(Member, isize)], window_hours: u64) -> Vec<(String, String)> {
        paired_by(members, window_hours, [false, false])
    }

    #[test]
    fn nearest_in_time_wins_ties_are_held_and_the_result_ignores_arrival_order() {
        let name = |s: &str| format!("{:?}", Name::unregistered(s));
        let mut members = vec![
            member(true, "L1", "10.00", 10),
            member(false, "R1", "10.00", 12),
            member(false, "R2", "10.00", 11),
            member(true, "L2", "10.00", 20),
            member(false, "R3", "10.00", 19),
            member(false, "R4", "10.00", 21),
            member(true, "L3", "10.00", 40),
            member(false, "R5", "10.00", 100),
        ];
        let want = vec![
            (name("L1"), name("L1")),
            (name("L2"), format!("{}?", name("L2"))),
            (name("L3"), name("L3")),
            (name("R1"), name("L3")),
            (name("R2"), name("L1")),
            (name("R3"), format!("{}?", name("L2"))),
            (name("R4"), format!("{}?", name("L2"))),
            (name("R5"), format!("{}*", name("R5"))),
        ];
        assert_eq!(paired(&members, 48), want);
        members.reverse();
        assert_eq!(paired(&members, 48), want, "arrival order");
    }

    #[test]
    fn a_grouped_side_pairs_its_groups_sums_at_their_latest_times() {
        let name = |s: &str| format!("{:?}", Name::unregistered(s));
        let mut members = vec![
            member(true, "bank1", "95.00", 30),
            in_group("B1", member(false, "s1", "60.00", 10)),
            in_group("B1", member(false, "s2", "40.00", 12)),
            in_group("B1", member(false, "s3", "-5.00", 20)),
            // B2 sums to 95.00 too, but its latest record is further from bank1 in time
            in_group("B2", member(false, "s4", "95.00", 5)),
            member(true, "bank2", "50.00", 30),
            in_group("B3", member(false, "s5", "50.00", 10)),
            in_group("B3", member(false, "s6", "1.00", 11)),
        ];
        let want = vec![
            (name("bank1"), name("bank1")),
            (name("bank2"), name("bank2")),
            (name("s1"), name("bank1")),
            (name("s2"), name("bank1")),
            (name("s3"), name("bank1")),
            (name("s4"), format!("{}*", name("B2"))),
            (name("s5"), format!("{}*", name("B3"))),
            (name("s6"), format!("{}*", name("B3"))),
        ];
        assert_eq!(paired_by(&members, 48, [false, true]), want);
        members.reverse();
        assert_eq!(
            paired_by(&members, 48, [false, true]),
            want,
            "arrival order"
        );
        // the other way round, many on the left against one on the right: the left groups
        // choose in time order, so B2 (at 5) takes bank1 before B1 (at 20) can
        let flipped: Vec<(Member, isize)> = members
            .iter()
            .map(|((left, leg, group), n)| ((!left, *leg, *group), *n))
            .collect();
        let keys = paired_by(&flipped, 48, [true, false]);
        assert!(keys.contains(&(name("bank1"), name("B2"))), "{keys:?}");
        assert!(keys.contains(&(name("s4"), name("B2"))), "{keys:?}");
        assert!(keys.contains(&(name("s1"), name("B1"))), "{keys:?}");
        assert!(
            keys.contains(&(name("bank2"), format!("{}*", name("bank2")))),
            "{keys:?}"
        );
    }
}
