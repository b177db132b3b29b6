#!/usr/bin/env bash
# //:install_test: `bazel run //:install -- PREFIX` gives a self-contained
# appkit: the installed appkitctl, run in a clean environment (no Bazel
# runfiles anywhere), starts a daemon whose guardian, executor and pool use
# the binaries and the plugin of PREFIX/lib/appkit, watches its workers,
# and stops it leaving nothing. Without the plugin, `workers` says that
# the plugin is missing.
set -euo pipefail

install="$TEST_SRCDIR/appkit/install"
module="$TEST_SRCDIR/appkit/examples/quickstart/libdemo.so"
# Short: it holds the daemon's Unix sockets.
tmp=$(mktemp -d /tmp/appkit-install-XXXXXX)
prefix="$tmp/prefix"
guardian=""

cleanup() {
  if [[ -n "$guardian" ]] && kill -0 "$guardian" 2>/dev/null; then
    kill -TERM "$guardian" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$guardian" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$guardian" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# Waits (up to 10 s) until the command succeeds.
wait_for() {
  local deadline=$((SECONDS + 10))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

# What a user's shell has: no Bazel variables, no runfiles.
ctl() { env -i PATH=/usr/bin:/bin HOME="$tmp" "$prefix/bin/appkitctl" "$@"; }

echo "== install into $prefix"
"$install" "$prefix"
for file in bin/appkitctl lib/appkit/guardian lib/appkit/executor lib/appkit/worker; do
  [[ -x "$prefix/$file" ]] || fail "$prefix/$file is not installed executable"
done
[[ -f "$prefix/lib/appkit/libappkit_control_plane.so" ]] || fail "no plugin installed"
[[ $(stat -c %a "$prefix/lib/appkit/libappkit_control_plane.so") == 644 ]] ||
  fail "the plugin is not mode 644"

echo "== a relative PREFIX is taken from BUILD_WORKING_DIRECTORY"
(cd / && BUILD_WORKING_DIRECTORY="$tmp" "$install" relative >/dev/null)
[[ -x "$tmp/relative/bin/appkitctl" ]] || fail "relative PREFIX not under BUILD_WORKING_DIRECTORY"
rm -rf "$tmp/relative"
if "$install" >/dev/null 2>&1; then fail "install without PREFIX succeeded"; fi

echo "== a daemon with a pool, started by the installed appkitctl"
mkdir "$tmp/demo" "$tmp/state"
cp "$module" "$tmp/demo/libdemo.so"
cat >"$tmp/demo/daemons.yaml" <<YAML
demo:
  entry: demo:daemon_main
  args:
    state_dir: $tmp/state
YAML
config="$tmp/demo/daemons.yaml"
pid_file="$tmp/demo/appkit-state/demo/demo.pid"
out=$(ctl --config "$config" start demo) || fail "start: $out"
echo "$out"
guardian=$(cat "$pid_file")
[[ $(readlink "/proc/$guardian/exe") == "$prefix/lib/appkit/guardian" ]] ||
  fail "the guardian runs $(readlink "/proc/$guardian/exe"), not the installed one"

workers_running() {
  ctl --config "$config" workers demo >"$tmp/workers.txt" 2>&1 &&
    grep -qE '^greeter-1 +RUNNING' "$tmp/workers.txt"
}
wait_for workers_running || fail "workers never all listed: $(cat "$tmp/workers.txt")"
cat "$tmp/workers.txt"
ready() { ctl --config "$config" status demo --json >"$tmp/status.json" 2>&1; }  # exit 4 while starting
wait_for ready || fail "status: $(cat "$tmp/status.json")"
executor=$(sed -nE 's/.*"pid": "?([0-9]+)"?.*/\1/p' "$tmp/status.json" | head -1)
[[ $(readlink "/proc/$executor/exe") == "$prefix/lib/appkit/executor" ]] ||
  fail "the executor runs $(readlink "/proc/$executor/exe")"
grep -q "$prefix/lib/appkit/libappkit_control_plane.so" "/proc/$executor/maps" ||
  fail "the pool did not load the installed plugin"
worker_pid=$(awk '$1 == "greeter-1" { print $3 }' "$tmp/workers.txt")
# A fork of the installed worker binary, or of the installed executor (the
# first worker fork server of a daemon's pool is a fork of its executor:
# controller/prestarted_server.h).
case $(readlink "/proc/$worker_pid/exe") in
  "$prefix/lib/appkit/worker" | "$prefix/lib/appkit/executor") ;;
  *) fail "worker greeter-1 runs $(readlink "/proc/$worker_pid/exe")" ;;
esac

out=$(ctl --config "$config" stop demo) || fail "stop: $out"
echo "$out"
for pid in $guardian $executor $worker_pid; do
  # Gone, or a zombie: fine. (A process being reaped right now may still
  # show its /proc directory with no status to read: gone too.)
  state=$(grep '^State:' "/proc/$pid/status" 2>/dev/null) || continue
  [[ $state == *Z* ]] && continue
  fail "process $pid survived the stop: $state $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
done
[[ ! -e "$pid_file" && ! -e "$pid_file.sock" ]] || fail "pid file or socket left"

echo "== without the plugin: 'workers' says the plugin is missing"
rm "$prefix/lib/appkit/libappkit_control_plane.so"
out=$(ctl --config "$config" start demo) || fail "start: $out"
guardian=$(cat "$pid_file")
wait_for grep -q "starting 3 workers" "$tmp/demo/appkit-state/demo/demo.log" ||
  fail "the pool never started: $(cat "$tmp/demo/appkit-state/demo/demo-err.txt")"
# The controller binds its socket, then finds the plugin missing (on its
# loader thread, which may follow "starting"), logs it and removes the socket.
wait_for grep -q "runs without its control socket" "$tmp/demo/appkit-state/demo/demo.log" ||
  fail "the daemon's log does not say the pool runs without its socket"
if ctl --config "$config" workers demo >"$tmp/workers.txt" 2>&1; then
  fail "workers succeeded without the plugin: $(cat "$tmp/workers.txt")"
fi
cat "$tmp/workers.txt"
grep -q "libappkit_control_plane.so was not found" "$tmp/workers.txt" ||
  fail "the missing plugin is not named"
ctl --config "$config" stop demo >/dev/null || fail "stop without the plugin"
echo "PASS: installed appkit ran a daemon from $prefix and left nothing"
