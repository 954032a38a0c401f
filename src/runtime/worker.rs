//! One timely worker of a run: builds the reconciliation dataflow and two small helper
//! dataflows, reads its share of the sources round by round, advances its input time with the
//! watermark, and — on worker 0 — delivers and commits what is complete.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use differential_dataflow::input::{Input, InputSession};
use timely::dataflow::operators::core::{Exchange, Inspect, Probe};
use timely::dataflow::operators::vec::{Broadcast, Input as _};
use timely::dataflow::{InputHandleVec, ProbeHandle};

use crate::config::Config;
use crate::model::name::{NameCollision, NameHash, Names, NewNames};
use crate::model::rows::{EntryRow, PaymentRow, RecordRow};
use crate::model::time::{Millis, Tick, Time};
use crate::model::{DeadLetter, Record, Stream};
use crate::rules::{reconcile, Settings};
use crate::runtime::commit::{Journal, Journaled, SourcePosition, WorkerPosition};
use crate::runtime::control::{Control, RunError};
use crate::runtime::delivery::{Captured, Captures, Delivery};
use crate::runtime::progress::ProgressLine;
use crate::runtime::reading::{open_sources, Reading};
use crate::runtime::resume::WorkerResume;
use crate::sinks::Output;
use crate::sources::{dead_letter, Polled, Progress};
use crate::store::StoredInput;

/// How long a worker waiting for its peers (or the writer) parks at most between steps: parked,
/// it leaves the core to whoever has work; a message for it wakes it at once.
const WAIT: Duration = Duration::from_millis(1);

/// What one worker hands back when it ends.
pub(crate) struct WorkerOutput<O> {
    /// Worker 0's delivery (output, totals); `None` on the other workers.
    pub delivery: Option<Delivery<O>>,
    /// What all workers (of all processes) read.
    pub totals: Totals,
}

/// What the workers read, summed over all of them at the end of a run.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Totals {
    /// Accepted records per stream.
    pub accepted: Vec<(Stream, u64)>,
    /// Records that arrived late.
    pub late: u64,
    /// Blank and whitespace-only lines skipped.
    pub blank_lines: u64,
    /// The largest event time seen.
    pub max_event: Option<Millis>,
    /// Entries read on each of [`Config::match_accounts`], in its order.
    pub match_entries: Vec<u64>,
}

impl Totals {
    fn add(&mut self, other: &Totals) {
        for (stream, n) in &other.accepted {
            match self.accepted.iter_mut().find(|(s, _)| s == stream) {
                Some((_, total)) => *total += n,
                None => self.accepted.push((*stream, *n)),
            }
        }
        self.late += other.late;
        self.blank_lines += other.blank_lines;
        self.max_event = self.max_event.max(other.max_event);
        let longest = self.match_entries.len().max(other.match_entries.len());
        self.match_entries.resize(longest, 0);
        for (total, n) in self.match_entries.iter_mut().zip(&other.match_entries) {
            *total += n;
        }
    }
}

/// What a worker of a run shares with the others: the configuration, and the run's dictionary
/// of long names.
pub(crate) struct RunShared<'a> {
    /// The run's configuration.
    pub config: &'a Config,
    /// The run's long names (in a cluster: this process's).
    pub names: Arc<Names>,
}

/// Runs one worker of a run to the end of its input (or until `control` stops it).
pub(crate) fn run_worker<O: Output>(
    worker: &mut timely::worker::Worker,
    shared: &RunShared<'_>,
    delivery: Option<Delivery<O>>,
    control: &Control,
    resume: WorkerResume,
) -> Result<WorkerOutput<O>, RunError> {
    let result = work(worker, shared, delivery, control, resume);
    // failed or not: timely steps a worker's dataflows after it returns, and a failed
    // worker's would wait for its peers forever instead of letting the process end
    for dataflow in worker.installed_dataflows() {
        worker.drop_dataflow(dataflow);
    }
    result
}

