//! One pipeline run end to end: the dataflow over the configured inputs, writing the
//! changelog, dead letters and summary files as it goes.

use std::path::Path;

use crate::config::{default_rules, Config, PipelineConfig, SinksConfig, SourceConfig};
use crate::model::Stream;
use crate::runtime::{run, Control, RunError, RunReport};
use crate::sinks::FileOutput;

/// Runs `config` into its sink files until its input ends or `control` stops it.
pub fn execute(config: &Config, control: &Control) -> Result<RunReport, RunError> {
    let output = FileOutput::create(&config.sinks).map_err(RunError::Output)?;
    let (report, _) = run(config, output, control)?;
    Ok(report)
}

/// The embedded default configuration: the standard rules over `payments` and `entries`
/// files, outputs into `out`.
pub fn default_config(payments: &Path, entries: &Path, out: &Path, workers: usize) -> Config {
    let source = |stream, path: &Path| SourceConfig {
        stream,
        path: path.to_owned(),
        format: None,
        allowed_lateness_seconds: 300,
        idle_timeout_seconds: 60,
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
        retention: None,
        store: None,
    }
}
