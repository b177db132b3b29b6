#!/usr/bin/env bash
# launch_test.sh LAUNCH APPKITCTL: the launcher and appkitctl of this
# workspace, whose guardian, executor and worker come from their runfiles
# (@appkit's, under whatever name this workspace gave it): start, start
# again (the running daemon), list the workers, stop; nothing left.
set -euo pipefail
launch=$1 appkitctl=$2
dir=$(mktemp -d /tmp/appkit-greeter-XXXXXX)  # short: it holds Unix sockets
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
wait_for() {  # up to 10 s
  local deadline=$((SECONDS + 10))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

out=$("$launch" "$dir")
echo "$out"
guardian=$(cat "$dir/greeter.pid")
trap 'kill -KILL "$guardian" 2>/dev/null || true; rm -rf "$dir"' EXIT
[[ $out == "greeter runs: guardian pid $guardian, files in $dir" ]] || fail "$out"
[[ $("$launch" "$dir") == "$out" ]] || fail "a second start is not the running daemon"
two_running() {
  "$appkitctl" workers --pid-file "$dir/greeter.pid" >"$dir/workers.txt" 2>&1 &&
    [[ $(grep -cE '^(hello|world) +RUNNING' "$dir/workers.txt") == 2 ]]
}
wait_for two_running || fail "workers: $(cat "$dir/workers.txt")"
cat "$dir/workers.txt"
wait_for grep -q "greetings from pid" "$dir/hello.log" || fail "worker hello never logged"
"$appkitctl" stop --pid-file "$dir/greeter.pid"
# Gone, or a zombie not yet reaped (its status may vanish between two reads).
if state=$(grep '^State:' "/proc/$guardian/status" 2>/dev/null) && [[ $state != *Z* ]]; then
  fail "guardian $guardian still runs ($state)"
fi
left=$(find "$dir" \( -name '*.pid' -o -type s \) -print)
[[ -z "$left" ]] || fail "left behind: $left"
echo "PASS: launched, found running, listed, stopped; nothing left"
