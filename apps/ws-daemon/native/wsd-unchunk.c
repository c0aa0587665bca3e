/*
 * wsd-unchunk: rebuilds the tar stream of a chunked backup from its chunks, verifying each one.
 *
 * stdin: records, one per chunk of the tar stream, in stream order. Each is a 48-byte header
 *   u32 kind          1 = the payload is one chunk's zstd frame(s), 2 = the payload is the raw chunk,
 *                     3 = the payload (16 bytes) names where the frame(s) lie in an open pack file:
 *                         u32 descriptor (3 .. 3 + FILES - 1), u32 frame bytes, u64 offset
 *   u32 payload bytes
 *   u32 raw bytes     what the chunk must decompress to
 *   u32 reserved      0
 *   u8[32] sha256     the chunk's id
 * (integers little-endian) followed by the payload. End of input at a record boundary ends the
 * stream.
 * stdout: the chunks' raw bytes, each written only after its length and sha256 matched, so no byte
 * of a forged or damaged chunk ever reaches the reader (the daemon's extract worker).
 *
 * --files FILES: descriptors 3 .. 3 + FILES - 1 are pack files the daemon opened (through its
 * object store, which checked that each lies inside the store) for kind-3 records: the frames are
 * read here with pread, so they pass through no other process. A frame that runs past the end of
 * its file is corrupt.
 *
 * Exit 0 after the last record; 3 and one line on stderr for a chunk that is corrupt (undecodable,
 * wrong length, wrong hash, oversized, truncated record); 5 when the reader went away (EPIPE: the
 * extractor stopped, for its own reason); 4 when reading or writing failed otherwise; 2 for bad
 * usage.
 *
 * Why a program and not `zstd -d` plus hashing in Node: Node 20 has no zstd, and moving every
 * decompressed byte through the event loop to hash and forward it cost more than extracting it.
 * Here the raw bytes go from this process into the extractor's FIFO and nowhere else.
 *
 * Two threads: this one reads, decompresses and verifies; a writer thread writes verified chunks
 * into stdout, up to SLOTS of them queued. With one thread the extractor starved while the next
 * chunk was decompressed and hashed (the pipe holds 1 MiB, a chunk up to 4 MiB), so the two
 * stages took turns instead of overlapping. Only verified chunks are ever queued.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#define HEADER_BYTES 48
#define KIND_FRAME 1
#define KIND_RAW 2
#define KIND_FILE 3
#define FILE_RECORD_BYTES 16
#define EXIT_USAGE 2
#define EXIT_CORRUPT 3
#define EXIT_IO 4
#define EXIT_READER_GONE 5
/* The format's largest chunk (src/chunks/content-defined-chunker.ts: max 4 MiB). */
#define DEFAULT_MAX_CHUNK (4u * 1024 * 1024)
/* Room for the extractor to read large pieces at once (capped by /proc/sys/fs/pipe-max-size). */
#define PIPE_BYTES (1 << 20)
/* Verified chunks waiting for the writer (each buffer holds the largest chunk). */
#define SLOTS 4

static unsigned long long chunk_no;
static pthread_mutex_t failing = PTHREAD_MUTEX_INITIALIZER;

/* Either thread may fail: the first one reports and ends the process, the other never returns. */
static void fail_at(unsigned long long chunk, int code, const char *fmt, const char *detail) {
  pthread_mutex_lock(&failing);
  fprintf(stderr, "chunk %llu: ", chunk);
  fprintf(stderr, fmt, detail);
  fputc('\n', stderr);
  _exit(code);
}

static void fail(int code, const char *fmt, const char *detail) {
  fail_at(chunk_no, code, fmt, detail);
}

/* The queue of verified chunks, a ring of SLOTS buffers: [head, head + count) are full. */
static struct {
  pthread_mutex_t lock;
  pthread_cond_t changed;
  uint8_t *buf[SLOTS];
  size_t len[SLOTS];
  unsigned long long chunk[SLOTS];
  unsigned head, count;
  int ended;
} queue = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};

