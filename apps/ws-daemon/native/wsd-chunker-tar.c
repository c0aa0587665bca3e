/*
 * wsd-chunker: tar headers and names for the native walk (wsd-chunker-walk.c), byte for byte
 * what src/archive/tar-header.ts and sparse-map.ts write, so the stream (and so the chunks, and
 * deduplication against backups the JavaScript walk made) is the same whichever walk ran.
 * The JavaScript side works on strings: where a name's bytes meet a JS string conversion (a
 * symlink target, a truncated field, the sort order, a hash over UTF-16 units), this file
 * reproduces that conversion on the bytes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsd-chunker.h"

#define BLOCK 512
#define MAX_OCTAL_7 07777777ull
#define MAX_OCTAL_11 077777777777ull

void buf_put(struct buf *b, const void *data, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) fail("out of memory (%zu bytes)", cap);
    b->p = p;
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->len, data, n);
  b->len += n;
}

void buf_str(struct buf *b, const char *s) { buf_put(b, s, strlen(s)); }

void buf_zeros(struct buf *b, size_t n) {
  static const uint8_t zero[BLOCK];
  while (n > 0) {
    size_t k = n < sizeof zero ? n : sizeof zero;
    buf_put(b, zero, k);
    n -= k;
  }
}

/* ---------- UTF-8 as V8 decodes it (the WHATWG decoder: one U+FFFD per maximal bad subpart) ---------- */

struct utf8_decoder {
  uint32_t cp;
  int needed, seen;
  uint8_t lower, upper;
};

/* feeds one byte: 0 when more bytes are needed; 1 with *out set when a code point is complete;
   2 with *out = U+FFFD for bad bytes, and the byte must be fed again when *refeed is set */
static int utf8_step(struct utf8_decoder *d, uint8_t b, uint32_t *out, int *refeed) {
  *refeed = 0;
  if (d->needed == 0) {
    d->lower = 0x80;
    d->upper = 0xbf;
    if (b <= 0x7f) {
      *out = b;
      return 1;
    }
    if (b >= 0xc2 && b <= 0xdf) {
      d->needed = 1;
      d->cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      if (b == 0xe0) d->lower = 0xa0;
      if (b == 0xed) d->upper = 0x9f;
      d->needed = 2;
      d->cp = b & 0xf;
    } else if (b >= 0xf0 && b <= 0xf4) {
      if (b == 0xf0) d->lower = 0x90;
      if (b == 0xf4) d->upper = 0x8f;
      d->needed = 3;
      d->cp = b & 0x7;
    } else {
      *out = 0xfffd;
      return 2;
    }
    d->seen = 0;
    return 0;
  }
  if (b < d->lower || b > d->upper) {
    d->needed = 0;
    *out = 0xfffd;
    *refeed = 1;
    return 2;
  }
  d->lower = 0x80;
  d->upper = 0xbf;
  d->cp = d->cp << 6 | (b & 0x3f);
  if (++d->seen < d->needed) return 0;
  d->needed = 0;
  *out = d->cp;
  return 1;
}

/* decodes s[0, n) as V8 does; calls `each` per code point (if given); returns the bad parts */
static size_t utf8_each(const uint8_t *s, size_t n, void (*each)(uint32_t, void *), void *ctx) {
  struct utf8_decoder d = {0};
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t cp;
    int refeed;
    int r = utf8_step(&d, s[i], &cp, &refeed);
    if (r == 0) continue;
    if (refeed) i--;
    if (r == 2) bad++;
    if (each) each(cp, ctx);
  }
  if (d.needed) {
    bad++;
    if (each) each(0xfffd, ctx);
  }
  return bad;
}

static void put_utf8(uint32_t cp, void *ctx) {
  struct buf *b = ctx;
  uint8_t o[4];
  size_t n;
  if (cp < 0x80) o[0] = (uint8_t)cp, n = 1;
  else if (cp < 0x800) o[0] = (uint8_t)(0xc0 | cp >> 6), o[1] = (uint8_t)(0x80 | (cp & 0x3f)), n = 2;
  else if (cp < 0x10000)
    o[0] = (uint8_t)(0xe0 | cp >> 12), o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f)),
    o[2] = (uint8_t)(0x80 | (cp & 0x3f)), n = 3;
  else
    o[0] = (uint8_t)(0xf0 | cp >> 18), o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f)),
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f)), o[3] = (uint8_t)(0x80 | (cp & 0x3f)), n = 4;
  buf_put(b, o, n);
}

/* s as it comes back from a JS string: bad bytes become U+FFFD */
void utf8_sanitize(const uint8_t *s, size_t n, struct buf *out) { utf8_each(s, n, put_utf8, out); }

/* whether s is valid UTF-8 exactly as V8 accepts it (no surrogates, no overlong forms) */
int utf8_valid(const uint8_t *s, size_t n) { return utf8_each(s, n, NULL, NULL) == 0; }

/* the order of a code point among UTF-16 code units: supplementary ones (high surrogates
   D800-DBFF first) sort between U+D7FF and U+E000 */
