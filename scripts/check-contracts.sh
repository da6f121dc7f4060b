#!/usr/bin/env bash
# Checks proto/ for changes that break wire or JSON compatibility; run it before committing a change
# to the contracts. It runs scripts/proto_breaking.py from the checkout's root:
#
#   bash scripts/check-contracts.sh                   # against the merge base with main (on main: HEAD~1)
#   bash scripts/check-contracts.sh --against v1.2    # against any revision or tag
#   bash scripts/check-contracts.sh --previous-commit # against HEAD~1; skipped when this clone lacks it
#
# --previous-commit is what scripts/test.sh runs: in a shallow clone (CI) or a repository with one
# commit there is no previous commit to compare with, so it says so and passes. Other options go to
# proto_breaking.py unchanged (--help lists them, --rules lists the rules). PYTHON overrides the
# interpreter (default: the checkout's .venv, which scripts/setup.sh makes).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
if [[ ! -x "$PYTHON" ]]; then
  echo "check-contracts: $PYTHON is missing; run scripts/setup.sh (or set PYTHON to a Python with protobuf)" >&2
  exit 2
fi

if [[ "${1:-}" == "--previous-commit" ]]; then
  shift
  if ! git rev-parse --verify --quiet 'HEAD~1^{commit}' >/dev/null; then
    if [[ "$(git rev-parse --is-shallow-repository 2>/dev/null)" == "true" ]]; then
      why="this is a shallow clone without HEAD~1 (git fetch --deepen=1 fetches it)"
    else
      why="HEAD has no parent commit"
    fi
    echo "check-contracts: skipped: $why, so there are no previous contracts to compare with"
    exit 0
  fi
  set -- --against HEAD~1 "$@"
fi

exec "$PYTHON" scripts/proto_breaking.py "$@"
