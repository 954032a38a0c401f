//! Holding scheduled updates until their time comes.
//!
//! A temporal filter (`join_function`) emits updates at future logical times as soon as it
//! knows them. Passed straight into an arrangement, each one waits in the arrangement's
//! batcher, which re-sorts everything it holds whenever the frontier moves: with many pending
//! deadlines (every open group's aging move and retirement) that is quadratic. [`when_due`]
//! holds them instead in a map ordered by time, under one capability for the earliest, and
//! passes each on only once the frontier has reached its time.

use std::collections::BTreeMap;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;
use timely::progress::Timestamp;

/// Passes each update on once the input frontier has reached its time (the update keeps its
/// time; only its delivery waits).
pub(crate) fn when_due<'scope, T, D>(
    updates: StreamVec<'scope, T, (D, T, isize)>,
    name: &str,
) -> StreamVec<'scope, T, (D, T, isize)>
where
    T: Timestamp + Ord,
    D: Clone + 'static,
{
    updates.unary_frontier(Pipeline, name, |_, _| {
        let mut held: BTreeMap<T, Vec<(D, T, isize)>> = BTreeMap::new();
        // a capability at the earliest held time
        let mut earliest: Option<Capability<T>> = None;
        move |(input, frontier), output| {
            input.for_each(|cap, data| {
                for update in data.drain(..) {
                    if earliest.as_ref().is_none_or(|e| update.1 < *e.time()) {
                        earliest = Some(cap.delayed(&update.1, 0));
                    }
                    held.entry(update.1.clone()).or_default().push(update);
                }
            });
            while let Some(entry) = held.first_entry() {
                if frontier.less_than(entry.key()) {
                    break;
                }
                let updates = entry.remove();
                let cap = earliest.as_ref().expect("held updates have a capability");
                output.session(cap).give_iterator(updates.into_iter());
            }
            match held.keys().next() {
                Some(next) => {
                    if let Some(cap) = earliest.as_mut() {
                        cap.downgrade(next);
                    }
                }
                None => earliest = None,
            }
        }
    })
}