fn work<O: Output>(
    worker: &mut timely::worker::Worker,
    shared: &RunShared<'_>,
    delivery: Option<Delivery<O>>,
    control: &Control,
    resume: WorkerResume,
) -> Result<WorkerOutput<O>, RunError> {
    let config = shared.config;
    let probe = ProbeHandle::new();
    let captures = Captures::for_peers(worker.peers());
    let mut inputs = build_reconciliation(worker, shared, &captures, &probe);
    let mut agreement = Agreement::build(worker);
    let mut pace = Pace::build(worker);
    let mut reader = Reader::open(config, worker.index(), worker.peers())?;
    reader.resume(resume, &mut inputs)?;
    let mut delivery = delivery;
    let mut worker_loop = Loop {
        worker,
        inputs: &mut inputs,
        delivery: &mut delivery,
        captures: &captures,
        probe: &probe,
    };
    worker_loop.read_until_done(&mut reader, &mut pace, control)?;
    reader.finish_tails(worker_loop.inputs)?;
    drop(pace);
    let totals = agreement.agree(worker_loop.worker, reader.totals(), control)?;
    worker_loop.complete(&mut reader, totals.max_event, control)?;
    Ok(WorkerOutput { delivery, totals })
}

/// Builds the standard reconciliation over this worker's inputs; its outputs (and the journal
/// of what the workers read) are gathered on worker 0 in `captures`, complete up to `probe`.
fn build_reconciliation(
    worker: &mut timely::worker::Worker,
    shared: &RunShared<'_>,
    captures: &Captures,
    probe: &ProbeHandle<Time>,
) -> Inputs {
    let config = shared.config;
    let tick = Tick(config.pipeline.tick_millis);
    let rules = config.rules.clone();
    let retention = config.retention.clone();
    let carrying: Vec<Stream> = (config.streams.iter())
        .filter(|s| !s.carry.is_empty())
        .filter_map(|s| Stream::parse(&s.name).ok())
        .collect();
    worker.dataflow::<Time, _, _>(|scope| {
        let (journal_in, journal) = scope.new_input::<Journaled>();
        let queues = captures.journal.clone();
        journal
            .exchange(|_| 0)
            .inspect(move |item: &Journaled| {
                queues.borrow_mut()[item.worker].add(item.clone());
            })
            .probe_with(probe);
        let (names_in, names) = scope.new_input::<(NameHash, String, Time)>();
        let collisions = captures.collisions.clone();
        let dictionary = shared.names.clone();
        names
            .exchange(|_| 0)
            .inspect(move |(hash, text, at): &(NameHash, String, Time)| {
                if let Err(collision) = dictionary.register(*hash, text, *at) {
                    collisions.borrow_mut().push(collision);
                }
            })
            .probe_with(probe);
        let (payments_in, payments) = scope.new_collection();
        let (entries_in, entries) = scope.new_collection();
        let (records_in, records) = scope.new_collection();
        let (dead_in, dead) = scope.new_collection::<DeadLetter, isize>();
        let settings = Settings {
            rules: &rules,
            tick,
            retention: retention.as_ref(),
            carrying: &carrying,
        };
        let rec = reconcile((payments, entries, records), &settings);
        collect_on_worker_zero(rec.results.inner, &captures.changes, probe);
        collect_on_worker_zero(rec.violations.inner, &captures.violations, probe);
        collect_on_worker_zero(rec.redeliveries.inner, &captures.redeliveries, probe);
        collect_on_worker_zero(dead.inner, &captures.dead_letters, probe);
        if let Some(live) = rec.live_names {
            collect_on_worker_zero(live.inner, &captures.live_names, probe);
        }
        Inputs {
            payments: payments_in,
            entries: entries_in,
            records: records_in,
            dead: dead_in,
            journal: journal_in,
            names: names_in,
            dictionary: shared.names.clone(),
            new_names: config.pipeline.cluster.as_ref().map(|_| Vec::new()),
        }
    })
}

/// A tiny dataflow on which the workers sum up what they read at the end, and agree on the
/// largest event time seen.
struct Agreement {
    input: InputHandleVec<u64, Totals>,
    probe: ProbeHandle<u64>,
    seen: Rc<RefCell<Totals>>,
}

impl Agreement {
    fn build(worker: &mut timely::worker::Worker) -> Agreement {
        let seen: Rc<RefCell<Totals>> = Rc::default();
        let probe = ProbeHandle::new();
        let input = worker.dataflow::<u64, _, _>(|scope| {
            let (input, stream) = scope.new_input::<Totals>();
            let seen = seen.clone();
            stream
                .broadcast()
                .inspect(move |t: &Totals| seen.borrow_mut().add(t))
                .probe_with(&probe);
            input
        });
        Agreement { input, probe, seen }
    }

