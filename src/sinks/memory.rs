//! The in-memory output: everything a run delivers, kept (tests, examples, small runs).

use crate::model::results::Change;
use crate::model::summary::Summary;
use crate::model::DeadLetter;
use crate::sinks::output::Output;

/// An [`Output`] that keeps everything in memory (tests, examples, small runs).
#[derive(Clone, Debug, Default)]
pub struct Collected {
    /// Every change, in delivery order.
    pub changelog: Vec<Change>,
    /// Every dead letter, in delivery order.
    pub dead_letters: Vec<DeadLetter>,
    /// The summary, once the run has finished.
    pub summary: Option<Summary>,
}

impl Output for Collected {
    fn deliver(&mut self, dead_letters: &[DeadLetter], changes: &[Change]) -> std::io::Result<()> {
        self.dead_letters.extend_from_slice(dead_letters);
        self.changelog.extend_from_slice(changes);
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> std::io::Result<String> {
        self.summary = Some(summary.clone());
        Ok(String::new())
    }
}
