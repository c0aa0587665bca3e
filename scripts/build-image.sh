#!/usr/bin/env bash
# Builds the daemon image from apps/ws-daemon/Dockerfile on this machine.
#   - makes sure a Docker engine runs (scripts/ensure-docker.sh)
#   - without BASE_IMAGE, builds/reuses the local registry-free base (scripts/build-base-image.sh)
#   - expects the bundle in <context>/dist (main.js, healthcheck.js); bundle first
#
# Usage: scripts/build-image.sh [--tag TAG] [--context DIR] [--label KEY=VALUE]...
#   --tag      image tag (default ws-daemon:dev, or $WS_DAEMON_IMAGE)
#   --context  build context (default apps/ws-daemon); the Dockerfile is always apps/ws-daemon/Dockerfile
#   --label    image label (repeatable), e.g. so a test run can find and remove its images
# Environment: BASE_IMAGE (e.g. node:22-bookworm-slim where a registry is reachable)
# Prints the image tag as the last stdout line.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
readonly REPO_ROOT
readonly DOCKERFILE="$REPO_ROOT/apps/ws-daemon/Dockerfile"

tag="${WS_DAEMON_IMAGE:-ws-daemon:dev}"
context="$REPO_ROOT/apps/ws-daemon"
labels=()
while [[ $# -gt 0 ]]; do
  case "$1" in
  --tag)
    tag="${2:?--tag needs a value}"
    shift 2
    ;;
  --context)
    context="${2:?--context needs a value}"
    shift 2
    ;;
  --label)
    labels+=(--label "${2:?--label needs KEY=VALUE}")
    shift 2
    ;;
  *)
    echo "usage: $0 [--tag TAG] [--context DIR] [--label KEY=VALUE]..." >&2
    exit 2
    ;;
  esac
done

log() { echo "[build-image] $*" >&2; }

if [[ ! -f "$context/dist/main.js" ]]; then
  log "missing $context/dist/main.js: bundle the daemon first"
  exit 1
fi

"$SCRIPT_DIR/ensure-docker.sh"
base_image="${BASE_IMAGE:-$("$SCRIPT_DIR/build-base-image.sh" | tail -n 1)}"

# BuildKit builds the native-helper stage and the runtime stage in parallel. The Docker
# CLI on PATH may lack buildx, so prefer Debian's CLI (which has BuildKit built in)
# when it exists, else fall back to the legacy builder.
build_cmd=(docker build)
if [[ -x /usr/bin/docker ]]; then
  build_cmd=(env DOCKER_BUILDKIT=1 /usr/bin/docker build --progress=plain)
elif ! docker buildx version >/dev/null 2>&1; then
  build_cmd=(env DOCKER_BUILDKIT=0 docker build)
fi

started_at=$SECONDS
log "building $tag FROM $base_image (context $context)"
"${build_cmd[@]}" --build-arg "BASE_IMAGE=$base_image" "${labels[@]}" -t "$tag" -f "$DOCKERFILE" "$context" >&2
log "built $tag in $((SECONDS - started_at))s"
echo "$tag"
