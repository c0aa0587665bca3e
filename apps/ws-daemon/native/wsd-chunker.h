/* Shared by the parts of wsd-chunker (see wsd-chunker.c). */
#ifndef WSD_CHUNKER_H
#define WSD_CHUNKER_H
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* Ends the program with exit 1 and one "wsd-chunker: ..." line on stderr. */
void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* The set of chunk ids (wsd-chunker-ids.c): known (stored) or added (new in this stream). */
enum { ID_EMPTY = 0, ID_KNOWN = 1, ID_ADDED = 2 };
void ids_init(void);
/* returns the previous state (ID_EMPTY if absent) and records `state` when the id was absent */
int id_insert(const uint8_t id[32], int state);
/* adds the 32-byte ids of a file as known */
void read_known(const char *path);

/* The framed chunk stream decoder (wsd-chunker-stream.c), a mirror of ChunkStreamDecoder. */
struct stream_handler {
  void (*data)(const uint8_t *bytes, size_t len);
  void (*cut)(void);
  void (*piece_start)(const uint8_t fingerprint[32]);
  void (*piece_end)(void);
  void (*reused)(const uint8_t id[32], uint32_t len);
  /* a reused chunk longer than this is malformed */
  uint32_t max_chunk;
};
void stream_decode(const struct stream_handler *h, const uint8_t *buf, size_t len);
/* the input ended: a record cut short or a piece left open is malformed */
void stream_end(void);

/* A growing byte buffer (wsd-chunker-tar.c). */
struct buf {
  uint8_t *p;
  size_t len, cap;
};
void buf_put(struct buf *b, const void *data, size_t n);
void buf_str(struct buf *b, const char *s);
void buf_zeros(struct buf *b, size_t n);

/* Tar headers and names as the JavaScript walk writes them (wsd-chunker-tar.c, tar-header.ts). */
struct tar_entry {
  const uint8_t *name; /* "./" for the root, "dir/" for a directory */
  size_t name_len;
  char typeflag; /* '0' file, '1' hard link, '2' symlink, '5' directory */
  uint32_t mode;
  uint64_t uid, gid;
  uint64_t size; /* bytes after the header (a sparse file: its map and data) */
  int64_t mtime_sec;
  uint32_t mtime_nsec;
  const uint8_t *link; /* NULL: none */
  size_t link_len;
  int sparse;
  uint64_t real_size;
};
struct segment {
  uint64_t offset, size;
};
void encode_entry_header(const struct tar_entry *h, struct buf *out);
void encode_sparse_map(const struct segment *s, size_t n, uint64_t real_size, struct buf *out);
void utf8_sanitize(const uint8_t *s, size_t n, struct buf *out);
int utf8_valid(const uint8_t *s, size_t n);
int utf16_compare(const char *a, const char *b);
uint32_t fnv1a_utf16(const char *s, size_t n);

/* The native walk (wsd-chunker-walk.c): the tar stream of a tree, as tar-writer.ts makes it. */
struct walk_options {
  const char *root;
  int64_t id_shift;
  uint64_t max_entry_bytes, max_total_bytes, max_entries, max_path_bytes;
  int pieces; /* mark pieces (file-pieces.ts) */
  uint64_t piece_min;
  int settled; /* files changed at or after settled_before_ns get no fingerprint */
  int64_t settled_before_ns;
  const char *reusable; /* file of reusable pieces, or NULL */
  const char *hook; /* test only: "REQ,ACK" FIFOs told of every directory listed */
  void (*progress)(uint64_t entries, uint64_t bytes, uint64_t planned);
};
/* An entry the walk looked up, ready to be written (tar-writer.ts's Ready). */
struct ready {
  char *rel;
  size_t rel_len;
  struct stat st;
  struct buf header;
  int fd; /* a regular file's descriptor, or -1 */
  int sparse;
  struct segment *segs;
  size_t nsegs;
  struct buf map;
  uint64_t data_bytes;
  uint64_t stored; /* content bytes after the header, before padding */
};

/* wsd-chunker-files.c: hard links and holes */
void remember_inode(const struct stat *st, const char *rel);
/* the name an inode was first archived under, or NULL */
const char *first_name_of(const struct stat *st);
/* the data segments of a file with holes (data-segments.ts's probe); 0: cannot tell */
int data_segments(int fd, uint64_t size, struct segment **segs, size_t *count);

/* The skip cache's pieces (wsd-chunker-pieces.c, file-pieces.ts). */
struct reused_chunk {
  uint8_t id[32];
  uint32_t len;
};
struct piece_plan {
  uint8_t fingerprint[32];
  const struct reused_chunk *reuse; /* NULL: read it */
  uint32_t reuse_count;
};
void pieces_init(const struct walk_options *o);
/* 1 with `out` filled when the open file may be a piece (see PiecePlanner.plan) */
int plan_file(const struct ready *r, struct piece_plan *out);
int plan_run(struct ready *const *run, size_t n, uint64_t lead, uint64_t tar_bytes, struct piece_plan *out);
int ends_run(const struct ready *r, size_t entries, uint64_t tar_bytes);

/* wsd-chunker-walk.c: the entries */
void walk_begin(const struct walk_options *o, const struct stream_handler *h);
/* one listed entry: `name` relative to `dirfd`, `st` its lstat at listing time */
void walk_visit(int dirfd, const char *name, const char *rel, size_t rel_len, const struct stat *st);
/* the last run and the end-of-archive blocks */
void walk_finish(void);
/* a warning for the walk's summary: what + rel + after */
void walk_warn(const char *what, const char *rel, size_t rel_len, const char *after);
/* prints the walk's warnings and its summary ("walked ...") as report lines */
void walk_report(void);
/* ends the program with one "wsd-chunker: refused KIND HEXREL DETAIL" line on stderr */
void refuse(const char *kind, const char *rel, size_t rel_len, const char *detail) __attribute__((noreturn));
/* wsd-chunker-tree.c: takes one of the walk's options (1) or not (0) */
int walk_option(struct walk_options *w, const char *a, const char *v);
/* wsd-chunker-tree.c: walks the whole tree into `h` (ends the program on a refusal or an error) */
void walk_tree(const struct walk_options *o, const struct stream_handler *h);

/* wsd-chunker-dump.c (tests only): the walk's stream, framed, into a file */
void dump_walk(struct walk_options *w, const char *path);

#endif
