//! Partitions one collection into several by a routing function (shared by the operators
//! whose named outputs are disjoint parts of one computed collection).

use differential_dataflow::collection::AsCollection;
use differential_dataflow::VecCollection;
use timely::dataflow::operators::vec::Partition;
use timely::progress::Timestamp;

/// Splits `collection` into `parts` collections; `route` names each record's part and the
/// record to put there. Times and differences are carried unchanged.
pub(crate) fn partition<'scope, T, D, D2, F>(
    collection: VecCollection<'scope, T, D>,
    parts: u64,
    route: F,
) -> Vec<VecCollection<'scope, T, D2>>
where
    T: Timestamp,
    D: Clone + 'static,
    D2: Clone + 'static,
    F: Fn(D) -> (u64, D2) + 'static,
{
    collection
        .inner
        .partition(parts, move |(d, t, r)| {
            let (part, d2) = route(d);
            (part, (d2, t, r))
        })
        .into_iter()
        .map(|stream| stream.as_collection())
        .collect()
}
