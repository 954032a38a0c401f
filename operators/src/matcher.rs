//! Pairs the records of two collections that share a key.
//!
//! Semantics, in collection terms, for a left collection `L` and a right collection `R`
//! keyed by `left_key` and `right_key`:
//!
//! - `matched` = `{ (k, (l, r)) : l ∈ L, r ∈ R, key(l) = key(r) = k, k not ambiguous }`, with
//!   multiplicity `m(l) × m(r)`: one pair per left/right combination under the key;
//! - `left_only` = left records whose key has no right record (likewise `right_only`);
//! - `ambiguous_left` / `ambiguous_right` = the records of keys present on both sides whose
//!   counts break the configured [`Cardinality`] (for one-to-one: more than one record on
//!   either side). Such keys are held out of `matched` entirely, never paired arbitrarily.
//!
//! So every left record lands in exactly one of `left_only`, `ambiguous_left`, or the pairs
//! of `matched` under its key; the same holds on the right. Retracting an input retracts
//! every output it contributed to: a late right record moves its key's left records from
//! `left_only` to `matched` at the logical time it arrives.
//!
//! # Examples
//!
//! ```
//! use differential_dataflow::input::Input;
//! use trueup_operators::{Matcher, MatcherConfig};
//!
//! timely::execute_directly(|worker| {
//!     worker.dataflow::<u64, _, _>(|scope| {
//!         let (_, invoices) = scope.new_collection_from(vec![(1u32, 100), (2, 50)]);
//!         let (_, receipts) = scope.new_collection_from(vec![(1u32, 100), (3, 7)]);
//!         let out = invoices.match_by(receipts, MatcherConfig::default(), |i| i.0, |r| r.0);
//!         out.matched.assert_eq(scope.new_collection_from(vec![(1, ((1, 100), (1, 100)))]).1);
//!         out.left_only.assert_eq(scope.new_collection_from(vec![(2, (2, 50))]).1);
//!         out.right_only.assert_eq(scope.new_collection_from(vec![(3, (3, 7))]).1);
//!     });
//! });
//! ```

use differential_dataflow::lattice::Lattice;
use differential_dataflow::{ExchangeData, Hashable, VecCollection};
use serde::{Deserialize, Serialize};
use timely::progress::Timestamp;

/// How many records of each side one key may hold and still be paired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cardinality {
    /// At most one left and one right record per key.
    OneToOne,
    /// At most one left record per key; any number of right records.
    OneToMany,
    /// Any number of left records; at most one right record per key (e.g. payments to a payout line).
    ManyToOne,
    /// Any number on both sides: every left record pairs with every right record of its key.
    #[default]
    ManyToMany,
}

impl Cardinality {
    /// True when `left` and `right` record counts under one key are allowed.
    pub fn allows(self, left: isize, right: isize) -> bool {
        match self {
            Cardinality::OneToOne => left <= 1 && right <= 1,
            Cardinality::OneToMany => left <= 1,
            Cardinality::ManyToOne => right <= 1,
            Cardinality::ManyToMany => true,
        }
    }
}

/// Configuration of [`Matcher::match_by`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatcherConfig {
    /// The cardinality each key must respect to be matched; keys breaking it go to the
    /// `ambiguous_*` outputs. Default `many_to_many`.
    pub cardinality: Cardinality,
}

/// The named outputs of [`Matcher::match_by`].
pub struct MatcherOutputs<'scope, T: Timestamp, K: 'static, L: 'static, R: 'static> {
    /// Pairs of records sharing a key: `(key, (left, right))`.
    pub matched: VecCollection<'scope, T, (K, (L, R))>,
    /// Left records whose key has no right record.
    pub left_only: VecCollection<'scope, T, (K, L)>,
    /// Right records whose key has no left record.
    pub right_only: VecCollection<'scope, T, (K, R)>,
    /// Left records of keys that break the configured cardinality.
    pub ambiguous_left: VecCollection<'scope, T, (K, L)>,
    /// Right records of keys that break the configured cardinality.
    pub ambiguous_right: VecCollection<'scope, T, (K, R)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Side {
    Left,
    Right,
}

/// Pairs a collection with another by key. See the [module documentation](self).
pub trait Matcher<'scope, T: Timestamp, L: 'static> {
    /// Pairs `self` (left) with `right` on `left_key(l) == right_key(r)`.
    fn match_by<R, K, FL, FR>(
        self,
        right: VecCollection<'scope, T, R>,
        config: MatcherConfig,
        left_key: FL,
        right_key: FR,
    ) -> MatcherOutputs<'scope, T, K, L, R>
    where
        R: ExchangeData,
        K: ExchangeData + Hashable,
        FL: Fn(&L) -> K + 'static,
        FR: Fn(&R) -> K + 'static;

    /// As [`match_by`](Matcher::match_by), naming the operators `name` in the dataflow graph and logs.
    fn match_by_named<R, K, FL, FR>(
        self,
        name: &str,
        right: VecCollection<'scope, T, R>,
        config: MatcherConfig,
        left_key: FL,
        right_key: FR,
    ) -> MatcherOutputs<'scope, T, K, L, R>
    where
        R: ExchangeData,
        K: ExchangeData + Hashable,
        FL: Fn(&L) -> K + 'static,
        FR: Fn(&R) -> K + 'static;
}

