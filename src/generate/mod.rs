//! Deterministic synthetic data: payments, their balanced ledger journals, injected faults of
//! every break class and bad-input class, and the ground truth of every group's final status.
//!
//! Each payment books 11–17 entries across balanced journals (capture with fees, tax and
//! reserve; reserve release; payout; interchange; refunds; chargebacks with fees; reversals).
//! Ledger lag runs from seconds to days; lines are delivered out of order (by event time plus
//! up to 30 s of jitter, inside the default 300 s allowed lateness). Faults are chosen per
//! payment so that each one's outcome is known by construction — the truth is not computed by
//! reconciling the output.
//!
//! - [`spec`]: the options, the truth lines and the totals.
//! - [`payment`]: one payment: its events, journals, lines and the truth of its groups.
//! - [`write`]: delivery order, redeliveries, invalid lines, and the files.

pub mod payment;
pub mod spec;
pub mod write;

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::model::time::{format_rfc3339, parse_rfc3339};
use payment::Group;
pub use spec::{GenerateOptions, Generated, TruthLine, TruthMeta};
use write::Builder;

/// Generates data into `dir` (`payments.jsonl|csv`, `entries.jsonl|csv`, `truth.jsonl`,
/// `truth-meta.json`) and returns the truth.
pub fn generate(dir: &Path, options: &GenerateOptions) -> std::io::Result<Generated> {
    std::fs::create_dir_all(dir)?;
    let mut b = Builder::new(ChaCha8Rng::seed_from_u64(options.seed), options.csv);
    let start = parse_rfc3339("2026-11-01T00:00:00Z").expect("valid constant");
    let span = options.days.max(1) * 86_400_000;
    let mut groups: Vec<Group> = Vec::new();
    let mut max_event = 0;
    for i in 0..options.payments {
        let at = start + (i as u64 * span / options.payments.max(1) as u64) / 1000 * 1000;
        let plan = payment::plan(&mut b.rng, i, at, options.fault_per_mille);
        let receivable_last = plan.emit(&mut b, &mut max_event);
        plan.groups(receivable_last, &mut groups);
    }
    let truth: Vec<TruthLine> = groups.into_iter().map(|g| g.truth(max_event)).collect();
    let mut meta = TruthMeta::default();
    b.add_redeliveries(options.redelivery_per_mille, &mut meta);
    b.order_for_delivery();
    let ext = if options.csv { "csv" } else { "jsonl" };
    let payments = dir.join(format!("payments.{ext}"));
    let entries = dir.join(format!("entries.{ext}"));
    b.write_lines(&payments, &entries, options.invalid_per_mille, &mut meta)?;
    meta.final_watermark = format_rfc3339(max_event);
    write_truth(dir, &truth, &meta)?;
    Ok(Generated {
        payments,
        entries,
        truth,
        meta,
    })
}

/// Writes `truth.jsonl` and, last (its presence says the data is complete), `truth-meta.json`.
fn write_truth(dir: &Path, truth: &[TruthLine], meta: &TruthMeta) -> std::io::Result<()> {
    let mut out = BufWriter::new(File::create(dir.join("truth.jsonl"))?);
    for line in truth {
        serde_json::to_writer(&mut out, line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    std::fs::write(
        dir.join("truth-meta.json"),
        serde_json::to_string_pretty(meta)?,
    )
}
