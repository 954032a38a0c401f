//! How eagerly arrangements are compacted while following live inputs.
//!
//! Differential's arrangements are log-structured: a retraction sits in a small, recent batch
//! until a merge brings it together with the (old, large) batch holding its assertion, and
//! only then is the memory of both freed. Left to its default policy, a long-running stream
//! with retention therefore carries up to a second copy of its state in retractions before the
//! largest batches merge — memory that saws between the working state and about twice it.
//!
//! While following, workers are often idle; [`compact_when_behind`] spends that time merging
//! an arrangement down to one batch whenever its smaller batches together hold more than
//! `1 / SLACK` of its largest. Retired state then leaves memory soon after it is retracted,
//! at an amortized cost of about `SLACK` extra copies per update.

use std::sync::Arc;

use differential_dataflow::trace::ExertionLogic;

/// The smaller batches may hold this fraction (`1 / SLACK`) of the largest before compaction.
const SLACK: usize = 8;

/// Effort large enough that one exertion rolls every batch of an arrangement into one: the
/// spine introduces a virtual batch at level log2(effort), above any real batch's.
const FULL: usize = 1 << 30;

/// Configures the workers to compact their arrangements when idle (see the
/// [module documentation](self)).
pub fn compact_when_behind(config: &mut timely::WorkerConfig) {
    let logic: ExertionLogic = Arc::new(|batches: &[(usize, usize, usize)]| {
        let largest = batches.iter().map(|b| b.2).max().unwrap_or(0);
        let total: usize = batches.iter().map(|b| b.2).sum();
        ((total - largest) * SLACK > largest).then_some(FULL)
    });
    config.set("differential/default_exert_logic".to_string(), logic);
}
