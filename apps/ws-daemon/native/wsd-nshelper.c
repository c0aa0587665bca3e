/*
 * wsd-nshelper: the few kernel operations of the in-workspace service that Node cannot do itself
 * (setns, open_tree, move_mount, mount_setattr, mounts inside another process's namespaces).
 *
 * Why a C helper and not util-linux: Debian 12's util-linux 2.38 has no ID-mapped mount option
 * (X-mount.idmap arrived in 2.39), and `nsenter ... mount -t proc` would expose a fresh, unmasked
 * proc at the workspace's target before the masks are applied. This helper builds the masked tree
 * in a private staging mount namespace, then moves the finished tree into the target in one
 * move_mount, so the workspace never sees an unmasked proc/sysfs.
 *
 * Usage: wsd-nshelper <command> <args...>; every command names the target by its HOST pid, or
 * PID@STARTTIME to pin it (see parse_target_pid; exit 4 when the process is not that one);
 * idmap-mount and net-exec name a second process, which may be pinned the same way.
 * On success it prints one JSON line on stdout and exits 0. On failure it prints one JSON line
 * {"error":"<step>","errno":N,"message":"<strerror>"} on stderr and exits 3 (2 for bad usage).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define EXIT_SYSCALL 3
/* The pinned process is not the one the daemon checked (its pid was recycled) or has ended. */
#define EXIT_REPLACED 4

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    if ((unsigned char)*s < 0x20) { fprintf(f, "\\u%04x", *s); continue; }
    fputc(*s, f);
  }
  fputc('"', f);
}

/* The staging dir while it exists in our view, so a failure does not leave it behind in /tmp. */
static const char *g_staging = NULL;

static void fail(const char *step) {
  int e = errno;
  if (g_staging) {
    umount2(g_staging, MNT_DETACH); /* takes the masks along; a no-op if nothing was mounted yet */
    rmdir(g_staging);
  }
  fprintf(stderr, "{\"error\":");
  json_string(stderr, step);
  fprintf(stderr, ",\"errno\":%d,\"message\":", e);
  json_string(stderr, strerror(e));
  fprintf(stderr, "}\n");
  fflush(stderr);
  _exit(EXIT_SYSCALL);
}

static void usage(const char *msg) {
  fprintf(stderr, "{\"error\":\"usage\",\"errno\":%d,\"message\":", EINVAL);
  json_string(stderr, msg);
  fprintf(stderr, "}\n");
  exit(EXIT_USAGE);
}

static pid_t parse_pid(const char *s) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || !end || *end || v <= 1 || v > 4194304) usage("pid must be an integer in [2, 4194304]");
  return (pid_t)v;
}

/*
 * A target written PID@STARTTIME is pinned: STARTTIME is field 22 of /proc/PID/stat as the daemon
 * read it when it checked the process. A pidfd is opened first, then the start time compared:
 * the daemon's check came before the pidfd, so a match means the pidfd holds that very process.
 * Every /proc/PID path opened afterwards is confirmed through the pidfd (the process still lives,
 * so the number still meant it), and a process that died or was replaced fails with
 * EXIT_REPLACED instead of letting a recycled pid's namespaces be entered.
 */
/* At most two pinned processes per command: idmap-mount and net-exec name two. */
#define MAX_PINS 2
struct pin {
  pid_t pid;
  unsigned long long start;
  int pidfd; /* -1 without pidfd_open */
};
static struct pin g_pins[MAX_PINS];
static int g_npins = 0;

static void replaced(pid_t pid, const char *why) {
  fprintf(stderr, "{\"error\":\"pid replaced\",\"errno\":%d,\"message\":\"process %d %s\"}\n", ESRCH,
          (int)pid, why);
  fflush(stderr);
  _exit(EXIT_REPLACED);
}

/* Field 22 (starttime) of /proc/PID/stat, after the command name that may hold ') '. */
static unsigned long long start_time(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return 0;
  p += 2; /* field 3 */
  for (int field = 3; field < 22 && p; field++) {
    p = strchr(p, ' ');
    if (p) p++;
  }
  return p ? strtoull(p, NULL, 10) : 0;
}

