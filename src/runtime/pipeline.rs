//! The Pipeline API: a program of an engineer's that runs its own [graphs](Graph) on trueup's
//! runtime. The config says where records come from and results go, the store, retention and
//! the rules; a `kind = "graph"` rule names a graph the program registers here. Everything
//! else — sources, event time and watermarks, dead letters, the changelog and summary, the
//! audit store with lineage (which `trueup query`, `serve` and `verify` read), exactly-once
//! restart, cluster mode — is the runtime's, as for `trueup run` (docs/operators/pipeline.md).

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{ClusterConfig, Config, ConfigError, CONNECT_TIMEOUT_SECONDS};
use crate::rules::graph::{register, Graph};
use crate::runtime::job::execute;
use crate::runtime::{Control, RunError, RunReport};

/// A pipeline: a config, and the graphs its `kind = "graph"` rules name.
pub struct Pipeline {
    config: Config,
}

impl Pipeline {
    /// The pipeline of `config`.
    pub fn new(config: Config) -> Pipeline {
        Pipeline { config }
    }

    /// The pipeline of the config file `args` name as `run --config FILE [--workers N]
    /// [--follow] [--processes N --process I --hosts FILE [--connect-timeout-seconds S]]` (the
    /// command line `trueup run`
    /// takes, less what is trueup's own).
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Pipeline, ConfigError> {
        let given = flags(args)?;
        let value = |name: &str| {
            given
                .iter()
                .find(|(f, _)| f == name)
                .and_then(|(_, v)| v.clone())
        };
        let number = |name: &str| match value(name) {
            None => Ok(None),
            Some(v) => v.parse::<usize>().map(Some).map_err(|_| usage()),
        };
        let mut config = Config::load(&PathBuf::from(value("--config").ok_or_else(usage)?))?;
        config.pipeline.workers = number("--workers")?.unwrap_or(config.pipeline.workers);
        config.pipeline.follow |= given.iter().any(|(f, _)| f == "--follow");
        let (processes, hosts) = (number("--processes")?.unwrap_or(1), value("--hosts"));
        let hosts = hosts.map(PathBuf::from);
        config.pipeline.cluster =
            ClusterConfig::of(processes, number("--process")?, hosts.as_deref())
                .map_err(ConfigError::Parse)?;
        if let (Some(cluster), Some(seconds)) = (
            config.pipeline.cluster.as_mut(),
            number("--connect-timeout-seconds")?,
        ) {
            cluster.connect_timeout_seconds = seconds as u64;
        }
        config.validate()?;
        Ok(Pipeline::new(config))
    }

    /// Registers `graph` under `name`: the `kind = "graph"` rules with `graph = name` run it.
    pub fn graph(self, name: &str, graph: impl Graph) -> Pipeline {
        register(name, Arc::new(graph));
        self
    }

    /// This process as process `process` of a cluster of `hosts` (every process runs the same
    /// program with the same config; process 0 writes the outputs and the store).
    pub fn cluster(mut self, process: usize, hosts: Vec<String>) -> Pipeline {
        self.config.pipeline.cluster = Some(ClusterConfig {
            process,
            hosts,
            connect_timeout_seconds: CONNECT_TIMEOUT_SECONDS,
        });
        self
    }

    /// The configuration it runs.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs to the end of the input (or, following, until SIGINT or SIGTERM), into the
    /// configured sinks and store, as `trueup run` does.
    pub fn run(&self) -> Result<RunReport, RunError> {
        let control = Control::stopped_by_signals().map_err(RunError::Output)?;
        execute(&self.config, &control)
    }
}

/// Why `from_args` refuses its arguments.
fn usage() -> ConfigError {
    let usage = "usage: run --config FILE [--workers N] [--follow] \
                 [--processes N --process I --hosts FILE [--connect-timeout-seconds S]]";
    ConfigError::Parse(usage.into())
}

/// `run`, then each known flag with its value (none for `--follow`).
fn flags(
    args: impl IntoIterator<Item = String>,
) -> Result<Vec<(String, Option<String>)>, ConfigError> {
    let known = [
        "--config",
        "--workers",
        "--processes",
        "--process",
        "--hosts",
        "--connect-timeout-seconds",
    ];
    let mut args = args.into_iter();
    if args.next().as_deref() != Some("run") {
        return Err(usage());
    }
    let mut given = Vec::new();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--follow" => given.push((flag, None)),
            f if known.contains(&f) => {
                let value = args.next().ok_or_else(usage)?;
                given.push((flag, Some(value)));
            }
            _ => return Err(usage()),
        }
    }
    Ok(given)
}
