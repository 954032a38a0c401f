#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, every unit, property, integration,
# golden and doc test (examples are built and run by tests/cli.rs), and the benches compile.
# Services the tests need are installed (if missing) and started here, on loopback: PostgreSQL
# (Debian's package) and a Kafka-protocol broker (tansu, built once into ~/.cache/trueup).
set -euo pipefail
cd "$(dirname "$0")/.."
# librdkafka is built with TLS: it needs OpenSSL's headers
if [ ! -e /usr/include/openssl/ssl.h ] || ! command -v pkg-config >/dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libssl-dev pkg-config >/dev/null
fi
. scripts/postgres.sh
. scripts/kafka.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# the SIGKILL tests run the release binary, and the release build of the three-way example
cargo build --release --bin trueup --example three_way
cargo test --workspace
cargo bench --workspace --no-run