/* Fails unless every pin on `pid` is still the process alive under its number. */
static void confirm_pinned(pid_t pid) {
  for (int i = 0; i < g_npins; i++) {
    struct pin *p = &g_pins[i];
    if (p->pid != pid) continue;
    if (p->pidfd >= 0) {
      if (syscall(SYS_pidfd_send_signal, p->pidfd, 0, NULL, 0) < 0) replaced(pid, "has ended");
      continue;
    }
    /* no pidfd_open (kernel < 5.3): the start time again, which cannot tell a recycling in between */
    if (start_time(pid) != p->start) replaced(pid, "was replaced");
  }
}

static pid_t parse_target_pid(const char *s) {
  const char *at = strchr(s, '@');
  if (!at) return parse_pid(s);
  char num[16];
  size_t len = (size_t)(at - s);
  if (len == 0 || len >= sizeof num) usage("pid must be an integer in [2, 4194304]");
  memcpy(num, s, len);
  num[len] = 0;
  pid_t pid = parse_pid(num);
  char *end = NULL;
  errno = 0;
  unsigned long long want = strtoull(at + 1, &end, 10);
  if (errno || !end || *end || at[1] == 0) usage("start time must be an unsigned integer");
  if (g_npins >= MAX_PINS) usage("too many pinned pids");
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0 && errno == ESRCH) replaced(pid, "has ended");
  if (pidfd < 0 && errno != ENOSYS) fail("pidfd_open");
  if (pidfd < 0) fprintf(stderr, "{\"warning\":\"pidfd_open unavailable\"}\n");
  g_pins[g_npins++] = (struct pin){.pid = pid, .start = want, .pidfd = pidfd};
  if (start_time(pid) != want) replaced(pid, "is not the process that was checked (its start time differs)");
  return pid;
}

static int open_ns(pid_t pid, const char *ns) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/%s", pid, ns);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path);
  confirm_pinned(pid);
  return fd;
}

static int open_root(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/root", pid);
  int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(path);
  confirm_pinned(pid);
  return fd;
}

/* Enter the pid's mount namespace and make its root our root, so paths mean what they mean there. */
static void enter_mnt(int mntfd, int rootfd) {
  if (setns(mntfd, CLONE_NEWNS) < 0) fail("setns mnt");
  if (fchdir(rootfd) < 0) fail("fchdir root");
  if (chroot(".") < 0) fail("chroot");
  if (chdir("/") < 0) fail("chdir /");
}

/* Open the target below the process root without following symlinks or leaving the root. */
static int open_target(int rootfd, const char *target) {
  struct open_how how = {
    .flags = O_PATH | O_CLOEXEC,
    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
  };
  const char *rel = target;
  while (*rel == '/') rel++;
  if (!*rel) rel = ".";
  int fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
  if (fd < 0) fail("open target");
  return fd;
}

/* Fork so the child lives in the namespaces joined with setns(CLONE_NEWPID); relay its status. */
static int fork_and_wait(void) {
  pid_t child = fork();
  if (child < 0) fail("fork");
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    return 0;
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) fail("waitpid");
  }
  if (WIFEXITED(status)) exit(WEXITSTATUS(status));
  fprintf(stderr, "{\"error\":\"child killed\",\"errno\":%d,\"message\":\"signal %d\"}\n", EINTR,
          WTERMSIG(status));
  exit(EXIT_SYSCALL);
}

/* A private mount namespace for staging, so nothing we build is ever visible on the host. */
static char *private_staging(char *buf) {
  if (unshare(CLONE_NEWNS) < 0) fail("unshare mnt");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail("make / private");
  if (!mkdtemp(buf)) fail("mkdtemp staging");
  g_staging = buf;
  return buf;
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Hide a path: /dev/null over files, an empty read-only tmpfs over directories; absent is fine. */
static void mask_path(const char *root, const char *rel) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  if (access(path, F_OK) != 0) return;
  if (is_dir(path)) {
    if (mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=0555") < 0)
      fail(path);
    return;
  }
  if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) fail(path);
}

static void readonly_path(const char *root, const char *rel) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  if (access(path, F_OK) != 0) return;
  if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) fail(path);
  if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    fail(path);
}

/* Docker's default masked and read-only sets (moby oci/defaults.go), relative to the mount root. */
static const char *PROC_MASKED[] = {"asound", "acpi", "interrupts", "kcore", "keys", "latency_stats",
                                    "timer_list", "timer_stats", "sched_debug", "scsi", NULL};
static const char *PROC_READONLY[] = {"bus", "fs", "irq", "sys", "sysrq-trigger", NULL};
static const char *SYSFS_MASKED[] = {"firmware", "devices/virtual/powercap", NULL};

