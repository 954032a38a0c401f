//! The store as a two-stage pipeline: the caller prepares each batch — its rows and its hash,
//! chained to the previous batch's — and a thread of the store's own appends the batches to
//! the database in order, each in one transaction, while the caller goes on with the next.
//!
//! A batch counts as committed only once [`Pipelined::wait`] has returned after it: callers
//! that publish what is committed (topics) wait before they publish.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use super::{Batch, Chain, Db, Prepared, Store, StoreError};

/// Batches that may wait for the append thread before [`Pipelined::commit`] waits for it.
const QUEUED: usize = 1;

/// A [`Store`] whose appends run on their own thread. See the [module documentation](self).
pub struct Pipelined {
    /// The store's numbering and hash chain (its database is the thread's).
    chain: Chain,
    sender: Option<SyncSender<Prepared>>,
    appended: Receiver<Result<(), StoreError>>,
    thread: Option<JoinHandle<()>>,
    /// Batches sent and not yet reported appended.
    in_flight: usize,
}

impl Store {
    /// The store as a pipeline: batches are prepared by the caller and written by a thread of
    /// their own, in order, while the caller goes on (see [`Pipelined`]).
    pub fn pipelined(self) -> std::io::Result<Pipelined> {
        Pipelined::start(self)
    }
}

impl Pipelined {
    /// Moves the store's database to an append thread; the caller continues its history.
    fn start(store: Store) -> std::io::Result<Pipelined> {
        let Store {
            mut db,
            chain,
            head_log,
        } = store;
        let mut heads = head_log.map(|path| HeadLog::open(&path)).transpose()?;
        if let Some(heads) = heads.as_mut() {
            heads.catch_up(&mut db).map_err(std::io::Error::other)?;
        }
        let (sender, batches) = sync_channel::<Prepared>(QUEUED);
        let (report, appended) = channel();
        let thread = std::thread::Builder::new()
            .name("trueup:store".into())
            .spawn(move || {
                for prepared in batches {
                    let head = prepared.head();
                    let mut result = prepared.append(&mut db).map_err(StoreError::from);
                    if let (Ok(()), Some(heads)) = (&result, heads.as_mut()) {
                        result = heads.append(&head);
                    }
                    let failed = result.is_err();
                    if report.send(result).is_err() || failed {
                        return; // the first failure ends the pipeline: nothing after it lands
                    }
                }
            })?;
        Ok(Pipelined {
            chain,
            sender: Some(sender),
            appended,
            thread: Some(thread),
            in_flight: 0,
        })
    }

    /// Prepares `batch` and hands it to the append thread; waits only while another batch is
    /// already waiting. A failure of an earlier append is returned here, or by the next wait.
    pub fn commit(&mut self, batch: &Batch<'_>) -> Result<(), StoreError> {
        self.collect(false)?;
        let prepared = self.chain.prepare(batch);
        let sender = self.sender.as_ref().ok_or_else(ended)?;
        if sender.send(prepared).is_err() {
            return self.collect(true).and(Err(ended()));
        }
        self.in_flight += 1;
        Ok(())
    }

    /// Records `sha256`, the digest of the summary file just written, in a batch of no rows
    /// that repeats where the last batch left the sources and outputs, and waits until it is
    /// durable — unless the last batch recorded this digest already, or there is none.
    pub fn commit_summary(&mut self, sha256: &str) -> Result<(), StoreError> {
        if self.chain.batch == 0 || self.chain.summary_sha256 == sha256 {
            return Ok(());
        }
        self.chain.summary_sha256 = sha256.to_string();
        let last = self.chain.last.clone();
        self.commit(&Batch {
            frontier: last.frontier,
            positions: &last.positions,
            inputs: &[],
            changes: &[],
            dead_letters: &[],
            outputs: last.outputs,
        })?;
        self.wait()
    }

    /// Waits until every batch handed over is appended; returns the first failure.
    pub fn wait(&mut self) -> Result<(), StoreError> {
        self.collect(true)
    }

    /// Takes the append thread's reports — all that are due when `all`, else those already
    /// there — and returns the first failure.
    fn collect(&mut self, all: bool) -> Result<(), StoreError> {
        while self.in_flight > 0 {
            let report = match all {
                true => self.appended.recv().map_err(|_| ended())?,
                false => match self.appended.try_recv() {
                    Ok(report) => report,
                    Err(_) => return Ok(()),
                },
            };
            self.in_flight -= 1;
            report?;
        }
        Ok(())
    }
}

impl Drop for Pipelined {
    /// Lets the append thread finish the batches it was handed, in order.
    fn drop(&mut self) {
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The file each durable commit's head is appended to.
struct HeadLog {
    path: PathBuf,
    file: File,
}

impl HeadLog {
    fn open(path: &Path) -> std::io::Result<HeadLog> {
        let file = OpenOptions::new().create(true).append(true).open(path);
        let file =
            file.map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(HeadLog {
            path: path.to_owned(),
            file,
        })
    }

    /// Appends the heads of the committed batches the log lacks — those after its last line's
    /// batch: a commit made durable just before a crash, whose head never reached the log.
    /// Only a regular file is read back: a device (`/dev/full` reads as endless zeros) or a
    /// pipe is written to, never read.
    fn catch_up(&mut self, db: &mut Db) -> Result<(), StoreError> {
        let regular = std::fs::metadata(&self.path).is_ok_and(|m| m.is_file());
        if !regular {
            return Ok(());
        }
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let last = text.lines().rev().find(|l| !l.trim().is_empty());
        let logged = last
            .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .and_then(|head| head["batch"].as_i64())
            .unwrap_or(0);
        for commit in super::commits_after(db, logged)? {
            self.append(&super::head_line(&commit))?;
        }
        Ok(())
    }

    fn append(&mut self, line: &str) -> Result<(), StoreError> {
        self.file.write_all(line.as_bytes()).map_err(|e| {
            StoreError::Corrupt(format!("cannot append to {}: {e}", self.path.display()))
        })
    }
}

fn ended() -> StoreError {
    StoreError::Corrupt("the store's append thread has stopped".into())
}