static uint32_t utf16_key(uint32_t cp) {
  if (cp >= 0x10000) return 0xd800 + (cp - 0x10000);
  if (cp >= 0xe000) return cp + 0x100000;
  return cp;
}

/* the next code point of a valid UTF-8 string */
static uint32_t next_cp(const uint8_t **s, const uint8_t *end) {
  struct utf8_decoder d = {0};
  while (*s < end) {
    uint32_t cp;
    int refeed;
    int r = utf8_step(&d, **s, &cp, &refeed);
    if (!refeed) (*s)++;
    if (r) return cp;
  }
  return 0xfffd;
}

/* Array.prototype.sort's default order (UTF-16 code units) of two valid UTF-8 names */
int utf16_compare(const char *a, const char *b) {
  const uint8_t *x = (const uint8_t *)a, *xe = x + strlen(a);
  const uint8_t *y = (const uint8_t *)b, *ye = y + strlen(b);
  while (x < xe && y < ye) {
    uint32_t p = utf16_key(next_cp(&x, xe)), q = utf16_key(next_cp(&y, ye));
    if (p != q) return p < q ? -1 : 1;
  }
  return (x < xe) - (y < ye);
}

/* 32-bit FNV-1a of the UTF-16 code units of a valid UTF-8 string (fnv1a in file-pieces.ts) */
uint32_t fnv1a_utf16(const char *s, size_t n) {
  const uint8_t *p = (const uint8_t *)s, *end = p + n;
  uint32_t h = 0x811c9dc5u;
  while (p < end) {
    uint32_t cp = next_cp(&p, end);
    uint32_t units[2];
    int k = 1;
    units[0] = cp;
    if (cp >= 0x10000) {
      units[0] = 0xd800 + ((cp - 0x10000) >> 10);
      units[1] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
      k = 2;
    }
    for (int i = 0; i < k; i++) {
      h ^= units[i];
      h *= 0x01000193u;
    }
  }
  return h;
}

/* ---------- the header ---------- */

static void put_field(uint8_t *b, const uint8_t *s, size_t n, size_t off, size_t len) {
  memcpy(b + off, s, n < len ? n : len);
}

static void put_octal(uint8_t *b, uint64_t v, size_t off, size_t len) {
  char text[32];
  int n = snprintf(text, sizeof text, "%0*llo", (int)(len - 1), (unsigned long long)v);
  memcpy(b + off, text, (size_t)n < len - 1 ? (size_t)n : len - 1);
  if ((size_t)n < len) b[off + (size_t)n] = 0;
}

static void encode_ustar(struct buf *out, const uint8_t *name, size_t name_len, char typeflag,
                         uint32_t mode, uint64_t uid, uint64_t gid, uint64_t size, uint64_t mtime,
                         const uint8_t *link, size_t link_len) {
  uint8_t b[BLOCK] = {0};
  put_field(b, name, name_len, 0, 100);
  put_octal(b, mode, 100, 8);
  put_octal(b, uid, 108, 8);
  put_octal(b, gid, 116, 8);
  put_octal(b, size, 124, 12);
  put_octal(b, mtime, 136, 12);
  memset(b + 148, ' ', 8);
  b[156] = (uint8_t)typeflag;
  put_field(b, link, link_len, 157, 100);
  memcpy(b + 257, "ustar\0" "00", 8);
  unsigned sum = 0;
  for (int i = 0; i < BLOCK; i++) sum += b[i];
  char text[16];
  snprintf(text, sizeof text, "%06o", sum);
  memcpy(b + 148, text, 6);
  b[154] = 0;
  b[155] = ' ';
  buf_put(out, b, BLOCK);
}

/* lastSegment(): the last component without trailing slashes ("root" if none), cut to 80 bytes
   the way a JS string is (a split character becomes U+FFFD) */
static void last_segment(const uint8_t *name, size_t n, struct buf *out) {
  while (n > 0 && name[n - 1] == '/') n--;
  size_t start = n;
  while (start > 0 && name[start - 1] != '/') start--;
  if (start == n) {
    buf_str(out, "root");
    return;
  }
  size_t len = n - start;
  if (len <= 80) buf_put(out, name + start, len);
  else utf8_sanitize(name + start, 80, out);
}

static void pax_record(struct buf *body, const char *key, const uint8_t *value, size_t value_len) {
  size_t rest = 1 + strlen(key) + 1 + value_len + 1;
  char digits[32];
  size_t len = rest + (size_t)snprintf(digits, sizeof digits, "%zu", rest);
  if ((size_t)snprintf(digits, sizeof digits, "%zu", len) + rest != len)
    len = rest + (size_t)snprintf(digits, sizeof digits, "%zu", len);
  snprintf(digits, sizeof digits, "%zu ", len);
  buf_str(body, digits);
  buf_str(body, key);
  buf_str(body, "=");
  buf_put(body, value, value_len);
  buf_str(body, "\n");
}

static void pax_number(struct buf *body, const char *key, unsigned long long v) {
  char text[32];
  int n = snprintf(text, sizeof text, "%llu", v);
  pax_record(body, key, (const uint8_t *)text, (size_t)n);
}

