/*
 * wsd-chunker --walk: the tree walk and tar framing of src/archive/tree-walk.ts and tar-writer.ts
 * in C, so file bodies go from the page cache straight into the chunker and never through
 * JavaScript. Same stream byte for byte (test/chunks/native-walk-differential.int.test.ts), same
 * rules:
 *  - every directory is opened with O_DIRECTORY|O_NOFOLLOW relative to its parent's descriptor
 *    and must be the inode the listing saw (else: refused, "tree-changed"); every child is looked
 *    up relative to its parent's descriptor, files opened O_NOFOLLOW|O_NONBLOCK: a swap for a
 *    symlink is never followed, a swap for a FIFO never blocks;
 *  - names sorted as JavaScript sorts them; a name that is not valid UTF-8 fails the walk (the
 *    JavaScript walk cannot look such a name up either);
 *  - the archive limits counted the same way and in the same order (LimitBudget), id shift,
 *    hard links, sparse files (SEEK_DATA/SEEK_HOLE), files that shrink (zeros, a warning) or grow
 *    (the listed size only), sockets/fifos/devices skipped with a warning;
 *  - the skip cache's pieces and runs (wsd-chunker-pieces.c).
 * Refusals go to stderr as one line "wsd-chunker: refused limit|tree-changed ..." (exit 1), which
 * the daemon turns into the same errors the JavaScript walk throws.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wsd-chunker.h"

#define BLOCK 512
#define OVERFLOW_ID 65534
#define READ_CAP (1024 * 1024)
#define PROGRESS_BYTES (1024 * 1024)
#define PROBE_MIN_BYTES 4096
#define RUN_CAP 257

static const struct walk_options *o;
static const struct stream_handler *h;
static uint64_t s_entries, s_bytes, s_planned, s_read, s_skipped, progress_at;
static uint64_t budget_entries, budget_content;
static struct buf warnings; /* hex lines */
static uint8_t *rbuf;

static uint64_t pad(uint64_t n) { return (BLOCK - n % BLOCK) % BLOCK; }

static void hex_into(struct buf *b, const void *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    char two[2] = {digits[((const uint8_t *)p)[i] >> 4], digits[((const uint8_t *)p)[i] & 15]};
    buf_put(b, two, 2);
  }
}

void walk_warn(const char *what, const char *rel, size_t rel_len, const char *after) {
  struct buf text = {0};
  buf_str(&text, what);
  buf_put(&text, rel, rel_len);
  buf_str(&text, after);
  buf_str(&warnings, "warning ");
  hex_into(&warnings, text.p, text.len);
  buf_str(&warnings, "\n");
  free(text.p);
}

/* a refusal the daemon turns into a typed error; no length limit (paths reach 3 KiB) */
void refuse(const char *kind, const char *rel, size_t rel_len, const char *detail) {
  struct buf line = {0};
  buf_str(&line, "wsd-chunker: refused ");
  buf_str(&line, kind);
  buf_str(&line, " ");
  hex_into(&line, rel, rel_len);
  buf_str(&line, " ");
  buf_str(&line, detail);
  buf_str(&line, "\n");
  size_t off = 0;
  while (off < line.len) {
    ssize_t n = write(2, line.p + off, line.len - off);
    if (n <= 0) break;
    off += (size_t)n;
  }
  _exit(1);
}

static void fail_at(const char *what, const char *rel) __attribute__((noreturn));
static void fail_at(const char *what, const char *rel) {
  int e = errno;
  fail("cannot %s %.300s: %s", what, rel[0] ? rel : ".", strerror(e));
}

static void out_data(const uint8_t *p, size_t n) {
  if (n == 0) return;
  h->data(p, n);
  s_bytes += n;
}

static void out_zeros(uint64_t n) {
  static const uint8_t zero[64 * 1024];
  while (n > 0) {
    size_t k = n < sizeof zero ? (size_t)n : sizeof zero;
    out_data(zero, k);
    n -= k;
  }
}