    /// Sends this worker's `mine` and returns the sum over all workers (an error if one of
    /// them failed instead).
    fn agree(
        &mut self,
        worker: &mut timely::worker::Worker,
        mine: Totals,
        control: &Control,
    ) -> Result<Totals, RunError> {
        self.input.send(mine);
        self.input.advance_to(1);
        while self.probe.less_than(&1) {
            control.check_peers()?;
            worker.step_or_park(Some(WAIT)); // a worker done early waits for the others
        }
        Ok(self.seen.borrow().clone())
    }
}

/// A tiny dataflow on which each worker announces its input time as it advances: a worker with
/// no share of any source (fewer Kafka partitions than workers) keeps pace with the others.
struct Pace {
    input: InputHandleVec<u64, Time>,
    /// The latest input time any worker announced.
    latest: Rc<Cell<Time>>,
}

impl Pace {
    fn build(worker: &mut timely::worker::Worker) -> Pace {
        let latest: Rc<Cell<Time>> = Rc::default();
        let input = worker.dataflow::<u64, _, _>(|scope| {
            let (input, stream) = scope.new_input::<Time>();
            let latest = latest.clone();
            stream
                .broadcast()
                .inspect(move |t: &Time| latest.set(latest.get().max(*t)));
            input
        });
        Pace { input, latest }
    }

    fn announce(&mut self, time: Time) {
        self.input.send(time);
        self.input.flush();
    }
}

/// What one worker reads and where it stands: its sources, its counts, its input time.
struct Reader {
    tick: Tick,
    follow: bool,
    journaling: bool,
    index: usize,
    batch_size: usize,
    sources: Vec<Reading>,
    accepted: BTreeMap<Stream, u64>,
    /// Each match account, with the entries read on it (a misspelt one stays at 0).
    match_accounts: Vec<(String, u64)>,
    late: u64,
    input_time: Time,
    rounds: Rounds,
    polled: Vec<Polled>,
    /// Following, time advances at most this often: every advance makes the arrangements
    /// sort out which held updates (future aging and retirement times) are now due.
    advance_every: Duration,
    advanced: Instant,
}

impl Reader {
    fn open(config: &Config, index: usize, peers: usize) -> Result<Reader, RunError> {
        let follow = config.pipeline.follow;
        Ok(Reader {
            tick: Tick(config.pipeline.tick_millis),
            follow,
            journaling: config.store.is_some(),
            index,
            batch_size: config.pipeline.batch_size,
            sources: open_sources(config, index, peers)?,
            accepted: BTreeMap::new(),
            match_accounts: config
                .match_accounts()
                .into_iter()
                .map(|a| (a, 0))
                .collect(),
            late: 0,
            input_time: 0,
            rounds: Rounds {
                worker: index,
                round: 0,
                items: 0,
            },
            polled: Vec::new(),
            advance_every: Duration::from_millis(if follow { 10 } else { 0 }),
            advanced: Instant::now(),
        })
    }

    /// A restarted run: committed inputs again at their times, sources where they stood.
    fn resume(&mut self, resume: WorkerResume, inputs: &mut Inputs) -> Result<(), RunError> {
        if let Some(position) = &resume.position {
            self.rounds.round = position.round + 1;
            for (reading, at) in self.sources.iter_mut().zip(&position.sources) {
                let stored = serde_json::from_str(&at.position).unwrap_or_default();
                reading
                    .source
                    .resume(&stored)
                    .map_err(|e| RunError::Source {
                        path: reading.path.clone(),
                        source: e,
                    })?;
                reading.newest = at.newest;
            }
            self.input_time = position.input_time;
        }
        for input in resume.inputs {
            // accepted by the run that committed it, so its names were held apart then
            let stream = inputs.insert(&input.record, input.time)?;
            self.count(stream, &input.record);
            self.late += u64::from(input.late);
        }
        for (dead, time) in resume.dead_letters {
            inputs.dead.update_at(dead, time, 1);
        }
        inputs.advance_to(self.input_time);
        Ok(())
    }

    /// Counts an accepted record of `stream`, read now or replayed from the store: per
    /// stream, and per match account for entries.
    fn count(&mut self, stream: Stream, record: &Record) {
        *self.accepted.entry(stream).or_default() += 1;
        if let Record::Entry(entry) = record {
            let mut accounts = self.match_accounts.iter_mut();
            if let Some((_, n)) = accounts.find(|(a, _)| *a == entry.account) {
                *n += 1;
            }
        }
    }

