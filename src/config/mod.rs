//! The pipeline configuration: one TOML file of sources, rules and sinks; [`paths`] keeps a
//! run from writing over its own inputs, store or outputs.
//!
//! Every struct rejects unknown keys (the error names the key and its line), and
//! [`Config::validate`] refuses values that parse but make no sense, naming the key.
//! The doc comments on the fields are the reference documentation (`docs/config.md`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub mod balance;
pub mod fields;
pub mod key;
pub mod paths;

use serde::{Deserialize, Serialize};
use trueup_operators::Tolerance;

use crate::model::currency::Currency;
use crate::model::rows::{MAX_CARRIED, MAX_KEYS};
use crate::model::Stream;

/// The format of an input file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// A header row, then one record per row, same column names as the JSON fields.
    Csv,
}

impl Format {
    /// `csv` for `*.csv` files, JSON Lines otherwise.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("csv") => Format::Csv,
            _ => Format::Jsonl,
        }
    }
}

/// The whole configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Engine settings.
    #[serde(default)]
    pub pipeline: PipelineConfig,
    /// Streams beyond `payments` and `entries` (`[[streams]]`): each a name and its keys,
    /// fed by sources that name it. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<StreamConfig>,
    /// Where records come from: at least one source.
    pub sources: Vec<SourceConfig>,
    /// The reconciliation rules; default: `payment_ledger` and `journal_balance` with defaults.
    #[serde(default = "default_rules")]
    pub rules: Vec<RuleConfig>,
    /// Where results go.
    pub sinks: SinksConfig,
    /// Bounded memory for long runs: when to let finished groups leave the working state.
    /// Default: none (everything is kept; right for finite batch runs).
    #[serde(default)]
    pub retention: Option<RetentionConfig>,
    /// The audit store: the system of record, and what makes restarts exactly once.
    /// Default: none.
    #[serde(default)]
    pub store: Option<StoreConfig>,
    /// The Kafka cluster that `topic` sources and `*_topic` sinks use. Default: none.
    #[serde(default)]
    pub kafka: Option<KafkaConfig>,
}

/// How to reach Kafka (SPEC §6): the brokers, and any further librdkafka settings — TLS and
/// SASL among them — passed through verbatim. The values of `properties` are never logged,
/// printed or written to the audit store (`Debug` shows their names only).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]` (librdkafka's `bootstrap.servers`).
    pub brokers: String,
    /// Further librdkafka client properties, e.g. `"security.protocol" = "SASL_SSL"`,
    /// `"ssl.ca.location"`, `"sasl.mechanism" = "SCRAM-SHA-512"`, `"sasl.username"`,
    /// `"sasl.password"`. Applied to every consumer and producer trueup creates.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// How long a metadata, offset or flush request may take before the run fails. Default 30.
    #[serde(default = "default_kafka_timeout")]
    pub timeout_seconds: u64,
}

fn default_kafka_timeout() -> u64 {
    30
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted: BTreeMap<&str, &str> = self
            .properties
            .keys()
            .map(|k| (k.as_str(), "<redacted>"))
            .collect();
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("properties", &redacted)
            .field("timeout_seconds", &self.timeout_seconds)
            .finish()
    }
}

/// The audit store (SPEC §5): every accepted input, the result changelog, the dead letters and
/// the commit progress, committed together as the watermark advances.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite:PATH` or a plain path for a SQLite file (created if missing), or
    /// `postgres://user@host:port/db` for PostgreSQL.
    pub url: String,
    /// Watermark advances are committed together at most this often. Default 1000.
    #[serde(default = "default_commit_interval")]
    pub commit_interval_millis: u64,
    /// A file to which each commit's batch number and hash (the head of the chain) are
    /// appended once it is durable: kept outside the store, it lets `verify --expect-head`
    /// tell a truncated or rewritten history. None by default.
    #[serde(default)]
    pub head_log: Option<PathBuf>,
}

fn default_commit_interval() -> u64 {
    1000
}

impl Config {
    /// Every `payment_ledger` rule's match accounts, each once, in configuration order.
    pub fn match_accounts(&self) -> Vec<String> {
        let mut accounts: Vec<String> = Vec::new();
        for rule in &self.rules {
            if let RuleConfig::PaymentLedger(r) = rule {
                for account in &r.match_accounts {
                    if !accounts.contains(account) {
                        accounts.push(account.clone());
                    }
                }
            }
        }
        accounts
    }

    /// What a store is bound to: everything that decides the results (engine settings,
    /// sources, rules, retention), as JSON. A store refuses a run with another fingerprint.
    pub fn fingerprint(&self) -> String {
        serde_json::json!({
            "pipeline": self.pipeline,
            "sources": self.sources,
            "rules": self.rules,
            "retention": self.retention,
        })
        .to_string()
    }
}

/// When finished groups leave the working state (SPEC §4). Retirement never retracts a result:
/// a retired group's last result stays in the changelog (and the audit store) as it was.
/// Horizons are measured from a group's latest event time, against the watermark.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Hours after its latest event that a matched group leaves. Default 24.
    pub settled_hours: u64,
    /// Hours after its latest event that a break leaves (at least `settled_hours`). Default 720.
    pub breaks_hours: u64,
    /// Hours after its earliest version's event time that a record id is forgotten by
    /// deduplication: a copy arriving later is treated as a new record (at least
    /// `breaks_hours`). Default 720.
    pub dedupe_hours: u64,
    /// Retirements happen on a grid of this many minutes (a group leaves at the first grid
    /// point after its horizon): every distinct retirement time costs one round through the
    /// graph, so a coarse grid keeps retirement cheap. Default 60.
    pub granularity_minutes: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            settled_hours: 24,
            breaks_hours: 720,
            dedupe_hours: 720,
            granularity_minutes: 60,
        }
    }
}

/// Engine settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Worker threads (timely workers) in this process, at most [`MAX_WORKERS`]. Default: the
    /// machine's available parallelism (its cores). Results do not depend on it.
    pub workers: usize,
    /// Logical-time granularity in milliseconds, at most one day (86,400,000): event times are
    /// rounded up to it. Default 1000.
    pub tick_millis: u64,
    /// Records read from one source before the others get a turn and time advances. Default 10000.
    pub batch_size: usize,
    /// Follow the inputs: at the end of a file, wait for it to grow instead of finishing, until
    /// the process is stopped (SIGINT or SIGTERM). Default false (`run --follow` sets it).
    pub follow: bool,
    /// How far ahead of the wall clock an event may be dated, in hours: a record dated later
    /// is a dead letter, so that a clock error upstream cannot move the watermark (and the
    /// aging of every open group) into the future. From 1 to [`MAX_FUTURE_HOURS`]; default 168
    /// (a week).
    pub max_future_hours: u64,
    /// This process's place in a cluster of processes (`run --processes N --process I
    /// --hosts FILE`); none for a single process. Not part of the file: set on the command line.
    #[serde(skip)]
    pub cluster: Option<ClusterConfig>,
}

