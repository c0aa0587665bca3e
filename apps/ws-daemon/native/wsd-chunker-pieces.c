/*
 * wsd-chunker: the skip cache's pieces for the native walk, the same decisions and fingerprints
 * as PiecePlanner in src/archive/file-pieces.ts (docs/chunked-backups.md, "Skip cache").
 * The reusable pieces come from the daemon in a file: per piece its 32-byte fingerprint, a u32
 * (little-endian) count, then count x (32-byte sha256, u32 length) of the stored chunks that are
 * its bytes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wsd-chunker.h"

#define MAX_RUN_ENTRIES 256
#define MAX_RUN_BYTES (1024 * 1024)
#define RUN_PATH_MODULUS 64
#define MAX_REUSE_CHUNKS (1u << 20)

static const struct walk_options *opts;
static EVP_MD *md;

struct reusable {
  uint8_t fingerprint[32];
  struct reused_chunk *chunks;
  uint32_t count;
  uint64_t total;
  int used;
};
static struct reusable *table;
static size_t table_cap;

static struct reusable *slot_of(const uint8_t fp[32]) {
  uint64_t h;
  memcpy(&h, fp, 8);
  size_t i = h & (table_cap - 1);
  while (table[i].used && memcmp(table[i].fingerprint, fp, 32) != 0) i = (i + 1) & (table_cap - 1);
  return &table[i];
}

static void read_exact(int fd, void *p, size_t n, const char *path) {
  size_t have = 0;
  while (have < n) {
    ssize_t k = read(fd, (uint8_t *)p + have, n - have);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) fail("cannot read reusable pieces %s: %s", path, strerror(errno));
    if (k == 0) fail("reusable pieces %s: cut short", path);
    have += (size_t)k;
  }
}

static void load_reusable(const char *path) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) fail("cannot open reusable pieces %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) fail("cannot stat %s: %s", path, strerror(errno));
  /* every piece takes at least 72 bytes: a bound for the table */
  size_t most = (size_t)st.st_size / 72 + 1;
  table_cap = 16;
  while (table_cap < most * 2) table_cap *= 2;
  table = calloc(table_cap, sizeof *table);
  if (!table) fail("out of memory for %zu reusable pieces", most);
  off_t at = 0;
  while (at < st.st_size) {
    uint8_t head[36];
    read_exact(fd, head, sizeof head, path);
    uint32_t count = (uint32_t)head[32] | (uint32_t)head[33] << 8 | (uint32_t)head[34] << 16 |
                     (uint32_t)head[35] << 24;
    if (count < 1 || count > MAX_REUSE_CHUNKS) fail("reusable pieces %s: a piece of %u chunks", path, count);
    struct reusable *r = slot_of(head);
    if (r->used) fail("reusable pieces %s: a fingerprint twice", path);
    r->used = 1;
    memcpy(r->fingerprint, head, 32);
    r->count = count;
    r->chunks = malloc((size_t)count * sizeof *r->chunks);
    if (!r->chunks) fail("out of memory for a reusable piece");
    r->total = 0;
    for (uint32_t i = 0; i < count; i++) {
      uint8_t e[36];
      read_exact(fd, e, sizeof e, path);
      memcpy(r->chunks[i].id, e, 32);
      r->chunks[i].len = (uint32_t)e[32] | (uint32_t)e[33] << 8 | (uint32_t)e[34] << 16 | (uint32_t)e[35] << 24;
      r->total += r->chunks[i].len;
    }
    at += 36 + (off_t)count * 36;
  }
  close(fd);
}

void pieces_init(const struct walk_options *o) {
  opts = o;
  md = EVP_MD_fetch(NULL, "SHA256", NULL);
  if (!md) fail("OpenSSL has no sha256");
  if (o->reusable) load_reusable(o->reusable);
}

/* stored chunks whose lengths add up to exactly `size` stand for the piece, or none */
static void find_reuse(struct piece_plan *p, uint64_t size) {
  p->reuse = NULL;
  p->reuse_count = 0;
  if (!table) return;
  struct reusable *r = slot_of(p->fingerprint);
  if (!r->used || r->total != size) return;
  p->reuse = r->chunks;
  p->reuse_count = r->count;
}

