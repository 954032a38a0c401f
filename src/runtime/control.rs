//! What steers a run from outside, and what it reports or fails with.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use trueup_operators::Violation;

use crate::config::ConfigError;
use crate::model::name::NameCollision;
use crate::model::results::Change;
use crate::model::summary::{Counters, Summary};
use crate::model::time::{format_rfc3339, Millis, Time};
use crate::model::DeadLetter;
use crate::rules::Stage;
use crate::store::StoreError;

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
    /// Set when a worker of this process failed: the others stop waiting for it.
    pub failed: Arc<AtomicBool>,
}

impl Control {
    /// A control that SIGINT and SIGTERM stop (a second signal, while the first one's stop
    /// is under way, exits at once with status 130).
    pub fn stopped_by_signals() -> std::io::Result<Control> {
        let control = Control::default();
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // registered first, so that it sees the flag before the first signal sets it
            signal_hook::flag::register_conditional_shutdown(signal, 130, control.stop.clone())?;
            signal_hook::flag::register(signal, control.stop.clone())?;
        }
        Ok(control)
    }

    /// Asks the run to stop.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was requested.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Notes that a worker failed (and asks the others to stop): a worker waiting for its
    /// peers — to agree on the end, or for the frontier — gives up instead of waiting forever
    /// for one that has gone.
    pub fn fail(&self) {
        self.failed.store(true, Ordering::SeqCst);
        self.request_stop();
    }

    /// `Err` once a worker has failed: what a waiting worker returns.
    pub fn check_peers(&self) -> Result<(), RunError> {
        match self.failed.load(Ordering::SeqCst) {
            false => Ok(()),
            true => Err(RunError::Worker("another worker failed".into())),
        }
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
    /// A cluster's processes did not all connect in time.
    #[error(
        "the cluster's processes did not all connect within {seconds} s ({hosts}): start \
         every process with the same hosts file, or give more --connect-timeout-seconds"
    )]
    Unconnected {
        /// The time they had.
        seconds: u64,
        /// Every process's `host:port`.
        hosts: String,
    },
    /// An output could not be written.
    #[error("cannot write the outputs")]
    Output(#[source] std::io::Error),
    /// The configuration cannot be run as it is (a path would be written over).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The audit store could not be opened or read.
    #[error("audit store")]
    Store(#[from] StoreError),
    /// Two different ids have one hash in the dataflow's form of names.
    #[error(transparent)]
    Name(#[from] NameCollision),
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
                format_rfc3339(v.time),
                v.violation.count,
                v.violation.amount
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Spells out conservation violations, by time and scope, naming each stage from `names`.
pub(crate) fn spell_out(
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
