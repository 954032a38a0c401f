#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, every unit, property, integration,
# golden and doc test (examples are built and run by tests/cli.rs), and the benches compile.
# Nothing outside Rust is needed yet; services that later tests need are installed here.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
cargo bench --workspace --no-run
