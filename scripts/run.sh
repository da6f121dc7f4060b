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
swift build

echo "run: the contracts and generated code are built, but no Courier service exists yet to start." >&2
echo "run: Iris will be the first; until then there is nothing to run." >&2
exit 1
