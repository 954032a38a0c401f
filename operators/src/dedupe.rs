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

use differential_dataflow::lattice::Lattice;
use differential_dataflow::{ExchangeData, Hashable, VecCollection};
use serde::{Deserialize, Serialize};
use timely::progress::Timestamp;

use crate::partition::partition;

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
    T: Timestamp + Lattice + Ord,
    I: ExchangeData + Hashable,
    V: ExchangeData,
{
    fn dedupe(self) -> DedupeOutputs<'scope, T, I, V> {
        self.dedupe_named("Dedupe")
    }

    fn dedupe_named(self, name: &str) -> DedupeOutputs<'scope, T, I, V> {
        let verdicts = self.reduce_named(name, |_id, versions, out| {
            let present: Vec<_> = versions.iter().filter(|(_, n)| *n > 0).collect();
            match present.as_slice() {
                [] => {}
                [(version, copies)] => {
                    out.push(((Verdict::Unique, (*version).clone()), 1isize));
                    if *copies > 1 {
                        out.push(((Verdict::Redelivery, (*version).clone()), copies - 1));
                    }
                }
                several => {
                    for (version, copies) in several {
                        out.push(((Verdict::Conflict, (*version).clone()), 1isize));
                        if *copies > 1 {
                            out.push(((Verdict::Redelivery, (*version).clone()), copies - 1));
                        }
                    }
                }
            }
        });
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
