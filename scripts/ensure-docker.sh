#!/usr/bin/env bash
# Makes a Docker engine available on this machine, idempotently:
#   - already answering `docker info`            -> nothing to start
#   - dockerd missing                             -> apt-get install docker.io
#   - stale pid/socket files from an unclean kill -> removed before starting
#   - dockerd started in the background (own session, log in /var/log/dockerd.log)
# On hosts whose capability bounding set lacks CAP_SYS_RESOURCE (nested VMs), runc cannot
# grant it to `--privileged` containers; there, and only there, an OCI runtime wrapper that
# drops that one capability is registered as dockerd's default runtime.
#
# Usage: scripts/ensure-docker.sh [--verify-privileged IMAGE]
#   --verify-privileged IMAGE  finally runs `docker run --rm --privileged IMAGE true`
# Environment: DOCKER_START_TIMEOUT (seconds, default 90), DOCKERD_LOG (default /var/log/dockerd.log)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
readonly DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
readonly START_TIMEOUT="${DOCKER_START_TIMEOUT:-90}"
readonly DAEMON_JSON=/etc/docker/daemon.json
readonly WRAPPER_NAME=runc-drop-sys-resource
readonly WRAPPER_PATH="/usr/local/libexec/ws-daemon/$WRAPPER_NAME"
readonly CONTAINERD_PID_FILE=/var/run/docker/containerd/containerd.pid
readonly CAP_SYS_RESOURCE_BIT=24

verify_image=""
while [[ $# -gt 0 ]]; do
  case "$1" in
  --verify-privileged)
    verify_image="${2:?--verify-privileged needs an image}"
    shift 2
    ;;
  *)
    echo "usage: $0 [--verify-privileged IMAGE]" >&2
    exit 2
    ;;
  esac
done

log() { echo "[ensure-docker] $*" >&2; }

docker_answers() { timeout 10 docker info >/dev/null 2>&1; }

# True when a live process with the given pid has the given command name.
pid_is() {
  local pid="$1" name="$2"
  [[ "$pid" =~ ^[0-9]+$ ]] && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]]
}

pid_from_file() { tr -d '[:space:]' 2>/dev/null <"$1" || true; }

# Prints the running dockerd's pid (empty when none runs).
dockerd_pid() {
  local pid
  pid="$(pid_from_file /var/run/docker.pid)"
  if pid_is "$pid" dockerd; then
    echo "$pid"
  else
    pgrep -x -o dockerd 2>/dev/null || true
  fi
}

host_lacks_cap_sys_resource() {
  local bounding
  bounding="$(awk '/^CapBnd:/ {print $2}' /proc/self/status)"
  (((16#$bounding >> CAP_SYS_RESOURCE_BIT & 1) == 0))
}

install_engine() {
  if command -v dockerd >/dev/null 2>&1; then
    return 0
  fi
  log "dockerd missing: installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
}

# Writes the wrapper and registers it; prints "changed" when dockerd must reload its config.
install_runtime_wrapper() {
  local changed=""
  mkdir -p "$(dirname "$WRAPPER_PATH")" /etc/docker
  if ! cmp -s "$SCRIPT_DIR/$WRAPPER_NAME" "$WRAPPER_PATH"; then
    install -m 0755 "$SCRIPT_DIR/$WRAPPER_NAME" "$WRAPPER_PATH.tmp"
    mv -f "$WRAPPER_PATH.tmp" "$WRAPPER_PATH"
    changed=yes
  fi
  # Merge into an existing daemon.json rather than replacing the operator's settings.
  local merged
  merged="$(
    export WRAPPER_NAME WRAPPER_PATH DAEMON_JSON
    node -e '
      const fs = require("node:fs");
      const file = process.env.DAEMON_JSON;
      const config = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8") || "{}") : {};
      config.runtimes = { ...(config.runtimes ?? {}), [process.env.WRAPPER_NAME]: { path: process.env.WRAPPER_PATH } };
      config["default-runtime"] = process.env.WRAPPER_NAME;
      process.stdout.write(JSON.stringify(config, null, 2) + "\n");
    '
  )"
  if [[ "$merged" != "$(cat "$DAEMON_JSON" 2>/dev/null)" ]]; then
    printf '%s\n' "$merged" >"$DAEMON_JSON.tmp"
    mv -f "$DAEMON_JSON.tmp" "$DAEMON_JSON"
    changed=yes
  fi
  echo "$changed"
}

# After an unclean kill a pid file may name a pid that now belongs to another process;
# dockerd then waits 60 s for "containerd" and gives up. Keep a file only if it is true.
remove_stale_state() {
  local containerd_pid
  containerd_pid="$(pid_from_file "$CONTAINERD_PID_FILE")"
  if [[ -e "$CONTAINERD_PID_FILE" ]] && ! pid_is "$containerd_pid" containerd; then
    log "removing stale $CONTAINERD_PID_FILE (pid '$containerd_pid' is not containerd)"
    rm -f "$CONTAINERD_PID_FILE"
  fi
  local stale
  for stale in /var/run/docker.pid /var/run/docker.sock; do
    if [[ -e "$stale" ]]; then
      log "removing stale $stale (no dockerd runs)"
      rm -f "$stale"
    fi
  done
}

wait_for_engine() {
  local deadline=$((SECONDS + START_TIMEOUT))
  until docker_answers; do
    if ((SECONDS >= deadline)); then
      log "docker did not answer within ${START_TIMEOUT}s; last lines of $DOCKERD_LOG:"
      tail -n 30 "$DOCKERD_LOG" >&2 || true
      return 1
    fi
    sleep 0.3
  done
}

wait_for_default_runtime() {
  local want="$1" deadline=$((SECONDS + 20))
  until [[ "$(docker info --format '{{.DefaultRuntime}}' 2>/dev/null)" == "$want" ]]; do
    if ((SECONDS >= deadline)); then
      log "dockerd did not switch its default runtime to $want after SIGHUP"
      return 1
    fi
    sleep 0.3
  done
}

main() {
  local started_at=$SECONDS
  install_engine

  local config_changed=""
  if host_lacks_cap_sys_resource; then
    config_changed="$(install_runtime_wrapper)"
  fi

  local running_pid
  running_pid="$(dockerd_pid)"
  if [[ -z "$running_pid" ]]; then
    remove_stale_state
    log "starting dockerd (log: $DOCKERD_LOG)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    # 9>&- : the daemon must not inherit (and hold forever) our lock.
    setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null 9>&- &
    disown || true
  elif ! docker_answers; then
    log "dockerd (pid $running_pid) is running but not answering yet: waiting"
  fi
  wait_for_engine

  # A dockerd that was already running read its configuration before our change.
  if [[ -n "$running_pid" && -n "$config_changed" ]]; then
    log "runtime wrapper (re)registered: reloading dockerd with SIGHUP"
    kill -HUP "$running_pid"
    wait_for_default_runtime "$WRAPPER_NAME"
  fi

  if [[ -n "$verify_image" ]]; then
    docker run --rm --privileged "$verify_image" true
    log "privileged container from $verify_image started fine"
  fi
  log "docker engine ready ($((SECONDS - started_at))s)"
}

# Serialize concurrent callers (CI script and test setup may race on a fresh machine).
exec 9>/var/lock/ws-daemon-ensure-docker.lock
flock 9
main
