//! Scale-out on timely's cluster mode: two OS processes connected over TCP on loopback give
//! the same outputs as one process with as many workers.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

use trueup::generate::{generate, GenerateOptions};

mod common;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A config of the generated data in `dir` writing into `dir/name` (and `store`), with `rules`
/// (TOML `[[rules]]`) instead of the standard ones when given.
fn write_config_with(
    dir: &Path,
    name: &str,
    store: Option<&Path>,
    rules: &str,
) -> std::path::PathBuf {
    let store = store.map_or(String::new(), |s| {
        format!(
            "[store]\nurl = \"{}\"\ncommit_interval_millis = 100\n",
            s.display()
        )
    });
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            r#"[pipeline]
workers = 1
batch_size = 500

[[sources]]
stream = "payments"
path = "data/payments.jsonl"

[[sources]]
stream = "entries"
path = "data/entries.jsonl"

{rules}
[sinks]
results = "{name}/results.jsonl"
dead_letters = "{name}/dead_letters.jsonl"
summary = "{name}/summary.json"

{store}"#
        ),
    )
    .expect("write config");
    config
}

#[test]
fn two_processes_give_the_same_outputs_as_one() {
    let trueup = Path::new(env!("CARGO_BIN_EXE_trueup"));
    two_processes_agree_with_one(trueup, "");
}

#[test]
fn an_engineers_graph_in_two_processes_gives_the_outputs_of_one() {
    // examples/three_way.rs, a program built on the Pipeline API, in cluster mode
    let rules = r#"[[rules]]
kind = "payment_ledger"

[[rules]]
kind = "graph"
name = "through_to_bank"
graph = "through_to_bank"
left = "payments"
right = "entries"
"#;
    two_processes_agree_with_one(&common::release_three_way(), rules);
}

#[test]
fn declared_streams_in_two_processes_give_the_outputs_of_one() {
    // the ledger's lines as a declared stream (named keys, a sign map): its narrow rows,
    // dedupe and claims exchanged between processes
    let rules = r#"[[streams]]
name = "ledger"
keys = ["journal", "payment_id"]

[[sources]]
stream = "ledger"
path = "data/entries.jsonl"

[sources.fields]
id = "entry_id"
keys = { journal = "journal_id" }
sign = { column = "direction", values = { debit = "+", credit = "-" } }
time = "booked_at"

[[rules]]
kind = "match"
name = "events_to_journal"
left = { stream = "payments", group_by = "payment_id" }
right = { stream = "ledger", group_by = "journal" }
key = "payment_id"

[[rules]]
kind = "balance"
name = "journals"
left = { stream = "ledger", key = "journal" }
right = { stream = "entries", key = "journal_id" }
"#;
    two_processes_agree_with_one(Path::new(env!("CARGO_BIN_EXE_trueup")), rules);
}

#[test]
fn a_process_whose_peers_never_connect_ends_with_an_error_naming_the_hosts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config_with(dir.path(), "alone", None, "");
    let hosts = dir.path().join("hosts.txt");
    let (first, second) = (free_port(), free_port());
    std::fs::write(&hosts, format!("127.0.0.1:{first}\n127.0.0.1:{second}\n")).expect("hosts");
    // each process of two started alone, trueup's and a program built on its Pipeline
    let programs = [
        (Path::new(env!("CARGO_BIN_EXE_trueup")).to_path_buf(), 0),
        (common::release_three_way(), 1),
    ];
    for (program, process) in programs {
        let started = std::time::Instant::now();
        let timeout = ["--connect-timeout-seconds", "2"];
        let mut child = start_process(&program, (process, &hosts), &config, &timeout);
        while child.try_wait().expect("wait").is_none() && started.elapsed().as_secs() < 60 {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = child.kill();
        let output = child.wait_with_output().expect("process ends");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "process {process}: {output:?}");
        let named =
            format!("did not all connect within 2 s (127.0.0.1:{first}, 127.0.0.1:{second})");
        assert!(stderr.contains(&named), "process {process}: {stderr}");
        assert!(!stderr.contains("panicked"), "process {process}: {stderr}");
        assert!(
            started.elapsed().as_secs() < 30,
            "process {process} waited on"
        );
    }
}

/// Starts `program` as process `process` of the two `hosts` lists, on `config`, with `extra`
/// flags; its output piped.
fn start_process(
    program: &Path,
    (process, hosts): (usize, &Path),
    config: &Path,
    extra: &[&str],
) -> std::process::Child {
    Command::new(program)
        .args(["run", "--processes", "2", "--process", &process.to_string()])
        .args(extra)
        .arg("--hosts")
        .arg(hosts)
        .arg("--config")
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a process")
}

/// `program` (trueup, or a program built on its Pipeline) with `rules` (the standard ones when
/// empty) over 3,000 generated payments: one process of 2 workers and two processes of 1
/// worker each write the same outputs, and trueup's own verify passes on the cluster's store.
fn two_processes_agree_with_one(program: &Path, rules: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = GenerateOptions {
        seed: 9,
        payments: 3000,
        ..GenerateOptions::default()
    };
    generate(&dir.path().join("data"), &options).expect("generate");
    let trueup = env!("CARGO_BIN_EXE_trueup");

    let single = write_config_with(dir.path(), "single", None, rules);
    let output = Command::new(program)
        .args(["run", "--workers", "2", "--config"])
        .arg(&single)
        .output()
        .expect("run");
    assert!(output.status.success(), "{output:?}");

    let store = dir.path().join("cluster.db");
    let cluster = write_config_with(dir.path(), "cluster", Some(&store), rules);
    let hosts = dir.path().join("hosts.txt");
    std::fs::write(
        &hosts,
        format!(
            "# process 0, then 1\n127.0.0.1:{}\n127.0.0.1:{}\n",
            free_port(),
            free_port()
        ),
    )
    .expect("hosts file");
    let processes: Vec<_> = [1, 0]
        .into_iter()
        .map(|process| start_process(program, (process, &hosts), &cluster, &[]))
        .collect();
    for child in processes {
        let output = child.wait_with_output().expect("process ends");
        assert!(output.status.success(), "{output:?}");
    }
    for file in ["results.jsonl", "dead_letters.jsonl", "summary.json"] {
        let one = std::fs::read(dir.path().join("single").join(file)).expect("single output");
        let two = std::fs::read(dir.path().join("cluster").join(file)).expect("cluster output");
        assert!(one.len() > 100, "{file} has content");
        assert!(one == two, "{file}: two processes differ from one");
    }
    let verified = Command::new(trueup)
        .args(["verify", "--store"])
        .arg(&store)
        .output()
        .expect("verify");
    assert!(
        String::from_utf8_lossy(&verified.stdout).contains(": 0 problem(s)"),
        "{verified:?}"
    );
    // every rule's breaks are in the store, for trueup query to answer
    for rule in ["payment_ledger", "through_to_bank"]
        .iter()
        .filter(|r| rules.contains(*r))
    {
        let breaks = Command::new(trueup)
            .args(["query", "--store"])
            .arg(&store)
            .args(["breaks", "--rule", rule])
            .output()
            .expect("query");
        let text = String::from_utf8_lossy(&breaks.stdout);
        assert!(
            breaks.status.success() && text.contains(&format!("\"rule\": \"{rule}\"")),
            "{text}"
        );
    }
}
