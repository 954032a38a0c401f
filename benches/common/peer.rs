//! The DuckDB peer of the e2e bench: a batch SQL job (`benches/peer/duckdb_job.py`) computing
//! the two standard rules with exact DECIMAL on the same files, run from a virtualenv cached
//! under `$TRUEUP_CACHE` (default `~/.cache/trueup`) with DuckDB from PyPI.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use trueup::config::{Config, RuleConfig};
use trueup::model::currency::Currency;
use trueup::model::summary::Summary;

/// The DuckDB release the peer runs.
const DUCKDB: &str = "duckdb==2.0.0";

/// Groups per `rule/status`, as the peer prints them.
pub type Counts = BTreeMap<String, u64>;

/// The virtualenv's Python with DuckDB importable, installing it if needed; `Err` says why
/// the peer cannot run here.
pub fn python() -> Result<PathBuf, String> {
    let cache = std::env::var("TRUEUP_CACHE")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|home| Path::new(&home).join(".cache/trueup")));
    let venv = cache
        .map_err(|_| "neither TRUEUP_CACHE nor HOME is set")?
        .join("duckdb-venv");
    let python = venv.join("bin/python");
    let imports = |python: &Path| {
        Command::new(python)
            .args(["-c", "import duckdb"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if imports(&python) {
        return Ok(python);
    }
    eprintln!("installing {DUCKDB} into {}", venv.display());
    let run = |command: &mut Command| match command.output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "{command:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(e) => Err(format!("{command:?}: {e}")),
    };
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", DUCKDB]))?;
    match imports(&python) {
        true => Ok(python),
        false => Err(format!("{DUCKDB} installed but `import duckdb` fails")),
    }
}

/// The peer's command for `config`'s two sources and rules; `scratch` holds the currency table.
pub fn command(python: &Path, config: &Config, scratch: &Path) -> Command {
    let table = scratch.join("currencies.csv");
    std::fs::write(&table, currency_table()).expect("currency table");
    let path = |i: usize| config.sources[i].path.clone().expect("a file source");
    let mut accounts = Vec::new();
    let mut grace = Vec::new();
    for rule in &config.rules {
        grace.push(rule.grace_millis());
        if let RuleConfig::PaymentLedger(r) = rule {
            accounts.extend(r.match_accounts.iter().cloned());
        }
    }
    assert!(
        grace.windows(2).all(|w| w[0] == w[1]),
        "the peer ages every rule with one grace period"
    );
    let mut command = Command::new(python);
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer/duckdb_job.py"))
        .args([path(0), path(1), table])
        .arg(accounts.join(","))
        .arg(grace[0].to_string())
        .arg(config.pipeline.tick_millis.to_string());
    command
}

/// Every ISO 4217 code trueup knows, with its minor units, as CSV.
fn currency_table() -> String {
    let rows = Currency::all().map(|c| format!("{},{}\n", c.code(), c.minor_units()));
    std::iter::once("code,scale\n".to_string())
        .chain(rows)
        .collect()
}

/// trueup's groups per `rule/status`, from its summary.
pub fn counts(summary: &Summary) -> Counts {
    let mut counts = Counts::new();
    for (rule, statuses) in &summary.cells {
        for (status, currencies) in statuses {
            let groups = currencies.values().map(|cell| cell.groups).sum();
            counts.insert(format!("{rule}/{status}"), groups);
        }
    }
    counts
}
