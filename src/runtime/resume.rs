//! Where a run resumes from: what the audit store committed — the frontier, every worker's
//! source positions and inputs, the dead letters not yet delivered — and the outputs cut back
//! to their committed lengths.

use std::time::Duration;

use crate::config::Config;
use crate::model::time::Time;
use crate::model::DeadLetter;
use crate::runtime::commit::{Committer, WorkerPosition};
use crate::runtime::control::RunError;
use crate::runtime::writer::sort_dead_letters;
use crate::sinks::{Committed, Output, Republish};
use crate::store::{Store, StoreError, StoredInput};

/// Where a run resumes from: the committed frontier and dead-letter count, and per worker
/// its committed position and inputs (all empty for a new run).
#[derive(Default)]
pub(crate) struct Resume {
    pub frontier: Time,
    pub dead_letters: u64,
    pub workers: Vec<WorkerResume>,
}

/// One worker's part of a [`Resume`].
#[derive(Default)]
pub(crate) struct WorkerResume {
    pub position: Option<WorkerPosition>,
    pub inputs: Vec<StoredInput>,
    /// Committed dead letters not yet delivered (given to worker 0).
    pub dead_letters: Vec<(DeadLetter, Time)>,
}

/// Opens the configured store (if any) and what to resume from it; starts `output` at the
/// committed lengths. A process other than the first only reads what to resume from.
pub(crate) fn open_store<O: Output>(
    config: &Config,
    output: &mut O,
) -> Result<(Option<(Store, Committer)>, Resume), RunError> {
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
            let outputs = serde_json::to_string(&config.sinks).unwrap_or_default();
            store.bind(&config.fingerprint(), &outputs)?;
            store.log_heads_to(store_config.head_log.clone());
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
        committed.digests = checkpoint.digests.clone();
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
            frontier = %crate::model::time::format_rfc3339(checkpoint.frontier),
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
        sort_dead_letters(&mut dead);
        committed.republish = Republish {
            results_from,
            dead_letters_from,
            changes: store.changes_after(results_from)?,
            dead_letters: dead.into_iter().map(|(d, _, _)| d).collect(),
        };
    }
    output.start(&committed).map_err(RunError::Output)?;
    let every = Duration::from_millis(store_config.commit_interval_millis);
    Ok((Some((store, Committer::new(positions, every))), resume))
}