impl<'scope, T, L> Matcher<'scope, T, L> for VecCollection<'scope, T, L>
where
    T: Timestamp + Lattice + Ord,
    L: ExchangeData,
{
    fn match_by<R, K, FL, FR>(
        self,
        right: VecCollection<'scope, T, R>,
        config: MatcherConfig,
        left_key: FL,
        right_key: FR,
    ) -> MatcherOutputs<'scope, T, K, L, R>
    where
        R: ExchangeData,
        K: ExchangeData + Hashable,
        FL: Fn(&L) -> K + 'static,
        FR: Fn(&R) -> K + 'static,
    {
        self.match_by_named("Matcher", right, config, left_key, right_key)
    }

    fn match_by_named<R, K, FL, FR>(
        self,
        name: &str,
        right: VecCollection<'scope, T, R>,
        config: MatcherConfig,
        left_key: FL,
        right_key: FR,
    ) -> MatcherOutputs<'scope, T, K, L, R>
    where
        R: ExchangeData,
        K: ExchangeData + Hashable,
        FL: Fn(&L) -> K + 'static,
        FR: Fn(&R) -> K + 'static,
    {
        let left = self.map(move |l| (left_key(&l), l));
        let right = right.map(move |r| (right_key(&r), r));
        let left_keys = left.clone().map(|(k, _)| k).distinct();
        let right_keys = right.clone().map(|(k, _)| k).distinct();

        let cardinality = config.cardinality;
        let ambiguous = left
            .clone()
            .map(|(k, _)| (k, Side::Left))
            .concat(right.clone().map(|(k, _)| (k, Side::Right)))
            .reduce_named(&format!("{name}: cardinality"), move |_key, sides, out| {
                let count = |side| {
                    sides
                        .iter()
                        .filter(|(s, _)| **s == side)
                        .map(|(_, n)| *n)
                        .sum::<isize>()
                };
                let (l, r) = (count(Side::Left), count(Side::Right));
                if l > 0 && r > 0 && !cardinality.allows(l, r) {
                    out.push(((), 1isize));
                }
            })
            .map(|(k, ())| k);

        let ambiguous_left = left.clone().semijoin(ambiguous.clone());
        let ambiguous_right = right.clone().semijoin(ambiguous.clone());
        let matched = left
            .clone()
            .antijoin(ambiguous.clone())
            .join(right.clone().antijoin(ambiguous));
        MatcherOutputs {
            matched,
            left_only: left.antijoin(right_keys),
            right_only: right.antijoin(left_keys),
            ambiguous_left,
            ambiguous_right,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, rounds, Bag};
    use proptest::prelude::*;

    type Rec = (u8, u8);

    #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
    enum Out {
        Matched(u8, Rec, Rec),
        LeftOnly(Rec),
        RightOnly(Rec),
        AmbiguousLeft(Rec),
        AmbiguousRight(Rec),
    }

    fn reference(left: &Bag<Rec>, right: &Bag<Rec>, cardinality: Cardinality) -> Bag<Out> {
        let mut out = Bag::new();
        let count = |bag: &Bag<Rec>, k: u8| {
            bag.iter()
                .filter(|(r, _)| r.0 == k)
                .map(|(_, n)| n)
                .sum::<isize>()
        };
        for (l, ml) in left {
            let (nl, nr) = (count(left, l.0), count(right, l.0));
            if nr == 0 {
                *out.entry(Out::LeftOnly(*l)).or_default() += ml;
            } else if !cardinality.allows(nl, nr) {
                *out.entry(Out::AmbiguousLeft(*l)).or_default() += ml;
            } else {
                for (r, mr) in right.iter().filter(|(r, _)| r.0 == l.0) {
                    *out.entry(Out::Matched(l.0, *l, *r)).or_default() += ml * mr;
                }
            }
        }
        for (r, mr) in right {
            let (nl, nr) = (count(left, r.0), count(right, r.0));
            if nl == 0 {
                *out.entry(Out::RightOnly(*r)).or_default() += mr;
            } else if !cardinality.allows(nl, nr) {
                *out.entry(Out::AmbiguousRight(*r)).or_default() += mr;
            }
        }
        out
    }

    fn cardinality() -> impl Strategy<Value = Cardinality> {
        prop_oneof![
            Just(Cardinality::OneToOne),
            Just(Cardinality::OneToMany),
            Just(Cardinality::ManyToOne),
            Just(Cardinality::ManyToMany)
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn matches_reference(card in cardinality(), steps in rounds((0u8..4, 0u8..3), (0u8..4, 0u8..3))) {
            check(steps, move |left, right| {
                let out = left.match_by(right, MatcherConfig { cardinality: card }, |l: &Rec| l.0, |r: &Rec| r.0);
                out.matched.map(|(k, (l, r))| Out::Matched(k, l, r))
                    .concat(out.left_only.map(|(_, l)| Out::LeftOnly(l)))
                    .concat(out.right_only.map(|(_, r)| Out::RightOnly(r)))
                    .concat(out.ambiguous_left.map(|(_, l)| Out::AmbiguousLeft(l)))
                    .concat(out.ambiguous_right.map(|(_, r)| Out::AmbiguousRight(r)))
            }, move |l, r, _time| reference(l, r, card));
        }
    }
}