/// The most worker threads one process may run: beyond the cores, workers only add overhead,
/// and each holds its own share of every arrangement.
pub const MAX_WORKERS: usize = 128;

/// The machine's available parallelism (1 if it cannot be told).
pub fn available_parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The coarsest tick: one day (a coarser one would push every result past the end of input).
pub const MAX_TICK_MILLIS: u64 = 86_400_000;

/// The widest future-dating allowance: ten years.
pub const MAX_FUTURE_HOURS: u64 = 87_600;

/// A timely cluster: `hosts.len()` processes, each running `pipeline.workers` workers, which
/// connect to each other over TCP (SPEC §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// This process's index, from 0; process 0 writes the outputs and the audit store.
    pub process: usize,
    /// `host:port` of every process, in process order.
    pub hosts: Vec<String>,
    /// How long the processes may take to connect to each other at the start: a process whose
    /// peers have not all connected by then ends the run with an error rather than wait.
    pub connect_timeout_seconds: u64,
}

/// The most processes a cluster may have.
pub const MAX_PROCESSES: usize = 64;

/// The default of [`ClusterConfig::connect_timeout_seconds`].
pub const CONNECT_TIMEOUT_SECONDS: u64 = 120;

impl ClusterConfig {
    /// Process `process` of `processes`, whose addresses the hosts file at `path` lists one
    /// per line (`#` starts a comment); `None` for a single process without a hosts file. Why
    /// not, when the three do not fit together.
    pub fn of(
        processes: usize,
        process: Option<usize>,
        path: Option<&Path>,
    ) -> Result<Option<ClusterConfig>, String> {
        if !(1..=MAX_PROCESSES).contains(&processes) {
            return Err(format!("--processes must be from 1 to {MAX_PROCESSES}"));
        }
        let (Some(process), Some(path)) = (process, path) else {
            return match processes {
                1 => Ok(None),
                _ => Err("--processes needs --process and --hosts".into()),
            };
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading the hosts file {}: {e}", path.display()))?;
        let hosts: Vec<String> = (text.lines())
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        if hosts.len() != processes {
            let listed = hosts.len();
            return Err(format!(
                "{} lists {listed} hosts for --processes {processes}",
                path.display()
            ));
        }
        if process >= processes {
            return Err(format!(
                "--process {process} is not below --processes {processes}"
            ));
        }
        Ok(Some(ClusterConfig {
            process,
            hosts,
            connect_timeout_seconds: CONNECT_TIMEOUT_SECONDS,
        }))
    }
}

impl PipelineConfig {
    /// Refuses engine settings out of their ranges, naming the key.
    fn validate(&self) -> Result<(), ConfigError> {
        let bounded = |key: &str, ok: bool, message: String| match ok {
            true => Ok(()),
            false => Err(ConfigError::Invalid {
                key: format!("pipeline.{key}"),
                message,
            }),
        };
        bounded(
            "workers",
            (1..=MAX_WORKERS).contains(&self.workers),
            format!(
                "must be from 1 to {MAX_WORKERS} (this machine has {} cores)",
                available_parallelism()
            ),
        )?;
        bounded(
            "tick_millis",
            (1..=MAX_TICK_MILLIS).contains(&self.tick_millis),
            format!("must be from 1 to {MAX_TICK_MILLIS} (one day)"),
        )?;
        bounded(
            "max_future_hours",
            (1..=MAX_FUTURE_HOURS).contains(&self.max_future_hours),
            format!("must be from 1 to {MAX_FUTURE_HOURS} (ten years)"),
        )?;
        bounded(
            "batch_size",
            self.batch_size >= 1,
            "must be at least 1".into(),
        )
    }

    /// Workers over all processes.
    pub fn total_workers(&self) -> usize {
        self.workers * self.cluster.as_ref().map_or(1, |c| c.hosts.len())
    }

    /// Whether this process writes the outputs (process 0, or the only process).
    pub fn writes_outputs(&self) -> bool {
        self.cluster.as_ref().is_none_or(|c| c.process == 0)
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            workers: available_parallelism(),
            tick_millis: 1000,
            batch_size: 10_000,
            follow: false,
            max_future_hours: 168,
            cluster: None,
        }
    }
}

/// A declared stream (`[[streams]]`): records of one kind — a bank statement's lines, a PSP's
/// payouts — with an id, a signed amount, a currency, an event time and the keys named here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Its name (1–15 lowercase letters, digits or `_`; not `payments` or `entries`).
    pub name: String,
    /// The keys its records may carry, by name (at most three; same form as the name),
    /// for rules to group and pair by.
    #[serde(default)]
    pub keys: Vec<String>,
    /// The attributes its records carry into results, by name (at most three; same form as
    /// the name): each result lists the values its records have (docs/rules.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub carry: Vec<String>,
}

/// One input source.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Which stream it feeds: `payments`, `entries` or a declared stream's name.
    pub stream: Stream,
    /// The input file (JSON Lines, or CSV with a header row); or else `topic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// A Kafka topic whose message values are JSON records (needs `[kafka]`); or else `path`.
    /// Its partitions are spread over all workers of all processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// For files: `jsonl` or `csv`; default from the file extension (`.csv` → csv, else jsonl).
    #[serde(default)]
    pub format: Option<Format>,
    /// How far behind its newest event time this source's watermark trails. Default 300.
    #[serde(default = "default_lateness")]
    pub allowed_lateness_seconds: u64,
    /// When following, a source that has yielded nothing for this long (wall clock) stops
    /// holding the watermark back until it yields again. Default 60.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_seconds: u64,
    /// How this input's own columns map onto the stream's roles (docs/rules.md); default:
    /// the stream's own columns (SPEC §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<fields::FieldMap>,
}

