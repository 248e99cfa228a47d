#!/usr/bin/env bash
# Run one step of the build or the tests and print how long it took.
# Usage: scripts/timed.sh LABEL COMMAND [ARG...]
set -euo pipefail
label=$1
shift
echo "==> ${label}"
start=$(date +%s.%N)
status=0
"$@" || status=$?
end=$(date +%s.%N)
elapsed=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
if [ "$status" -eq 0 ]; then
    echo "<== ${label}: ${elapsed} s"
else
    echo "<== ${label}: FAILED (exit ${status}) after ${elapsed} s"
fi
if [ -n "${TIMINGS_FILE:-}" ]; then
    printf '%8s s  %s%s\n' "$elapsed" "$label" "$([ "$status" -eq 0 ] || echo '  (FAILED)')" >> "$TIMINGS_FILE"
fi
exit "$status"
