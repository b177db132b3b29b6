#!/usr/bin/env bash
# The control-plane plugin's boundary (controller/control_plane.h):
#   - the executor and worker binaries do not load gRPC when they start;
#   - the plugin carries no generated message code and no appkit runtime
#     of its own (a second copy would register the same protobuf
#     descriptors twice, a fatal error, or split the runtime's state);
#   - every appkit or generated-message symbol the plugin needs is
#     exported by the executor, which loads it.
set -euo pipefail
root="${TEST_SRCDIR}/appkit"
plugin="$root/controller/libappkit_control_plane.so"
executor="$root/executor/executor"
worker="$root/worker/worker"
fail=0

for binary in "$executor" "$worker"; do
  if readelf -d "$binary" | grep -E 'NEEDED.*libgrpc' >/dev/null; then
    echo "FAIL: $(basename "$binary") links gRPC:"
    readelf -d "$binary" | grep -E 'NEEDED.*libgrpc'
    fail=1
  fi
done

# Generated message code of appkit's own protos, or runtime, defined in
# the plugin. (Health is the plugin's own: the executor does not link it.)
own=$(nm -D --defined-only "$plugin" | c++filt |
      grep -E 'descriptor_table_proto_2f(controller|guardian|process|launch|logging)|appkit::(QuitRequested|Sleep|Args::|internal::)' || true)
if [[ -n "$own" ]]; then
  echo "FAIL: the plugin defines code the host must own:"
  echo "$own" | head -20
  fail=1
fi

# What the plugin needs from appkit (namespace appkit or the generated
# descriptors) must be exported by the executor.
undefined=$(nm -D --undefined-only "$plugin" | awk '{print $2}' | sed 's/@.*//')
needed=$(paste <(echo "$undefined") <(echo "$undefined" | c++filt) |
         awk -F'\t' '$2 ~ /appkit::|descriptor_table_proto_2f/ {print $1}' | sort -u)
exported=$(nm -D --defined-only "$executor" | awk '{print $3}' | sort -u)
missing=$(comm -23 <(echo "$needed") <(echo "$exported") || true)
if [[ -n "$missing" ]]; then
  echo "FAIL: the executor does not export what the plugin needs:"
  echo "$missing" | c++filt | head -20
  fail=1
fi
if [[ -z "$needed" ]]; then
  echo "FAIL: the plugin needs nothing from the host? (the check itself is broken)"
  fail=1
fi

[[ $fail -eq 0 ]] && echo "PASS: $(echo "$needed" | wc -l) host symbols, all exported; no gRPC in executor or worker"
exit $fail
