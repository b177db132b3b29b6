#!/usr/bin/env bash
# The quickstart runs to completion, twice in a row, and leaves nothing
# running: every guardian, executor and worker pid it printed is gone.
set -euo pipefail
bin="$TEST_SRCDIR/appkit/examples/quickstart/quickstart"
# A private state dir (short: it holds Unix sockets), removed at the end.
export APPKIT_QUICKSTART_DIR=$(mktemp -d /tmp/appkit-qs-XXXXXX)
trap 'rm -rf "$APPKIT_QUICKSTART_DIR"' EXIT
for round in 1 2; do
  out=$(timeout 60 "$bin")
  echo "$out"
  grep -q "launched: guardian pid" <<<"$out"
  grep -qE "greeter-1 +RUNNING" <<<"$out"
  grep -qE "greeter-1: pid [0-9]+ -> [0-9]+" <<<"$out"
  grep -q "guardian exited; pid file removed" <<<"$out"
  pids=$( { grep -oE '(guardian|executor) [0-9]+' <<<"$out" | awk '{print $2}'
            grep -oE 'pid [0-9]+ -> [0-9]+' <<<"$out" | awk '{print $2; print $4}'
            grep -E '^ +(greeter-[12]|flaky) +[A-Z_]+ +[0-9]+' <<<"$out" | awk '{print $3}'
          } | sort -u)
  for pid in $pids; do
    # Gone or a zombie is fine (its status file may vanish between reads).
    if state=$(grep '^State:' "/proc/$pid/status" 2>/dev/null) && [[ $state != *Z* ]]; then
      echo "process $pid survived the quickstart: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" >&2
      exit 1
    fi
  done
done
[[ ! -e $APPKIT_QUICKSTART_DIR/demo.pid ]]
echo "quickstart ran twice and left nothing running"
