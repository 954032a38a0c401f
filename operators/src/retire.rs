//! Lets finished groups leave the working state without retracting their results.
//!
//! Semantics, for members `m` keyed by group `k`, results `r(k)` computed from the *working*
//! members, and a pure `retire_at(k, r) → Option<T>`:
//!
//! - While no result of `k` has a retire time at or before the current time, `k`'s members are
//!   in the working state and its results are exactly what the logic computes.
//! - At the retire time `F` of a result of `k` (a temporal filter: no clock), the members of
//!   `k` present at `F` are retracted from the working state one `step` later, at `F + step`.
//!   The results of `k` as of `F` are *kept*: the output asserts them again at `F + step`, so
//!   the output collection does not change — retirement is invisible to consumers, while the
//!   arrangements behind the logic forget the group.
//! - A member arriving for `k` after its retirement starts a new generation of `k`: it is
//!   reconciled on its own, beside the kept results of the retired generation.
//!
//! Requirements: `retire_at` gives one time per key (the results of one key agree, or only one
//! of them decides); real input changes never fall at a retirement's `F + step` (trueup's input
//! times are tick-aligned and `step` is 1 ms, smaller than the tick).
//!
//! Mechanics: a delayed feedback loop (a [`Variable`]) subtracts retired members from the
//! input; the decisions are a temporal filter over the results; two stream operators turn the
//! pulses of differential collections into one-shot events (only the assertions at `F`), so
//! that the retirement is not itself undone once the group has gone.
//!
//! # Examples
//!
//! ```
//! use differential_dataflow::input::Input;
//! use trueup_operators::Retire;
//!
//! let out = timely::execute_directly(|worker| {
//!     let (mut input, probe, kept) = worker.dataflow::<u64, _, _>(|scope| {
//!         let (input, members) = scope.new_collection::<(u32, i64), isize>();
//!         let retiring = members.retiring(1);
//!         // one result per key: the sum of its members, retired at time 10
//!         let sums = retiring
//!             .working()
//!             .reduce(|_k, vals, out| out.push((vals.iter().map(|(v, n)| **v * *n as i64).sum::<i64>(), 1)));
//!         let results = retiring.retire_named("sums", sums, |_k, _sum| Some(10u64));
//!         let kept = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
//!         let sink = kept.clone();
//!         let (probe, _) = results
//!             .inspect(move |update| sink.borrow_mut().push(update.clone()))
//!             .probe();
//!         (input, probe, kept)
//!     });
//!     input.insert((1, 5));
//!     input.insert((1, 7));
//!     input.advance_to(20);
//!     input.flush();
//!     worker.step_while(|| probe.less_than(&20));
//!     let mut updates = kept.borrow().clone();
//!     differential_dataflow::consolidation::consolidate_updates(&mut updates);
//!     updates
//! });
//! // the sum is asserted once and never retracted, although key 1 left the working state at 11
//! assert_eq!(out, vec![((1, 12), 0, 1)]);
//! ```

use std::collections::BTreeMap;

use differential_dataflow::consolidation::consolidate_updates;
use differential_dataflow::lattice::Lattice;
use differential_dataflow::operators::iterate::VecVariable;
use differential_dataflow::{ExchangeData, Hashable, VecCollection};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map as _;
use timely::dataflow::StreamVec;
use timely::progress::Timestamp;

use crate::pending::Pending;

/// A collection of members being retired: build the logic on [`working`](Retirement::working),
/// then close the loop with [`retire_named`](Retirement::retire_named).
pub struct Retirement<'scope, T: Timestamp + Lattice, K: ExchangeData, V: ExchangeData> {
    variable: VecVariable<'scope, T, (K, V), isize>,
    working: VecCollection<'scope, T, (K, V)>,
    step: T::Summary,
}

/// Starts retiring a keyed collection. See the [module documentation](self).
pub trait Retire<'scope, T: Timestamp + Lattice, K: ExchangeData, V: ExchangeData> {
    /// The members, less those of retired keys; retirements take effect `step` after their time.
    fn retiring(self, step: T::Summary) -> Retirement<'scope, T, K, V>;
}