static void maybe_progress(void) {
  if (s_bytes - progress_at < PROGRESS_BYTES || !o->progress) return;
  progress_at = s_bytes;
  o->progress(s_entries, s_bytes, s_planned);
}

/* ---------- limits (LimitBudget) ---------- */

static void check_entry(const struct ready *r) {
  char why[160];
  if (++budget_entries > o->max_entries) {
    snprintf(why, sizeof why, "maxEntries more than %llu entries", (unsigned long long)o->max_entries);
    refuse("limit", r->rel, r->rel_len, why);
  }
  if (r->rel_len > o->max_path_bytes) {
    snprintf(why, sizeof why, "maxPathBytes a path of %zu bytes exceeds the limit of %llu", r->rel_len,
             (unsigned long long)o->max_path_bytes);
    refuse("limit", r->rel, r->rel_len, why);
  }
}

static void check_file(const struct ready *r, uint64_t size, uint64_t stored) {
  char why[160];
  if (size > o->max_entry_bytes) {
    snprintf(why, sizeof why, "maxEntryBytes %llu bytes exceeds the entry limit of %llu",
             (unsigned long long)size, (unsigned long long)o->max_entry_bytes);
    refuse("limit", r->rel, r->rel_len, why);
  }
  if (budget_content + stored > o->max_total_bytes) {
    snprintf(why, sizeof why, "maxTotalBytes archive content exceeds the limit of %llu bytes",
             (unsigned long long)o->max_total_bytes);
    refuse("limit", r->rel, r->rel_len, why);
  }
  budget_content += stored;
}

/* ---------- entries ---------- */

static uint64_t map_id(uint64_t id) {
  int64_t v = (int64_t)id - o->id_shift;
  return v < 0 ? OVERFLOW_ID : (uint64_t)v;
}

/* headerOf(): counts the entry and encodes its header; `size` content bytes follow it */
static void header_of(struct ready *r, char type, uint64_t size, int sparse, const uint8_t *link, size_t link_len) {
  check_entry(r);
  struct buf name = {0};
  if (r->rel_len == 0) buf_str(&name, "./");
  else buf_put(&name, r->rel, r->rel_len);
  if (r->rel_len > 0 && type == '5') buf_str(&name, "/");
  struct tar_entry e = {
      .name = name.p,
      .name_len = name.len,
      .typeflag = type,
      .mode = r->st.st_mode,
      .uid = map_id(r->st.st_uid),
      .gid = map_id(r->st.st_gid),
      .size = size,
      .mtime_sec = r->st.st_mtim.tv_sec,
      .mtime_nsec = (uint32_t)r->st.st_mtim.tv_nsec,
      .link = link,
      .link_len = link_len,
      .sparse = sparse,
      .real_size = (uint64_t)r->st.st_size,
  };
  encode_entry_header(&e, &r->header);
  free(name.p);
  s_planned += r->header.len + size + pad(size);
}

static void sparse_layout(struct ready *r) {
  if (!data_segments(r->fd, (uint64_t)r->st.st_size, &r->segs, &r->nsegs)) {
    walk_warn("cannot find the holes of ", r->rel, r->rel_len, ": archived with its holes as zeros");
    return;
  }
  uint64_t data = 0;
  for (size_t i = 0; i < r->nsegs; i++) data += r->segs[i].size;
  if (data == (uint64_t)r->st.st_size) return;
  r->sparse = 1;
  r->data_bytes = data;
  encode_sparse_map(r->segs, r->nsegs, (uint64_t)r->st.st_size, &r->map);
}

static const char *describe_type(mode_t m) {
  if (S_ISSOCK(m)) return "socket";
  if (S_ISFIFO(m)) return "fifo";
  if (S_ISCHR(m)) return "character device";
  if (S_ISBLK(m)) return "block device";
  return "unknown file type";
}

static void free_ready(struct ready *r) {
  if (r->fd >= 0) close(r->fd);
  free(r->rel);
  free(r->header.p);
  free(r->segs);
  free(r->map.p);
  free(r);
}

