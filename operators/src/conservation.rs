//! Continuously verifies that an operator graph conserves record counts and amounts.
//!
//! Semantics, in collection terms: the caller measures the input as `(scope, Measure)` pairs
//! (a record count and an amount: `Measure::one(amount)` for a single record) and each output
//! the same way (a group of five records is one `(scope, Measure { count: 5, amount: Σ })`). At every logical time
//! the check computes, per scope key, `Σ input − Σ outputs` of both the record count and the
//! amount, and the `violations` collection holds one [`Violation`] per scope key where either is
//! non-zero — and nothing otherwise. Because the residual is carried as a difference
//! ([`Measure`]), the check costs O(1) per update and keeps one accumulated value per key: a
//! conserving graph leaves it empty; a dropped or duplicated record shows up at the logical
//! time it happened, and is retracted again if a later change restores the balance.
//!
//! # Examples
//!
//! ```
//! use differential_dataflow::input::Input;
//! use trueup_operators::{Amount, Conservation, Measure, Route, Splitter};
//!
//! timely::execute_directly(|worker| {
//!     worker.dataflow::<u64, _, _>(|scope| {
//!         let amount = |s| Amount::parse(s).unwrap();
//!         // (currency code, amount) records, measured per currency
//!         let (_, input) = scope.new_collection_from(vec![(840u16, amount("1.50")), (840, amount("2.00"))]);
//!         let input = input.map(|(ccy, a)| (ccy, Measure::one(a)));
//!         let mut out = input.clone().split(vec![Route::new("big", move |x: &(u16, Measure)| x.1.amount > amount("1.75"))]);
//!         // the splitter conserves: no violation
//!         input.clone()
//!             .conserved_by(vec![out.take("big").unwrap(), out.rest.clone()])
//!             .assert_empty();
//!         // forgetting an output is caught: 1 record and 2.00 unaccounted for
//!         let violations = input.conserved_by(vec![out.rest]);
//!         violations
//!             .map(|v| (v.scope, v.count, v.amount))
//!             .assert_eq(scope.new_collection_from(vec![(840, 1, amount("2.00"))]).1);
//!     });
//! });
//! ```

use std::collections::BTreeMap;

use differential_dataflow::collection::AsCollection;
use differential_dataflow::difference::{Abelian, IsZero, Monoid, Multiply, Semigroup};
use differential_dataflow::lattice::Lattice;
use differential_dataflow::{ExchangeData, Hashable, VecCollection};
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::progress::operate::FrontierInterest;
use timely::progress::Timestamp;

use crate::amount::Amount;

/// A record count and an amount, added together as a differential difference.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Measure {
    /// Number of records.
    pub count: i64,
    /// Sum of their amounts.
    pub amount: Amount,
}

impl Measure {
    /// The measure of one record of this amount.
    pub fn one(amount: Amount) -> Measure {
        Measure { count: 1, amount }
    }
}

impl IsZero for Measure {
    fn is_zero(&self) -> bool {
        self.count == 0 && self.amount.is_zero()
    }
}

impl Semigroup for Measure {
    fn plus_equals(&mut self, rhs: &Self) {
        self.count += rhs.count;
        self.amount += rhs.amount;
    }
}

impl Monoid for Measure {
    fn zero() -> Self {
        Measure::default()
    }
}

impl Abelian for Measure {
    fn negate(&mut self) {
        self.count = -self.count;
        self.amount = -self.amount;
    }
}

impl Multiply<isize> for Measure {
    type Output = Measure;
    fn multiply(self, rhs: &isize) -> Measure {
        Measure {
            count: self.count * *rhs as i64,
            amount: self.amount.times(*rhs as i64),
        }
    }
}

/// A conservation failure: what the input holds beyond the outputs, for one scope key.
/// Positive figures mean records were lost, negative that records were created.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Violation<K> {
    /// The scope key the caller measured by (e.g. source and currency).
    pub scope: K,
    /// Input records minus output records.
    pub count: i64,
    /// Input amount minus output amount.
    pub amount: Amount,
}

/// Checks that outputs conserve an input. See the [module documentation](self).
pub trait Conservation<'scope, T: Timestamp, K: 'static> {
    /// The violations of `Σ self = Σ outputs`, per scope key, at every logical time.
    fn conserved_by(
        self,
        outputs: Vec<VecCollection<'scope, T, (K, Measure)>>,
    ) -> VecCollection<'scope, T, Violation<K>>;

    /// As [`conserved_by`](Conservation::conserved_by), naming the check `name` in the graph and logs.
    fn conserved_by_named(
        self,
        name: &str,
        outputs: Vec<VecCollection<'scope, T, (K, Measure)>>,
    ) -> VecCollection<'scope, T, Violation<K>>;
}

impl<'scope, T, K> Conservation<'scope, T, K> for VecCollection<'scope, T, (K, Measure)>
where
    T: Timestamp + Lattice + Ord,
    K: ExchangeData + Hashable,
{
    fn conserved_by(
        self,
        outputs: Vec<VecCollection<'scope, T, (K, Measure)>>,
    ) -> VecCollection<'scope, T, Violation<K>> {
        self.conserved_by_named("Conservation", outputs)
    }

    fn conserved_by_named(
        self,
        name: &str,
        outputs: Vec<VecCollection<'scope, T, (K, Measure)>>,
    ) -> VecCollection<'scope, T, Violation<K>> {
        let outer = self.inner.scope();
        outer.region_named(name, |inner| {
            let produced = differential_dataflow::collection::concatenate(
                inner,
                outputs.into_iter().map(|o| o.enter_region(inner)),
            )
            .negate();
            self.enter_region(inner)
                .concat(produced)
                .explode(|(key, measure)| Some((key, measure)))
                // measures of one key and time are summed where they are, before the exchange
                .consolidate_stream()
                .count_core::<isize>()
                .map(|(scope, residual)| Violation {
                    scope,
                    count: residual.count,
                    amount: residual.amount,
                })
                .leave_region(outer)
        })
    }
}