/* Reads exactly n bytes; returns 0 at end of input before the first byte, 1 when all were read. */
static int read_exact(int fd, uint8_t *buf, size_t n, int eof_ok) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      fail(EXIT_IO, "cannot read input: %s", strerror(errno));
    }
    if (r == 0) {
      if (got == 0 && eof_ok) return 0;
      fail(EXIT_CORRUPT, "input ends inside a record%s", "");
    }
    got += (size_t)r;
  }
  return 1;
}

static void write_all(int fd, const uint8_t *buf, size_t n, unsigned long long chunk) {
  while (n > 0) {
    ssize_t w = write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail_at(chunk, errno == EPIPE ? EXIT_READER_GONE : EXIT_IO, "cannot write output: %s",
              strerror(errno));
    }
    buf += w;
    n -= (size_t)w;
  }
}

/* The writer thread: writes the queued chunks in order until the queue ended and is empty. */
static void *write_chunks(void *unused) {
  (void)unused;
  pthread_mutex_lock(&queue.lock);
  for (;;) {
    while (queue.count == 0 && !queue.ended) pthread_cond_wait(&queue.changed, &queue.lock);
    if (queue.count == 0) break;
    unsigned slot = queue.head;
    pthread_mutex_unlock(&queue.lock);
    write_all(1, queue.buf[slot], queue.len[slot], queue.chunk[slot]);
    pthread_mutex_lock(&queue.lock);
    queue.head = (queue.head + 1) % SLOTS;
    queue.count--;
    pthread_cond_broadcast(&queue.changed);
  }
  pthread_mutex_unlock(&queue.lock);
  return NULL;
}

/* The buffer the next chunk is verified in: waits until the writer freed one. */
static uint8_t *free_slot(void) {
  pthread_mutex_lock(&queue.lock);
  while (queue.count == SLOTS) pthread_cond_wait(&queue.changed, &queue.lock);
  uint8_t *buf = queue.buf[(queue.head + queue.count) % SLOTS];
  pthread_mutex_unlock(&queue.lock);
  return buf;
}

/* Hands the verified chunk in the slot free_slot() gave to the writer. */
static void queue_chunk(size_t len) {
  pthread_mutex_lock(&queue.lock);
  unsigned slot = (queue.head + queue.count) % SLOTS;
  queue.len[slot] = len;
  queue.chunk[slot] = chunk_no;
  queue.count++;
  pthread_cond_broadcast(&queue.changed);
  pthread_mutex_unlock(&queue.lock);
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads exactly n bytes at offset of fd; a file that ends first is a corrupt archive. */
static void pread_exact(int fd, uint8_t *buf, size_t n, uint64_t offset) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, buf + got, n - got, (off_t)(offset + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      fail(EXIT_IO, "cannot read pack file: %s", strerror(errno));
    }
    if (r == 0) fail(EXIT_CORRUPT, "pack file ends before the frame%s", "");
    got += (size_t)r;
  }
}

static const char USAGE[] = "usage: wsd-unchunk [--max-chunk BYTES (1..64 MiB)] [--files N]\n";