/* prepare(): the entry's header and, for a file, its open descriptor; NULL when skipped */
static struct ready *prepare(int dirfd, const char *name, const char *rel, size_t rel_len, const struct stat *st) {
  struct ready *r = calloc(1, sizeof *r);
  if (!r) fail("out of memory");
  r->rel = strndup(rel, rel_len);
  if (!r->rel) fail("out of memory");
  r->rel_len = rel_len;
  r->st = *st;
  r->fd = -1;
  if (S_ISDIR(st->st_mode)) {
    header_of(r, '5', 0, 0, NULL, 0);
    return r;
  }
  if (S_ISLNK(st->st_mode)) {
    char target[4097];
    ssize_t n = readlinkat(dirfd, name, target, sizeof target);
    if (n < 0 && (errno == ENOENT || errno == EINVAL)) {
      walk_warn("symlink vanished or was replaced while archiving: ", rel, rel_len, "");
      free_ready(r);
      return NULL;
    }
    if (n < 0) fail_at("read the link", rel);
    if ((size_t)n >= sizeof target) fail("the link %.300s is longer than 4096 bytes", rel);
    struct buf link = {0};
    utf8_sanitize((const uint8_t *)target, (size_t)n, &link);
    header_of(r, '2', 0, 0, link.p, link.len);
    free(link.p);
    return r;
  }
  if (!S_ISREG(st->st_mode)) {
    char what[64];
    snprintf(what, sizeof what, "skipped %s ", describe_type(st->st_mode));
    walk_warn(what, rel, rel_len, "");
    free_ready(r);
    return NULL;
  }
  const char *first = st->st_nlink > 1 ? first_name_of(st) : NULL;
  if (first) {
    header_of(r, '1', 0, 0, (const uint8_t *)first, strlen(first));
    return r;
  }
  r->fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (r->fd < 0) {
    if (errno != ENOENT && errno != ELOOP && errno != ENXIO) fail_at("open", rel);
    walk_warn("file vanished or was replaced while archiving: ", rel, rel_len, "");
    free_ready(r);
    return NULL;
  }
  uint64_t size = (uint64_t)st->st_size;
  if (size > PROBE_MIN_BYTES && (uint64_t)st->st_blocks * 512 < size) sparse_layout(r);
  check_file(r, size, r->sparse ? r->data_bytes : size);
  if (st->st_nlink > 1) remember_inode(&r->st, r->rel);
  r->stored = r->sparse ? r->map.len + r->data_bytes : size;
  header_of(r, '0', r->stored, r->sparse, NULL, 0);
  return r;
}

/* copy(): `count` bytes from `pos`; returns how many the file could not give (it ended, or is
   no longer a regular file) */
static uint64_t copy_body(const struct ready *r, uint64_t pos, uint64_t count) {
  while (count > 0) {
    size_t want = count < READ_CAP ? (size_t)count : READ_CAP;
    ssize_t got = pread(r->fd, rbuf, want, (off_t)pos);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EISDIR && errno != ESPIPE) fail_at("read", r->rel);
      got = 0;
    }
    if (got == 0) return count;
    s_read += (uint64_t)got;
    out_data(rbuf, (size_t)got);
    maybe_progress();
    count -= (uint64_t)got;
    pos += (uint64_t)got;
  }
  return 0;
}

static void file_body(const struct ready *r) {
  uint64_t missing = 0;
  if (r->sparse) {
    out_data(r->map.p, r->map.len);
    for (size_t i = 0; i < r->nsegs; i++)
      missing += missing > 0 ? r->segs[i].size : copy_body(r, r->segs[i].offset, r->segs[i].size);
  } else {
    missing = copy_body(r, 0, (uint64_t)r->st.st_size);
  }
  if (missing > 0) {
    walk_warn("file shrank while archiving: ", r->rel, r->rel_len, "");
    out_zeros(missing);
  }
}

static void write_entry(const struct ready *r) {
  out_data(r->header.p, r->header.len);
  if (r->fd < 0) return;
  file_body(r);
  out_zeros(pad(r->stored));
}

static uint64_t tar_bytes_of(const struct ready *r) { return r->header.len + r->stored + pad(r->stored); }

