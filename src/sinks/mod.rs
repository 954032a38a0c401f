//! Where a run's outputs go: the [`Output`] interface the runtime delivers to, and its
//! implementations — the result changelog and dead letters as JSON Lines files
//! ([`FileOutput`]), as Kafka topics ([`KafkaOutput`]), or kept in memory ([`Collected`]) —
//! and the summary file.

pub mod file;
pub mod kafka;
pub mod memory;
pub mod output;

pub use file::{write_summary, FileOutput};
pub use kafka::KafkaOutput;
pub use memory::Collected;
pub use output::{Committed, Output, Republish};
