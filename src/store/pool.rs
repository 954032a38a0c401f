//! The connections `serve` answers from: read-only store connections, each on a thread of its
//! own (the backends' clients are blocking), taking requests from one queue. A request given up
//! — its client gone, or out of time — leaves the queue if it is still waiting, and has its
//! query cancelled if it is running, so abandoned requests cost nothing more.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::db::Canceller;
use super::{Store, StoreError};

/// A request for a connection.
type Job = Box<dyn FnOnce(&mut Store) + Send>;

/// Where a request stands.
enum Stage {
    Waiting,
    Running(Arc<Canceller>),
    Finished,
    GivenUp,
}

/// A request's stage, shared by the connection's thread and the one waiting for the answer.
struct Ticket(Mutex<Stage>);

impl Ticket {
    /// Marks the request as running on the connection `canceller` stops; false if it was
    /// given up while it waited.
    fn start(&self, canceller: &Arc<Canceller>) -> bool {
        let Ok(mut stage) = self.0.lock() else {
            return false;
        };
        if matches!(*stage, Stage::GivenUp) {
            return false;
        }
        *stage = Stage::Running(canceller.clone());
        true
    }

    fn finish(&self) {
        if let Ok(mut stage) = self.0.lock() {
            *stage = Stage::Finished;
        }
    }

    /// Gives the request up: dropped if it waits, its query cancelled if it runs.
    fn give_up(&self) {
        let Ok(mut stage) = self.0.lock() else {
            return;
        };
        if let Stage::Running(canceller) = &*stage {
            let canceller = canceller.clone();
            // PostgreSQL's cancel request is a round trip of its own: not on the caller's thread
            std::thread::spawn(move || canceller.cancel());
        }
        if !matches!(*stage, Stage::Finished) {
            *stage = Stage::GivenUp;
        }
    }
}

/// Gives its request up when dropped, unless it was answered.
struct Pending(Option<Arc<Ticket>>);

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(ticket) = self.0.take() {
            ticket.give_up();
        }
    }
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum Refused {
    /// The connections are gone (a store that failed to answer).
    Unavailable,
    /// The answer did not come in time; the query was cancelled.
    TimedOut(Duration),
}

/// Read-only connections to one store, answering requests in turn.
pub struct Pool {
    jobs: mpsc::Sender<(Job, Arc<Ticket>)>,
}

impl Pool {
    /// Opens `size` (at least one) read-only connections to the store at `url`, each on a
    /// thread named `name`; fails if one cannot open.
    pub fn open(url: &str, size: usize, name: &str) -> Result<Pool, StoreError> {
        let (jobs, inbox) = mpsc::channel::<(Job, Arc<Ticket>)>();
        let inbox = Arc::new(Mutex::new(inbox));
        let (opened, open) = mpsc::channel();
        for _ in 0..size.max(1) {
            let (url, inbox, opened) = (url.to_string(), inbox.clone(), opened.clone());
            let thread = std::thread::Builder::new().name(name.to_string());
            let spawned = thread.spawn(move || match Store::open_read_only(&url) {
                Ok(store) => {
                    let _ = opened.send(Ok(()));
                    answer(store, &inbox);
                }
                Err(e) => {
                    let _ = opened.send(Err(e));
                }
            });
            spawned.map_err(|e| StoreError::Corrupt(format!("cannot start a connection: {e}")))?;
        }
        drop(opened);
        for _ in 0..size.max(1) {
            open.recv()
                .map_err(|_| StoreError::Corrupt("a connection thread ended".into()))??;
        }
        Ok(Pool { jobs })
    }

    /// Runs `ask` on the next free connection and waits at most `timeout` for its answer.
    /// Dropped before the answer (its client went away), the request is given up.
    pub async fn ask<T: Send + 'static>(
        &self,
        ask: impl FnOnce(&mut Store) -> T + Send + 'static,
        timeout: Duration,
    ) -> Result<T, Refused> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |store| {
            let _ = tx.send(ask(store));
        });
        let ticket = Arc::new(Ticket(Mutex::new(Stage::Waiting)));
        self.jobs
            .send((job, ticket.clone()))
            .map_err(|_| Refused::Unavailable)?;
        let mut pending = Pending(Some(ticket));
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => {
                pending.0 = None;
                Ok(answer)
            }
            Ok(Err(_)) => Err(Refused::Unavailable),
            Err(_) => Err(Refused::TimedOut(timeout)),
        }
    }
}

/// A connection's thread: takes requests from `inbox` until the pool is gone.
fn answer(mut store: Store, inbox: &Mutex<mpsc::Receiver<(Job, Arc<Ticket>)>>) {
    let canceller = Arc::new(store.canceller());
    loop {
        let next = inbox.lock().ok().and_then(|jobs| jobs.recv().ok());
        let Some((job, ticket)) = next else {
            return;
        };
        if ticket.start(&canceller) {
            job(&mut store);
            ticket.finish();
        }
    }
}