    /// At a stop while following, takes each source's held-back tail (see
    /// [`Source::finish`](crate::sources::Source::finish)): nothing read is left unaccounted.
    fn finish_tails(&mut self, inputs: &mut Inputs) -> Result<(), RunError> {
        if !self.follow {
            return Ok(());
        }
        for i in 0..self.sources.len() {
            let reading = &mut self.sources[i];
            let mut polled = std::mem::take(&mut self.polled);
            reading
                .source
                .finish(&mut polled)
                .map_err(|e| RunError::Source {
                    path: reading.path.clone(),
                    source: e,
                })?;
            for item in polled.drain(..) {
                self.take(i, item, inputs)?;
            }
            self.polled = polled;
        }
        inputs.flush();
        Ok(())
    }

    /// Whether any source may still yield.
    fn reading(&self) -> bool {
        self.sources.iter().any(|s| !s.finished)
    }

    /// Polls every unfinished source once and hands what it yields to the dataflow; returns
    /// whether anything was read.
    fn read_round(&mut self, inputs: &mut Inputs, control: &Control) -> Result<bool, RunError> {
        let mut read_any = false;
        for i in 0..self.sources.len() {
            let reading = &mut self.sources[i];
            if reading.finished {
                continue;
            }
            let progress = reading
                .source
                .poll(self.batch_size, &mut self.polled)
                .map_err(|e| RunError::Source {
                    path: reading.path.clone(),
                    source: e,
                })?;
            reading.finished = progress == Progress::Exhausted;
            if !self.polled.is_empty() {
                read_any = true;
                reading.last_input = Instant::now();
                control
                    .lines_read
                    .fetch_add(self.polled.len() as u64, Ordering::Relaxed);
            }
            let mut polled = std::mem::take(&mut self.polled);
            for item in polled.drain(..) {
                self.take(i, item, inputs)?;
            }
            self.polled = polled;
        }
        Ok(read_any)
    }

    /// Hands one polled item of source `i` to the dataflow (and the journal): a record at its
    /// event time rounded up to the tick, or at the input time if it is late; a dead letter at
    /// the input time.
    fn take(&mut self, i: usize, item: Polled, inputs: &mut Inputs) -> Result<(), RunError> {
        let (record, position) = match item {
            Polled::Dead(dead) => {
                if self.journaling {
                    let journaled = self
                        .rounds
                        .item(Journal::Dead(dead.clone(), self.input_time));
                    inputs.journal.send(journaled);
                }
                inputs.dead.insert(dead);
                return Ok(());
            }
            Polled::Record(record, position) => (record, position),
        };
        let event_time = record.event_time();
        let on_time = self.tick.ceil(event_time);
        let (time, is_late) = (on_time.max(self.input_time), on_time < self.input_time);
        let stream = self.sources[i].source.stream();
        if let Err(collision) = inputs.insert(&record, time) {
            // two ids are never merged: the one that came second is refused, naming both
            let raw = serde_json::to_string(&record).unwrap_or_default();
            let reason = collision.to_string();
            let dead = dead_letter(stream, position.to_string(), reason, raw.as_bytes());
            return self.take(i, Polled::Dead(dead), inputs);
        }
        let reading = &mut self.sources[i];
        reading.newest = reading.newest.max(Some(event_time));
        self.late += u64::from(is_late);
        self.count(stream, &record);
        if self.journaling {
            inputs
                .journal
                .send(self.rounds.item(Journal::Input(StoredInput {
                    worker: self.index,
                    position: position.to_string(),
                    time,
                    late: is_late,
                    record,
                })));
        }
        Ok(())
    }

    /// The input time to advance to now, if any: the minimum watermark over sources still read
    /// and not idle (none until each has seen a record), floored to the tick — or, with no
    /// share of any source while following, the other workers' pace.
    fn next_time(&self, pace: Time) -> Option<Time> {
        let watermark = self
            .sources
            .iter()
            .filter_map(|s| s.watermark(self.follow))
            .min()
            .flatten();
        let paced = self.follow && self.sources.iter().all(|s| s.source.absent());
        let target = match paced {
            true => Some(pace),
            false => watermark.map(|w| self.tick.floor(w)),
        };
        target
            .filter(|_| self.advanced.elapsed() >= self.advance_every)
            .filter(|next| *next > self.input_time)
    }

    /// Ends the round: journals its marker, and advances the input time if it may move.
    fn advance(&mut self, read_any: bool, inputs: &mut Inputs, pace: &mut Pace) {
        let next = self.next_time(pace.latest.get());
        if self.journaling && (read_any || next.is_some()) {
            // the round's marker, at the round's time: it arrives after the round's inputs
            let marker = self
                .rounds
                .marker(next.unwrap_or(self.input_time), &self.sources);
            inputs.journal.send(marker);
        }
        if let Some(next) = next {
            self.advanced = Instant::now();
            self.input_time = next;
            inputs.advance_to(next);
            pace.announce(next);
        }
    }

