//! Runs a configured pipeline on timely workers: reads the sources, assigns logical times
//! from event times and watermarks, drives the dataflow, and collects its outputs.
//!
//! Time: each record enters at its event time rounded up to the tick — or, when that is
//! already behind the worker's input time (the record is *late*), at the input time; it is
//! counted, never dropped. Each source's watermark is its newest event time minus its allowed
//! lateness; a worker advances its input to the minimum over sources still being read
//! (finished ones no longer hold time back), and the pipeline's frontier is the minimum over
//! workers. At the end of finite input the workers agree on the largest event time seen, and
//! the pipeline completes exactly the logical times up to it (rounded up to the tick): groups
//! whose `due_at` lies beyond stay `pending`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use differential_dataflow::input::{Input, InputSession};
use timely::dataflow::operators::core::{Exchange, Inspect, Probe};
use timely::dataflow::operators::vec::{Broadcast, Input as _};
use timely::dataflow::{InputHandleVec, ProbeHandle};
use trueup_operators::Violation;

use crate::commit::{Committer, Journal, Journaled, SourcePosition, WorkerPosition};
use crate::compaction::compact_when_behind;
use crate::config::Config;
use crate::delivery::{
    Captured, Captures, Change, Collected, Committed, Delivery, Output, Republish,
};
use crate::event_time::{Millis, Tick};
use crate::model::{DeadLetter, Entry, Payment, Record, Stream};
use crate::progress::ProgressLine;
use crate::rules::{reconcile, stage_names, Settings, Stage, Time};
use crate::sources::file::{FileSource, Format};
use crate::sources::kafka::KafkaSource;
use crate::sources::{Polled, Progress, Source};
use crate::store::{Store, StoreError, StoredInput};
use crate::summary::Summary;

/// Counters of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Accepted records per stream (before deduplication).
    pub accepted: BTreeMap<Stream, u64>,
    /// Records that arrived behind the watermark and were processed at the current time.
    pub late: u64,
    /// Identical redeliveries absorbed, per stream.
    pub redeliveries: BTreeMap<Stream, i64>,
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// Counters.
    pub counters: Counters,
    /// The final watermark: the largest event time seen (`None` with no accepted record).
    pub final_watermark: Option<Millis>,
    /// The summary of the final state.
    pub summary: Summary,
    /// Result changes delivered.
    pub changes: u64,
    /// Dead letters delivered.
    pub dead_letters: u64,
}

/// Everything a finished run produced, kept in memory (see [`run_collect`]).
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// The result changelog, ordered by time, then retractions before assertions, then row.
    pub changelog: Vec<Change>,
    /// Rejected lines, ordered by the time they were read, then source and position.
    pub dead_letters: Vec<DeadLetter>,
    /// Counters.
    pub counters: Counters,
    /// The final watermark: the largest event time seen (`None` with no accepted record).
    pub final_watermark: Option<Millis>,
    /// The summary of the final state.
    pub summary: Summary,
}

/// Steers a running pipeline from outside: a stop request, and a count of what it has read.
#[derive(Clone, Debug, Default)]
pub struct Control {
    /// Set to end the run: the workers stop reading, complete the times up to the largest
    /// event time seen, deliver, and return (what SIGINT and SIGTERM do).
    pub stop: Arc<AtomicBool>,
    /// Input lines taken so far (accepted and dead), summed over workers.
    pub lines_read: Arc<AtomicU64>,
}

