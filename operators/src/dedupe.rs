//! Deduplicates records by id: identical redeliveries are absorbed (and counted),
//! conflicting versions of one id are held out and emitted together.
//!
//! Semantics, in collection terms, for an input of `(id, version)` records (a version is
//! the record's content; two deliveries are identical when their versions are equal):
//!
//! - if every delivery of an id carries the same version `v`, delivered `n ≥ 1` times,
//!   `unique` holds `(id, v)` once and `redeliveries` holds `(id, v)` with multiplicity `n − 1`;
//! - if an id has two or more distinct versions, `conflicts` holds each distinct `(id, v)` once
//!   and `redeliveries` its extra identical copies; the id is absent from `unique` (held out of
//!   downstream matching).
//!
//! Counts are conserved: `|unique| + |redeliveries| + |conflicts| = |input|` per id. When a
//! second version arrives, the id's `unique` record is retracted and both versions asserted
//! in `conflicts` at that logical time; retracting a version reverses it.
//!
//! Configuration: none — the id and the version are whatever the caller puts in the pair.
//!
//! # Examples
//!
//! ```
//! use differential_dataflow::input::Input;
//! use trueup_operators::Dedupe;
//!
//! timely::execute_directly(|worker| {
//!     worker.dataflow::<u64, _, _>(|scope| {
//!         let (_, events) = scope.new_collection_from(vec![
//!             (1u32, 100), (1, 100),   // event 1: identical redelivery
//!             (2, 50), (2, 55),       // event 2: conflicting versions
//!         ]);
//!         let out = events.dedupe();
//!         out.unique.assert_eq(scope.new_collection_from(vec![(1, 100)]).1);
//!         out.redeliveries.assert_eq(scope.new_collection_from(vec![(1, 100)]).1);
//!         out.conflicts.assert_eq(scope.new_collection_from(vec![(2, 50), (2, 55)]).1);
//!     });
//! });
//! ```

use differential_dataflow::collection::AsCollection;
use differential_dataflow::{ExchangeData, Hashable, VecCollection};
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::order::TotalOrder;
use timely::progress::Timestamp;

use crate::partition::partition;
use crate::pending::Pending;
use crate::slots::Keyed;

/// The named outputs of [`Dedupe::dedupe`].
pub struct DedupeOutputs<'scope, T: Timestamp, I: 'static, V: 'static> {
    /// One record per id whose deliveries all agree.
    pub unique: VecCollection<'scope, T, (I, V)>,
    /// The extra copies of identical redeliveries (multiplicity = deliveries of that version − 1).
    pub redeliveries: VecCollection<'scope, T, (I, V)>,
    /// Each distinct version (once) of every id that has more than one distinct version.
    pub conflicts: VecCollection<'scope, T, (I, V)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Verdict {
    Unique = 0,
    Redelivery = 1,
    Conflict = 2,
}

/// Deduplicates `(id, version)` records. See the [module documentation](self).
pub trait Dedupe<'scope, T: Timestamp, I: 'static, V: 'static> {
    /// Splits the input into `unique`, `redeliveries` and `conflicts`.
    fn dedupe(self) -> DedupeOutputs<'scope, T, I, V>;

    /// As [`dedupe`](Dedupe::dedupe), naming the operator `name` in the graph and logs.
    fn dedupe_named(self, name: &str) -> DedupeOutputs<'scope, T, I, V>;
}

impl<'scope, T, I, V> Dedupe<'scope, T, I, V> for VecCollection<'scope, T, (I, V)>
where
    T: Timestamp + TotalOrder,
    I: ExchangeData + Hashable + std::hash::Hash,
    V: ExchangeData,
{
    fn dedupe(self) -> DedupeOutputs<'scope, T, I, V> {
        self.dedupe_named("Dedupe")
    }

    fn dedupe_named(self, name: &str) -> DedupeOutputs<'scope, T, I, V> {
        let verdicts = verdicts(self, name);
        let mut parts = partition(verdicts, 3, |(id, (verdict, version))| {
            (verdict as u64, (id, version))
        })
        .into_iter();
        let mut next = || parts.next().expect("three parts");
        DedupeOutputs {
            unique: next(),
            redeliveries: next(),
            conflicts: next(),
        }
    }
}

/// Every id's verdicts as a changelog, computed time by time in time order from each id's
/// versions and their delivery counts: every record is held once, with no input or output
/// arrangement (which is why times must be totally ordered).
fn verdicts<'scope, T, I, V>(
    records: VecCollection<'scope, T, (I, V)>,
    name: &str,
) -> VecCollection<'scope, T, (I, (Verdict, V))>
where
    T: Timestamp + TotalOrder,
    I: ExchangeData + Hashable + std::hash::Hash,
    V: ExchangeData,
{
    let by_id = Exchange::new(|u: &((I, V), T, isize)| (u.0).0.hashed().into());
    let stream = records.inner.unary_frontier(by_id, name, |_, _| {
        let mut stash: Pending<T, ((I, V), T, isize)> = Pending::new();
        let mut held = Held(Keyed::new());
        move |(input, frontier), output| {
            input.for_each(|cap, data| stash.hold_all(&cap, data));
            // every complete time in one message, under the earliest one's capability
            if let Some(cap) = stash.capability().cloned() {
                let mut session = output.session(&cap);
                while let Some((_, updates)) = stash.pop_complete(|t| !frontier.less_equal(t)) {
                    for update in updates {
                        held.apply(update, &mut |u| session.give(u));
                    }
                }
            }
            stash.downgrade(None);
        }
    });
    stream.as_collection()
}

