//! Exactly-once commits to the audit store.
//!
//! Every worker journals what it reads — each accepted input with its position and logical
//! time, and at the end of each read round a *marker*: where its sources stand and the input
//! time it advances to — sending the marker at the same timely time as the round's inputs,
//! before it advances. The journal goes to worker 0 over one channel per worker, so a marker
//! arrives after everything its worker read before it.
//!
//! Worker 0 commits as the frontier advances (at most every `commit_interval_millis`): the
//! result changes before the frontier, and, per worker, the inputs and dead letters up to its
//! latest arrived marker together with that marker. A restarted run replays the committed
//! inputs at their committed times (and the committed dead letters not yet delivered),
//! resumes every source at its marker, and suppresses what it recomputes before the
//! committed frontier. Input times are a function of what each worker
//! read from each position, so the recomputation is the same one, and nothing is emitted
//! twice or lost. Why the committed frontier is covered: an input at logical time `t` was
//! journaled at a timely time ≤ `t`, with its round's marker; once the frontier passes `t`,
//! that marker has arrived.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::delivery::Change;
use crate::event_time::Millis;
use crate::model::DeadLetter;
use crate::rules::Time;
use crate::store::{Batch, Store, StoreError, StoredInput};

/// Where one source of one worker stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePosition {
    /// The source's own description of where it resumes (JSON text).
    pub position: String,
    /// The newest event time it has yielded.
    pub newest: Option<Millis>,
}

/// Where one worker stands after a read round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerPosition {
    /// The worker.
    pub worker: usize,
    /// The input time it advances to after the round.
    pub input_time: Time,
    /// Its sources, in configuration order.
    pub sources: Vec<SourcePosition>,
}

/// One journal item, sent by the worker that read it to worker 0.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Journal {
    /// An accepted input.
    Input(StoredInput),
    /// A rejected line, with the worker that read it and the logical time it was read at.
    Dead(usize, DeadLetter, Time),
    /// The end of a read round.
    Marker(WorkerPosition),
}

/// Journal items as they arrived on worker 0, one queue per worker.
pub(crate) type JournalQueues = Rc<RefCell<Vec<VecDeque<Journal>>>>;

/// Worker 0's side: the store, the last committed positions, the pace of commits.
pub(crate) struct Committer {
    store: Store,
    positions: Vec<Option<WorkerPosition>>,
    every: Duration,
    last: Instant,
}

impl Committer {
    /// A committer over `store`, resuming from `positions` (one per worker, `None` before a
    /// worker's first commit).
    pub fn new(store: Store, positions: Vec<Option<WorkerPosition>>, every: Duration) -> Self {
        Committer {
            store,
            positions,
            every,
            last: Instant::now(),
        }
    }

    /// Whether enough time has passed since the last commit.
    pub fn due(&self) -> bool {
        self.last.elapsed() >= self.every
    }

    /// Commits the frontier, the changes and dead letters before it, and each worker's
    /// journal up to its latest arrived marker.
    pub fn commit(
        &mut self,
        frontier: Time,
        journal: &JournalQueues,
        changes: &[Change],
        bytes: (u64, u64),
    ) -> Result<(), StoreError> {
        let mut inputs = Vec::new();
        let mut dead_letters = Vec::new();
        for queue in journal.borrow_mut().iter_mut() {
            let Some(last_marker) = queue.iter().rposition(|j| matches!(j, Journal::Marker(_)))
            else {
                continue;
            };
            for item in queue.drain(..=last_marker) {
                match item {
                    Journal::Input(input) => inputs.push(input),
                    Journal::Dead(_, dead, time) => dead_letters.push((dead, time)),
                    Journal::Marker(position) => {
                        let worker = position.worker;
                        self.positions[worker] = Some(position);
                    }
                }
            }
        }
        let positions = serde_json::to_string(&self.positions).unwrap_or_default();
        self.store.commit(&Batch {
            frontier,
            positions,
            inputs: &inputs,
            changes,
            dead_letters: &dead_letters,
            results_bytes: bytes.0,
            dead_letters_bytes: bytes.1,
        })?;
        self.last = Instant::now();
        Ok(())
    }
}