/* a BigInt's decimal digits (ns times may pass 2^63) */
static int fmt_i128(char *out, __int128 v) {
  char tmp[48], *p = tmp + sizeof tmp;
  int neg = v < 0;
  unsigned __int128 u = neg ? (unsigned __int128)(-v) : (unsigned __int128)v;
  do {
    *--p = (char)('0' + (int)(u % 10));
    u /= 10;
  } while (u);
  if (neg) *--p = '-';
  int n = (int)(tmp + sizeof tmp - p);
  memcpy(out, p, (size_t)n);
  out[n] = 0;
  return n;
}

static __int128 ns_of(struct timespec t) { return (__int128)t.tv_sec * 1000000000 + t.tv_nsec; }

/* "size\0mtimeNs\0ctimeNs\0ino\0dev" of the open file when it is the one listed and its times
   can be trusted (stableStat); returns its length, 0 when not */
static size_t stable_identity(int fd, const struct stat *listed, char *out) {
  struct stat now;
  if (fstat(fd, &now) != 0) fail("cannot fstat: %s", strerror(errno));
  if (!S_ISREG(now.st_mode) || now.st_ino != listed->st_ino || now.st_dev != listed->st_dev ||
      now.st_size != listed->st_size)
    return 0;
  if (opts->settled && !(ns_of(now.st_ctim) < (__int128)opts->settled_before_ns)) return 0;
  char m[48], c[48];
  fmt_i128(m, ns_of(now.st_mtim));
  fmt_i128(c, ns_of(now.st_ctim));
  int n = snprintf(out, 256, "%lld%c%s%c%s%c%llu%c%llu", (long long)now.st_size, 0, m, 0, c, 0,
                   (unsigned long long)now.st_ino, 0, (unsigned long long)now.st_dev);
  return (size_t)n;
}

int plan_file(const struct ready *r, struct piece_plan *out) {
  char id[256];
  size_t n = stable_identity(r->fd, &r->st, id);
  if (n == 0) return 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned len = 0;
  if (!ctx || !EVP_DigestInit_ex(ctx, md, NULL) || !EVP_DigestUpdate(ctx, "wsd-file-body-v1", 17) ||
      !EVP_DigestUpdate(ctx, r->rel, r->rel_len) || !EVP_DigestUpdate(ctx, "", 1) ||
      !EVP_DigestUpdate(ctx, id, n) || !EVP_DigestFinal_ex(ctx, out->fingerprint, &len) || len != 32)
    fail("sha256 failed");
  EVP_MD_CTX_free(ctx);
  find_reuse(out, (uint64_t)r->st.st_size);
  return 1;
}

int plan_run(struct ready *const *run, size_t n, uint64_t lead, uint64_t tar_bytes, struct piece_plan *out) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx || !EVP_DigestInit_ex(ctx, md, NULL)) fail("sha256 failed");
  char text[256];
  int k = snprintf(text, sizeof text, "wsd-entry-run-v1%c%llu%c", 0, (unsigned long long)lead, 0);
  int ok = EVP_DigestUpdate(ctx, text, (size_t)k);
  for (size_t i = 0; ok && i < n; i++) {
    const struct ready *r = run[i];
    uint8_t len[4] = {(uint8_t)r->header.len, (uint8_t)(r->header.len >> 8),
                      (uint8_t)(r->header.len >> 16), (uint8_t)(r->header.len >> 24)};
    ok = EVP_DigestUpdate(ctx, len, 4) && EVP_DigestUpdate(ctx, r->header.p, r->header.len);
    if (!ok || r->fd < 0) continue;
    size_t m = stable_identity(r->fd, &r->st, text);
    if (m == 0) {
      EVP_MD_CTX_free(ctx);
      return 0;
    }
    ok = EVP_DigestUpdate(ctx, text, m) && EVP_DigestUpdate(ctx, "\n", 1);
  }
  unsigned len = 0;
  if (!ok || !EVP_DigestFinal_ex(ctx, out->fingerprint, &len) || len != 32) fail("sha256 failed");
  EVP_MD_CTX_free(ctx);
  find_reuse(out, tar_bytes);
  return 1;
}

int ends_run(const struct ready *r, size_t entries, uint64_t tar_bytes) {
  return entries >= MAX_RUN_ENTRIES || tar_bytes >= MAX_RUN_BYTES ||
         fnv1a_utf16(r->rel, r->rel_len) % RUN_PATH_MODULUS == 0;
}
