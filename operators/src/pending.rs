//! Updates held until their time is complete, each time with a capability to emit at it
//! (shared by the operators that compute their output time by time, in time order).

use std::collections::BTreeMap;

use timely::dataflow::operators::{Capability, InputCapability};
use timely::progress::Timestamp;

/// Updates waiting for their time to complete, each time with a capability for it.
pub(crate) type Pending<T, D> = BTreeMap<T, (Capability<T>, Vec<D>)>;

/// Moves `data` into `pending` under each update's own time (which may be later than the
/// message's), taking a capability for each new time from `cap`.
pub(crate) fn hold<T: Timestamp + Ord, D>(
    pending: &mut Pending<T, (D, T, isize)>,
    cap: &InputCapability<T>,
    data: &mut Vec<(D, T, isize)>,
) {
    for update in data.drain(..) {
        pending
            .entry(update.1.clone())
            .or_insert_with(|| (cap.delayed(&update.1, 0), Vec::new()))
            .1
            .push(update);
    }
}
