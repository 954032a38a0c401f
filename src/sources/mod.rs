//! Input sources: where records come from and how each line becomes a record or a dead letter.
//!
//! A [`Source`] yields [`Polled`] items in batches. Each worker of a pipeline owns one
//! instance per configured source and takes its share of the input (for files: every
//! `peers`-th record, so parsing is spread over all workers).

pub mod canonical;
pub mod fields;
pub mod file;
pub mod kafka;
pub mod object;
pub mod parse;
pub mod roles;

use crate::model::time::{format_rfc3339, Millis, HOUR};
use crate::model::{DeadLetter, Record, Stream};

/// Largest accepted input line (or CSV row), in bytes: 1 MiB.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Longest `raw` kept in a dead letter, in bytes.
pub const MAX_RAW_BYTES: usize = MAX_LINE_BYTES;

/// Where a record was read: the source's name (a file name) and the line (or offset) in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// The file name, or `topic/partition`.
    pub source: std::sync::Arc<str>,
    /// The line number from 1, or the message's offset.
    pub index: u64,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.source, self.index)
    }
}

/// One input item: an accepted record or a dead letter.
#[derive(Clone, Debug)]
pub enum Polled {
    /// A valid record, and where it was read.
    Record(Record, Position),
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
    /// Where the next poll starts, as the source itself describes it (a file: byte offset,
    /// line and record count); [`resume`](Source::resume) takes it back after a restart.
    fn position(&self) -> serde_json::Value;
    /// Continues from a [`position`](Source::position) taken by an earlier run: the next poll
    /// yields exactly what it would have yielded then.
    fn resume(&mut self, position: &serde_json::Value) -> std::io::Result<()>;
    /// Whether this worker has no share of the source at all (a Kafka topic with fewer
    /// partitions than workers): it then has no say in the watermark, and a worker with no
    /// share of any source keeps pace with the others.
    fn absent(&self) -> bool {
        false
    }

    /// Blank and whitespace-only lines this source skipped (SPEC §2: counted, not dead
    /// letters), since the start of the input, across restarts.
    fn blank_lines(&self) -> u64 {
        0
    }

    /// At a stop while following: appends what the source holds back waiting for more (a
    /// file's last line without its newline), read as the end of the input reads it — a
    /// complete record accepted, an incomplete one a dead letter.
    fn finish(&mut self, _out: &mut Vec<Polled>) -> std::io::Result<()> {
        Ok(())
    }
}

/// Why an input of `length` bytes (`what`: "line", "message") is refused as too long, if it is.
pub fn too_long(what: &str, length: usize) -> Option<String> {
    (length > MAX_LINE_BYTES).then(|| format!("{what} is {length} bytes, over the 1 MiB limit"))
}

/// An input's bytes as text, or why they are not (`what`: "line", "message").
pub fn text<'a>(what: &str, bytes: &'a [u8]) -> Result<&'a str, String> {
    std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "{what} is not valid UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        )
    })
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

/// How far ahead of the wall clock an event may be dated. The limit moves with the clock,
/// refreshed once per poll rather than per record.
#[derive(Clone, Copy, Debug)]
pub struct Horizon {
    ahead: Millis,
    limit: Millis,
}

/// The widest allowance a configuration may give, for sources not told otherwise.
impl Default for Horizon {
    fn default() -> Horizon {
        Horizon::hours(crate::config::MAX_FUTURE_HOURS)
    }
}

impl Horizon {
    /// Events may be dated up to `hours` ahead of the wall clock.
    pub fn hours(hours: u64) -> Horizon {
        let mut horizon = Horizon {
            ahead: hours.saturating_mul(HOUR),
            limit: 0,
        };
        horizon.refresh();
        horizon
    }

    /// Moves the limit to the wall clock now plus the allowance.
    pub fn refresh(&mut self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as Millis);
        self.limit = now.saturating_add(self.ahead);
    }

    /// `record`, or why its event time is refused.
    pub fn admit(&self, record: Record) -> Result<Record, String> {
        let at = record.event_time();
        if at <= self.limit {
            return Ok(record);
        }
        Err(format!(
            "event time {} is more than {} hours ahead of the wall clock ({}); see \
             pipeline.max_future_hours",
            format_rfc3339(at),
            self.ahead / HOUR,
            format_rfc3339(self.limit - self.ahead),
        ))
    }
}
