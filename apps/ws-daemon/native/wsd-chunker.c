/*
 * wsd-chunker: the native chunker of chunked backups (docs/chunked-backups.md, native/README.md).
 *
 * Reads the framed chunk stream (src/chunks/chunk-stream-frames.ts) from --input, cuts its data
 * into content-defined chunks with exactly the algorithm of src/chunks/content-defined-chunker.ts
 * (same derived gear table, sizes, masks; the cut points are part of the stored format), hashes
 * every chunk with sha256, skips chunks the daemon already stores (--known: a file of 32-byte ids)
 * or that came earlier in this stream, and compresses each new chunk as its own zstd frame into
 * pack files in the private --pack-dir. Reports, in stream order, one line per chunk, piece event
 * and sealed pack on stdout (format in native/README.md). Stdin carries one line per pack the
 * daemon has uploaded: at most --max-sealed sealed packs wait for it before this program stops.
 *
 * Threads: the main thread reads, cuts and hashes; --threads workers compress; one writer appends
 * frames to packs and reports, in order. A bounded ring of chunk slots connects them. Anything
 * malformed, any I/O error (a full disk) ends the program with exit 1 and one line on stderr; the
 * daemon then publishes nothing and removes the pack directory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "wsd-chunker.h"

#define SLOTS 12
#define READ_BYTES (1024 * 1024)

void fail(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* one write: a line the daemon can quote whole even when several threads fail at once */
  char line[600];
  int n = snprintf(line, sizeof line, "wsd-chunker: %s\n", msg);
  if (n > 0) {
    ssize_t w = write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    (void)w;
  }
  _exit(1);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) fail("out of memory (%zu bytes)", n);
  return p;
}

/* ---------- settings ---------- */

static const char *opt_input, *opt_pack_dir, *opt_known, *opt_dump;
/* --walk: the tree walk runs here (wsd-chunker-walk.c) instead of reading a framed stream */
static struct walk_options walk = {
    .max_entry_bytes = 64ull << 30,
    .max_total_bytes = 1024ull << 30,
    .max_entries = 10000000,
    .max_path_bytes = 3072,
    .piece_min = 1024 * 1024,
};
static uint64_t opt_pack_target = 16u * 1024 * 1024;
static int opt_level = 1, opt_threads = 2, opt_max_sealed = 2;
static uint32_t size_min = 256 * 1024, size_avg = 1024 * 1024, size_max = 4 * 1024 * 1024;

/* ---------- sha256 (OpenSSL picks SHA-NI where the CPU has it) ---------- */

static EVP_MD *sha256_md;

static void sha256(const void *data, size_t len, uint8_t out[32]) {
  unsigned int n = 0;
  if (!EVP_Digest(data, len, out, &n, sha256_md, NULL) || n != 32) fail("sha256 failed");
}

/* ---------- the chunker (mirror of content-defined-chunker.ts) ---------- */

static uint32_t gear[256];
static uint32_t mask_small, mask_large;

/* the top `bits` bits set, as topBitsMask() in the TS chunker */
static uint32_t top_bits_mask(int bits) {
  return bits >= 32 ? 0xffffffffu : ~((1u << (32 - bits)) - 1u);
}

static void init_gear(void) {
  for (int i = 0; i < 256; i++) {
    char label[32];
    int n = snprintf(label, sizeof label, "wsd-gear-v1/%d", i);
    uint8_t d[32];
    sha256(label, (size_t)n, d);
    gear[i] = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
  }
  int bits = (int)lround(log2((double)size_avg));
  mask_small = top_bits_mask(bits + 2);
  mask_large = top_bits_mask(bits - 2 > 1 ? bits - 2 : 1);
}

/* ---------- the ring of slots between the threads ---------- */

