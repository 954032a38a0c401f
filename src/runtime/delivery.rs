//! Delivering a run's outputs as logical time completes: worker 0 gathers every worker's
//! result changes and dead letters, and once the pipeline frontier has passed a time, ships
//! that time's changes, consolidated, to the [writer](crate::runtime::writer), which orders
//! them and hands them to an [`Output`]. Results therefore reach the sinks as the watermark
//! advances, and nothing is held after it is delivered.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use differential_dataflow::consolidation::consolidate_updates;
use trueup_operators::Violation;

use crate::model::name::{Name, NameCollision};
use crate::model::results::Outcome;
use crate::model::time::Time;
use crate::model::{DeadLetter, Stream};
use crate::rules::Stage;
use crate::runtime::commit::{Committer, JournalQueues};
use crate::runtime::writer::{Shipment, Start, Writer, Written};
use crate::sinks::output::Output;

/// Updates gathered on worker 0 by their time, not yet complete (some far ahead: scheduled
/// aging moves arrive as soon as they are known).
pub(crate) type Captured<D> = Rc<RefCell<BTreeMap<Time, Vec<(D, Time, isize)>>>>;

/// What the dataflow sends to worker 0.
#[derive(Default)]
pub(crate) struct Captures {
    pub changes: Captured<Outcome>,
    pub violations: Captured<Violation<Stage>>,
    pub redeliveries: Captured<Stream>,
    pub dead_letters: Captured<DeadLetter>,
    /// With retention: the long names the working state holds (retracted when it no longer
    /// does).
    pub live_names: Captured<Name>,
    pub journal: JournalQueues,
    /// Long names another process registered that clash with one registered here.
    pub collisions: Rc<RefCell<Vec<NameCollision>>>,
}

impl Captures {
    /// Empty captures, with a journal queue for each of `peers` workers.
    pub fn for_peers(peers: usize) -> Captures {
        Captures {
            journal: Rc::new(RefCell::new(
                (0..peers).map(|_| Default::default()).collect(),
            )),
            ..Captures::default()
        }
    }
}

/// Worker 0's delivery state: the writer it ships completed times to, and what it keeps
/// itself — redeliveries and conservation violations, which decide whether the run goes on.
pub(crate) struct Delivery<O> {
    writer: Writer<O>,
    pub redeliveries: BTreeMap<Stream, i64>,
    pub violations: Vec<(Violation<Stage>, Time)>,
    /// The frontier of the last drain: nothing new is complete until it moves.
    drained_to: Time,
    /// Cuts the journal for each commit, when there is a store.
    committer: Option<Committer>,
}

impl<O: Output> Delivery<O> {
    /// Delivers to `start.output` through a writer thread; with a store, commits each
    /// delivery, and suppresses what an earlier run committed before `start.resume_from`.
    pub fn new(start: Start<O>, committer: Option<Committer>) -> std::io::Result<Delivery<O>> {
        Ok(Delivery {
            // nothing is delivered (or committed) until the frontier passes what was committed:
            // a commit never records a frontier behind an earlier one
            drained_to: start.resume_from,
            writer: Writer::start(start)?,
            redeliveries: BTreeMap::new(),
            violations: Vec::new(),
            committer,
        })
    }

    /// Ships everything captured at times before `frontier` to the writer — with a store, only
    /// when a commit is due or `force`d, to be committed.
    pub fn drain(
        &mut self,
        captures: &Captures,
        frontier: Time,
        force: bool,
    ) -> std::io::Result<()> {
        // settled: everything before the frontier was delivered (or committed by an earlier
        // run); forced (at the end), what was recomputed is still counted for the summary
        let settled = frontier <= self.drained_to;
        if settled && !force {
            return Ok(());
        }
        if !force && self.committer.as_ref().is_some_and(|c| !c.due()) {
            return Ok(());
        }
        self.drained_to = self.drained_to.max(frontier);
        let mut outcomes = ready(&captures.changes, frontier);
        consolidate_updates(&mut outcomes);
        for (stream, _, diff) in ready(&captures.redeliveries, frontier) {
            *self.redeliveries.entry(stream).or_default() += diff as i64;
        }
        let violations = ready(&captures.violations, frontier);
        self.violations.extend(
            violations
                .into_iter()
                .filter(|(_, _, diff)| *diff > 0)
                .map(|(v, t, _)| (v, t)),
        );
        let journal = match (&mut self.committer, settled) {
            (Some(committer), false) => Some(committer.cut(&captures.journal)),
            _ => None,
        };
        let dead_letters = ready(&captures.dead_letters, frontier);
        let released = (ready(&captures.live_names, frontier).into_iter())
            .filter(|(_, _, diff)| *diff < 0)
            .map(|(name, time, _)| (name, time))
            .collect::<Vec<_>>();
        if outcomes.is_empty()
            && dead_letters.is_empty()
            && journal.is_none()
            && released.is_empty()
        {
            return Ok(()); // nothing to write, count, commit or release
        }
        self.writer.ship(Shipment {
            frontier,
            outcomes,
            dead_letters,
            released,
            settled,
            journal,
        })
    }

    /// The open breaks among the changes written so far.
    pub fn open_breaks(&self) -> i64 {
        self.writer.open_breaks()
    }

    /// Waits for the writer to write and commit everything shipped; returns what it wrote.
    pub fn finish(self) -> std::io::Result<Written<O>> {
        self.writer.finish()
    }
}

/// Takes the updates at times before `frontier` out of `captured`.
fn ready<D>(captured: &Captured<D>, frontier: Time) -> Vec<(D, Time, isize)> {
    let mut all = captured.borrow_mut();
    let pending = all.split_off(&frontier);
    std::mem::replace(&mut *all, pending)
        .into_values()
        .flatten()
        .collect()
}
