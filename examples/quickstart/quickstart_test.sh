#!/usr/bin/env bash
# The quickstart runs to completion, twice in a row, and leaves nothing
# running: every guardian and executor pid it printed is gone.
set -euo pipefail
bin="$TEST_SRCDIR/appkit/examples/quickstart/quickstart"
for round in 1 2; do
  out=$("$bin")
  echo "$out"
  grep -q "launched: guardian pid" <<<"$out"
  grep -q "restarts 1" <<<"$out"
  grep -q "guardian exited; pid file removed" <<<"$out"
  for pid in $(grep -oE '(guardian|executor) [0-9]+' <<<"$out" | awk '{print $2}' | sort -u); do
    if [[ -d /proc/$pid ]] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
      echo "process $pid survived the quickstart" >&2
      exit 1
    fi
  done
done
echo "quickstart ran twice and left nothing running"
