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

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use differential_dataflow::input::Input;
use timely::dataflow::operators::core::{Exchange, Inspect, Probe};
use timely::dataflow::operators::vec::{Broadcast, Input as _};
use timely::dataflow::ProbeHandle;
use trueup_operators::Violation;

use crate::config::Config;
use crate::event_time::{Millis, Tick};
use crate::model::{DeadLetter, Record, Stream};
use crate::progress::ProgressLine;
use crate::results::ResultRow;
use crate::rules::{reconcile, stage_names, Stage, Time};
use crate::sources::file::{FileSource, Format};
use crate::sources::{Polled, Progress, Source};

/// One change of one result: the row, its logical time and +1/−1.
pub type Change = (ResultRow, Time, isize);

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

/// Everything a finished run produced.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// The result changelog, sorted by time, then retractions before assertions, then row.
    pub changelog: Vec<Change>,
    /// Rejected lines, sorted by source and position.
    pub dead_letters: Vec<DeadLetter>,
    /// Counters.
    pub counters: Counters,
    /// The final watermark: the largest event time seen (`None` with no accepted record).
    pub final_watermark: Option<Millis>,
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

struct WorkerOutput {
    changelog: Vec<Change>,
    violations: Vec<(Violation<Stage>, Time)>,
    redeliveries: Vec<(Stream, Time, isize)>,
    dead_letters: Vec<DeadLetter>,
    accepted: BTreeMap<Stream, u64>,
    late: u64,
    max_event: Option<Millis>,
}

/// Runs `config` over its (finite) inputs to the end and returns what it produced.
pub fn run(config: &Config) -> Result<RunOutput, RunError> {
    let names = stage_names(&config.rules);
    let config = config.clone();
    let records_in = Arc::new(AtomicU64::new(0));
    let workers = config.pipeline.workers;
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        run_worker(worker, &config, &records_in)
    })
    .map_err(RunError::Worker)?;
    let mut output = RunOutput {
        changelog: Vec::new(),
        dead_letters: Vec::new(),
        counters: Counters::default(),
        final_watermark: None,
    };
    let mut violations = Vec::new();
    let mut redeliveries: Vec<(Stream, Time, isize)> = Vec::new();
    for result in guards.join() {
        let part = result.map_err(RunError::Worker)??;
        output.changelog.extend(part.changelog);
        output.dead_letters.extend(part.dead_letters);
        violations.extend(part.violations);
        redeliveries.extend(part.redeliveries);
        for (stream, n) in part.accepted {
            *output.counters.accepted.entry(stream).or_default() += n;
        }
        output.counters.late += part.late;
        output.final_watermark = output.final_watermark.max(part.max_event);
    }
    if !violations.is_empty() {
        violations.sort_by_key(|(v, time)| (*time, v.scope));
        let spelled = violations
            .into_iter()
            .map(
                |(violation, time): (Violation<Stage>, Time)| LostOrCreated {
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
                },
            )
            .collect();
        return Err(RunError::Conservation(spelled));
    }
    for (stream, _, diff) in redeliveries {
        *output.counters.redeliveries.entry(stream).or_default() += diff as i64;
    }
    output
        .changelog
        .sort_by(|a, b| (a.1, a.2, &a.0).cmp(&(b.1, b.2, &b.0)));
    output.dead_letters.sort_by(|a, b| {
        (&a.source, position_key(&a.position)).cmp(&(&b.source, position_key(&b.position)))
    });
    Ok(output)
}

/// Orders `file:line` positions by file, then numerically by line.
fn position_key(position: &str) -> (&str, u64) {
    match position.rsplit_once(':') {
        Some((file, line)) => (file, line.parse().unwrap_or(u64::MAX)),
        None => (position, 0),
    }
}

/// One source as a worker reads it.
struct Reading {
    source: Box<dyn Source>,
    path: String,
    /// Allowed lateness in milliseconds.
    lateness: Millis,
    /// The newest event time seen on this worker's share.
    newest: Option<Millis>,
    finished: bool,
}

impl Reading {
    /// Newest event time less the allowed lateness; `None` before any record.
    fn watermark(&self) -> Option<Millis> {
        self.newest.map(|n| n.saturating_sub(self.lateness))
    }
}

/// Collects a stream's updates on worker 0.
type Captured<D> = Rc<RefCell<Vec<(D, Time, isize)>>>;

/// Consolidates `collection`, routes it to worker 0 and appends its updates to `sink` there;
/// `probe` tells when they are complete up to a time.
fn collect_on_worker_zero<
    D: differential_dataflow::ExchangeData + differential_dataflow::Hashable,
>(
    collection: differential_dataflow::VecCollection<'_, Time, D>,
    sink: &Captured<D>,
    probe: &ProbeHandle<Time>,
) {
    let sink = sink.clone();
    collection
        .consolidate()
        .inner
        .exchange(|_| 0)
        .inspect(move |update| sink.borrow_mut().push(update.clone()))
        .probe_with(probe);
}

