//! Per key, the signed sums of two sides compared within a tolerance.
//!
//! Semantics, in collection terms: the input is two collections of `(key, Leg)`; the output
//! holds exactly one [`BalanceGroup`] per key present on either side, with
//! `expected = Σ left amounts`, `actual = Σ right amounts` (each leg counted with its
//! multiplicity), `difference = expected − actual`, the ids of each side, and a
//! [`BalanceState`]. A group whose sums net to zero is still a group: sums are computed by a
//! reduction over the legs, not carried as differences, so nothing vanishes. Changing any leg
//! retracts the group's previous result and asserts the new one at the same logical time.
//! Retracting every leg of a key retracts its group.
//!
//! # Examples
//!
//! ```
//! use differential_dataflow::input::Input;
//! use trueup_operators::{Amount, Balance, BalanceState, Leg, Tolerance};
//!
//! timely::execute_directly(|worker| {
//!     worker.dataflow::<u64, _, _>(|scope| {
//!         let amount = |s| Amount::parse(s).unwrap();
//!         let (_, debits) = scope.new_collection_from(vec![(1u32, Leg::new("e1", amount("10.00"), 1))]);
//!         let (_, credits) = scope.new_collection_from(vec![
//!             (1, Leg::new("e2", amount("7.00"), 1)),
//!             (1, Leg::new("e3", amount("3.00"), 2)),
//!         ]);
//!         debits
//!             .balance(credits, |_| Tolerance::exact())
//!             .map(|(key, group)| (key, group.state, group.difference))
//!             .assert_eq(scope.new_collection_from(vec![(1, BalanceState::Balanced, Amount::ZERO)]).1);
//!     });
//! });
//! ```

use differential_dataflow::lattice::Lattice;
use differential_dataflow::{ExchangeData, Hashable, VecCollection};
use serde::{Deserialize, Serialize};
use timely::progress::Timestamp;

use crate::amount::{Amount, Tolerance};

/// One signed amount on one side of a balance: an id for lineage, the amount, and an event time.
///
/// The id is a `String` unless the graph uses a narrower type (any cloneable, ordered value:
/// an interned id keeps the legs small and `Copy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Leg<I = String> {
    /// The id of the record this leg comes from (reported in the group's id lists).
    pub id: I,
    /// The signed amount this leg contributes to its side's sum.
    pub amount: Amount,
    /// The record's event time, in whatever unit the graph uses (trueup: Unix milliseconds).
    pub at: u64,
}

impl Leg {
    /// A leg with this id, amount and event time.
    pub fn new(id: impl Into<String>, amount: Amount, at: u64) -> Leg {
        Leg::with_id(id.into(), amount, at)
    }
}

impl<I> Leg<I> {
    /// A leg with an id of any type, this amount and event time.
    pub fn with_id(id: I, amount: Amount, at: u64) -> Leg<I> {
        Leg { id, amount, at }
    }
}

/// Where a group stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalanceState {
    /// Both sides present and the sums within tolerance.
    Balanced,
    /// Only the left (expected) side is present.
    LeftOnly,
    /// Only the right (actual) side is present.
    RightOnly,
    /// Both sides present, the difference beyond tolerance.
    Unbalanced,
}

/// The result for one key: both sums, their difference and the ids behind them (of the legs'
/// id type).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BalanceGroup<I = String> {
    /// Where the group stands.
    pub state: BalanceState,
    /// Σ of the left legs.
    pub expected: Amount,
    /// Σ of the right legs.
    pub actual: Amount,
    /// `expected − actual`: always reported, never absorbed by the tolerance.
    pub difference: Amount,
    /// The earliest event time of any leg.
    pub opened_at: u64,
    /// The latest event time of any leg.
    pub last_at: u64,
    /// Ids of the left legs, sorted (repeated once per copy of a leg).
    pub left_ids: Vec<I>,
    /// Ids of the right legs, sorted (repeated once per copy of a leg).
    pub right_ids: Vec<I>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Side {
    Left,
    Right,
}

/// Computes one [`BalanceGroup`] from a key's legs (each with its multiplicity); `None` when
/// no leg is present. This is the whole logic of the operator, shared with reference models.
pub fn summarize<'a, I: Clone + Ord + 'a>(
    legs: impl IntoIterator<Item = (bool, &'a Leg<I>, isize)>,
    tolerance: Tolerance,
) -> Option<BalanceGroup<I>> {
    let mut group = BalanceGroup {
        state: BalanceState::Balanced,
        expected: Amount::ZERO,
        actual: Amount::ZERO,
        difference: Amount::ZERO,
        opened_at: u64::MAX,
        last_at: 0,
        left_ids: Vec::new(),
        right_ids: Vec::new(),
    };
    for (is_left, leg, copies) in legs {
        if copies <= 0 {
            continue;
        }
        let (sum, ids) = if is_left {
            (&mut group.expected, &mut group.left_ids)
        } else {
            (&mut group.actual, &mut group.right_ids)
        };
        *sum += leg.amount.times(copies as i64);
        ids.extend(std::iter::repeat_n(leg.id.clone(), copies as usize));
        group.opened_at = group.opened_at.min(leg.at);
        group.last_at = group.last_at.max(leg.at);
    }
    group.left_ids.sort();
    group.right_ids.sort();
    group.difference = group.expected - group.actual;
    group.state = match (group.left_ids.is_empty(), group.right_ids.is_empty()) {
        (true, true) => return None,
        (false, true) => BalanceState::LeftOnly,
        (true, false) => BalanceState::RightOnly,
        (false, false) if tolerance.accepts(group.expected, group.actual) => BalanceState::Balanced,
        (false, false) => BalanceState::Unbalanced,
    };
    Some(group)
}

/// Balances a keyed collection of legs against another. See the [module documentation](self).
pub trait Balance<'scope, T: Timestamp, K: 'static, I: 'static = String> {
    /// Balances `self` (expected, left) against `right` (actual), per key, accepting the
    /// difference when `tolerance(key)` does.
    fn balance<F>(
        self,
        right: Self,
        tolerance: F,
    ) -> VecCollection<'scope, T, (K, BalanceGroup<I>)>
    where
        F: Fn(&K) -> Tolerance + 'static;

    /// As [`balance`](Balance::balance), naming the operator `name` in the dataflow graph and logs.
    fn balance_named<F>(
        self,
        name: &str,
        right: Self,
        tolerance: F,
    ) -> VecCollection<'scope, T, (K, BalanceGroup<I>)>
    where
        F: Fn(&K) -> Tolerance + 'static;
}

