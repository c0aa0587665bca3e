#!/usr/bin/env bash
# Starts moto_server (an in-memory S3) in the background, idempotently, and waits until it
# answers. Already answering on HOST:PORT -> nothing to do.
#
# Usage: scripts/start-moto.sh PORT [HOST]      (HOST defaults to 127.0.0.1)
# Stop:  kill "$(cat /tmp/ws-daemon-moto-PORT.pid)"
# Environment: MOTO_START_TIMEOUT (seconds, default 30)
set -euo pipefail

readonly PORT="${1:?usage: $0 PORT [HOST]}"
readonly HOST="${2:-127.0.0.1}"
readonly TIMEOUT="${MOTO_START_TIMEOUT:-30}"
readonly PID_FILE="/tmp/ws-daemon-moto-$PORT.pid"
readonly LOG_FILE="/tmp/ws-daemon-moto-$PORT.log"

log() { echo "[start-moto] $*" >&2; }

# moto answers GET / with the S3 ListBuckets XML; any other server on the port is an error.
answers() {
  curl -fsS --max-time 2 "http://$HOST:$PORT/" 2>/dev/null | grep -q ListAllMyBucketsResult
}

if answers; then
  log "moto already answers on $HOST:$PORT"
  exit 0
fi

if command -v moto_server >/dev/null 2>&1; then
  server=(moto_server -H "$HOST" -p "$PORT")
else
  server=(python3 -m moto.server -H "$HOST" -p "$PORT")
fi

setsid "${server[@]}" >>"$LOG_FILE" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$PID_FILE"

deadline=$((SECONDS + TIMEOUT))
until answers; do
  if ! kill -0 "$pid" 2>/dev/null; then
    log "moto_server exited; last lines of $LOG_FILE:"
    tail -n 20 "$LOG_FILE" >&2
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    log "moto_server did not answer on $HOST:$PORT within ${TIMEOUT}s (pid $pid, log $LOG_FILE)"
    exit 1
  fi
  sleep 0.2
done
log "moto_server answers on $HOST:$PORT (pid $pid)"
