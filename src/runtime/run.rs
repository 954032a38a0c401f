//! A run of a configured pipeline on timely workers: opens the store and outputs, starts one
//! [worker](crate::runtime::worker) per thread (and process), and gathers what they report.
//!
//! Time: each record enters at its event time rounded up to the tick — or, when that is
//! already behind the worker's input time (the record is *late*), at the input time; it is
//! counted, never dropped. Each source's watermark is its newest event time minus its allowed
//! lateness; a worker advances its input to the minimum over sources still being read
//! (finished ones no longer hold time back), and the pipeline's frontier is the minimum over
//! workers. At the end of finite input the workers agree on the largest event time seen, and
//! the pipeline completes exactly the logical times up to it (rounded up to the tick): groups
//! whose `due_at` lies beyond stay `pending`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use timely::communication::WorkerGuards;

use crate::config::{ClusterConfig, Config};
use crate::model::name::Names;
use crate::model::summary::{Counters, Tally};
use crate::model::time::Time;
use crate::rules::{result_rules, stage_names};
use crate::runtime::commit::Committer;
use crate::runtime::control::{spell_out, Control, RunError, RunOutput, RunReport};
use crate::runtime::delivery::Delivery;
use crate::runtime::merge_policy::compact_when_behind;
use crate::runtime::resume::open_store;
use crate::runtime::worker::{run_worker, RunShared, Totals, WorkerOutput};
use crate::runtime::writer::Start;
use crate::sinks::{Collected, Output};
use crate::store::Store;

/// Runs `config` and delivers its outputs to `output` as logical time completes; returns when
/// the input is finished (or, when following, when `control` asks it to stop).
pub fn run<O: Output>(
    config: &Config,
    output: O,
    control: &Control,
) -> Result<(RunReport, O), RunError> {
    // a process of a cluster that writes no results passes its long names on to the one that does
    let names = match config.pipeline.writes_outputs() {
        true => Names::default(),
        false => Names::passing_on(),
    };
    run_with_names(config, output, control, Arc::new(names))
}

/// As [`run`], with `long_names` as the run's dictionary of long names (one made with
/// [`Names::with_hash`], say, to see what a hash collision does to a run, or one to look at
/// after it).
pub fn run_with_names<O: Output>(
    config: &Config,
    output: O,
    control: &Control,
    long_names: Arc<Names>,
) -> Result<(RunReport, O), RunError> {
    refuse_unregistered_graphs(config)?;
    let names = stage_names(&config.rules);
    let match_accounts = config.match_accounts();
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
    let connection = Arc::new(Mutex::new(Connection::Pending));
    let connecting = connection.clone();
    let limit = config.pipeline.cluster.as_ref().map(connect_limit);
    let guards = started(timely_config, limit, &connection, move |worker| {
        if !connected(&connecting) {
            return Err(RunError::Worker("the cluster was given up".into()));
        }
        let output = (worker.index() == 0)
            .then(|| output.lock().ok().and_then(|mut o| o.take()))
            .flatten();
        let resume = resumes
            .lock()
            .ok()
            .and_then(|mut r| r.get_mut(worker.index()).map(std::mem::take))
            .unwrap_or_default();
        let shared = RunShared {
            config: &config,
            names: long_names.clone(),
        };
        let delivery = output
            .map(|(output, store)| {
                let rules = (result_rules(&config.rules), shared.names.clone());
                start_delivery(output, store, (resume_from, dead_committed), rules)
            })
            .transpose();
        let result = delivery
            .map_err(RunError::Output)
            .and_then(|delivery| run_worker(worker, &shared, delivery, &worker_control, resume));
        if result.is_err() {
            // let the other workers wind down rather than wait for this one
            worker_control.fail();
        }
        result
    })?;
    let (totals, delivery) = joined(guards.join())?;
    let final_watermark = totals.max_event;
    let mut counters = counters_of(totals, match_accounts);
    let Some(mut delivery) = delivery else {
        // a process other than the first: process 0 delivers, counts and summarizes
        let summary = Tally::default().summary(&counters, 0, final_watermark);
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
    let mut written = delivery.finish().map_err(RunError::Output)?;
    let summary = written
        .tally
        .summary(&counters, written.dead_letters, final_watermark);
    let digest = written.output.finish(&summary).map_err(RunError::Output)?;
    if let Some(store) = written.store.as_mut() {
        store.commit_summary(&digest)?;
    }
    let report = RunReport {
        counters,
        final_watermark,
        summary,
        changes: written.changes,
        dead_letters: written.dead_letters,
    };
    Ok((report, written.output))
}

/// Whether a cluster's processes have connected, or the run has given up on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Connection {
    Pending,
    Made,
    GivenUp,
}