enum { ITEM_CHUNK, ITEM_REUSED, ITEM_PIECE_START, ITEM_PIECE_END, ITEM_END };
enum { DEDUP_NEW, DEDUP_KNOWN, DEDUP_DUP };
enum { SLOT_FREE, SLOT_SUBMITTED, SLOT_COMPRESSING, SLOT_DONE };

struct slot {
  int state;
  int kind;
  int dedup;
  uint8_t id[32];
  uint32_t len;
  uint8_t *buf;      /* size_max bytes: the chunker fills it in place */
  uint8_t *frame;    /* the compressed frame of a new chunk */
  size_t frame_cap, frame_len;
};

static struct slot ring[SLOTS];
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ring_changed = PTHREAD_COND_INITIALIZER;
static uint64_t next_submit, next_compress, next_write;

static struct slot *slot_at(uint64_t seq) { return &ring[seq % SLOTS]; }

/* the main thread's next slot, once the writer freed it */
static struct slot *acquire_slot(void) {
  pthread_mutex_lock(&ring_lock);
  struct slot *s = slot_at(next_submit);
  while (s->state != SLOT_FREE) pthread_cond_wait(&ring_changed, &ring_lock);
  pthread_mutex_unlock(&ring_lock);
  return s;
}

static void submit_slot(void) {
  pthread_mutex_lock(&ring_lock);
  slot_at(next_submit)->state = SLOT_SUBMITTED;
  next_submit++;
  pthread_cond_broadcast(&ring_changed);
  pthread_mutex_unlock(&ring_lock);
}

static void *compress_worker(void *arg) {
  (void)arg;
  ZSTD_CCtx *cctx = ZSTD_createCCtx();
  if (!cctx) fail("cannot create a zstd context");
  for (;;) {
    pthread_mutex_lock(&ring_lock);
    struct slot *s = slot_at(next_compress);
    while (s->state != SLOT_SUBMITTED || next_compress >= next_submit) {
      pthread_cond_wait(&ring_changed, &ring_lock);
      s = slot_at(next_compress);
    }
    s->state = SLOT_COMPRESSING;
    next_compress++;
    pthread_mutex_unlock(&ring_lock);
    if (s->kind == ITEM_CHUNK && s->dedup == DEDUP_NEW) {
      size_t n = ZSTD_compressCCtx(cctx, s->frame, s->frame_cap, s->buf, s->len, opt_level);
      if (ZSTD_isError(n)) fail("zstd: %s", ZSTD_getErrorName(n));
      s->frame_len = n;
    }
    pthread_mutex_lock(&ring_lock);
    s->state = SLOT_DONE;
    pthread_cond_broadcast(&ring_changed);
    pthread_mutex_unlock(&ring_lock);
  }
  return NULL;
}

/* ---------- the writer: packs and the report, in stream order ---------- */

static int pack_dir_fd;
static int pack_fd = -1;
static uint64_t pack_no, pack_raw, pack_stored, packs_unacked;
static uint64_t data_bytes, reused_bytes;

static void hex(const uint8_t *b, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[b[i] >> 4];
    out[2 * i + 1] = digits[b[i] & 15];
  }
  out[2 * n] = 0;
}

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vprintf(fmt, ap);
  va_end(ap);
  if (r < 0) fail("cannot write the report: %s", strerror(errno));
}

static void flush_report(void) {
  if (fflush(stdout) != 0) fail("cannot write the report: %s", strerror(errno));
}

/* one line on stdin per pack the daemon has uploaded (and may delete) */
static void wait_for_ack(void) {
  char line[64];
  flush_report();
  if (!fgets(line, sizeof line, stdin)) fail("the daemon closed the acknowledgement channel");
  if (strncmp(line, "ack", 3) != 0) fail("unexpected acknowledgement line");
  packs_unacked--;
}

