//! Delivering a run's outputs as logical time completes: worker 0 gathers every worker's
//! result changes and dead letters, and once the pipeline frontier has passed a time, hands
//! that time's changes — consolidated and ordered — to an [`Output`]. Results therefore reach
//! the sinks as the watermark advances, and nothing is held after it is delivered.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use differential_dataflow::consolidation::consolidate_updates;
use trueup_operators::Violation;

use crate::model::name::{NameCollision, UnknownName};
use crate::model::results::{Change, Outcome};
use crate::model::summary::Tally;
use crate::model::time::Time;
use crate::model::{DeadLetter, Stream};
use crate::rules::Stage;
use crate::runtime::commit::{Committer, JournalQueues};
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

/// Worker 0's delivery state: the output, and running totals of what it was given.
pub(crate) struct Delivery<O> {
    pub output: O,
    pub tally: Tally,
    pub changes: u64,
    pub dead_letters: u64,
    pub redeliveries: BTreeMap<Stream, i64>,
    pub violations: Vec<(Violation<Stage>, Time)>,
    /// The frontier of the last drain: nothing new is complete until it moves.
    drained_to: Time,
    /// Times before this were delivered and committed by an earlier run: recomputed, counted,
    /// not delivered again.
    resume_from: Time,
    /// The audit store's committer, when there is a store.
    committer: Option<Committer>,
    /// The result rules' names, indexed by [`Outcome::rule`].
    rules: Vec<String>,
}

impl<O: Output> Delivery<O> {
    /// Delivers to `output`; with a committer, commits each delivery, and suppresses what an
    /// earlier run committed before `resume_from` (with `dead_letters` committed then);
    /// `rules` names the result rules by [`Outcome::rule`].
    pub fn new(
        output: O,
        committer: Option<Committer>,
        (resume_from, dead_letters): (Time, u64),
        rules: Vec<String>,
    ) -> Delivery<O> {
        Delivery {
            output,
            tally: Tally::default(),
            changes: 0,
            dead_letters,
            redeliveries: BTreeMap::new(),
            violations: Vec::new(),
            // nothing is delivered (or committed) until the frontier passes what was committed:
            // a commit never records a frontier behind an earlier one
            drained_to: resume_from,
            resume_from,
            committer,
            rules,
        }
    }

    /// Delivers everything captured at times before `frontier` — with a store, only when a
    /// commit is due or `force`d, committing it.
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
        let mut changes = self.rows(outcomes)?;
        changes.sort_by(|a, b| (a.1, a.2, &a.0).cmp(&(b.1, b.2, &b.0)));
        let mut dead = ready(&captures.dead_letters, frontier);
        sort_dead_letters(&mut dead);
        // what an earlier run committed is recomputed (and counted) but not delivered again
        dead.retain(|(_, time, _)| *time >= self.resume_from);
        for (row, _, diff) in &changes {
            self.tally.apply(row, *diff);
        }
        changes.retain(|(_, time, _)| *time >= self.resume_from);
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
        if settled {
            return Ok(()); // nothing new: no delivery, and no commit behind the last one
        }
        self.changes += changes.len() as u64;
        self.dead_letters += dead.len() as u64;
        let dead: Vec<DeadLetter> = dead.into_iter().map(|(d, _, _)| d).collect();
        if !changes.is_empty() || !dead.is_empty() {
            self.output.deliver(&dead, &changes)?;
        }
        if let Some(committer) = self.committer.as_mut() {
            self.output.sync()?;
            let lengths = self.output.lengths();
            committer
                .commit(frontier, &captures.journal, &changes, lengths)
                .map_err(std::io::Error::other)?;
            self.output.committed()?;
        }
        Ok(())
    }
}

impl<O> Delivery<O> {
    /// The rows of `outcomes`, as written.
    fn rows(&self, outcomes: Vec<(Outcome, Time, isize)>) -> std::io::Result<Vec<Change>> {
        outcomes
            .into_iter()
            .map(|(outcome, time, diff)| Ok((outcome.to_row(&self.rules)?, time, diff)))
            .collect::<Result<_, UnknownName>>()
            .map_err(std::io::Error::other)
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

/// Puts dead letters in delivery order: by time, then source, then position.
pub(crate) fn sort_dead_letters<T>(dead: &mut [(DeadLetter, Time, T)]) {
    dead.sort_by(|a, b| {
        (a.1, &a.0.source, position_key(&a.0.position)).cmp(&(
            b.1,
            &b.0.source,
            position_key(&b.0.position),
        ))
    });
}

/// Orders `file:line` positions by file, then numerically by line.
fn position_key(position: &str) -> (&str, u64) {
    match position.rsplit_once(':') {
        Some((file, line)) => (file, line.parse().unwrap_or(u64::MAX)),
        None => (position, 0),
    }
}
