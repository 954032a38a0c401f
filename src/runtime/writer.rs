//! The writer: a thread beside worker 0 that turns what completed into changelog rows, orders
//! and counts them, hands them to the output and commits them to the audit store — shipment
//! after shipment, in the order worker 0 sends them — while the workers go on computing.
//!
//! The order of effects is the one exactly-once rests on (see [`crate::runtime::commit`]):
//! a shipment is written, made durable, committed, and only then published by outputs that
//! publish what is committed. At most [`QUEUED`] shipments wait, so a slow output or store
//! holds the workers back instead of letting completed changes pile up.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::model::name::{Name, Names, UnknownName};
use crate::model::results::{Change, Outcome};
use crate::model::summary::Tally;
use crate::model::time::Time;
use crate::model::DeadLetter;
use crate::runtime::commit::Cut;
use crate::sinks::output::Output;
use crate::store::pipelined::Pipelined;
use crate::store::{Extent, Store, StoreError};

/// Shipments that may wait for the writer before worker 0 waits for it.
const QUEUED: usize = 2;

/// What worker 0 sends the writer: the changes and dead letters of the times before a frontier.
pub(crate) struct Shipment {
    /// The frontier: everything before it is complete.
    pub frontier: Time,
    /// The result changes, consolidated, in no particular order.
    pub outcomes: Vec<(Outcome, Time, isize)>,
    /// The dead letters, in no particular order.
    pub dead_letters: Vec<(DeadLetter, Time, isize)>,
    /// Long names no record in the working state holds from the given time on: forgotten once
    /// the results before it are written.
    pub released: Vec<(Name, Time)>,
    /// Nothing new since the last shipment: counted for the summary, not delivered or committed.
    pub settled: bool,
    /// With a store, the journal committed with the shipment.
    pub journal: Option<Cut>,
}

/// What the writer hands back at the end.
pub(crate) struct Written<O> {
    /// The output, for its summary.
    pub output: O,
    /// Counts of every change it was given (delivered now or by an earlier run).
    pub tally: Tally,
    /// Changes delivered.
    pub changes: u64,
    /// Dead letters delivered (with those an earlier run delivered).
    pub dead_letters: u64,
    /// The audit store, every batch shipped committed: the summary's digest is committed
    /// after it ([`Pipelined::commit_summary`]).
    pub store: Option<Pipelined>,
}

/// Where the writer starts from.
pub(crate) struct Start<O> {
    /// The output.
    pub output: O,
    /// The audit store, when there is one.
    pub store: Option<Store>,
    /// Times before this were delivered and committed by an earlier run: counted, not
    /// delivered again.
    pub resume_from: Time,
    /// Dead letters an earlier run delivered.
    pub dead_letters: u64,
    /// The result rules' names, indexed by [`Outcome::rule`].
    pub rules: Vec<String>,
    /// The run's long names, read back as results are written.
    pub names: Arc<Names>,
}

/// Worker 0's handle on the writer thread.
pub(crate) struct Writer<O> {
    sender: Option<SyncSender<Shipment>>,
    thread: Option<JoinHandle<std::io::Result<Written<O>>>>,
    open_breaks: Arc<AtomicI64>,
}

