/**
 * The shell program that builds a confined process's world. It runs as root, already inside a
 * private mount (and IPC) namespace made by util-linux `unshare`, and never interpolates its
 * inputs: every path arrives as a positional argument.
 *
 * Arguments: <root> <uid> <gid> <cwd> <entry>... -- <command> <args>...
 * where an entry is one of
 *   link <target> <path>   a symlink at <path> (e.g. /bin -> usr/bin on merged-/usr systems)
 *   ro <path>              <path> bound (with its submounts) read-only, nosuid, nodev; the
 *                          submounts keep their flags (in a container: resolv.conf, hosts)
 *   dev <path>             a device node (/dev/null ...) bound, nosuid, noexec
 *   rw <fd> <path>         the directory <path> bound read-write, nosuid, nodev, noexec; it
 *                          must be the directory open as <fd> (opened by the daemon without
 *                          following links; a descriptor of the parent namespace cannot be the
 *                          source of a bind, so the bind is by path and checked by dev:ino)
 *
 * Steps: a size-limited tmpfs becomes the new root; the entries appear at their own paths in it
 * (so paths in argv and the environment need no translation); /tmp is private; /etc/passwd and
 * /etc/group gain the unprivileged user (ssh refuses to run for a uid without a name); the root
 * is switched with pivot_root and the old one detached (with a proc mounted only for that), so the host's tree is not reachable
 * even by a process that regained root; the directory fds are closed; finally setpriv drops to
 * the unprivileged uid/gid with no supplementary groups, no capabilities (bounding and
 * inheritable sets cleared; the kernel clears permitted/effective/ambient on the uid change), no
 * new privileges, and a parent-death SIGKILL, and execs the command in <cwd>.
 *
 * A setup failure prints one `ws-daemon-confine:` line and exits 125.
 */
export const CONFINE_FAILURE_EXIT = 125;
export const CONFINE_FAILURE_PREFIX = "ws-daemon-confine:";

export const CONFINEMENT_SCRIPT = `
fail() { echo "${CONFINE_FAILURE_PREFIX} $*" >&2; exit ${CONFINE_FAILURE_EXIT}; }
caller_path=$PATH
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
root=$1; uid=$2; gid=$3; cwd=$4; shift 4
mount -t tmpfs -o mode=0755,nosuid,nodev,noexec,size=64m ws-daemon-sandbox "$root" || fail "cannot mount the sandbox root"
parent() { mkdir -p "$root$(dirname "$1")" || fail "cannot create the parent of $1"; }
fds=""
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  case $1 in
    link)
      parent "$3"; ln -s "$2" "$root$3" || fail "cannot link $3"; shift 3 ;;
    ro)
      if [ -d "$2" ]; then mkdir -p "$root$2"; else parent "$2"; : > "$root$2"; fi
      # recursive: in a container /etc/resolv.conf and /etc/hosts are mounts of their own
      mount --rbind "$2" "$root$2" || fail "cannot bind $2"
      mount -o remount,bind,ro,nosuid,nodev "$root$2" || fail "cannot make $2 read-only"
      shift 2 ;;
    dev)
      parent "$2"; : > "$root$2"
      mount --bind "$2" "$root$2" || fail "cannot bind $2"
      mount -o remount,bind,nosuid,noexec "$root$2" || fail "cannot restrict $2"
      shift 2 ;;
    rw)
      case $2 in *[!0-9]*|"") fail "bad descriptor $2" ;; esac
      mkdir -p "$root$3" || fail "cannot create $3"
      mount --bind "$3" "$root$3" || fail "cannot bind $3"
      # the bound directory must be the one the daemon opened: a component swapped for a link
      # since then would have bound another directory, which nothing gets to use
      [ "$(stat -L -c %d:%i "/proc/self/fd/$2")" = "$(stat -c %d:%i "$root$3")" ] || fail "$3 changed while it was being bound"
      mount -o remount,bind,nosuid,nodev,noexec "$root$3" || fail "cannot restrict $3"
      fds="$fds $2"; shift 3 ;;
    *) fail "unknown entry $1" ;;
  esac
done
[ "\${1:-}" = "--" ] || fail "no command"
shift
mkdir -p "$root/tmp" && chmod 1777 "$root/tmp" || fail "cannot create /tmp"
if [ -f "$root/etc/passwd" ]; then
  { cat /etc/passwd; echo "workspace:x:$uid:$gid:workspace:/nonexistent:/usr/sbin/nologin"; } > "$root/.passwd" || fail "cannot write passwd"
  { cat /etc/group; echo "workspace:x:$gid:"; } > "$root/.group" || fail "cannot write group"
  mount --bind "$root/.passwd" "$root/etc/passwd" || fail "cannot bind passwd"
  mount --bind "$root/.group" "$root/etc/group" || fail "cannot bind group"
  rm -f "$root/.passwd" "$root/.group"
fi
cd "$root" || fail "cannot enter the sandbox root"
mkdir .old-root proc || fail "cannot create .old-root"
pivot_root . .old-root || fail "pivot_root failed"
# umount reads /proc/self/mountinfo: a proc exists only while the old root is detached
mount -t proc proc /proc || fail "cannot mount proc"
umount -l /.old-root || fail "cannot detach the old root"
umount /proc || fail "cannot unmount proc"
rmdir /.old-root /proc
for fd in $fds; do eval "exec $fd<&-"; done
cd "$cwd" || fail "cannot enter $cwd"
setpriv=$(command -v setpriv) || fail "setpriv is missing"
PATH=$caller_path
exec "$setpriv" --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs --pdeathsig=KILL -- "$@"
`;
