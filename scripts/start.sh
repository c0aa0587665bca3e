#!/usr/bin/env bash
# `npm start`: builds the daemon with its output kept back (shown only if the build fails), then
# runs it in the directory `npm start` was run from, so relative paths in the config (the
# default ./.ws-daemon-data) land there. Arguments go to the daemon: npm start -- --listen.port=8081
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! (cd "$root" && NX_DAEMON=false npx nx run @ws-daemon/daemon:build --outputStyle=static) >"$log" 2>&1; then
  cat "$log" >&2
  echo "ws-daemon: the build failed (its output is above)" >&2
  exit 1
fi
# the one line the native build prints when it had to skip the namespace helper
grep -h '^\[native\]' "$log" >&2 || true
cd "${INIT_CWD:-$PWD}"
exec node "$root/apps/ws-daemon/dist/main.js" "$@"
