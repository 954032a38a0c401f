//! trueup: a financial reconciliation stream processor on differential dataflow.
//!
//! # Layout
//!
//! - [`model`]: the validated records (payments, entries, dead letters); [`currency`] and
//!   [`event_time`] give them exact currencies and times.
//! - [`sources`]: reading input files and turning each line into a record or a dead letter.
//! - [`config`]: the TOML pipeline configuration.
//! - [`rules`]: the standard reconciliation graph, composed from `trueup-operators`.
//! - [`runtime`]: timely workers, watermarks, logical time, following inputs and stopping.
//! - [`delivery`]: handing each completed stretch of logical time to the outputs, in order.
//! - [`results`]: result rows and their changelog lines.
//! - [`sinks`]: the file output: changelog, dead letters and summary, written as time completes.
//! - [`summary`]: counts, amounts, match rate and break aging from the final state.
//! - [`generate`]: deterministic synthetic data with injected faults and ground truth.
//! - [`job`]: one run end to end, and the embedded default configuration.
//! - [`progress`]: the periodic progress line of a long run.
//! - [`oracle`]: a naive, dataflow-free reconciliation used to check the pipeline.

#![deny(missing_docs)]

pub mod commit;
pub mod compaction;
pub mod config;
pub mod currency;
pub mod delivery;
pub mod event_time;
pub mod generate;
pub mod job;
pub mod kafka;
pub mod model;
pub mod oracle;
pub mod progress;
pub mod results;
pub mod rules;
pub mod runtime;
pub mod serve;
pub mod sinks;
pub mod sources;
pub mod store;
pub mod summary;