/* Math.round: to the nearest, halves towards +infinity */
static double js_round(double x) {
  double r = floor(x);
  return x - r >= 0.5 ? r + 1 : r;
}

/* formatPaxTime(): the seconds of a Stats.mtimeMs, float noise and all */
static void pax_time(struct buf *body, double ms) {
  __int128 total = (__int128)js_round(ms * 1e6);
  __int128 sec = total / 1000000000;
  long long frac = (long long)(total % 1000000000);
  if (frac < 0) frac = -frac;
  char text[64], *p = text + sizeof text;
  *--p = 0;
  if (frac != 0) {
    char f[16];
    snprintf(f, sizeof f, "%09lld", frac);
    size_t k = strlen(f);
    while (k > 0 && f[k - 1] == '0') k--;
    p -= k;
    memcpy(p, f, k);
    *--p = '.';
  }
  int neg = sec < 0;
  unsigned __int128 u = neg ? (unsigned __int128)(-sec) : (unsigned __int128)sec;
  do {
    *--p = (char)('0' + (int)(u % 10));
    u /= 10;
  } while (u);
  if (neg) *--p = '-';
  pax_record(body, "mtime", (const uint8_t *)p, strlen(p));
}

void encode_entry_header(const struct tar_entry *h, struct buf *out) {
  struct buf pax = {0};
  if (h->sparse) {
    pax_record(&pax, "GNU.sparse.major", (const uint8_t *)"1", 1);
    pax_record(&pax, "GNU.sparse.minor", (const uint8_t *)"0", 1);
    pax_record(&pax, "GNU.sparse.name", h->name, h->name_len);
    pax_number(&pax, "GNU.sparse.realsize", (unsigned long long)h->real_size);
  } else if (h->name_len > 100) {
    pax_record(&pax, "path", h->name, h->name_len);
  }
  if (h->link && h->link_len > 100) pax_record(&pax, "linkpath", h->link, h->link_len);
  if (h->size > MAX_OCTAL_11) pax_number(&pax, "size", (unsigned long long)h->size);
  if (h->uid > MAX_OCTAL_7) pax_number(&pax, "uid", (unsigned long long)h->uid);
  if (h->gid > MAX_OCTAL_7) pax_number(&pax, "gid", (unsigned long long)h->gid);
  /* Stats.mtimeMs as Node computes it, and what tar-header.ts makes of it */
  double ms = (double)h->mtime_sec * 1000.0 + (double)h->mtime_nsec / 1e6;
  double sec = floor(ms / 1000.0);
  if (sec < 0 || sec > (double)MAX_OCTAL_11 || ms != sec * 1000.0) pax_time(&pax, ms);
  uint64_t ustar_mtime = sec < 0 ? 0 : sec > (double)MAX_OCTAL_11 ? MAX_OCTAL_11 : (uint64_t)sec;

  struct buf uname = {0};
  if (h->sparse) {
    buf_str(&uname, "GNUSparseFile.0/");
    last_segment(h->name, h->name_len, &uname);
  } else {
    buf_put(&uname, h->name, h->name_len);
  }
  if (pax.len > 0) {
    struct buf pname = {0};
    buf_str(&pname, "PaxHeaders/");
    last_segment(h->name, h->name_len, &pname);
    encode_ustar(out, pname.p, pname.len, 'x', 0644, 0, 0, pax.len, ustar_mtime, NULL, 0);
    buf_put(out, pax.p, pax.len);
    buf_zeros(out, (BLOCK - pax.len % BLOCK) % BLOCK);
    free(pname.p);
  }
  encode_ustar(out, uname.p, uname.len, h->typeflag, h->mode & 07777,
               h->uid > MAX_OCTAL_7 ? MAX_OCTAL_7 : h->uid, h->gid > MAX_OCTAL_7 ? MAX_OCTAL_7 : h->gid,
               h->size > MAX_OCTAL_11 ? 0 : h->size, ustar_mtime, h->link, h->link ? h->link_len : 0);
  free(uname.p);
  free(pax.p);
}

/* encodeSparseMap(): "count\n" then "offset\nsize\n" per segment, closed by (realSize, 0) when
   the file ends in a hole, padded to whole blocks */
void encode_sparse_map(const struct segment *s, size_t n, uint64_t real_size, struct buf *out) {
  size_t start = out->len;
  int closing = n == 0 || s[n - 1].offset + s[n - 1].size < real_size;
  char line[48];
  snprintf(line, sizeof line, "%zu\n", n + (size_t)closing);
  buf_str(out, line);
  for (size_t i = 0; i < n; i++) {
    snprintf(line, sizeof line, "%llu\n%llu\n", (unsigned long long)s[i].offset,
             (unsigned long long)s[i].size);
    buf_str(out, line);
  }
  if (closing) {
    snprintf(line, sizeof line, "%llu\n0\n", (unsigned long long)real_size);
    buf_str(out, line);
  }
  buf_zeros(out, (BLOCK - (out->len - start) % BLOCK) % BLOCK);
}
