//! Test support: drives an operator graph round by round and compares its accumulated
//! output with a naive reference model after every round, then retracts every input and
//! checks that the output returns to empty.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::rc::Rc;

use differential_dataflow::input::Input;
use differential_dataflow::{ExchangeData, Hashable, VecCollection};
use proptest::prelude::*;

/// One change to an input: insert a record, or retract the `n`-th (modulo) present record.
#[derive(Clone, Debug)]
pub enum Op<D> {
    /// Insert this record.
    Insert(D),
    /// Retract the present record at this index (modulo the number present); no-op when none.
    Retract(usize),
}

/// Rounds of changes: per round, the changes to the left and to the right input.
pub type Rounds<A, B> = Vec<(Vec<Op<A>>, Vec<Op<B>>)>;

/// A strategy for a list of rounds, each with changes to the left and the right input.
pub fn rounds<A: Debug + Clone, B: Debug + Clone>(
    a: impl Strategy<Value = A> + Clone,
    b: impl Strategy<Value = B> + Clone,
) -> impl Strategy<Value = Rounds<A, B>> {
    let ops_a = prop::collection::vec(
        prop_oneof![3 => a.prop_map(Op::Insert), 1 => any::<usize>().prop_map(Op::Retract)],
        0..6,
    );
    let ops_b = prop::collection::vec(
        prop_oneof![3 => b.prop_map(Op::Insert), 1 => any::<usize>().prop_map(Op::Retract)],
        0..6,
    );
    prop::collection::vec((ops_a, ops_b), 1..7)
}

/// A multiset: record → multiplicity (never zero).
pub type Bag<D> = BTreeMap<D, isize>;

fn apply<D: Ord + Clone>(present: &mut Vec<D>, op: &Op<D>) -> Option<(D, isize)> {
    match op {
        Op::Insert(d) => {
            present.push(d.clone());
            Some((d.clone(), 1))
        }
        Op::Retract(i) if !present.is_empty() => {
            let d = present.swap_remove(i % present.len());
            Some((d, -1))
        }
        Op::Retract(_) => None,
    }
}

fn bag<D: Ord + Clone>(items: &[D]) -> Bag<D> {
    let mut bag = Bag::new();
    for d in items {
        *bag.entry(d.clone()).or_insert(0) += 1;
    }
    bag
}

fn accumulate<O: Ord + Clone>(updates: &[(O, u64, isize)], upto: u64) -> Bag<O> {
    let mut bag = Bag::new();
    for (o, t, r) in updates.iter().filter(|(_, t, _)| *t <= upto) {
        let _ = t;
        *bag.entry(o.clone()).or_insert(0) += r;
    }
    bag.retain(|_, r| *r != 0);
    bag
}

/// Runs `build` over two inputs changed round by round (round `r` at logical time `r`), and
/// after each round asserts that the output accumulated up to `r` equals
/// `reference(left, right, r)`. Finally retracts every input and asserts the output,
/// accumulated over all times, is empty.
pub fn check<A, B, O, F, R>(rounds: Rounds<A, B>, build: F, reference: R)
where
    A: ExchangeData + Hashable + Sync,
    B: ExchangeData + Hashable + Sync,
    O: ExchangeData + Hashable,
    F: for<'s> FnOnce(
            VecCollection<'s, u64, A>,
            VecCollection<'s, u64, B>,
        ) -> VecCollection<'s, u64, O>
        + Send
        + Sync
        + 'static,
    R: Fn(&Bag<A>, &Bag<B>, u64) -> Bag<O> + Send + Sync + 'static,
{
    timely::execute_directly(move |worker| {
        let output = Rc::new(RefCell::new(Vec::new()));
        let sink = output.clone();
        let (mut left, mut right, probe) = worker.dataflow::<u64, _, _>(move |scope| {
            let (left, a) = scope.new_collection::<A, isize>();
            let (right, b) = scope.new_collection::<B, isize>();
            let (probe, _) = build(a, b)
                .inspect(move |(o, t, r)| sink.borrow_mut().push((o.clone(), *t, *r)))
                .probe();
            (left, right, probe)
        });
        let (mut present_a, mut present_b) = (Vec::new(), Vec::new());
        for (time, (ops_a, ops_b)) in (0u64..).zip(&rounds) {
            for op in ops_a {
                if let Some((d, r)) = apply(&mut present_a, op) {
                    left.update(d, r);
                }
            }
            for op in ops_b {
                if let Some((d, r)) = apply(&mut present_b, op) {
                    right.update(d, r);
                }
            }
            left.advance_to(time + 1);
            right.advance_to(time + 1);
            left.flush();
            right.flush();
            worker.step_while(|| probe.less_than(&(time + 1)));
            let got = accumulate(&output.borrow(), time);
            let want = reference(&bag(&present_a), &bag(&present_b), time);
            assert_eq!(got, want, "round at time {time}: operator vs reference");
        }
        for d in present_a.drain(..) {
            left.remove(d);
        }
        for d in present_b.drain(..) {
            right.remove(d);
        }
        left.close();
        right.close();
        worker.step_while(|| !probe.done());
        let rest = accumulate(&output.borrow(), u64::MAX);
        assert!(
            rest.is_empty(),
            "after retracting every input, output is {rest:?}"
        );
    });
}
