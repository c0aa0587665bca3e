/*
 * wsd-chunker: the framed chunk stream decoder, a mirror of ChunkStreamDecoder in
 * src/chunks/chunk-stream-frames.ts (records D, C, P, Q, R; integers little-endian). Anything
 * malformed ends the program, naming the record's stream offset.
 */
#include <stdio.h>
#include <string.h>

#include "wsd-chunker.h"

#define FRAME_DATA 0x44
#define FRAME_CUT 0x43
#define FRAME_PIECE_START 0x50
#define FRAME_PIECE_END 0x51
#define FRAME_REUSE 0x52
#define MAX_DATA_FRAME_BYTES (16u * 1024 * 1024)
#define MAX_REUSE_CHUNKS (1u << 20)

static const struct stream_handler *handler;

enum { S_TYPE, S_DATA_LEN, S_DATA, S_PIECE_FP, S_REUSE_COUNT, S_REUSE_ENTRY };
static int state = S_TYPE;
static uint8_t hdr[36];
static size_t hdr_have, hdr_need;
static uint32_t data_left, reuse_left;
static uint64_t stream_offset, record_offset;
static int in_piece, piece_has_reuse, piece_has_data;

static void malformed(const char *why) __attribute__((noreturn));
static void malformed(const char *why) {
  fail("malformed chunk stream at byte %llu: %s", (unsigned long long)record_offset, why);
}

static uint32_t le32(const uint8_t *b) {
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void expect(int next, size_t n) {
  state = next;
  hdr_have = 0;
  hdr_need = n;
}

static void header_done(void) {
  const struct stream_handler *h = handler;
  switch (state) {
  case S_DATA_LEN: {
    uint32_t n = le32(hdr);
    if (n < 1 || n > MAX_DATA_FRAME_BYTES) {
      char why[64];
      snprintf(why, sizeof why, "data frame of %u bytes", n);
      malformed(why);
    }
    if (piece_has_reuse) malformed("data inside a reused piece");
    piece_has_data = in_piece;
    data_left = n;
    state = S_DATA;
    return;
  }
  case S_PIECE_FP:
    if (in_piece) malformed("a piece starts inside a piece");
    in_piece = 1;
    piece_has_reuse = 0;
    piece_has_data = 0;
    h->piece_start(hdr);
    state = S_TYPE;
    return;
  case S_REUSE_COUNT: {
    uint32_t count = le32(hdr);
    if (count < 1 || count > MAX_REUSE_CHUNKS) {
      char why[64];
      snprintf(why, sizeof why, "reuse frame of %u chunks", count);
      malformed(why);
    }
    if (!in_piece || piece_has_data || piece_has_reuse)
      malformed("a reuse frame that is not the whole content of a piece");
    piece_has_reuse = 1;
    reuse_left = count;
    expect(S_REUSE_ENTRY, 36);
    return;
  }
  case S_REUSE_ENTRY: {
    uint32_t len = le32(hdr + 32);
    if (len == 0) malformed("a reused chunk of length 0");
    if (len > h->max_chunk) malformed("a reused chunk longer than the largest chunk");
    h->reused(hdr, len);
    if (--reuse_left > 0) expect(S_REUSE_ENTRY, 36);
    else state = S_TYPE;
    return;
  }
  default:
    fail("decoder state %d", state);
  }
}

void stream_decode(const struct stream_handler *h, const uint8_t *buf, size_t len) {
  handler = h;
  size_t at = 0;
  while (at < len) {
    if (state == S_DATA) {
      size_t n = data_left < len - at ? data_left : len - at;
      h->data(buf + at, n);
      data_left -= (uint32_t)n;
      at += n;
      stream_offset += n;
      if (data_left == 0) state = S_TYPE;
      continue;
    }
    if (state == S_TYPE) {
      record_offset = stream_offset;
      uint8_t type = buf[at++];
      stream_offset++;
      switch (type) {
      case FRAME_DATA: expect(S_DATA_LEN, 4); break;
      case FRAME_CUT: h->cut(); break;
      case FRAME_PIECE_START: expect(S_PIECE_FP, 32); break;
      case FRAME_PIECE_END:
        if (!in_piece) malformed("a piece ends that never started");
        in_piece = 0;
        piece_has_reuse = 0;
        h->piece_end();
        break;
      case FRAME_REUSE: expect(S_REUSE_COUNT, 4); break;
      default: {
        char why[48];
        snprintf(why, sizeof why, "unknown record type %u", type);
        malformed(why);
      }
      }
      continue;
    }
    size_t n = hdr_need - hdr_have < len - at ? hdr_need - hdr_have : len - at;
    memcpy(hdr + hdr_have, buf + at, n);
    hdr_have += n;
    at += n;
    stream_offset += n;
    if (hdr_have == hdr_need) header_done();
  }
}

void stream_end(void) {
  record_offset = stream_offset;
  if (state != S_TYPE) malformed("the stream ends inside a record");
  if (in_piece) malformed("the stream ends inside a piece");
}