fn run_worker(
    worker: &mut timely::worker::Worker,
    config: &Config,
    records_in: &AtomicU64,
) -> Result<WorkerOutput, RunError> {
    let tick = Tick(config.pipeline.tick_millis);
    let (index, peers) = (worker.index(), worker.peers());
    let probe = ProbeHandle::new();
    let changelog: Captured<ResultRow> = Rc::default();
    let violations: Captured<Violation<Stage>> = Rc::default();
    let redeliveries: Captured<Stream> = Rc::default();

    let rules = config.rules.clone();
    let (mut payments, mut entries) = worker.dataflow::<Time, _, _>(|scope| {
        let (payments_in, payments) = scope.new_collection();
        let (entries_in, entries) = scope.new_collection();
        let rec = reconcile(payments, entries, &rules, tick);
        collect_on_worker_zero(rec.results, &changelog, &probe);
        collect_on_worker_zero(rec.violations, &violations, &probe);
        collect_on_worker_zero(rec.redeliveries, &redeliveries, &probe);
        (payments_in, entries_in)
    });

    // A second, tiny dataflow on which the workers agree on the largest event time seen.
    let global_max: Rc<RefCell<Option<Millis>>> = Rc::default();
    let max_probe = ProbeHandle::new();
    let mut max_input = worker.dataflow::<u64, _, _>(|scope| {
        let (input, stream) = scope.new_input::<Millis>();
        let seen = global_max.clone();
        stream
            .broadcast()
            .inspect(move |m: &Millis| {
                let mut seen = seen.borrow_mut();
                *seen = (*seen).max(Some(*m));
            })
            .probe_with(&max_probe);
        input
    });

    let mut sources = Vec::new();
    for source in &config.sources {
        let format = source
            .format
            .unwrap_or_else(|| Format::from_path(&source.path));
        let path = source.path.display().to_string();
        let opened =
            FileSource::open(source.stream, &source.path, format, index, peers).map_err(|e| {
                RunError::Source {
                    path: path.clone(),
                    source: e,
                }
            })?;
        sources.push(Reading {
            source: Box::new(opened),
            path,
            lateness: source.allowed_lateness_seconds * 1000,
            newest: None,
            finished: false,
        });
    }

    let mut out = WorkerOutput {
        changelog: Vec::new(),
        violations: Vec::new(),
        redeliveries: Vec::new(),
        dead_letters: Vec::new(),
        accepted: BTreeMap::new(),
        late: 0,
        max_event: None,
    };
    let mut input_time: Time = 0;
    let mut reporter = (index == 0).then(|| ProgressLine::new(Duration::from_secs(2)));
    let mut polled = Vec::new();
    while sources.iter().any(|s| !s.finished) {
        for reading in sources.iter_mut().filter(|s| !s.finished) {
            let progress = reading
                .source
                .poll(config.pipeline.batch_size, &mut polled)
                .map_err(|e| RunError::Source {
                    path: reading.path.clone(),
                    source: e,
                })?;
            reading.finished = progress == Progress::Exhausted;
            for item in polled.drain(..) {
                let record = match item {
                    Polled::Dead(dead) => {
                        out.dead_letters.push(dead);
                        continue;
                    }
                    Polled::Record(record) => record,
                };
                let event_time = record.event_time();
                reading.newest = reading.newest.max(Some(event_time));
                let mut time = tick.ceil(event_time);
                if time < input_time {
                    time = input_time;
                    out.late += 1;
                }
                *out.accepted.entry(reading.source.stream()).or_default() += 1;
                records_in.fetch_add(1, Ordering::Relaxed);
                match record {
                    Record::Payment(p) => payments.update_at(p, time, 1),
                    Record::Entry(e) => entries.update_at(e, time, 1),
                }
            }
        }
        // the minimum over sources still being read; none until each has seen a record
        let watermark = sources
            .iter()
            .filter(|s| !s.finished)
            .map(Reading::watermark)
            .min()
            .flatten();
        if let Some(watermark) = watermark {
            let next = tick.floor(watermark);
            if next > input_time {
                input_time = next;
                payments.advance_to(input_time);
                entries.advance_to(input_time);
            }
        }
        payments.flush();
        entries.flush();
        worker.step();
        if let Some(reporter) = reporter.as_mut() {
            let frontier = probe
                .with_frontier(|f| f.first().copied())
                .filter(|t| *t > 0);
            let records = records_in.load(Ordering::Relaxed);
            reporter.tick(records, frontier, &changelog.borrow());
        }
    }
    if let Some(reporter) = reporter.as_mut() {
        reporter.finish();
    }

    out.max_event = sources.iter().filter_map(|s| s.newest).max();
    if let Some(newest) = out.max_event {
        max_input.send(newest);
    }
    max_input.advance_to(1);
    worker.step_while(|| max_probe.less_than(&1));
    let final_watermark = *global_max.borrow();

    let end = final_watermark
        .map_or(input_time, |w| tick.ceil(w) + 1)
        .max(input_time);
    payments.advance_to(end);
    entries.advance_to(end);
    payments.flush();
    entries.flush();
    worker.step_while(|| probe.less_than(&end));
    for dataflow in worker.installed_dataflows() {
        worker.drop_dataflow(dataflow);
    }

    out.changelog = changelog.take();
    out.violations = violations
        .take()
        .into_iter()
        .filter(|(_, _, r)| *r > 0)
        .map(|(v, t, _)| (v, t))
        .collect();
    out.redeliveries = redeliveries.take();
    Ok(out)
}
