#!/bin/sh
echo "coverage is not supported in the offline appkit build" >&2
exit 1