    /// What this worker read, for the agreement at the end.
    fn totals(&self) -> Totals {
        Totals {
            accepted: self.accepted.iter().map(|(s, n)| (*s, *n)).collect(),
            late: self.late,
            blank_lines: self.sources.iter().map(|s| s.source.blank_lines()).sum(),
            max_event: self.sources.iter().filter_map(|s| s.newest).max(),
            match_entries: self.match_accounts.iter().map(|(_, n)| *n).collect(),
        }
    }
}

/// The parts of a worker the main loop drives.
struct Loop<'a, O> {
    worker: &'a mut timely::worker::Worker,
    inputs: &'a mut Inputs,
    delivery: &'a mut Option<Delivery<O>>,
    captures: &'a Captures,
    probe: &'a ProbeHandle<Time>,
}

impl<O: Output> Loop<'_, O> {
    /// Reads round after round until the input ends or a stop is requested, stepping the
    /// dataflow and delivering as it goes.
    fn read_until_done(
        &mut self,
        reader: &mut Reader,
        pace: &mut Pace,
        control: &Control,
    ) -> Result<(), RunError> {
        let mut reporter = self
            .delivery
            .as_ref()
            .map(|_| ProgressLine::new(Duration::from_secs(2)));
        while !control.stopping() && reader.reading() {
            let read_any = reader.read_round(self.inputs, control)?;
            reader.advance(read_any, self.inputs, pace);
            self.inputs.flush();
            if reader.follow && !read_any {
                // nothing new anywhere: work if there is work, else wait a little for the files
                self.worker.step_or_park(Some(Duration::from_millis(5)));
            } else {
                self.worker.step();
            }
            self.catch_up(reader.input_time)?;
            if self
                .delivery
                .as_ref()
                .is_some_and(|d| !d.violations.is_empty())
            {
                control.request_stop();
            }
            if let (Some(reporter), Some(delivery)) = (reporter.as_mut(), self.delivery.as_ref()) {
                let frontier = self
                    .probe
                    .with_frontier(|f| f.first().copied())
                    .filter(|t| *t > 0);
                let records = control.lines_read.load(Ordering::Relaxed);
                reporter.tick(records, frontier, delivery.open_breaks());
            }
        }
        if let Some(reporter) = reporter.as_mut() {
            reporter.finish();
        }
        Ok(())
    }

    /// Backpressure: lets the dataflow catch up with the input before reading more, so that
    /// input does not pile up at times it has yet to reach — for a bounded while, as the
    /// frontier also waits for the other workers, which may be past reading.
    fn catch_up(&mut self, input_time: Time) -> Result<(), RunError> {
        let started = Instant::now();
        while self.probe.less_than(&input_time) && started.elapsed() < Duration::from_millis(50) {
            // parked, not spinning, while waiting for other workers: the writer needs the core
            self.worker.step_or_park(Some(WAIT));
            self.deliver(None, false)?;
        }
        self.deliver(None, false)
    }

    /// Completes exactly the times up to the largest event time seen (`final_watermark`),
    /// rounded up to the tick, and delivers everything.
    fn complete(
        &mut self,
        reader: &mut Reader,
        final_watermark: Option<Millis>,
        control: &Control,
    ) -> Result<(), RunError> {
        let input_time = reader.input_time;
        let end = final_watermark
            .map_or(input_time, |w| reader.tick.ceil(w) + 1)
            .max(input_time);
        if reader.journaling {
            let marker = reader.rounds.marker(end, &reader.sources);
            self.inputs.journal.send(marker);
        }
        self.inputs.advance_to(end);
        self.inputs.flush();
        while self.probe.less_than(&end) {
            control.check_peers()?;
            self.worker.step_or_park(Some(WAIT));
            self.deliver(Some(end), false)?;
        }
        self.deliver(Some(end), true)
    }

    /// On worker 0, delivers what is complete: times before the probe's frontier (and before
    /// `end`, when given); `force` commits even if the commit interval has not passed.
    fn deliver(&mut self, end: Option<Time>, force: bool) -> Result<(), RunError> {
        let Some(delivery) = self.delivery.as_mut() else {
            return Ok(());
        };
        if let Some(collision) = self.captures.collisions.borrow_mut().pop() {
            return Err(RunError::Name(collision));
        }
        let frontier = self
            .probe
            .with_frontier(|f| f.first().copied().unwrap_or(Time::MAX));
        let upto = end.map_or(frontier, |end| frontier.min(end));
        delivery
            .drain(self.captures, upto, force)
            .map_err(RunError::Output)
    }
}

