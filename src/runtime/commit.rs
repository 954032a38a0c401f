//! Exactly-once commits to the audit store.
//!
//! Every worker journals what it reads — each accepted input with its position and logical
//! time, each dead letter, and at the end of each read round a *marker*: where its sources
//! stand, the input time it advances to, and how many items the round journaled — sending the
//! marker at the same timely time as the round's items, before it advances. Items carry their
//! round number; worker 0 takes a round as complete once its marker and all its items have
//! arrived (timely does not promise that they arrive in the order they were sent).
//!
//! Worker 0 commits as the frontier advances (at most every `commit_interval_millis`): the
//! result changes before the frontier, and, per worker, the inputs and dead letters up to its
//! latest complete round together with that round's marker. A restarted run replays the committed
//! inputs at their committed times (and the committed dead letters not yet delivered),
//! resumes every source at its marker, and suppresses what it recomputes before the
//! committed frontier. Input times are a function of what each worker
//! read from each position, so the recomputation is the same one, and nothing is emitted
//! twice or lost. Why the committed frontier is covered: an input at logical time `t` was
//! journaled at a timely time ≤ `t`, with its round's marker; once the frontier passes `t`,
//! that marker has arrived.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::model::results::Change;
use crate::model::time::Millis;
use crate::model::time::Time;
use crate::model::DeadLetter;
use crate::store::{Batch, Extent, StoredInput};

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
    /// The round's number (from 0, continued across restarts).
    pub round: u64,
    /// Items (inputs and dead letters) the round journaled.
    pub items: u64,
    /// The input time it advances to after the round.
    pub input_time: Time,
    /// Its sources, in configuration order.
    pub sources: Vec<SourcePosition>,
}

/// One journal item.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Journal {
    /// An accepted input.
    Input(StoredInput),
    /// A rejected line, with the logical time it was read at.
    Dead(DeadLetter, Time),
    /// The end of a read round.
    Marker(WorkerPosition),
}

/// A journal item as sent to worker 0: the worker that read it and the round it belongs to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Journaled {
    /// The worker.
    pub worker: usize,
    /// The read round.
    pub round: u64,
    /// The item.
    pub item: Journal,
}

/// The inputs and dead letters of one read round that have arrived on worker 0.
#[derive(Default)]
struct Round {
    inputs: Vec<StoredInput>,
    dead_letters: Vec<(DeadLetter, Time)>,
}

/// What has arrived on worker 0 from one worker and is not committed yet.
#[derive(Default)]
pub(crate) struct Arrived {
    rounds: BTreeMap<u64, Round>,
    markers: BTreeMap<u64, WorkerPosition>,
}

impl Arrived {
    /// Files an item under its round.
    pub fn add(&mut self, journaled: Journaled) {
        let round = journaled.round;
        match journaled.item {
            Journal::Marker(position) => {
                self.markers.insert(round, position);
            }
            Journal::Input(input) => self.rounds.entry(round).or_default().inputs.push(input),
            Journal::Dead(dead, time) => {
                let round = self.rounds.entry(round).or_default();
                round.dead_letters.push((dead, time));
            }
        }
    }
}

/// Journal items as they arrived on worker 0, one entry per worker.
pub(crate) type JournalQueues = Rc<RefCell<Vec<Arrived>>>;

/// Worker 0's side of committing: the last committed positions and the pace of commits. The
/// store itself is the [writer](crate::runtime::writer)'s, which commits what this cuts.
pub(crate) struct Committer {
    positions: Vec<Option<WorkerPosition>>,
    every: Duration,
    last: Instant,
}

/// The journal to commit with a delivery: each worker's complete rounds since the last commit,
/// and where every worker then stands.
pub(crate) struct Cut {
    /// The accepted inputs of those rounds.
    pub inputs: Vec<StoredInput>,
    /// Their dead letters, with the times they were read at.
    pub dead_letters: Vec<(DeadLetter, Time)>,
    /// Every worker's position after its last complete round (JSON text).
    pub positions: String,
}

impl Committer {
    /// A committer resuming from `positions` (one per worker, `None` before a worker's first
    /// commit), committing at most `every`.
    pub fn new(positions: Vec<Option<WorkerPosition>>, every: Duration) -> Self {
        Committer {
            positions,
            every,
            last: Instant::now(),
        }
    }

    /// Whether enough time has passed since the last commit.
    pub fn due(&self) -> bool {
        self.last.elapsed() >= self.every
    }

    /// Takes each worker's journal up to its latest arrived marker, for the next commit.
    pub fn cut(&mut self, journal: &JournalQueues) -> Cut {
        let mut inputs = Vec::new();
        let mut dead_letters = Vec::new();
        for (worker, arrived) in journal.borrow_mut().iter_mut().enumerate() {
            // the rounds after the last committed one, in order, while complete
            loop {
                let next = self.positions[worker].as_ref().map_or(0, |p| p.round + 1);
                let Some(marker) = arrived.markers.get(&next) else {
                    break;
                };
                let count = arrived
                    .rounds
                    .get(&next)
                    .map_or(0, |r| r.inputs.len() + r.dead_letters.len());
                if count as u64 != marker.items {
                    break;
                }
                let round = arrived.rounds.remove(&next).unwrap_or_default();
                inputs.extend(round.inputs);
                dead_letters.extend(round.dead_letters);
                self.positions[worker] = arrived.markers.remove(&next);
            }
        }
        self.last = Instant::now();
        Cut {
            inputs,
            dead_letters,
            positions: serde_json::to_string(&self.positions).unwrap_or_default(),
        }
    }
}

impl Cut {
    /// The batch that commits this cut with the frontier, the changes before it and where the
    /// outputs (results, dead letters) stand.
    pub fn batch<'a>(
        &'a self,
        frontier: Time,
        changes: &'a [Change],
        outputs: [Extent; 2],
    ) -> Batch<'a> {
        Batch {
            frontier,
            positions: &self.positions,
            inputs: &self.inputs,
            changes,
            dead_letters: &self.dead_letters,
            outputs,
        }
    }
}
