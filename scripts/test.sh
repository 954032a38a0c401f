#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, every unit, property, integration,
# golden and doc test (examples are built and run by tests/cli.rs), and the benches compile.
# Services the tests need are installed (if missing) and started here: PostgreSQL on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/postgres.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# the SIGKILL test runs 200,000 payments through the release binary
cargo build --release --bin trueup
cargo test --workspace
cargo bench --workspace --no-run
