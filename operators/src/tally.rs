//! Per key, a summary of the key's members, kept current time by time and aged against a
//! deadline the summary gives: a reduction and [`Aging`](crate::Aging) in one pass.
//!
//! Semantics, in collection terms, for an input collection of `(key, member)` records, a pure
//! `summarize(key, members) → Option<summary>`, a pure `deadline(summary) → Option<T>` and a
//! pure `render(key, summary, phase) → row`: at every logical time `t` the output holds, for
//! every key whose members (each with its multiplicity, sorted, none with multiplicity zero)
//! summarize to `Some(s)` (`summarize` only ever sees a key that has members), exactly one `render(key, s, phase)`, where `phase` is
//! [`Phase::Settled`] when `deadline(s)` is `None`, [`Phase::OnTime`] when it is after `t` and
//! [`Phase::Overdue`] from it on. This is `reduce(summarize)` followed by `age(deadline)` and a
//! map, with the same changelog: when a key's members change, its old row is retracted and
//! its new one asserted at that time; the move from on time to overdue happens at the
//! deadline itself, as data, so a replay gives the same changes.
//!
//! How: every key's members are held once (a hash map gives each key's place in fixed-size
//! chunks that never move as they grow), and each complete time is applied in time order, so
//! times must be totally ordered. A key's previous row is recomputed from its members before
//! they change rather than stored, and only its current deadline is kept, so the state is the
//! members and one time per key — no arrangement of members, summaries or rows.
//!
//! # Examples
//!
//! ```
//! use differential_dataflow::input::Input;
//! use trueup_operators::{Phase, Tally};
//!
//! timely::execute_directly(|worker| {
//!     worker.dataflow::<u64, _, _>(|scope| {
//!         // key 1 sums to 3 and is due at 5; key 2 sums to zero and is settled
//!         let (_, members) = scope.new_collection_from(vec![(1u32, 1i64), (1, 2), (2, 4), (2, -4)]);
//!         let sum = |_: &u32, m: &[(i64, isize)]| Some(m.iter().map(|(v, n)| v * *n as i64).sum::<i64>());
//!         let due = |total: &i64| (*total != 0).then_some(5u64);
//!         let rows = members.tally(sum, due, |key, total, phase| (*key, total, phase));
//!         rows.clone().filter(|row| row.2 == Phase::Overdue)
//!             .inspect(|(row, time, diff)| assert_eq!((*row, *time, *diff), ((1, 3, Phase::Overdue), 5, 1)));
//!         rows.filter(|row| row.2 == Phase::Settled)
//!             .assert_eq(scope.new_collection_from(vec![(2, 0, Phase::Settled)]).1);
//!     });
//! });
//! ```

use std::collections::BTreeMap;
use std::hash::Hash;

use differential_dataflow::collection::AsCollection;
use differential_dataflow::{ExchangeData, Hashable, VecCollection};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::order::TotalOrder;
use timely::progress::Timestamp;

use crate::aging::Phase;
use crate::pending::Pending;
use crate::slots::Keyed;

/// Summarizes and ages each key's members. See the [module documentation](self).
pub trait Tally<'scope, T: Timestamp, K: 'static, V: 'static> {
    /// One row per key whose members summarize to something, in its phase at every time.
    fn tally<O, R>(
        self,
        summarize: impl Fn(&K, &[(V, isize)]) -> Option<O> + 'static,
        deadline: impl Fn(&O) -> Option<T> + 'static,
        render: impl Fn(&K, O, Phase) -> R + 'static,
    ) -> VecCollection<'scope, T, R>
    where
        Self: Sized,
        O: Clone + PartialEq + 'static,
        R: Clone + 'static,
    {
        self.tally_named("Tally", summarize, deadline, render)
    }

    /// As [`tally`](Tally::tally), naming the operator `name` in the graph and logs.
    fn tally_named<O, R>(
        self,
        name: &str,
        summarize: impl Fn(&K, &[(V, isize)]) -> Option<O> + 'static,
        deadline: impl Fn(&O) -> Option<T> + 'static,
        render: impl Fn(&K, O, Phase) -> R + 'static,
    ) -> VecCollection<'scope, T, R>
    where
        O: Clone + PartialEq + 'static,
        R: Clone + 'static;
}

