#!/usr/bin/env bash
# Benchmark, not a test: an authenticated JSON GET through a generated REST route
# (GET /tracking/payload: bearer auth through the caching authenticator, routing, request message
# from the URL, the sample TrackingService, proto3 JSON out) against a Hummingbird hello-world
# (one Router route returning a fixed JSON body) in the same release binary. wrk, 2 threads,
# 16 connections, 20 s each (DURATION, CONNECTIONS and THREADS override). Prints both req/s and
# the ratio; the goal is a ratio of at least 0.5.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION="${DURATION:-20s}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-2}"

command -v wrk >/dev/null 2>&1 || bash scripts/setup.sh
if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi

echo "bench-rest: building the release sample server"
swift build -c release --product courier-gateway-sample >/dev/null
BIN="$(swift build -c release --show-bin-path)/courier-gateway-sample"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# Starts the sample server with the given arguments; sets PORT once it prints its address.
start() {
  local fifo="$WORK/fifo.$RANDOM"
  mkfifo "$fifo"
  LOG_LEVEL=error "$BIN" --port 0 "$@" >"$fifo" &
  PIDS+=("$!")
  local line
  if ! read -r line <"$fifo"; then
    echo "bench-rest: courier-gateway-sample $* failed to start" >&2
    exit 1
  fi
  PORT="${line##*:}"
}

# Runs wrk against a URL with optional header; prints the requests per second.
measure() {
  local url="$1"; shift
  local out="$WORK/wrk.$RANDOM"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url" >"$out"
  if grep -qE "Non-2xx|Socket errors" "$out"; then
    echo "bench-rest: errors while measuring $url:" >&2
    cat "$out" >&2
    exit 1
  fi
  awk '/^Requests\/sec:/ { print $2 }' "$out"
}

start --hello
HELLO_URL="http://127.0.0.1:$PORT/hello"
curl -fsS "$HELLO_URL" >/dev/null

start
ROUTE_URL="http://127.0.0.1:$PORT/tracking/payload"
# Give the user one subscription so that the answer is a real message, then check the route.
curl -fsS -X POST -H 'Authorization: Bearer user-token' -H 'Content-Type: application/json' \
  -d '{"title":"Bench"}' "http://127.0.0.1:$PORT/tracking/payload/AAAABBBBCCCC" >/dev/null
curl -fsS -H 'Authorization: Bearer user-token' "$ROUTE_URL" >/dev/null

hello="$(measure "$HELLO_URL")"
route="$(measure "$ROUTE_URL" -H 'Authorization: Bearer user-token')"
ratio="$(awk -v a="$route" -v b="$hello" 'BEGIN { printf "%.2f", a / b }')"
echo "hummingbird hello-world: $hello req/s"
echo "gateway GET /tracking/payload (bearer auth, generated route): $route req/s"
echo "ratio gateway/hello-world: $ratio (goal >= 0.5)"