/// Every id's distinct versions, held by [`Keyed`] (no map resize or spare bucket copies or
/// reserves whole records).
struct Held<I, V>(Keyed<I, Versions<V>>);

impl<I: Clone + Eq + std::hash::Hash, V: Clone + PartialEq> Held<I, V> {
    /// The id's versions, updated by `update`, and the change to its verdicts given to `emit`
    /// at the update's time.
    fn apply<T: Clone>(
        &mut self,
        ((id, version), time, diff): ((I, V), T, isize),
        emit: &mut impl FnMut(((I, (Verdict, V)), T, isize)),
    ) {
        if diff == 0 {
            return;
        }
        let mut verdict =
            |verdict, v: &V, n| emit(((id.clone(), (verdict, v.clone())), time.clone(), n));
        let mut first = false;
        let versions = self.0.get_or_insert_with(id.clone(), || {
            first = true;
            Versions::One((version.clone(), diff))
        });
        if first {
            return versions.verdicts(1, &mut verdict);
        }
        versions.verdicts(-1, &mut verdict);
        if versions.add(version, diff) {
            versions.verdicts(1, &mut verdict);
        } else {
            self.0.remove(&id);
        }
    }
}

/// One id's distinct versions with their net delivery counts (never zero): almost always one.
#[derive(Debug)]
enum Versions<V> {
    One((V, isize)),
    Many(Vec<(V, isize)>),
}

impl<V: Clone + PartialEq> Versions<V> {
    fn all(&self) -> &[(V, isize)] {
        match self {
            Versions::One(pair) => std::slice::from_ref(pair),
            Versions::Many(all) => all,
        }
    }

    /// Adds `diff` deliveries of `version`; `false` when no version is left.
    fn add(&mut self, version: V, diff: isize) -> bool {
        match self {
            Versions::One((v, n)) if *v == version => *n += diff,
            Versions::One(pair) => *self = Versions::Many(vec![pair.clone(), (version, diff)]),
            Versions::Many(all) => match all.iter_mut().find(|(v, _)| *v == version) {
                Some((_, n)) => *n += diff,
                None => all.push((version, diff)),
            },
        }
        if let Versions::Many(all) = self {
            all.retain(|(_, n)| *n != 0);
            if let [pair] = all.as_slice() {
                *self = Versions::One(pair.clone());
            }
        }
        self.all().iter().any(|(_, n)| *n != 0)
    }

    /// Emits this id's verdicts, each with its multiplicity times `sign`: with one version
    /// present it is unique, with several each is a conflict; copies beyond the first of a
    /// version are redeliveries.
    fn verdicts(&self, sign: isize, emit: &mut impl FnMut(Verdict, &V, isize)) {
        let present = || self.all().iter().filter(|(_, n)| *n > 0);
        let verdict = match present().count() {
            1 => Verdict::Unique,
            _ => Verdict::Conflict,
        };
        for (version, copies) in present() {
            emit(verdict, version, sign);
            if *copies > 1 {
                emit(Verdict::Redelivery, version, sign * (copies - 1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, rounds, Bag};
    use proptest::prelude::*;

    fn reference(input: &Bag<(u8, u8)>) -> Bag<(Verdict, u8, u8)> {
        let mut out = Bag::new();
        for id in input
            .keys()
            .map(|(id, _)| *id)
            .collect::<std::collections::BTreeSet<_>>()
        {
            let versions: Vec<_> = input.iter().filter(|((i, _), _)| *i == id).collect();
            if versions.len() == 1 {
                let ((_, v), n) = versions[0];
                out.insert((Verdict::Unique, id, *v), 1);
                if *n > 1 {
                    out.insert((Verdict::Redelivery, id, *v), n - 1);
                }
            } else {
                for ((_, v), n) in versions {
                    out.insert((Verdict::Conflict, id, *v), 1);
                    if *n > 1 {
                        out.insert((Verdict::Redelivery, id, *v), n - 1);
                    }
                }
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn dedupes_like_reference(steps in rounds((0u8..4, 0u8..3), Just(0u8))) {
            check(steps, |input, _| {
                let out = input.dedupe();
                out.unique.map(|(i, v)| (Verdict::Unique, i, v))
                    .concat(out.redeliveries.map(|(i, v)| (Verdict::Redelivery, i, v)))
                    .concat(out.conflicts.map(|(i, v)| (Verdict::Conflict, i, v)))
            }, |input, _, _| reference(input));
        }
    }
}
