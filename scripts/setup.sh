#!/usr/bin/env bash
# Installs everything Courier needs on a fresh Debian 12 machine, as root, and is quick when
# everything is already there: Debian packages first, then the project-local Python venv (.venv)
# with the test tools. Safe to run again at any time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Debian packages: the build's C libraries and protoc, and the real servers the tests start.
DEBIAN_PACKAGES=(
  protobuf-compiler libprotobuf-dev        # protoc and the well-known-type .proto files
  protobuf-c-compiler libprotobuf-c-dev    # the C reader of the contract fixtures
  libnghttp2-dev nghttp2-client            # HTTP/2 for the gRPC transport; h2load for benchmarks
  zlib1g-dev openssl                       # gRPC message compression; throwaway test certificates
  libgrpc++-dev protobuf-compiler-grpc     # the C++ (C-core) anchor server of Benchmarks/run.py
  libpq-dev postgresql                     # Postgres client library and a server for tests
  libcurl4-openssl-dev                     # Iris' SMTP client
  poppler-utils                            # pdftotext reads Hermes' receipts back in tests
  nginx-light                              # the ingress
  chromium chromium-driver                 # headless browser tests of the web fronts (Selenium)
  wrk                                      # HTTP/1.1 load for scripts/bench-rest.sh
  prometheus                               # promtool and a real Prometheus for Tests/Python/ops
  docker-compose                           # validates deploy/compose.yaml (no engine needed)
  shellcheck                               # deploy/ scripts and the workflow's run steps (actionlint)
  pkg-config gcc make python3-venv
)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: these packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python tools live in a venv inside the checkout so nothing leaks into the system Python.
# The lock file pins versions; the venv is rebuilt when it changes.
VENV="$ROOT/.venv"
REQUIREMENTS="$ROOT/scripts/requirements.txt"
STAMP="$VENV/.requirements.sha256"
want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" ]] || [[ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]]; then
  echo "setup: preparing the Python venv at $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$want" >"$STAMP"
fi
