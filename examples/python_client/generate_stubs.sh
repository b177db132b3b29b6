#!/usr/bin/env bash
# generate_stubs.sh OUT_DIR APPKIT_ROOT HEALTH_PROTO PROTO... : the Python
# stubs of appkit's control plane, with Debian's python3-grpc-tools.
#   appkit.v1 (proto/*.proto, imported as "proto/..."): OUT_DIR/proto/*_pb2{,_grpc}.py
#   grpc.health.v1: OUT_DIR/health_pb2{,_grpc}.py (a top-level module: the
#     package name "grpc" is taken by grpcio itself)
set -euo pipefail
out=$1 root=$2 health=$3
shift 3
python=/usr/bin/python3
"$python" -m grpc_tools.protoc -I"$root" -I/usr/include \
  --python_out="$out" --grpc_python_out="$out" "$@"
"$python" -m grpc_tools.protoc -I"$(dirname "$health")" \
  --python_out="$out" --grpc_python_out="$out" "$health"
# A regular package, so that no other "proto" package on sys.path wins.
touch "$out/proto/__init__.py"
