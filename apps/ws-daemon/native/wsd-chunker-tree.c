/*
 * wsd-chunker --walk: the traversal of src/archive/tree-walk.ts (depth first, names in
 * JavaScript's sort order, by directory descriptor). A directory is listed (every child lstat'ed
 * through the directory's descriptor) once its own entry was written; each child directory is
 * opened with O_DIRECTORY|O_NOFOLLOW relative to its parent and must be the inode the listing saw.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "wsd-chunker.h"

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

struct child {
  char *name;
  struct stat st;
};

static const struct walk_options *o;
static int hook_req = -1, hook_ack = -1;

static int by_js_order(const void *a, const void *b) {
  return utf16_compare(((const struct child *)a)->name, ((const struct child *)b)->name);
}

/* test only: tells the test which directory was just listed and waits for its go */
static void after_list(const char *rel, size_t rel_len) {
  if (!o->hook) return;
  if (hook_req < 0) {
    char req[4096];
    snprintf(req, sizeof req, "%s", o->hook);
    char *comma = strchr(req, ',');
    if (!comma) fail("--test-after-list needs REQ,ACK");
    *comma = 0;
    hook_req = open(req, O_WRONLY | O_CLOEXEC);
    hook_ack = open(comma + 1, O_RDONLY | O_CLOEXEC);
    if (hook_req < 0 || hook_ack < 0) fail("cannot open the test hook: %s", strerror(errno));
  }
  struct buf line = {0};
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < rel_len; i++) {
    char two[2] = {digits[(uint8_t)rel[i] >> 4], digits[(uint8_t)rel[i] & 15]};
    buf_put(&line, two, 2);
  }
  buf_str(&line, "\n");
  if (write(hook_req, line.p, line.len) != (ssize_t)line.len) fail("test hook: %s", strerror(errno));
  free(line.p);
  char go;
  if (read(hook_ack, &go, 1) != 1) fail("test hook closed");
}

/* the names of `dirfd` (without . and ..), not yet sorted */
static struct child *read_names(int dirfd, const char *rel, size_t *count) {
  size_t n = 0, cap = 32;
  struct child *c = malloc(cap * sizeof *c);
  char *buf = malloc(64 * 1024);
  if (!c || !buf) fail("out of memory");
  for (;;) {
    long got = syscall(SYS_getdents64, dirfd, buf, 64 * 1024);
    if (got < 0) {
      if (errno == EINTR) continue;
      fail("cannot list %.300s: %s", rel[0] ? rel : ".", strerror(errno));
    }
    if (got == 0) break;
    for (long at = 0; at < got;) {
      struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + at);
      at += d->d_reclen;
      if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, "..")) continue;
      if (n == cap) {
        cap *= 2;
        struct child *t = realloc(c, cap * sizeof *c);
        if (!t) fail("out of memory");
        c = t;
      }
      c[n].name = strdup(d->d_name);
      if (!c[n].name) fail("out of memory");
      n++;
    }
  }
  free(buf);
  *count = n;
  return c;
}

static char *child_rel(const char *rel, size_t rel_len, const char *name, size_t *len) {
  size_t name_len = strlen(name);
  *len = rel_len == 0 ? name_len : rel_len + 1 + name_len;
  char *out = malloc(*len + 1);
  if (!out) fail("out of memory");
  if (rel_len == 0) {
    memcpy(out, name, name_len + 1);
  } else {
    memcpy(out, rel, rel_len);
    out[rel_len] = '/';
    memcpy(out + rel_len + 1, name, name_len + 1);
  }
  return out;
}

/* openChildDirectory(): -1 if it vanished; anything but the directory listed is a swap */
static int open_child_dir(int dirfd, const char *name, const char *rel, size_t rel_len, const struct stat *listed) {
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return -1;
    if (errno == ELOOP) refuse("tree-changed", rel, rel_len, "now a symlink");
    if (errno == ENOTDIR) refuse("tree-changed", rel, rel_len, "now not a directory");
    fail("cannot open the directory %.300s: %s", rel, strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) fail("cannot stat %.300s: %s", rel, strerror(errno));
  if (st.st_ino != listed->st_ino || st.st_dev != listed->st_dev) {
    close(fd);
    refuse("tree-changed", rel, rel_len, "now another directory");
  }
  return fd;
}