impl SourceConfig {
    /// How this source reads each record, its stream among `streams` (validated at load).
    pub fn layout(&self, streams: &[StreamConfig]) -> fields::Layout {
        let keys = stream_keys(streams, self.stream).unwrap_or_default();
        let carry = stream_carry(streams, self.stream);
        let map = self.fields.clone().unwrap_or_default();
        map.resolve(self.stream, &keys, &carry)
            .expect("field maps are resolved at load")
    }
}

/// The keys of `stream` among `streams`: none for the built-in ones; `None` for a stream no
/// `[[streams]]` entry declares.
pub fn stream_keys(streams: &[StreamConfig], stream: Stream) -> Option<Vec<String>> {
    match stream {
        Stream::Payments | Stream::Entries => Some(Vec::new()),
        Stream::Declared(_) => declaration(streams, stream).map(|s| s.keys.clone()),
    }
}

/// The `[[streams]]` entry that declares `stream` (none for the built-in streams).
fn declaration(streams: &[StreamConfig], stream: Stream) -> Option<&StreamConfig> {
    match stream {
        Stream::Payments | Stream::Entries => None,
        Stream::Declared(_) => streams.iter().find(|s| s.name == stream.name()),
    }
}

/// The attributes `stream` carries into results: none for the built-in streams.
pub fn stream_carry(streams: &[StreamConfig], stream: Stream) -> Vec<String> {
    (declaration(streams, stream).map(|s| s.carry.clone())).unwrap_or_default()
}

fn default_lateness() -> u64 {
    300
}

fn default_idle_timeout() -> u64 {
    60
}

/// A reconciliation rule.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleConfig {
    /// Payment events against ledger entries on the match accounts, per (payment_id, currency).
    PaymentLedger(PaymentLedgerRule),
    /// Σ debits = Σ credits per (journal_id, currency).
    JournalBalance(JournalBalanceRule),
    /// A declared balance: any left side against any right side (docs/rules.md).
    Balance(balance::BalanceRule),
    /// Records paired one to one, one to many or many to one by key, amount and time window
    /// (docs/rules.md).
    Match(balance::MatchRule),
    /// A graph a program built on trueup registers (docs/operators/pipeline.md).
    Graph(balance::GraphRule),
}

/// Parameters of a `payment_ledger` rule.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentLedgerRule {
    /// The rule's name in results. Default `payment_ledger`.
    pub name: String,
    /// Accounts whose entries form the ledger side. Default `["psp_receivable"]`.
    pub match_accounts: Vec<String>,
    /// How far expected and actual may differ and still match. Default exact.
    pub tolerance: ToleranceConfig,
    /// Hours after a group's latest event before an unmatched group is a break. Default 72.
    pub grace_hours: u64,
}

impl Default for PaymentLedgerRule {
    fn default() -> Self {
        PaymentLedgerRule {
            name: "payment_ledger".into(),
            match_accounts: vec!["psp_receivable".into()],
            tolerance: ToleranceConfig::default(),
            grace_hours: 72,
        }
    }
}

/// Parameters of a `journal_balance` rule.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalBalanceRule {
    /// The rule's name in results. Default `journal_balance`.
    pub name: String,
    /// How far debits and credits may differ. Default exact.
    pub tolerance: ToleranceConfig,
    /// Hours after a journal's latest entry before an unbalanced journal is a break. Default 72.
    pub grace_hours: u64,
}

impl Default for JournalBalanceRule {
    fn default() -> Self {
        JournalBalanceRule {
            name: "journal_balance".into(),
            tolerance: ToleranceConfig::default(),
            grace_hours: 72,
        }
    }
}

/// A rule's tolerance: matched when `|expected − actual| ≤ max(absolute[currency],
/// relative)`, `relative` being `|expected| × relative_bps / 10 000` raised to
/// `floor[currency]` and lowered to `cap[currency]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToleranceConfig {
    /// Absolute tolerance per currency, e.g. `{ USD = "0.01", JPY = "1" }`, each a decimal
    /// string read as input amounts are (no sign, no exponent, at most the currency's
    /// minor-unit digits); other currencies 0.
    pub absolute: BTreeMap<String, String>,
    /// Relative tolerance in basis points of |expected|, at most [`MAX_RELATIVE_BPS`] (100 %).
    /// Default 0.
    pub relative_bps: u32,
    /// The least the relative tolerance is, per currency (`{ USD = "0.10" }`), read as
    /// `absolute` is; other currencies 0.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub floor: BTreeMap<String, String>,
    /// The most the relative tolerance is, per currency (`{ USD = "5.00" }`), at least its
    /// floor; other currencies uncapped.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub cap: BTreeMap<String, String>,
}

impl ToleranceConfig {
    /// The tolerance for one currency.
    pub fn for_currency(&self, currency: Currency) -> Tolerance {
        // validated at load: every listed amount parses
        let amount = |table: &BTreeMap<String, String>| {
            (table.get(currency.code())).and_then(|text| currency.parse_amount(text, text).ok())
        };
        Tolerance {
            absolute: amount(&self.absolute).unwrap_or_default(),
            relative_bps: self.relative_bps,
            floor: amount(&self.floor).unwrap_or_default(),
            cap: amount(&self.cap),
        }
    }

    /// Every listed amount, by its key within the tolerance (`absolute.USD`, `floor.EUR`).
    fn listed(&self) -> impl Iterator<Item = (String, &String, &String)> {
        let tables = [
            ("absolute", &self.absolute),
            ("floor", &self.floor),
            ("cap", &self.cap),
        ];
        tables.into_iter().flat_map(|(name, table)| {
            table
                .iter()
                .map(move |(code, amount)| (format!("{name}.{code}"), code, amount))
        })
    }
}

/// Where the outputs go: the result changelog and the dead letters both to files or both to
/// Kafka topics.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinksConfig {
    /// The result changelog (JSON Lines); or else `results_topic`.
    #[serde(default)]
    pub results: Option<PathBuf>,
    /// Rejected input lines (JSON Lines); or else `dead_letters_topic`.
    #[serde(default)]
    pub dead_letters: Option<PathBuf>,
    /// The Kafka topic of result changes (needs `[kafka]`; see docs/kafka.md for the format).
    #[serde(default)]
    pub results_topic: Option<String>,
    /// The Kafka topic of dead letters (needs `[kafka]`).
    #[serde(default)]
    pub dead_letters_topic: Option<String>,
    /// The summary (JSON); not written when absent.
    #[serde(default)]
    pub summary: Option<PathBuf>,
}

