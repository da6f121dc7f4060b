#!/usr/bin/env bash
# Runs the whole Courier stack on embedded defaults. It prepares the machine first (scripts/setup.sh)
# and builds the package, so that a fresh clone needs nothing else.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi
swift build --product courier
swift build --product courier-events  # migrates the event store on start
BIN_DIR="$(swift build --show-bin-path)"
exec "$ROOT/.venv/bin/python" "$ROOT/scripts/stack.py" "$BIN_DIR"