int main(int argc, char **argv) {
  size_t max_chunk = DEFAULT_MAX_CHUNK;
  unsigned long files = 0;
  for (int a = 1; a < argc; a += 2) {
    char *end = NULL;
    unsigned long v = a + 1 < argc ? strtoul(argv[a + 1], &end, 10) : 0;
    int valid = end && *end == '\0' && argv[a + 1][0] != '\0';
    if (strcmp(argv[a], "--max-chunk") == 0 && valid && v > 0 && v <= (64ul << 20)) {
      max_chunk = v;
    } else if (strcmp(argv[a], "--files") == 0 && valid && v <= 65536) {
      files = v;
    } else {
      fputs(USAGE, stderr);
      return EXIT_USAGE;
    }
  }
  /* a reader that went away is a write error (exit 5), not a silent death by signal */
  signal(SIGPIPE, SIG_IGN);
  /* best effort: pipes only, and the system may cap the size */
  (void)fcntl(0, F_SETPIPE_SZ, PIPE_BYTES);
  (void)fcntl(1, F_SETPIPE_SZ, PIPE_BYTES);

  size_t max_payload = ZSTD_compressBound(max_chunk);
  uint8_t *payload = malloc(max_payload);
  ZSTD_DCtx *dctx = ZSTD_createDCtx();
  EVP_MD *sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (!payload || !dctx || !sha256 || !md) fail(EXIT_IO, "out of memory%s", "");
  for (unsigned i = 0; i < SLOTS; i++) {
    queue.buf[i] = malloc(max_chunk);
    if (!queue.buf[i]) fail(EXIT_IO, "out of memory%s", "");
  }
  pthread_t writer;
  if (pthread_create(&writer, NULL, write_chunks, NULL) != 0)
    fail(EXIT_IO, "cannot start the writer thread%s", "");

  uint8_t header[HEADER_BYTES];
  for (;; chunk_no++) {
    if (!read_exact(0, header, HEADER_BYTES, 1)) break;
    uint32_t kind = le32(header), payload_len = le32(header + 4), raw_len = le32(header + 8);
    if (le32(header + 12) != 0 || kind < KIND_FRAME || kind > KIND_FILE)
      fail(EXIT_CORRUPT, "bad record header%s", "");
    if (raw_len == 0 || raw_len > max_chunk)
      fail(EXIT_CORRUPT, "chunk length out of range%s", "");
    if (payload_len > max_payload || (kind == KIND_RAW && payload_len != raw_len) ||
        (kind == KIND_FILE && payload_len != FILE_RECORD_BYTES))
      fail(EXIT_CORRUPT, "payload length out of range%s", "");
    uint8_t *raw = free_slot();
    /* a raw chunk is read straight into its slot; a frame is decompressed into it */
    read_exact(0, kind == KIND_RAW ? raw : payload, payload_len, 0);
    if (kind == KIND_FILE) {
      uint32_t fd = le32(payload), frame_len = le32(payload + 4);
      uint64_t offset = (uint64_t)le32(payload + 8) | (uint64_t)le32(payload + 12) << 32;
      if (fd < 3 || fd - 3 >= files) fail(EXIT_CORRUPT, "record names no pack file%s", "");
      if (frame_len == 0 || frame_len > max_payload || offset > (uint64_t)INT64_MAX - frame_len)
        fail(EXIT_CORRUPT, "frame length out of range%s", "");
      pread_exact((int)fd, payload, frame_len, offset);
      payload_len = frame_len;
    }

    const uint8_t *chunk = raw;
    if (kind != KIND_RAW) {
      /* the output buffer holds exactly the declared length: a frame that decompresses to more
       * fails here without writing past it, one that decompresses to less fails the check below */
      size_t n = ZSTD_decompressDCtx(dctx, raw, raw_len, payload, payload_len);
      if (ZSTD_isError(n)) fail(EXIT_CORRUPT, "frame does not decompress: %s", ZSTD_getErrorName(n));
      if (n != raw_len) fail(EXIT_CORRUPT, "frame decompresses to less than its index says%s", "");
    }
    uint8_t digest[32];
    unsigned int digest_len = 0;
    if (!EVP_DigestInit_ex(md, sha256, NULL) || !EVP_DigestUpdate(md, chunk, raw_len) ||
        !EVP_DigestFinal_ex(md, digest, &digest_len) || digest_len != 32)
      fail(EXIT_IO, "sha256 failed%s", "");
    if (memcmp(digest, header + 16, 32) != 0) fail(EXIT_CORRUPT, "does not match its hash%s", "");
    queue_chunk(raw_len);
  }
  pthread_mutex_lock(&queue.lock);
  queue.ended = 1;
  pthread_cond_broadcast(&queue.changed);
  pthread_mutex_unlock(&queue.lock);
  pthread_join(writer, NULL);
  if (close(1) != 0) fail(EXIT_IO, "cannot close output: %s", strerror(errno));
  return 0;
}
