//! Marks groups overdue once logical time passes a deadline computed from the data.
//!
//! Semantics, in collection terms, for an input collection of groups `g` and a pure
//! `deadline(g) → Option<T>`: at every logical time `t`,
//!
//! - `settled` holds the groups with no deadline (resolved groups: nothing to age);
//! - `on_time` holds the groups with a deadline `d > t`;
//! - `overdue` holds the groups with a deadline `d ≤ t`.
//!
//! The three outputs partition the input at every time. The move from `on_time` to
//! `overdue` happens *at logical time `d`* — it is data, scheduled ahead as a pair of
//! updates at time `d` (a temporal filter, via `join_function`) — so there is no wall clock:
//! the change is emitted when the input frontier passes `d`, identically in a replay. When a
//! group changes (say a late record resolves it), its old version is retracted from whichever
//! output held it, including the scheduled move, and the new version asserted, at one time.
//!
//! Configuration: the `deadline` function (for trueup: latest event time plus the rule's grace
//! period, or `None` once matched).
//!
//! # Examples
//!
//! ```
//! use differential_dataflow::input::Input;
//! use trueup_operators::Aging;
//!
//! timely::execute_directly(|worker| {
//!     worker.dataflow::<u64, _, _>(|scope| {
//!         // (group, deadline): group 1 is due at 5, group 2 is already settled
//!         let (_, groups) = scope.new_collection_from(vec![(1u32, Some(5u64)), (2, None)]);
//!         let out = groups.age(|g: &(u32, Option<u64>)| g.1);
//!         // new_collection_from inserts at time 0: group 1 is on time from 0 and overdue from 5
//!         out.overdue
//!             .inspect(|(g, t, diff)| assert_eq!((g.0, *t, *diff), (1, 5, 1)));
//!         out.settled.assert_eq(scope.new_collection_from(vec![(2, None)]).1);
//!     });
//! });
//! ```

use differential_dataflow::lattice::Lattice;
use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use timely::progress::Timestamp;

use crate::partition::partition;

/// The phase of a group at a logical time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Not subject to aging (no deadline).
    Settled = 0,
    /// Deadline still ahead.
    OnTime = 1,
    /// Deadline reached.
    Overdue = 2,
}

/// The named outputs of [`Aging::age`].
pub struct AgingOutputs<'scope, T: Timestamp, G: 'static> {
    /// Groups without a deadline.
    pub settled: VecCollection<'scope, T, G>,
    /// Groups whose deadline is still ahead of the logical time.
    pub on_time: VecCollection<'scope, T, G>,
    /// Groups whose deadline the logical time has reached.
    pub overdue: VecCollection<'scope, T, G>,
}

/// Ages groups against deadlines computed from their data. See the [module documentation](self).
pub trait Aging<'scope, T: Timestamp, G: 'static> {
    /// Partitions the groups into `settled`, `on_time` and `overdue` at every logical time.
    fn age<F>(self, deadline: F) -> AgingOutputs<'scope, T, G>
    where
        F: Fn(&G) -> Option<T> + 'static;

    /// As [`age`](Aging::age), naming the operators `name` in the graph and logs.
    fn age_named<F>(self, name: &str, deadline: F) -> AgingOutputs<'scope, T, G>
    where
        F: Fn(&G) -> Option<T> + 'static;
}

impl<'scope, T, G> Aging<'scope, T, G> for VecCollection<'scope, T, G>
where
    T: Timestamp + Lattice,
    G: Clone + 'static,
{
    fn age<F>(self, deadline: F) -> AgingOutputs<'scope, T, G>
    where
        F: Fn(&G) -> Option<T> + 'static,
    {
        self.age_named("Aging", deadline)
    }

    fn age_named<F>(self, name: &str, deadline: F) -> AgingOutputs<'scope, T, G>
    where
        F: Fn(&G) -> Option<T> + 'static,
    {
        let outer = self.inner.scope();
        let parts: Vec<_> = outer.region_named(name, |inner| {
            let phased = self.enter_region(inner).join_function(move |g: G| {
                let start = T::minimum();
                match deadline(&g) {
                    None => vec![((Phase::Settled, g), start, 1isize)],
                    Some(due) => vec![
                        ((Phase::OnTime, g.clone()), start, 1),
                        ((Phase::OnTime, g.clone()), due.clone(), -1),
                        ((Phase::Overdue, g), due, 1),
                    ],
                }
            });
            let phased = VecCollection::new(crate::due::when_due(phased.inner, "due moves"));
            partition(phased, 3, |(phase, g)| (phase as u64, g))
                .into_iter()
                .map(|part| part.leave_region(outer))
                .collect()
        });
        let mut parts = parts.into_iter();
        let mut next = || parts.next().expect("three parts");
        AgingOutputs {
            settled: next(),
            on_time: next(),
            overdue: next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, rounds, Bag};
    use proptest::prelude::*;

    fn reference(input: &Bag<(u8, Option<u64>)>, time: u64) -> Bag<(Phase, u8, Option<u64>)> {
        input
            .iter()
            .map(|(&(g, due), &n)| {
                let phase = match due {
                    None => Phase::Settled,
                    Some(d) if d <= time => Phase::Overdue,
                    Some(_) => Phase::OnTime,
                };
                ((phase, g, due), n)
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn ages_like_reference(steps in rounds((0u8..4, prop::option::of(0u64..9)), Just(0u8))) {
            check(steps, |groups, _| {
                let out = groups.age(|g: &(u8, Option<u64>)| g.1);
                out.settled.map(|(g, d)| (Phase::Settled, g, d))
                    .concat(out.on_time.map(|(g, d)| (Phase::OnTime, g, d)))
                    .concat(out.overdue.map(|(g, d)| (Phase::Overdue, g, d)))
            }, |groups, _, time| reference(groups, time));
        }
    }
}
