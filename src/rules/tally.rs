//! A rule's results from its members: one tally per group — its balance (the operators
//! library's [`summarize`]) and its merchant — aged against the rule's grace period, its status
//! the kind's. Shared by the built-in kinds and by engineers' graphs
//! ([`tallied`](super::graph::tallied)).

use std::sync::Arc;

use differential_dataflow::{ExchangeData, Hashable, VecCollection};
use trueup_operators::balance::summarize;
use trueup_operators::{BalanceGroup, BalanceState, Tally};

use super::kind::{GroupKey, Member, RuleKind};
use super::matching::{PairKey, PairTag};
use crate::model::name::Name;
use crate::model::results::{Outcome, Status};
use crate::model::time::{Millis, Tick, Time};

/// A rule's group, its ids as names.
type Group = BalanceGroup<Name>;

/// What a rule's tally is keyed by: a group as results show it, and how a result row names
/// its key again (for retention).
pub trait RowKey: ExchangeData + Hashable + std::hash::Hash + Copy {
    /// The group's key and currency, as written in its results.
    fn group(&self) -> GroupKey;
    /// The key of the group `row` is the result of.
    fn of(row: &Outcome) -> Self;
    /// Whether the group is a tie among candidates (`ambiguous`, whatever its balance).
    fn tie(&self) -> bool {
        false
    }
}

impl RowKey for GroupKey {
    fn group(&self) -> GroupKey {
        *self
    }

    fn of(row: &Outcome) -> Self {
        (row.key, row.currency)
    }
}

/// A `match` rule's pair: named by its left candidate's id, or an unpaired right
/// candidate's (which may be the same text in another stream).
impl RowKey for PairKey {
    fn group(&self) -> GroupKey {
        self.0
    }

    fn of(row: &Outcome) -> Self {
        let tag = match (row.status, row.left_ids.is_empty()) {
            (Status::Ambiguous, _) => PairTag::Tie,
            (_, true) => PairTag::UnpairedRight,
            (_, false) => PairTag::Pair,
        };
        ((row.key, row.currency), tag)
    }

    fn tie(&self) -> bool {
        self.1 == PairTag::Tie
    }
}

/// A rule's result rows, computed from its members in one pass per group: its balance (the
/// operators library's [`summarize`]) and its merchant (the smallest merchant id among its
/// payment events), aged against the rule's grace period.
pub fn rule_rows<'scope, K: RowKey>(
    (rule, index, tick): (&Arc<dyn RuleKind>, u16, Tick),
    members: VecCollection<'scope, Time, (K, Member)>,
) -> VecCollection<'scope, Time, Outcome> {
    let tolerance = rule.tolerance().clone();
    let summarize = move |key: &K, members: &[(Member, isize)]| {
        let ccy = &key.group().1;
        let legs = members
            .iter()
            .map(|((is_left, leg, _), copies)| (*is_left, leg, *copies));
        let group = summarize(legs, tolerance.for_currency(*ccy))?;
        let merchant = (members.iter())
            .filter(|(_, copies)| *copies > 0)
            .filter_map(|((_, _, merchant), _)| *merchant)
            .min();
        Some((group, merchant))
    };
    let grace = rule.grace_millis();
    let deadline = move |(g, _): &(Group, Option<Name>)| {
        (g.state != BalanceState::Balanced)
            .then(|| break_time(tick, g.last_at.saturating_add(grace)))
    };
    let kind = rule.clone();
    let row = move |group: &K, (g, merchant_id): (Group, Option<Name>), phase| {
        let (key, currency) = group.group();
        let status = match group.tie() {
            true => Status::Ambiguous,
            false => kind.status(phase, &g),
        };
        Outcome {
            rule: index,
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
            attributes: Vec::new(),
        }
    };
    members.tally_named(rule.name(), summarize, deadline, row)
}

/// The logical time at which a group due at `due_at` becomes a break: the tick boundary after
/// the tick `due_at` falls in. A logical time `t` holds the records of event times in
/// `(t − tick, t]`, so only from the next boundary on has every record that time holds
/// reached `due_at`: a group is never a break before the watermark reaches `due_at` — not
/// even at the end of the input, where the last tick may end beyond the final watermark.
pub fn break_time(tick: Tick, due_at: Millis) -> Time {
    tick.ceil(due_at).saturating_add(tick.0)
}
