#!/usr/bin/env bash
# Starts a throw-away Kafka-protocol broker on loopback for the Kafka tests: tansu (an
# Apache-Kafka-compatible broker written in Rust, from crates.io), installed once into a cache
# folder and kept there, run in memory on a free port. Source it: `. scripts/kafka.sh` exports
# TRUEUP_TEST_KAFKA (host:port); the broker stops when the calling shell exits.
set -euo pipefail

tansu_version=0.6.0
cache="${TRUEUP_CACHE:-$HOME/.cache/trueup}"
tansu="$cache/tansu-$tansu_version/bin/tansu"
if [ ! -x "$tansu" ]; then
    echo "installing tansu $tansu_version into $cache (once; about 10 minutes on 2 cores)" >&2
    cargo install tansu --version "$tansu_version" --locked --features dynostore \
        --root "$cache/tansu-$tansu_version" --target-dir "$cache/tansu-build" >&2
    rm -rf "$cache/tansu-build"
fi
kafka_port=$((20000 + RANDOM % 30000))
while (exec 3<>"/dev/tcp/127.0.0.1/$kafka_port") 2>/dev/null; do kafka_port=$((kafka_port + 1)); done
kafka_log=$(mktemp /tmp/trueup-tansu.XXXXXX)
"$tansu" broker --storage-engine memory://tansu/ \
    --listener-url "tcp://127.0.0.1:$kafka_port" \
    --advertised-listener-url "tcp://127.0.0.1:$kafka_port" >"$kafka_log" 2>&1 &
kafka_pid=$!
# the broker ends with this shell, whatever traps others set
( while kill -0 $$ 2>/dev/null; do sleep 2; done; kill "$kafka_pid" 2>/dev/null; rm -f "$kafka_log" ) >/dev/null 2>&1 &
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$kafka_port") 2>/dev/null && break
    kill -0 "$kafka_pid" 2>/dev/null || { cat "$kafka_log" >&2; exit 1; }
    sleep 0.1
done
export TRUEUP_TEST_KAFKA="127.0.0.1:$kafka_port"
echo "Kafka (tansu) for tests: $TRUEUP_TEST_KAFKA" >&2