/* ---------- pieces: runs of small entries and large bodies ---------- */

static struct ready *run[RUN_CAP];
static size_t run_len;
static uint64_t run_bytes, carry;

static void mark_start(int piece, const struct piece_plan *p) {
  if (piece) h->piece_start(p->fingerprint);
  else h->cut();
}

static void mark_end(int piece) {
  if (piece) h->piece_end();
  else h->cut();
}

static void reuse(const struct piece_plan *p, uint64_t bytes) {
  for (uint32_t i = 0; i < p->reuse_count; i++) h->reused(p->reuse[i].id, p->reuse[i].len);
  s_bytes += bytes;
}

static void end_run(void) {
  uint64_t lead = carry;
  size_t n = run_len;
  run_len = 0;
  run_bytes = 0;
  carry = 0;
  if (n == 0) {
    out_zeros(lead);
    return;
  }
  uint64_t tar_bytes = lead;
  for (size_t i = 0; i < n; i++) tar_bytes += tar_bytes_of(run[i]);
  struct piece_plan p;
  int piece = plan_run(run, n, lead, tar_bytes, &p);
  mark_start(piece, &p);
  if (piece && p.reuse) {
    reuse(&p, tar_bytes);
    for (size_t i = 0; i < n; i++)
      if (run[i]->fd >= 0) s_skipped += run[i]->stored;
  } else {
    out_zeros(lead);
    for (size_t i = 0; i < n; i++) write_entry(run[i]);
  }
  mark_end(piece);
  for (size_t i = 0; i < n; i++) free_ready(run[i]);
}

static void piece_content(const struct ready *r) {
  uint64_t size = (uint64_t)r->st.st_size;
  struct piece_plan p;
  int piece = plan_file(r, &p);
  mark_start(piece, &p);
  if (piece && p.reuse) {
    reuse(&p, size);
    s_skipped += size;
  } else {
    file_body(r);
  }
  mark_end(piece);
  carry = pad(size);
}

/* the body of tarDirectorySync's loop for one listed entry */
void walk_visit(int dirfd, const char *name, const char *rel, size_t rel_len, const struct stat *st) {
  struct ready *r = prepare(dirfd, name, rel, rel_len, st);
  if (!r) return;
  s_entries++;
  int large = o->pieces && r->fd >= 0 && (uint64_t)st->st_size >= o->piece_min;
  if (o->pieces && large && !r->sparse) {
    /* its header closes the run, its body is a piece of its own */
    struct ready *head = calloc(1, sizeof *head);
    if (!head) fail("out of memory");
    *head = *r;
    head->rel = strdup(r->rel);
    if (!head->rel) fail("out of memory");
    head->fd = -1;
    head->segs = NULL;
    head->map = (struct buf){0};
    head->stored = 0;
    r->header = (struct buf){0};
    run[run_len++] = head;
    end_run();
    piece_content(r);
    free_ready(r);
  } else if (o->pieces && !r->sparse && !large) {
    run[run_len++] = r;
    run_bytes += tar_bytes_of(r);
    if (ends_run(r, run_len, run_bytes)) end_run();
  } else {
    if (o->pieces) end_run();
    write_entry(r);
    free_ready(r);
  }
  maybe_progress();
}

void walk_begin(const struct walk_options *options, const struct stream_handler *handler) {
  o = options;
  h = handler;
  rbuf = malloc(READ_CAP);
  if (!rbuf) fail("out of memory");
  pieces_init(o);
}

void walk_finish(void) {
  if (o->pieces) end_run();
  out_zeros(2 * BLOCK);
}

void walk_report(void) {
  if (warnings.len > 0 && fwrite(warnings.p, 1, warnings.len, stdout) != warnings.len)
    fail("cannot write the report: %s", strerror(errno));
  printf("walked %llu %llu %llu %llu %llu\n", (unsigned long long)s_entries, (unsigned long long)s_bytes,
         (unsigned long long)s_planned, (unsigned long long)s_read, (unsigned long long)s_skipped);
  if (fflush(stdout) != 0) fail("cannot write the report: %s", strerror(errno));
}
