#!/usr/bin/env bash
# The Python client (stubs generated from proto/, Debian's grpcio) against a
# real daemon with a pool of two workers: it prints the daemon's status,
# its health and its workers. Then the daemon is stopped; nothing is left.
set -euo pipefail

client="$TEST_SRCDIR/appkit/examples/python_client/python_client"
launcher="$TEST_SRCDIR/appkit/examples/tour/launcher"
appkitctl="$TEST_SRCDIR/appkit/client/appkitctl"
tmp=$(mktemp -d /tmp/appkit-py-XXXXXX)   # short: it holds Unix sockets
guardian=""
cleanup() {
  [[ -n "$guardian" ]] && "$appkitctl" stop --pid-file "$tmp/d/demo.pid" >/dev/null 2>&1 || true
  [[ -n "$guardian" ]] && kill -KILL "$guardian" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$launcher" "$tmp/d"
guardian=$(cat "$tmp/d/demo.pid")

# The pool starts after the daemon: wait (10 s at most) for both workers.
deadline=$((SECONDS + 10))
until "$client" --pid-file "$tmp/d/demo.pid" >"$tmp/out.txt" 2>&1 &&
      [[ $(grep -cE '^  w[12] +RUNNING +pid [0-9]+' "$tmp/out.txt") == 2 ]]; do
  ((SECONDS < deadline)) || fail "the client never saw two running workers: $(cat "$tmp/out.txt")"
  sleep 0.05
done
cat "$tmp/out.txt"
grep -qE "^daemon +RUNNING, guardian pid $guardian, entry demo:daemon_main$" "$tmp/out.txt" ||
  fail "no status line"
grep -qE '^health +SERVING$' "$tmp/out.txt" || fail "no health line"
grep -qE '^workers +2, controller pid [0-9]+$' "$tmp/out.txt" || fail "no workers line"

# A daemon that is not there: exit code 1 and the socket named.
if "$client" --pid-file "$tmp/none.pid" >"$tmp/out.txt" 2>&1; then fail "no daemon, exit 0"; fi
grep -q "cannot reach $tmp/none.pid.sock" "$tmp/out.txt" || fail "$(cat "$tmp/out.txt")"

# proto/README.md's recipe (stubs by hand, GetStatus), run as written there
# from the root of the tree, with this test's paths.
awk '/^By hand/ { f = 1 } f && /^```$/ { n++; if (n == 1) next; if (n == 2) exit } f && n == 1' \
  "$TEST_SRCDIR/appkit/proto/README.md" |
  sed -e "s#/tmp/stubs#$tmp/stubs#g" -e "s#/tmp/appkit-tour/demo.pid.sock#$tmp/d/demo.pid.sock#" \
  >"$tmp/recipe.sh"
grep -q "grpc_tools.protoc" "$tmp/recipe.sh" || fail "no recipe found in proto/README.md"
(cd "$TEST_SRCDIR/appkit" && bash "$tmp/recipe.sh") >"$tmp/out.txt" 2>&1 ||
  fail "the recipe of proto/README.md failed: $(cat "$tmp/out.txt")"
grep -q "^guardian_pid: $guardian$" "$tmp/out.txt" || fail "recipe printed: $(cat "$tmp/out.txt")"
echo "proto/README.md's recipe printed the status of guardian $guardian"

"$appkitctl" stop --pid-file "$tmp/d/demo.pid"
[[ ! -e "$tmp/d/demo.pid" && ! -e "$tmp/d/demo.pid.sock" ]] || fail "pid file or socket left"
echo "PASS: the Python client saw status, health and workers"
