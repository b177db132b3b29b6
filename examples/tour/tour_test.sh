#!/usr/bin/env bash
# The README's tour, run as written (with private directories instead of
# /tmp/appkit-tour and /tmp/appkit-tour-ctl): start with the launcher and
# with appkitctl side by side, watch both, kill a worker and see it come
# back, stop both; no process, pid file or socket is left.
set -euo pipefail

here="$TEST_SRCDIR/appkit/examples/tour"
appkitctl="$TEST_SRCDIR/appkit/client/appkitctl"
tmp=$(mktemp -d /tmp/appkit-tour-XXXXXX)   # short: it holds Unix sockets
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
wait_for() {  # up to 10 s
  local deadline=$((SECONDS + 10))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}
# Running: its status says so (gone or a zombie is not; the file may vanish at any read).
alive() { local state; state=$(grep '^State:' "/proc/$1/status" 2>/dev/null) && [[ $state != *Z* ]]; }
worker_pid() { awk -v name="$1" '$1 == name && $2 == "RUNNING" { print $3 }' "$tmp/workers.txt"; }
both_running() {
  "$appkitctl" "$@" >"$tmp/workers.txt" 2>&1 &&
    [[ -n $(worker_pid w1) && -n $(worker_pid w2) ]]
}

echo "== 3a. start it with the launcher"
out=$("$here/launcher" "$tmp/l")
echo "$out"
[[ $out == "demo runs: guardian pid "* ]] || fail "launcher said: $out"
guardian=$(cat "$tmp/l/demo.pid")
pids+=("$guardian")
again=$("$here/launcher" "$tmp/l")
[[ $again == "demo runs: guardian pid $guardian, files in $tmp/l" ]] ||
  fail "a second launch is not the running daemon: $again"

echo "== 4. watch it"
# exit 4 while the entry starts: wait until it is running and ready (exit 0).
wait_for "$appkitctl" status --pid-file "$tmp/l/demo.pid" >"$tmp/status.txt" 2>&1 ||
  fail "status: $(cat "$tmp/status.txt")"
cat "$tmp/status.txt"
wait_for both_running workers --pid-file "$tmp/l/demo.pid" ||
  fail "workers: $(cat "$tmp/workers.txt")"
cat "$tmp/workers.txt"
"$appkitctl" debug --pid-file "$tmp/l/demo.pid" | grep -q '"name": "w1"' || fail "debug"
wait_for grep -q "working" "$tmp/l/w1.log" || fail "w1 does not log 'working' to w1.log"
grep -q "starting 2 workers" "$tmp/l/demo.log" || fail "demo.log has no pool lines"

victim=$(worker_pid w1)
pids+=("$victim" "$(worker_pid w2)")
kill -KILL "$victim"
restarted() {
  "$appkitctl" workers --pid-file "$tmp/l/demo.pid" >"$tmp/workers.txt" 2>&1 &&
    [[ -n $(worker_pid w1) && $(worker_pid w1) != "$victim" ]]
}
wait_for restarted || fail "w1 not restarted: $(cat "$tmp/workers.txt")"
cat "$tmp/workers.txt"
pids+=("$(worker_pid w1)")
grep -qE '^w1 +RUNNING +[0-9]+ +[^ ]+ +1 +killed by signal 9' "$tmp/workers.txt" ||
  fail "w1's restart and last exit are not shown"

echo "== 3b. the same daemon with appkitctl and daemons.yaml, next to the first"
mkdir "$tmp/c"
sed "s#/tmp/appkit-tour-ctl#$tmp/cw#" "$here/daemons.yaml" >"$tmp/c/daemons.yaml"
config="$tmp/c/daemons.yaml"
APPKIT_MODULE_PATH="$here" "$appkitctl" --config "$config" start demo || fail "start demo"
ctl_guardian=$(cat "$tmp/c/appkit-state/demo/demo.pid")
pids+=("$ctl_guardian")
wait_for both_running --config "$config" workers demo || fail "$(cat "$tmp/workers.txt")"
pids+=("$(worker_pid w1)" "$(worker_pid w2)")
"$appkitctl" --config "$config" list | tee "$tmp/list.txt"
grep -qE "^demo +RUNNING +$ctl_guardian " "$tmp/list.txt" || fail "list does not show it running"
alive "$guardian" || fail "the launcher's daemon is gone"

echo "== 5. stop them"
"$appkitctl" stop --pid-file "$tmp/l/demo.pid" || fail "stop --pid-file"
"$appkitctl" --config "$config" stop demo || fail "stop demo"
for pid in "${pids[@]}"; do
  if alive "$pid"; then fail "process $pid survived: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"; fi
done
left=$(find "$tmp" \( -name '*.pid' -o -type s \) -print)
[[ -z "$left" ]] || fail "left behind: $left"
echo "PASS: the tour ran both ways and left nothing"
