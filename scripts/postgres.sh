#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server on loopback for the audit-store tests (installing
# Debian's package if missing) and prints its URL. Source it: `. scripts/postgres.sh` exports
# TRUEUP_TEST_POSTGRES and stops the server when the calling shell exits.
set -euo pipefail

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
fi
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pg_data=$(mktemp -d /tmp/trueup-pg.XXXXXX)
as_postgres() {
    # initdb and postgres refuse to run as root
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
[ "$(id -u)" = 0 ] && chown postgres: "$pg_data"
pg_port=$((20000 + RANDOM % 30000))
while (exec 3<>"/dev/tcp/127.0.0.1/$pg_port") 2>/dev/null; do pg_port=$((pg_port + 1)); done
as_postgres "$pg_bin/initdb" -D "$pg_data/db" -U trueup --auth=trust -E UTF8 >/dev/null
pg_options="-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_data -c fsync=off"
# the tests' databases are thrown away: keep no more write-ahead log than a restart needs, so
# that the suite's disk use stays small on a CI machine with little free space
pg_options+=" -c wal_level=minimal -c max_wal_senders=0 -c max_wal_size=256MB"
as_postgres "$pg_bin/pg_ctl" -D "$pg_data/db" -l "$pg_data/log" -w -o "$pg_options" start >/dev/null
trap 'as_postgres "$pg_bin/pg_ctl" -D "$pg_data/db" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$pg_data"' EXIT
export TRUEUP_TEST_POSTGRES="postgres://trueup@127.0.0.1:$pg_port/postgres"
echo "PostgreSQL for tests: $TRUEUP_TEST_POSTGRES" >&2