/* Clone the finished staging tree, drop the staging mount, enter the target and move it there. */
static void move_into(const char *staging, pid_t pid, int mntfd, int rootfd, const char *target) {
  int tree = open_tree(AT_FDCWD, staging, OPEN_TREE_CLONE | AT_RECURSIVE | OPEN_TREE_CLOEXEC);
  if (tree < 0) fail("open_tree staging");
  if (umount2(staging, MNT_DETACH) < 0) fail("umount staging");
  rmdir(staging);
  g_staging = NULL;
  enter_mnt(mntfd, rootfd);
  int dst = open_target(rootfd, target);
  if (move_mount(tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) fail("move_mount");
  (void)pid;
  printf("{\"ok\":true}\n");
}

static int cmd_mount_pseudo(pid_t pid, const char *target, int sysfs) {
  int mntfd = open_ns(pid, "mnt");
  int rootfd = open_root(pid);
  int nsfd = open_ns(pid, sysfs ? "net" : "pid");
  if (setns(nsfd, sysfs ? CLONE_NEWNET : CLONE_NEWPID) < 0) fail(sysfs ? "setns net" : "setns pid");
  if (!sysfs) fork_and_wait(); /* only the child belongs to the target pid namespace */
  char buf[] = "/tmp/wsd-staging-XXXXXX";
  char *staging = private_staging(buf);
  unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (mount(sysfs ? "sysfs" : "proc", staging, sysfs ? "sysfs" : "proc", flags, NULL) < 0)
    fail(sysfs ? "mount sysfs" : "mount proc");
  for (const char **p = sysfs ? SYSFS_MASKED : PROC_MASKED; *p; p++) mask_path(staging, *p);
  if (!sysfs)
    for (const char **p = PROC_READONLY; *p; p++) readonly_path(staging, *p);
  move_into(staging, pid, mntfd, rootfd, target);
  return 0;
}

static int cmd_mount_nfs(pid_t pid, const char *target, const char *source, const char *fstype, const char *opts) {
  int mntfd = open_ns(pid, "mnt");
  int rootfd = open_root(pid);
  int netfd = open_ns(pid, "net");
  /* the NFS client connects from the workspace's network namespace (its routes, its firewall) */
  if (setns(netfd, CLONE_NEWNET) < 0) fail("setns net");
  char buf[] = "/tmp/wsd-nfs-XXXXXX";
  char *staging = private_staging(buf);
  if (mount(source, staging, fstype, MS_NOSUID | MS_NODEV, opts) < 0) fail("mount nfs");
  move_into(staging, pid, mntfd, rootfd, target);
  return 0;
}

static int cmd_umount(pid_t pid, const char *target) {
  int mntfd = open_ns(pid, "mnt");
  int rootfd = open_root(pid);
  enter_mnt(mntfd, rootfd);
  if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) fail("umount");
  printf("{\"ok\":true}\n");
  return 0;
}

static int cmd_propagation(pid_t pid, const char *target, unsigned long flag) {
  int mntfd = open_ns(pid, "mnt");
  int rootfd = open_root(pid);
  enter_mnt(mntfd, rootfd);
  if (mount(NULL, target, NULL, flag, NULL) < 0) fail(flag == MS_SHARED ? "make shared" : "make private");
  printf("{\"ok\":true}\n");
  return 0;
}

/* A throwaway user namespace with `map` as uid and gid map: it only carries the mapping. */
static int throwaway_userns(pid_t *child_out, const char *map) {
  int pipefd[2];
  if (pipe(pipefd) < 0) fail("pipe");
  pid_t child = fork();
  if (child < 0) fail("fork");
  if (child == 0) {
    char c;
    if (unshare(CLONE_NEWUSER) < 0) _exit(1);
    close(pipefd[1]);
    (void)!read(pipefd[0], &c, 1); /* park until the parent is done with our namespace */
    _exit(0);
  }
  close(pipefd[0]);
  char path[64];
  int mapped = 0;
  /* the kernel refuses an idmap from a user namespace without both a uid and a gid map */
  for (int i = 0; i < 2000 && mapped < 2; i++) {
    snprintf(path, sizeof path, "/proc/%d/%s", child, mapped == 0 ? "uid_map" : "gid_map");
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      ssize_t len = (ssize_t)strlen(map);
      ssize_t n = write(fd, map, (size_t)len);
      close(fd);
      if (n == len) { mapped++; continue; }
    }
    usleep(1000); /* the child has not entered its new user namespace yet */
  }
  snprintf(path, sizeof path, "/proc/%d/ns/user", child);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("open probe userns");
  *child_out = child;
  return fd;
}

