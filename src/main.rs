//! The `trueup` command line: generate data, run pipelines, run the demo.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use trueup::config::Config;
use trueup::generate::{generate, GenerateOptions};
use trueup::job::{default_config, execute};
use trueup::runtime::Control;
use trueup::summary::render_table;

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
}

#[derive(Args)]
struct DemoArgs {
    /// Folder for the generated data and the outputs.
    #[arg(long, default_value = "demo-out")]
    out: PathBuf,
    /// Payments to generate.
    #[arg(long, default_value_t = 100_000)]
    payments: usize,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
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
struct RunArgs {
    /// The pipeline configuration (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Override `pipeline.workers`.
    #[arg(long)]
    workers: Option<usize>,
    /// Follow the inputs as they grow (sets `pipeline.follow`); stop with SIGINT or SIGTERM,
    /// which completes the times up to the largest event time seen, flushes and exits 0.
    #[arg(long)]
    follow: bool,
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
            println!(
                "wrote {} payment lines, {} entry lines ({} invalid, {} redeliveries) and {} truth groups to {}",
                generated.meta.payment_lines,
                generated.meta.entry_lines,
                generated.meta.invalid_lines,
                generated.meta.redeliveries,
                generated.truth.len(),
                args.out.display()
            );
            Ok(())
        }
        Command::Run(args) => {
            let mut config = Config::load(&args.config)?;
            if let Some(workers) = args.workers {
                config.pipeline.workers = workers;
            }
            config.pipeline.follow |= args.follow;
            config.validate()?;
            let control = Control::default();
            for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                signal_hook::flag::register(signal, control.stop.clone())
                    .context("installing the signal handlers")?;
            }
            let report = execute(&config, &control)?;
            if control.stopping() {
                tracing::info!("stopped by signal; outputs flushed");
            }
            print!("{}", render_table(&report.summary));
            Ok(())
        }
    }
}

fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let data = args.out.join("data");
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
    println!(
        "trueup demo: {} payments, {records} input lines\n",
        args.payments
    );
    print!("{}", render_table(&report.summary));
    println!();
    println!(
        "generated in {:.1?}, reconciled in {:.1?} on {} workers",
        generated_in,
        reconciling.elapsed(),
        args.workers
    );
    println!(
        "inputs        {} and {}",
        generated.payments.display(),
        generated.entries.display()
    );
    println!("ground truth  {}", data.join("truth.jsonl").display());
    println!(
        "results       {} ({} changes)",
        config.sinks.results.display(),
        report.changes
    );
    println!("dead letters  {}", config.sinks.dead_letters.display());
    println!(
        "summary       {}",
        config
            .sinks
            .summary
            .as_ref()
            .expect("demo writes a summary")
            .display()
    );
    Ok(())
}
