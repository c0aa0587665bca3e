#!/usr/bin/env bash
# A private containerd with its CRI plugin, for the CRI tests and for trying ws-daemon with
# `runtime.kind: cri` on one machine (docs/kubernetes.md). Idempotent:
#   - already answering on its socket             -> nothing to start
#   - own root, state and socket directories       -> never touches the system's or dockerd's
#     containerd (their sockets, roots, runc state and namespaces stay apart)
#   - CNI: one bridge of Debian's containernetworking-plugins on 10.231.0.0/24, without
#     masquerading (pods reach each other and the node, nothing else is set up)
#   - images made here, no registry: the sandbox image from pause.c (a static binary) and a
#     workspace image holding a static busybox, imported with ctr into the CRI's k8s.io namespace
#
# Usage: scripts/cri/ensure-containerd.sh [--install] [--stop]
#   --install  apt-get install what is missing (containerd, runc, busybox-static,
#              containernetworking-plugins, gcc, libc6-dev) before starting
#   --stop     stop the private containerd and its pods' shims (images and data stay)
# Environment: WSD_CRI_DIR (persistent data, default /var/lib/ws-daemon-cri),
#   WSD_CRI_RUN (socket and state, default /run/ws-daemon-cri), WSD_CRI_START_TIMEOUT (s, 30)
# Prints the socket path as the last stdout line. Exits 3 when packages are missing and
# --install was not given (tests skip on that, naming them), 1 on any other failure.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
readonly DATA_DIR="${WSD_CRI_DIR:-/var/lib/ws-daemon-cri}"
readonly RUN_DIR="${WSD_CRI_RUN:-/run/ws-daemon-cri}"
readonly SOCKET="$RUN_DIR/containerd.sock"
readonly PID_FILE="$RUN_DIR/containerd.pid"
readonly CONFIG="$RUN_DIR/config.toml"
readonly LOG_FILE="$DATA_DIR/containerd.log"
readonly START_TIMEOUT="${WSD_CRI_START_TIMEOUT:-30}"
readonly CNI_BIN_DIR=/usr/lib/cni
readonly CNI_SUBNET=10.231.0.0/24
# Bump the tag when what goes into an image changes, so that an old import is not reused.
readonly PAUSE_IMAGE=ws-daemon.local/pause:1
readonly WORKSPACE_IMAGE=ws-daemon.local/workspace-busybox:1
readonly BUSYBOX=/bin/busybox

install=false
stop=false
while [[ $# -gt 0 ]]; do
  case "$1" in
  --install) install=true ;;
  --stop) stop=true ;;
  *)
    echo "usage: $0 [--install] [--stop]" >&2
    exit 2
    ;;
  esac
  shift
done

log() { echo "[ensure-containerd] $*" >&2; }
die() {
  log "$*"
  exit 1
}
ctr_() { ctr --address "$SOCKET" --namespace k8s.io "$@"; }

pid_from_file() { tr -d '[:space:]' 2>/dev/null <"$PID_FILE" || true; }
running_pid() {
  local pid
  pid="$(pid_from_file)"
  [[ "$pid" =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == containerd ]] &&
    echo "$pid"
}
answers() { [[ -S "$SOCKET" ]] && timeout 5 ctr --address "$SOCKET" version >/dev/null 2>&1; }

if $stop; then
  pid="$(running_pid || true)"
  if [[ -n "$pid" ]]; then
    # The shims outlive containerd by design; stop the pods first where the socket answers.
    kill "$pid"
    for _ in $(seq 1 50); do [[ -d "/proc/$pid" ]] || break; sleep 0.1; done
    log "stopped containerd $pid"
  fi
  rm -f "$PID_FILE" "$SOCKET" "$SOCKET.ttrpc"
  exit 0
fi

# Debian's busybox package is dynamically linked; the image needs busybox-static's.
static_busybox() { [[ -x "$BUSYBOX" ]] && { ldd "$BUSYBOX" 2>&1 || true; } | grep -q 'not a dynamic executable'; }

