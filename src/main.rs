//! The `trueup` command line: generate data, run pipelines, run the demo.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use trueup::config::Config;
use trueup::generate::{generate, GenerateOptions};
use trueup::model::summary::render_table;
use trueup::runtime::check::check;
use trueup::runtime::job::{default_config, execute};
use trueup::runtime::Control;
use trueup::store::query::Filter;
use trueup::store::Store;

/// The dataflow allocates and frees many small records; mimalloc measured faster than the
/// system allocator on the demo (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// trueup — reconcile payment events against ledger entries, continuously and exactly.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate realistic data (100,000 payments), reconcile it on embedded defaults, print the summary.
    Demo(DemoArgs),
    /// Generate deterministic synthetic data with injected faults and a ground-truth file.
    Generate(GenerateArgs),
    /// Run a pipeline from a TOML config; exits at the end of finite input, or with
    /// `--follow` streams until SIGINT/SIGTERM.
    Run(RunArgs),
    /// A dry run: read the first records of every source through its field map, show how
    /// each column maps, what each record became (or why it is a dead letter) and which rules
    /// would see it; writes nothing.
    Check(CheckArgs),
    /// Ask the audit store (read-only): a key's result, breaks, the summary, lineage.
    Query(QueryArgs),
    /// Serve the auditors' read-only HTTP API over the audit store.
    Serve(ServeArgs),
    /// Recompute the audit store's hash chain and check conservation; exits 1 on any problem.
    Verify(VerifyArgs),
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    store: StoreArg,
    /// The head hash an earlier `verify` printed (or a later one, published elsewhere): the
    /// store must end in that batch — no batch removed, no chain recomputed.
    #[arg(long)]
    expect_head: Option<String>,
    /// The batch count an earlier `verify` printed: the store must hold exactly that many.
    #[arg(long)]
    expect_batches: Option<u64>,
}

#[derive(Args)]
struct StoreArg {
    /// The audit store: a SQLite path (or `sqlite:PATH`), or `postgres://…`.
    #[arg(long)]
    store: String,
}

#[derive(Args)]
struct QueryArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Answer as of this logical time (RFC 3339; default: the last committed time).
    #[arg(long)]
    as_of: Option<String>,
    #[command(subcommand)]
    what: Question,
}

#[derive(Subcommand)]
enum Question {
    /// The current results of one group key.
    Result {
        /// The group key (payment id, journal id, or duplicated record id).
        key: String,
        /// Only this rule.
        #[arg(long)]
        rule: Option<String>,
    },
    /// Open breaks, filtered.
    Breaks(Box<Filter>),
    /// Groups and Σ difference by rule, status and currency.
    Summary,
    /// A key's results with every input record behind them and its source position.
    Lineage {
        /// The group key.
        key: String,
    },
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// File holding the bearer token clients must send (else the `TRUEUP_TOKEN` variable).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Read-only store connections answering requests at once (`/healthz` has its own).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    connections: u16,
    /// Seconds a request may take before it is given up with 503 and its query cancelled.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout_seconds: u64,
    /// Seconds a response may wait for its client to read it: a client that stops reading is
    /// disconnected after them, so it holds no connection slot.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    write_timeout_seconds: u64,
}

