#!/usr/bin/env bash
# Builds the namespace helper with the machine's C compiler into native/build/wsd-nshelper.
# Needs glibc >= 2.36 headers (open_tree, move_mount, mount_setattr wrappers) and linux/openat2.h.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/build}"
mkdir -p "$out"
# compile beside the target and rename, so a concurrent build or a running helper never sees half a file
tmp="$out/.wsd-nshelper.$$"
"${CC:-gcc}" -O2 -Wall -Wextra -Werror -std=gnu11 -o "$tmp" "$here/wsd-nshelper.c"
mv -f "$tmp" "$out/wsd-nshelper"
echo "built $out/wsd-nshelper"
