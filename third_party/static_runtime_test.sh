#!/usr/bin/env bash
# The static-runtime boundary (third_party/static_link.bzl):
#   - the guardian and appkitctl (STATIC_RUNTIME_LINKOPTS with
#     :spdlog_static) need no shared library but glibc's: no libstdc++,
#     libgcc_s, spdlog, fmt, gRPC, protobuf or abseil, so no second copy of
#     the C++ runtime can come in through a dependency;
#   - they carry the runtime they link (libstdc++'s ios_base::Init,
#     spdlog's logger, fmt's vformat), so the check above is not vacuous;
#   - the executor and worker, which load modules, keep the shared C++
#     runtime and spdlog that modules bind to;
#   - they carry no OpenSSL (gRPC's unsecure build: they never speak TLS);
#   - the guardian's relative relocations are packed (DT_RELR:
#     PACKED_RELOCATIONS_LINKOPTS), and it stays position-independent.
set -euo pipefail
root="${TEST_SRCDIR}/appkit"
fail=0

needed() { readelf -d "$1" | sed -nE 's/.*\(NEEDED\).*\[(.*)\]/\1/p'; }

for binary in "$root/guardian/guardian" "$root/client/appkitctl"; do
  name=$(basename "$binary")
  others=$(needed "$binary" | grep -vE '^(libc\.so\.6|libm\.so\.6|ld-linux-x86-64\.so\.2)$' || true)
  if [[ -n "$others" ]]; then
    echo "FAIL: $name needs shared libraries besides glibc's:" $others
    fail=1
  fi
  symbols=$(nm -C "$binary" 2>/dev/null)
  if grep -qE ' (SSL_CTX_new|OPENSSL_init_crypto)$' <<<"$symbols"; then
    echo "FAIL: $name carries OpenSSL (link gRPC's unsecure archives: static_link.bzl)"
    fail=1
  fi
  for symbol in 'std::ios_base::Init::Init()' 'spdlog::logger::log_it_(' 'fmt::v9::vformat[abi:cxx11]('; do
    if ! grep -qF "$symbol" <<<"$symbols"; then
      echo "FAIL: $name does not define $symbol (is it linked with :spdlog_static?)"
      fail=1
    fi
  done
done

for binary in "$root/executor/executor" "$root/worker/worker"; do
  for lib in 'libstdc\+\+\.so' 'libspdlog\.so'; do
    if ! needed "$binary" | grep -qE "^$lib"; then
      echo "FAIL: $(basename "$binary") does not load ${lib//\\/} (modules must share it)"
      fail=1
    fi
  done
done

dynamic=$(readelf -d "$root/guardian/guardian")
if ! grep -q '(RELR)' <<<"$dynamic"; then
  echo "FAIL: the guardian's relative relocations are not packed (no DT_RELR)"
  fail=1
fi
if ! readelf -h "$root/guardian/guardian" | grep -q 'DYN (Position-Independent Executable'; then
  echo "FAIL: the guardian is not a position-independent executable"
  fail=1
fi

[[ $fail -eq 0 ]] && echo "PASS: guardian and appkitctl need only glibc; executor and worker share the C++ runtime; the guardian's relocations are packed"
exit $fail
