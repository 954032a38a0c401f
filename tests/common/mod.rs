//! Helpers shared by the integration tests that drive the `trueup` binary.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::{Path, PathBuf};
use std::process::Output;

use trueup::store::db::Db;

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

/// The release binary, which `scripts/test.sh` builds first: the kill tests run many
/// thousands of payments. (Building it from here would wait forever on the lock `cargo test`
/// holds.)
pub fn release_trueup() -> PathBuf {
    let debug = PathBuf::from(env!("CARGO_BIN_EXE_trueup"));
    let release = debug
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("release/trueup");
    assert!(
        release.exists(),
        "{} is missing: run scripts/test.sh, or cargo build --release --bin trueup first",
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
