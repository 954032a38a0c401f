//! One pipeline run end to end: the dataflow over the configured inputs, writing the
//! changelog, dead letters and summary files as it goes.

use std::path::Path;

use crate::config::{default_rules, Config, PipelineConfig, SinksConfig, SourceConfig};
use crate::model::Stream;
use crate::runtime::control::{Control, RunError, RunReport};
use crate::runtime::run::run;
use crate::sinks::{FileOutput, KafkaOutput};

/// Runs `config` into its sinks (files or Kafka topics) until its input ends or `control`
/// stops it.
pub fn execute(config: &Config, control: &Control) -> Result<RunReport, RunError> {
    // before any output is opened: nothing may be written over an input, the store or another
    // output
    config.check_paths()?;
    match &config.kafka {
        Some(kafka) if config.sinks.results_topic.is_some() => {
            let output = KafkaOutput::create(kafka, &config.sinks).map_err(RunError::Output)?;
            Ok(run(config, output, control)?.0)
        }
        _ => {
            let output = FileOutput::create(&config.sinks).map_err(RunError::Output)?;
            Ok(run(config, output, control)?.0)
        }
    }
}

/// The embedded default configuration: the standard rules over `payments` and `entries`
/// files, outputs into `out`.
pub fn default_config(payments: &Path, entries: &Path, out: &Path, workers: usize) -> Config {
    let source = |stream, path: &Path| SourceConfig {
        stream,
        path: Some(path.to_owned()),
        topic: None,
        format: None,
        allowed_lateness_seconds: 300,
        idle_timeout_seconds: 60,
        fields: None,
    };
    Config {
        pipeline: PipelineConfig {
            workers,
            ..PipelineConfig::default()
        },
        streams: Vec::new(),
        sources: vec![
            source(Stream::Payments, payments),
            source(Stream::Entries, entries),
        ],
        rules: default_rules(),
        sinks: SinksConfig::files_in(out),
        retention: None,
        store: None,
        kafka: None,
    }
}

/// The TOML text of [`default_config`]'s pipeline — `payments` and `entries` JSON-lines files
/// in, the standard files into `out`, standard rules, `workers` workers — as the start of a
/// config file: tables for rules, retention or a store may be appended to it.
pub fn default_config_toml(payments: &Path, entries: &Path, out: &Path, workers: usize) -> String {
    format!(
        r#"[pipeline]
workers = {workers}

[[sources]]
stream = "payments"
path = "{payments}"

[[sources]]
stream = "entries"
path = "{entries}"

[sinks]
results = "{out}/results.jsonl"
dead_letters = "{out}/dead_letters.jsonl"
summary = "{out}/summary.json"
"#,
        payments = payments.display(),
        entries = entries.display(),
        out = out.display()
    )
}
