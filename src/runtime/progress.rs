//! Periodic progress of a run: records in, the watermark (the pipeline frontier: results
//! before it are final), and open breaks — a live line on a terminal, a structured `tracing`
//! event otherwise.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::model::time::{format_rfc3339, Millis};

/// Reports progress at most once per interval (wall clock: this is for people, not results).
pub struct ProgressLine {
    every: Duration,
    last: Instant,
    terminal: bool,
    drawn: bool,
}

impl ProgressLine {
    /// A reporter that speaks every `every`, to a terminal if stderr is one.
    pub fn new(every: Duration) -> ProgressLine {
        ProgressLine {
            every,
            last: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    /// Reports if the interval has passed.
    pub fn tick(&mut self, records_in: u64, watermark: Option<Millis>, open_breaks: i64) {
        if self.last.elapsed() < self.every {
            return;
        }
        self.last = Instant::now();
        let watermark = watermark.map_or_else(|| "-".to_string(), format_rfc3339);
        if self.terminal {
            eprint!(
                "\r{records_in} records in · watermark {watermark} · {open_breaks} open breaks   "
            );
            self.drawn = true;
            let _ = std::io::stderr().flush();
        } else {
            // the target predates the runtime folder: log filters written for it keep working
            tracing::info!(target: "trueup::progress", records_in, %watermark, open_breaks, "progress");
        }
    }

    /// Ends the live line, if one was drawn.
    pub fn finish(&mut self) {
        if self.drawn {
            eprintln!();
        }
    }
}
