//! `trueup serve` under load, on loopback: how `/healthz` answers while heavy queries run, and
//! what abandoned requests cost.
//!
//! `cargo bench --bench serve`. Settings from the environment: `SERVE_BENCH_PAYMENTS` (default
//! 100,000: the store a run of that many generated payments leaves, built once and kept in
//! `target/serve-bench`), `SERVE_BENCH_QUERIES` (default 200), `SERVE_BENCH_CONNECTIONS` (the
//! server's `--connections`, default 4).
//!
//! 1. One `/v1/summary` alone (the heavy query: every result row of the store), timed.
//! 2. `SERVE_BENCH_QUERIES` summaries at once, each on a connection of its own, while `/healthz`
//!    is asked every 20 ms: `/healthz`'s p50, p99 and max, and how the summaries ended.
//! 3. 100 summaries sent and abandoned at once (connection closed), then one more summary timed:
//!    abandoned requests leave the queue or have their queries cancelled.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use trueup::runtime::job::default_config_toml;
use trueup_testing::http::{exchange, serve};

mod common;
use common::setting;

const TOKEN: &str = "bench-token-0123456789abcdef";
const TRUEUP: &str = env!("CARGO_BIN_EXE_trueup");

/// The store of a run over `payments` generated payments, made once.
fn store(dir: &Path, payments: u64) -> String {
    let url = dir.join("store.db").display().to_string();
    if dir.join("done").exists() {
        return url;
    }
    let _ = std::fs::remove_dir_all(dir);
    let data = dir.join("data");
    let generate = std::process::Command::new(TRUEUP)
        .args(["generate", "--payments", &payments.to_string(), "--out"])
        .arg(&data)
        .output()
        .expect("generate");
    assert!(generate.status.success(), "generate failed");
    let config = dir.join("config.toml");
    let (p, e) = (data.join("payments.jsonl"), data.join("entries.jsonl"));
    let text =
        default_config_toml(&p, &e, &dir.join("out"), 2) + &format!("\n[store]\nurl = \"{url}\"\n");
    std::fs::write(&config, text).expect("config");
    let run = std::process::Command::new(TRUEUP)
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    assert!(run.status.success(), "run failed");
    std::fs::write(dir.join("done"), "").expect("mark");
    url
}

/// GET `path` with the token: (status, how long it took).
fn timed(address: &str, path: &str) -> (u16, Duration) {
    let started = Instant::now();
    let (status, _, _) = exchange(address, path, &format!("Authorization: Bearer {TOKEN}\r\n"));
    (status, started.elapsed())
}

/// The value at quantile `q` of sorted `values`.
fn quantile(values: &[Duration], q: f64) -> Duration {
    values[((values.len() as f64 * q) as usize).min(values.len() - 1)]
}

/// Part 2: `queries` summaries at once while `/healthz` is asked every 20 ms.
fn healthz_under_load(address: &str, queries: u64) {
    let started = Instant::now();
    let heavy: Vec<_> = (0..queries)
        .map(|_| {
            let address = address.to_string();
            std::thread::spawn(move || timed(&address, "/v1/summary"))
        })
        .collect();
    let mut health = Vec::new();
    // bounded: at most 10 minutes of samples
    while heavy.iter().any(|h| !h.is_finished()) && started.elapsed() < Duration::from_secs(600) {
        let (status, took) = timed(address, "/healthz");
        assert_eq!(status, 200, "/healthz answered {status}");
        health.push(took);
        std::thread::sleep(Duration::from_millis(20));
    }
    let ended: Vec<(u16, Duration)> = heavy.into_iter().map(|h| h.join().unwrap()).collect();
    let answered = ended.iter().filter(|(s, _)| *s == 200).count();
    let gave_up = ended.iter().filter(|(s, _)| *s == 503).count();
    health.sort();
    println!(
        "{queries} summaries at once: {answered} answered, {gave_up} given up (503) in {:.1?}; \
         /healthz meanwhile, {} samples: p50 {:.1?}, p99 {:.1?}, max {:.1?} (target p99 50 ms)",
        started.elapsed(),
        health.len(),
        quantile(&health, 0.5),
        quantile(&health, 0.99),
        health[health.len() - 1]
    );
}

/// Part 3: 100 summaries sent and abandoned, then one timed.
fn abandoned(address: &str, alone: Duration) {
    for _ in 0..100 {
        let mut stream = TcpStream::connect(address).expect("connect");
        let request = format!(
            "GET /v1/summary HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).expect("send");
    } // each connection closed here, before its answer
    std::thread::sleep(Duration::from_millis(100));
    let (status, took) = timed(address, "/v1/summary");
    assert_eq!(status, 200);
    println!("after 100 abandoned summaries, one summary took {took:.1?} (alone: {alone:.1?})");
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and `cargo test --benches` probe; nothing to list
    }
    let payments = setting("SERVE_BENCH_PAYMENTS", 100_000);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("serve-bench-{payments}"));
    let url = store(&dir, payments);
    let connections = setting("SERVE_BENCH_CONNECTIONS", 4);
    let args = format!("--connections {connections}");
    let (mut server, address) = serve("", TRUEUP, &url, TOKEN, &args);
    let (status, alone) = timed(&address, "/v1/summary");
    assert_eq!(status, 200);
    println!(
        "store of {payments} payments, {connections} connections: one summary alone {alone:.1?}"
    );
    healthz_under_load(&address, setting("SERVE_BENCH_QUERIES", 200));
    abandoned(&address, alone);
    server.kill().expect("stop serve");
    server.wait().expect("serve stopped");
}
