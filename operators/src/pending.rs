//! Updates held until their time is complete, under one capability for the earliest of them
//! (shared by the operators that compute their output time by time, in time order).
//!
//! One capability, not one per time: every capability taken or dropped is a progress update
//! every worker hears of, and input at event-time granularity brings a new time with almost
//! every record. Everything completed in one activation is emitted in one message at the
//! capability's time, each update carrying its own (later or equal) time.

use std::collections::BTreeMap;

use timely::dataflow::operators::{Capability, InputCapability};
use timely::progress::Timestamp;

/// Updates waiting for their time to complete, and a capability for the earliest.
pub(crate) struct Pending<T: Timestamp, D> {
    waiting: BTreeMap<T, Vec<D>>,
    earliest: Option<Capability<T>>,
}

impl<T: Timestamp + Ord, D> Pending<T, D> {
    /// Nothing waiting.
    pub(crate) fn new() -> Self {
        Pending {
            waiting: BTreeMap::new(),
            earliest: None,
        }
    }

    /// Holds `item` until `time` is complete, taking a capability for it from `cap` when it is
    /// earlier than the one held.
    pub(crate) fn hold(&mut self, cap: &InputCapability<T>, time: T, item: D) {
        if self.earliest.as_ref().is_none_or(|e| time < *e.time()) {
            self.earliest = Some(cap.delayed(&time, 0));
        }
        self.waiting.entry(time).or_default().push(item);
    }

    /// The earliest time waiting.
    pub(crate) fn first_time(&self) -> Option<&T> {
        self.waiting.keys().next()
    }

    /// The items of the earliest time waiting, removed, when `complete` says it is.
    pub(crate) fn pop_complete(&mut self, complete: impl Fn(&T) -> bool) -> Option<(T, Vec<D>)> {
        let entry = self.waiting.first_entry()?;
        complete(entry.key()).then(|| entry.remove_entry())
    }

    /// The capability held: no later than any time waiting (or `also`, since the last
    /// [`downgrade`](Pending::downgrade)).
    pub(crate) fn capability(&self) -> Option<&Capability<T>> {
        self.earliest.as_ref()
    }

    /// Keeps the capability at the earliest time still waiting or `also`, whichever is first;
    /// drops it when there is neither.
    pub(crate) fn downgrade(&mut self, also: Option<&T>) {
        let next = match (self.first_time(), also) {
            (Some(a), Some(b)) => Some(a.min(b).clone()),
            (a, b) => a.or(b).cloned(),
        };
        match next {
            Some(next) => {
                if let Some(cap) = self.earliest.as_mut() {
                    cap.downgrade(&next);
                }
            }
            None => self.earliest = None,
        }
    }
}

impl<T: Timestamp + Ord, D> Pending<T, (D, T, isize)> {
    /// Holds every update of `data` under its own time.
    pub(crate) fn hold_all(&mut self, cap: &InputCapability<T>, data: &mut Vec<(D, T, isize)>) {
        for update in data.drain(..) {
            self.hold(cap, update.1.clone(), update);
        }
    }
}