#[derive(Args)]
struct DemoArgs {
    /// Folder for the generated data and the outputs.
    #[arg(long, default_value = "demo-out")]
    out: PathBuf,
    /// Payments to generate.
    #[arg(long, default_value_t = 100_000)]
    payments: usize,
    /// Worker threads (default: the machine's cores).
    #[arg(long, default_value_t = trueup::config::available_parallelism())]
    workers: usize,
    /// Random seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

#[derive(Args)]
struct GenerateArgs {
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Payments to generate.
    #[arg(long, default_value_t = 1000)]
    payments: usize,
    /// Random seed: the same seed writes the same files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Days the payments span.
    #[arg(long, default_value_t = 10)]
    days: u64,
    /// Per-mille rate of each injected break class.
    #[arg(long, default_value_t = 10)]
    fault_per_mille: u32,
    /// Per-mille rate of identical redeliveries.
    #[arg(long, default_value_t = 10)]
    redelivery_per_mille: u32,
    /// Per-mille rate of invalid lines.
    #[arg(long, default_value_t = 5)]
    invalid_per_mille: u32,
    /// Write CSV instead of JSON Lines.
    #[arg(long)]
    csv: bool,
}

#[derive(Args)]
struct CheckArgs {
    /// The pipeline configuration (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Records read from each source.
    #[arg(long, default_value_t = 10)]
    sample: usize,
}

#[derive(Args)]
struct RunArgs {
    /// The pipeline configuration (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Override `pipeline.workers`.
    #[arg(long)]
    workers: Option<usize>,
    /// Commit to this audit store (sets `store.url`): a SQLite path, or `postgres://…`.
    #[arg(long)]
    store: Option<String>,
    /// Follow the inputs as they grow (sets `pipeline.follow`); stop with SIGINT or SIGTERM,
    /// which completes the times up to the largest event time seen, flushes and exits 0.
    #[arg(long)]
    follow: bool,
    /// Processes in a timely cluster (each runs `--workers` workers); needs `--process` and
    /// `--hosts`.
    #[arg(long, default_value_t = 1, requires_ifs = [("2..", "process")])]
    processes: usize,
    /// This process's index in the cluster, from 0 (process 0 writes the outputs and the store).
    #[arg(long, requires = "hosts")]
    process: Option<usize>,
    /// A file with one `host:port` per process, in process order (blank lines and `#` comments
    /// ignored).
    #[arg(long, requires = "process")]
    hosts: Option<PathBuf>,
    /// In a cluster: how long the processes may take to connect to each other at the start
    /// before this one gives up with an error.
    #[arg(long, requires = "process", default_value_t = trueup::config::CONNECT_TIMEOUT_SECONDS)]
    connect_timeout_seconds: u64,
}

/// This process's place in the cluster `args` describe (none for a single process).
fn cluster(args: &RunArgs) -> anyhow::Result<Option<trueup::config::ClusterConfig>> {
    let hosts = args.hosts.as_deref();
    let mut cluster = trueup::config::ClusterConfig::of(args.processes, args.process, hosts)
        .map_err(anyhow::Error::msg)?;
    if let Some(cluster) = cluster.as_mut() {
        cluster.connect_timeout_seconds = args.connect_timeout_seconds;
    }
    Ok(cluster)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match dispatch(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => demo(args),
        Command::Generate(args) => {
            let options = GenerateOptions {
                seed: args.seed,
                payments: args.payments,
                days: args.days,
                fault_per_mille: args.fault_per_mille,
                redelivery_per_mille: args.redelivery_per_mille,
                invalid_per_mille: args.invalid_per_mille,
                csv: args.csv,
            };
            let generated = generate(&args.out, &options).context("generating data")?;
            printed(&format!(
                "wrote {} payment lines, {} entry lines ({} invalid, {} redeliveries) and {} truth groups to {}\n",
                generated.meta.payment_lines,
                generated.meta.entry_lines,
                generated.meta.invalid_lines,
                generated.meta.redeliveries,
                generated.truth.len(),
                args.out.display()
            ))
        }
        Command::Run(args) => {
            let mut config = Config::load(&args.config)?;
            if let Some(workers) = args.workers {
                config.pipeline.workers = workers;
            }
            config.pipeline.follow |= args.follow;
            config.pipeline.cluster = cluster(&args)?;
            if let Some(url) = args.store {
                let configured = config.store.take();
                config.store = Some(trueup::config::StoreConfig {
                    url,
                    commit_interval_millis: configured
                        .as_ref()
                        .map_or(1000, |s| s.commit_interval_millis),
                    head_log: configured.and_then(|s| s.head_log),
                });
            }
            config.validate()?;
            let control =
                Control::stopped_by_signals().context("installing the signal handlers")?;
            let report = execute(&config, &control)?;
            if control.stopping() {
                tracing::info!("stopped by signal; outputs flushed");
            }
            if !config.pipeline.writes_outputs() {
                return printed("done: process 0 wrote the outputs and the summary\n");
            }
            printed(&render_table(&report.summary))
        }
        Command::Check(args) => {
            let config = Config::load(&args.config)?;
            let checked = check(&config, args.sample, &mut std::io::stdout().lock());
            quiet_when_unread(checked.map(|_| ()))
        }
        Command::Query(args) => query(args),
        Command::Serve(args) => serve(args),
        Command::Verify(args) => verify(&args),
    }
}

fn query(args: QueryArgs) -> anyhow::Result<()> {
    let mut store = Store::open_read_only(&args.store.store)?;
    let as_of = store.resolve_as_of(args.as_of.as_deref())?;
    let answer = match args.what {
        Question::Result { key, rule } => {
            let filter = Filter {
                key: Some(key),
                rule,
                ..Filter::default()
            };
            serde_json::to_value(store.current_as_of(as_of, &filter)?)?
        }
        Question::Breaks(filter) => {
            let filter = Filter {
                breaks_only: true,
                ..*filter
            };
            let page = store.page_as_of(as_of, &filter)?;
            if let Some(after) = &page.next_after {
                eprintln!("more breaks follow: add --after {after} for the next page");
            }
            serde_json::to_value(page.rows)?
        }
        Question::Summary => serde_json::to_value(store.summary_as_of(as_of)?)?,
        Question::Lineage { key } => serde_json::to_value(store.lineage(&key, as_of)?)?,
    };
    printed(&format!("{}\n", serde_json::to_string_pretty(&answer)?))
}

/// Writes `text` to stdout; a reader that stops reading (`| head`) ends the output quietly,
/// as for any Unix tool, instead of failing.
fn printed(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    quiet_when_unread(
        std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(Into::into),
    )
}

/// `result`, but success where it failed only because stdout's reader has gone (a broken
/// pipe).
fn quiet_when_unread(result: anyhow::Result<()>) -> anyhow::Result<()> {
    let unread = |e: &anyhow::Error| {
        (e.chain()).any(|cause| {
            let io = cause.downcast_ref::<std::io::Error>();
            io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        })
    };
    match result {
        Err(e) if unread(&e) => Ok(()),
        result => result,
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let token = match &args.token_file {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => std::env::var("TRUEUP_TOKEN")
            .context("a bearer token is required: --token-file or TRUEUP_TOKEN")?,
    };
    let token = token.trim().to_string();
    anyhow::ensure!(
        token.len() >= 16,
        "the bearer token must be at least 16 characters"
    );
    // timers too: when accept() fails (out of file descriptors), the server waits on one
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .enable_time()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        tracing::info!(address = %listener.local_addr()?, "serving the audit API");
        let limits = trueup::store::serve::Limits {
            connections: usize::from(args.connections),
            timeout: Duration::from_secs(args.request_timeout_seconds),
            write_timeout: Duration::from_secs(args.write_timeout_seconds),
        };
        trueup::store::serve::serve(args.store.store, token, listener, limits).await
    })
}

fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let mut store = Store::open_read_only(&args.store.store)?;
    let mut report = store.verify()?;
    let head = report.head.as_deref().unwrap_or("none");
    if let Some(expected) = &args.expect_head {
        if expected != head {
            let problem = format!("the head is {head}, not the expected {expected}");
            report.problems.push(problem);
        }
    }
    if let Some(expected) = args.expect_batches.filter(|n| *n != report.batches) {
        let problem = format!("{} batches, not the expected {expected}", report.batches);
        report.problems.push(problem);
    }
    let mut text = format!(
        "verified {} batches, {} rows: {} problem(s); head {head}\n",
        report.batches,
        report.rows,
        report.problems.len()
    );
    for problem in &report.problems {
        text += &format!("  {problem}\n");
    }
    printed(&text)?;
    anyhow::ensure!(
        report.problems.is_empty(),
        "the audit store does not verify"
    );
    Ok(())
}

fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let data = args.out.join("data");
    // refused before anything is generated, as `run` refuses it: `--workers 0`, say
    let (payments, entries) = (data.join("payments.jsonl"), data.join("entries.jsonl"));
    default_config(&payments, &entries, &args.out, args.workers).validate()?;
    let options = GenerateOptions {
        seed: args.seed,
        payments: args.payments,
        ..GenerateOptions::default()
    };
    let generated = generate(&data, &options).context("generating demo data")?;
    let generated_in = started.elapsed();
    let config = default_config(
        &generated.payments,
        &generated.entries,
        &args.out,
        args.workers,
    );
    let reconciling = Instant::now();
    let report = execute(&config, &Control::default())?;
    let records =
        generated.meta.payment_lines + generated.meta.entry_lines + generated.meta.invalid_lines;
    let summary = render_table(&report.summary);
    printed(&format!(
        "trueup demo: {} payments, {records} input lines\n\n{summary}\n\
         generated in {:.1?}, reconciled in {:.1?} on {} workers\n\
         inputs        {} and {}\n\
         ground truth  {}\n\
         results       {} ({} changes)\n\
         dead letters  {}\n\
         summary       {}\n",
        args.payments,
        generated_in,
        reconciling.elapsed(),
        args.workers,
        generated.payments.display(),
        generated.entries.display(),
        data.join("truth.jsonl").display(),
        shown(&config.sinks.results),
        report.changes,
        shown(&config.sinks.dead_letters),
        shown(&config.sinks.summary),
    ))
}

/// A configured output file's path, for printing.
fn shown(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map_or("(none)".into(), |p| p.display().to_string())
}
