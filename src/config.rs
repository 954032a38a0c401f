//! The pipeline configuration: one TOML file of sources, rules and sinks.
//!
//! Every struct rejects unknown keys (the error names the key and its line), and
//! [`Config::validate`] refuses values that parse but make no sense, naming the key.
//! The doc comments on the fields are the reference documentation (`docs/config.md`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use trueup_operators::{Amount, Tolerance};

use crate::currency::Currency;
use crate::model::Stream;
use crate::sources::file::Format;

/// The whole configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Engine settings.
    #[serde(default)]
    pub pipeline: PipelineConfig,
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
}

fn default_commit_interval() -> u64 {
    1000
}

impl Config {
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
    /// Worker threads (timely workers) in this process. Default 1.
    pub workers: usize,
    /// Logical-time granularity in milliseconds: event times are rounded up to it. Default 1000.
    pub tick_millis: u64,
    /// Records read from one source before the others get a turn and time advances. Default 10000.
    pub batch_size: usize,
    /// Follow the inputs: at the end of a file, wait for it to grow instead of finishing, until
    /// the process is stopped (SIGINT or SIGTERM). Default false (`run --follow` sets it).
    pub follow: bool,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            workers: 1,
            tick_millis: 1000,
            batch_size: 10_000,
            follow: false,
        }
    }
}

/// One input source.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Which stream it feeds: `payments` or `entries`.
    pub stream: Stream,
    /// The input file (JSON Lines, or CSV with a header row).
    pub path: PathBuf,
    /// `jsonl` or `csv`; default from the file extension (`.csv` → csv, else jsonl).
    #[serde(default)]
    pub format: Option<Format>,
    /// How far behind its newest event time this source's watermark trails. Default 300.
    #[serde(default = "default_lateness")]
    pub allowed_lateness_seconds: u64,
    /// When following, a source that has yielded nothing for this long (wall clock) stops
    /// holding the watermark back until it yields again. Default 60.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_seconds: u64,
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
/// |expected| × relative_bps / 10 000)`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToleranceConfig {
    /// Absolute tolerance per currency, e.g. `{ USD = "0.01", JPY = "1" }`; other currencies 0.
    pub absolute: BTreeMap<String, Amount>,
    /// Relative tolerance in basis points of |expected|. Default 0.
    pub relative_bps: u32,
}

impl ToleranceConfig {
    /// The tolerance for one currency.
    pub fn for_currency(&self, currency: Currency) -> Tolerance {
        Tolerance {
            absolute: self
                .absolute
                .get(currency.code())
                .copied()
                .unwrap_or_default(),
            relative_bps: self.relative_bps,
        }
    }
}

/// Output files.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinksConfig {
    /// The result changelog (JSON Lines).
    pub results: PathBuf,
    /// Rejected input lines (JSON Lines).
    pub dead_letters: PathBuf,
    /// The summary (JSON); not written when absent.
    #[serde(default)]
    pub summary: Option<PathBuf>,
}

/// The standard rules: `payment_ledger` and `journal_balance`, each with its defaults.
pub fn default_rules() -> Vec<RuleConfig> {
    vec![
        RuleConfig::PaymentLedger(PaymentLedgerRule::default()),
        RuleConfig::JournalBalance(JournalBalanceRule::default()),
    ]
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
        }
    }

    /// The grace period in milliseconds.
    pub fn grace_millis(&self) -> u64 {
        let hours = match self {
            RuleConfig::PaymentLedger(r) => r.grace_hours,
            RuleConfig::JournalBalance(r) => r.grace_hours,
        };
        hours.saturating_mul(3_600_000)
    }

    /// The tolerance settings.
    pub fn tolerance(&self) -> &ToleranceConfig {
        match self {
            RuleConfig::PaymentLedger(r) => &r.tolerance,
            RuleConfig::JournalBalance(r) => &r.tolerance,
        }
    }
}

impl Config {
    /// Parses and validates TOML text; relative paths are taken relative to `base`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let mut config: Config =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        for source in &mut config.sources {
            source.path = base.join(&source.path);
        }
        config.sinks.results = base.join(&config.sinks.results);
        config.sinks.dead_letters = base.join(&config.sinks.dead_letters);
        config.sinks.summary = config.sinks.summary.as_ref().map(|p| base.join(p));
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

    /// Refuses values that parse but cannot be used, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_string(),
            })
        };
        if self.pipeline.workers == 0 {
            return invalid("pipeline.workers".into(), "must be at least 1");
        }
        if self.pipeline.tick_millis == 0 {
            return invalid("pipeline.tick_millis".into(), "must be at least 1");
        }
        if self.pipeline.batch_size == 0 {
            return invalid("pipeline.batch_size".into(), "must be at least 1");
        }
        if self.sources.is_empty() {
            return invalid("sources".into(), "at least one source is required");
        }
        if let Some(retention) = &self.retention {
            if retention.breaks_hours < retention.settled_hours {
                return invalid(
                    "retention.breaks_hours".into(),
                    "must be at least retention.settled_hours",
                );
            }
            if retention.dedupe_hours < retention.breaks_hours {
                return invalid(
                    "retention.dedupe_hours".into(),
                    "must be at least retention.breaks_hours",
                );
            }
            if retention.granularity_minutes == 0 {
                return invalid("retention.granularity_minutes".into(), "must be at least 1");
            }
            if self.pipeline.tick_millis < 2
                || (retention.granularity_minutes * 60_000) % self.pipeline.tick_millis != 0
            {
                return invalid(
                    "pipeline.tick_millis".into(),
                    "with retention, must be at least 2 and divide retention.granularity_minutes \
                     (retirements take effect 1 ms after a grid point, never at an input time)",
                );
            }
        }
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
            for (code, amount) in &rule.tolerance().absolute {
                let key = format!("rules[{i}].tolerance.absolute.{code}");
                let Some(currency) = Currency::from_code(code) else {
                    return invalid(key, "unknown currency (not an ISO 4217 code)");
                };
                if *amount < Amount::ZERO || amount.0.scale() > currency.minor_units() {
                    return invalid(
                        key,
                        "must be ≥ 0 with no more fraction digits than the currency allows",
                    );
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
        assert_eq!(config.sources[0].path, Path::new("/base/p.jsonl"));
        assert_eq!(config.rules[0].grace_millis(), 72 * 3_600_000);
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
}