impl<'scope, T, K, V> Retire<'scope, T, K, V> for VecCollection<'scope, T, (K, V)>
where
    T: Timestamp + Lattice + Ord,
    K: ExchangeData + Hashable,
    V: ExchangeData,
{
    fn retiring(self, step: T::Summary) -> Retirement<'scope, T, K, V> {
        let (variable, retracted) = VecVariable::new(self.inner.scope(), step.clone());
        Retirement {
            variable,
            working: self.concat(retracted),
            step,
        }
    }
}

impl<'scope, T, K, V> Retirement<'scope, T, K, V>
where
    T: Timestamp + Lattice + Ord,
    K: ExchangeData + Hashable,
    V: ExchangeData,
{
    /// The working members: the input less the members of retired keys.
    pub fn working(&self) -> VecCollection<'scope, T, (K, V)> {
        self.working.clone()
    }

    /// Retires each key at the time `retire_at` gives for its results (`None`: not yet), and
    /// returns the results with retirement made invisible: retired keys' results are kept.
    pub fn retire_named<R, F>(
        self,
        name: &str,
        results: VecCollection<'scope, T, (K, R)>,
        retire_at: F,
    ) -> VecCollection<'scope, T, (K, R)>
    where
        R: ExchangeData,
        F: Fn(&K, &R) -> Option<T> + 'static,
    {
        // (k) while a result of k has reached its retire time: a pulse at F, gone at F + step
        let decisions = results.clone().join_function(move |(k, r): (K, R)| {
            let at = retire_at(&k, &r);
            at.map(|at| (k, at, 1isize))
        });
        let fired = VecCollection::new(crate::due::when_due(
            decisions.inner,
            &format!("{name} due retirements"),
        ))
        .distinct();
        let leaving = self.working.semijoin(fired.clone());
        let retracted = positive_part(
            leaving.inner,
            |(k, _): &(K, V)| k.hashed().into(),
            &format!("{name} retire members"),
        );
        self.variable.set(VecCollection::new(retracted).negate());
        let fired_once = fired
            .inner
            .flat_map(|(k, t, diff)| (diff > 0).then_some((k, t, diff)));
        let kept = keep_retracted(
            results.inner.clone(),
            VecCollection::new(fired_once).results_in(self.step).inner,
            &format!("{name} keep results"),
        );
        results.concat(VecCollection::new(kept))
    }
}

/// The positive part of each time's consolidated updates: one-shot events from a pulse.
fn positive_part<'scope, T, D, H>(
    updates: StreamVec<'scope, T, (D, T, isize)>,
    hash: H,
    name: &str,
) -> StreamVec<'scope, T, (D, T, isize)>
where
    T: Timestamp + Ord,
    D: ExchangeData,
    H: Fn(&D) -> u64 + 'static,
{
    let pact = Exchange::new(move |u: &(D, T, isize)| hash(&u.0));
    updates.unary_frontier(pact, name, |_, _| {
        let mut stash: Pending<T, (D, T, isize)> = Pending::new();
        move |(input, frontier), output| {
            input.for_each(|cap, data| stash.hold_all(&cap, data));
            if let Some(cap) = stash.capability().cloned() {
                let mut session = output.session(&cap);
                while let Some((_, mut updates)) = stash.pop_complete(|t| !frontier.less_equal(t)) {
                    consolidate_updates(&mut updates);
                    updates.retain(|u| u.2 > 0);
                    session.give_iterator(updates.into_iter());
                }
            }
            stash.downgrade(None);
        }
    })
}