/// What [`measured`] returns: the records, passed on, and their measures.
pub type Measured<'scope, T, D, K> = (
    VecCollection<'scope, T, D>,
    VecCollection<'scope, T, (K, Measure)>,
);

/// Measures `records` for a check where they are, and passes them on unchanged (the same
/// batches, not copies): each record's `(key, Measure)` times its multiplicity, summed per key
/// and coarsened time (`coarsen(t) ≥ t`) within each batch, so a check of every record costs
/// one small update per key and coarse time downstream. The sums are the same whatever the
/// batching; only how many updates carry them differs. Returns the records and the measures.
pub fn measured<'scope, T, D, K>(
    records: VecCollection<'scope, T, D>,
    name: &str,
    measure: impl Fn(&D) -> (K, Measure) + 'static,
    coarsen: impl Fn(&T) -> T + 'static,
) -> Measured<'scope, T, D, K>
where
    T: Timestamp + Ord,
    D: Clone + 'static,
    K: Ord + Clone + 'static,
{
    let mut builder = OperatorBuilder::new(name.to_owned(), records.inner.scope());
    let mut input = builder.new_input(records.inner, Pipeline);
    // it acts on data alone: no frontier changes need to schedule it
    builder.set_notify_for(0, FrontierInterest::Never);
    let (mut passed, passed_stream) = builder.new_output::<Vec<(D, T, isize)>>();
    let (mut summed, summed_stream) = builder.new_output::<Vec<((K, Measure), T, isize)>>();
    builder.build(move |_| {
        move |_| {
            let (mut passed, mut summed) = (passed.activate(), summed.activate());
            input.for_each(|cap, data| {
                let mut sums: BTreeMap<(T, K), Measure> = BTreeMap::new();
                for (record, time, diff) in data.iter() {
                    let (key, m) = measure(record);
                    let sum = sums.entry((coarsen(time), key)).or_default();
                    sum.plus_equals(&m.multiply(diff));
                }
                // coarsened times are no earlier than the batch's: one message at its time
                let mut sums: Vec<_> = (sums.into_iter())
                    .filter(|(_, m)| !m.is_zero())
                    .map(|((time, key), sum)| ((key, sum), time, 1))
                    .collect();
                if !sums.is_empty() {
                    summed.give(&cap, &mut sums);
                }
                passed.give(&cap, data);
            });
        }
    });
    (passed_stream.as_collection(), summed_stream.as_collection())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, rounds, Bag};
    use proptest::prelude::*;

    /// Reference: the residual per key between the input and an output that keeps only
    /// some records (a deliberately lossy "graph"), computed directly.
    fn reference(input: &Bag<(u8, i64)>, kept: &Bag<(u8, i64)>) -> Bag<Violation<u8>> {
        let mut residual: std::collections::BTreeMap<u8, Measure> = Default::default();
        for ((k, cents), n) in input {
            let m = residual.entry(*k).or_default();
            m.plus_equals(
                &Measure {
                    count: 1,
                    amount: Amount::from_minor(*cents, 2),
                }
                .multiply(n),
            );
        }
        for ((k, cents), n) in kept {
            let m = residual.entry(*k).or_default();
            m.plus_equals(
                &Measure {
                    count: -1,
                    amount: -Amount::from_minor(*cents, 2),
                }
                .multiply(n),
            );
        }
        residual
            .into_iter()
            .filter(|(_, m)| !m.is_zero())
            .map(|(scope, m)| {
                (
                    Violation {
                        scope,
                        count: m.count,
                        amount: m.amount,
                    },
                    1,
                )
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn measured_passes_records_on_and_sums_what_they_measure(steps in rounds((0u8..3, -2i64..3), Just(0u8))) {
            let one = |(k, c): &(u8, i64)| (*k, Measure::one(Amount::from_minor(*c, 2)));
            // the records come out as they went in
            check(steps.clone(), move |input, _| measured(input, "m", one, |t| t / 2 * 2 + 1).0,
                  |input, _, _| input.clone());
            // their sums conserve what each record measures: no violation, ever
            check(steps, move |input, _| {
                let (_, sums) = measured(input.clone(), "m", one, |t| t / 2 * 2 + 1);
                input.map(move |r| one(&r)).delay(|t| t / 2 * 2 + 1).conserved_by(vec![sums])
            }, |_, _, _| Bag::new());
        }

        #[test]
        fn finds_what_a_lossy_graph_loses(steps in rounds((0u8..3, -2i64..3), Just(0u8))) {
            // the "graph" under check drops every record of exactly 0.01, and keeps zero amounts,
            // so a lost zero-amount record would still be caught by its count
            check(steps, |input, _| {
                let measured = input.map(|(k, c)| (k, Measure::one(Amount::from_minor(c, 2))));
                let kept = measured.clone().filter(|(_, m)| m.amount != Amount::from_minor(1, 2));
                measured.conserved_by(vec![kept])
            }, |input, _, _| {
                let kept: Bag<(u8, i64)> = input.iter().filter(|((_, c), _)| *c != 1).map(|(k, n)| (*k, *n)).collect();
                reference(input, &kept)
            });
        }
    }
}
