//! One pipeline run end to end: run the dataflow over the configured inputs, write the
//! changelog, dead letters and summary, and return the summary.

use std::path::{Path, PathBuf};

use crate::config::{default_rules, Config, PipelineConfig, SinksConfig, SourceConfig};
use crate::model::Stream;
use crate::runtime::{run, RunError, RunOutput};
use crate::sinks;
use crate::summary::{final_state, summarize, Summary};

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The run failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// An output could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The output file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Runs `config` and writes its sinks; returns the run's output and summary.
pub fn execute(config: &Config) -> Result<(RunOutput, Summary), JobError> {
    let output = run(config)?;
    let state = final_state(&output.changelog);
    let summary = summarize(
        &state,
        &output.counters,
        output.dead_letters.len() as u64,
        output.final_watermark,
    );
    let sinks = &config.sinks;
    let wrote = |path: &Path, result: std::io::Result<()>| {
        result.map_err(|source| JobError::Write {
            path: path.to_owned(),
            source,
        })
    };
    wrote(
        &sinks.results,
        sinks::write_changelog(&sinks.results, &output.changelog),
    )?;
    wrote(
        &sinks.dead_letters,
        sinks::write_dead_letters(&sinks.dead_letters, &output.dead_letters),
    )?;
    if let Some(path) = &sinks.summary {
        wrote(path, sinks::write_summary(path, &summary))?;
    }
    Ok((output, summary))
}

/// The embedded default configuration: the standard rules over `payments` and `entries`
/// files, outputs into `out`.
pub fn default_config(payments: &Path, entries: &Path, out: &Path, workers: usize) -> Config {
    let source = |stream, path: &Path| SourceConfig {
        stream,
        path: path.to_owned(),
        format: None,
        allowed_lateness_seconds: 300,
    };
    Config {
        pipeline: PipelineConfig {
            workers,
            ..PipelineConfig::default()
        },
        sources: vec![
            source(Stream::Payments, payments),
            source(Stream::Entries, entries),
        ],
        rules: default_rules(),
        sinks: SinksConfig {
            results: out.join("results.jsonl"),
            dead_letters: out.join("dead_letters.jsonl"),
            summary: Some(out.join("summary.json")),
        },
    }
}
