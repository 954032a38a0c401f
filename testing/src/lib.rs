//! Test support for trueup, kept out of the product: a dev-only crate that the tests and
//! benches depend on.
//!
//! # Layout
//!
//! - [`oracle`]: a naive, dataflow-free reconciliation the tests check the pipeline against,
//!   and the end-to-end bench's single-threaded baseline.
//! - [`kafka`]: Kafka chores outside a pipeline: creating topics, producing a file's lines,
//!   reading a whole topic back.
//! - [`http`]: one HTTP/1.1 GET at a time on loopback, for `trueup serve`.

#![deny(missing_docs)]

pub mod http;
pub mod kafka;
pub mod oracle;