static void walk_dir(int dirfd, const char *rel, size_t rel_len) {
  size_t n;
  struct child *c = read_names(dirfd, rel, &n);
  for (size_t i = 0; i < n; i++) {
    /* JavaScript cannot look such a name up either: its walk fails on it, and so does this one */
    if (!utf8_valid((const uint8_t *)c[i].name, strlen(c[i].name)))
      fail("a name in %.300s is not valid UTF-8", rel[0] ? rel : ".");
  }
  qsort(c, n, sizeof *c, by_js_order);
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    /* a rename during the listing can show a name twice; an archive must not hold it twice */
    if (kept > 0 && !strcmp(c[kept - 1].name, c[i].name)) {
      free(c[i].name);
      continue;
    }
    c[kept++] = c[i];
  }
  n = kept;
  /* lstat'ed last to first, as the JavaScript walk pushes them on its stack */
  for (size_t i = n; i-- > 0;) {
    if (fstatat(dirfd, c[i].name, &c[i].st, AT_SYMLINK_NOFOLLOW) != 0) {
      size_t len;
      char *r = child_rel(rel, rel_len, c[i].name, &len);
      fail("cannot lstat %.300s: %s", r, strerror(errno));
    }
  }
  after_list(rel, rel_len);
  for (size_t i = 0; i < n; i++) {
    size_t len;
    char *r = child_rel(rel, rel_len, c[i].name, &len);
    if (!S_ISDIR(c[i].st.st_mode)) {
      walk_visit(dirfd, c[i].name, r, len, &c[i].st);
    } else {
      int fd = open_child_dir(dirfd, c[i].name, r, len, &c[i].st);
      if (fd < 0) {
        walk_warn("directory vanished while archiving: ", r, len, "");
      } else {
        walk_visit(dirfd, c[i].name, r, len, &c[i].st);
        walk_dir(fd, r, len);
        close(fd);
      }
    }
    free(r);
    free(c[i].name);
  }
  free(c);
}

void walk_tree(const struct walk_options *options, const struct stream_handler *h) {
  o = options;
  /* one descriptor per directory on the current path plus a run's files: lift the soft limit */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
  }
  walk_begin(o, h);
  int root = open(o->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (root < 0) fail("cannot open %.300s: %s", o->root, strerror(errno));
  struct stat st;
  if (fstat(root, &st) != 0) fail("cannot stat %.300s: %s", o->root, strerror(errno));
  walk_visit(root, ".", "", 0, &st);
  walk_dir(root, "", 0);
  close(root);
  walk_finish();
}

/* the walk's options (native/README.md); 0: not one of them */
int walk_option(struct walk_options *w, const char *a, const char *v) {
  char *end;
  if (!strcmp(a, "--walk")) w->root = v;
  else if (!strcmp(a, "--reusable")) w->reusable = v;
  else if (!strcmp(a, "--test-after-list")) w->hook = v;
  else if (!strcmp(a, "--limits")) {
    unsigned long long e, t, n, p;
    char extra;
    if (sscanf(v, "%llu,%llu,%llu,%llu%c", &e, &t, &n, &p, &extra) != 4)
      fail("--limits must be maxEntryBytes,maxTotalBytes,maxEntries,maxPathBytes");
    w->max_entry_bytes = e;
    w->max_total_bytes = t;
    w->max_entries = n;
    w->max_path_bytes = p;
  } else if (!strcmp(a, "--id-shift") || !strcmp(a, "--pieces") || !strcmp(a, "--settled-before-ns")) {
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *v == 0 || *end != 0 || n > (1ull << 62)) fail("%s must be a non-negative integer, not \"%s\"", a, v);
    if (!strcmp(a, "--id-shift")) w->id_shift = (int64_t)n;
    else if (!strcmp(a, "--pieces")) {
      w->pieces = 1;
      w->piece_min = n;
    } else {
      w->settled = 1;
      w->settled_before_ns = (int64_t)n;
    }
  } else return 0;
  return 1;
}
