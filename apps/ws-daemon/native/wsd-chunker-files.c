/*
 * wsd-chunker --walk: what the walk remembers and probes per file: the first name of every inode
 * with more than one link (later names become hard links to it, as in tar-writer.ts), and the
 * data segments of a file with holes (SEEK_DATA/SEEK_HOLE, as data-segments.ts's probe).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wsd-chunker.h"

#define MAX_SPARSE_SEGMENTS 65536

struct inode_name {
  dev_t dev;
  ino_t ino;
  char *rel;
};
static struct inode_name *inodes;
static size_t inodes_cap, inodes_used;

static struct inode_name *inode_slot(dev_t dev, ino_t ino) {
  size_t i = ((size_t)ino * 0x9e3779b97f4a7c15ull ^ (size_t)dev) & (inodes_cap - 1);
  while (inodes[i].rel && !(inodes[i].dev == dev && inodes[i].ino == ino)) i = (i + 1) & (inodes_cap - 1);
  return &inodes[i];
}

void remember_inode(const struct stat *st, const char *rel) {
  if ((inodes_used + 1) * 2 > inodes_cap) {
    struct inode_name *old = inodes;
    size_t old_cap = inodes_cap;
    inodes_cap = old_cap ? old_cap * 2 : 256;
    inodes = calloc(inodes_cap, sizeof *inodes);
    if (!inodes) fail("out of memory for hard links");
    for (size_t i = 0; i < old_cap; i++)
      if (old[i].rel) *inode_slot(old[i].dev, old[i].ino) = old[i];
    free(old);
  }
  struct inode_name *s = inode_slot(st->st_dev, st->st_ino);
  if (s->rel) return;
  s->dev = st->st_dev;
  s->ino = st->st_ino;
  s->rel = strdup(rel);
  if (!s->rel) fail("out of memory");
  inodes_used++;
}

int data_segments(int fd, uint64_t size, struct segment **segs, size_t *count) {
  uint64_t p = 0, end = 0;
  size_t n = 0, cap = 16;
  struct segment *s = malloc(cap * sizeof *s);
  if (!s) fail("out of memory");
  while (p < size) {
    off_t d = lseek(fd, (off_t)p, SEEK_DATA);
    if (d < 0) {
      if (errno == ENXIO) break;
      free(s);
      return 0;
    }
    if ((uint64_t)d >= size) break;
    off_t hole = n + 1 >= MAX_SPARSE_SEGMENTS ? (off_t)size : lseek(fd, d, SEEK_HOLE);
    if (hole < 0) {
      free(s);
      return 0;
    }
    if ((uint64_t)hole > size) hole = (off_t)size;
    if ((uint64_t)d < end || hole <= d) {
      free(s);
      return 0;
    }
    if (n == cap) {
      cap *= 2;
      struct segment *t = realloc(s, cap * sizeof *s);
      if (!t) fail("out of memory");
      s = t;
    }
    s[n].offset = (uint64_t)d;
    s[n].size = (uint64_t)(hole - d);
    n++;
    end = p = (uint64_t)hole;
  }
  *segs = s;
  *count = n;
  return 1;
}


const char *first_name_of(const struct stat *st) {
  if (!inodes) return NULL;
  return inode_slot(st->st_dev, st->st_ino)->rel;
}
