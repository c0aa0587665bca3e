/* wsd-chunker: the set of chunk ids, an open-addressing hash table (only the main thread uses it). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wsd-chunker.h"

struct id_entry {
  uint8_t id[32];
  uint8_t state;
};
static struct id_entry *ids;
static size_t ids_cap, ids_used;

static uint64_t id_hash(const uint8_t id[32]) {
  uint64_t h;
  memcpy(&h, id, 8); /* sha256 bytes are uniform already */
  return h;
}

static struct id_entry *id_slot(const uint8_t id[32]) {
  size_t i = id_hash(id) & (ids_cap - 1);
  while (ids[i].state != ID_EMPTY && memcmp(ids[i].id, id, 32) != 0) i = (i + 1) & (ids_cap - 1);
  return &ids[i];
}

static void ids_grow(void) {
  struct id_entry *old = ids;
  size_t old_cap = ids_cap;
  ids_cap = old_cap ? old_cap * 2 : 1024;
  ids = calloc(ids_cap, sizeof *ids);
  if (!ids) fail("out of memory for %zu chunk ids", ids_cap);
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].state != ID_EMPTY) *id_slot(old[i].id) = old[i];
  free(old);
}

/* returns the previous state and records `state` when the id was absent */
int id_insert(const uint8_t id[32], int state) {
  if ((ids_used + 1) * 2 > ids_cap) ids_grow();
  struct id_entry *e = id_slot(id);
  if (e->state != ID_EMPTY) return e->state;
  memcpy(e->id, id, 32);
  e->state = (uint8_t)state;
  ids_used++;
  return ID_EMPTY;
}

void read_known(const char *path) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) fail("cannot open known ids %s: %s", path, strerror(errno));
  uint8_t buf[32 * 1024];
  size_t have = 0;
  for (;;) {
    ssize_t n = read(fd, buf + have, sizeof buf - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot read known ids %s: %s", path, strerror(errno));
    }
    if (n == 0) break;
    have += (size_t)n;
    size_t whole = have - have % 32;
    for (size_t at = 0; at < whole; at += 32) id_insert(buf + at, ID_KNOWN);
    memmove(buf, buf + whole, have - whole);
    have -= whole;
  }
  if (have != 0) fail("known ids %s: length is not a multiple of 32", path);
  close(fd);
}

void ids_init(void) { ids_grow(); }
