//! Routes records by predicate into several named outputs plus the rest.
//!
//! Semantics, in collection terms: for routes `(name₁, p₁) … (nameₙ, pₙ)`, output `nameᵢ`
//! holds the records `x` with `pᵢ(x)` true and `pⱼ(x)` false for every `j < i` (the first
//! matching route wins), and `rest` holds the records no predicate accepts. The outputs
//! partition the input: every record is in exactly one, with its multiplicity, and
//! retracting a record retracts it from that output. Predicates must be pure functions of
//! the record (no clock, no state), so routing is deterministic.
//!
//! # Examples
//!
//! ```
//! use differential_dataflow::input::Input;
//! use trueup_operators::{Route, Splitter};
//!
//! timely::execute_directly(|worker| {
//!     worker.dataflow::<u64, _, _>(|scope| {
//!         let (_, entries) = scope.new_collection_from(vec![(1u8, 10), (2, 1), (3, 2)]);
//!         let mut out = entries.split(vec![
//!             Route::new("receivable", |e: &(u8, i32)| e.0 == 1),
//!             Route::new("fees", |e: &(u8, i32)| e.0 == 2),
//!         ]);
//!         out.take("receivable").unwrap().assert_eq(scope.new_collection_from(vec![(1, 10)]).1);
//!         out.take("fees").unwrap().assert_eq(scope.new_collection_from(vec![(2, 1)]).1);
//!         out.rest.assert_eq(scope.new_collection_from(vec![(3, 2)]).1);
//!     });
//! });
//! ```

use std::collections::BTreeMap;

use differential_dataflow::VecCollection;
use timely::progress::Timestamp;

use crate::partition::partition;

/// One route: a name for its output and the predicate that selects records for it.
pub struct Route<D> {
    /// The output's name (unique among the routes).
    pub name: String,
    /// Selects the records for this output (when no earlier route selected them).
    pub predicate: Box<dyn Fn(&D) -> bool>,
}

impl<D> Route<D> {
    /// A route called `name` that takes the records `predicate` accepts.
    pub fn new(name: impl Into<String>, predicate: impl Fn(&D) -> bool + 'static) -> Route<D> {
        Route {
            name: name.into(),
            predicate: Box::new(predicate),
        }
    }
}

/// The named outputs of [`Splitter::split`].
pub struct SplitterOutputs<'scope, T: Timestamp, D: 'static> {
    /// One output per route, by route name.
    pub routes: BTreeMap<String, VecCollection<'scope, T, D>>,
    /// The records that no route accepted.
    pub rest: VecCollection<'scope, T, D>,
}

impl<'scope, T: Timestamp, D: 'static> SplitterOutputs<'scope, T, D> {
    /// Takes the output of the route called `name` out of the set (`None` if there is none).
    pub fn take(&mut self, name: &str) -> Option<VecCollection<'scope, T, D>> {
        self.routes.remove(name)
    }
}

/// Routes records into named outputs by predicate. See the [module documentation](self).
pub trait Splitter<'scope, T: Timestamp, D: 'static> {
    /// Splits by `routes`, first matching route wins; unmatched records go to `rest`.
    fn split(self, routes: Vec<Route<D>>) -> SplitterOutputs<'scope, T, D>;

    /// As [`split`](Splitter::split); `name` prefixes the route names in the graph and logs.
    fn split_named(self, name: &str, routes: Vec<Route<D>>) -> SplitterOutputs<'scope, T, D>;
}

impl<'scope, T, D> Splitter<'scope, T, D> for VecCollection<'scope, T, D>
where
    T: Timestamp,
    D: Clone + 'static,
{
    fn split(self, routes: Vec<Route<D>>) -> SplitterOutputs<'scope, T, D> {
        self.split_named("Splitter", routes)
    }

    fn split_named(self, name: &str, routes: Vec<Route<D>>) -> SplitterOutputs<'scope, T, D> {
        let outer = self.inner.scope();
        let names: Vec<String> = routes.iter().map(|r| r.name.clone()).collect();
        let rest_index = routes.len() as u64;
        let predicates: Vec<_> = routes.into_iter().map(|r| r.predicate).collect();
        let mut parts: Vec<_> = outer.region_named(name, |inner| {
            partition(self.enter_region(inner), rest_index + 1, move |d| {
                let index = predicates
                    .iter()
                    .position(|p| p(&d))
                    .map_or(rest_index, |i| i as u64);
                (index, d)
            })
            .into_iter()
            .map(|part| part.leave_region(outer))
            .collect()
        });
        let rest = parts
            .pop()
            .expect("partition returns one part per route plus the rest");
        SplitterOutputs {
            routes: names.into_iter().zip(parts).collect(),
            rest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check, rounds, Bag};
    use proptest::prelude::*;

    fn reference(input: &Bag<u8>) -> Bag<(String, u8)> {
        input
            .iter()
            .map(|(x, n)| {
                let name = if x.is_multiple_of(3) {
                    "threes"
                } else if x.is_multiple_of(2) {
                    "evens"
                } else {
                    "rest"
                };
                ((name.to_string(), *x), *n)
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn splits_like_reference(steps in rounds(0u8..12, Just(0u8))) {
            check(steps, |input, _| {
                let mut out = input.split(vec![
                    Route::new("threes", |x: &u8| x.is_multiple_of(3)),
                    Route::new("evens", |x: &u8| x.is_multiple_of(2)),
                ]);
                let threes = out.take("threes").unwrap().map(|x| ("threes".to_string(), x));
                let evens = out.take("evens").unwrap().map(|x| ("evens".to_string(), x));
                threes.concat(evens).concat(out.rest.map(|x| ("rest".to_string(), x)))
            }, |input, _, _| reference(input));
        }
    }
}