/// How long a cluster's processes may take to connect, and who they are.
fn connect_limit(cluster: &ClusterConfig) -> (Duration, String) {
    let seconds = Duration::from_secs(cluster.connect_timeout_seconds);
    (seconds, cluster.hosts.join(", "))
}

/// Whether a worker may run: its process's peers have connected (a worker starts only then)
/// and the run has not given up on them.
fn connected(connection: &Mutex<Connection>) -> bool {
    let Ok(mut state) = connection.lock() else {
        return false;
    };
    if *state == Connection::Pending {
        *state = Connection::Made;
    }
    *state == Connection::Made
}

/// `timely::execute(config, logic)`; in a cluster, given at most `limit`'s time for the
/// processes to connect (timely waits for them without end): past it, the run gives up —
/// workers that would start later end at once — and ends with an error naming the hosts.
fn started<T, F>(
    config: timely::Config,
    limit: Option<(Duration, String)>,
    connection: &Mutex<Connection>,
    logic: F,
) -> Result<WorkerGuards<T>, RunError>
where
    T: Send + 'static,
    F: Fn(&mut timely::worker::Worker) -> T + Send + Sync + 'static,
{
    let Some((timeout, hosts)) = limit else {
        return timely::execute(config, logic).map_err(RunError::Worker);
    };
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(timely::execute(config, logic)));
    let started = receiver.recv_timeout(timeout).or_else(|_| {
        let mut state = connection
            .lock()
            .map_err(|_| RunError::Worker("poisoned".into()))?;
        match *state {
            // connected just as time ran out: the workers are starting
            Connection::Made => receiver.recv().map_err(|e| RunError::Worker(e.to_string())),
            _ => {
                *state = Connection::GivenUp;
                let seconds = timeout.as_secs();
                Err(RunError::Unconnected { seconds, hosts })
            }
        }
    })?;
    started.map_err(RunError::Worker)
}

/// What the workers handed back: the totals (the same on every worker) and worker 0's
/// delivery — or the failure that ended the run, rather than the others' giving up on it.
fn joined<O>(
    results: Vec<Result<Result<WorkerOutput<O>, RunError>, String>>,
) -> Result<(Totals, Option<Delivery<O>>), RunError> {
    let (mut totals, mut delivery, mut failure) = (Totals::default(), None, None);
    for result in results {
        match result.map_err(RunError::Worker).and_then(|r| r) {
            Ok(part) => {
                totals = part.totals;
                delivery = delivery.or(part.delivery);
            }
            Err(e) if failure.as_ref().is_none_or(gave_up_for_a_peer) => failure = Some(e),
            Err(_) => {}
        }
    }
    failure.map_or(Ok((totals, delivery)), Err)
}

/// Whether `e` is a worker's giving up because another failed (see [`Control::fail`]).
fn gave_up_for_a_peer(e: &RunError) -> bool {
    matches!(e, RunError::Worker(why) if why == "another worker failed")
}

/// The counters of what all workers read, with the match accounts no entry was booked on.
fn counters_of(totals: Totals, match_accounts: Vec<String>) -> Counters {
    let unseen = (match_accounts.into_iter().enumerate())
        .filter(|(i, _)| totals.match_entries.get(*i).is_none_or(|n| *n == 0));
    Counters {
        accepted: totals.accepted.into_iter().collect(),
        late: totals.late,
        blank_lines: totals.blank_lines,
        unseen_match_accounts: unseen.map(|(_, account)| account).collect(),
        ..Counters::default()
    }
}

/// Worker 0's delivery to `output` — with a store, committing to it — resuming from
/// `(resume_from, dead_letters)` of an earlier run.
fn start_delivery<O: Output>(
    output: O,
    store: Option<(Store, Committer)>,
    (resume_from, dead_letters): (Time, u64),
    (rules, names): (Vec<String>, Arc<Names>),
) -> std::io::Result<Delivery<O>> {
    let (store, committer) = store.unzip();
    let start = Start {
        output,
        store,
        resume_from,
        dead_letters,
        rules,
        names,
    };
    Delivery::new(start, committer)
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

/// Refuses a `kind = "graph"` rule whose graph this program did not register, naming the key.
fn refuse_unregistered_graphs(config: &Config) -> Result<(), RunError> {
    for (i, rule) in config.rules.iter().enumerate() {
        if let crate::config::RuleConfig::Graph(r) = rule {
            if !crate::rules::graph::is_registered(&r.graph) {
                return Err(RunError::Config(crate::config::ConfigError::Invalid {
                    key: format!("rules[{i}].graph"),
                    message: format!(
                        "no graph {:?} is registered in this program: a program built on \
                         trueup's Pipeline registers its graphs (docs/operators/pipeline.md)",
                        r.graph
                    ),
                }));
            }
        }
    }
    Ok(())
}