impl Control {
    /// Asks the run to stop.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was requested.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A source could not be read.
    #[error("cannot read {path}")]
    Source {
        /// The input file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The dataflow lost or created records: a bug, never bad input.
    #[error("conservation check failed: {}", describe(.0))]
    Conservation(Vec<LostOrCreated>),
    /// A worker thread failed.
    #[error("worker failed: {0}")]
    Worker(String),
    /// An output could not be written.
    #[error("cannot write the outputs")]
    Output(#[source] std::io::Error),
    /// The audit store could not be opened or read.
    #[error("audit store: {0}")]
    Store(#[from] StoreError),
}

/// A conservation violation, spelled out: the stage, the currency and what is unaccounted for.
#[derive(Clone, Debug)]
pub struct LostOrCreated {
    /// The stage's name (`payments accepted`, `dedupe`, a rule's name).
    pub stage: String,
    /// The currency (`*` for `dedupe`).
    pub currency: String,
    /// The logical time at which the residual was non-zero.
    pub time: Time,
    /// The violation: positive when records were lost, negative when created.
    pub violation: Violation<Stage>,
}

fn describe(violations: &[LostOrCreated]) -> String {
    violations
        .iter()
        .map(|v| {
            format!(
                "stage {} {} at {}: {} records / {} unaccounted for",
                v.stage,
                v.currency,
                crate::event_time::format_rfc3339(v.time),
                v.violation.count,
                v.violation.amount
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What one worker hands back when it ends.
struct WorkerOutput<O> {
    /// Worker 0's delivery (output, totals); `None` on the other workers.
    delivery: Option<Delivery<O>>,
    /// What all workers (of all processes) read.
    totals: Totals,
}

/// What the workers read, summed over all of them at the end of a run.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct Totals {
    /// Accepted records per stream.
    accepted: Vec<(Stream, u64)>,
    /// Records that arrived late.
    late: u64,
    /// The largest event time seen.
    max_event: Option<Millis>,
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
        self.max_event = self.max_event.max(other.max_event);
    }
}

/// Runs `config` and delivers its outputs to `output` as logical time completes; returns when
/// the input is finished (or, when following, when `control` asks it to stop).
pub fn run<O: Output>(
    config: &Config,
    output: O,
    control: &Control,
) -> Result<(RunReport, O), RunError> {
    let names = stage_names(&config.rules);
    let config = config.clone();
    let mut output = output;
    let (committer, resume) = open_store(&config, &mut output)?;
    let (resume_from, dead_committed) = (resume.frontier, resume.dead_letters);
    let resumes = Mutex::new(resume.workers);
    let output = Arc::new(Mutex::new(Some((output, committer))));
    let kept = output.clone();
    let worker_control = control.clone();
    let mut timely_config = timely_config(&config);
    if config.pipeline.follow {
        compact_when_behind(&mut timely_config.worker);
    }
    let guards = timely::execute(timely_config, move |worker| {
        let output = (worker.index() == 0)
            .then(|| output.lock().ok().and_then(|mut o| o.take()))
            .flatten();
        let resume = resumes
            .lock()
            .ok()
            .and_then(|mut r| r.get_mut(worker.index()).map(std::mem::take))
            .unwrap_or_default();
        let delivery = output.map(|(output, committer)| {
            Delivery::new(output, committer, resume_from, dead_committed)
        });
        let result = run_worker(worker, &config, delivery, &worker_control, resume);
        if result.is_err() {
            // let the other workers wind down rather than wait for this one
            worker_control.request_stop();
        }
        result
    })
    .map_err(RunError::Worker)?;
    let mut totals = Totals::default();
    let mut delivery = None;
    for result in guards.join() {
        let part = result.map_err(RunError::Worker)??;
        totals = part.totals; // the same on every worker
        delivery = delivery.or(part.delivery);
    }
    let mut counters = Counters {
        accepted: totals.accepted.into_iter().collect(),
        late: totals.late,
        ..Counters::default()
    };
    let final_watermark = totals.max_event;
    let Some(mut delivery) = delivery else {
        // a process other than the first: process 0 delivers, counts and summarizes
        let summary = crate::summary::Tally::default().summary(&counters, 0, final_watermark);
        let report = RunReport {
            counters,
            final_watermark,
            summary,
            changes: 0,
            dead_letters: 0,
        };
        let output = kept
            .lock()
            .ok()
            .and_then(|mut o| o.take())
            .map(|(output, _)| output);
        let output = output.ok_or_else(|| RunError::Worker("the output was lost".into()))?;
        return Ok((report, output));
    };
    if !delivery.violations.is_empty() {
        return Err(RunError::Conservation(spell_out(
            std::mem::take(&mut delivery.violations),
            &names,
        )));
    }
    counters.redeliveries = std::mem::take(&mut delivery.redeliveries);
    let summary = delivery
        .tally
        .summary(&counters, delivery.dead_letters, final_watermark);
    delivery.output.finish(&summary).map_err(RunError::Output)?;
    let report = RunReport {
        counters,
        final_watermark,
        summary,
        changes: delivery.changes,
        dead_letters: delivery.dead_letters,
    };
    Ok((report, delivery.output))
}

/// Timely's configuration: this process's workers, and the other processes of a cluster.
fn timely_config(config: &Config) -> timely::Config {
    let workers = config.pipeline.workers;
    match &config.pipeline.cluster {
        None => timely::Config::process(workers),
        Some(cluster) => timely::Config {
            communication: timely::CommunicationConfig::Cluster {
                threads: workers,
                process: cluster.process,
                addresses: cluster.hosts.clone(),
                report: false,
                zerocopy: false,
            },
            worker: timely::WorkerConfig::default(),
        },
    }
}

/// Runs `config` over its (finite) inputs and keeps everything it produced in memory.
pub fn run_collect(config: &Config) -> Result<RunOutput, RunError> {
    run_collect_until(config, &Control::default())
}

/// As [`run_collect`], until the input ends or `control` stops the run (when following).
pub fn run_collect_until(config: &Config, control: &Control) -> Result<RunOutput, RunError> {
    let (report, collected) = run(config, Collected::default(), control)?;
    Ok(RunOutput {
        changelog: collected.changelog,
        dead_letters: collected.dead_letters,
        counters: report.counters,
        final_watermark: report.final_watermark,
        summary: report.summary,
    })
}

fn spell_out(
    mut violations: Vec<(Violation<Stage>, Time)>,
    names: &[String],
) -> Vec<LostOrCreated> {
    violations.sort_by_key(|(v, time)| (*time, v.scope));
    violations
        .into_iter()
        .map(|(violation, time)| LostOrCreated {
            stage: names
                .get(violation.scope.0 as usize)
                .cloned()
                .unwrap_or_default(),
            currency: violation
                .scope
                .1
                .map_or("*".to_string(), |c| c.code().to_string()),
            time,
            violation,
        })
        .collect()
}

/// Where a run resumes from: the committed frontier and dead-letter count, and per worker
/// its committed position and inputs (all empty for a new run).
#[derive(Default)]
struct Resume {
    frontier: Time,
    dead_letters: u64,
    workers: Vec<WorkerResume>,
}

/// One worker's part of a [`Resume`].
#[derive(Default)]
struct WorkerResume {
    position: Option<WorkerPosition>,
    inputs: Vec<StoredInput>,
    /// Committed dead letters not yet delivered (given to worker 0).
    dead_letters: Vec<(DeadLetter, Time)>,
}

/// Opens the configured store (if any) and what to resume from it; starts `output` at the
/// committed lengths. A process other than the first only reads what to resume from.
fn open_store<O: Output>(
    config: &Config,
    output: &mut O,
) -> Result<(Option<Committer>, Resume), RunError> {
    let workers = config.pipeline.total_workers();
    let writes = config.pipeline.writes_outputs();
    let mut resume = Resume {
        workers: (0..workers).map(|_| WorkerResume::default()).collect(),
        ..Resume::default()
    };
    let mut committed = Committed::default();
    let store = match &config.store {
        None => None,
        Some(store_config) if writes => {
            let mut store = Store::open(&store_config.url)?;
            store.bind(&config.fingerprint())?;
            committed.run = Some(store.run_id()?);
            Some(store)
        }
        // processes start together: the first commits only once all are running
        Some(store_config) => Store::peek(&store_config.url)?,
    };
    let (Some(mut store), Some(store_config)) = (store, &config.store) else {
        if writes {
            output.start(&committed).map_err(RunError::Output)?;
        }
        return Ok((None, resume));
    };
    let mut positions = vec![None; workers];
    if let Some(checkpoint) = store.checkpoint()? {
        positions = serde_json::from_str(&checkpoint.positions)
            .map_err(|e| StoreError::Corrupt(format!("commit positions: {e}")))?;
        if positions.len() != workers {
            return Err(StoreError::OtherRun("another worker count".into()).into());
        }
        resume.frontier = checkpoint.frontier;
        resume.dead_letters = checkpoint.dead_letters;
        committed.results = checkpoint.results_bytes;
        committed.dead_letters = checkpoint.dead_letters_bytes;
        for input in store.inputs()? {
            if let Some(part) = resume.workers.get_mut(input.worker) {
                part.inputs.push(input);
            }
        }
        resume.workers[0].dead_letters = store.undelivered_dead_letters(checkpoint.frontier)?;
        for (part, position) in resume.workers.iter_mut().zip(&positions) {
            part.position = position.clone();
        }
        tracing::info!(
            batch = checkpoint.batch,
            frontier = %crate::event_time::format_rfc3339(checkpoint.frontier),
            "resuming from the audit store"
        );
    }
    if !writes {
        return Ok((None, resume));
    }
    if output.republishes() {
        let (from, results_from, dead_letters_from) = store.commit_before_last()?;
        let mut dead: Vec<(DeadLetter, Time, ())> = store
            .dead_letters_between(from, resume.frontier)?
            .into_iter()
            .map(|(d, t)| (d, t, ()))
            .collect();
        crate::delivery::sort_dead_letters(&mut dead);
        committed.republish = Republish {
            results_from,
            dead_letters_from,
            changes: store.changes_after(results_from)?,
            dead_letters: dead.into_iter().map(|(d, _, _)| d).collect(),
        };
    }
    output.start(&committed).map_err(RunError::Output)?;
    let every = Duration::from_millis(store_config.commit_interval_millis);
    Ok((Some(Committer::new(store, positions, every)), resume))
}

/// One source as a worker reads it.
struct Reading {
    source: Box<dyn Source>,
    path: String,
    /// Allowed lateness in milliseconds.
    lateness: Millis,
    /// How long without input before the source stops holding the watermark back.
    idle_after: Duration,
    /// The newest event time seen on this worker's share.
    newest: Option<Millis>,
    /// When the source last yielded anything.
    last_input: Instant,
    finished: bool,
}

impl Reading {
    /// Newest event time less the allowed lateness (`Some(None)` before any record); `None`
    /// when the source has no say: finished, idle, or with no share on this worker.
    fn watermark(&self, follow: bool) -> Option<Option<Millis>> {
        if self.finished
            || self.source.absent()
            || (follow && self.last_input.elapsed() >= self.idle_after)
        {
            return None;
        }
        Some(self.newest.map(|n| n.saturating_sub(self.lateness)))
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

fn open_sources(config: &Config, index: usize, peers: usize) -> Result<Vec<Reading>, RunError> {
    config
        .sources
        .iter()
        .map(|source| {
            let (path, opened) = open_source(config, source, index, peers);
            let opened = opened.map_err(|e| RunError::Source {
                path: path.clone(),
                source: e,
            })?;
            Ok(Reading {
                source: opened,
                path,
                lateness: source.allowed_lateness_seconds * 1000,
                idle_after: Duration::from_secs(source.idle_timeout_seconds),
                newest: None,
                last_input: Instant::now(),
                finished: false,
            })
        })
        .collect()
}

/// Opens one source for worker `index` of `peers`: its name (a path or topic), and the source.
fn open_source(
    config: &Config,
    source: &crate::config::SourceConfig,
    index: usize,
    peers: usize,
) -> (String, std::io::Result<Box<dyn Source>>) {
    let follow = config.pipeline.follow;
    match (&source.path, &source.topic, &config.kafka) {
        (Some(path), _, _) => {
            let format = source.format.unwrap_or_else(|| Format::from_path(path));
            let opened = FileSource::open(source.stream, path, format, index, peers)
                .map(|f| Box::new(f.following(follow)) as Box<dyn Source>);
            (path.display().to_string(), opened)
        }
        (None, Some(topic), Some(kafka)) => {
            let opened = KafkaSource::open(source.stream, topic, kafka, index, peers, follow)
                .map(|k| Box::new(k) as Box<dyn Source>);
            (topic.clone(), opened)
        }
        _ => (
            String::new(),
            Err(std::io::Error::other(
                "a source needs a path, or a topic and [kafka]",
            )),
        ),
    }
}

fn run_worker<O: Output>(
    worker: &mut timely::worker::Worker,
    config: &Config,
    delivery: Option<Delivery<O>>,
    control: &Control,
    resume: WorkerResume,
) -> Result<WorkerOutput<O>, RunError> {
    let tick = Tick(config.pipeline.tick_millis);
    let follow = config.pipeline.follow;
    let journaling = config.store.is_some();
    let index = worker.index();
    let probe = ProbeHandle::new();
    let captures = Captures {
        journal: Rc::new(RefCell::new(
            (0..worker.peers()).map(|_| Default::default()).collect(),
        )),
        ..Captures::default()
    };

    let rules = config.rules.clone();
    let retention = config.retention.clone();
    let mut inputs = worker.dataflow::<Time, _, _>(|scope| {
        let (journal_in, journal) = scope.new_input::<Journaled>();
        let queues = captures.journal.clone();
        journal
            .exchange(|_| 0)
            .inspect(move |item: &Journaled| {
                queues.borrow_mut()[item.worker].add(item.clone());
            })
            .probe_with(&probe);
        let (payments_in, payments) = scope.new_collection();
        let (entries_in, entries) = scope.new_collection();
        let (dead_in, dead) = scope.new_collection::<DeadLetter, isize>();
        let settings = Settings {
            rules: &rules,
            tick,
            retention: retention.as_ref(),
        };
        let rec = reconcile(payments, entries, &settings);
        collect_on_worker_zero(rec.results.inner, &captures.changes, &probe);
        collect_on_worker_zero(rec.violations.inner, &captures.violations, &probe);
        collect_on_worker_zero(rec.redeliveries.inner, &captures.redeliveries, &probe);
        collect_on_worker_zero(dead.inner, &captures.dead_letters, &probe);
        Inputs {
            payments: payments_in,
            entries: entries_in,
            dead: dead_in,
            journal: journal_in,
        }
    });

    // A second, tiny dataflow on which the workers sum up what they read at the end, and agree
    // on the largest event time seen.
    let global: Rc<RefCell<Totals>> = Rc::default();
    let totals_probe = ProbeHandle::new();
    let mut totals_input = worker.dataflow::<u64, _, _>(|scope| {
        let (input, stream) = scope.new_input::<Totals>();
        let seen = global.clone();
        stream
            .broadcast()
            .inspect(move |t: &Totals| seen.borrow_mut().add(t))
            .probe_with(&totals_probe);
        input
    });
    // A third, on which each worker announces its input time as it advances: a worker with no
    // share of any source (fewer Kafka partitions than workers) keeps pace with the others.
    let pace: Rc<Cell<Time>> = Rc::default();
    let mut pace_input = worker.dataflow::<u64, _, _>(|scope| {
        let (input, stream) = scope.new_input::<Time>();
        let pace = pace.clone();
        stream
            .broadcast()
            .inspect(move |t: &Time| pace.set(pace.get().max(*t)));
        input
    });

    let mut sources = open_sources(config, index, worker.peers())?;
    let mut delivery = delivery;
    let mut accepted: BTreeMap<Stream, u64> = BTreeMap::new();
    let mut late = 0;
    let mut input_time: Time = 0;
    let mut rounds = Rounds {
        worker: index,
        round: resume.position.as_ref().map_or(0, |p| p.round + 1),
        items: 0,
    };
    // a restarted run: committed inputs again at their times, sources where they stood
    if let Some(position) = &resume.position {
        for (reading, at) in sources.iter_mut().zip(&position.sources) {
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
        input_time = position.input_time;
    }
    for input in resume.inputs {
        let stream = match input.record {
            Record::Payment(p) => {
                inputs.payments.update_at(p, input.time, 1);
                Stream::Payments
            }
            Record::Entry(e) => {
                inputs.entries.update_at(e, input.time, 1);
                Stream::Entries
            }
        };
        *accepted.entry(stream).or_default() += 1;
        late += u64::from(input.late);
    }
    for (dead, time) in resume.dead_letters {
        inputs.dead.update_at(dead, time, 1);
    }
    inputs.advance_to(input_time);
    // following, time advances at most this often: every advance makes the arrangements
    // sort out which held updates (future aging and retirement times) are now due
    let advance_every = Duration::from_millis(if follow { 100 } else { 0 });
    let mut advanced = Instant::now();
    let mut reporter = delivery
        .as_ref()
        .map(|_| ProgressLine::new(Duration::from_secs(2)));
    let mut polled = Vec::new();
    while !control.stopping() && sources.iter().any(|s| !s.finished) {
        let mut read_any = false;
        for reading in sources.iter_mut().filter(|s| !s.finished) {
            let progress = reading
                .source
                .poll(config.pipeline.batch_size, &mut polled)
                .map_err(|e| RunError::Source {
                    path: reading.path.clone(),
                    source: e,
                })?;
            reading.finished = progress == Progress::Exhausted;
            if !polled.is_empty() {
                read_any = true;
                reading.last_input = Instant::now();
                control
                    .lines_read
                    .fetch_add(polled.len() as u64, Ordering::Relaxed);
            }
            for item in polled.drain(..) {
                let (record, position) = match item {
                    Polled::Dead(dead) => {
                        if journaling {
                            inputs
                                .journal
                                .send(rounds.item(Journal::Dead(dead.clone(), input_time)));
                        }
                        inputs.dead.insert(dead);
                        continue;
                    }
                    Polled::Record(record, position) => (record, position),
                };
                let event_time = record.event_time();
                reading.newest = reading.newest.max(Some(event_time));
                let mut time = tick.ceil(event_time);
                let is_late = time < input_time;
                if is_late {
                    time = input_time;
                    late += 1;
                }
                *accepted.entry(reading.source.stream()).or_default() += 1;
                if journaling {
                    inputs.journal.send(rounds.item(Journal::Input(StoredInput {
                        worker: index,
                        position: position.to_string(),
                        time,
                        late: is_late,
                        record: record.clone(),
                    })));
                }
                match record {
                    Record::Payment(p) => inputs.payments.update_at(p, time, 1),
                    Record::Entry(e) => inputs.entries.update_at(e, time, 1),
                }
            }
        }
        // the minimum over sources still read and not idle; none until each has seen a record
        let watermark = sources
            .iter()
            .filter_map(|s| s.watermark(follow))
            .min()
            .flatten();
        let paced = follow && sources.iter().all(|s| s.source.absent());
        let target = match paced {
            true => Some(pace.get()),
            false => watermark.map(|w| tick.floor(w)),
        };
        let next = target
            .filter(|_| advanced.elapsed() >= advance_every)
            .filter(|next| *next > input_time);
        if journaling && (read_any || next.is_some()) {
            // the round's marker, at the round's time: it arrives after the round's inputs
            inputs
                .journal
                .send(rounds.marker(next.unwrap_or(input_time), &sources));
        }
        if let Some(next) = next {
            advanced = Instant::now();
            input_time = next;
            inputs.advance_to(input_time);
            pace_input.send(input_time);
            pace_input.flush();
        }
        inputs.flush();
        if follow && !read_any {
            // nothing new anywhere: work if there is work, else wait a little for the files
            worker.step_or_park(Some(Duration::from_millis(5)));
        } else {
            worker.step();
        }
        // backpressure: let the dataflow catch up with the input before reading more, so
        // that input does not pile up at times it has yet to reach — for a bounded while, as
        // the frontier also waits for the other workers, which may be past reading
        let catch_up = Instant::now();
        while probe.less_than(&input_time) && catch_up.elapsed() < Duration::from_millis(50) {
            worker.step();
            deliver(&mut delivery, &captures, &probe, None, false)?;
        }
        deliver(&mut delivery, &captures, &probe, None, false)?;
        if delivery.as_ref().is_some_and(|d| !d.violations.is_empty()) {
            control.request_stop();
        }
        if let (Some(reporter), Some(delivery)) = (reporter.as_mut(), delivery.as_ref()) {
            let frontier = probe
                .with_frontier(|f| f.first().copied())
                .filter(|t| *t > 0);
            let records = control.lines_read.load(Ordering::Relaxed);
            reporter.tick(records, frontier, delivery.tally.open_breaks());
        }
    }
    if let Some(reporter) = reporter.as_mut() {
        reporter.finish();
    }

    drop(pace_input);
    totals_input.send(Totals {
        accepted: accepted.into_iter().collect(),
        late,
        max_event: sources.iter().filter_map(|s| s.newest).max(),
    });
    totals_input.advance_to(1);
    worker.step_while(|| totals_probe.less_than(&1));
    let totals = global.borrow().clone();
    let final_watermark = totals.max_event;

    // complete exactly the times up to the largest event time seen, rounded up to the tick
    let end = final_watermark
        .map_or(input_time, |w| tick.ceil(w) + 1)
        .max(input_time);
    if journaling {
        inputs.journal.send(rounds.marker(end, &sources));
    }
    inputs.advance_to(end);
    inputs.flush();
    while probe.less_than(&end) {
        worker.step();
        deliver(&mut delivery, &captures, &probe, Some(end), false)?;
    }
    deliver(&mut delivery, &captures, &probe, Some(end), true)?;
    for dataflow in worker.installed_dataflows() {
        worker.drop_dataflow(dataflow);
    }
    Ok(WorkerOutput { delivery, totals })
}

/// A worker's inputs to the dataflow, advanced and flushed together.
struct Inputs {
    payments: InputSession<Time, Payment, isize>,
    entries: InputSession<Time, Entry, isize>,
    dead: InputSession<Time, DeadLetter, isize>,
    /// What the worker read, for the audit store (see [`crate::commit`]).
    journal: InputHandleVec<Time, Journaled>,
}

impl Inputs {
    fn advance_to(&mut self, time: Time) {
        self.payments.advance_to(time);
        self.entries.advance_to(time);
        self.dead.advance_to(time);
        self.journal.advance_to(time);
    }

    fn flush(&mut self) {
        self.payments.flush();
        self.entries.flush();
        self.dead.flush();
        self.journal.flush();
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

/// On worker 0, delivers what is complete: times before the probe's frontier (and before
/// `end`, when given); `force` commits even if the commit interval has not passed.
fn deliver<O: Output>(
    delivery: &mut Option<Delivery<O>>,
    captures: &Captures,
    probe: &ProbeHandle<Time>,
    end: Option<Time>,
    force: bool,
) -> Result<(), RunError> {
    let Some(delivery) = delivery.as_mut() else {
        return Ok(());
    };
    let frontier = probe.with_frontier(|f| f.first().copied().unwrap_or(Time::MAX));
    let upto = end.map_or(frontier, |end| frontier.min(end));
    delivery
        .drain(captures, upto, force)
        .map_err(RunError::Output)
}
