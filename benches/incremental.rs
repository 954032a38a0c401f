//! Incremental benchmark: with many records in state, how long a batch of new records takes to
//! be reflected in the results.
//!
//! `cargo bench --bench incremental` generates `INCR_PAYMENTS` payments (default 800,000:
//! about 10.4M records) once into `INCR_DIR` (default `target/incr-<payments>`), parses them,
//! orders them by event time, and loads the first `INCR_STATE` records (default 10,000,000) into
//! the standard reconciliation dataflow (`INCR_WORKERS` workers, default 2; standard rules, no
//! retention) in chunks, each at its event-time tick. Then it feeds the following records in
//! batches of `INCR_BATCH` (default 1,000), each batch at one new logical time, and measures
//! per batch the time from handing the batch to the dataflow until the results' probe has
//! passed that time — until the outputs reflect it, aging of groups whose grace ended included.
//! Prints the load time, peak resident memory and bytes per record in state, and the p50, p99
//! and maximum batch latency.

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use differential_dataflow::input::{Input, InputSession};
use timely::dataflow::operators::core::Probe;
use timely::dataflow::ProbeHandle;
use trueup::config::{default_rules, PipelineConfig};
use trueup::model::name::Names;
use trueup::model::rows::{EntryRow, PaymentRow};
use trueup::model::time::Tick;
use trueup::model::time::Time;
use trueup::model::{Record, Stream};
use trueup::rules::{reconcile, Settings};

mod common;
use common::{generated, records, setting, status_kib};

/// Records handed to the dataflow between two steps while loading the state.
const LOAD_CHUNK: usize = 100_000;

/// One worker's input sessions.
struct Inputs {
    payments: InputSession<Time, PaymentRow, isize>,
    entries: InputSession<Time, EntryRow, isize>,
    /// This worker's index, and the number of workers.
    share: (usize, usize),
}

impl Inputs {
    /// Hands this worker's share of `records[range]` to the dataflow, each record at its time
    /// or at `at` if that is later.
    fn feed(&mut self, records: &[(Time, Row)], range: Range<usize>, at: Time) {
        let (index, peers) = self.share;
        for i in range.filter(|i| i % peers == index) {
            match records[i] {
                (time, Row::Payment(p)) => self.payments.update_at(p, at.max(time), 1),
                (time, Row::Entry(e)) => self.entries.update_at(e, at.max(time), 1),
            }
        }
    }

    /// Closes the inputs up to `time` and sends what they hold.
    fn advance_to(&mut self, time: Time) {
        self.payments.advance_to(time);
        self.entries.advance_to(time);
        self.payments.flush();
        self.entries.flush();
    }
}

/// A record in the dataflow's form, made before the clock starts.
#[derive(Clone, Copy)]
enum Row {
    Payment(PaymentRow),
    Entry(EntryRow),
}

impl Row {
    /// The row of `record` (the generator's ids are short: no dictionary holds them).
    fn of(record: &Record) -> Row {
        let names = (&Names::default(), 0);
        match record {
            Record::Payment(p) => Row::Payment(PaymentRow::of(p, names, &mut None).expect("ids")),
            Record::Entry(e) => Row::Entry(EntryRow::of(e, names, &mut None).expect("ids")),
            Record::Declared(_) => unreachable!("the generator writes payments and entries"),
        }
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and `cargo test --benches` probe; nothing to list
    }
    let payments = setting("INCR_PAYMENTS", 800_000) as usize;
    let state = setting("INCR_STATE", 10_000_000) as usize;
    let batch = setting("INCR_BATCH", 1_000) as usize;
    let workers = setting("INCR_WORKERS", 2) as usize;
    let dir = std::env::var("INCR_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| format!("target/incr-{payments}").into());
    let data = dir.join("data");
    generated(&data, payments);
    let tick = Tick(PipelineConfig::default().tick_millis);
    let parsing = Instant::now();
    let mut all: Vec<(Time, Row)> = records(&data.join("payments.jsonl"), Stream::Payments)
        .into_iter()
        .chain(records(&data.join("entries.jsonl"), Stream::Entries))
        .map(|r| (tick.ceil(r.event_time()), Row::of(&r)))
        .collect();
    all.sort_by_key(|(time, _)| *time);
    // resident before the dataflow starts: the parsed records, held for feeding
    let parsed = status_kib(std::process::id(), "VmRSS").unwrap_or(0);
    let state = state.min(all.len());
    let batches = (all.len() - state) / batch;
    assert!(
        batches >= 100,
        "{} records: too few after the state for 100 batches",
        all.len()
    );
    eprintln!(
        "{} records parsed and ordered in {:.1?}",
        all.len(),
        parsing.elapsed()
    );
    let all = Arc::new(all);
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let loaded: Arc<Mutex<Duration>> = Arc::default();

    let (shared, measured, load_time) = (all.clone(), latencies.clone(), loaded.clone());
    timely::execute(timely::Config::process(workers), move |worker| {
        let probe = ProbeHandle::new();
        let rules = default_rules();
        let share = (worker.index(), worker.peers());
        let mut inputs = worker.dataflow::<Time, _, _>(|scope| {
            let (payments_in, payments) = scope.new_collection();
            let (entries_in, entries) = scope.new_collection();
            let settings = Settings {
                rules: &rules,
                tick,
                retention: None,
                carrying: &[],
            };
            let records = scope.new_collection().1;
            reconcile((payments, entries, records), &settings)
                .results
                .inner
                .probe_with(&probe);
            Inputs {
                payments: payments_in,
                entries: entries_in,
                share,
            }
        });
        let started = Instant::now();
        let mut time: Time = 0;
        for start in (0..state).step_by(LOAD_CHUNK) {
            let end = (start + LOAD_CHUNK).min(state);
            inputs.feed(&shared, start..end, time);
            time = shared[end - 1].0;
            inputs.advance_to(time);
            worker.step_while(|| probe.less_than(&time));
        }
        if share.0 == 0 {
            *load_time.lock().unwrap() = started.elapsed();
            // a mark for profilers that attach for the batches only
            eprintln!("{state} records loaded; {batches} batches follow");
        }
        for b in 0..batches {
            let range = state + b * batch..state + (b + 1) * batch;
            let at = shared[range.end - 1].0.max(time + 1);
            let started = Instant::now();
            inputs.feed(&shared, range, at);
            time = at + 1;
            inputs.advance_to(time);
            worker.step_while(|| probe.less_than(&time));
            if share.0 == 0 {
                measured.lock().unwrap().push(started.elapsed());
            }
        }
    })
    .expect("timely");

    let peak = status_kib(std::process::id(), "VmHWM").unwrap_or(0);
    let mut latencies = latencies.lock().unwrap().clone();
    latencies.sort();
    let at = |q: usize| latencies[(latencies.len() * q / 100).min(latencies.len() - 1)];
    println!(
        "incremental: {state} records in state on {workers} workers, loaded in {:.1?}; peak RSS \
         {} MiB, of which {} MiB the parsed records held for feeding; the dataflow's {} bytes \
         per record in state",
        loaded.lock().unwrap(),
        peak / 1024,
        parsed / 1024,
        peak.saturating_sub(parsed) * 1024 / state as u64
    );
    println!(
        "{} batches of {batch} records: p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        latencies.len(),
        at(50),
        at(99),
        latencies[latencies.len() - 1]
    );
}