static void set_idmap(int tree, int usernsfd, unsigned int flags) {
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (unsigned long long)usernsfd};
  if (mount_setattr(tree, "", AT_EMPTY_PATH | flags, &attr, sizeof attr) < 0) fail("mount_setattr idmap");
}

static int cmd_probe_idmap(pid_t pid, const char *path) {
  int mntfd = open_ns(pid, "mnt");
  int rootfd = open_root(pid);
  pid_t child;
  int usernsfd = throwaway_userns(&child, "0 100000 65536\n");
  enter_mnt(mntfd, rootfd);
  int tree = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0) fail("open_tree");
  set_idmap(tree, usernsfd, 0);
  kill(child, SIGKILL);
  printf("{\"ok\":true,\"idmap\":true}\n");
  return 0;
}

static int cmd_idmap_mount(pid_t pid, pid_t userns_pid, const char *source, const char *target) {
  int mntfd = open_ns(pid, "mnt");
  int rootfd = open_root(pid);
  int usernsfd = open_ns(userns_pid, "user");
  enter_mnt(mntfd, rootfd);
  int tree = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0) fail("open_tree source");
  set_idmap(tree, usernsfd, 0);
  int dst = open_target(rootfd, target);
  if (move_mount(tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) fail("move_mount");
  printf("{\"ok\":true}\n");
  return 0;
}

/* The map text from the command line: "c h s,c h s" -> lines; only digits, spaces and commas. */
static void map_text(const char *arg, char *out, size_t cap) {
  size_t n = strlen(arg);
  if (n == 0 || n + 2 > cap) usage("bad id map");
  for (size_t i = 0; i < n; i++) {
    char c = arg[i];
    if (c == ',') out[i] = '\n';
    else if ((c >= '0' && c <= '9') || c == ' ') out[i] = c;
    else usage("bad id map");
  }
  out[n] = '\n';
  out[n + 1] = 0;
}

/*
 * PrepareForUserNS's mark: the container's root mount (not its submounts), ID-mapped through a
 * user namespace with MAP, at TARGET in the container's mount namespace. Files owned by 0 on disk
 * then belong to the host id MAP gives 0, so a process in a user namespace with the same MAP sees
 * the root filesystem with its own owners. shiftfs: a "mark" mount instead (workspacekit shifts).
 */
static void mkdir_mark(const char *target) {
  /* upstream creates <ServiceLocDaemon>/mark; here the same directory as the container sees it */
  if (mkdir(target, 0755) < 0 && errno != EEXIST) fail("open target");
}

