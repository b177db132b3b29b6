#!/usr/bin/env bash
# Runs client.py with the generated stubs on PYTHONPATH, with Debian's
# python3 (which has python3-grpcio).
set -euo pipefail
if [[ -d "$0.runfiles" ]]; then runfiles="$0.runfiles"; else runfiles=${RUNFILES_DIR:?}; fi
here="$runfiles/appkit/examples/python_client"
PYTHONPATH="$here/stubs${PYTHONPATH:+:$PYTHONPATH}" exec /usr/bin/python3 "$here/client.py" "$@"
