#!/usr/bin/env bash
# Prints the failed tests of a test run's log, with the first lines of each error, and the
# failed Nx tasks. Used by .ci/run after a failure, so that the failures are the run's last lines.
set -uo pipefail
log="$1"
plain="$(mktemp)"
trap 'rm -f "$plain"' EXIT
# drop colour codes and the "project:" prefix that Nx puts before each streamed line
sed -E 's/\x1b\[[0-9;]*[A-Za-z]//g; s/^@ws-daemon\/[a-z0-9-]+: ?//' "$log" >"$plain"

echo
echo "== what failed (repeated from above)"
# vitest: the per-test "×" lines, then each " FAIL " entry with the first lines of its error
grep -E '^\s+(×|✗) ' "$plain" | head -n 40
grep -n -A 12 -E '^ ?FAIL ' "$plain" | cut -c1-400 | head -n 160
# Nx: which tasks failed
grep -A 12 -E 'Failed tasks:' "$plain" | head -n 14
