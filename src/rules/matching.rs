//! The `match` rule kind: records of a left side paired one to one with records of a right
//! side. Two records may pair when they share the rule's key (if it has one) and currency,
//! their amounts are within the tolerance and their event times within the window. Within each
//! group (key and currency; without a key and with an exact tolerance, also the amount) the
//! left records choose in event-time order (then id): each takes the unclaimed right record
//! nearest in time, then in amount. Two or more candidates equal on both are a tie: the left
//! record holds them all, reported `ambiguous` — never guessed. A pair is a group of its own
//! (keyed by the left record's id) balanced within the tolerance: `matched`; a record left
//! unpaired is `pending`, then, past its grace, `unmatched_left` or `unmatched_right`.
//!
//! The pairing is a function of the group's records alone, so it does not depend on arrival
//! order, batching or workers; a record arriving later that pairs better changes it, and the
//! changelog retracts the old pairs' results and asserts the new ones.

use trueup_operators::{BalanceGroup, BalanceState, Phase, Tolerance};

use super::balance::Balance;
use super::kind::{GroupKey, Member, Pairing, RuleKind};
use crate::config::balance::{BalanceRule, MatchRule};
use crate::config::ToleranceConfig;
use crate::model::currency::Currency;
use crate::model::name::Name;
use crate::model::results::Status;
use crate::model::rows::{EntryRow, PaymentRow};
use crate::model::time::HOUR;
use crate::model::Stream;

/// A pair's group: the left record's id (or an unpaired right record's) and the currency, and
/// whether it is keyed by a right record's id.
pub type PairKey = (GroupKey, bool);

/// A `match` rule. See the [module documentation](self).
pub struct Match {
    /// The sides, filters, signs, tolerance, grace and overdue statuses, as a balance has them.
    sides: Balance,
    pairing: Pairing,
    /// Whether records are grouped by the rule's key.
    keyed: bool,
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
        Match {
            sides: if keyed { sides } else { sides.unkeyed() },
            pairing: Pairing {
                window_millis: rule.window_hours.saturating_mul(HOUR),
            },
            keyed,
            exact: exact_in(&rule.tolerance),
        }
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

    /// Never: a record an earlier `match` rule claimed is in none of this rule's results.
    fn covers(&self, _stream: Stream) -> bool {
        false
    }

    fn side_stream(&self, left: bool) -> Stream {
        self.sides.side_stream(left)
    }

    fn payment_member(&self, payment: &PaymentRow) -> Option<(GroupKey, Member)> {
        self.sides.payment_member(payment).map(|m| self.group(m))
    }

    fn entry_member(&self, entry: &EntryRow) -> Option<(GroupKey, Member)> {
        self.sides.entry_member(entry).map(|m| self.group(m))
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

    /// A pair group holding more than one record on a side is a tie: `ambiguous`, whatever
    /// its phase.
    fn status(&self, phase: Phase, group: &BalanceGroup<Name>) -> Status {
        match group.left_ids.len() > 1 || group.right_ids.len() > 1 {
            true => Status::Ambiguous,
            false => self.sides.status(phase, group),
        }
    }
}

/// A member as paired: the pair it belongs to, the member and its multiplicity, and whether
/// the rule claims it (it is in a pair, or a tie, with a record of the other side).
pub type Paired = (PairKey, (Member, isize), bool);

/// Pairs the members of one group (see the [module documentation](self)): each member with
/// the pair it belongs to — its left record's id, or for a right record left unpaired its own
/// (marked `true`).
pub fn pair(
    currency: Currency,
    members: &[(&Member, isize)],
    pairing: &Pairing,
    tolerance: Tolerance,
) -> Vec<Paired> {
    let side = |left: bool| {
        let mut records: Vec<&(&Member, isize)> = members
            .iter()
            .filter(|((l, ..), n)| *l == left && *n > 0)
            .collect();
        records.sort_by_key(|((_, leg, _), _)| (leg.at, leg.id));
        records
    };
    let (lefts, rights) = (side(true), side(false));
    let mut claimed: Vec<Option<Name>> = vec![None; rights.len()];
    let mut out = Vec::with_capacity(members.len());
    for &&(&left, copies) in &lefts {
        let leg = left.1;
        let rank = |i: usize| {
            let other = rights[i].0 .1;
            (leg.at.abs_diff(other.at), (leg.amount - other.amount).abs())
        };
        let candidates: Vec<usize> = (0..rights.len())
            .filter(|&i| claimed[i].is_none())
            .filter(|&i| leg.at.abs_diff(rights[i].0 .1.at) <= pairing.window_millis)
            .filter(|&i| tolerance.accepts(leg.amount, rights[i].0 .1.amount))
            .collect();
        let best = candidates.iter().map(|&i| rank(i)).min();
        for &i in &candidates {
            if Some(rank(i)) == best {
                claimed[i] = Some(leg.id);
            }
        }
        out.push((((leg.id, currency), false), (left, copies), best.is_some()));
    }
    for (&&(&right, copies), claim) in rights.iter().zip(claimed) {
        let pair = match claim {
            Some(left) => ((left, currency), false),
            None => ((right.1.id, currency), true),
        };
        out.push((pair, (right, copies), claim.is_some()));
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

    fn paired(members: &[(Member, isize)], window_hours: u64) -> Vec<(String, String)> {
        let usd = Currency::from_code("USD").unwrap();
        let pairing = Pairing {
            window_millis: window_hours * HOUR,
        };
        let text = |n: Name| format!("{n:?}");
        let members: Vec<(&Member, isize)> = members.iter().map(|(m, n)| (m, *n)).collect();
        let mut out: Vec<(String, String)> = pair(usd, &members, &pairing, Tolerance::exact())
            .into_iter()
            .map(|(((key, _), right), ((_, leg, _), _), _)| {
                let key = if right {
                    format!("{}*", text(key))
                } else {
                    text(key)
                };
                (text(leg.id), key)
            })
            .collect();
        out.sort();
        out
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
            (name("L2"), name("L2")),
            (name("L3"), name("L3")),
            (name("R1"), name("L3")),
            (name("R2"), name("L1")),
            (name("R3"), name("L2")),
            (name("R4"), name("L2")),
            (name("R5"), format!("{}*", name("R5"))),
        ];
        assert_eq!(paired(&members, 48), want);
        members.reverse();
        assert_eq!(paired(&members, 48), want, "arrival order");
    }
}
