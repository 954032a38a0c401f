//! The interface between the runtime and the outputs: what a sink is given as logical time
//! completes, and what the audit store holds of it at the last commit.

use crate::model::results::Change;
use crate::model::summary::Summary;
use crate::model::DeadLetter;

/// Where a run's outputs go, one completed stretch of logical time after another.
pub trait Output: Send + 'static {
    /// Receives the dead letters and result changes of the times just completed: changes
    /// consolidated and ordered by time, then retractions before assertions, then row; dead
    /// letters ordered by time, then source and position.
    fn deliver(&mut self, dead_letters: &[DeadLetter], changes: &[Change]) -> std::io::Result<()>;
    /// Receives the summary at the end of the run; returns the SHA-256 (hex) of the summary
    /// file it wrote, recorded by the audit store (empty when it wrote none).
    fn finish(&mut self, summary: &Summary) -> std::io::Result<String>;
    /// Called once before any delivery with what the audit store holds of the outputs at its
    /// last commit — their lengths, zero for a new run: anything past them was never committed
    /// and is delivered again (see [`Committed`]). Outputs without lengths ignore it.
    fn start(&mut self, _committed: &Committed) -> std::io::Result<()> {
        Ok(())
    }
    /// Makes everything delivered so far durable; called before each commit.
    fn sync(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    /// Called once each commit is durable, on outputs that [republish](Output::republishes):
    /// they publish only what is committed (topics), and send what they were given since the
    /// last commit. (Other outputs are not told: their commits are written while they go on.)
    fn committed(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    /// Whether [`Output::start`] needs what the last commit delivered
    /// ([`Committed::republish`]) to publish it again if it was lost.
    fn republishes(&self) -> bool {
        false
    }
    /// The lengths of the outputs (results, dead letters) after the last delivery, recorded
    /// with each commit: bytes for files, messages for topics.
    fn lengths(&self) -> (u64, u64) {
        (0, 0)
    }
    /// SHA-256 digests (hex) of the outputs' content up to [`Output::lengths`], recorded with
    /// each commit for `verify`: files only, and only with a store; empty otherwise.
    fn digests(&self) -> (String, String) {
        (String::new(), String::new())
    }
}

/// The outputs as of the audit store's last commit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Committed {
    /// The store's run id (none without a store): outputs that cannot be cut back (topics) mark
    /// what they write with it, to find what an interrupted attempt of the same run wrote.
    pub run: Option<String>,
    /// The result changelog's committed length (bytes for files, messages for topics).
    pub results: u64,
    /// The dead letters' committed length.
    pub dead_letters: u64,
    /// The SHA-256 digests (hex) of the results' and the dead letters' committed content, as
    /// the last commit recorded them (empty for outputs that are not files, or no commit).
    pub digests: [String; 2],
    /// For outputs that [republish](Output::republishes): what the last commit delivered, and
    /// the lengths before it.
    pub republish: Republish,
}

/// What the last commit delivered: the outputs' lengths before it, its result changes and its
/// dead letters, in delivery order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Republish {
    /// The result changelog's length before the last commit.
    pub results_from: u64,
    /// The dead letters' length before the last commit.
    pub dead_letters_from: u64,
    /// The result changes of the last commit.
    pub changes: Vec<Change>,
    /// The dead letters of the last commit.
    pub dead_letters: Vec<DeadLetter>,
}
