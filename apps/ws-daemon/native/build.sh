#!/usr/bin/env bash
# Builds the namespace helper with the machine's C compiler into native/build/wsd-nshelper.
# Needs glibc >= 2.36 headers (open_tree, move_mount, mount_setattr wrappers) and linux/openat2.h.
# Without a C compiler (macOS, a slim image) it prints one [native] line and succeeds: the content
# API works without the helper; the in-workspace API then answers FAILED_PRECONDITION.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/build}"
cc="${CC:-gcc}"
if ! command -v "$cc" >/dev/null 2>&1 || [ "$(uname -s)" != Linux ]; then
  echo "[native] wsd-nshelper not built: no C compiler \"$cc\" on $(uname -s) (install gcc and the Linux headers, or set CC); the content API works, the in-workspace API will answer FAILED_PRECONDITION"
  exit 0
fi
mkdir -p "$out"
# compile beside the target and rename, so a concurrent build or a running helper never sees half a file
tmp="$out/.wsd-nshelper.$$"
"$cc" -O2 -Wall -Wextra -Werror -std=gnu11 -o "$tmp" "$here/wsd-nshelper.c"
mv -f "$tmp" "$out/wsd-nshelper"
echo "built $out/wsd-nshelper"