impl SinksConfig {
    /// Result and dead-letter files in `out`, and the summary beside them.
    pub fn files_in(out: &Path) -> SinksConfig {
        SinksConfig {
            results: Some(out.join("results.jsonl")),
            dead_letters: Some(out.join("dead_letters.jsonl")),
            summary: Some(out.join("summary.json")),
            ..SinksConfig::default()
        }
    }
}

/// The standard rules: `payment_ledger` and `journal_balance`, each with its defaults.
pub fn default_rules() -> Vec<RuleConfig> {
    vec![
        RuleConfig::PaymentLedger(PaymentLedgerRule::default()),
        RuleConfig::JournalBalance(JournalBalanceRule::default()),
    ]
}

/// The longest duration any `_hours` key may give: 87,600 hours (ten years).
pub const MAX_HOURS: u64 = 87_600;

/// The largest relative tolerance: 10,000 basis points (100 %).
pub const MAX_RELATIVE_BPS: u32 = 10_000;

/// Refuses `value` beyond `max` (in `unit`), naming `key`.
fn within(key: &str, value: u64, max: u64, unit: &str) -> Result<(), ConfigError> {
    match value <= max {
        true => Ok(()),
        false => Err(ConfigError::Invalid {
            key: key.to_string(),
            message: format!("must be at most {max} {unit} (ten years)"),
        }),
    }
}

/// Refuses a list of declared names (keys, carried attributes) longer than `most`, or with a
/// name twice or not of a declared name's form.
fn distinct_names(names: &[String], most: usize) -> Result<(), String> {
    if names.len() > most {
        return Err(format!("at most {most}"));
    }
    let mut seen = BTreeSet::new();
    match names
        .iter()
        .find(|name| !crate::model::is_declared_name(name) || !seen.insert(*name))
    {
        Some(name) => Err(format!(
            "{name:?}: each name once, 1–15 lowercase letters, digits or `_`, starting with a \
             letter"
        )),
        None => Ok(()),
    }
}

/// Refuses hours beyond [`MAX_HOURS`], naming `key`.
fn within_hours(key: &str, hours: u64) -> Result<(), ConfigError> {
    within(key, hours, MAX_HOURS, "hours")
}

/// Refuses seconds beyond [`MAX_HOURS`] in seconds, naming `key`.
fn within_seconds(key: &str, seconds: u64) -> Result<(), ConfigError> {
    within(key, seconds, MAX_HOURS * 3600, "seconds")
}