impl<'scope, T, K, V> Tally<'scope, T, K, V> for VecCollection<'scope, T, (K, V)>
where
    T: Timestamp + TotalOrder,
    K: ExchangeData + Hashable + Hash,
    V: ExchangeData,
{
    fn tally_named<O, R>(
        self,
        name: &str,
        summarize: impl Fn(&K, &[(V, isize)]) -> Option<O> + 'static,
        deadline: impl Fn(&O) -> Option<T> + 'static,
        render: impl Fn(&K, O, Phase) -> R + 'static,
    ) -> VecCollection<'scope, T, R>
    where
        O: Clone + PartialEq + 'static,
        R: Clone + 'static,
    {
        let by_key = Exchange::new(|u: &((K, V), T, isize)| (u.0).0.hashed().into());
        let logic = Logic {
            summarize,
            deadline,
            render,
        };
        let stream = self.inner.unary_frontier(by_key, name, move |_, _| {
            let mut state = State::<T, K, V>::default();
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    for ((key, member), time, diff) in data.drain(..) {
                        state.waiting.hold(&cap, time, (key, member, diff));
                    }
                });
                // every complete time in one message, under the capability held for the earliest
                if let Some(cap) = state.waiting.capability().cloned() {
                    let mut session = output.session(&cap);
                    while let Some(time) = state.next_time() {
                        if frontier.less_equal(&time) {
                            break;
                        }
                        state.complete(&time, &logic, &mut |change| session.give(change));
                    }
                }
                state.waiting.downgrade(state.due.keys().next());
            }
        });
        stream.as_collection()
    }
}

/// The caller's three functions.
struct Logic<S, D, F> {
    summarize: S,
    deadline: D,
    render: F,
}

impl<S, D, F> Logic<S, D, F> {
    /// The key's summary and its phase at `time`, if its members summarize to something, with
    /// the deadline when it is still ahead.
    fn standing<T, K, V, O>(&self, key: &K, members: &[(V, isize)], time: &T) -> Standing<T, O>
    where
        T: Timestamp + TotalOrder,
        S: Fn(&K, &[(V, isize)]) -> Option<O>,
        D: Fn(&O) -> Option<T>,
    {
        if members.is_empty() {
            return None;
        }
        let summary = (self.summarize)(key, members)?;
        let (phase, ahead) = match (self.deadline)(&summary) {
            None => (Phase::Settled, None),
            Some(due) if due.less_equal(time) => (Phase::Overdue, None),
            Some(due) => (Phase::OnTime, Some(due)),
        };
        Some((summary, phase, ahead))
    }
}

/// A key's summary, its phase, and its deadline when that is still ahead; `None` for a key
/// whose members summarize to nothing.
type Standing<T, O> = Option<(O, Phase, Option<T>)>;

/// One key's members, sorted, with their net multiplicities (never zero), and the deadline of
/// its current summary when that is still ahead.
struct Members<T, V> {
    members: Vec<(V, isize)>,
    due: Option<T>,
}

/// The operator's state: every key's members, the updates waiting for their time (with a
/// capability for the earliest of them and of the deadlines), and the keys whose deadline
/// falls at a time.
struct State<T: Timestamp, K, V> {
    keys: Keyed<K, Members<T, V>>,
    waiting: Pending<T, (K, V, isize)>,
    due: BTreeMap<T, Vec<K>>,
}

impl<T: Timestamp + Ord, K, V> Default for State<T, K, V> {
    fn default() -> Self {
        State {
            keys: Keyed::new(),
            waiting: Pending::new(),
            due: BTreeMap::new(),
        }
    }
}

