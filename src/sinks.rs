//! Writing a run's outputs: the result changelog and dead letters as JSON Lines, the summary as JSON.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::model::DeadLetter;
use crate::results::ChangelogLine;
use crate::runtime::Change;
use crate::summary::Summary;

fn create(path: &Path) -> std::io::Result<BufWriter<File>> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    Ok(BufWriter::with_capacity(1 << 20, File::create(path)?))
}

/// Writes the changelog, one [`ChangelogLine`] per change.
pub fn write_changelog(path: &Path, changelog: &[Change]) -> std::io::Result<()> {
    let mut out = create(path)?;
    for (row, time, diff) in changelog {
        serde_json::to_writer(&mut out, &ChangelogLine::new(row, *time, *diff as i64))?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Writes dead letters, one per line.
pub fn write_dead_letters(path: &Path, dead_letters: &[DeadLetter]) -> std::io::Result<()> {
    let mut out = create(path)?;
    for dead in dead_letters {
        serde_json::to_writer(&mut out, dead)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Writes the summary as pretty JSON.
pub fn write_summary(path: &Path, summary: &Summary) -> std::io::Result<()> {
    let mut out = create(path)?;
    serde_json::to_writer_pretty(&mut out, summary)?;
    out.write_all(b"\n")?;
    out.flush()
}