static int cmd_mark(pid_t pid, const char *method, const char *target, const char *maparg) {
  int mntfd = open_ns(pid, "mnt");
  int rootfd = open_root(pid);
  if (!strcmp(method, "shiftfs")) {
    enter_mnt(mntfd, rootfd);
    mkdir_mark(target);
    int dst = open_target(rootfd, target);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", dst);
    if (mount("/", path, "shiftfs", 0, "mark") < 0) fail("mount shiftfs mark");
    printf("{\"ok\":true}\n");
    return 0;
  }
  if (strcmp(method, "idmapped")) usage("method must be idmapped or shiftfs");
  char map[512];
  map_text(maparg, map, sizeof map);
  pid_t child;
  int usernsfd = throwaway_userns(&child, map);
  enter_mnt(mntfd, rootfd);
  int tree = open_tree(AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0) fail("open_tree root");
  set_idmap(tree, usernsfd, 0);
  kill(child, SIGKILL);
  mkdir_mark(target);
  int dst = open_target(rootfd, target);
  if (move_mount(tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) fail("move_mount mark");
  printf("{\"ok\":true}\n");
  return 0;
}

/* A character device node at `path` (relative to the container root) with major:minor. */
static int is_chr(const char *path, unsigned maj, unsigned min) {
  struct stat st;
  return lstat(path, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == maj && minor(st.st_rdev) == min;
}

/* Creates the node unless the right one exists; returns 1 if created. Anything else there fails. */
static int ensure_chr(const char *path, unsigned maj, unsigned min, uid_t uid, gid_t gid) {
  int created = 0;
  if (!is_chr(path, maj, min)) {
    if (mknod(path, S_IFCHR | 0666, makedev(maj, min)) < 0) fail(path);
    created = 1;
  }
  if (fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) fail(path);
  if (!is_chr(path, maj, min)) { errno = EEXIST; fail(path); }
  if (chmod(path, 0666) < 0) fail(path);
  return created;
}

/*
 * upstream's nsinsider prepare-dev, in the container's mount namespace: /dev/net/tun (10:200) and
 * /dev/fuse (10:229), mode 0666, owned by UID:GID. The device cgroup still decides whether the
 * workspace may open them. Reports what it created, so teardown removes only that.
 */
static int cmd_prepare_dev(pid_t pid, const char *uidarg, const char *gidarg) {
  uid_t uid = (uid_t)parse_pid(uidarg);
  gid_t gid = (gid_t)parse_pid(gidarg);
  int mntfd = open_ns(pid, "mnt");
  int rootfd = open_root(pid);
  enter_mnt(mntfd, rootfd);
  /* check everything before creating anything, so a refusal leaves /dev as it was */
  struct stat pre;
  if (lstat("/dev/net/tun", &pre) == 0 && !is_chr("/dev/net/tun", 10, 200)) { errno = EEXIST; fail("/dev/net/tun"); }
  if (lstat("/dev/fuse", &pre) == 0 && !is_chr("/dev/fuse", 10, 229)) { errno = EEXIST; fail("/dev/fuse"); }
  int kmsg = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
  if (kmsg >= 0) { (void)!write(kmsg, "", 0); close(kmsg); }
  int netdir = 0;
  struct stat st;
  if (lstat("/dev/net", &st) < 0) {
    if (mkdir("/dev/net", 0755) < 0) fail("mkdir /dev/net");
    netdir = 1;
  } else if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    fail("/dev/net");
  }
  int tun = ensure_chr("/dev/net/tun", 10, 200, uid, gid);
  int fuse = ensure_chr("/dev/fuse", 10, 229, uid, gid);
  printf("{\"ok\":true,\"netDir\":%s,\"tun\":%s,\"fuse\":%s}\n", netdir ? "true" : "false",
         tun ? "true" : "false", fuse ? "true" : "false");
  return 0;
}

/* Teardown of prepare-dev: removes the named nodes (only character devices) and an empty dir. */
static int cmd_remove_dev(pid_t pid, const char *what) {
  int mntfd = open_ns(pid, "mnt");
  int rootfd = open_root(pid);
  enter_mnt(mntfd, rootfd);
  if (strstr(what, "tun") && is_chr("/dev/net/tun", 10, 200) && unlink("/dev/net/tun") < 0) fail("unlink /dev/net/tun");
  if (strstr(what, "fuse") && is_chr("/dev/fuse", 10, 229) && unlink("/dev/fuse") < 0) fail("unlink /dev/fuse");
  if (strstr(what, "netdir") && rmdir("/dev/net") < 0 && errno != ENOENT && errno != ENOTEMPTY) fail("rmdir /dev/net");
  printf("{\"ok\":true}\n");
  return 0;
}

/* /proc/sys/net resolves against the opener's network namespace, so join it and write. */
static int cmd_sysctl_net(pid_t pid, const char *key, const char *value) {
  if (strstr(key, "..") || key[0] == '/') usage("bad sysctl key");
  int netfd = open_ns(pid, "net");
  if (setns(netfd, CLONE_NEWNET) < 0) fail("setns net");
  char path[512];
  snprintf(path, sizeof path, "/proc/sys/net/%s", key);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail(path);
  size_t len = strlen(value);
  if (write(fd, value, len) != (ssize_t)len) fail("write sysctl");
  close(fd);
  printf("{\"ok\":true}\n");
  return 0;
}

/*
 * Runs `argv` (e.g. ip, nft) in the network namespace of PID, as `nsenter --net` would, but with
 * the namespace opened while PID is pinned. With a PEER pid (not "-"), the peer's network
 * namespace is open as fd PEER_NETNS_FD in the program, so `ip ... netns /proc/self/fd/3` moves an
 * interface into that very namespace instead of resolving a pid number again.
 */
#define PEER_NETNS_FD 3
static int cmd_net_exec(pid_t pid, const char *peerarg, char **argv) {
  int netfd = open_ns(pid, "net");
  int peerfd = -1;
  if (strcmp(peerarg, "-")) peerfd = open_ns(parse_target_pid(peerarg), "net");
  if (setns(netfd, CLONE_NEWNET) < 0) fail("setns net");
  /* every pin is confirmed by now, so fd 3 (perhaps a pidfd) may go; dup2 clears close-on-exec
   * on the copy, so the program inherits exactly this one */
  if (peerfd >= 0 && peerfd != PEER_NETNS_FD && dup2(peerfd, PEER_NETNS_FD) < 0) fail("dup2 peer netns");
  if (peerfd == PEER_NETNS_FD && fcntl(peerfd, F_SETFD, 0) < 0) fail("fcntl peer netns");
  execvp(argv[0], argv);
  fail(argv[0]);
  return EXIT_SYSCALL;
}

/* The credentials of the peer of a connected Unix socket that process `pid` holds as `fd`
 * (SO_PEERCRED: pid in our pid namespace, uid and gid as they were at connect). Node has no API
 * for it; the daemon names its own socket, which we duplicate with pidfd_getfd. The socket's
 * inode is printed too, so the caller can tell that the number still meant its connection. */
static int cmd_peercred(pid_t pid, const char *fdtext) {
  char *end = NULL;
  errno = 0;
  long fdnum = strtol(fdtext, &end, 10);
  if (errno || !end || *end || fdnum < 0 || fdnum > 1048576) usage("fd must be a small integer");
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) fail("pidfd_open");
  int sock = (int)syscall(SYS_pidfd_getfd, pidfd, (int)fdnum, 0);
  if (sock < 0) fail("pidfd_getfd");
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) fail("getsockopt SO_PEERCRED");
  struct stat st;
  if (fstat(sock, &st) < 0) fail("fstat socket");
  printf("{\"pid\":%d,\"uid\":%u,\"gid\":%u,\"ino\":%llu}\n", (int)cred.pid, cred.uid, cred.gid,
         (unsigned long long)st.st_ino);
  return 0;
}

