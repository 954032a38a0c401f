//! Enriches a keyed collection from a reference collection (merchant data, FX rates, …).
//!
//! Semantics, in collection terms, for records `(k, l)` and reference rows `(k, r)`:
//! `enriched` = `{ (k, (l, r)) }` for every reference row of the record's key (with
//! multiplicity `m(l) × m(r)`), and `unenriched` = the records whose key has no reference
//! row. Every record is in exactly one of the two (in `enriched` once per reference row of
//! its key, so a reference collection with one row per key enriches each record once). When
//! a reference row arrives later, the record's `unenriched` entry is retracted and its
//! `enriched` one asserted at that logical time; retracting the row reverses that.
//!
//! Configuration: none beyond the key, which the caller has already put in place.
//!
//! # Examples
//!
//! ```
//! use differential_dataflow::input::Input;
//! use trueup_operators::Joiner;
//!
//! timely::execute_directly(|worker| {
//!     worker.dataflow::<u64, _, _>(|scope| {
//!         let (_, payments) = scope.new_collection_from(vec![(1u32, 10u32), (2, 20)]); // (merchant, payment)
//!         let (_, merchants) = scope.new_collection_from(vec![(1, "Acme Ltd".to_string())]);
//!         let out = payments.enrich(merchants);
//!         out.enriched.assert_eq(scope.new_collection_from(vec![(1, (10, "Acme Ltd".to_string()))]).1);
//!         out.unenriched.assert_eq(scope.new_collection_from(vec![(2, 20)]).1);
//!     });
//! });
//! ```

use differential_dataflow::lattice::Lattice;
use differential_dataflow::{ExchangeData, Hashable, VecCollection};
use timely::progress::Timestamp;

/// The named outputs of [`Joiner::enrich`].
pub struct JoinerOutputs<'scope, T: Timestamp, K: 'static, L: 'static, R: 'static> {
    /// Records with a reference row: `(key, (record, row))`.
    pub enriched: VecCollection<'scope, T, (K, (L, R))>,
    /// Records whose key has no reference row.
    pub unenriched: VecCollection<'scope, T, (K, L)>,
}

/// Enriches a keyed collection from a reference collection. See the [module documentation](self).
pub trait Joiner<'scope, T: Timestamp, K: 'static, L: 'static> {
    /// Pairs each `(k, l)` with every reference row `(k, r)`; the rest is `unenriched`.
    fn enrich<R: ExchangeData>(
        self,
        reference: VecCollection<'scope, T, (K, R)>,
    ) -> JoinerOutputs<'scope, T, K, L, R>;

    /// As [`enrich`](Joiner::enrich), naming the key arrangement `name` in the graph and logs.
    fn enrich_named<R: ExchangeData>(
        self,
        name: &str,
        reference: VecCollection<'scope, T, (K, R)>,
    ) -> JoinerOutputs<'scope, T, K, L, R>;
}

impl<'scope, T, K, L> Joiner<'scope, T, K, L> for VecCollection<'scope, T, (K, L)>
where
    T: Timestamp + Lattice + Ord,
    K: ExchangeData + Hashable,
    L: ExchangeData,
{
    fn enrich<R: ExchangeData>(
        self,
        reference: VecCollection<'scope, T, (K, R)>,
    ) -> JoinerOutputs<'scope, T, K, L, R> {
        self.enrich_named("Joiner", reference)
    }

    fn enrich_named<R: ExchangeData>(
        self,
        name: &str,
        reference: VecCollection<'scope, T, (K, R)>,
    ) -> JoinerOutputs<'scope, T, K, L, R> {
        // the records are arranged once and shared by both outputs
        let records = self
            .clone()
            .arrange_by_key_named(&format!("{name}: records"));
        let reference = reference.arrange_by_key_named(&format!("{name}: reference"));
        let keys = reference
            .clone()
            .as_collection(|k, _| k.clone())
            .distinct()
            .arrange_by_self_named(&format!("{name}: reference keys"));
        let enriched = records.clone().join_core(reference, |k, l, r| {
            Some((k.clone(), (l.clone(), r.clone())))
        });
        let with_reference = records.join_core(keys, |k, l, ()| Some((k.clone(), l.clone())));
        JoinerOutputs {
            enriched,
            unenriched: self.concat(with_reference.negate()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, rounds, Bag};
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
    enum Out {
        Enriched(u8, u8, u8),
        Unenriched(u8, u8),
    }

    fn reference(records: &Bag<(u8, u8)>, rows: &Bag<(u8, u8)>) -> Bag<Out> {
        let mut out = Bag::new();
        for ((k, l), ml) in records {
            let matching: Vec<_> = rows.iter().filter(|((rk, _), _)| rk == k).collect();
            if matching.is_empty() {
                *out.entry(Out::Unenriched(*k, *l)).or_default() += ml;
            }
            for ((_, r), mr) in matching {
                *out.entry(Out::Enriched(*k, *l, *r)).or_default() += ml * mr;
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn enriches_like_reference(steps in rounds((0u8..4, 0u8..3), (0u8..4, 0u8..2))) {
            check(steps, |records, rows| {
                let out = records.enrich(rows);
                out.enriched.map(|(k, (l, r))| Out::Enriched(k, l, r))
                    .concat(out.unenriched.map(|(k, l)| Out::Unenriched(k, l)))
            }, |l, r, _| reference(l, r));
        }
    }
}
