/*
 * wsd-chunker --walk DIR --dump-stream FILE (tests only): writes the stream the native walk makes
 * as the framed chunk stream (src/chunks/chunk-stream-frames.ts) into FILE instead of chunking
 * it, so a test can compare it with the stream the JavaScript walk writes for the same tree.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wsd-chunker.h"

static int out = -1;
static struct buf reused; /* the R record of the open piece, written at its end */
static uint32_t reused_count;

static void put(const void *p, size_t n) {
  size_t off = 0;
  while (off < n) {
    ssize_t k = write(out, (const uint8_t *)p + off, n - off);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) fail("cannot write the dump: %s", strerror(errno));
    off += (size_t)k;
  }
}

static void le32(uint8_t *b, uint32_t v) {
  b[0] = (uint8_t)v;
  b[1] = (uint8_t)(v >> 8);
  b[2] = (uint8_t)(v >> 16);
  b[3] = (uint8_t)(v >> 24);
}

static void on_data(const uint8_t *bytes, size_t len) {
  while (len > 0) {
    uint32_t n = len > (16u << 20) ? (16u << 20) : (uint32_t)len;
    uint8_t head[5] = {'D'};
    le32(head + 1, n);
    put(head, 5);
    put(bytes, n);
    bytes += n;
    len -= n;
  }
}
static void on_cut(void) { put("C", 1); }
static void on_piece_start(const uint8_t fp[32]) {
  put("P", 1);
  put(fp, 32);
}
static void on_reused(const uint8_t id[32], uint32_t len) {
  uint8_t l[4];
  le32(l, len);
  buf_put(&reused, id, 32);
  buf_put(&reused, l, 4);
  reused_count++;
}
static void on_piece_end(void) {
  if (reused_count > 0) {
    uint8_t head[5] = {'R'};
    le32(head + 1, reused_count);
    put(head, 5);
    put(reused.p, reused.len);
    reused.len = 0;
    reused_count = 0;
  }
  put("Q", 1);
}

void dump_walk(struct walk_options *w, const char *path) {
  out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) fail("cannot create %s: %s", path, strerror(errno));
  const struct stream_handler h = {
      .data = on_data,
      .cut = on_cut,
      .piece_start = on_piece_start,
      .piece_end = on_piece_end,
      .reused = on_reused,
  };
  walk_tree(w, &h);
  if (close(out) != 0) fail("cannot close the dump: %s", strerror(errno));
}
