#!/usr/bin/env bash
# Generates the Python message classes and gRPC stubs for every Courier contract in proto/ with the
# stock compiler that grpcio-tools ships (python -m grpc_tools.protoc). Nothing here is Courier-specific:
# the same command works for any client.
#
#   examples/python/generate.sh [OUT_DIR]     (default: examples/python/gen)
#
# PYTHON selects the interpreter (default: python3); it needs grpcio-tools.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
out="${1:-$here/gen}"

if ! "$python" -c 'import grpc_tools.protoc' 2>/dev/null; then
  echo "generate.sh: $python cannot import grpc_tools; install grpcio-tools (pip install grpcio-tools)" >&2
  exit 1
fi
# The well-known types (google/protobuf/timestamp.proto, ...) come with grpcio-tools.
wkt="$("$python" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')"

mkdir -p "$out"
rm -rf "$out/courier" "$out/grpc"
mapfile -t files < <(cd "$root/proto" && find courier -name '*.proto' | LC_ALL=C sort)
if [ "${#files[@]}" -eq 0 ]; then
  echo "generate.sh: no .proto files under $root/proto/courier" >&2
  exit 1
fi
"$python" -m grpc_tools.protoc -I"$root/proto" -I"$wkt" \
  --python_out="$out" --grpc_python_out="$out" "${files[@]}"
echo "generated ${#files[@]} files' classes into $out"