static void open_pack(void) {
  while (packs_unacked >= (uint64_t)opt_max_sealed) wait_for_ack();
  char name[64];
  snprintf(name, sizeof name, "pack-%llu.zst", (unsigned long long)pack_no);
  /* never through a planted link, never into an existing file */
  pack_fd = openat(pack_dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (pack_fd < 0) fail("cannot create pack %s: %s", name, strerror(errno));
  pack_raw = 0;
  pack_stored = 0;
}

static void seal_pack(void) {
  if (pack_fd < 0) return;
  if (close(pack_fd) != 0) fail("cannot close pack %llu: %s", (unsigned long long)pack_no, strerror(errno));
  pack_fd = -1;
  report("sealed %llu pack-%llu.zst %llu %llu\n", (unsigned long long)pack_no,
         (unsigned long long)pack_no, (unsigned long long)pack_raw, (unsigned long long)pack_stored);
  flush_report();
  pack_no++;
  packs_unacked++;
}

static void append_frame(struct slot *s) {
  if (pack_fd < 0) open_pack();
  size_t off = 0;
  while (off < s->frame_len) {
    ssize_t n = write(pack_fd, s->frame + off, s->frame_len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write pack %llu: %s", (unsigned long long)pack_no, strerror(errno));
    }
    off += (size_t)n;
  }
  char id[65];
  hex(s->id, 32, id);
  report("chunk %s %u new %llu %llu %llu %zu\n", id, s->len, (unsigned long long)pack_no,
         (unsigned long long)pack_raw, (unsigned long long)pack_stored, s->frame_len);
  pack_raw += s->len;
  pack_stored += s->frame_len;
  if (pack_raw >= opt_pack_target) seal_pack();
}

static void *writer(void *arg) {
  (void)arg;
  for (;;) {
    pthread_mutex_lock(&ring_lock);
    struct slot *s = slot_at(next_write);
    while (s->state != SLOT_DONE) pthread_cond_wait(&ring_changed, &ring_lock);
    pthread_mutex_unlock(&ring_lock);
    char id[65];
    switch (s->kind) {
    case ITEM_CHUNK:
      if (s->dedup == DEDUP_NEW) {
        append_frame(s);
      } else {
        hex(s->id, 32, id);
        report("chunk %s %u %s\n", id, s->len, s->dedup == DEDUP_KNOWN ? "known" : "dup");
      }
      break;
    case ITEM_REUSED:
      hex(s->id, 32, id);
      report("chunk %s %u reused\n", id, s->len);
      break;
    case ITEM_PIECE_START:
      hex(s->id, 32, id);
      report("piece-start %s\n", id);
      break;
    case ITEM_PIECE_END:
      report("piece-end\n");
      break;
    case ITEM_END:
      seal_pack();
      report("end %llu %llu\n", (unsigned long long)data_bytes, (unsigned long long)reused_bytes);
      flush_report();
      return NULL;
    }
    pthread_mutex_lock(&ring_lock);
    s->state = SLOT_FREE;
    next_write++;
    pthread_cond_broadcast(&ring_changed);
    pthread_mutex_unlock(&ring_lock);
  }
}

/* ---------- the main thread: decode, cut, hash ---------- */

static pthread_t writer_thread;
static struct slot *cur; /* the slot whose buffer holds the chunk being cut */
static uint32_t used, hash;

static void emit_chunk(void) {
  cur->kind = ITEM_CHUNK;
  cur->len = used;
  sha256(cur->buf, used, cur->id);
  int was = id_insert(cur->id, ID_ADDED);
  cur->dedup = was == ID_KNOWN ? DEDUP_KNOWN : was == ID_ADDED ? DEDUP_DUP : DEDUP_NEW;
  submit_slot();
  used = 0;
  hash = 0;
  cur = acquire_slot();
}

static void submit_event(int kind, const uint8_t *id, uint32_t len) {
  cur->kind = kind;
  cur->len = len;
  if (id) memcpy(cur->id, id, 32);
  submit_slot();
  cur = acquire_slot();
}

static void cut(void) {
  if (used > 0) emit_chunk();
}

/* rolls the gear hash over data[start, end); returns the index after the first cut byte or -1 */
static long scan_for_cut(const uint8_t *data, size_t start, size_t end, uint32_t mask, uint32_t *h) {
  uint32_t x = *h;
  for (size_t i = start; i < end; i++) {
    x = (x << 1) + gear[data[i]];
    if ((x & mask) == 0) {
      *h = x;
      return (long)(i + 1);
    }
  }
  *h = x;
  return -1;
}

static void chunk_data(const uint8_t *data, size_t len) {
  size_t off = 0;
  while (off < len) {
    if (used < size_min) {
      size_t n = size_min - used;
      if (n > len - off) n = len - off;
      memcpy(cur->buf + used, data + off, n);
      used += (uint32_t)n;
      off += n;
      continue;
    }
    size_t start = off;
    size_t end = off + (size_max - used);
    if (end > len) end = len;
    size_t normal_end = off + (size_avg > used ? size_avg - used : 0);
    if (normal_end > end) normal_end = end;
    uint32_t h = hash;
    long c = scan_for_cut(data, start, normal_end, mask_small, &h);
    if (c < 0) c = scan_for_cut(data, normal_end, end, mask_large, &h);
    size_t stop = c < 0 ? end : (size_t)c;
    memcpy(cur->buf + used, data + start, stop - start);
    used += (uint32_t)(stop - start);
    off = stop;
    hash = h;
    if (c >= 0 || used == size_max) emit_chunk();
  }
}

/* what the decoder's records do here (the JS chunk worker does the same with its chunker) */
static void on_data(const uint8_t *bytes, size_t len) {
  chunk_data(bytes, len);
  data_bytes += len;
}
static void on_piece_start(const uint8_t fingerprint[32]) {
  cut();
  submit_event(ITEM_PIECE_START, fingerprint, 0);
}
static void on_piece_end(void) {
  cut();
  submit_event(ITEM_PIECE_END, NULL, 0);
}
static void on_reused(const uint8_t id[32], uint32_t len) {
  reused_bytes += len;
  submit_event(ITEM_REUSED, id, len);
}

/* the last chunk, the walk's summary, then the end line once every pack is written */
static void finish(void) __attribute__((noreturn));
static void finish(void) {
  cut();
  if (walk.root) walk_report();
  cur->kind = ITEM_END;
  submit_slot();
  if (pthread_join(writer_thread, NULL) != 0) fail("cannot join the writer");
  /* the workers wait on the ring for good: leave without joining them */
  _exit(0);
}

/* ---------- setup ---------- */

static uint64_t parse_count(const char *name, const char *v, uint64_t lo, uint64_t hi) {
  char *end;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (errno || *v == 0 || *end != 0 || n < lo || n > hi)
    fail("%s must be an integer in [%llu, %llu], not \"%s\"", name, (unsigned long long)lo,
         (unsigned long long)hi, v);
  return n;
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) fail("usage: %s needs a value", a);
    const char *v = argv[++i];
    if (!strcmp(a, "--input")) opt_input = v;
    else if (!strcmp(a, "--pack-dir")) opt_pack_dir = v;
    else if (!strcmp(a, "--known")) opt_known = v;
    else if (!strcmp(a, "--pack-target")) opt_pack_target = parse_count(a, v, 1, 1ull << 40);
    else if (!strcmp(a, "--level")) opt_level = (int)parse_count(a, v, 1, 19);
    else if (!strcmp(a, "--threads")) opt_threads = (int)parse_count(a, v, 1, 64);
    else if (!strcmp(a, "--max-sealed")) opt_max_sealed = (int)parse_count(a, v, 1, 1024);
    else if (walk_option(&walk, a, v)) continue;
    else if (!strcmp(a, "--dump-stream")) opt_dump = v;
    else if (!strcmp(a, "--sizes")) {
      unsigned a1, a2, a3;
      char extra;
      if (sscanf(v, "%u,%u,%u%c", &a1, &a2, &a3, &extra) != 3 || !(a1 > 0 && a1 <= a2 && a2 <= a3) ||
          a3 > 64u * 1024 * 1024)
        fail("--sizes must be min,average,max with 0 < min <= average <= max <= 64 MiB");
      size_min = a1;
      size_avg = a2;
      size_max = a3;
    } else fail("unknown option %s", a);
  }
  if (walk.root && opt_dump && !opt_input && !opt_pack_dir) return;
  if (!!opt_input == !!walk.root || !opt_pack_dir) fail("usage: wsd-chunker --input FIFO|--walk DIR --pack-dir DIR [--known FILE] [--pack-target BYTES] [--level N] [--threads N] [--max-sealed N] [--sizes MIN,AVG,MAX]");
}

