#!/usr/bin/env bash
# Builds the native helpers with the machine's C compiler into native/build/:
#  - wsd-nshelper: needs glibc >= 2.36 headers (open_tree, move_mount, mount_setattr wrappers) and
#    linux/openat2.h. Without a C compiler (macOS, a slim image) it prints one [native] line and
#    succeeds: the content API works without the helper; the in-workspace API then answers
#    FAILED_PRECONDITION.
#  - wsd-chunker: the native chunker of chunked backups; needs the zstd and OpenSSL headers
#    (libzstd-dev, libssl-dev). Without them it prints one [native] line and succeeds: chunked
#    backups then run the JavaScript chunker (unframed packs).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/build}"
cc="${CC:-gcc}"
if ! command -v "$cc" >/dev/null 2>&1 || [ "$(uname -s)" != Linux ]; then
  echo "[native] wsd-nshelper not built: no C compiler \"$cc\" on $(uname -s) (install gcc and the Linux headers, or set CC); the content API works, the in-workspace API will answer FAILED_PRECONDITION; nor wsd-chunker: chunked backups use the JavaScript chunker"
  exit 0
fi
mkdir -p "$out"
# compile beside the target and rename, so a concurrent build or a running helper never sees half a file
tmp="$out/.wsd-nshelper.$$"
"$cc" -O2 -Wall -Wextra -Werror -std=gnu11 -o "$tmp" "$here/wsd-nshelper.c"
mv -f "$tmp" "$out/wsd-nshelper"
echo "built $out/wsd-nshelper"

# the chunker and the unchunker: only where both libraries' headers are installed (probed by
# compiling an include); without them chunked backups use the JavaScript chunker and chunked
# restores verify chunks in the daemon (slower)
if ! printf '#include <zstd.h>\n#include <openssl/evp.h>\nint main(void){return 0;}\n' |
  "$cc" -x c -o /dev/null - -lzstd -lcrypto >/dev/null 2>&1; then
  echo "[native] wsd-chunker and wsd-unchunk not built: no zstd/OpenSSL headers or libraries (install libzstd-dev and libssl-dev); chunked backups and restores run in JavaScript"
  exit 0
fi
tmp="$out/.wsd-chunker.$$"
# -ffp-contract=off: the walk's mtime arithmetic must round exactly as JavaScript's doubles do
"$cc" -O3 -Wall -Wextra -Werror -std=gnu11 -ffp-contract=off -pthread -o "$tmp" \
  "$here"/wsd-chunker*.c -lzstd -lcrypto -lm
mv -f "$tmp" "$out/wsd-chunker"
echo "built $out/wsd-chunker"
tmp="$out/.wsd-unchunk.$$"
"$cc" -O2 -Wall -Wextra -Werror -std=gnu11 -pthread -o "$tmp" "$here/wsd-unchunk.c" -lzstd -lcrypto
mv -f "$tmp" "$out/wsd-unchunk"
echo "built $out/wsd-unchunk"
