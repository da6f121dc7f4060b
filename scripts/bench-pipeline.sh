#!/usr/bin/env bash
# The product's main pipeline end to end (a benchmark, not a test): fixes in through Hermes' gRPC
# ReportLocation stream -> event store -> Kafka (Tansu) -> Hermes' consumer (GetUserData from
# Asgardian, push and throttled mail through Iris on the mail-drop transport) -> processed, with the
# release `courier asgardian`, `courier iris` and `courier hermes` on a throwaway Postgres cluster and
# Tansu broker (free loopback ports, stopped at the end). Prints fixes/s sustained (goal >= 2,000 with
# one subscriber per payload) and the fix-to-processed p50/p99/max at a fixed rate (goal p99 <= 100 ms
# at 1,000 fixes/s).
#   scripts/bench-pipeline.sh [fixes=20000] [deliverers=40] [rate=1000] [seconds=15]
# Needs the Python packages of scripts/requirements.txt (.venv) and the Tansu broker (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
FIXES="${1:-20000}"
DELIVERERS="${2:-40}"
RATE="${3:-1000}"
SECONDS_RUN="${4:-15}"
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3

nice -n 5 swift build -c release --product courier >/dev/null
# courier-events creates the event store's tables as their owner; it shares courier's modules.
nice -n 5 swift build -c release --product courier-events >/dev/null
BIN_DIR="$(swift build -c release --show-bin-path)"
exec "$PYTHON" scripts/bench_pipeline.py "$BIN_DIR" --fixes "$FIXES" --deliverers "$DELIVERERS" --rate "$RATE" \
  --seconds "$SECONDS_RUN"