/// For each time, the negation of `results`' updates whose key is among `keys` at that time:
/// what re-asserts the results a retirement retracted.
fn keep_retracted<'scope, T, K, R>(
    results: StreamVec<'scope, T, ((K, R), T, isize)>,
    keys: StreamVec<'scope, T, (K, T, isize)>,
    name: &str,
) -> StreamVec<'scope, T, ((K, R), T, isize)>
where
    T: Timestamp + Ord,
    K: ExchangeData + Hashable,
    R: ExchangeData,
{
    let by_result = Exchange::new(|u: &((K, R), T, isize)| (u.0).0.hashed().into());
    let by_key = Exchange::new(|u: &(K, T, isize)| u.0.hashed().into());
    results.binary_frontier(keys, by_result, by_key, name, |_, _| {
        let mut changes: Pending<T, ((K, R), T, isize)> = Pending::new();
        let mut retired: BTreeMap<T, Vec<K>> = BTreeMap::new();
        move |(input1, frontier1), (input2, frontier2), output| {
            input1.for_each(|cap, data| changes.hold_all(&cap, data));
            input2.for_each(|_, data| {
                for (k, t, _) in data.drain(..) {
                    retired.entry(t).or_default().push(k);
                }
            });
            let complete = |t: &T| !frontier1.less_equal(t) && !frontier2.less_equal(t);
            if let Some(cap) = changes.capability().cloned() {
                let mut session = output.session(&cap);
                while let Some((time, updates)) = changes.pop_complete(complete) {
                    let Some(mut keys) = retired.remove(&time) else {
                        continue;
                    };
                    keys.sort();
                    let kept = updates
                        .into_iter()
                        .filter(|((k, _), _, _)| keys.binary_search(k).is_ok())
                        .map(|(data, t, diff)| (data, t, -diff));
                    session.give_iterator(kept);
                }
            }
            changes.downgrade(None);
            while let Some(entry) = retired.first_entry() {
                if !complete(entry.key()) {
                    break;
                }
                entry.remove();
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use differential_dataflow::consolidation::consolidate_updates;
    use differential_dataflow::input::Input;

    use super::*;

    type Updates<D> = Rc<RefCell<Vec<(D, u64, isize)>>>;

    /// Members (key, amount); one result per key, its sum; keys retire 10 after their newest
    /// member's value time (the amount doubles as an event time here).
    #[test]
    fn retired_keys_keep_their_results_and_leave_the_working_state() {
        let (results, working) = timely::execute_directly(|worker| {
            let results: Updates<(u32, i64)> = Rc::default();
            let working: Updates<(u32, i64)> = Rc::default();
            let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
                let (input, members) = scope.new_collection::<(u32, i64), isize>();
                let retiring = members.retiring(1);
                let sink = working.clone();
                retiring
                    .working()
                    .inspect(move |u| sink.borrow_mut().push(*u));
                let sums = retiring.working().reduce(|_k, vals, out| {
                    out.push((vals.iter().map(|(v, n)| **v * *n as i64).sum::<i64>(), 1))
                });
                let out = retiring.retire_named("sums", sums, |_k, sum| Some(*sum as u64 + 10));
                let sink = results.clone();
                let (probe, _) = out.inspect(move |u| sink.borrow_mut().push(*u)).probe();
                (input, probe)
            });
            let mut advance = |input: &mut differential_dataflow::input::InputSession<_, _, _>,
                               to: u64| {
                input.advance_to(to);
                input.flush();
                worker.step_while(|| probe.less_than(&to));
            };
            // key 1: 2 + 3 = 5, retires at 15; key 2: 20, retires at 30
            input.insert((1, 2));
            input.insert((1, 3));
            input.insert((2, 20));
            advance(&mut input, 12);
            // a change before the retire time moves it: 1 → 5 + 4 = 9, retires at 19
            input.insert((1, 4));
            advance(&mut input, 25);
            // a member for retired key 1: a new generation, 7, retiring at once (17 < 25)
            input.insert((1, 7));
            advance(&mut input, 40);
            (results.take(), working.take())
        });
        let consolidated = |mut updates: Vec<((u32, i64), u64, isize)>| {
            for update in updates.iter_mut() {
                update.1 = 0;
            }
            consolidate_updates(&mut updates);
            updates
        };
        // every result ever asserted is still there, the old 5 retracted by the change only
        assert_eq!(
            consolidated(results.clone()),
            vec![((1, 7), 0, 1), ((1, 9), 0, 1), ((2, 20), 0, 1)]
        );
        // what a sink sees, time by time: only the real change retracts
        let mut per_time = results;
        consolidate_updates(&mut per_time);
        let retractions: Vec<_> = per_time.into_iter().filter(|u| u.2 < 0).collect();
        assert_eq!(retractions, vec![((1, 5), 12, -1)]);
        // and the working state is empty: every member left at its key's retire time + 1
        assert_eq!(consolidated(working.clone()), vec![]);
        let mut leaving: Vec<_> = working.iter().filter(|u| u.2 < 0).cloned().collect();
        consolidate_updates(&mut leaving);
        assert_eq!(
            leaving,
            vec![
                ((1, 2), 20, -1),
                ((1, 3), 20, -1),
                ((1, 4), 20, -1),
                ((1, 7), 26, -1),
                ((2, 20), 31, -1)
            ]
        );
    }
}
