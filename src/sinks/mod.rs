//! Outputs of a run: the result changelog and dead letters as JSON Lines files
//! ([`FileOutput`]) or as Kafka topics ([`KafkaOutput`]), and the summary file.

pub mod file;
pub mod kafka;

pub use file::{write_summary, FileOutput};
pub use kafka::KafkaOutput;