impl<'scope, T, K, I> Balance<'scope, T, K, I> for VecCollection<'scope, T, (K, Leg<I>)>
where
    T: Timestamp + Lattice + Ord,
    K: ExchangeData + Hashable,
    I: ExchangeData,
{
    fn balance<F>(self, right: Self, tolerance: F) -> VecCollection<'scope, T, (K, BalanceGroup<I>)>
    where
        F: Fn(&K) -> Tolerance + 'static,
    {
        self.balance_named("Balance", right, tolerance)
    }

    fn balance_named<F>(
        self,
        name: &str,
        right: Self,
        tolerance: F,
    ) -> VecCollection<'scope, T, (K, BalanceGroup<I>)>
    where
        F: Fn(&K) -> Tolerance + 'static,
    {
        self.map(|(k, leg)| (k, (Side::Left, leg)))
            .concat(right.map(|(k, leg)| (k, (Side::Right, leg))))
            .reduce_named(name, move |key, legs, out| {
                let legs = legs
                    .iter()
                    .map(|((side, leg), copies)| (*side == Side::Left, leg, *copies));
                if let Some(group) = summarize(legs, tolerance(key)) {
                    out.push((group, 1isize));
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, rounds, Bag};
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn leg() -> impl Strategy<Value = (u8, Leg)> + Clone {
        // small key and id domains, amounts that often cancel to zero
        (0u8..3, 0u8..4, -3i64..4, 0u64..5).prop_map(|(k, id, cents, at)| {
            (
                k,
                Leg::new(format!("id{id}"), Amount::from_minor(cents * 50, 2), at),
            )
        })
    }

    /// Naive model: sums and states computed directly from the definition.
    fn reference(
        left: &Bag<(u8, Leg)>,
        right: &Bag<(u8, Leg)>,
        tolerance: Tolerance,
    ) -> Bag<(u8, BalanceGroup)> {
        let keys: BTreeSet<u8> = left.keys().chain(right.keys()).map(|(k, _)| *k).collect();
        let mut out = Bag::new();
        for k in keys {
            let side = |bag: &Bag<(u8, Leg)>| -> Vec<(Leg, isize)> {
                bag.iter()
                    .filter(|((kk, _), _)| *kk == k)
                    .map(|((_, l), n)| (l.clone(), *n))
                    .collect()
            };
            let (l, r) = (side(left), side(right));
            let sum = |v: &[(Leg, isize)]| {
                v.iter()
                    .map(|(leg, n)| leg.amount.times(*n as i64))
                    .sum::<Amount>()
            };
            let ids = |v: &[(Leg, isize)]| {
                let mut ids: Vec<String> = v
                    .iter()
                    .flat_map(|(leg, n)| std::iter::repeat_n(leg.id.clone(), *n as usize))
                    .collect();
                ids.sort();
                ids
            };
            let all = l.iter().chain(r.iter());
            let (expected, actual) = (sum(&l), sum(&r));
            let state = if r.is_empty() {
                BalanceState::LeftOnly
            } else if l.is_empty() {
                BalanceState::RightOnly
            } else if (expected - actual).abs() <= tolerance.absolute {
                BalanceState::Balanced
            } else {
                BalanceState::Unbalanced
            };
            let group = BalanceGroup {
                state,
                expected,
                actual,
                difference: expected - actual,
                opened_at: all.clone().map(|(leg, _)| leg.at).min().unwrap(),
                last_at: all.map(|(leg, _)| leg.at).max().unwrap(),
                left_ids: ids(&l),
                right_ids: ids(&r),
            };
            out.insert((k, group), 1);
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn balances_like_reference(abs_cents in 0i64..2, steps in rounds(leg(), leg())) {
            let tolerance = Tolerance { absolute: Amount::from_minor(abs_cents * 50, 2), ..Tolerance::exact() };
            check(steps, move |left, right| left.balance(right, move |_| tolerance),
                  move |l, r, _| reference(l, r, tolerance));
        }
    }

    #[test]
    fn zero_sum_group_does_not_vanish() {
        let a = |s| Amount::parse(s).unwrap();
        let legs = [Leg::new("d", a("5.00"), 1), Leg::new("c", a("-5.00"), 2)];
        let group = summarize(legs.iter().map(|l| (true, l, 1)), Tolerance::exact()).unwrap();
        assert_eq!(group.state, BalanceState::LeftOnly);
        assert_eq!(group.expected, Amount::ZERO);
        assert_eq!(group.left_ids, vec!["c", "d"]);
    }
}