impl<T, K, V> State<T, K, V>
where
    T: Timestamp + TotalOrder,
    K: Clone + Ord + Hash,
    V: Clone + Ord,
{
    /// The earliest time with updates or deadlines.
    fn next_time(&self) -> Option<T> {
        let waiting = self.waiting.first_time();
        let due = self.due.keys().next();
        match (waiting, due) {
            (Some(w), Some(d)) => Some(w.min(d).clone()),
            (w, d) => w.or(d).cloned(),
        }
    }

    /// Applies everything at the complete time `time`: first the moves of keys due at it, then
    /// its updates, key by key, each key's old row retracted and its new one asserted.
    fn complete<S, D, F, O, R>(
        &mut self,
        time: &T,
        logic: &Logic<S, D, F>,
        emit: &mut impl FnMut((R, T, isize)),
    ) where
        S: Fn(&K, &[(V, isize)]) -> Option<O>,
        D: Fn(&O) -> Option<T>,
        F: Fn(&K, O, Phase) -> R,
        O: Clone + PartialEq,
        R: Clone + 'static,
    {
        if let Some(mut keys) = self.due.remove(time) {
            keys.sort();
            keys.dedup();
            for key in keys {
                self.move_overdue(&key, time, logic, emit);
            }
        }
        let Some((_, mut updates)) = self.waiting.pop_complete(|first| first == time) else {
            return;
        };
        updates.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut rest = updates.as_slice();
        while let Some((key, _, _)) = rest.first() {
            let run = rest.iter().take_while(|(k, _, _)| k == key).count();
            let (same, next) = rest.split_at(run);
            self.update(key, same, time, logic, emit);
            rest = next;
        }
    }

    /// The key's move from on time to overdue at its deadline `time`, unless its deadline has
    /// changed since it was scheduled.
    fn move_overdue<S, D, F, O, R>(
        &mut self,
        key: &K,
        time: &T,
        logic: &Logic<S, D, F>,
        emit: &mut impl FnMut((R, T, isize)),
    ) where
        S: Fn(&K, &[(V, isize)]) -> Option<O>,
        F: Fn(&K, O, Phase) -> R,
        O: Clone,
        R: Clone + 'static,
    {
        let Some(state) = self.keys.get_mut(key) else {
            return;
        };
        if state.due.as_ref() != Some(time) {
            return;
        }
        state.due = None;
        if let Some(summary) = (logic.summarize)(key, &state.members) {
            emit((
                (logic.render)(key, summary.clone(), Phase::OnTime),
                time.clone(),
                -1,
            ));
            emit((
                (logic.render)(key, summary, Phase::Overdue),
                time.clone(),
                1,
            ));
        }
    }

    /// Applies one key's updates at `time` and emits the change to its row, if any.
    fn update<S, D, F, O, R>(
        &mut self,
        key: &K,
        updates: &[(K, V, isize)],
        time: &T,
        logic: &Logic<S, D, F>,
        emit: &mut impl FnMut((R, T, isize)),
    ) where
        S: Fn(&K, &[(V, isize)]) -> Option<O>,
        D: Fn(&O) -> Option<T>,
        F: Fn(&K, O, Phase) -> R,
        O: PartialEq,
        R: Clone + 'static,
    {
        let state = self.keys.get_or_insert_with(key.clone(), || Members {
            members: Vec::new(),
            due: None,
        });
        let old = logic.standing(key, &state.members, time);
        for (_, member, diff) in updates {
            add(&mut state.members, member, *diff);
        }
        let new = logic.standing(key, &state.members, time);
        // a key stays scheduled at its deadline until that time completes: schedule it again
        // only when the deadline moved
        let due = new.as_ref().and_then(|(_, _, ahead)| ahead.clone());
        if let Some(moved) = due.as_ref().filter(|&due| state.due.as_ref() != Some(due)) {
            self.due.entry(moved.clone()).or_default().push(key.clone());
        }
        state.due = due;
        if state.members.is_empty() {
            self.keys.remove(key);
        }
        let same =
            |(o, p, _): &(O, Phase, Option<T>), (n, q, _): &(O, Phase, Option<T>)| p == q && o == n;
        match (old, new) {
            (Some(old), Some(new)) if same(&old, &new) => {}
            (old, new) => {
                for ((summary, phase, _), diff) in
                    old.map(|o| (o, -1)).into_iter().chain(new.map(|n| (n, 1)))
                {
                    emit(((logic.render)(key, summary, phase), time.clone(), diff));
                }
            }
        }
    }
}

/// Members a key's list grows to one at a time before it doubles: most keys (a journal's
/// entries, a payment and its ledger lines) have a few members, and a list grown by doubling
/// would reserve room for four on the first.
const EXACT_UP_TO: usize = 8;

/// Adds `diff` copies of `member` to the sorted `members`, dropping it when none is left.
fn add<V: Clone + Ord>(members: &mut Vec<(V, isize)>, member: &V, diff: isize) {
    match members.binary_search_by(|(m, _)| m.cmp(member)) {
        Ok(at) => {
            members[at].1 += diff;
            if members[at].1 == 0 {
                members.remove(at);
            }
        }
        Err(at) if diff != 0 => {
            if members.len() == members.capacity() && members.len() < EXACT_UP_TO {
                members.reserve_exact(1);
            }
            members.insert(at, (member.clone(), diff))
        }
        Err(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, rounds, Bag};
    use proptest::prelude::*;

    type Row = (u8, (i64, usize), Phase);

    fn summarize(_: &u8, members: &[(u8, isize)]) -> Option<(i64, usize)> {
        let sum = members.iter().map(|(v, n)| i64::from(*v) * *n as i64).sum();
        Some((sum, members.len()))
    }

    /// Settled when the sum is a multiple of 3, else due at the sum modulo 7.
    fn deadline(summary: &(i64, usize)) -> Option<u64> {
        (summary.0 % 3 != 0).then(|| summary.0.rem_euclid(7) as u64)
    }

    fn reference(input: &Bag<(u8, u8)>, time: u64) -> Bag<Row> {
        let mut keys: BTreeMap<u8, Vec<(u8, isize)>> = BTreeMap::new();
        for (&(key, member), &n) in input {
            keys.entry(key).or_default().push((member, n));
        }
        keys.into_iter()
            .filter_map(|(key, members)| {
                let summary = summarize(&key, &members)?;
                let phase = match deadline(&summary) {
                    None => Phase::Settled,
                    Some(due) if due <= time => Phase::Overdue,
                    Some(_) => Phase::OnTime,
                };
                Some(((key, summary, phase), 1))
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn tallies_like_reference(steps in rounds((0u8..4, 0u8..6), Just(0u8))) {
            check(steps, |input, _| {
                input.tally(summarize, deadline, |key, summary, phase| (*key, summary, phase))
            }, |input, _, time| reference(input, time));
        }
    }
}
