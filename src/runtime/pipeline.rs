//! The Pipeline API: a program of an engineer's that runs its own [graphs](Graph) on trueup's
//! runtime. The config says where records come from and results go, the store, retention and
//! the rules; a `kind = "graph"` rule names a graph the program registers here. Everything
//! else — sources, event time and watermarks, dead letters, the changelog and summary, the
//! audit store with lineage (which `trueup query`, `serve` and `verify` read), exactly-once
//! restart, cluster mode — is the runtime's, as for `trueup run` (docs/operators/pipeline.md).

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{ClusterConfig, Config, ConfigError};
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
    /// [--follow]` (the command line `trueup run` takes, less what is trueup's own).
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Pipeline, ConfigError> {
        let (mut config, mut workers, mut follow) = (None, None, false);
        let mut args = args.into_iter();
        let usage =
            || ConfigError::Parse("usage: run --config FILE [--workers N] [--follow]".into());
        (args.next().as_deref() == Some("run"))
            .then_some(())
            .ok_or_else(usage)?;
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--config" => config = args.next().map(PathBuf::from),
                "--workers" => workers = args.next().and_then(|n| n.parse().ok()),
                "--follow" => follow = true,
                _ => return Err(usage()),
            }
        }
        let mut config = Config::load(&config.ok_or_else(usage)?)?;
        config.pipeline.workers = workers.unwrap_or(config.pipeline.workers);
        config.pipeline.follow |= follow;
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
        self.config.pipeline.cluster = Some(ClusterConfig { process, hosts });
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