impl<O: Output> Writer<O> {
    /// Starts the writer thread.
    pub fn start(start: Start<O>) -> std::io::Result<Writer<O>> {
        let (sender, shipments) = sync_channel::<Shipment>(QUEUED);
        let open_breaks = Arc::new(AtomicI64::new(0));
        let mut state = State {
            written: Written {
                output: start.output,
                tally: Tally::default(),
                changes: 0,
                dead_letters: start.dead_letters,
                store: None,
            },
            store: start.store.map(Store::pipelined).transpose()?,
            resume_from: start.resume_from,
            rules: start.rules,
            names: start.names,
            open_breaks: open_breaks.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("trueup:writer".into())
            .spawn(move || {
                for shipment in shipments {
                    state.write(shipment)?;
                }
                // the last commits are appended before the run reports
                if let Some(store) = state.store.as_mut() {
                    store.wait().map_err(other)?;
                }
                state.written.store = state.store.take();
                Ok(state.written)
            })?;
        Ok(Writer {
            sender: Some(sender),
            thread: Some(thread),
            open_breaks,
        })
    }

    /// Sends a shipment; waits while [`QUEUED`] are waiting. When the writer has stopped
    /// (an output or the store failed), returns why.
    pub fn ship(&mut self, shipment: Shipment) -> std::io::Result<()> {
        let sent = self
            .sender
            .as_ref()
            .is_some_and(|s| s.send(shipment).is_ok());
        match sent {
            true => Ok(()),
            false => Err(self.join().err().unwrap_or_else(stopped)),
        }
    }

    /// The open breaks among what the writer has counted so far.
    pub fn open_breaks(&self) -> i64 {
        self.open_breaks.load(Ordering::Relaxed)
    }

    /// Waits until everything shipped is written and committed; returns what was written.
    pub fn finish(mut self) -> std::io::Result<Written<O>> {
        self.join()
    }

    fn join(&mut self) -> std::io::Result<Written<O>> {
        self.sender = None; // the writer ends once it has written what was sent
        let thread = self.thread.take().ok_or_else(stopped)?;
        thread
            .join()
            .map_err(|_| std::io::Error::other("the writer thread panicked"))?
    }
}

impl<O> Drop for Writer<O> {
    /// A run that ends early still lets the writer finish what it was sent, in order.
    fn drop(&mut self) {
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn other(error: StoreError) -> std::io::Error {
    std::io::Error::other(error)
}

fn stopped() -> std::io::Error {
    std::io::Error::other("the writer has stopped")
}

/// The writer thread's state.
struct State<O> {
    written: Written<O>,
    store: Option<Pipelined>,
    resume_from: Time,
    rules: Vec<String>,
    names: Arc<Names>,
    open_breaks: Arc<AtomicI64>,
}

impl<O: Output> State<O> {
    /// Orders, counts, delivers and (with a store) commits one shipment.
    fn write(&mut self, shipment: Shipment) -> std::io::Result<()> {
        let mut changes = self.rows(shipment.outcomes)?;
        // every change before the frontier has its names read back: those no record holds any
        // more may go
        for (name, at) in &shipment.released {
            self.names.release(name, *at);
        }
        // equal changes are identical: an unstable sort gives the same order
        changes.sort_unstable_by(|a, b| (a.1, a.2, &a.0).cmp(&(b.1, b.2, &b.0)));
        let mut dead = shipment.dead_letters;
        sort_dead_letters(&mut dead);
        // what an earlier run committed is recomputed (and counted) but not delivered again
        dead.retain(|(_, time, _)| *time >= self.resume_from);
        for (row, _, diff) in &changes {
            self.written.tally.apply(row, *diff);
        }
        self.open_breaks
            .store(self.written.tally.open_breaks(), Ordering::Relaxed);
        changes.retain(|(_, time, _)| *time >= self.resume_from);
        if shipment.settled {
            return Ok(()); // nothing new: no delivery, and no commit behind the last one
        }
        let written = &mut self.written;
        written.changes += changes.len() as u64;
        written.dead_letters += dead.len() as u64;
        let dead: Vec<DeadLetter> = dead.into_iter().map(|(d, _, _)| d).collect();
        if !changes.is_empty() || !dead.is_empty() {
            written.output.deliver(&dead, &changes)?;
        }
        if let (Some(store), Some(cut)) = (self.store.as_mut(), shipment.journal.as_ref()) {
            written.output.sync()?;
            let outputs = extents(&written.output);
            let batch = cut.batch(shipment.frontier, &changes, outputs);
            store.commit(&batch).map_err(other)?;
            if written.output.republishes() {
                // a topic publishes only what is committed: this commit, before the next delivery
                store.wait().map_err(other)?;
                written.output.committed()?;
            }
        }
        Ok(())
    }

    /// The rows of `outcomes`, as written.
    fn rows(&self, outcomes: Vec<(Outcome, Time, isize)>) -> std::io::Result<Vec<Change>> {
        outcomes
            .into_iter()
            .map(|(outcome, time, diff)| {
                Ok((outcome.to_row(&self.rules, &self.names)?, time, diff))
            })
            .collect::<Result<_, UnknownName>>()
            .map_err(std::io::Error::other)
    }
}

/// Where `output`'s results and dead letters stand, for a commit.
fn extents<O: Output>(output: &O) -> [Extent; 2] {
    let ((results, dead_letters), (results_sha256, dead_letters_sha256)) =
        (output.lengths(), output.digests());
    [
        Extent {
            length: results,
            sha256: results_sha256,
        },
        Extent {
            length: dead_letters,
            sha256: dead_letters_sha256,
        },
    ]
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