missing_packages() {
  local need=()
  command -v containerd >/dev/null || need+=(containerd)
  command -v ctr >/dev/null || need+=(containerd)
  command -v containerd-shim-runc-v2 >/dev/null || need+=(containerd)
  command -v runc >/dev/null || need+=(runc)
  static_busybox || need+=(busybox-static)
  [[ -x "$CNI_BIN_DIR/bridge" && -x "$CNI_BIN_DIR/host-local" && -x "$CNI_BIN_DIR/loopback" ]] ||
    need+=(containernetworking-plugins)
  command -v gcc >/dev/null || need+=(gcc)
  # gcc answers the bare name when it has no static C library to link pause.c with.
  [[ "$(gcc -print-file-name=libc.a 2>/dev/null)" == /* ]] || need+=(libc6-dev)
  printf '%s\n' "${need[@]}" | sort -u | grep -v '^$' || true
}

missing="$(missing_packages | tr '\n' ' ')"
if [[ -n "${missing// /}" ]]; then
  if ! $install; then
    log "missing: $missing(run $0 --install, or apt-get install them)"
    exit 3
  fi
  log "installing: $missing"
  apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
fi

# Whether this process's capability bounding set holds CAP_SYS_RESOURCE (bit 24).
has_cap_sys_resource() {
  local bnd
  bnd="$(awk '/^CapBnd:/ {print $2}' /proc/self/status)"
  (((0x$bnd >> 24) & 1))
}

write_config() {
  # CRI gives sandboxes oom_score_adj -998, which needs CAP_SYS_RESOURCE; nested VMs whose
  # bounding set lacks it fail every sandbox in runc ("can't get final child's PID from pipe").
  # There, and only there, containerd's own option for that case keeps scores at or above its own.
  local restrict_oom=false
  has_cap_sys_resource || restrict_oom=true
  mkdir -p "$DATA_DIR" "$RUN_DIR/cni" "$RUN_DIR/state"
  cat >"$RUN_DIR/cni/10-ws-daemon-cri.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "ws-daemon-cri",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "wsdcri0",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$CNI_SUBNET" }]],
        "dataDir": "$RUN_DIR/cni-ipam"
      }
    }
  ]
}
EOF
  # Every path containerd, its shims and runc write to is ours; AppArmor is off because a
  # default profile would need apparmor_parser on the host, which the tests do not depend on.
  cat >"$CONFIG" <<EOF
version = 2
root = "$DATA_DIR/root"
state = "$RUN_DIR/state"

[grpc]
  address = "$SOCKET"

[ttrpc]
  address = "$SOCKET.ttrpc"

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$DATA_DIR/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "$PAUSE_IMAGE"
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    disable_apparmor = true
    restrict_oom_score_adj = $restrict_oom
    enable_selinux = false
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          Root = "$RUN_DIR/runc"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "$CNI_BIN_DIR"
      conf_dir = "$RUN_DIR/cni"
EOF
}

start() {
  if [[ -n "$(running_pid || true)" ]]; then
    die "containerd $(pid_from_file) runs but does not answer on $SOCKET (see $LOG_FILE)"
  fi
  rm -f "$PID_FILE" "$SOCKET" "$SOCKET.ttrpc"
  write_config
  log "starting containerd (log: $LOG_FILE)"
  setsid containerd --config "$CONFIG" >>"$LOG_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  local deadline=$((SECONDS + START_TIMEOUT))
  until answers; do
    [[ -n "$(running_pid || true)" ]] || die "containerd exited at start; the end of $LOG_FILE:
$(tail -n 20 "$LOG_FILE")"
    ((SECONDS < deadline)) || die "containerd did not answer within ${START_TIMEOUT}s (see $LOG_FILE)"
    sleep 0.2
  done
  ctr --address "$SOCKET" plugins ls | grep -Eq 'io\.containerd\.grpc\.v1\s+cri\s+.*\sok\s*$' ||
    die "the CRI plugin did not load; the end of $LOG_FILE:
$(tail -n 20 "$LOG_FILE")"
}

# A single-layer image in the Docker archive format (manifest.json + config + layer), the one
# `ctr images import` reads without a registry. Args: ref rootfs-dir config-json-body
import_image() {
  local ref="$1" rootfs="$2" config_body="$3" work
  work="$(mktemp -d)"
  tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$rootfs" -cf "$work/layer.tar" .
  local layer_sha config config_sha arch
  layer_sha="$(sha256sum "$work/layer.tar" | cut -d' ' -f1)"
  mkdir "$work/$layer_sha"
  mv "$work/layer.tar" "$work/$layer_sha/layer.tar"
  arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
  config="{\"architecture\":\"$arch\",\"os\":\"linux\",\"config\":$config_body,\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$layer_sha\"]}}"
  config_sha="$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)"
  printf '%s' "$config" >"$work/$config_sha.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' \
    "$config_sha" "$ref" "$layer_sha" >"$work/manifest.json"
  tar -C "$work" -cf "$work/image.tar" manifest.json "$config_sha.json" "$layer_sha/layer.tar"
  ctr_ images import "$work/image.tar" >&2
  rm -rf "$work"
}

has_image() { ctr_ images ls -q | grep -qxF "$1"; }

ensure_pause_image() {
  has_image "$PAUSE_IMAGE" && return
  log "building $PAUSE_IMAGE"
  local rootfs
  rootfs="$(mktemp -d)"
  gcc -static -Os -s -o "$rootfs/pause" "$SCRIPT_DIR/pause.c"
  import_image "$PAUSE_IMAGE" "$rootfs" '{"Entrypoint":["/pause"]}'
  rm -rf "$rootfs"
}

ensure_workspace_image() {
  has_image "$WORKSPACE_IMAGE" && return
  log "building $WORKSPACE_IMAGE"
  local rootfs applet
  rootfs="$(mktemp -d)"
  mkdir -p "$rootfs"/{bin,dev,etc,proc,root,sys,tmp,.workspace}
  chmod 1777 "$rootfs/tmp"
  cp "$BUSYBOX" "$rootfs/bin/busybox"
  for applet in $("$BUSYBOX" --list); do
    [[ "$applet" == busybox ]] || ln -s busybox "$rootfs/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
  echo 'root:x:0:' >"$rootfs/etc/group"
  import_image "$WORKSPACE_IMAGE" "$rootfs" \
    '{"Env":["PATH=/bin"],"Cmd":["/bin/sh"],"WorkingDir":"/root"}'
  rm -rf "$rootfs"
}

answers || start
ensure_pause_image
ensure_workspace_image
log "containerd with CRI answers on $SOCKET (images: $PAUSE_IMAGE, $WORKSPACE_IMAGE)"
echo "$SOCKET"
