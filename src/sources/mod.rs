//! Input sources: where records come from and how each line becomes a record or a dead letter.
//!
//! A [`Source`] yields [`Polled`] items in batches. Each worker of a pipeline owns one
//! instance per configured source and takes its share of the input (for files: every
//! `peers`-th record, so parsing is spread over all workers).

pub mod file;
pub mod parse;

use crate::model::{DeadLetter, Record, Stream};

/// Largest accepted input line (or CSV row), in bytes: 1 MiB.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Longest `raw` kept in a dead letter, in bytes.
pub const MAX_RAW_BYTES: usize = 4096;

/// One input item: an accepted record or a dead letter.
#[derive(Clone, Debug)]
pub enum Polled {
    /// A valid record.
    Record(Record),
    /// A rejected line.
    Dead(DeadLetter),
}

/// Whether a source may yield more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// More input may follow (possibly nothing yet: a followed file at its current end).
    More,
    /// The input is finished.
    Exhausted,
}

/// A source of records for one stream.
pub trait Source {
    /// The stream this source feeds.
    fn stream(&self) -> Stream;
    /// Appends up to about `max` items to `out` (this worker's share of them).
    fn poll(&mut self, max: usize, out: &mut Vec<Polled>) -> std::io::Result<Progress>;
}

/// Builds a dead letter, keeping at most [`MAX_RAW_BYTES`] of the raw input.
pub fn dead_letter(stream: Stream, position: String, reason: String, raw: &[u8]) -> DeadLetter {
    let cut = raw.len().min(MAX_RAW_BYTES);
    let mut raw_text = String::from_utf8_lossy(&raw[..cut]).into_owned();
    if cut < raw.len() {
        raw_text.push('…');
    }
    DeadLetter {
        source: stream.name().to_string(),
        position,
        reason,
        raw: raw_text,
    }
}
