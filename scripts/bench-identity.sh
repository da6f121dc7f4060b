#!/usr/bin/env bash
# What token checking costs (a benchmark, not a test): IdentityService.IsAuthenticated beside
# IdentityService.GetUserData over gRPC, both loaded by h2load (c16 m32) against the release
# `courier asgardian` on a throwaway Postgres cluster and Tansu broker (free loopback ports, stopped
# at the end). Prints req/s of both and their ratio.
#   scripts/bench-identity.sh [requests=100000] [runs=3]
# Needs h2load (Debian nghttp2-client) and the Python packages of scripts/requirements.txt (.venv).
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS="${1:-100000}"
RUNS="${2:-3}"
command -v h2load >/dev/null || { echo "bench-identity: h2load not found (apt-get install nghttp2-client)" >&2; exit 1; }
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3

nice -n 5 swift build -c release --product courier >/dev/null
BIN_DIR="$(swift build -c release --show-bin-path)"
exec "$PYTHON" scripts/bench_identity.py "$BIN_DIR" --requests "$REQUESTS" --runs "$RUNS" --clients 16 --streams 32