int main(int argc, char **argv) {
  /* we enter namespaces controlled by the workspace: keep its processes out of our memory */
  prctl(PR_SET_DUMPABLE, 0);
  if (argc < 2) usage("missing command");
  const char *cmd = argv[1];
  int n = argc - 2;
  char **a = argv + 2;
  if (!strcmp(cmd, "mount-proc") && n == 2) return cmd_mount_pseudo(parse_target_pid(a[0]), a[1], 0);
  if (!strcmp(cmd, "mount-sysfs") && n == 2) return cmd_mount_pseudo(parse_target_pid(a[0]), a[1], 1);
  if (!strcmp(cmd, "mount-nfs") && n == 5) return cmd_mount_nfs(parse_target_pid(a[0]), a[1], a[2], a[3], a[4]);
  if (!strcmp(cmd, "umount") && n == 2) return cmd_umount(parse_target_pid(a[0]), a[1]);
  if (!strcmp(cmd, "make-shared") && n == 2) return cmd_propagation(parse_target_pid(a[0]), a[1], MS_SHARED);
  if (!strcmp(cmd, "make-private") && n == 2) return cmd_propagation(parse_target_pid(a[0]), a[1], MS_PRIVATE);
  if (!strcmp(cmd, "probe-idmap") && n == 2) return cmd_probe_idmap(parse_target_pid(a[0]), a[1]);
  if (!strcmp(cmd, "idmap-mount") && n == 4) return cmd_idmap_mount(parse_target_pid(a[0]), parse_target_pid(a[1]), a[2], a[3]);
  if (!strcmp(cmd, "peercred") && n == 2) return cmd_peercred(parse_pid(a[0]), a[1]);
  if (!strcmp(cmd, "mark") && n == 4) return cmd_mark(parse_target_pid(a[0]), a[1], a[2], a[3]);
  if (!strcmp(cmd, "prepare-dev") && n == 3) return cmd_prepare_dev(parse_target_pid(a[0]), a[1], a[2]);
  if (!strcmp(cmd, "remove-dev") && n == 2) return cmd_remove_dev(parse_target_pid(a[0]), a[1]);
  if (!strcmp(cmd, "net-exec") && n >= 3) return cmd_net_exec(parse_target_pid(a[0]), a[1], a + 2);
  if (!strcmp(cmd, "sysctl-net") && n == 3) return cmd_sysctl_net(parse_target_pid(a[0]), a[1], a[2]);
  usage("unknown command or wrong argument count");
  return EXIT_USAGE;
}
