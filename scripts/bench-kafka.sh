#!/usr/bin/env bash
# Benchmark (not a test): produce 100,000 records of 200 bytes (acks=all) to one Tansu broker, then
# consume them, with Courier's Swift client and with confluent-kafka (librdkafka); prints records/s
# for both and the ratio. Usage: scripts/bench-kafka.sh [count] [size]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
nice -n 10 swift build -c release --product kafka-interop >/dev/null
bin="$(swift build -c release --show-bin-path)/kafka-interop"
exec "$root/.venv/bin/python" "$root/scripts/bench_kafka.py" "$bin" "${1:-100000}" "${2:-200}"
