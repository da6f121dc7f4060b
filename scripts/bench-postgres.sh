#!/usr/bin/env bash
# Point select through Courier's Postgres module vs `pgbench -S`, same server, same connection count.
# Prints the median tps of each (ROUNDS=3 interleaved rounds) and the ratio (goal >= 0.9).
#   scripts/bench-postgres.sh [clients=4] [seconds=10]
# Uses the server in COURIER_PG_URL if set (it must allow creating pgbench tables); otherwise starts a
# throwaway Postgres 15 cluster on a free loopback port and stops it (by its data directory) at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS="${1:-4}"
SECONDS_RUN="${2:-10}"
PGBIN=/usr/lib/postgresql/15/bin
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

nice -n 10 swift build -c release --product postgres-bench >/dev/null
BENCH="$(swift build -c release --show-bin-path)/postgres-bench"

CLUSTER=""
cleanup() {
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
  PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
  as_postgres "$PGBIN/initdb" -D "$CLUSTER/data" -A trust -U postgres -E UTF8 --no-sync >/dev/null
  if ! as_postgres "$PGBIN/pg_ctl" start -w -t 60 -D "$CLUSTER/data" -l "$CLUSTER/server.log" \
      -o "-p $PORT -c listen_addresses=127.0.0.1 -k $CLUSTER -c max_connections=100" >/dev/null; then
    echo "bench-postgres: the Postgres 15 server in $CLUSTER (127.0.0.1:$PORT) did not start:" >&2
    tail -20 "$CLUSTER/server.log" >&2
    exit 1
  fi
  "$PGBIN/pg_isready" -h 127.0.0.1 -p "$PORT" -t 10 >/dev/null \
    || { echo "bench-postgres: the Postgres server on 127.0.0.1:$PORT is not ready" >&2; exit 1; }
  URL="postgresql://postgres@127.0.0.1:$PORT/postgres"
fi

"$PGBIN/pgbench" -i -s 1 -q "$URL" >/dev/null 2>&1
pgbench_tps() {
  "$PGBIN/pgbench" -S -n -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_RUN" "$@" "$URL" 2>/dev/null \
    | awk '/^tps = / { printf "%d", $3 }'
}
ours_tps() { "$BENCH" "$URL" "$CLIENTS" "$SECONDS_RUN" 1 "$@" | sed -E 's/.*tps=([0-9]+).*/\1/'; }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# Interleave the runs so that load from elsewhere on the machine hits every contender alike;
# report the median of ROUNDS rounds.
ROUNDS="${ROUNDS:-3}"
S=""; P=""; O=""; L=""
for _ in $(seq "$ROUNDS"); do
  S="$S $(pgbench_tps)"
  O="$O $(ours_tps)"
  P="$P $(pgbench_tps -M prepared)"
  L="$L $(ours_tps lease)"
done
SIMPLE=$(echo "$S" | median); PREPARED=$(echo "$P" | median)
OURS=$(echo "$O" | median); LEASE=$(echo "$L" | median)
OURS_LINE="courier-postgres (one lease per client): clients=$CLIENTS seconds=$SECONDS_RUN tps=$OURS (runs:$O)"
LEASE_LINE="courier-postgres (pool.query per statement): clients=$CLIENTS seconds=$SECONDS_RUN tps=$LEASE (runs:$L)"

echo "pgbench -S (simple protocol):   clients=$CLIENTS seconds=$SECONDS_RUN tps=$SIMPLE (runs:$S)"
echo "pgbench -S -M prepared:         clients=$CLIENTS seconds=$SECONDS_RUN tps=$PREPARED (runs:$P)"
echo "$OURS_LINE"
echo "$LEASE_LINE"
awk -v o="$OURS" -v s="$SIMPLE" -v p="$PREPARED" 'BEGIN {
  printf "ratio courier/pgbench -S = %.2f (goal >= 0.90); courier/pgbench -S -M prepared = %.2f\n", o / s, o / p }'
