//! The engine: runs a configured pipeline on timely workers — reading the sources, assigning
//! logical times from event times and watermarks, driving the reconciliation dataflow — and
//! delivers each completed stretch of logical time to the sinks, committing it to the audit
//! store when there is one.
//!
//! - [`run`]: a run end to end: the store opened, one worker per thread, what they report.
//! - [`worker`]: one worker: the dataflows, the read rounds, advancing time, delivering.
//! - [`reading`]: the sources as one worker reads them, and their watermarks.
//! - [`resume`]: what a restarted run takes back from the audit store.
//! - [`delivery`]: worker 0 ships completed times to the writer, in order.
//! - [`writer`]: the thread that orders, writes and commits what completed.
//! - [`commit`]: exactly-once commits of inputs, changes and positions to the store.
//! - [`merge_policy`]: how eagerly differential's arrangements merge while following.
//! - [`progress`]: the periodic progress line of a long run.
//! - [`control`]: stopping a run from outside, what it reports, and how it fails.
//! - [`check`]: `trueup check`, a dry run of the sources through their field maps.
//! - [`pipeline`]: the Pipeline API: an engineer's program running its own graphs.
//! - [`job`]: a run into the configured sinks, and the embedded default configuration.

pub mod check;
pub mod commit;
pub mod control;
pub mod delivery;
pub mod job;
pub mod merge_policy;
pub mod pipeline;
pub mod progress;
pub mod reading;
pub mod resume;
pub mod run;
pub mod worker;
pub mod writer;

pub use control::{Control, LostOrCreated, RunError, RunOutput, RunReport};
pub use run::{run, run_collect, run_collect_until, run_with_names};
