#!/usr/bin/env bash
# `npm run -s wsdctl -- <args>`: builds wsdctl (@ws-daemon/cli) with its output kept back (shown
# only if the build fails; Nx caches it), then runs it in the directory npm was run from.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! (cd "$root" && NX_DAEMON=false npx nx run @ws-daemon/cli:build --outputStyle=static) >"$log" 2>&1; then
  cat "$log" >&2
  echo "wsdctl: the build failed (its output is above)" >&2
  exit 1
fi
cd "${INIT_CWD:-$PWD}"
exec node "$root/apps/wsdctl/dist/wsdctl.js" "$@"