/// Routes `stream`'s updates to worker 0 and appends them to `sink` there; `probe` tells when
/// they are complete up to a time.
fn collect_on_worker_zero<D: timely::ExchangeData + Clone>(
    stream: timely::dataflow::StreamVec<'_, Time, (D, Time, isize)>,
    sink: &Captured<D>,
    probe: &ProbeHandle<Time>,
) {
    let sink = sink.clone();
    stream
        .exchange(|_| 0)
        .inspect(move |update: &(D, Time, isize)| {
            let mut sink = sink.borrow_mut();
            sink.entry(update.1).or_default().push(update.clone());
        })
        .probe_with(probe);
}

/// A worker's inputs to the dataflow, advanced and flushed together.
struct Inputs {
    payments: InputSession<Time, PaymentRow, isize>,
    entries: InputSession<Time, EntryRow, isize>,
    records: InputSession<Time, RecordRow, isize>,
    dead: InputSession<Time, DeadLetter, isize>,
    /// What the worker read, for the audit store (see [`crate::commit`]).
    journal: InputHandleVec<Time, Journaled>,
    /// Long names new to this process (with the time of the record that brought them), for
    /// worker 0 when it is in another process.
    names: InputHandleVec<Time, (NameHash, String, Time)>,
    /// The run's (this process's) dictionary of long names.
    dictionary: Arc<Names>,
    /// Where new long names are noted: only in a cluster of processes.
    new_names: NewNames,
}

impl Inputs {
    /// Hands `record` to the dataflow at `time`, in the dataflow's form; returns its stream.
    /// A long id whose hash another id of the run holds is refused (nothing is inserted).
    fn insert(&mut self, record: &Record, time: Time) -> Result<Stream, NameCollision> {
        let names = (&*self.dictionary, time);
        let inserted = match record {
            Record::Payment(p) => PaymentRow::of(p, names, &mut self.new_names)
                .map(|row| self.payments.update_at(row, time, 1))
                .map(|_| Stream::Payments),
            Record::Entry(e) => EntryRow::of(e, names, &mut self.new_names)
                .map(|row| self.entries.update_at(row, time, 1))
                .map(|_| Stream::Entries),
            Record::Declared(d) => RecordRow::of(d, names, &mut self.new_names)
                .map(|row| self.records.update_at(row, time, 1))
                .map(|_| d.stream),
        };
        // sent now, at the input's time or before it: worker 0 has every name a result at a
        // time refers to by the time that time completes
        if let Some(new) = self.new_names.as_mut() {
            for (hash, text) in new.drain(..) {
                self.names.send((hash, text, time));
            }
        }
        inserted
    }

    fn advance_to(&mut self, time: Time) {
        self.payments.advance_to(time);
        self.entries.advance_to(time);
        self.records.advance_to(time);
        self.dead.advance_to(time);
        self.journal.advance_to(time);
        self.names.advance_to(time);
    }

    fn flush(&mut self) {
        self.payments.flush();
        self.entries.flush();
        self.records.flush();
        self.dead.flush();
        self.journal.flush();
        self.names.flush();
    }
}

/// A worker's journal rounds: numbers them and counts the items each sends.
struct Rounds {
    worker: usize,
    round: u64,
    items: u64,
}

impl Rounds {
    /// An input or dead letter of the current round.
    fn item(&mut self, item: Journal) -> Journaled {
        self.items += 1;
        Journaled {
            worker: self.worker,
            round: self.round,
            item,
        }
    }

    /// The current round's marker: where the sources stand and the input time it advances
    /// to. The next round begins.
    fn marker(&mut self, input_time: Time, sources: &[Reading]) -> Journaled {
        let position = WorkerPosition {
            worker: self.worker,
            round: self.round,
            items: self.items,
            input_time,
            sources: sources
                .iter()
                .map(|s| SourcePosition {
                    position: s.source.position().to_string(),
                    newest: s.newest,
                })
                .collect(),
        };
        let marker = Journaled {
            worker: self.worker,
            round: self.round,
            item: Journal::Marker(position),
        };
        self.round += 1;
        self.items = 0;
        marker
    }
}