/* the pack directory must be a directory (not a link) of ours that nobody else can enter */
static void open_pack_dir(void) {
  pack_dir_fd = open(opt_pack_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (pack_dir_fd < 0) fail("cannot open pack directory %s: %s", opt_pack_dir, strerror(errno));
  struct stat st;
  if (fstat(pack_dir_fd, &st) != 0) fail("cannot stat %s: %s", opt_pack_dir, strerror(errno));
  if (st.st_uid != geteuid() || (st.st_mode & 077) != 0)
    fail("pack directory %s must be private (owner %u, mode %o)", opt_pack_dir, (unsigned)st.st_uid,
         (unsigned)(st.st_mode & 07777));
}

static void walk_progress(uint64_t entries, uint64_t bytes, uint64_t planned) {
  report("walking %llu %llu %llu\n", (unsigned long long)entries, (unsigned long long)bytes,
         (unsigned long long)planned);
  flush_report();
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  if (opt_dump) {
    /* test only: the stream the walk makes, framed, into a file; nothing is chunked */
    dump_walk(&walk, opt_dump);
    walk_report();
    return 0;
  }
  sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
  if (!sha256_md) fail("OpenSSL has no sha256");
  init_gear();
  ids_init();
  if (opt_known) read_known(opt_known);
  open_pack_dir();
  size_t bound = ZSTD_compressBound(size_max);
  for (int i = 0; i < SLOTS; i++) {
    ring[i].buf = xmalloc(size_max);
    ring[i].frame = xmalloc(bound);
    ring[i].frame_cap = bound;
  }
  pthread_t t;
  for (int i = 0; i < opt_threads; i++)
    if (pthread_create(&t, NULL, compress_worker, NULL) != 0) fail("cannot start a thread");
  if (pthread_create(&writer_thread, NULL, writer, NULL) != 0) fail("cannot start a thread");

  const struct stream_handler stream = {
      .data = on_data,
      .cut = cut,
      .piece_start = on_piece_start,
      .piece_end = on_piece_end,
      .reused = on_reused,
      .max_chunk = size_max,
  };
  if (walk.root) {
    cur = acquire_slot();
    walk.progress = walk_progress;
    walk_tree(&walk, &stream);
    finish();
  }
  int in = open(opt_input, O_RDONLY | O_CLOEXEC);
  if (in < 0) fail("cannot open %s: %s", opt_input, strerror(errno));
  /* a FIFO's default 64 KiB makes the walk and this program take turns every 64 KiB; 1 MiB (the
     unprivileged maximum) lets them run side by side. Not a pipe, or refused: read it as it is. */
  (void)fcntl(in, F_SETPIPE_SZ, 1 << 20);
  cur = acquire_slot();
  uint8_t *buf = xmalloc(READ_BYTES);
  for (;;) {
    ssize_t n = read(in, buf, READ_BYTES);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot read %s: %s", opt_input, strerror(errno));
    }
    if (n == 0) break;
    stream_decode(&stream, buf, (size_t)n);
  }
  stream_end();
  finish();
}