/// A configuration that cannot be used, with the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not valid TOML, an unknown key, or a value of the wrong type.
    #[error("invalid config: {0}")]
    Parse(String),
    /// A value that parses but cannot be used.
    #[error("invalid config: `{key}`: {message}")]
    Invalid {
        /// The key at fault, e.g. `rules[0].tolerance.absolute.XYZ`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

impl RuleConfig {
    /// The rule's name in results.
    pub fn name(&self) -> &str {
        match self {
            RuleConfig::PaymentLedger(r) => &r.name,
            RuleConfig::JournalBalance(r) => &r.name,
            RuleConfig::Balance(r) => &r.name,
            RuleConfig::Match(r) => &r.name,
            RuleConfig::Graph(r) => &r.name,
        }
    }

    /// The grace period in hours.
    pub fn grace_hours(&self) -> u64 {
        match self {
            RuleConfig::PaymentLedger(r) => r.grace_hours,
            RuleConfig::JournalBalance(r) => r.grace_hours,
            RuleConfig::Balance(r) => r.grace_hours,
            RuleConfig::Match(r) => r.grace_hours,
            RuleConfig::Graph(r) => r.grace_hours,
        }
    }

    /// The grace period in milliseconds.
    pub fn grace_millis(&self) -> u64 {
        self.grace_hours().saturating_mul(crate::model::time::HOUR)
    }

    /// A key within the rule that its kind cannot use, or its streams (among `streams`) do
    /// not have, and why.
    fn refusal(&self, streams: &[StreamConfig]) -> Option<(String, String)> {
        let keys = |stream: Stream| stream_keys(streams, stream);
        let sides = |left: &balance::SideConfig,
                     right: &balance::SideConfig,
                     key: Option<balance::KeyField>| {
            [("left", left), ("right", right)]
                .into_iter()
                .find_map(|(name, side)| {
                    let key = key.or(side.key);
                    balance::side_refusal(name, side, key, keys(side.stream).as_deref())
                })
        };
        match self {
            RuleConfig::Balance(r) => r.refusal().or_else(|| sides(&r.left, &r.right, None)),
            RuleConfig::Match(r) => r.refusal().or_else(|| {
                // the key is the rule's, for both sides
                let (key, message) = sides(&r.left, &r.right, r.key)?;
                let rules_own = r.key.is_some() && key.ends_with(".key");
                Some((if rules_own { "key".into() } else { key }, message))
            }),
            RuleConfig::Graph(r) => [("left", r.left), ("right", r.right)]
                .into_iter()
                .find(|(_, stream)| keys(*stream).is_none())
                .map(|(name, stream)| {
                    let message = format!("no [[streams]] entry declares {:?}", stream.name());
                    (name.to_string(), message)
                }),
            RuleConfig::PaymentLedger(_) | RuleConfig::JournalBalance(_) => None,
        }
    }

    /// Refuses this rule's (the `i`-th) grace and relative tolerance beyond their bounds.
    fn validate_bounds(&self, i: usize) -> Result<(), ConfigError> {
        within_hours(&format!("rules[{i}].grace_hours"), self.grace_hours())?;
        let bps = self.tolerance().relative_bps;
        match bps <= MAX_RELATIVE_BPS {
            true => Ok(()),
            false => Err(ConfigError::Invalid {
                key: format!("rules[{i}].tolerance.relative_bps"),
                message: format!("must be at most {MAX_RELATIVE_BPS} (100 %)"),
            }),
        }
    }

    /// The tolerance settings.
    pub fn tolerance(&self) -> &ToleranceConfig {
        match self {
            RuleConfig::PaymentLedger(r) => &r.tolerance,
            RuleConfig::JournalBalance(r) => &r.tolerance,
            RuleConfig::Balance(r) => &r.tolerance,
            RuleConfig::Match(r) => &r.tolerance,
            RuleConfig::Graph(r) => &r.tolerance,
        }
    }
}

/// The key within rule `rules[i]` that its refusal is about: a rule's kind decides its
/// fields, so the parser refuses a rule as a whole (at its header); the rule's fields alone,
/// parsed as its kind's, name the key.
fn rule_key(text: &str, key: &str) -> Option<String> {
    let index: usize = key
        .strip_prefix("rules[")?
        .strip_suffix(']')?
        .parse()
        .ok()?;
    let doc: toml::Table = toml::from_str(text).ok()?;
    let mut rule = doc
        .get("rules")?
        .as_array()?
        .get(index)?
        .as_table()?
        .clone();
    let kind = rule.remove("kind")?;
    let body = toml::to_string(&rule).ok()?;
    let error = match kind.as_str()? {
        "payment_ledger" => toml::from_str::<PaymentLedgerRule>(&body).err()?,
        "journal_balance" => toml::from_str::<JournalBalanceRule>(&body).err()?,
        "balance" => toml::from_str::<balance::BalanceRule>(&body).err()?,
        "match" => toml::from_str::<balance::MatchRule>(&body).err()?,
        "graph" => toml::from_str::<balance::GraphRule>(&body).err()?,
        _ => return None,
    };
    let inner = key::key_at(&body, error.span()?.start)?;
    Some(format!("{key}.{inner}"))
}

impl Config {
    /// Parses and validates TOML text; relative paths are taken relative to `base`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let key = e.span().and_then(|span| key::key_at(text, span.start));
            let key = key.map(|key| rule_key(text, &key).unwrap_or(key));
            ConfigError::Parse(match key {
                Some(key) => format!("`{key}`: {e}"),
                None => e.to_string(),
            })
        })?;
        config.validate()?;
        let rebase = |path: &mut Option<PathBuf>| {
            if let Some(p) = path.as_mut() {
                *p = base.join(&*p);
            }
        };
        for source in &mut config.sources {
            rebase(&mut source.path);
        }
        rebase(&mut config.sinks.results);
        rebase(&mut config.sinks.dead_letters);
        rebase(&mut config.sinks.summary);
        Ok(config)
    }

    /// Reads, parses and validates a config file; relative paths are relative to its folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Refuses sinks that are neither both files nor both topics.
    fn validate_sinks(&self) -> Result<(), ConfigError> {
        let sinks = &self.sinks;
        let files = (sinks.results.is_some(), sinks.dead_letters.is_some());
        let topics = (
            sinks.results_topic.is_some(),
            sinks.dead_letters_topic.is_some(),
        );
        let message = match (files, topics) {
            ((true, true), (false, false)) => return Ok(()),
            ((false, false), (true, true)) if self.kafka.is_some() => return Ok(()),
            ((false, false), (true, true)) => "topics need a [kafka] section",
            _ => {
                "set results and dead_letters (files), or results_topic and dead_letters_topic \
                 (Kafka)"
            }
        };
        Err(ConfigError::Invalid {
            key: "sinks".into(),
            message: message.into(),
        })
    }

    /// Refuses retention horizons out of their bounds or order, naming the key.
    /// Refuses a declared stream's name or keys, naming the key.
    fn validate_streams(&self) -> Result<(), ConfigError> {
        let mut names = BTreeSet::new();
        for (i, stream) in self.streams.iter().enumerate() {
            let invalid = |key: &str, message: String| {
                Err(ConfigError::Invalid {
                    key: format!("streams[{i}].{key}"),
                    message,
                })
            };
            match Stream::parse(&stream.name) {
                Err(message) => return invalid("name", message),
                Ok(Stream::Payments | Stream::Entries) => {
                    return invalid("name", "payments and entries are built in".into())
                }
                Ok(_) if !names.insert(&stream.name) => {
                    return invalid("name", "declared twice".into())
                }
                Ok(_) => {}
            }
            for (role, names, most) in [
                ("keys", &stream.keys, MAX_KEYS),
                ("carry", &stream.carry, MAX_CARRIED),
            ] {
                if let Err(message) = distinct_names(names, most) {
                    return invalid(role, message);
                }
            }
            if !stream.carry.is_empty() && self.retention.is_some() {
                let message = "carried attributes are not retired with [retention]: \
                               carry none, or run without retention"
                    .to_string();
                return invalid("carry", message);
            }
        }
        Ok(())
    }

    fn validate_retention(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| {
            Err(ConfigError::Invalid {
                key: key.to_string(),
                message: message.to_string(),
            })
        };
        let Some(retention) = &self.retention else {
            return Ok(());
        };
        for (name, hours) in [
            ("settled_hours", retention.settled_hours),
            ("breaks_hours", retention.breaks_hours),
            ("dedupe_hours", retention.dedupe_hours),
        ] {
            within_hours(&format!("retention.{name}"), hours)?;
        }
        within(
            "retention.granularity_minutes",
            retention.granularity_minutes,
            MAX_HOURS * 60,
            "minutes",
        )?;
        if retention.breaks_hours < retention.settled_hours {
            return invalid(
                "retention.breaks_hours",
                "must be at least retention.settled_hours",
            );
        }
        if retention.dedupe_hours < retention.breaks_hours {
            return invalid(
                "retention.dedupe_hours",
                "must be at least retention.breaks_hours",
            );
        }
        if retention.granularity_minutes == 0 {
            return invalid("retention.granularity_minutes", "must be at least 1");
        }
        if self.pipeline.tick_millis < 2
            || (retention.granularity_minutes * 60_000) % self.pipeline.tick_millis != 0
        {
            return invalid(
                "pipeline.tick_millis",
                "with retention, must be at least 2 and divide retention.granularity_minutes \
                 (retirements take effect 1 ms after a grid point, never at an input time)",
            );
        }
        Ok(())
    }

    /// Refuses values that parse but cannot be used, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_string(),
            })
        };
        self.pipeline.validate()?;
        self.validate_streams()?;
        if self.sources.is_empty() {
            return invalid("sources".into(), "at least one source is required");
        }
        for (i, source) in self.sources.iter().enumerate() {
            match (&source.path, &source.topic) {
                (Some(_), None) => {}
                (None, Some(topic)) if topic.is_empty() => {
                    return invalid(format!("sources[{i}].topic"), "must not be empty");
                }
                (None, Some(_)) if self.kafka.is_none() => {
                    return invalid(format!("sources[{i}].topic"), "needs a [kafka] section");
                }
                (None, Some(_)) => {}
                _ => return invalid(format!("sources[{i}]"), "needs exactly one of path, topic"),
            }
        }
        self.validate_sinks()?;
        for (i, source) in self.sources.iter().enumerate() {
            let key = |name: &str| format!("sources[{i}].{name}");
            within_seconds(
                &key("allowed_lateness_seconds"),
                source.allowed_lateness_seconds,
            )?;
            within_seconds(&key("idle_timeout_seconds"), source.idle_timeout_seconds)?;
            let Some(keys) = stream_keys(&self.streams, source.stream) else {
                let message = format!("no [[streams]] entry declares {:?}", source.stream.name());
                return invalid(key("stream"), &message);
            };
            let map = source.fields.clone().unwrap_or_default();
            let carry = stream_carry(&self.streams, source.stream);
            if let Err((role, message)) = map.resolve(source.stream, &keys, &carry) {
                return invalid(key(&format!("fields.{role}")), &message);
            }
        }
        if let Some(kafka) = &self.kafka {
            within_seconds("kafka.timeout_seconds", kafka.timeout_seconds)?;
        }
        self.validate_retention()?;
        let mut names = BTreeSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.name().is_empty() || rule.name() == "dedupe" || !names.insert(rule.name()) {
                return invalid(
                    format!("rules[{i}].name"),
                    "must be non-empty, unique and not `dedupe`",
                );
            }
            if let RuleConfig::PaymentLedger(r) = rule {
                if r.match_accounts.is_empty() {
                    return invalid(
                        format!("rules[{i}].match_accounts"),
                        "must name at least one account",
                    );
                }
            }
            if let Some((key, message)) = rule.refusal(&self.streams) {
                return invalid(format!("rules[{i}].{key}"), &message);
            }
            rule.validate_bounds(i)?;
            let tolerance = rule.tolerance();
            for (inner, code, amount) in tolerance.listed() {
                let key = format!("rules[{i}].tolerance.{inner}");
                let Some(currency) = Currency::from_code(code) else {
                    return invalid(key, "unknown currency (not an ISO 4217 code)");
                };
                if let Err(reason) = currency.parse_amount(amount, amount) {
                    return invalid(
                        key,
                        &format!("{reason}: must be a decimal ≥ 0 written as input amounts are"),
                    );
                }
            }
            for currency in tolerance
                .cap
                .keys()
                .filter_map(|code| Currency::from_code(code))
            {
                let bounds = tolerance.for_currency(currency);
                if bounds.cap.is_some_and(|cap| cap < bounds.floor) {
                    let key = format!("rules[{i}].tolerance.cap.{currency}");
                    return invalid(key, "must be at least the floor");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [[sources]]
        stream = "payments"
        path = "p.jsonl"
        [sinks]
        results = "out/results.jsonl"
        dead_letters = "out/dead.jsonl"
    "#;

    #[test]
    fn defaults_fill_in() {
        let config = Config::from_toml(MINIMAL, Path::new("/base")).unwrap();
        assert_eq!(config.rules.len(), 2);
        assert_eq!(
            config.sources[0].path.as_deref(),
            Some(Path::new("/base/p.jsonl"))
        );
        assert_eq!(config.rules[0].grace_millis(), 72 * 3_600_000);
        assert_eq!(config.pipeline.workers, available_parallelism());
    }

    #[test]
    fn unknown_keys_are_named() {
        let text = MINIMAL.replace("[sinks]", "[sinks]\nresutls = \"x\"");
        let err = Config::from_toml(&text, Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `resutls`"), "{err}");
        let text = format!("{MINIMAL}\n[[rules]]\nkind = \"payment_ledger\"\ngrace_hour = 3\n");
        let err = Config::from_toml(&text, Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `grace_hour`"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let text = format!("{MINIMAL}\n[[rules]]\nkind = \"payment_ledger\"\ntolerance = {{ absolute = {{ XYZ = \"1\" }} }}\n");
        let err = Config::from_toml(&text, Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.contains("rules[0].tolerance.absolute.XYZ"), "{err}");
        let text = MINIMAL.replace("[[sources]]", "[pipeline]\nworkers = 0\n[[sources]]");
        let err = Config::from_toml(&text, Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.contains("pipeline.workers"), "{err}");
    }

    #[test]
    fn a_tolerance_floor_and_cap_bound_the_relative_part_and_are_refused_by_key() {
        let rule = |body: &str| {
            let text = format!("{MINIMAL}\n[[rules]]\nkind = \"journal_balance\"\n{body}\n");
            Config::from_toml(&text, Path::new("."))
        };
        let config = rule(
            "tolerance = { relative_bps = 50, floor = { USD = \"0.10\" }, cap = { USD = \"5.00\" } }",
        )
        .unwrap();
        let usd = config.rules[0]
            .tolerance()
            .for_currency(Currency::from_code("USD").unwrap());
        let amount = |text| trueup_operators::Amount::parse(text).unwrap();
        assert_eq!((usd.floor, usd.cap), (amount("0.10"), Some(amount("5.00"))));
        assert!(usd.accepts(amount("10.00"), amount("9.90")));
        assert!(!usd.accepts(amount("5000.00"), amount("4994.99")));
        for (body, key) in [
            (
                "tolerance = { floor = { USD = \"0.001\" } }",
                "rules[0].tolerance.floor.USD",
            ),
            (
                "tolerance = { cap = { XYZ = \"1\" } }",
                "rules[0].tolerance.cap.XYZ",
            ),
            (
                "tolerance = { floor = { EUR = \"2\" }, cap = { EUR = \"1\" } }",
                "rules[0].tolerance.cap.EUR",
            ),
        ] {
            let error = rule(body).unwrap_err().to_string();
            assert!(error.contains(&format!("`{key}`")), "{body}: {error}");
        }
    }

    #[test]
    fn a_declared_balance_is_refused_naming_the_side_key() {
        let rule = |body: &str| {
            let text = format!("{MINIMAL}\n[[rules]]\nkind = \"balance\"\nname = \"b\"\n{body}\n");
            Config::from_toml(&text, Path::new(".")).map(|c| c.rules.len())
        };
        let entries = "right = { stream = \"entries\", key = \"journal_id\" }";
        assert_eq!(
            rule(&format!(
                "left = {{ stream = \"payments\", key = \"payment_id\" }}\n{entries}"
            ))
            .unwrap(),
            1
        );
        for (left, key) in [
            (
                "{ stream = \"payments\", key = \"payment_id\", accounts = [\"a\"] }",
                "rules[0].left.accounts",
            ),
            (
                "{ stream = \"payments\", key = \"journal_id\" }",
                "rules[0].left.key",
            ),
            (
                "{ stream = \"payments\", key = \"payment_id\", direction = \"debit\" }",
                "rules[0].left.direction",
            ),
            (
                "{ stream = \"payments\", key = \"merchant_id\" }",
                "rules[0].left.key",
            ),
            (
                "{ stream = \"payments\", key = \"payment_id\", filter = 1 }",
                "rules[0].left",
            ),
            ("{ stream = \"payments\" }", "rules[0].left.key"),
            (
                "{ stream = \"payments\", key = \"payment_id\", group_by = \"payment_id\" }",
                "rules[0].left.group_by",
            ),
        ] {
            let error = rule(&format!("left = {left}\n{entries}"))
                .unwrap_err()
                .to_string();
            assert!(error.contains(&format!("`{key}")), "{left}: {error}");
        }
    }

    #[test]
    fn declared_streams_their_sources_and_rules_are_refused_naming_the_key() {
        let config = |streams: &str, fields: &str, rule: &str| {
            let text = format!(
                "{streams}\n[[sources]]\nstream = \"bank\"\npath = \"b.csv\"\n\
                 [sources.fields]\n{fields}\n{}\n{rule}\n",
                MINIMAL.replace("[sinks]", "[sinks]\n")
            );
            Config::from_toml(&text, Path::new(".")).map(|c| c.streams.len())
        };
        let bank = "[[streams]]\nname = \"bank\"\nkeys = [\"ref\"]";
        let fields = "id = \"Line\"\nkeys = { ref = \"Reference\" }";
        let rule = "[[rules]]\nkind = \"match\"\nname = \"m\"\n\
                    left = { stream = \"bank\", group_by = \"ref\" }\n\
                    right = { stream = \"payments\" }";
        assert_eq!(config(bank, fields, rule).unwrap(), 1);
        let only = rule.replace("group_by = \"ref\"", "only = { ref = [\"x\", \"y\"] }");
        assert_eq!(config(bank, fields, &only).unwrap(), 1);
        let one = "[[streams]]\nname = \"bank\"";
        for (streams, fields, rule, key) in [
            ("", fields, "", "sources[0].stream"),
            ("[[streams]]\nname = \"Bank\"", fields, "", "streams[0].name"),
            ("[[streams]]\nname = \"entries\"", fields, "", "streams[0].name"),
            (&format!("{one}\n{one}"), "", "", "streams[1].name"),
            ("[[streams]]\nname = \"bank\"\nkeys = [\"a\", \"b\", \"c\", \"d\"]", "", "", "streams[0].keys"),
            ("[[streams]]\nname = \"bank\"\nkeys = [\"a\", \"a\"]", "", "", "streams[0].keys"),
            (bank, "keys = { other = \"X\" }", "", "sources[0].fields.keys.other"),
            ("[[streams]]\nname = \"bank\"\ncarry = [\"a\", \"b\", \"c\", \"d\"]", "", "", "streams[0].carry"),
            ("[[streams]]\nname = \"bank\"\ncarry = [\"a\", \"a\"]", "", "", "streams[0].carry"),
            ("[[streams]]\nname = \"bank\"\ncarry = [\"A\"]", "", "", "streams[0].carry"),
            (bank, "carry = { other = \"X\" }", "", "sources[0].fields.carry.other"),
            (&format!("{bank}\ncarry = [\"memo\"]"), fields, "[retention]", "streams[0].carry"),
            (bank, "account = \"GL\"", "", "sources[0].fields.account"),
            (
                bank,
                "amount = { column = \"A\", signed = true }\nsign = { column = \"T\", values = { c = \"+\" } }",
                "",
                "sources[0].fields.sign",
            ),
            (bank, "sign = { column = \"T\", values = { c = \"plus\" } }", "", "sources[0].fields.sign.values.c"),
            (bank, fields, &rule.replace("\"ref\"", "\"other\""), "rules[0].left.group_by"),
            (bank, fields, &rule.replace("\"payments\" }", "\"payments\", group_by = \"ref\" }"), "rules[0].right.group_by"),
            (bank, fields, &rule.replace("\"bank\", group", "\"bank\", accounts = [\"x\"], group"), "rules[0].left.accounts"),
            (bank, fields, &rule.replace("\"payments\" }", "\"ledger\" }"), "rules[0].right.stream"),
            (bank, fields, &rule.replace("\"payments\" }", "\"payments\", only = { ref = [\"x\"] } }"), "rules[0].right.only"),
            (bank, fields, &rule.replace("group_by = \"ref\"", "only = { other = [\"x\"] }"), "rules[0].left.only.other"),
            (bank, fields, &rule.replace("group_by = \"ref\"", "only = { ref = [] }"), "rules[0].left.only.ref"),
        ] {
            let error = config(streams, fields, rule).unwrap_err().to_string();
            assert!(error.contains(&format!("`{key}`")), "{key}: {error}");
        }
        let carrying = format!("{bank}\ncarry = [\"memo\"]");
        let memo = format!("{fields}\ncarry = {{ memo = \"Memo\" }}");
        assert_eq!(config(&carrying, &memo, rule).unwrap(), 1);
        let payments = MINIMAL.replace(
            "p.jsonl\"",
            "p.jsonl\"\n[sources.fields]\ncarry = { memo = \"m\" }",
        );
        let error = Config::from_toml(&payments, Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(error.contains("`sources[0].fields.carry`"), "{error}");
    }

    #[test]
    fn a_match_rule_is_refused_naming_the_key() {
        let rule = |body: &str| {
            let text = format!("{MINIMAL}\n[[rules]]\nkind = \"match\"\nname = \"m\"\n{body}\n");
            Config::from_toml(&text, Path::new(".")).map(|c| c.rules.len())
        };
        let sides = "left = { stream = \"payments\" }\nright = { stream = \"entries\" }";
        assert_eq!(rule(sides).unwrap(), 1);
        let grouped = sides.replace("payments\" }", "payments\", group_by = \"payment_id\" }");
        assert_eq!(rule(&grouped).unwrap(), 1);
        for (body, key) in [
            (
                format!("{sides}\nwindow_hours = 100000"),
                "rules[0].window_hours",
            ),
            (format!("{sides}\nkey = \"journal_id\""), "rules[0].key"),
            (format!("{sides}\nkey = \"merchant_id\""), "rules[0].key"),
            (
                sides.replace("payments\" }", "payments\", accounts = [\"a\"] }"),
                "rules[0].left.accounts",
            ),
            (
                format!("{sides}\nwindow = 2"),
                "rules[0]`: TOML parse error at line 9",
            ),
            (
                sides.replace("payments\" }", "payments\", key = \"payment_id\" }"),
                "rules[0].left.key",
            ),
            (
                sides.replace("payments\" }", "payments\", group_by = \"journal_id\" }"),
                "rules[0].left.group_by",
            ),
        ] {
            let error = rule(&body).unwrap_err().to_string();
            assert!(error.contains(&format!("`{key}")), "{body}: {error}");
        }
    }

    #[test]
    fn every_refusal_names_its_key() {
        let rule =
            |body: &str| format!("{MINIMAL}\n[[rules]]\nkind = \"payment_ledger\"\n{body}\n");
        let retention = |body: &str| format!("{MINIMAL}\n[retention]\n{body}\n");
        let source = |body: &str| {
            MINIMAL.replace("path = \"p.jsonl\"", &format!("path = \"p.jsonl\"\n{body}"))
        };
        for (text, key) in [
            (
                rule("tolerance = { relative_bps = -1 }"),
                "rules[0].tolerance.relative_bps",
            ),
            (
                rule("tolerance = { relative_bps = 100000000 }"),
                "rules[0].tolerance.relative_bps",
            ),
            (
                rule("tolerance = { absolute = { USD = 0.01 } }"),
                "rules[0].tolerance.absolute.USD",
            ),
            (
                rule("tolerance = { absolute = { USD = \"1e-2\" } }"),
                "rules[0].tolerance.absolute.USD",
            ),
            (
                rule("tolerance = { absolute = { USD = \"+0.01\" } }"),
                "rules[0].tolerance.absolute.USD",
            ),
            (
                rule("tolerance = { absolute = { USD = \"-0.01\" } }"),
                "rules[0].tolerance.absolute.USD",
            ),
            (rule("grace_hours = 100000000"), "rules[0].grace_hours"),
            (rule("grace_hours = -3"), "rules[0].grace_hours"),
            (
                retention("settled_hours = 90000\nbreaks_hours = 90000\ndedupe_hours = 90000"),
                "retention.settled_hours",
            ),
            (
                retention("granularity_minutes = 6000000"),
                "retention.granularity_minutes",
            ),
            (
                source("allowed_lateness_seconds = 999999999999"),
                "sources[0].allowed_lateness_seconds",
            ),
            (
                source("idle_timeout_seconds = \"soon\""),
                "sources[0].idle_timeout_seconds",
            ),
        ] {
            let err = Config::from_toml(&text, Path::new("."))
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("`{key}`")), "{key}: {err}");
        }
        let tolerated = rule("tolerance = { absolute = { USD = \"0.01\", JPY = \"20\" }, relative_bps = 10000 }\ngrace_hours = 87600");
        let config = Config::from_toml(&tolerated, Path::new(".")).unwrap();
        let usd = Currency::from_code("USD").unwrap();
        assert_eq!(
            config.rules[0]
                .tolerance()
                .for_currency(usd)
                .absolute
                .to_string(),
            "0.01"
        );
    }

    /// The dotted keys of `value`, arrays of tables as `[]`, down to values that are not tables
    /// (an empty table — a map such as `tolerance.absolute` — and a list of values are values).
    fn keys(prefix: &str, value: &serde_json::Value, out: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) if !map.is_empty() => {
                for (key, item) in map {
                    let dotted = match prefix {
                        "" => key.clone(),
                        _ => format!("{prefix}.{key}"),
                    };
                    keys(&dotted, item, out);
                }
            }
            serde_json::Value::Array(items) if items.iter().all(|i| i.is_object()) => {
                for item in items {
                    keys(&format!("{prefix}[]"), item, out);
                }
            }
            _ => {
                out.insert(prefix.to_string());
            }
        }
    }

    #[test]
    fn every_config_key_is_in_the_reference_table_of_docs_config() {
        let text = format!(
            "{}\n[retention]\n[store]\nurl = \"s.db\"\nhead_log = \"h\"\n\
             [kafka]\nbrokers = \"b\"\n[[rules]]\nkind = \"payment_ledger\"\n\
             [[rules]]\nkind = \"journal_balance\"\n",
            MINIMAL
                .replace(
                    "path = \"p.jsonl\"",
                    "path = \"p.jsonl\"\nformat = \"jsonl\""
                )
                .replace("[sinks]", "[sinks]\nsummary = \"s.json\"")
        );
        let config = Config::from_toml(&text, Path::new(".")).unwrap();
        let mut all = BTreeSet::new();
        keys("", &serde_json::to_value(&config).unwrap(), &mut all);
        for topic in [
            "sources[].topic",
            "sinks.results_topic",
            "sinks.dead_letters_topic",
        ] {
            all.insert(topic.to_string()); // the alternatives to paths, never both at once
        }
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/config.md"))
            .unwrap();
        let documented: BTreeSet<String> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("| `")?.split('`').next().map(String::from))
            .collect();
        let missing: Vec<&String> = all.iter().filter(|k| !documented.contains(*k)).collect();
        assert!(
            missing.is_empty(),
            "not in docs/config.md's table: {missing:?}"
        );
    }

    #[test]
    fn kafka_sources_and_sinks_are_checked_and_secrets_never_shown() {
        let text = r#"
            [kafka]
            brokers = "127.0.0.1:9092"
            properties = { "sasl.password" = "hunter2-secret" }
            [[sources]]
            stream = "payments"
            topic = "payments"
            [sinks]
            results_topic = "results"
            dead_letters_topic = "dead"
        "#;
        let config = Config::from_toml(text, Path::new(".")).unwrap();
        let shown = format!("{config:?}");
        assert!(
            shown.contains("sasl.password") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(!config.fingerprint().contains("hunter2"));
        for (broken, key) in [
            (
                text.replace("topic = \"payments\"", "topic = \"payments\"\npath = \"p\""),
                "sources[0]",
            ),
            (
                text.replace(
                    "dead_letters_topic = \"dead\"",
                    "dead_letters = \"d.jsonl\"",
                ),
                "sinks",
            ),
        ] {
            let err = Config::from_toml(&broken, Path::new("."))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{err}");
        }
        let no_kafka = text
            .replace("[kafka]", "")
            .replace("brokers = \"127.0.0.1:9092\"", "");
        let no_kafka = no_kafka.replace(
            "properties = { \"sasl.password\" = \"hunter2-secret\" }",
            "",
        );
        let err = Config::from_toml(&no_kafka, Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sources[0].topic") && err.contains("[kafka]"),
            "{err}"
        );
    }
}
