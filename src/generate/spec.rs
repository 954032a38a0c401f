//! What to generate, and what was generated: the options, the expected final status of every
//! group, and the generator's totals.

use serde::{Deserialize, Serialize};

use crate::model::results::Status;

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    /// Seed: the same seed gives byte-identical files.
    pub seed: u64,
    /// Number of payments.
    pub payments: usize,
    /// Days the payments are spread over (from 2026-11-01T00:00:00Z).
    pub days: u64,
    /// Per-mille rate of *each* injected break class (missing ledger, missing payment,
    /// amount mismatch, unbalanced journal, conflicting payment, conflicting entry).
    pub fault_per_mille: u32,
    /// Per-mille rate of identical redeliveries.
    pub redelivery_per_mille: u32,
    /// Per-mille rate of invalid lines (cycling through every bad-input class).
    pub invalid_per_mille: u32,
    /// Write CSV instead of JSON Lines.
    pub csv: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            seed: 1,
            payments: 1000,
            days: 10,
            fault_per_mille: 10,
            redelivery_per_mille: 10,
            invalid_per_mille: 5,
            csv: false,
        }
    }
}

/// The expected final status of one group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TruthLine {
    /// Rule name.
    pub rule: String,
    /// Group key.
    pub key: String,
    /// Currency code.
    pub currency: String,
    /// Expected final status.
    pub status: Status,
}

/// Totals the generator knows about, written to `truth-meta.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthMeta {
    /// Payment lines written (valid ones, including redeliveries and conflicting versions).
    pub payment_lines: u64,
    /// Entry lines written (likewise).
    pub entry_lines: u64,
    /// Invalid lines written, which must all become dead letters.
    pub invalid_lines: u64,
    /// Identical redeliveries written.
    pub redeliveries: u64,
    /// The largest event time of any valid record: the final watermark.
    pub final_watermark: String,
}

/// Paths of what [`generate`] wrote.
pub struct Generated {
    /// Payments file.
    pub payments: std::path::PathBuf,
    /// Entries file.
    pub entries: std::path::PathBuf,
    /// Ground truth, one JSON line per group.
    pub truth: Vec<TruthLine>,
    /// Totals.
    pub meta: TruthMeta,
}
