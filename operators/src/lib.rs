//! Pure, deterministic reconciliation operators over differential-dataflow collections.
//!
//! Every operator here is an extension trait on [`VecCollection`](differential_dataflow::VecCollection):
//! it takes one or two collections and returns a struct of *named* output collections.
//! Nothing is ever dropped: every input record lands in exactly one output (or, for pairing
//! operators, in each pair it takes part in), and retracting an input retracts its outputs.
//! The operators hold no clock, no randomness and no I/O, so their outputs depend only on
//! their inputs and logical times — never on worker count or batching.
//!
//! # Layout
//!
//! - [`amount`]: [`Amount`], an exact decimal that survives exchange between processes,
//!   and [`Tolerance`].
//! - [`matcher`]: pair two collections by key (one-to-one, one-to-many, many-to-one).
//! - [`balance`]: per key, the signed sums of two sides compared within a tolerance.
//! - [`joiner`]: enrich a collection from a reference collection by key.
//! - [`splitter`]: route records by predicate into named outputs plus the rest.
//! - [`dedupe`]: absorb identical redeliveries, hold out conflicting versions of one id.
//! - [`aging`]: mark groups overdue once logical time passes a deadline computed from the data.
//! - [`tally`]: per key, a summary of its members kept current and aged, in one pass.
//! - [`conservation`]: continuously verify that counts and amounts are conserved by a graph.
//!
//! # Example: a many-to-one settlement graph
//!
//! ```
//! use differential_dataflow::input::Input;
//! use trueup_operators::{Amount, Balance, BalanceState, Leg, Tolerance};
//!
//! let groups = timely::execute_directly(|worker| {
//!     let captured = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
//!     let sink = captured.clone();
//!     worker.dataflow::<u64, _, _>(|scope| {
//!         // two payments settle into one payout line "po_1"
//!         let (_, payments) = scope.new_collection_from(vec![
//!             ("po_1".to_string(), Leg::new("pay_1", Amount::parse("60.00").unwrap(), 10)),
//!             ("po_1".to_string(), Leg::new("pay_2", Amount::parse("40.00").unwrap(), 11)),
//!         ]);
//!         let (_, payouts) = scope.new_collection_from(vec![
//!             ("po_1".to_string(), Leg::new("line_9", Amount::parse("100.00").unwrap(), 12)),
//!         ]);
//!         payments
//!             .balance(payouts, |_key: &String| Tolerance::exact())
//!             .inspect(move |((key, group), _time, diff)| {
//!                 sink.borrow_mut().push((key.clone(), group.state, *diff))
//!             });
//!     });
//!     while worker.has_dataflows() {
//!         worker.step();
//!     }
//!     let out = captured.borrow().clone();
//!     out
//! });
//! assert_eq!(groups, vec![("po_1".to_string(), BalanceState::Balanced, 1)]);
//! ```

#![deny(missing_docs)]

pub mod aging;
pub mod amount;
pub mod balance;
pub mod conservation;
pub mod dedupe;
mod due;
pub mod joiner;
pub mod matcher;
mod partition;
mod pending;
pub mod retire;
mod slots;
pub mod splitter;
pub mod tally;

#[cfg(test)]
mod testing;

/// The operator catalog in `docs/operators/`, whose examples run as doctests so they cannot drift.
#[cfg(doctest)]
mod catalog {
    #[doc = include_str!("../../docs/operators/matcher.md")]
    struct Matcher;
    #[doc = include_str!("../../docs/operators/balance.md")]
    struct Balance;
    #[doc = include_str!("../../docs/operators/joiner.md")]
    struct Joiner;
    #[doc = include_str!("../../docs/operators/splitter.md")]
    struct Splitter;
    #[doc = include_str!("../../docs/operators/dedupe.md")]
    struct Dedupe;
    #[doc = include_str!("../../docs/operators/aging.md")]
    struct Aging;
    #[doc = include_str!("../../docs/operators/tally.md")]
    struct Tally;
    #[doc = include_str!("../../docs/operators/conservation.md")]
    struct Conservation;
    #[doc = include_str!("../../docs/operators/retire.md")]
    struct Retire;
}

pub use aging::{Aging, AgingOutputs, Phase};
pub use amount::{Amount, Tolerance};
pub use balance::{Balance, BalanceGroup, BalanceState, Leg};
pub use conservation::{measured, Conservation, Measure, Violation};
pub use dedupe::{Dedupe, DedupeOutputs};
pub use joiner::{Joiner, JoinerOutputs};
pub use matcher::{Cardinality, Matcher, MatcherConfig, MatcherOutputs};
pub use retire::{Retire, Retirement};
pub use splitter::{Route, Splitter, SplitterOutputs};
pub use tally::Tally;
