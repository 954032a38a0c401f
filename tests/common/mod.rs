//! Helpers shared by the integration tests that drive the `trueup` binary.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use trueup::store::db::Db;

/// The debug `trueup` binary cargo built for these tests.
pub fn trueup() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trueup"))
}

/// The output of a command that must have succeeded: its stdout.
pub fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "exit {}: {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// The stdout of `command`, which must succeed within `limit`: a run that hangs is killed and
/// fails its test instead of stalling the suite.
pub fn ok_within(mut command: Command, limit: Duration) -> String {
    let child = (command.stdout(Stdio::piped()).stderr(Stdio::piped()))
        .spawn()
        .expect("start");
    let pid = child.id().to_string();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    match finished.recv_timeout(limit) {
        Ok(output) => ok(output.expect("wait")),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("{command:?} did not finish within {limit:?}");
        }
    }
}

/// The release binary, which `scripts/test.sh` builds first: the kill tests run many
/// thousands of payments. (Building it from here would wait forever on the lock `cargo test`
/// holds.)
pub fn release_trueup() -> PathBuf {
    release_build("trueup", "--bin trueup")
}

/// The release build of the three-way example (examples/three_way.rs), which
/// `scripts/test.sh` builds first.
pub fn release_three_way() -> PathBuf {
    release_build("examples/three_way", "--example three_way")
}

/// `target/release/{path}`, which `cargo build --release {what}` makes.
fn release_build(path: &str, what: &str) -> PathBuf {
    let debug = PathBuf::from(env!("CARGO_BIN_EXE_trueup"));
    let release = debug
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("release")
        .join(path);
    assert!(
        release.exists(),
        "{} is missing: run scripts/test.sh, or cargo build --release {what} first",
        release.display()
    );
    release
}

/// The number of commits in the store at `url` (0 when it cannot be read yet).
pub fn commits(url: &str) -> i64 {
    Db::open(url, true)
        .and_then(|mut db| db.query("SELECT CAST(COUNT(*) AS BIGINT) FROM commits", &[]))
        .ok()
        .and_then(|r| r[0][0].int())
        .unwrap_or(0)
}

/// Runs `binary run --config config` and kills it with SIGKILL, up to `kills` times, each at a
/// random instant (0 to `max_delay`, from `seed`) after the attempt's first own commit to
/// `store`; an attempt that ends (successfully) before its kill, or without a commit of its own
/// because the one before had committed everything, ends the killing, when at least half the
/// kills happened. Returns the kills done.
pub fn kill_repeatedly(
    binary: &Path,
    config: &Path,
    store: &str,
    kills: usize,
    max_delay: Duration,
    seed: u64,
) -> usize {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut killed = 0;
    while killed < kills {
        let before = commits(store);
        let mut child = Command::new(binary)
            .args(["run", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start trueup");
        let started = Instant::now();
        while commits(store) == before {
            if let Some(status) = child.try_wait().unwrap() {
                // killed after its last commit, the run before had left nothing to do
                assert!(
                    status.success(),
                    "the run failed ({status}) before kill {killed}"
                );
                assert!(
                    killed >= kills / 2,
                    "the run ended after only {killed} kills"
                );
                return killed;
            }
            if started.elapsed() > Duration::from_secs(300) {
                child.kill().expect("SIGKILL");
                panic!("no commit within 5 minutes before kill {killed}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(rng.random_range(Duration::ZERO..max_delay));
        if child.try_wait().unwrap().is_some() {
            // it ended before this kill: enough kills happened, or the run is too short
            assert!(
                killed >= kills / 2,
                "the run finished after only {killed} kills"
            );
            break;
        }
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        killed += 1;
    }
    killed
}

/// A seeded generator for bounded fuzz loops: the same cases on every run.
pub struct Dice(rand_chacha::ChaCha8Rng);

impl Dice {
    /// The generator for `seed`.
    pub fn new(seed: u64) -> Dice {
        Dice(rand_chacha::ChaCha8Rng::seed_from_u64(seed))
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0.random_range(0..n)
    }

    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}
