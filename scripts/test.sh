#!/usr/bin/env bash
# Runs every test of Courier: set-up, the proto lint, the contract evolution gate (proto/ against the
# previous commit's), one Swift build, the Swift suites, then the Python suites (fixture readers in
# Python and C, lint and gate rules). Every stage runs even when an earlier one fails, and the script
# exits non-zero if any failed.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh || { echo "test: set-up failed" >&2; exit 1; }
if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi

failed=()
stage() {
  local name="$1"; shift
  echo
  echo "==> $name"
  local started=$SECONDS
  if "$@"; then
    echo "==> $name: ok ($((SECONDS - started)) s)"
  else
    echo "==> $name: FAILED ($((SECONDS - started)) s)"
    failed+=("$name")
  fi
}

stage "proto lint" .venv/bin/python scripts/proto_lint.py
stage "contract evolution (against HEAD~1)" bash scripts/check-contracts.sh --previous-commit
stage "swift build" swift build --build-tests
if [[ " ${failed[*]} " != *" swift build "* ]]; then
  stage "swift tests" swift test --skip-build --disable-xctest
else
  failed+=("swift tests (not run: the build failed)")
fi
stage "python tests" .venv/bin/python -m pytest Tests/Python -q

echo
if ((${#failed[@]})); then
  echo "test: FAILED stages: ${failed[*]}"
  exit 1
fi
echo "test: every stage passed"
